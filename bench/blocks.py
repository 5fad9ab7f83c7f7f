#!/usr/bin/env python3
# Two cordon binaries, each run back to back in blocks (A A A ..., B B B ..., then B first, and so
# on), for what one run leaves to the next: a sandbox's init still tearing down its overlays while
# the next run starts, files freed a moment ago. bench/interleave.py alternates every run, which
# hands each binary's after-effects to the other. Prints the phases (CORDON_TIMING medians) that
# differ by more than 15 µs (with the edges before cordon's first point and after its last), and
# the wall time of `cordon run -- true` (WALL), in µs.
# On a machine other work keeps busy, run it at a real-time priority (`chrt -f 10 ...`, as root:
# cordon's processes then preempt the others; the kernel keeps 5% of each second for them).
# Same layout as bench/interleave.py: DIR/repo-NAME, DIR/home-NAME for each binary DIR/NAME.
# GAP (ms, default 0): a pause before each run, so that it starts once the previous one's
# aftermath (its init's teardown) is over: the latency of one run on its own, as an agent's
# commands seconds apart see it, rather than back to back.
# Usage (as the user to measure):  python3 bench/blocks.py DIR/a DIR/b [BLOCKS] [PER_BLOCK] [GAP]
import collections, os, re, statistics, subprocess, sys, time


def run(b):
    d, n = os.path.dirname(b), os.path.basename(b)
    t0 = time.perf_counter()
    m0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    r = subprocess.run([b, "run", "--", "true"], capture_output=True, text=True, cwd=f"{d}/repo-{n}",
                       env={"HOME": f"{d}/home-{n}", "PATH": "/usr/bin:/bin", "CORDON_TIMING": "1"})
    wall = (time.perf_counter() - t0) * 1e6
    m1 = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert r.returncode == 0, (b, r.returncode, r.stderr)
    pts = [(int(m.group(1)), m.group(2).strip()) for m in
           (re.match(r"cordon-timing:\s+(\d+) (.*)", l) for l in r.stderr.splitlines()) if m]
    out = {f"{a} -> {c}": t1 - t0 for (t0, a), (t1, c) in zip(pts, pts[1:])}
    # The same clock as CORDON_TIMING's: before cordon's first point (exec, loading), and
    # after its last (its exit, and the end of its output: EOF on both pipes).
    if pts:
        out["(spawn) -> " + pts[0][1]] = pts[0][0] - m0
        out[pts[-1][1] + " -> (reaped)"] = m1 - pts[-1][0]
    out["WALL"] = wall
    return out


A, B = sys.argv[1], sys.argv[2]
blocks = int(sys.argv[3]) if len(sys.argv) > 3 else 10
per = int(sys.argv[4]) if len(sys.argv) > 4 else 30
gap = float(sys.argv[5]) / 1000 if len(sys.argv) > 5 else 0
res = {A: collections.defaultdict(list), B: collections.defaultdict(list)}
for i in range(blocks):
    for b in ((A, B) if i % 2 == 0 else (B, A)):
        for _ in range(per):
            if gap:
                time.sleep(gap)
            for k, v in run(b).items():
                res[b][k].append(v)
print(f"{'A':>8} {'B':>8} {'B-A':>7}  (medians, µs; A = {A}, B = {B})")
for k in list(res[A]) + [k for k in res[B] if k not in res[A]]:
    a = statistics.median(res[A][k]) if res[A][k] else 0
    c = statistics.median(res[B][k]) if res[B][k] else 0
    if abs(a - c) > 15 or k == "WALL":
        print(f"{a:8.0f} {c:8.0f} {c - a:+7.0f}  {k}")
