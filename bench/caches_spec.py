#!/usr/bin/env python3
# The caches' cost before the clone, for two cordon binaries, runs interleaved (A B, B A, ...) in
# the SAME home directories and workspaces (so the file system's state is alike for both): medians
# of `cordon run -- true` end to end (runs without CORDON_TIMING) and, from runs with
# CORDON_TIMING=1: the whole spec (`spec: paths -> spec built`), the caches' resolution alone
# (`-> spec: caches` from the point before it: `spec: sockets` up to main fd9de5e, `spec: protected`
# since it runs beside the socket search), and `prepare -> caches` (the supervisor's
# Session::start). Each HOME must hold a git repository `repo`.
# With OFF (a directory whose cordon/config.toml says `[caches] enabled = false`), each binary is
# also run with XDG_CONFIG_HOME=OFF: the caches' share is then on - off.
# Usage (as the user to measure; HOME dirs under /var/lib or /home, not /tmp or /var/tmp):
#   python3 bench/caches_spec.py A B RUNS HOME... [--off OFF]
import collections, os, re, statistics, subprocess, sys, time

args = sys.argv[1:]
off = None
if "--off" in args:
    i = args.index("--off")
    off = args[i + 1]
    del args[i : i + 2]
bins, n, homes = args[0:2], int(args[2]), args[3:]
PHASES = [("spec: paths", "spec built"), ("resolution", "spec: caches"), ("prepare", "caches")]


def run(b, home, timing, extra):
    env = {"HOME": home, "PATH": "/usr/local/bin:/usr/bin:/bin", **extra}
    if timing:
        env["CORDON_TIMING"] = "1"
    t = time.perf_counter()
    r = subprocess.run([b, "run", "--", "true"], capture_output=True, text=True, cwd=home + "/repo", env=env)
    d = (time.perf_counter() - t) * 1000
    assert r.returncode == 0, (b, home, r.returncode, r.stderr)
    out = {"total": d}
    if timing:
        p = {}
        for m in (re.match(r"cordon-timing:\s+(\d+) (.*)", l) for l in r.stderr.splitlines()):
            if m:
                p[m.group(2)] = int(m.group(1))
        # The point before `spec: caches`, whichever it is in this binary.
        p["resolution"] = max(v for v in p.values() if v < p["spec: caches"])
        for a, z in PHASES:
            out[f"{a} -> {z}"] = (p[z] - p[a]) / 1000
    return out


variants = [(h, "on", {}) for h in homes]
if off:
    variants += [(h, "off", {"XDG_CONFIG_HOME": off}) for h in homes]
res = collections.defaultdict(list)
for h, tag, extra in variants:  # warm-up (creates the layers)
    for b in bins:
        for _ in range(5):
            run(b, h, False, extra)
for i in range(n):
    for h, tag, extra in variants:
        for b in bins if i % 2 == 0 else bins[::-1]:
            res[(b, h, tag, "total")].append(run(b, h, False, extra)["total"])
            for k, v in run(b, h, True, extra).items():
                if k != "total":
                    res[(b, h, tag, k)].append(v)
for h, tag, _ in variants:
    print(f"{h} (caches {tag}), medians of {n}, ms:")
    for k in ["total"] + [f"{a} -> {z}" for a, z in PHASES]:
        m = [statistics.median(res[(b, h, tag, k)]) for b in bins]
        print(f"  {k:28} " + "  ".join(f"{os.path.basename(b)} {x:7.3f}" for b, x in zip(bins, m)) + f"  ({m[1] - m[0]:+.3f})")
