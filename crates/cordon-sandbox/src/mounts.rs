//! The sandbox's file system view, built by its init process inside the new user + mount
//! namespaces. Nothing here touches the host's mount table: the namespace is private.
//!
//! The order matters, and is:
//! 1. make every mount private, so nothing we do propagates anywhere;
//! 2. take detached clones (`open_tree`) of the writable roots and protected paths and of `/`,
//!    BEFORE anything is mounted over them (a workspace under /tmp must survive the private /tmp);
//! 3. make the whole clone of `/` read-only, nosuid, nodev in one recursive `mount_setattr`
//!    (every submount at once, no /proc/self/mountinfo walk);
//! 4. attach it at a staging point and mount, on top of it: private /tmp and /var/tmp, empty
//!    runtime dirs, the writable roots, then the things that must win over the writable roots:
//!    secrets (covered), protected paths (read-only clones of themselves), agent sockets;
//! 5. fresh /dev and /proc;
//! 6. `pivot_root` into it and detach the old root, so the host's tree is unreachable.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::spec::{Kind, SandboxSpec};
use crate::sys::{self, *};

/// Where the new root is assembled before pivot_root. Inside our mount namespace only.
const STAGE: &str = "/tmp";

fn staged(p: &Path) -> PathBuf {
    let rel = p.strip_prefix("/").unwrap_or(p);
    Path::new(STAGE).join(rel)
}

/// Detached clones taken before anything is covered.
pub struct Clones {
    writable: Vec<(PathBuf, OwnedFd)>,
    protected: Vec<(PathBuf, OwnedFd)>,
    root: OwnedFd,
}

pub fn take_clones(spec: &SandboxSpec) -> io::Result<Clones> {
    sys::mount(
        "none",
        Path::new("/"),
        "",
        libc::MS_REC | libc::MS_PRIVATE,
        "",
    )?;
    let mut writable = Vec::new();
    for w in &spec.writable {
        let fd = open_tree_clone(w, true)?;
        // Writable, but nothing set-uid or device-like comes through.
        mount_setattr(Some(&fd), w, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, true)?;
        writable.push((w.clone(), fd));
    }
    let mut protected = Vec::new();
    for p in &spec.protected {
        // Placeholders were created by the supervisor, so every protected path exists now.
        let fd = open_tree_clone(&p.path, true)?;
        mount_setattr(
            Some(&fd),
            &p.path,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
            true,
        )?;
        protected.push((p.path.clone(), fd));
    }
    let root = open_tree_clone(Path::new("/"), true)?;
    mount_setattr(
        Some(&root),
        Path::new("/"),
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        true,
    )?;
    Ok(Clones {
        writable,
        protected,
        root,
    })
}

/// Attaches `fd` at `target` in the staged tree, creating the mount point when it lies in one of
/// our own tmpfs (e.g. a workspace under /tmp, now covered by the private /tmp).
fn attach(fd: &OwnedFd, target: &Path, dir: bool) -> io::Result<()> {
    match move_mount(fd, target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if dir {
                std::fs::create_dir_all(target)?;
            } else {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::File::create(target)?;
            }
            move_mount(fd, target)
        }
        r => r,
    }
}

/// A read-only, empty, inaccessible directory over `target`.
fn cover_dir(target: &Path) -> io::Result<()> {
    sys::mount(
        "cordon-hidden",
        target,
        "tmpfs",
        libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        "size=0,mode=000",
    )
}

/// `/dev/null` on a nodev, read-only mount over the file `target`: opening it fails with EACCES.
fn cover_file(target: &Path) -> io::Result<()> {
    let fd = open_tree_clone(Path::new("/dev/null"), false)?;
    mount_setattr(
        Some(&fd),
        target,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NOSUID,
        false,
    )?;
    move_mount(&fd, target)
}

