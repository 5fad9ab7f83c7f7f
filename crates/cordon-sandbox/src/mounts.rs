//! The sandbox's file system view, built by its init process inside the new user + mount
//! namespaces. Nothing here touches the host's mount table: CLONE_NEWNS gave init a private
//! copy of it, and that copy is reshaped in place (no second tree, no pivot_root: the copy
//! already is "the machine", and everything in it becomes read-only).
//!
//! The order matters, and is:
//! 1. make every mount private, so nothing we do propagates anywhere;
//! 2. take detached clones (`open_tree`) of the writable roots, the protected paths and the
//!    device nodes, BEFORE anything is made read-only or mounted over (a workspace under /tmp
//!    must survive the private /tmp; device nodes must not inherit nodev);
//! 3. make the whole tree read-only, nosuid, nodev in one recursive `mount_setattr` (every
//!    submount at once, no /proc/self/mountinfo walk);
//! 4. mount on top of it: private /tmp and /var/tmp, socket-proof views (sockets.rs), empty
//!    runtime dirs, the writable roots, then what must win over the writable roots: secrets
//!    (covered), protected paths (read-only clones of themselves), agent sockets;
//! 5. a fresh /dev and /proc (with /proc/sys and /proc/sysrq-trigger read-only).
//!
//! The tool caches' overlays are made and attached either between the writable roots and the
//! secrets, or, most often, after all of this, once init has forked the command's process
//! (caches/mount.rs, `late`).
//!
//! Mounts below a cover cannot be reached from inside: unmounting is refused by seccomp and the
//! command holds no capability.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::spec::{Kind, SandboxSpec};
use crate::sys::{self, *};

