#!/usr/bin/env bash
# Tool caches (README "Tool caches"), in one run, as an unprivileged user:
#  1. the overlay set-up's share of `cordon run -- true`: every known cache exists in the home
#     directory (19 overlays), against the same with `[caches] enabled = false`;
#  2. a warm `npm ci` of a ~65-package lockfile (express 4) inside `cordon run` against the same
#     outside, both served from the same warm host cache (inside: through the overlay).
# Prints medians and ratios. Usage: bench/caches.sh [RUNS] [NPM_RUNS]
# (needs hyperfine, npm, and the npm registry reachable for the one-time warm-up)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
npm_runs=${2:-10}
for t in hyperfine npm python3; do
  command -v "$t" >/dev/null || { echo "bench/caches.sh: $t is missing" >&2; exit 1; }
done
cargo build --release -q
work=$(mktemp -d /var/tmp/cordon-bench-caches.XXXXXX)
trap 'rm -rf "$work"' EXIT
install -m 755 target/release/cordon "$work/cordon"
home="$work/home"
mkdir -p "$home/repo" && git -C "$home/repo" init -q
for d in .npm .local/share/pnpm/store .cache/pnpm .cache/yarn .yarn/berry .bun/install/cache \
  .cache/pip .cache/uv .cache/pypoetry .cargo/registry .cargo/git go/pkg/mod .cache/go-build \
  .gradle/caches .gradle/wrapper/dists .m2/repository .cache/ccache .cache/sccache .cache/pre-commit; do
  mkdir -p "$home/$d"
done
mkdir -p "$home/off/cordon" && printf '[caches]\nenabled = false\n' > "$home/off/cordon/config.toml"
as=()
if [ "$(id -u)" = 0 ]; then
  id cordonbench >/dev/null 2>&1 || useradd --no-create-home --home-dir /nonexistent --shell /bin/sh cordonbench
  chown -R cordonbench "$work"
  as=(setpriv --reuid=cordonbench --regid=cordonbench --clear-groups --reset-env)
fi
envs=(env HOME="$home" PATH="/usr/local/bin:/usr/bin:/bin")
for v in NODE_EXTRA_CA_CERTS SSL_CERT_FILE; do
  [ -n "${!v:-}" ] && envs+=("$v=${!v}")
done

# 1. start-up with and without the overlays.
cd "$home/repo"
"${as[@]}" "${envs[@]}" "$work/cordon" run -- true # creates the layers
"${as[@]}" "${envs[@]}" hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/start.json" \
  -n caches "$work/cordon run -- true" \
  -n no-caches "env XDG_CONFIG_HOME=$home/off $work/cordon run -- true" >&2

# 2. a warm npm ci, outside and inside.
app="$home/repo/app"
mkdir -p "$app"
printf '{"name":"bench","version":"1.0.0","private":true,"dependencies":{"express":"4.21.2"}}\n' > "$app/package.json"
[ "$(id -u)" = 0 ] && chown -R cordonbench "$work"
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
"${as[@]}" "${envs[@]}" hyperfine --warmup 1 --runs "$npm_runs" --export-json "$work/npm.json" \
  -n outside "sh -c '$ci'" \
  -n inside "$work/cordon run ${allow[*]} ${ca[*]} -- sh -c '$ci'" >&2

python3 - "$work/start.json" "$work/npm.json" "$pkgs" <<'PY'
import json, sys
def med(p):
    return {x["command"]: x["median"] * 1000 for x in json.load(open(p))["results"]}
s, n = med(sys.argv[1]), med(sys.argv[2])
print(f"cordon run -- true: caches {s['caches']:.2f} ms, no caches {s['no-caches']:.2f} ms: "
      f"the 19 overlays' share = {s['caches'] - s['no-caches']:.2f} ms (target <= 0.3 ms)")
print(f"warm npm ci ({sys.argv[3]} packages): outside {n['outside']:.0f} ms, inside {n['inside']:.0f} ms: "
      f"{n['inside'] / n['outside']:.2f}x (target <= 1.2x)")
PY
