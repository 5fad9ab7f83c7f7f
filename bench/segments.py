#!/usr/bin/env python3
# Where the difference between two cordon binaries lies, in four segments of each run (medians,
# µs), runs interleaved (A B, B A, ...): start (spawned -> `start`: exec, the loader, argument
# parsing), spec (`spec: paths` -> `spec: sockets`: the workspace scan, the socket search beside
# it, live runs, protected paths), launch (`spec: sockets` -> `sandbox exited`), tail (`sandbox
# exited` -> reaped: placeholders removed, the check after the run, the audit log, exit), total.
# Same layout as bench/interleave.py (DIR/repo-NAME, DIR/home-NAME). On this VM's ext4 (no
# journal) the directory a binary runs in matters (inode allocations skip the inodes freed in its
# block group in the last ~30 s): swap the two binaries' names and run again.
# Usage: python3 bench/segments.py DIR/a DIR/b RUNS
import subprocess, statistics, sys, os, re, time, collections
def run(b):
    d = os.path.dirname(b); n = os.path.basename(b)
    t0 = time.monotonic_ns() // 1000
    r = subprocess.run([b, "run", "--", "true"], capture_output=True, text=True, cwd=d+"/repo-"+n,
        env={"HOME": d+"/home-"+n, "PATH": "/usr/bin:/bin", "CORDON_TIMING": "1"})
    t1 = time.monotonic_ns() // 1000
    p = {m.group(2): int(m.group(1)) for m in (re.match(r"cordon-timing:\s+(\d+) (.*)", l) for l in r.stderr.splitlines()) if m}
    return {"start": p["start"] - t0, "spec": p["spec: sockets"] - p["spec: paths"],
            "launch": p["sandbox exited"] - p["spec: sockets"], "tail": t1 - p["sandbox exited"], "total": t1 - t0}
bins = sys.argv[1:3]; N = int(sys.argv[3])
res = {b: collections.defaultdict(list) for b in bins}
for i in range(N):
    for b in (bins if i % 2 == 0 else bins[::-1]):
        for k, v in run(b).items(): res[b][k].append(v)
for b in bins:
    print("%-24s" % b + "  ".join("%s %6d" % (k, statistics.median(v)) for k, v in res[b].items()))