const DEV_NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Detached clones taken before anything is covered.
pub struct Clones {
    writable: Vec<(PathBuf, OwnedFd)>,
    /// Pins (read-write, the directory on itself) and protected paths (read-only), attached
    /// shallowest first so that a read-only entry of a pinned git directory lands on the pin.
    protected: Vec<(PathBuf, OwnedFd)>,
    /// Files other live runs have pinned (read-only here, like protected paths).
    pinned_elsewhere: Vec<(PathBuf, OwnedFd)>,
    dev: Vec<(&'static str, OwnedFd)>,
    /// Tool cache overlays and private directories (caches/mount.rs).
    caches: crate::caches::mount::Prepared,
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
    for p in &spec.pinned_dirs {
        // A git directory bind-mounted on itself: still writable, but a mount point, which
        // rename(2) and rmdir(2) refuse (EBUSY) to move or remove from inside the namespace.
        let fd = open_tree_clone(p, true)?;
        mount_setattr(Some(&fd), p, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, true)?;
        protected.push((p.clone(), fd));
    }
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
    let mut pinned_elsewhere = Vec::new();
    for p in &spec.pinned_elsewhere {
        // One that vanished since its run pinned it needs no cover (nor can it get one).
        match open_tree_clone(p, false) {
            Ok(fd) => {
                mount_setattr(
                    Some(&fd),
                    p,
                    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                    false,
                )?;
                pinned_elsewhere.push((p.clone(), fd));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let mut dev = Vec::new();
    for n in DEV_NODES {
        dev.push((n, open_tree_clone(&Path::new("/dev").join(n), false)?));
    }
    // Overlays need their upper directory on a writable mount: built now, attached below.
    crate::timing("init: clones taken");
    let caches = crate::caches::mount::prepare(&spec.caches, crate::caches::mount::late(spec))?;
    crate::timing("init: overlays made");
    Ok(Clones {
        writable,
        protected,
        pinned_elsewhere,
        dev,
        caches,
    })
}

/// Attaches `fd` at `target`, creating the mount point when it lies in one of our own tmpfs
/// (e.g. a workspace under /tmp, now covered by the private /tmp).
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

/// A read-only clone of the mount at `path`, mounted over it.
fn make_read_only(path: &Path) -> io::Result<()> {
    let fd = open_tree_clone(path, true)?;
    mount_setattr(
        Some(&fd),
        path,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
        true,
    )?;
    move_mount(&fd, path)
}

/// Builds the view; returns the directories asked for as socket-proof views, mounted or not
/// (below), and the tool caches' overlays left for after the command's fork
/// (`caches::mount::late`). The views:
/// the machine-wide Landlock rules leave them out (`exec::build_fence`), and init grants each
/// by its path, whatever that leads to now, the view's overlay or the directory itself if its
/// view could not be mounted (`fence::Fence::grant_view`; rules on a view's inodes can only be
/// added inside).
pub fn build_root(
    spec: &SandboxSpec,
    mut c: Clones,
) -> io::Result<(Vec<PathBuf>, crate::caches::mount::Late)> {
    let ro = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    mount_setattr(None, Path::new("/"), ro, true)?;

    // Private temporary directories.
    let private_tmp = |t: &str| -> io::Result<()> {
        let target = Path::new(t);
        if target.is_dir() {
            sys::mount(
                "tmpfs",
                target,
                "tmpfs",
                libc::MS_NOSUID | libc::MS_NODEV,
                "mode=1777",
            )?;
        }
        Ok(())
    };
    private_tmp("/tmp")?;
    private_tmp("/var/tmp")?;
    let views = socket_views(spec);
    if !views.is_empty() {
        // The views' empty layer is a directory of the /tmp just mounted, which must live as long
        // as they do: a removed directory reads as empty (readdir of a deleted directory fails
        // with ENOENT), and overlayfs' readdir of a view's top directory, which merges both
        // layers, then lists nothing (`ls ~/.config` was empty). A second tmpfs on /tmp hides
        // it instead; the overlays keep their own reference to the first one. ~10 µs, no sync.
        private_tmp("/tmp")?;
    }
    for d in &spec.hidden_dirs {
        if d.is_dir() {
            sys::mount(
                "tmpfs",
                d,
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
        attach(fd, p, true)?;
    }
    // Tool caches over the host's: before the secrets, which are covered on top of them.
    crate::caches::mount::attach_overlays(&mut c.caches);
    crate::timing("init: overlays attached");

    // What must win over the writable roots.
    for s in &spec.secrets {
        // cordon's state directory, when the tool caches cover it themselves just below.
        if crate::caches::mount::hides(&spec.caches, &c.caches, s) {
            continue;
        }
        // A secret under the private /tmp (e.g. an audit directory there) is already out of
        // reach: the path no longer exists in this view, and there is nothing to cover.
        let is_dir = match std::fs::symlink_metadata(s) {
            Ok(m) => m.is_dir(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("hide secret {}: {e}", s.display()),
                ))
            }
        };
        if is_dir { cover_dir(s) } else { cover_file(s) }
            .map_err(|e| io::Error::new(e.kind(), format!("hide secret {}: {e}", s.display())))?;
    }
    // cordon's state directory (a secret) emptied but for this workspace's private caches.
    crate::caches::mount::hide_state(&spec.caches, &mut c.caches)
        .map_err(|e| io::Error::new(e.kind(), format!("tool caches: {e}")))?;
    let mut protected = std::mem::take(&mut c.protected);
    protected.sort_by_key(|(p, _)| p.components().count());
    for (p, fd) in &protected {
        let kind = spec.protected.iter().find(|x| &x.path == p).map(|x| x.kind);
        attach(fd, p, kind != Some(Kind::File))
            .map_err(|e| io::Error::new(e.kind(), format!("protect {}: {e}", p.display())))?;
    }
    for (p, fd) in &c.pinned_elsewhere {
        attach(fd, p, false)
            .map_err(|e| io::Error::new(e.kind(), format!("protect {}: {e}", p.display())))?;
    }
    pin_files(&spec.pinned)?;
    if let Some(t) = &spec.trust {
        trust_files(t, &spec.writable)
            .map_err(|e| io::Error::new(e.kind(), format!("the run's CA files: {e}")))?;
    }
    for s in &spec.hidden_sockets {
        if views.iter().any(|v| s.starts_with(v)) {
            continue;
        }
        if let Err(e) = cover_file(s) {
            // One that vanished, or is no socket any more, since the scan needs no cover.
            let still = std::fs::symlink_metadata(s)
                .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()));
            if still {
                return Err(io::Error::new(
                    e.kind(),
                    format!("hide the unix socket {}: {e}", s.display()),
                ));
            }
        }
    }

    build_dev(Path::new("/dev"), c.dev)?;
    // A fresh procfs for the new PID namespace: only the sandbox's processes are visible.
    sys::mount(
        "proc",
        Path::new("/proc"),
        "proc",
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        "",
    )
    .map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("{e} (a fresh /proc cannot be mounted here: is /proc partly covered, as in some containers?)"),
        )
    })?;
    // Files of /proc that act on the whole machine and are guarded by file mode only
    // (sysrq-trigger) or by capabilities (sys): read-only, as a second fence behind Landlock.
    for p in ["/proc/sys", "/proc/sysrq-trigger"] {
        let p = Path::new(p);
        if p.exists() {
            make_read_only(p)?;
        }
    }
    Ok((
        spec.socket_views.clone(),
        crate::caches::mount::take_late(&mut c.caches),
    ))
}

