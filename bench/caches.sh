#!/usr/bin/env bash
# Tool caches (README "Tool caches"), in one run, as an unprivileged user:
#  1. the overlay set-up's share of `cordon run -- true`, in two home directories: every known
#     cache exists (19 caches in 9 tool directories: 9 overlays), and a typical one (npm, pip,
#     cargo's registry: 3 overlays); each against the same with `[caches] enabled = false`,
#     end to end (hyperfine) and per phase (CORDON_TIMING medians); and the floor: the same
#     overlayfs mount alone, without cordon (bench/ovl_floor.py; and one mount per tool
#     directory, as cordon made them before 2026-12-02);
#  2. a warm `npm ci` of a ~70-package lockfile (express 4) inside `cordon run` against the same
#     outside, both served from the same warm host cache (inside: through the overlay), and the
#     floor: the same outside under a bare overlayfs mount of ~/.npm (unshare -Urm, no cordon).
# Prints medians and ratios. Usage: [BENCH_DIR=DIR] bench/caches.sh [RUNS] [NPM_RUNS]
# (needs hyperfine, npm, unshare, and the npm registry reachable for the one-time warm-up)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
npm_runs=${2:-10}
for t in hyperfine npm python3 unshare; do
  command -v "$t" >/dev/null || { echo "bench/caches.sh: $t is missing" >&2; exit 1; }
done
cargo build --release -q
# Not under /tmp or /var/tmp: the sandbox has its own there, so a home directory below them is
# not where the user's is (every cache's mount point would be made in the sandbox's tmpfs).
# BENCH_DIR: another file system to hold the fake home (e.g. a journaled ext4 on a loop device:
# this VM's root file system has no journal, which changes inode allocation; see
# docs/benchmarks.md).
base=/var/lib
[ "$(id -u)" = 0 ] || base="${XDG_CACHE_HOME:-$HOME/.cache}"
base="${BENCH_DIR:-$base}"
mkdir -p "$base"
work=$(mktemp -d "$base/cordon-bench-caches.XXXXXX")
trap 'rm -rf "$work"' EXIT
install -m 755 target/release/cordon "$work/cordon"
install -m 755 bench/ovl_floor.py "$work/ovl_floor.py"
home="$work/home"
mkdir -p "$home/repo" && git -C "$home/repo" init -q
for d in .npm .local/share/pnpm/store .cache/pnpm .cache/yarn .yarn/berry .bun/install/cache \
  .cache/pip .cache/uv .cache/pypoetry .cargo/registry .cargo/git go/pkg/mod .cache/go-build \
  .gradle/caches .gradle/wrapper/dists .m2/repository .cache/ccache .cache/sccache .cache/pre-commit; do
  mkdir -p "$home/$d"
done
mkdir -p "$home/off/cordon" && printf '[caches]\nenabled = false\n' > "$home/off/cordon/config.toml"
home3="$work/home3"
mkdir -p "$home3/repo" && git -C "$home3/repo" init -q
for d in .npm .cache/pip .cargo/registry; do mkdir -p "$home3/$d"; done
as=()
if [ "$(id -u)" = 0 ]; then
  id cordonbench >/dev/null 2>&1 || useradd --no-create-home --home-dir /nonexistent --shell /bin/sh cordonbench
  chown -R cordonbench:cordonbench "$work"
  as=(setpriv --reuid=cordonbench --regid=cordonbench --clear-groups --reset-env)
fi
envs=(env HOME="$home" PATH="/usr/local/bin:/usr/bin:/bin")
for v in NODE_EXTRA_CA_CERTS SSL_CERT_FILE; do
  [ -n "${!v:-}" ] && envs+=("$v=${!v}")
done

# 1. start-up with and without the overlays, in both homes.
home3envs=(env HOME="$home3" PATH="/usr/local/bin:/usr/bin:/bin")
(cd "$home/repo" && "${as[@]}" "${envs[@]}" "$work/cordon" run -- true) # creates the layers
(cd "$home3/repo" && "${as[@]}" "${home3envs[@]}" "$work/cordon" run -- true)
cd "$home/repo"
"${as[@]}" "${envs[@]}" hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/start.json" \
  -n caches "$work/cordon run -- true" \
  -n no-caches "env XDG_CONFIG_HOME=$home/off $work/cordon run -- true" \
  -n caches3 "env HOME=$home3 sh -c 'cd $home3/repo && exec $work/cordon run -- true'" \
  -n no-caches3 "env HOME=$home3 XDG_CONFIG_HOME=$home/off sh -c 'cd $home3/repo && exec $work/cordon run -- true'" >&2
# Per phase: medians of CORDON_TIMING's deltas, the caches' phases with and without them.
phases() { # N DIR [env...]
  local n=$1 dir=$2; shift 2
  for _ in $(seq "$n"); do
    (cd "$dir" && "${as[@]}" "${envs[@]}" "$@" CORDON_TIMING=1 "$work/cordon" run -- true 2>&1 >/dev/null) | grep '^cordon-timing:'
    echo END
  done
}
phases 40 "$home/repo" env >"$work/ph-caches.txt"
phases 40 "$home/repo" env "XDG_CONFIG_HOME=$home/off" >"$work/ph-off.txt"
phases 40 "$home3/repo" env "HOME=$home3" >"$work/ph-caches3.txt"
phases 40 "$home3/repo" env "HOME=$home3" "XDG_CONFIG_HOME=$home/off" >"$work/ph-off3.txt"
# The floor: the same overlay mounts, made the way cordon makes them, without cordon. cordon
# makes one overlay, of the home directory, for every cache on its mount; before 2026-12-02 it
# made one per tool directory (9 and 3 here): both floors are printed.
floors=("$work/floor1" "$work/floor31" "$work/floor" "$work/floor3")
mkdir -p "${floors[@]}" && [ "$(id -u)" = 0 ] && chown cordonbench:cordonbench "${floors[@]}"
floor_ms=$("${as[@]}" "${envs[@]}" python3 "$work/ovl_floor.py" "$work/floor1" 40 "$home")
floor3_ms=$("${as[@]}" "${envs[@]}" python3 "$work/ovl_floor.py" "$work/floor31" 40 "$home3")
lowers=()
for d in .npm .cache .cargo go .gradle .m2 .yarn .bun .local/share; do lowers+=("$home/$d"); done
tools_ms=$("${as[@]}" "${envs[@]}" python3 "$work/ovl_floor.py" "$work/floor" 40 "${lowers[@]}")
tools3_ms=$("${as[@]}" "${envs[@]}" python3 "$work/ovl_floor.py" "$work/floor3" 40 "$home3/.npm" "$home3/.cache" "$home3/.cargo")

