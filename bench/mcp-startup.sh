#!/usr/bin/env bash
# MCP server start-up through `cordon mcp wrap`, two binaries in one run, interleaved.
# Usage: bench/mcp-startup.sh OLD_CORDON NEW_CORDON [STARTS]   (release builds; run from a
# directory outside /tmp). The server is the tests' Python server (`python3 testserver.py`), or
# with SERVER=node the npm server-filesystem the MCP tests use (`node .../dist/index.js DIR`,
# from .ci/mcp-deps.sh: $CORDON_MCP_DEPS, default /opt/cordon-mcp-deps): the gateway then hashes
# the node binary (~100 MB) for the server's identity.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD="$(realpath "$1")"; NEW="$(realpath "$2")"; STARTS="${3:-60}"
W="$(mktemp -d "$PWD/target/mcpstart.XXXX")"
trap 'rm -rf "$W"' EXIT
echo '[{"name":"echo","description":"Echoes.","inputSchema":{"type":"object","properties":{"text":{"type":"string"}}}}]' > "$W/tools.json"
case "${SERVER:-python}" in
  python) S=(/usr/bin/python3 "$PWD/crates/cordon-cli/tests/mcp/testserver.py" "$W/tools.json") ;;
  node) S=("$(command -v node)" "${CORDON_MCP_DEPS:-/opt/cordon-mcp-deps}/npm/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js" "$W") ;;
  *) echo "SERVER=python or SERVER=node" >&2; exit 2 ;;
esac
echo "server: ${S[*]}"
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
