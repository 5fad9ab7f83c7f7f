//! The caches inside the sandbox, set up by its init process (user + mount namespaces).
//!
//! Each overlay is built with the new mount API (`fsopen("overlay")`, `fsconfig`, `fsmount`).
//! Its layers are looked up while the tree is still as the host's, because overlayfs refuses
//! an upper directory on a read-only mount; it takes a private clone of the upper's mount, so
//! the recursive read-only remount that follows does not reach it.
//!
//! When it can ([`late`]), init only configures the overlays before the view is built (the
//! upper and work directories found below a detached, writable clone of the caches directory),
//! and creates them once it has forked the command's process ([`finish_late`]): their
//! superblock, the costly part (overlayfs makes and tests its work directory), is then made
//! while the command's process gets ready (its limits, capabilities, seccomp filter), which
//! waits for them before it applies Landlock. Their caches are then attached last, on the
//! finished view: [`late`] holds only when nothing mounted after the caches (a secret, a
//! protected path, ...) lies in or above one. Otherwise, and on kernels before 6.15, the
//! overlays are made before the view and attached after the writable roots, before the
//! secrets, so that a secret inside a cache directory is covered on top of the overlay.
//!
//! Options, as this kernel allows them in a user namespace: `userxattr` (overlayfs keeps its
//! whiteouts' and opaque directories' marks in `user.overlay.*` xattrs of the upper layer; the
//! `trusted.*` ones need a capability in the initial namespace), which forces
//! `redirect_dir=nofollow` and `metacopy=off` (both refused together with `userxattr`):
//! renaming a directory that exists in the lower layer fails with EXDEV, and tools fall back to
//! copying (`mv` does). `index=off`: copying up a file breaks its hard links to other names
//! (they keep showing the lower file). Deleting a lower file leaves a whiteout (a 0/0 character
//! device) in the upper layer; the lower file stays.
//!
//! `volatile` (Linux 5.10): overlayfs skips every sync of the upper file system, fsync(2) inside
//! and above all the syncfs(2) of the *whole* upper file system that the unmount does otherwise
//! (a flush of every dirty page of the home's file system, other programs' included: several ms
//! on a quiet machine, far more on a busy one). The price: after a crash, writes of the last
//! seconds before it may be missing from the upper layer (a cache; the tools verify what they
//! read from it, and `cordon cache clean` empties it). overlayfs leaves a mark of a volatile
//! mount in `work/work/incompat/volatile` and refuses the next mount while it is there: init
//! moves `work/work` to the trash after its unmounts (`store::retire_work`, by handle), and
//! empties the trash once it has let the next run in ([`teardown`]); the supervisor moves what
//! a killed init left.
//!
//! Each overlay stays a detached mount, its caches taken from it as detached clones (Linux
//! 6.15+); before 6.15 all overlays are mounted in one staging tmpfs, their caches taken from
//! there, and the staging tmpfs unmounted once (each unmount waits for an RCU grace period).
//!
//! The overlays are taken down by init after it has reported the exit ([`teardown`]), off the
//! supervisor's path, all at once: init builds the view in a copy of its mount namespace and
//! goes back to the one it kept, which takes the view's tree down in one unmount. init holds the
//! workspace's mounts lock (`store::MOUNTS_LOCK`) until then, and the next run of the workspace
//! waits for it before it touches the work directories or mounts: an upper layer is never in two
//! mounts at once.
//!
//! The private directories are bind mounts of the host's directories, attached after the
//! secrets inside a tmpfs laid over cordon's state directory (which is itself a secret): the
//! sandbox sees an empty, read-only state directory with only the way to its private
//! directories in it.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{Caches, Overlay};
use crate::sys::{self, *};

const FSOPEN_CLOEXEC: u32 = 1;
const FSCONFIG_SET_FLAG: u32 = 0;
const FSCONFIG_SET_STRING: u32 = 1;
const FSCONFIG_CMD_CREATE: u32 = 6;
const FSMOUNT_CLOEXEC: u32 = 1;

/// The attached caches' mount descriptors, until the Landlock step after the mounts takes them
/// ([`grant`]): rules on the very mounts made here, not on whatever their paths lead to.
static GRANTS: Mutex<Vec<OwnedFd>> = Mutex::new(Vec::new());

