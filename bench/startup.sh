#!/usr/bin/env bash
# Start-up cost of a sandboxed command, in one hyperfine run, as an unprivileged user:
#   bare `true` | `cordon run -- true` | bwrap with a comparable set-up | codex sandbox (if installed)
# Prints each median and the ratios cordon/true-overhead and cordon/bwrap.
# Usage: [CORDON=BIN] [BASELINE=BIN] [SETTLE=SECONDS] bench/startup.sh [RUNS]
#   (needs hyperfine and bwrap: apt-get install hyperfine bubblewrap)
# BASELINE=BIN adds `BIN run -- true` (an older cordon) to the same run, with the ratio.
# SETTLE (default 40, 0 for none): seconds of pause before each command. Measured right after
# another cordon, a command spent 0.5-0.9 ms more sys time per run here (the same binary, both
# orders; each run creates and removes its placeholders in the workspace; cause not pinned down).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-300}
for t in hyperfine bwrap python3; do
  command -v "$t" >/dev/null || { echo "bench/startup.sh: $t is missing (apt-get install hyperfine bubblewrap python3)" >&2; exit 1; }
done
# CORDON=path/to/cordon measures that binary instead of building this checkout (before/after).
bin=${CORDON:-target/release/cordon}
[ -n "${CORDON:-}" ] || cargo build --release -q
work=$(mktemp -d /var/tmp/cordon-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
install -m 755 "$bin" "$work/cordon"
[ -z "${BASELINE:-}" ] || install -m 755 "$BASELINE" "$work/cordon-baseline"
settle=${SETTLE:-40}
# A typical workspace: a git repository (so .git/hooks etc. exist; agent dirs do not).
mkdir -p "$work/repo" && git -C "$work/repo" init -q
as=()
if [ "$(id -u)" = 0 ]; then
  id cordonbench >/dev/null 2>&1 || useradd --no-create-home --home-dir /nonexistent --shell /bin/sh cordonbench
  chown -R cordonbench "$work"
  as=(setpriv --reuid=cordonbench --regid=cordonbench --clear-groups --reset-env)
fi
bw="bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --unshare-all --die-with-parent --new-session true"
# The kernel's floor for the namespaces cordon must create (user, mount, net, IPC, PID with its
# init fork, UTS), with no sandbox set up in them: what no namespace sandbox can go below.
floor="unshare --user --map-current-user --mount --net --ipc --pid --fork --uts true"
cmds=(true "$work/cordon run -- true" "$work/cordon run --no-policy -- true" "$floor" "$bw")
names=(true cordon cordon-no-policy ns-floor bwrap)
if [ -n "${BASELINE:-}" ]; then
  cmds+=("$work/cordon-baseline run -- true"); names+=(baseline)
fi
# Peers, when installed and working here (npm i -g @openai/codex @anthropic-ai/sandbox-runtime;
# srt also needs ripgrep and socat).
if command -v codex >/dev/null && (cd "$work/repo" && "${as[@]}" env HOME="$work" PATH="$PATH" codex sandbox -c sandbox_mode=workspace-write -- true) >/dev/null 2>&1; then
  cmds+=("codex sandbox -c sandbox_mode=workspace-write -- true"); names+=(codex)
fi
if command -v srt >/dev/null && (cd "$work/repo" && "${as[@]}" env HOME="$work" PATH="$PATH" srt true) >/dev/null 2>&1; then
  cmds+=("srt true"); names+=(srt)
fi
args=()
for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
cd "$work/repo"
"${as[@]}" env HOME="$work" PATH="$PATH" hyperfine -N --warmup 30 --runs "$runs" \
  --setup "sleep $settle" --export-json "$work/out.json" "${args[@]}" >&2
python3 - "$work/out.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
med = {k: v["median"] * 1000 for k, v in r.items()}
print("median ms: " + ", ".join(f"{k} {v:.2f}" for k, v in med.items()))
c, t, b = med["cordon"], med["true"], med["bwrap"]
print(f"cordon - true = {c - t:.2f} ms (target <= 2 ms)")
print(f"cordon / bwrap = {c / b:.2f}x (target <= 0.6x)")
f = med["ns-floor"]
print(f"namespaces alone (unshare) - true = {f - t:.2f} ms: the kernel's share; cordon's own = {c - f:.2f} ms")
print(f"policy check per start = {c - med['cordon-no-policy']:.2f} ms")
if "baseline" in med:
    print(f"cordon / baseline = {c / med['baseline']:.2f}x ({c - med['baseline']:+.2f} ms)")
for k in ("codex", "srt"):
    if k in med:
        print(f"cordon / {k} = {c / med[k]:.2f}x")
PY
