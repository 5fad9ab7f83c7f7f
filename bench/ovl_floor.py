#!/usr/bin/env python3
"""The floor of the tool caches' start-up cost, without cordon: N overlayfs mounts made the way
cordon makes them (userxattr, redirect_dir=nofollow, metacopy=off, index=off, volatile; a fresh
work directory each time, as cordon moves the last one aside), in a new user + mount namespace.
Prints the median time of one round of N mounts, in ms, over ROUNDS rounds.

Usage: ovl_floor.py SCRATCH ROUNDS LOWER...   (SCRATCH: an empty directory on the file system of
the upper layers, that is the home directory's)

With --caches REL... (after one LOWER): the whole of what cordon mounts for the caches, the way
it mounts it: one overlay of LOWER built with the new mount API (fsopen, fsconfig, fsmount: a
detached mount), a detached clone of each cache directory REL of it (open_tree), each attached
over LOWER/REL (move_mount). --gap MS: a pause before each round (a run on its own).
--commit (with --caches): after each round's mounts, 200 bytes appended to SCRATCH/log and
fsync'd, as the audit log is at a run's end; each round is paired with one that makes the same
directories and syncs without mounting. Prints, after the mounts' median, the commit's median
with and without the mounts: on a journaled file system the commit carries the overlay's own
files (its work directory and the tests overlayfs makes there).
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


SYS_OPEN_TREE, SYS_MOVE_MOUNT, SYS_FSOPEN, SYS_FSCONFIG, SYS_FSMOUNT = 428, 429, 430, 431, 432
OPEN_TREE_CLONE, OPEN_TREE_CLOEXEC, MOVE_MOUNT_F_EMPTY_PATH = 1, 0o2000000, 4
FSCONFIG_SET_FLAG, FSCONFIG_SET_STRING, FSCONFIG_CMD_CREATE = 0, 1, 6


def sysc(n, *args):
    r = libc.syscall(n, *args)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"syscall {n}: {os.strerror(e)}")
    return r


def detached(lower, upper, work, caches):
    """cordon's way: the detached overlay, a clone of each cache, attached; returns the fds."""
    fs = sysc(SYS_FSOPEN, b"overlay", 1)
    for k, v in ((b"lowerdir", lower), (b"upperdir", upper), (b"workdir", work)):
        sysc(SYS_FSCONFIG, fs, FSCONFIG_SET_STRING, k, v.encode(), 0)
    sysc(SYS_FSCONFIG, fs, FSCONFIG_SET_FLAG, b"userxattr", None, 0)
    for k, v in ((b"redirect_dir", b"nofollow"), (b"metacopy", b"off"), (b"index", b"off")):
        sysc(SYS_FSCONFIG, fs, FSCONFIG_SET_STRING, k, v, 0)
    sysc(SYS_FSCONFIG, fs, FSCONFIG_SET_FLAG, b"volatile", None, 0)
    sysc(SYS_FSCONFIG, fs, FSCONFIG_CMD_CREATE, None, None, 0)
    root = sysc(SYS_FSMOUNT, fs, 1, MS_NOSUID | MS_NODEV)
    os.close(fs)
    fds = [root]
    for rel in caches:
        c = sysc(SYS_OPEN_TREE, root, rel.encode(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)
        sysc(SYS_MOVE_MOUNT, c, b"", -100, os.path.join(lower, rel).encode(), MOVE_MOUNT_F_EMPTY_PATH)
        fds.append(c)
    return fds


def main():
    args = sys.argv[1:]
    gap = 0.0
    if "--gap" in args:
        i = args.index("--gap")
        gap = float(args[i + 1]) / 1000
        del args[i:i + 2]
    commit = "--commit" in args
    if commit:
        args.remove("--commit")
    caches = None
    if "--caches" in args:
        i = args.index("--caches")
        caches = args[i + 1:]
        del args[i:]
    scratch, rounds, lowers = args[0], int(args[1]), args[2:]
    uid, gid = os.getuid(), os.getgid()
    check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare")
    for f, v in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1\n"), ("gid_map", f"{gid} {gid} 1\n")):
        with open(f"/proc/self/{f}", "w") as fh:
            fh.write(v)
    check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    times, synced, alone = [], [], []
    log = os.open(os.path.join(scratch, "log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def sync():
        t = time.perf_counter()
        os.write(log, b"x" * 200)
        os.fsync(log)
        return time.perf_counter() - t

    for r in range(rounds):
        if commit:
            for s in ("u", "w", "m"):
                os.makedirs(os.path.join(scratch, f"n{r}", s))
            if gap:
                time.sleep(gap)
            alone.append(sync())
        d = os.path.join(scratch, f"r{r}")
        for i in range(len(lowers)):
            for s in ("u", "w", "m"):
                os.makedirs(f"{d}/{i}/{s}")
        if gap:
            time.sleep(gap)
        if caches is not None:
            t = time.perf_counter()
            fds = detached(lowers[0], f"{d}/0/u", f"{d}/0/w", caches)
            times.append(time.perf_counter() - t)
            if commit:
                synced.append(sync())
            for rel in reversed(caches):
                libc.umount2(os.path.join(lowers[0], rel).encode(), MNT_DETACH)
            for fd in fds:
                os.close(fd)
            continue
        t = time.perf_counter()
        for i, low in enumerate(lowers):
            opts = (f"lowerdir={low},upperdir={d}/{i}/u,workdir={d}/{i}/w,userxattr,"
                    "redirect_dir=nofollow,metacopy=off,index=off,volatile")
            check(libc.mount(b"overlay", f"{d}/{i}/m".encode(), b"overlay",
                             MS_NOSUID | MS_NODEV, opts.encode()), f"mount overlay {low}")
        times.append(time.perf_counter() - t)
        for i in range(len(lowers)):
            libc.umount2(f"{d}/{i}/m".encode(), MNT_DETACH)
    if commit and synced:
        print(f"{statistics.median(times) * 1000:.2f} (commit: {statistics.median(synced) * 1000:.2f} "
              f"after the mounts, {statistics.median(alone) * 1000:.2f} without)")
    else:
        print(f"{statistics.median(times) * 1000:.2f}")


main()