/// The overlays' detached root mounts, held by init until [`teardown`]: closing the last
/// descriptor of a detached mount unmounts it, and every unmount waits for an RCU grace period
/// (about 20 µs here, and an interrupt on every CPU); [`teardown`] attaches them to the sandbox's
/// tree instead, which goes down in one unmount.
static ROOTS: Mutex<Vec<OwnedFd>> = Mutex::new(Vec::new());

/// The mount namespace init was cloned into, kept as it was (a private copy of the host's
/// tree) when init moved into a copy of it to build the sandbox's view ([`prepare`], for a run
/// that holds the workspace's layers): [`teardown`] goes back to it, which takes the view's
/// whole mount tree down in one go.
static SPARE: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// What init clears after its unmounts ([`teardown`]): the workspace's caches directory and the
/// overlays whose work directories it moves to the trash. Only when this run holds the
/// workspace's locks (never in a throwaway run, whose layers are a tmpfs of this namespace).
struct Retire {
    /// Opened by the supervisor, in the host's mount namespace: inside, the state directory is
    /// hidden and every mount of the home directory is read-only, so a descriptor opened by init
    /// itself could not rename anything (EROFS).
    caches: OwnedFd,
    overlays: Vec<Overlay>,
}

static RETIRE: Mutex<Option<Retire>> = Mutex::new(None);

/// init, before it closes what it inherited: keeps the supervisor's descriptor of the
/// workspace's caches directory (`caches_dir`, from `Session::dir_fd`) for [`teardown`].
pub fn keep_for_teardown(caches_dir: Option<RawFd>, c: &Caches) {
    let Some(fd) = caches_dir else { return };
    if c.throwaway || c.overlays.is_empty() {
        return;
    }
    // SAFETY: init's own copy of the descriptor, inherited at the clone; nothing else in init
    // owns it (the supervisor's copy is its own).
    let caches = unsafe { OwnedFd::from_raw_fd(fd) };
    *RETIRE.lock().unwrap_or_else(|e| e.into_inner()) = Some(Retire {
        caches,
        overlays: c.overlays.clone(),
    });
}

/// Made before anything is read-only; attached by [`attach_overlays`] and [`hide_state`]
/// (`private`: the one `caches/private` directory).
#[derive(Default)]
pub struct Prepared {
    overlays: Vec<(PathBuf, OwnedFd)>,
    /// The overlays' detached root mounts (see [`ROOTS`]).
    roots: Vec<OwnedFd>,
    private: Vec<(PathBuf, OwnedFd)>,
    /// The state directory's other entries (name, is a directory), listed before it is covered.
    state_entries: Vec<(std::ffi::OsString, bool)>,
    /// Overlays configured here and created by [`finish_late`] (see [`late`]).
    pending: Vec<Pending>,
}

/// An overlay whose file system context is configured (its layers looked up) while the tree is
/// still as the host's, and created once the command's process is forked ([`finish_late`]).
pub struct Pending {
    overlay: Overlay,
    fs: OwnedFd,
}

/// The overlays left for [`finish_late`], taken from [`Prepared`] by [`take_late`].
#[derive(Default)]
pub struct Late(Vec<Pending>);

impl Late {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What [`finish_late`] will do, handed out of the view's build.
pub fn take_late(p: &mut Prepared) -> Late {
    Late(std::mem::take(&mut p.pending))
}

/// Whether this run's overlays are made after the command's process is forked, while it gets
/// ready (its limits, descriptors, capabilities, seccomp filter): their superblock (overlayfs
/// makes and tests its work directory: most of their cost) then costs the run's start little.
/// The command waits for them before it restricts itself with Landlock (their rules are added
/// to its ruleset by init, `finish_late`) and executes.
///
/// Only when nothing the view mounts after the caches lies in or above a cache (a secret, a
/// protected or pinned path, a git directory pinned on itself, a socket's cover, cordon's state
/// directory): attached last, the
/// caches would cover it. Such a run, and a kernel that cannot clone from a detached mount
/// (before 6.15: the overlays are staged in a tmpfs of the caches directory, which is hidden by
/// then), builds them before the view, in order.
pub fn late(spec: &crate::spec::SandboxSpec) -> bool {
    let after = spec
        .secrets
        .iter()
        .chain(spec.protected.iter().map(|p| &p.path))
        .chain(spec.pinned_dirs.iter())
        .chain(spec.pinned_elsewhere.iter())
        .chain(spec.pinned.iter().map(|p| &p.path))
        .chain(spec.hidden_sockets.iter())
        .map(PathBuf::as_path);
    late_for(&spec.caches, after) && sys::kernel_at_least(6, 15)
}

/// [`late`], but for the kernel: whether no path of `after` (mounted after the caches in the
/// view), nor cordon's state directory, lies in or above a cache of `c`.
pub(super) fn late_for<'a>(c: &'a Caches, after: impl Iterator<Item = &'a Path>) -> bool {
    if c.overlays.is_empty() || c.dir.is_none() {
        return false;
    }
    let caches: Vec<&Path> = c
        .overlays
        .iter()
        .flat_map(|o| o.caches.iter().map(|x| x.path.as_path()))
        .collect();
    let mut after = after.chain(c.state_dir.as_deref());
    !after.any(|p| caches.iter().any(|c| p.starts_with(c) || c.starts_with(p)))
}

