#!/usr/bin/env python3
"""MCP server start-up with two cordon binaries, arms interleaved (one start of each in turn, so
that swings of the machine's load hit every arm alike). See bench/mcp-startup.sh.

Per arm: spawn -> `initialize` answered (medians and quartiles), and for the sandboxed arms
spawn -> the server's execve inside the sandbox (CORDON_TIMING's "command: execve", read on
CLOCK_MONOTONIC like the client's clock), and the gateway's server identity (its
"cordon-timing-note: mcp: server identity", binaries that print it)."""
import json, os, statistics, subprocess, sys, time

INIT = b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"b","version":"1"}}}\n'

def start(cmd):
    env = dict(os.environ, CORDON_TIMING="1")
    t = time.clock_gettime(time.CLOCK_MONOTONIC)
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    p.stdin.write(INIT)
    p.stdin.flush()
    p.stdout.readline()
    up = time.clock_gettime(time.CLOCK_MONOTONIC) - t
    p.stdin.close()
    err = p.stderr.read().decode(errors="replace")
    p.wait()
    ex = [l for l in err.splitlines() if l.startswith("cordon-timing:") and l.endswith("command: execve")]
    exec_ms = int(ex[-1].split()[1]) / 1e3 - t * 1e3 if ex else None
    idl = [l for l in err.splitlines() if l.startswith("cordon-timing-note: mcp: server identity ")]
    id_ms = int(idl[-1].split()[-2]) / 1e3 if idl else None
    return up * 1e3, exec_ms, id_ms

def q(v):
    v = sorted(v)
    return "%.1f (%.1f-%.1f)" % (statistics.median(v), v[len(v) // 4], v[3 * len(v) // 4])

n, arms = int(sys.argv[1]), json.loads(sys.argv[2])
res = {l: ([], [], []) for l, _ in arms}
for _ in range(n):
    for label, cmd in arms:
        up, ex, idm = start(cmd)
        res[label][0].append(up)
        if ex is not None:
            res[label][1].append(ex)
        if idm is not None:
            res[label][2].append(idm)
print("| %d starts, median (quartiles), ms | spawn -> initialize answered | spawn -> server's execve | server identity |" % n)
print("| --- | ---: | ---: | ---: |")
for label, _ in arms:
    ups, exs, ids = res[label]
    print("| %s | %s | %s | %s |" % (label, q(ups), q(exs) if exs else "", q(ids) if ids else ""))
