#!/usr/bin/env python3
"""Gateway overhead per tools/call round trip, and start-up, in one run (see bench/mcp.sh).
Raw JSON-RPC over pipes (the same client code for every line of the table)."""
import json, os, statistics, subprocess, sys, time

def start(cmd):
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    p.stdin.write(b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"b","version":"1"}}}\n')
    p.stdin.flush()
    p.stdout.readline()
    up = time.perf_counter() - t
    p.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n{"jsonrpc":"2.0","id":1,"method":"tools/list"}\n')
    p.stdin.flush()
    p.stdout.readline()
    return p, up

def calls(p, n):
    out = []
    for i in range(n):
        line = ('{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x%d"}}}\n' % (i + 2, i)).encode()
        t = time.perf_counter()
        p.stdin.write(line)
        p.stdin.flush()
        p.stdout.readline()
        out.append(time.perf_counter() - t)
    return out

def stop(p):
    p.stdin.close()
    p.wait()

n, runs = int(sys.argv[1]), int(sys.argv[2])
arms = json.loads(sys.argv[3])  # [[label, argv], ...]
res = {}
for label, cmd in arms:
    ups, rts = [], []
    for r in range(runs):
        p, up = start(cmd)
        ups.append(up)
        rts += calls(p, n if r == 0 else 0)
        stop(p)
    res[label] = (statistics.median(ups) * 1e3, statistics.median(rts) * 1e3)
base = res[arms[0][0]]
print("| | start-up (median, ms) | tools/call round trip (median, ms) | added per call |")
print("| --- | ---: | ---: | ---: |")
for label, _ in arms:
    up, rt = res[label]
    print("| %s | %.2f | %.3f | %+.3f ms |" % (label, up, rt, rt - base[1]))