/// Escapes `\`, `:` and `,` in an overlayfs layer path (`:` separates lower layers).
fn escape(p: &Path) -> io::Result<CString> {
    let mut out = Vec::new();
    for &b in p.as_os_str().as_encoded_bytes() {
        if matches!(b, b'\\' | b':' | b',') {
            out.push(b'\\');
        }
        out.push(b);
    }
    CString::new(out).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// What the kernel logged on a file system context (fsconfig errors say why there).
fn fs_log(fd: &OwnedFd) -> String {
    let mut msgs = Vec::new();
    let mut buf = [0u8; 512];
    for _ in 0..8 {
        // SAFETY: read into a local buffer from a descriptor we hold.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        let s = String::from_utf8_lossy(&buf[..n as usize]);
        msgs.push(s.trim_start_matches("e ").trim().to_string());
    }
    msgs.join("; ")
}

fn fsconfig(fs: &OwnedFd, cmd: u32, key: Option<&str>, value: Option<&CString>) -> io::Result<()> {
    let k = key.map(|k| CString::new(k).expect("static key"));
    // SAFETY: fsconfig with NUL-terminated strings (or NULL) on a context we hold.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            cmd,
            k.as_ref().map_or(std::ptr::null(), |k| k.as_ptr()),
            value.map_or(std::ptr::null(), |v| v.as_ptr()),
            0,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        let log = fs_log(fs);
        let what = key.unwrap_or("create");
        return Err(io::Error::new(
            e.kind(),
            if log.is_empty() {
                format!("{what}: {e}")
            } else {
                format!("{what}: {e}: {log}")
            },
        ));
    }
    Ok(())
}

/// An overlay's file system context, configured: its layers are looked up now. `layers`: the
/// upper and work directories are found below this detached clone of the caches directory
/// (through its descriptor's /proc link) rather than by their paths, which lead to a read-only
/// mount once the view is built ([`late`]).
fn configure(o: &Overlay, layers: Option<(&OwnedFd, &Path)>) -> io::Result<OwnedFd> {
    // SAFETY: fsopen with a NUL-terminated name.
    let fd = unsafe { libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), FSOPEN_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor, owned from here.
    let fs = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let s = |k: &str, v: &str| {
        fsconfig(
            &fs,
            FSCONFIG_SET_STRING,
            Some(k),
            Some(&CString::new(v).expect("static value")),
        )
    };
    let layer = |p: &Path| -> io::Result<CString> {
        match layers {
            None => escape(p),
            Some((fd, dir)) => {
                let rel = p.strip_prefix(dir).map_err(|_| {
                    io::Error::other(format!("{} is not in {}", p.display(), dir.display()))
                })?;
                escape(&Path::new(&format!("/proc/self/fd/{}", fd.as_raw_fd())).join(rel))
            }
        }
    };
    fsconfig(
        &fs,
        FSCONFIG_SET_STRING,
        Some("lowerdir"),
        Some(&escape(&o.lower)?),
    )?;
    fsconfig(
        &fs,
        FSCONFIG_SET_STRING,
        Some("upperdir"),
        Some(&layer(&o.upper)?),
    )?;
    fsconfig(
        &fs,
        FSCONFIG_SET_STRING,
        Some("workdir"),
        Some(&layer(&o.work)?),
    )?;
    fsconfig(&fs, FSCONFIG_SET_FLAG, Some("userxattr"), None)?;
    s("redirect_dir", "nofollow")?;
    s("metacopy", "off")?;
    s("index", "off")?;
    // Before 5.10 the option is unknown (EINVAL): the overlay is then synced at its unmount,
    // as it was before.
    let _ = fsconfig(&fs, FSCONFIG_SET_FLAG, Some("volatile"), None);
    Ok(fs)
}

