#!/usr/bin/env bash
# Time `cordon check --each-line` over a generated 100,000-line shell history, whole process,
# with hyperfine. Baseline in the same run: `wc -l` and `cat` of the same file (the cost of
# just reading it). Target: under 2 s.
#
#   bench/policy.sh            # builds the release binary first
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "bench/policy.sh: hyperfine not found; apt-get install hyperfine" >&2; exit 125; }
cargo build --release -p cordon-cli >&2
BIN=target/release/cordon
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
hist="$work/history"
python3 - "$hist" <<'PY'
import random, sys
random.seed(4)
cmds = [
    "ls -la", "git status", "git diff", "git log --oneline -20", "cd src && ls",
    "cargo build", "cargo test -p cordon-policy", "make -j4", "vim src/main.rs",
    "grep -rn TODO src", "rg -n unwrap crates", "cat Cargo.toml | head -20",
    "find . -name '*.rs' | xargs wc -l", "git add -A && git commit -m 'wip'",
    "git push origin main", "docker ps", "kubectl get pods -n default",
    "python3 -m venv .venv && . .venv/bin/activate", "npm install && npm run build",
    "curl -s https://api.example.com/v1/items | jq '.items[] | .name'",
    "ssh build@host 'uptime'", "tar xzf archive.tar.gz -C /tmp/x",
    "for f in *.log; do gzip \"$f\"; done", "echo $PATH", "export EDITOR=vim",
    "sudo systemctl restart nginx", "rm -rf node_modules", "git push --force",
    "sed -i 's/old/new/g' $(rg -l old)", "awk -F: '{print $1}' /etc/passwd | sort",
]
with open(sys.argv[1], "w") as f:
    for _ in range(100_000):
        f.write(random.choice(cmds) + "\n")
PY
echo "history: $(wc -l < "$hist") lines, $(wc -c < "$hist") bytes" >&2
hyperfine --warmup 1 --runs 5 --export-markdown "$work/result.md" \
  -n "baseline: cat" "cat $hist > /dev/null" \
  -n "cordon check --each-line" "$BIN check --each-line $hist --workspace /work/project --cwd /work/project > /dev/null || true" \
  -n "cordon check --json --each-line" "$BIN check --json --each-line $hist --workspace /work/project --cwd /work/project > /dev/null || true"
cat "$work/result.md"
