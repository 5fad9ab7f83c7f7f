#!/usr/bin/env bash
# MCP gateway benchmark: per tools/call round trip through `cordon mcp wrap` against the same
# server called directly (the baseline, same run), and start-up (spawn → initialize answered)
# of the server directly, through the gateway without the sandbox, and sandboxed.
# Usage: bench/mcp.sh [CALLS] [STARTS]   (release build; run from a directory outside /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS="${1:-2000}"; STARTS="${2:-30}"
cargo build --release -q -p cordon-cli
C="$PWD/target/release/cordon"
W="$(mktemp -d "$PWD/target/mcpbench.XXXX")"
trap 'rm -rf "$W"' EXIT
echo '[{"name":"echo","description":"Echoes.","inputSchema":{"type":"object","properties":{"text":{"type":"string"}}}}]' > "$W/tools.json"
S=(/usr/bin/python3 "$PWD/crates/cordon-cli/tests/mcp/testserver.py" "$W/tools.json")
export XDG_STATE_HOME="$W/state"
cd "$W"
python3 "$OLDPWD/bench/mcp_bench.py" "$CALLS" "$STARTS" "$(python3 -c '
import json,sys
c,s=sys.argv[1],sys.argv[2:]
print(json.dumps([["server directly",s],
 ["cordon mcp wrap --no-sandbox",[c,"mcp","wrap","--no-audit","--name","b1","--no-sandbox","--"]+s],
 ["cordon mcp wrap (sandboxed)",[c,"mcp","wrap","--name","b2","--"]+s]]))' "$C" "${S[@]}")"
