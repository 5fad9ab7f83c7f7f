#!/usr/bin/env bash
# Latency of `cordon hook claude` on a Bash call (decide, record, answer with the rewrite),
# against `cordon check` on the same command in the same hyperfine run (the baseline: config,
# policy, audit record, no hook), and a denied Write (file rules). Whole process, release build,
# a fresh HOME with a git workspace, the audit log on (as users get it). Target: p50 <= 5 ms.
#
#   bench/hook.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "bench/hook.sh: hyperfine not found; apt-get install hyperfine" >&2; exit 125; }
RUNS=${1:-300}
cargo build --release -p cordon-cli >&2
BIN=$(realpath target/release/cordon)
work=$(mktemp -d /var/tmp/cordon-hookbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home/proj/.git" "$work/home/.ssh"
echo key > "$work/home/.ssh/id_rsa"
cat > "$work/bash.json" <<J
{"session_id":"bench","transcript_path":"/t","cwd":"$work/home/proj","permission_mode":"default","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"npm test -- --watch=false","description":"run the tests"},"tool_use_id":"toolu_1"}
J
cat > "$work/write.json" <<J
{"session_id":"bench","cwd":"$work/home/proj","hook_event_name":"PreToolUse","tool_name":"Write","tool_input":{"file_path":"$work/home/.bashrc","content":"x"}}
J
export HOME="$work/home"
cd "$work/home/proj"
# Through the shell (hyperfine subtracts its start-up), since the hook reads its event on stdin;
# -i: `cordon check` exits 1 on "ask".
hyperfine -i --warmup 20 --runs "$RUNS" --export-json "$work/out.json" \
  -n "cordon check (baseline)" "$BIN check -- 'npm test -- --watch=false' >/dev/null 2>&1" \
  -n "cordon hook claude: Bash (rewrite)" "$BIN hook claude < $work/bash.json >/dev/null" \
  -n "cordon hook claude: Write (deny)" "$BIN hook claude < $work/write.json >/dev/null" >&2 || true
python3 - "$work/out.json" <<'P'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
base = sorted(r[0]["times"])[len(r[0]["times"]) // 2]
print("| | p50 | p90 | vs check |")
print("| --- | ---: | ---: | ---: |")
for x in r:
    t = sorted(x["times"]); p50 = t[len(t) // 2]; p90 = t[int(len(t) * 0.9)]
    print(f"| {x['command']} | {p50*1000:.2f} ms | {p90*1000:.2f} ms | {p50/base:.2f}x |")
P