pub fn build_root(spec: &SandboxSpec, c: Clones) -> io::Result<()> {
    let stage = Path::new(STAGE);
    move_mount(&c.root, stage)?;

    // Private temporary directories.
    for t in ["/tmp", "/var/tmp"] {
        let target = staged(Path::new(t));
        if target.is_dir() {
            sys::mount(
                "tmpfs",
                &target,
                "tmpfs",
                libc::MS_NOSUID | libc::MS_NODEV,
                "mode=1777",
            )?;
        }
    }
    for d in &spec.hidden_dirs {
        let target = staged(d);
        if target.is_dir() {
            sys::mount(
                "tmpfs",
                &target,
                "tmpfs",
                libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                "size=0,mode=755",
            )?;
        }
    }

    // Writable roots, shallowest first so that a nested root lands on top of its parent.
    let mut writable = c.writable;
    writable.sort_by_key(|(p, _)| p.components().count());
    for (p, fd) in &writable {
        attach(fd, &staged(p), true)?;
    }

    // What must win over the writable roots.
    for s in &spec.secrets {
        let target = staged(s);
        let is_dir = std::fs::symlink_metadata(s)
            .map(|m| m.is_dir())
            .unwrap_or(false);
        if is_dir {
            cover_dir(&target)
        } else {
            cover_file(&target)
        }
        .map_err(|e| io::Error::new(e.kind(), format!("hide secret {}: {e}", s.display())))?;
    }
    for (p, fd) in &c.protected {
        let kind = spec.protected.iter().find(|x| &x.path == p).map(|x| x.kind);
        attach(fd, &staged(p), kind != Some(Kind::File))
            .map_err(|e| io::Error::new(e.kind(), format!("protect {}: {e}", p.display())))?;
    }
    for s in &spec.hidden_sockets {
        // Best effort per socket: one that vanished since the scan needs no cover.
        let _ = cover_file(&staged(s));
    }

    build_dev(&staged(Path::new("/dev")))?;
    // A fresh procfs for the new PID namespace: only the sandbox's processes are visible.
    sys::mount("proc", &staged(Path::new("/proc")), "proc", libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC, "")
        .map_err(|e| io::Error::new(e.kind(), format!("{e} (a fresh /proc cannot be mounted here: is /proc partly covered, as in some containers?)")))?;
    // Files of /proc that act on the whole machine and are guarded by file mode only
    // (sysrq-trigger) or by capabilities (sys): read-only, as a second fence behind Landlock.
    for p in ["/proc/sys", "/proc/sysrq-trigger"] {
        let target = staged(Path::new(p));
        if target.exists() {
            let fd = open_tree_clone(&target, true)?;
            mount_setattr(Some(&fd), &target, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, true)?;
            move_mount(&fd, &target)?;
        }
    }

    // pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves only
    // the new root. No directory for the old root is needed.
    std::env::set_current_dir(stage)?;
    let dot = c".";
    check(
        unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) },
        || "pivot_root".into(),
    )?;
    check(
        unsafe { libc::umount2(dot.as_ptr(), libc::MNT_DETACH) } as libc::c_long,
        || "detach the old root".into(),
    )?;
    std::env::set_current_dir("/")?;
    Ok(())
}

/// A minimal /dev: null, zero, full, random, urandom, tty (bind mounts of the host's nodes: a
/// user namespace cannot mknod), a private devpts, /dev/shm, and the usual symlinks.
fn build_dev(dev: &Path) -> io::Result<()> {
    sys::mount(
        "tmpfs",
        dev,
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NOEXEC,
        "mode=755,size=64k",
    )?;
    for n in ["null", "zero", "full", "random", "urandom", "tty"] {
        let host = Path::new("/dev").join(n);
        let target = dev.join(n);
        std::fs::File::create(&target)?;
        let fd = open_tree_clone(&host, false)?;
        move_mount(&fd, &target)?;
    }
    std::fs::create_dir(dev.join("pts"))?;
    sys::mount(
        "devpts",
        &dev.join("pts"),
        "devpts",
        libc::MS_NOSUID | libc::MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=620",
    )?;
    std::fs::create_dir(dev.join("shm"))?;
    sys::mount(
        "tmpfs",
        &dev.join("shm"),
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV,
        "mode=1777",
    )?;
    for (name, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(target, dev.join(name))?;
    }
    // Nothing can be added to /dev afterwards.
    mount_setattr(
        None,
        dev,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
        false,
    )
}
