#!/usr/bin/env bash
# What the config layers cost at start-up, whole process, with hyperfine: `cordon check -- ls`
# and `cordon run --dry-run -- true` with no config at all (baseline, same run) and with every
# layer present: system, user, a trusted project (.cordon/ hashed at each start, inline rules)
# and a managed file.
#
#   bench/config.sh [RUNS]          # builds the release binary first
#   BIN=target/debug/cordon bench/config.sh   # any binary (CORDON_ETC_DIR needs a debug build)
#
# The managed and system layers live in /etc/cordon, which only a debug build lets a test move
# (CORDON_ETC_DIR); with a release binary the script writes them to /etc/cordon when run as
# root and there is none yet, and removes them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "bench/config.sh: hyperfine not found; apt-get install hyperfine" >&2; exit 125; }
RUNS=${1:-200}
if [ -z "${BIN:-}" ]; then
  cargo build --release -p cordon-cli >&2
  BIN=target/release/cordon
fi
BIN=$(realpath "$BIN")
work=$(mktemp -d)
# The system and managed files live in /etc/cordon, which only a debug build lets anyone move
# (CORDON_ETC_DIR). With a release binary they are copied there (as root, only when there is no
# /etc/cordon yet) before each timed run, and removed before each baseline run.
etc="$work/etc"
if [[ "$BIN" == */release/* ]]; then
  if [ "$(id -u)" != 0 ] || [ -e /etc/cordon ]; then
    echo "bench/config.sh: with a release binary, run as root on a machine without /etc/cordon (or use BIN=target/debug/cordon)" >&2
    exit 125
  fi
  etc=/etc/cordon
fi
trap 'rm -rf "$work"; [ "$etc" = /etc/cordon ] && rm -rf /etc/cordon; true' EXIT
src="$work/etc-src"
mkdir -p "$work/bare/home" "$work/bare/proj/.git" "$work/full/home/.config/cordon" "$work/full/proj/.git" "$work/full/proj/.cordon" "$src"
cat > "$src/config.toml" <<'T'
[limits]
nproc = 2048
T
cat > "$src/managed.toml" <<'T'
[managed]
allowed_modes = ["read-only", "workspace-write"]
allow_network_full = false
never_allow_domains = ["*.pastebin.com"]

[[policy.rule]]
decision = "deny"
command = ["terraform", "apply"]
reason = "infrastructure changes go through CI"
T
cat > "$work/full/home/.config/cordon/config.toml" <<'T'
approval = "on-request"
[network]
allow = ["registry.npmjs.org", "*.github.com"]
[env]
pass = ["CARGO_HOME"]
T
cat > "$work/full/proj/.cordon/config.toml" <<'T'
[filesystem]
protected = ["deploy/"]
[[policy.rule]]
decision = "allow"
command = ["make", { any = ["test", "check"] }]
reason = "the project's own checks"
examples = ["make test"]
T
for i in $(seq 1 20); do echo "# note $i" > "$work/full/proj/.cordon/note$i.md"; done
rm -rf "$etc"; cp -r "$src" "$etc"
env -C "$work/full/proj" HOME="$work/full/home" CORDON_ETC_DIR="$etc" "$BIN" trust
env -C "$work/full/proj" HOME="$work/full/home" CORDON_ETC_DIR="$etc" "$BIN" config show | head -5
bare="env -C $work/bare/proj HOME=$work/bare/home CORDON_ETC_DIR=$etc $BIN"
full="env -C $work/full/proj HOME=$work/full/home CORDON_ETC_DIR=$etc $BIN"
unset_etc="rm -rf $etc"
set_etc="rm -rf $etc && cp -r $src $etc"
hyperfine -N -i --warmup 5 --runs "$RUNS" --export-json "$work/result.json" \
  --prepare "$unset_etc" -n "check, no config" "$bare check -- ls" \
  --prepare "$set_etc" -n "check, all layers" "$full check -- ls" \
  --prepare "$unset_etc" -n "run --dry-run, no config" "$bare run --dry-run -- true" \
  --prepare "$set_etc" -n "run --dry-run, all layers" "$full run --dry-run -- true"
# Medians (the machine is shared: means are skewed by the slow tail), and the ratio of each
# "all layers" line to its no-config baseline from the same run.
python3 - "$work/result.json" <<'PY'
import json, statistics, sys
r = {x["command"]: statistics.median(x["times"]) * 1000 for x in json.load(open(sys.argv[1]))["results"]}
print("| | median | vs no config |")
print("| --- | ---: | ---: |")
for base, full in [("check, no config", "check, all layers"), ("run --dry-run, no config", "run --dry-run, all layers")]:
    print(f"| {base} | {r[base]:.2f} ms | |")
    print(f"| {full} | {r[full]:.2f} ms | {r[full] / r[base]:.2f}x (+{r[full] - r[base]:.2f} ms) |")
PY
