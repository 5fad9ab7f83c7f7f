#!/usr/bin/env bash
# Cost of an approval on `cordon run`, in one hyperfine run, as an unprivileged user, for the same
# command (`./t.sh`, a policy "ask"):
#   no question (--approval on-request) | answered by a remembered grant (grants.json read, t.sh
#   hashed) | answered by an approver command (a shell script answering allow)
# Every line runs under `setsid -w` (no controlling terminal, so nobody is prompted).
# Prints each median and the extra time over "no question".
# Usage: bench/approval.sh [RUNS]   (needs hyperfine: apt-get install hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
for t in hyperfine python3 setsid; do
  command -v "$t" >/dev/null || { echo "bench/approval.sh: $t is missing (apt-get install hyperfine python3 util-linux)" >&2; exit 1; }
done
cargo build --release -q -p cordon-cli
work=$(mktemp -d /var/tmp/cordon-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
install -m 755 target/release/cordon "$work/cordon"
mkdir -p "$work/repo" "$work/home-grant/.config/cordon" "$work/home-approver/.config/cordon"
git -C "$work/repo" init -q
printf '#!/bin/sh\ntrue\n' > "$work/repo/t.sh" && chmod 755 "$work/repo/t.sh"
printf '#!/bin/sh\ncat >/dev/null\necho %s\n' "'{\"decision\":\"allow\",\"reason\":\"bench\"}'" > "$work/approver.sh"
chmod 755 "$work/approver.sh"
echo "approver = [\"$work/approver.sh\"]" > "$work/home-approver/.config/cordon/config.toml"
as=()
if [ "$(id -u)" = 0 ]; then
  id cordonbench >/dev/null 2>&1 || useradd --no-create-home --home-dir /nonexistent --shell /bin/sh cordonbench
  chown -R cordonbench "$work"
  as=(setpriv --reuid=cordonbench --regid=cordonbench --clear-groups --reset-env)
fi
cd "$work/repo"
# The grant: stored once through the approver (allow_project), then used from another home.
sed 's/"allow"/"allow_project"/' "$work/approver.sh" > "$work/approver-p.sh" && chmod 755 "$work/approver-p.sh"
[ "$(id -u)" = 0 ] && chown cordonbench "$work/approver-p.sh"
echo "approver = [\"$work/approver-p.sh\"]" > "$work/home-grant/.config/cordon/config.toml"
"${as[@]}" env HOME="$work/home-grant" PATH="$PATH" setsid -w "$work/cordon" run --approval untrusted -- ./t.sh
rm "$work/home-grant/.config/cordon/config.toml"
"${as[@]}" env HOME="$work/home-grant" PATH="$PATH" "$work/cordon" grants list >&2
c="$work/cordon run"
"${as[@]}" env PATH="$PATH" hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/out.json" \
  -n no-question "env HOME=$work/home-approver setsid -w $c --approval on-request -- ./t.sh" \
  -n grant "env HOME=$work/home-grant setsid -w $c --approval untrusted -- ./t.sh" \
  -n approver "env HOME=$work/home-approver setsid -w $c --approval untrusted -- ./t.sh" >&2
python3 - "$work/out.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] * 1000 for x in json.load(open(sys.argv[1]))["results"]}
b = r["no-question"]
print("median ms: " + ", ".join(f"{k} {v:.2f}" for k, v in r.items()))
for k in ("grant", "approver"):
    print(f"{k}: +{r[k] - b:.2f} ms over no question ({r[k] / b:.2f}x)")
PY
