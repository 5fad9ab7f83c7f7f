#!/usr/bin/env python3
# CORDON_TIMING=1 phase medians (microseconds) of two cordon binaries, runs interleaved; same
# layout as bench/interleave.py (DIR/repo-NAME, DIR/home-NAME).
# Usage: python3 bench/phases.py DIR/before DIR/main RUNS
import subprocess, statistics, sys, os, re, collections
def run(b):
    d = os.path.dirname(b); n = os.path.basename(b)
    r = subprocess.run([b, "run", "--", "true"], capture_output=True, text=True, cwd=d+"/repo-"+n,
        env={"HOME": d+"/home-"+n, "PATH": "/usr/bin:/bin", "CORDON_TIMING": "1"})
    out = []
    for l in r.stderr.splitlines():
        m = re.match(r"cordon-timing:\s+(\d+) (.*)", l)
        if m: out.append((int(m.group(1)), m.group(2)))
    return out
bins = sys.argv[1:3]; N = int(sys.argv[3])
ph = {b: collections.defaultdict(list) for b in bins}
for i in range(N):
    for b in bins:
        t = run(b)
        for (a, na), (c, nc) in zip(t, t[1:]): ph[b][na + " -> " + nc].append(c - a)
        if t: ph[b]["TOTAL first->last"].append(t[-1][0] - t[0][0])
for b in bins:
    print("==", b)
    for k, v in ph[b].items(): print("  %6d us  %s" % (statistics.median(v), k))