/// The overlay of a configured context, as a detached mount (nosuid, nodev).
fn create(fs: &OwnedFd) -> io::Result<OwnedFd> {
    fsconfig(fs, FSCONFIG_CMD_CREATE, None, None)?;
    // SAFETY: fsmount of a created context.
    let m = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV) as libc::c_uint,
        )
    };
    if m < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor, owned from here.
    Ok(unsafe { OwnedFd::from_raw_fd(m as RawFd) })
}

/// Says on stderr that the overlay of `o` could not be made: its caches stay read-only.
fn left_out(o: &Overlay, e: &io::Error) {
    errln!(
        "cordon: caches in {}: cannot overlay it ({e}); they stay read-only in this run",
        o.lower.display()
    );
}

/// A detached overlay mount of `o` (nosuid, nodev).
fn overlay(o: &Overlay) -> io::Result<OwnedFd> {
    create(&configure(o, None)?)
}

/// init, before the tree is made read-only: clones of the private directories, the throwaway
/// layer when another sandbox holds the workspace's upper layers, the overlays. An overlay that
/// cannot be built is said on stderr and left out (the host's cache then stays read-only).
/// `late` ([`late`]): the overlays are only configured here, and created by [`finish_late`].
pub fn prepare(c: &Caches, late: bool) -> io::Result<Prepared> {
    let mut p = Prepared::default();
    if let Some(root) = c.private_root() {
        let fd = open_tree_clone(&root, false)?;
        mount_setattr(
            Some(&fd),
            &root,
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
            false,
        )?;
        p.private.push((root, fd));
        if let Some(state) = &c.state_dir {
            if let Ok(rd) = std::fs::read_dir(state) {
                for e in rd.flatten() {
                    if e.file_name() != "workspaces" {
                        let dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
                        p.state_entries.push((e.file_name(), dir));
                    }
                }
            }
        }
    }
    if c.overlays.is_empty() {
        return Ok(p);
    }
    let Some(dir) = &c.dir else {
        return Ok(p);
    };
    if !c.throwaway {
        // A run that holds the workspace's layers: its init must know when their overlays are
        // gone (see `teardown`). init now builds the view in a copy of its namespace and keeps
        // the one it leaves, still as the host's tree (private: nothing propagates), to return
        // to after the run. About 30 µs (the copy of the host's mounts).
        match sys::spare_mount_namespace() {
            Ok(fd) => *SPARE.lock().unwrap_or_else(|e| e.into_inner()) = Some(fd),
            Err(e) => {
                errln!("cordon: caches: {e}; tool caches stay read-only in this run");
                return Ok(p);
            }
        }
    }
    if c.throwaway {
        // This namespace's own view of the caches directory: an empty tmpfs, gone with the
        // sandbox. The host's directory (and the other sandbox's layers) are untouched.
        sys::mount(
            "tmpfs",
            dir,
            "tmpfs",
            libc::MS_NOSUID | libc::MS_NODEV,
            "mode=0700",
        )?;
        for o in &c.overlays {
            std::fs::create_dir_all(&o.upper)?;
            std::fs::create_dir_all(&o.work)?;
        }
        std::fs::create_dir_all(dir.join(super::store::STAGE))?;
    }
    if late {
        // A writable detached clone of the caches directory (the recursive read-only remount
        // of the tree does not reach it), held until the teardown; the overlays' upper and work
        // directories are looked up below it.
        let layers = match open_tree_clone(dir, false) {
            Ok(fd) => fd,
            Err(e) => {
                errln!("cordon: caches: {e}; tool caches stay read-only in this run");
                return Ok(p);
            }
        };
        for o in &c.overlays {
            match configure(o, Some((&layers, dir))) {
                Ok(fs) => p.pending.push(Pending {
                    overlay: o.clone(),
                    fs,
                }),
                Err(e) => left_out(o, &e),
            }
        }
        p.roots.push(layers);
        crate::timing("init: overlays configured");
        return Ok(p);
    }
    // Each overlay is a detached mount; its caches are taken from it as detached clones (Linux
    // 6.15 clones from detached mounts) and it is held until the teardown. Before 6.15, every
    // overlay is mounted in one staging tmpfs (this namespace only), its caches taken from
    // there, and the staging tmpfs unmounted once: each unmount waits for an RCU grace period
    // (synchronize_rcu_expedited, milliseconds on a busy machine), one instead of one per
    // overlay.
    let stage = dir.join(super::store::STAGE);
    let mut staged = false;
    for (i, o) in c.overlays.iter().enumerate() {
        let r = if staged {
            overlay(o).and_then(|root| take_staged(o, root, &stage.join(i.to_string()), &mut p))
        } else {
            match take_detached(o, &mut p) {
                Ok(None) => Ok(()),
                Ok(Some(root)) => {
                    // This kernel cannot clone from a detached mount.
                    if let Err(e) = sys::mount(
                        "cordon-caches",
                        &stage,
                        "tmpfs",
                        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                        "mode=0700,size=64k",
                    ) {
                        errln!(
                            "cordon: caches: cannot mount a tmpfs on {} ({e}); tool caches stay read-only in this run",
                            stage.display()
                        );
                        return Ok(p);
                    }
                    staged = true;
                    take_staged(o, root, &stage.join(i.to_string()), &mut p)
                }
                Err(e) => Err(e),
            }
        };
        if let Err(e) = r {
            left_out(o, &e);
        }
    }
    crate::timing("init: overlays staged");

    if staged {
        let cpath = sys::cstr(&stage)?;
        // SAFETY: umount2 of the mount made above, by path (NUL-terminated), in this namespace.
        unsafe { libc::umount2(cpath.as_ptr(), libc::MNT_DETACH) };
    }
    Ok(p)
}

