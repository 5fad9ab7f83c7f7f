#!/usr/bin/env bash
# MCP server start-up through `cordon mcp wrap`, two binaries in one run, interleaved.
# Usage: bench/mcp-startup.sh OLD_CORDON NEW_CORDON [STARTS]   (release builds; run from a
# directory outside /tmp). The server is the tests' Python server.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD="$(realpath "$1")"; NEW="$(realpath "$2")"; STARTS="${3:-60}"
W="$(mktemp -d "$PWD/target/mcpstart.XXXX")"
trap 'rm -rf "$W"' EXIT
echo '[{"name":"echo","description":"Echoes.","inputSchema":{"type":"object","properties":{"text":{"type":"string"}}}}]' > "$W/tools.json"
S=(/usr/bin/python3 "$PWD/crates/cordon-cli/tests/mcp/testserver.py" "$W/tools.json")
export XDG_STATE_HOME="$W/state"
cd "$W"
uptime
python3 "$OLDPWD/bench/mcp_startup.py" "$STARTS" "$(python3 -c '
import json,sys
o,n,s=sys.argv[1],sys.argv[2],sys.argv[3:]
w=lambda b,name,extra: [b,"mcp","wrap","--no-audit","--name",name]+extra+["--"]+s
print(json.dumps([["server directly",s],
 ["wrap --no-sandbox, old",w(o,"o1",["--no-sandbox"])],["wrap --no-sandbox, new",w(n,"n1",["--no-sandbox"])],
 ["wrap sandboxed, old",w(o,"o2",[])],["wrap sandboxed, new",w(n,"n2",[])]]))' "$OLD" "$NEW" "${S[@]}")"
uptime
