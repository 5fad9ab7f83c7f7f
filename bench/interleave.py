#!/usr/bin/env python3
# Start-up of two cordon binaries, runs interleaved (A B, B A, ...) so that load swings and the
# after-effects of one run on the next hit both alike (hyperfine measures one command after the
# other: on a shared VM the one measured second was 0.5-2 ms slower, whichever it was). Each
# binary gets its own fresh git repository and HOME next to it: DIR/repo-NAME, DIR/home-NAME.
# Usage (as the user to measure):  python3 bench/interleave.py DIR/before DIR/main [RUNS]
import subprocess, time, statistics, sys, os
bins = sys.argv[1:3]; n = int(sys.argv[3]) if len(sys.argv) > 3 else 200
res = {b: [] for b in bins}
for i in range(20):
    for b in bins: subprocess.run([b, "run", "--", "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=os.path.dirname(b)+"/repo-"+os.path.basename(b), env={"HOME": os.path.dirname(b)+"/home-"+os.path.basename(b), "PATH": "/usr/bin:/bin"})
for i in range(n):
    order = bins if i % 2 == 0 else bins[::-1]
    for b in order:
        t = time.perf_counter(); r = subprocess.run([b, "run", "--", "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=os.path.dirname(b)+"/repo-"+os.path.basename(b), env={"HOME": os.path.dirname(b)+"/home-"+os.path.basename(b), "PATH": "/usr/bin:/bin"}); d = time.perf_counter() - t
        assert r.returncode == 0, (b, r.returncode)
        res[b].append(d * 1000)
for b in bins:
    v = sorted(res[b]); print("%-50s median %.2f ms  p25 %.2f  p75 %.2f" % (b, statistics.median(v), v[len(v)//4], v[3*len(v)//4]))
m = [statistics.median(res[b]) for b in bins]; print("ratio second/first = %.3f (%+.2f ms)" % (m[1]/m[0], m[1]-m[0]))