/// A detached clone of the directory `rel` of the detached mount `root` (open_tree(2) relative
/// to it: Linux 6.15 and later).
fn clone_at(root: &OwnedFd, rel: &Path) -> io::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let c = sys::cstr(rel)?;
    // SAFETY: open_tree relative to a mount descriptor we hold, with a NUL-terminated path.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            root.as_raw_fd(),
            c.as_ptr(),
            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor, owned from here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Builds the overlay of `o` as a detached mount and takes a detached clone of each cache's
/// subdirectory of it: only the caches are ever attached where the command can see them; the
/// overlay's root is held by init (out of the sandbox's reach) until the teardown.
/// `Ok(Some(root))`, with nothing taken, when this kernel cannot clone from a detached mount:
/// the overlay is then staged (mounting it again would find its work directory marked).
fn take_detached(o: &Overlay, p: &mut Prepared) -> io::Result<Option<OwnedFd>> {
    take_from(o, overlay(o)?, &mut p.overlays, &mut p.roots)
}

/// The caches of `o` taken from its detached overlay `root` into `overlays`, and `root` kept
/// in `roots`; `Ok(Some(root))` when this kernel cannot clone from a detached mount.
fn take_from(
    o: &Overlay,
    root: OwnedFd,
    overlays: &mut Vec<(PathBuf, OwnedFd)>,
    roots: &mut Vec<OwnedFd>,
) -> io::Result<Option<OwnedFd>> {
    let mut taken = Vec::new();
    for c in &o.caches {
        let rel = c.path.strip_prefix(&o.lower).unwrap_or(Path::new(""));
        match clone_at(&root, rel) {
            Ok(cfd) => taken.push((c.path.clone(), cfd)),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && taken.is_empty() => {
                return Ok(Some(root))
            }
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", c.name))),
        }
    }
    overlays.extend(taken);
    roots.push(root);
    Ok(None)
}

/// Mounts the overlay `fd` of `o` at `at` (in the staging tmpfs), and takes a detached clone of
/// each cache's subdirectory of it.
fn take_staged(o: &Overlay, fd: OwnedFd, at: &Path, p: &mut Prepared) -> io::Result<()> {
    std::fs::create_dir(at)?;
    move_mount(&fd, at)?;
    drop(fd);
    for c in &o.caches {
        let rel = c.path.strip_prefix(&o.lower).unwrap_or(Path::new(""));
        let cfd = open_tree_clone(&at.join(rel), false)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", c.name)))?;
        p.overlays.push((c.path.clone(), cfd));
    }
    Ok(())
}

