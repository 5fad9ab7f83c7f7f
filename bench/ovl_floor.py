#!/usr/bin/env python3
"""The floor of the tool caches' start-up cost, without cordon: N overlayfs mounts made the way
cordon makes them (userxattr, redirect_dir=nofollow, metacopy=off, index=off, volatile; a fresh
work directory each time, as cordon moves the last one aside), in a new user + mount namespace.
Prints the median time of one round of N mounts, in ms, over ROUNDS rounds.

Usage: ovl_floor.py SCRATCH ROUNDS LOWER...   (SCRATCH: an empty directory on the file system of
the upper layers, that is the home directory's)
"""
import ctypes
import os
import statistics
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 2, 4, 0x4000, 0x40000
MNT_DETACH = 2


def check(r, what):
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def main():
    scratch, rounds, lowers = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    uid, gid = os.getuid(), os.getgid()
    check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare")
    for f, v in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1\n"), ("gid_map", f"{gid} {gid} 1\n")):
        with open(f"/proc/self/{f}", "w") as fh:
            fh.write(v)
    check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    times = []
    for r in range(rounds):
        d = os.path.join(scratch, f"r{r}")
        for i in range(len(lowers)):
            for s in ("u", "w", "m"):
                os.makedirs(f"{d}/{i}/{s}")
        t = time.perf_counter()
        for i, low in enumerate(lowers):
            opts = (f"lowerdir={low},upperdir={d}/{i}/u,workdir={d}/{i}/w,userxattr,"
                    "redirect_dir=nofollow,metacopy=off,index=off,volatile")
            check(libc.mount(b"overlay", f"{d}/{i}/m".encode(), b"overlay",
                             MS_NOSUID | MS_NODEV, opts.encode()), f"mount overlay {low}")
        times.append(time.perf_counter() - t)
        for i in range(len(lowers)):
            libc.umount2(f"{d}/{i}/m".encode(), MNT_DETACH)
    print(f"{statistics.median(times) * 1000:.2f}")


main()
