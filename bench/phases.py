#!/usr/bin/env python3
# CORDON_TIMING=1 phase medians (microseconds) of two cordon binaries, runs interleaved; same
# layout as bench/interleave.py (DIR/repo-NAME, DIR/home-NAME).
# Lines `cordon-timing-note: WHAT N us` (work done on another thread meanwhile) are listed as
# "(beside) WHAT". "(spawned)" and "(reaped)": this script's own clock (CLOCK_MONOTONIC, as
# cordon's) just before the process is started and after it is reaped.
# Usage: python3 bench/phases.py DIR/before DIR/main RUNS
import subprocess, statistics, sys, os, re, collections, time
def run(b):
    d = os.path.dirname(b); n = os.path.basename(b)
    t0 = time.monotonic_ns() // 1000
    r = subprocess.run([b, "run", "--", "true"], capture_output=True, text=True, cwd=d+"/repo-"+n,
        env={"HOME": d+"/home-"+n, "PATH": "/usr/bin:/bin", "CORDON_TIMING": "1"})
    t1 = time.monotonic_ns() // 1000
    out, notes = [(t0, "(spawned)")], []
    for l in r.stderr.splitlines():
        m = re.match(r"cordon-timing:\s+(\d+) (.*)", l)
        if m: out.append((int(m.group(1)), m.group(2)))
        m = re.match(r"cordon-timing-note: (.*) (\d+) us", l)
        if m: notes.append((m.group(1), int(m.group(2))))
    out.append((t1, "(reaped)"))
    return out, notes
bins = sys.argv[1:3]; N = int(sys.argv[3])
ph = {b: collections.defaultdict(list) for b in bins}
for i in range(N):
    for b in bins:
        t, notes = run(b)
        for k, v in notes: ph[b]["(beside) " + k].append(v)
        for (a, na), (c, nc) in zip(t, t[1:]): ph[b][na + " -> " + nc].append(c - a)
        if len(t) > 2: ph[b]["TOTAL first->last (cordon's own points)"].append(t[-2][0] - t[1][0])
        ph[b]["TOTAL spawned->reaped"].append(t[-1][0] - t[0][0])
for b in bins:
    print("==", b)
    for k, v in ph[b].items(): print("  %6d us  %s" % (statistics.median(v), k))