# 2. a warm npm ci, outside and inside.
app="$home/repo/app"
mkdir -p "$app"
printf '{"name":"bench","version":"1.0.0","private":true,"dependencies":{"express":"4.21.2"}}\n' > "$app/package.json"
[ "$(id -u)" = 0 ] && chown -R cordonbench:cordonbench "$work"
cd "$app"
"${as[@]}" "${envs[@]}" npm install --no-audit --no-fund --silent >/dev/null # warms the host cache, writes the lockfile
pkgs=$(python3 -c "import json;print(len([k for k in json.load(open('$app/package-lock.json'))['packages'] if k]))")
# The registry's address may be private or reserved (a mirror): --allow-local then.
allow=(--allow-domain registry.npmjs.org)
python3 - <<'PY' && allow+=(--allow-local)
import ipaddress, socket, sys
a = ipaddress.ip_address(socket.gethostbyname("registry.npmjs.org"))
sys.exit(0 if not a.is_global else 1)
PY
ca=()
[ -n "${NODE_EXTRA_CA_CERTS:-}" ] && ca=(--env "NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS")
ci="rm -rf node_modules && npm ci --prefer-offline --no-audit --no-fund --silent"
"${as[@]}" "${envs[@]}" "$work/cordon" run "${allow[@]}" "${ca[@]}" -- sh -c "$ci" # the overlay's first use
# The floor: a bare overlayfs mount of ~/.npm (fresh layers each run, as cordon's options).
ovl='d=$(mktemp -d '"$work"'/ovl.XXXXXX) && mkdir $d/u $d/w && unshare -Urm sh -c "mount -t overlay overlay -o lowerdir=$HOME/.npm,upperdir=$d/u,workdir=$d/w,userxattr,redirect_dir=nofollow,metacopy=off,index=off,volatile $HOME/.npm && '"$ci"'"'
"${as[@]}" "${envs[@]}" hyperfine --warmup 1 --runs "$npm_runs" --export-json "$work/npm.json" \
  -n outside "sh -c '$ci'" \
  -n bare-overlay "sh -c '$ovl'" \
  -n inside "$work/cordon run ${allow[*]} ${ca[*]} -- sh -c '$ci'" >&2

python3 - "$work/start.json" "$work/npm.json" "$pkgs" "$work/ph-caches.txt" "$work/ph-off.txt" "$floor_ms" \
  "$work/ph-caches3.txt" "$work/ph-off3.txt" "$floor3_ms" "$tools_ms" "$tools3_ms" <<'PY'
import collections, json, statistics, sys
def med(p):
    return {x["command"]: x["median"] * 1000 for x in json.load(open(p))["results"]}
def phases(p):
    d, prev = collections.defaultdict(list), None
    for line in open(p):
        if line.startswith("END"):
            prev = None
            continue
        _, t, name = line.split(None, 2)
        if prev:
            d[f"{prev[1]} -> {name.strip()}"].append(int(t) - prev[0])
        prev = (int(t), name.strip())
    return {k: statistics.median(v) / 1000 for k, v in d.items()}
s, n = med(sys.argv[1]), med(sys.argv[2])
for label, key, ph_on, ph_off, floor, tools in (
        ("every known cache (19 caches in 9 tool directories)", "", sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[10]),
        ("npm, pip, cargo (3 tool directories)", "3", sys.argv[7], sys.argv[8], sys.argv[9], sys.argv[11])):
    pc, po = phases(ph_on), phases(ph_off)
    on, off = s["caches" + key], s["no-caches" + key]
    print(f"cordon run -- true, {label}: caches {on:.2f} ms, no caches {off:.2f} ms: "
          f"the overlays' share = {on - off:.2f} ms end to end (target <= 0.3 ms)")
    share = 0.0
    for k in sorted(set(pc) | set(po), key=lambda k: -abs(pc.get(k, 0) - po.get(k, 0))):
        a, b = pc.get(k, 0), po.get(k, 0)
        if abs(a - b) >= 0.05:
            print(f"  phase {k}: {a:.2f} vs {b:.2f} ms ({a - b:+.2f})")
        share += a - b
    print(f"  CORDON_TIMING, sum of the phases' differences (medians of 40): {share:+.2f} ms")
    print(f"  floor: the same overlay mount alone (one, of the home directory), without cordon: "
          f"{float(floor):.2f} ms (one per tool directory, as before 2026-12-02: {float(tools):.2f} ms)")
print(f"warm npm ci ({sys.argv[3]} packages): outside {n['outside']:.0f} ms, inside {n['inside']:.0f} ms: "
      f"{n['inside'] / n['outside']:.2f}x (target <= 1.2x); bare overlay of ~/.npm, no cordon: "
      f"{n['bare-overlay']:.0f} ms ({n['bare-overlay'] / n['outside']:.2f}x)")
PY