/// Mounts the socket-proof views (see sockets.rs): each directory becomes a read-only overlayfs
/// whose lower layers are the directory itself and an empty directory (overlayfs needs two
/// lower layers when it has no upper one). Files read through it as before; a unix socket in it
/// is an overlay inode, never the one a socket is bound to, so `connect` is refused, for
/// sockets created later too. Returns the views mounted. One that cannot be mounted (overlayfs
/// stacked too deep, a file system it refuses) is said on stderr, and its sockets get the
/// per-file covers instead.
fn socket_views(spec: &SandboxSpec) -> Vec<PathBuf> {
    let mut done = Vec::new();
    if spec.socket_views.is_empty() {
        return done;
    }
    // On the private /tmp, hidden by another one once the overlays hold it (`build_root`).
    let empty = Path::new("/tmp/.cordon-empty-layer");
    if let Err(e) = std::fs::create_dir(empty) {
        errln!(
            "cordon: note: no socket-proof views ({}: {e}): unix sockets are covered one by one",
            empty.display()
        );
        return done;
    }
    for v in &spec.socket_views {
        // Never over a protected path (spec::build never asks for it: views hold no writable
        // root). A secret inside a view is covered on top of it below, and Landlock's carve
        // around it is made again on the view's inodes (`Fence::grant_view`).
        if spec.protected.iter().any(|p| p.path.starts_with(v)) {
            continue;
        }
        let Some(lower) = v.to_str() else { continue };
        let data = format!("lowerdir={lower}:{}", empty.display());
        match sys::mount(
            "cordon-sockets",
            v,
            "overlay",
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
            &data,
        ) {
            Ok(()) => done.push(v.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => errln!(
                "cordon: note: {}: no socket-proof view ({e}); its unix sockets are covered one by one, \
                 and one created there during the run is reachable",
                v.display()
            ),
        }
    }
    if done.is_empty() {
        let _ = std::fs::remove_dir(empty);
    }
    done
}

/// Each pinned file gets a read-only copy of exactly its approved bytes mounted over its path
/// (`$0` and relative paths keep working). The copies are written in a directory of the
/// sandbox's private /tmp, mounted, and that directory removed before the command starts.
fn pin_files(pins: &[crate::spec::Pinned]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if pins.is_empty() {
        return Ok(());
    }
    let stage = Path::new("/tmp/.cordon-pinned");
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(stage)
        .map_err(|e| io::Error::new(e.kind(), format!("pin: {}: {e}", stage.display())))?;
    for (i, p) in pins.iter().enumerate() {
        let copy = stage.join(i.to_string());
        let named =
            |e: io::Error| io::Error::new(e.kind(), format!("pin {}: {e}", p.path.display()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(p.mode & 0o777)
            .open(&copy)
            .map_err(named)?;
        f.write_all(&p.bytes).map_err(named)?;
        drop(f);
        let fd = open_tree_clone(&copy, false).map_err(named)?;
        mount_setattr(
            Some(&fd),
            &copy,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
            false,
        )
        .map_err(named)?;
        attach(&fd, &p.path, false).map_err(named)?;
    }
    // The mounts hold the copies; their names go.
    std::fs::remove_dir_all(stage)
}

/// The run's CA files in a directory of the sandbox's private /tmp (fresh: nothing else has
/// written there), then that directory mounted read-only over itself: the command can read
/// them, not change, remove or rename them (a mount point cannot be renamed). They go with the
/// sandbox's mount namespace.
///
/// A writable root at or above that directory (`--writable /tmp`) is the host's /tmp mounted
/// over the private one: the files would land there, outside the sandbox, and outlive the run.
/// Refused, before anything is written.
fn trust_files(t: &crate::spec::Trust, writable: &[PathBuf]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = Path::new(crate::spec::TRUST_DIR);
    if let Some(w) = writable.iter().find(|w| dir.starts_with(w)) {
        return Err(io::Error::other(format!(
            "they go in the sandbox's private /tmp ({}), which the writable root {} replaces with the host's; \
             with [[network.credentials]] configured, do not make /tmp itself writable (a workspace below it is fine)",
            dir.display(),
            w.display()
        )));
    }
    std::fs::DirBuilder::new().mode(0o755).create(dir)?;
    for (path, bytes) in [(&t.bundle, &t.bundle_pem), (&t.ca, &t.ca_pem)] {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        f.write_all(bytes)?;
    }
    let fd = open_tree_clone(dir, false)?;
    mount_setattr(
        Some(&fd),
        dir,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
        false,
    )?;
    attach(&fd, dir, true)
}

/// A minimal /dev: null, zero, full, random, urandom, tty (bind mounts of the host's nodes: a
/// user namespace cannot mknod), a private devpts, /dev/shm, and the usual symlinks.
fn build_dev(dev: &Path, nodes: Vec<(&'static str, OwnedFd)>) -> io::Result<()> {
    sys::mount(
        "tmpfs",
        dev,
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NOEXEC,
        "mode=755,size=64k",
    )?;
    for (n, fd) in nodes {
        let target = dev.join(n);
        std::fs::File::create(&target)?;
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