fn attach(fd: &OwnedFd, target: &Path) -> io::Result<()> {
    match move_mount(fd, target) {
        // Under the sandbox's own /tmp: make the mount point there.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(target)?;
            move_mount(fd, target)
        }
        r => r,
    }
}

/// init, after the writable roots, before the secrets: the overlays over the host's caches.
pub fn attach_overlays(p: &mut Prepared) {
    ROOTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .append(&mut p.roots);
    let mut grants = GRANTS.lock().unwrap_or_else(|e| e.into_inner());
    for (path, fd) in p.overlays.drain(..) {
        match attach(&fd, &path) {
            Ok(()) => {
                // The descriptor still refers to the mount, now attached.
                grants.push(fd);
            }
            Err(e) => errln!(
                "cordon: cache: cannot mount the overlay on {} ({e}); it stays read-only in this run",
                path.display()
            ),
        }
    }
}

/// init, once the command's process is forked and before it may go on: creates the overlays
/// [`prepare`] configured, attaches their caches at their paths (on top of the finished view:
/// [`late`] made sure nothing mounted after the caches lies there) and adds their Landlock
/// rules to the command's ruleset (`fence`: the same ruleset as the command's copy, which it
/// has not applied yet). An overlay that cannot be made is said on stderr and left out, as in
/// [`prepare`]: its caches stay read-only.
pub fn finish_late(late: Late, fence: Option<&mut crate::fence::Fence>) {
    if late.is_empty() {
        return;
    }
    let mut clones = Vec::new();
    let mut roots = Vec::new();
    for pd in late.0 {
        let o = &pd.overlay;
        let r = create(&pd.fs).and_then(|root| match take_from(o, root, &mut clones, &mut roots) {
            Ok(None) => Ok(()),
            // `late` checked the kernel: not reached.
            Ok(Some(_)) => Err(io::Error::other(
                "this kernel cannot clone from a detached mount",
            )),
            Err(e) => Err(e),
        });
        if let Err(e) = r {
            left_out(o, &e);
        }
    }
    crate::timing("init: overlays made");
    let mut p = Prepared {
        overlays: clones,
        roots,
        ..Prepared::default()
    };
    attach_overlays(&mut p);
    crate::timing("init: overlays attached");
    if let Some(f) = fence {
        for fd in GRANTS.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            if let Err(e) = f.grant_all_fd(fd) {
                // Without its rule the cache stays read-only for the command: closed, not open.
                errln!("cordon: caches: {e}; they stay read-only in this run");
            }
        }
    }
}

/// Whether [`hide_state`] will cover `dir` (cordon's state directory, itself a secret): the
/// secrets' own cover of it would only be mounted over again.
pub fn hides(c: &Caches, p: &Prepared, dir: &Path) -> bool {
    c.state_dir.as_deref() == Some(dir) && p.private.iter().any(|(d, _)| d.starts_with(dir))
}

/// init, after the secrets: cordon's state directory becomes an empty read-only tmpfs holding
/// only the way to this workspace's private directories, which are attached there.
pub fn hide_state(c: &Caches, p: &mut Prepared) -> io::Result<()> {
    if p.private.is_empty() {
        return Ok(());
    }
    let state = c.state_dir.as_deref();
    let mut covered = false;
    for (dir, fd) in p.private.drain(..) {
        if let Some(s) = state.filter(|s| dir.starts_with(s)) {
            if !covered {
                if !s.exists() {
                    std::fs::create_dir_all(s)?;
                }
                // Traversable, not listable (mode 0111), by its owner too.
                sys::mount(
                    "cordon-state",
                    s,
                    "tmpfs",
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    "mode=0111,size=64k",
                )?;
                covered = true;
                // What else is in it (the audit log, ...) stays where it was, covered as a
                // secret is: an inaccessible (mode 000) empty directory or file.
                for (name, is_dir) in &p.state_entries {
                    let e = s.join(name);
                    if *is_dir {
                        std::fs::DirBuilder::new().mode(0o000).create(&e)?;
                    } else {
                        std::fs::OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .mode(0o000)
                            .open(&e)?;
                    }
                }
            }
            // The way down to it, from the top (the tmpfs is new: no directory exists yet, the
            // first may exist from an earlier private directory).
            let mut at = s.to_path_buf();
            for part in dir.strip_prefix(s).unwrap_or(Path::new("")).components() {
                at.push(part);
                match std::fs::DirBuilder::new().mode(0o111).create(&at) {
                    Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                    _ => {}
                }
            }
            move_mount(&fd, &dir)?;
        } else {
            attach(&fd, &dir)?;
        }
    }
    if let (Some(s), true) = (state, covered) {
        mount_setattr(
            None,
            s,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
            false,
        )?;
    }
    Ok(())
}

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

