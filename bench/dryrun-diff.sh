#!/usr/bin/env bash
# `cordon run --dry-run` over a set of flag combinations, with two cordon binaries, in the same
# fake home and workspace: prints the combinations whose JSON differs (and the diff), and exits 1
# if any does. For refactorings that must not change what runs.
# Usage: bench/dryrun-diff.sh OLD_CORDON NEW_CORDON
set -euo pipefail
old=$(realpath "$1") new=$(realpath "$2")
work=$(mktemp -d /var/tmp/cordon-dryrun.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
home=$work/home ws=$home/proj
mkdir -p "$home/.ssh" "$home/.config/cordon" "$ws/sub" "$ws/.git/hooks" "$home/shared" "$work/etc" "$work/run"
echo key > "$home/.ssh/id_rsa"; echo x > "$ws/.env"; echo x > "$home/shared/f"
cat > "$work/pol.toml" <<'T'
[[rule]]
name = "t"
decision = "allow"
command = ["true"]
reason = "test"
T
cat > "$home/.config/cordon/config.toml" <<'T'
[filesystem]
secret = ["secret.txt"]
protected = ["build/"]
T
combos=(
  "--"
  "--mode read-only --"
  "--mode danger-full-access --"
  "--writable $home/shared --"
  "--read-secret $ws/.env --"
  "--env FOO --env BAR=1 --secret-env FOO --"
  "--allow-domain example.com --deny-domain bad.example.com --"
  "--allow-domain example.com:8443 --resolve example.com:127.0.0.1 --allow-local --"
  "--network full --"
  "--timeout 5s --limit-nproc 100 --limit-memory 1G --limit-nofile 256 --"
  "--cwd $ws/sub --"
  "--workspace $ws --cwd $ws/sub --"
  "--no-audit --"
  "--audit-dir $work/audit --"
  "--policy $work/pol.toml --"
  "--no-policy --"
  "--escalate write:$home/shared --"
  "--writable $home/.config --"
  "--approval never --"
  "-c"
)
fail=0
for i in "${!combos[@]}"; do
  c=${combos[$i]}
  for bin in "$old" "$new"; do
    out=$work/$i.$([ "$bin" = "$old" ] && echo old || echo new)
    # shellcheck disable=SC2086
    if [ "$c" = "-c" ]; then set -- -c 'echo hi; true'; else set -- $c true; fi
    for nous in "" 1; do
      (cd "$ws" && env -i HOME="$home" PATH=/usr/bin:/bin XDG_RUNTIME_DIR="$work/run" \
        CORDON_ETC_DIR="$work/etc" FOO=secretish BAR=2 ${nous:+CORDON_NO_USERNS=1} \
        "$bin" run --dry-run "$@" >"$out.$nous.json" 2>"$out.$nous.err"; echo "exit $?" >>"$out.$nous.err") || true
    done
  done
  for nous in "" 1; do
    a=$work/$i.old.$nous.json b=$work/$i.new.$nous.json
    if ! diff -u "$a" "$b" >/dev/null || ! diff -u "${a%.json}.err" "${b%.json}.err" >/dev/null; then
      echo "DIFFERS: cordon run --dry-run ${combos[$i]} ${nous:+(CORDON_NO_USERNS=1)}"
      diff -u "$a" "$b" || true; diff -u "${a%.json}.err" "${b%.json}.err" || true
      fail=1
    fi
  done
done
n=$(( ${#combos[@]} * 2 ))
[ $fail = 0 ] && echo "same: $n dry runs (${#combos[@]} flag combinations x namespaces/fallback), JSON and stderr"
exit $fail
