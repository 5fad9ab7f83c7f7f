#!/usr/bin/env python3
# Two cordon binaries, each run back to back in blocks (A A A ..., B B B ..., then B first, and so
# on), for what one run leaves to the next: a sandbox's init still tearing down its overlays while
# the next run starts, files freed a moment ago. bench/interleave.py alternates every run, which
# hands each binary's after-effects to the other. Prints the phases (CORDON_TIMING medians) that
# differ by more than 15 µs, and the wall time of `cordon run -- true` (WALL), in µs.
# Same layout as bench/interleave.py: DIR/repo-NAME, DIR/home-NAME for each binary DIR/NAME.
# Usage (as the user to measure):  python3 bench/blocks.py DIR/a DIR/b [BLOCKS] [PER_BLOCK]
import collections, os, re, statistics, subprocess, sys, time


def run(b):
    d, n = os.path.dirname(b), os.path.basename(b)
    t0 = time.perf_counter()
    r = subprocess.run([b, "run", "--", "true"], capture_output=True, text=True, cwd=f"{d}/repo-{n}",
                       env={"HOME": f"{d}/home-{n}", "PATH": "/usr/bin:/bin", "CORDON_TIMING": "1"})
    wall = (time.perf_counter() - t0) * 1e6
    assert r.returncode == 0, (b, r.returncode, r.stderr)
    pts = [(int(m.group(1)), m.group(2).strip()) for m in
           (re.match(r"cordon-timing:\s+(\d+) (.*)", l) for l in r.stderr.splitlines()) if m]
    out = {f"{a} -> {c}": t1 - t0 for (t0, a), (t1, c) in zip(pts, pts[1:])}
    out["WALL"] = wall
    return out


A, B = sys.argv[1], sys.argv[2]
blocks = int(sys.argv[3]) if len(sys.argv) > 3 else 10
per = int(sys.argv[4]) if len(sys.argv) > 4 else 30
res = {A: collections.defaultdict(list), B: collections.defaultdict(list)}
for i in range(blocks):
    for b in ((A, B) if i % 2 == 0 else (B, A)):
        for _ in range(per):
            for k, v in run(b).items():
                res[b][k].append(v)
print(f"{'A':>8} {'B':>8} {'B-A':>7}  (medians, µs; A = {A}, B = {B})")
for k in list(res[A]) + [k for k in res[B] if k not in res[A]]:
    a = statistics.median(res[A][k]) if res[A][k] else 0
    c = statistics.median(res[B][k]) if res[B][k] else 0
    if abs(a - c) > 15 or k == "WALL":
        print(f"{a:8.0f} {c:8.0f} {c - a:+7.0f}  {k}")