/// Landlock rules for what was mounted (new inodes: only possible now, inside): every right on
/// each overlay and private directory.
pub fn grant(f: &mut crate::fence::Fence, c: &Caches) -> io::Result<()> {
    // Through the descriptors taken from the overlays themselves (open_tree of a directory of
    // the overlay: its root is that overlay's inode), never by path: a rule on the path would
    // land on the host's cache if the mount were not where it should be.
    for fd in GRANTS.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        f.grant_all_fd(fd)?;
    }
    if let Some(root) = c.private_root() {
        f.grant_all(&root)?;
    }
    Ok(())
}

/// init, once every other process of the sandbox is gone and it has reported the exit: takes
/// the overlays down, which destroys their superblocks (nothing holds a file of them any more;
/// with `volatile`, without a sync), while it still holds the workspace's mounts lock
/// (`mounts_lock`).
///
/// Not one unmount per mount: each waits for an expedited RCU grace period (about 20 µs, and an
/// interrupt on every CPU, the supervisor's too), 28 of them with 9 overlays. Instead the
/// overlays' roots are attached to the sandbox's tree (cheap: no grace period), and init moves
/// back into the spare namespace it kept ([`prepare`]). No process is left in the sandbox's
/// namespace, so the kernel takes its whole tree down in that `setns`: one unmount, one grace
/// period, and every superblock only that tree held is gone before `setns` returns
/// (`sys::enter_mount_namespace`). If it fails (it has no reason to), init goes on: its exit
/// takes the tree down a moment after the lock has gone, which is what a killed init leaves
/// too, and is harmless: no file of the overlays is open any more.
///
/// Then, still holding the lock, it moves each overlay's `work/work` (with the mark of a
/// volatile mount, which the next mount would refuse) to the trash: a rename, so the next run
/// of the workspace, which waits for the lock, finds its work directories clear without doing
/// anything. It lets go of the lock and, once the run has returned in the supervisor (`tail`),
/// empties the trash at idle priority (removing a directory frees its block, which may wait for
/// the disk: a discard), off every run's path.
///
/// A throwaway run (no spare, no lock) only attaches the roots: init's exit takes the tree down.
pub fn teardown(mounts_lock: Option<RawFd>, tail: &OwnedFd) {
    for root in ROOTS.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        // Stacked on the sandbox's /dev, which no process will look at again. If this fails,
        // the descriptor's close below unmounts the root on its own (a grace period of its own).
        let _ = sys::move_mount(&root, Path::new("/dev"));
    }
    if let Some(spare) = SPARE.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = sys::enter_mount_namespace(&spare);
    }
    let retire = RETIRE.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(r) = &retire {
        for o in &r.overlays {
            // A failure leaves the directory where it is: the next run moves it (retire_work).
            let _ = super::store::retire_work(&r.caches, o);
        }
    }
    if let Some(fd) = mounts_lock {
        // SAFETY: init's own descriptor of the lock's open file (the supervisor closed its
        // copy after the clone, the command's was close-on-exec): closing it lets the lock go.
        unsafe { libc::close(fd) };
    }
    if let Some(r) = retire {
        // Not before the run has returned (EOF on the tail pipe; 10 s at most: a supervisor
        // that hangs must not keep this process forever): removing directories waits for the
        // disk, and the run's own end (its placeholders removed, its check) would wait behind.
        let mut pfd = [libc::pollfd {
            fd: tail.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let _ = sys::process::poll(&mut pfd, 10_000);
        super::store::idle_priority();
        super::store::empty_trash(&r.caches, None);
    }
}

/// The descriptors init must keep open until [`teardown`] (it closes every other one).
pub fn held_fds() -> Vec<RawFd> {
    let mut fds: Vec<RawFd> = ROOTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|f| f.as_raw_fd())
        .collect();
    if let Some(r) = RETIRE.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        fds.push(r.caches.as_raw_fd());
    }
    if let Some(spare) = SPARE.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        fds.push(spare.as_raw_fd());
    }
    fds
}
