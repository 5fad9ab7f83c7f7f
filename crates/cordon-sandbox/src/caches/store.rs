//! The per-workspace cache directories on the host: creating them before a run, the lock that
//! keeps two live sandboxes of one workspace from sharing an upper layer, and measuring and
//! removing them for `cordon cache list` / `cordon cache clean`.
//!
//! What a sandbox wrote is in these trees (upper layers, private directories): links, devices
//! (overlayfs whiteouts are 0/0 character devices), read-only directories (Go's module cache is
//! 0555, overlayfs' `work/work` is 000). They are walked through directory handles: every entry
//! is opened relative to its parent's descriptor with `O_NOFOLLOW`, so no link a sandbox planted
//! is ever followed, and nothing is resolved by path twice.

use std::collections::HashSet;
use std::ffi::{CStr, CString, OsStr};
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{Overlay, Private};

/// The lock file in a workspace's caches directory: held by the supervisor of the sandbox that
/// uses the workspace's layers, for its whole run.
pub const LOCK: &str = ".lock";
/// The second lock: held while the overlays of the workspace's layers exist. Taken by the
/// supervisor (after [`LOCK`]) before it touches the work directories, inherited by the
/// sandbox's init at the clone (the supervisor then closes its copy), and released when init,
/// after its report, has unmounted the overlays (their superblocks, which hold the upper and
/// work directories, are then gone) and moved their work directories to the trash (or when it
/// exits). The next run of the workspace waits for it.
pub const MOUNTS_LOCK: &str = ".mounts.lock";
/// The file naming the workspace a caches directory belongs to (for `cordon cache list`).
pub const WORKSPACE_FILE: &str = ".workspace";

pub(super) fn mkdirs(p: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(p)
        .map_err(|e| io::Error::new(e.kind(), format!("create {}: {e}", p.display())))
}

/// `<state>/workspaces/<id>/caches`, and the file naming its workspace.
pub fn create_caches_dir(dir: &Path, workspace: &Path) -> io::Result<()> {
    mkdirs(&dir.join(STAGE))?;
    let f = dir.join(WORKSPACE_FILE);
    if fs::symlink_metadata(&f).is_err() {
        let mut o = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&f)?;
        use std::io::Write;
        o.write_all(workspace.as_os_str().as_bytes())?;
        o.write_all(b"\n")?;
    }
    Ok(())
}

/// Takes the workspace's cache lock without waiting: `Ok(None)` when another run holds it.
pub fn try_lock(dir: &Path) -> io::Result<Option<fs::File>> {
    try_lock_file(dir, LOCK)
}

/// Takes [`MOUNTS_LOCK`], waiting up to `wait` for the init of the workspace's last sandbox to
/// unmount its overlays (milliseconds, after its report): `Ok(None)` if it did not.
pub fn lock_mounts(dir: &Path, wait: std::time::Duration) -> io::Result<Option<fs::File>> {
    let end = std::time::Instant::now() + wait;
    loop {
        if let Some(f) = try_lock_file(dir, MOUNTS_LOCK)? {
            return Ok(Some(f));
        }
        if std::time::Instant::now() >= end {
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
}

/// A fallback run's hold on the workspace's caches, for its whole run: [`LOCK`], shared. `cordon
/// cache clean` takes it exclusively, so it no longer empties the private directories under a
/// running sandbox (fallback runs took no lock). Shared, because fallback runs use no upper
/// layer: several may run at once, as several tools share one cache directory; a run with
/// namespaces meanwhile finds the lock taken and uses throwaway layers. `Ok(None)` when a run
/// with namespaces holds it (the private directories are then shared with it).
pub fn try_lock_shared(dir: &Path) -> io::Result<Option<fs::File>> {
    try_lock_op(dir, LOCK, libc::LOCK_SH)
}

fn try_lock_file(dir: &Path, name: &str) -> io::Result<Option<fs::File>> {
    try_lock_op(dir, name, libc::LOCK_EX)
}

fn try_lock_op(dir: &Path, name: &str, op: libc::c_int) -> io::Result<Option<fs::File>> {
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir.join(name))
        .map_err(|e| io::Error::new(e.kind(), format!("lock {}: {e}", dir.display())))?;
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), op | libc::LOCK_NB) } == 0 {
            return Ok(Some(f));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(None),
            _ => return Err(e),
        }
    }
}

/// The directory of a workspace's caches directory where init mounts its staging tmpfs, in
/// which it mounts the overlays before it takes their caches from them (in the sandbox's own
/// mount namespace; never visible to the command).
pub const STAGE: &str = ".mnt";

/// The upper and work directories, and the host's empty cache directories that
/// are to be created (their tool's directory exists). `caches`: the caches directory, where two
/// `fstatat` say whether the layers' directories are there already (every run after the first).
pub fn create_overlay_dirs(
    caches: &OwnedFd,
    o: &Overlay,
    adopt_in: Option<&Path>,
) -> io::Result<()> {
    let there = |sub: &str| {
        cstring(OsStr::new(&format!("{}/{sub}", o.name)))
            .and_then(|p| lstat_at(caches.as_raw_fd(), &p))
            .is_ok_and(|st| is_dir(&st))
    };
    let new_upper = !there("upper");
    if !o.caches.iter().any(|c| c.create) && !new_upper && there("work") {
        return Ok(());
    }
    mkdirs(&o.upper)?;
    mkdirs(&o.work)?;
    if let (true, Some(home)) = (new_upper, adopt_in) {
        if let Err(e) = adopt_old_layers(caches, o, home) {
            errln!(
                "cordon: cache {}: the layers of an earlier cordon could not be kept ({e}); \
                 this workspace's caches start from the host's",
                o.name
            );
        }
    }
    for c in o.caches.iter().filter(|c| c.create) {
        if fs::symlink_metadata(&c.path).is_err() {
            // Only the missing components below the tool's directory, with the tools' usual mode.
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&c.path)
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("create {}: {e}", c.path.display()))
                })?;
        }
    }
    Ok(())
}

/// Keeps what a workspace's sandboxes wrote with an earlier cordon, which made one overlay per
/// tool directory (`caches/npm-<hash>` for `~/.npm`, `cache-<hash>` for `~/.cache`, ...) where
/// one overlay now serves every cache on the home directory's mount (`group_root`). Called when
/// `o`'s upper layer has just been made (its first run), with the workspace's locks held: each
/// older overlay of a directory between `o`'s root and one of its caches (named as then, by
/// `group_name`) has its upper layer moved into `o`'s, at the same place below the root (an
/// old upper layer holds the same whiteouts and marks, relative to the same lower directory),
/// and the rest of it (its work directory) goes to the trash. By descriptors and plain names
/// only (cordon's own directories; the upper layers are moved whole, never entered).
pub(super) fn adopt_old_layers(caches: &OwnedFd, o: &Overlay, home: &Path) -> io::Result<()> {
    let mut tried: Vec<String> = Vec::new();
    for c in &o.caches {
        for a in c.path.ancestors() {
            if a.as_os_str() == o.lower.as_os_str() || !super::within(a, &o.lower) {
                break;
            }
            let old = super::group_name(a, home);
            if old == o.name || tried.contains(&old) {
                continue;
            }
            tried.push(old.clone());
            let oname = cstring(OsStr::new(&old))?;
            let ofd = match openat(
                caches.as_raw_fd(),
                &oname,
                libc::O_RDONLY | libc::O_DIRECTORY,
            ) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            match lstat_at(ofd.as_raw_fd(), c"upper") {
                Ok(st) if is_dir(&st) => {}
                _ => continue,
            }
            let Ok(rel) = a.strip_prefix(&o.lower) else {
                continue;
            };
            let names: Vec<CString> = rel
                .components()
                .map(|n| cstring(n.as_os_str()))
                .collect::<io::Result<_>>()?;
            let Some((last, parents)) = names.split_last() else {
                continue;
            };
            let upper = cstring(OsStr::new(&format!("{}/upper", o.name)))?;
            let mut dir = openat(
                caches.as_raw_fd(),
                &upper,
                libc::O_RDONLY | libc::O_DIRECTORY,
            )?;
            for n in parents {
                mkdir_or_there(dir.as_raw_fd(), n, 0o755)?;
                dir = openat(dir.as_raw_fd(), n, libc::O_RDONLY | libc::O_DIRECTORY)?;
            }
            // SAFETY: renameat2 between directory descriptors we hold, NUL-terminated names;
            // RENAME_NOREPLACE: a place already taken (by another old layer) keeps what it has.
            let r = unsafe {
                libc::renameat2(
                    ofd.as_raw_fd(),
                    c"upper".as_ptr(),
                    dir.as_raw_fd(),
                    last.as_ptr(),
                    libc::RENAME_NOREPLACE,
                )
            };
            if r != 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::AlreadyExists {
                    continue;
                }
                return Err(e);
            }
            move_to_trash(caches, caches.as_raw_fd(), &oname, &old)?;
        }
    }
    Ok(())
}

/// A private directory's own setup, in `caches/private` (opened as `root`): for CARGO_HOME, links
/// to the real cargo home's config files (so that registries, mirrors and build settings still
/// apply).
///
/// Everything below `caches/private` is the sandboxes' (writable in every run of the workspace):
/// the group directory may have been replaced by a link to anywhere (the user's `~/.ssh`,
/// another project), its `config.toml` by a file of the sandbox's own. So this goes through
/// handles, relative to `root`, never following a link: a group directory that is not a
/// directory is removed and made again, and the config names are emptied and linked again each
/// run, so that the cargo of a later run obeys the user's configuration only, never one a
/// sandbox planted (`build.rustc-wrapper`, `[target.*] runner`).
pub fn create_private(root: &OwnedFd, p: &Private) -> io::Result<()> {
    let Some(real) = &p.link_config_from else {
        return Ok(());
    };
    let group = cstring(p.dir.file_name().unwrap_or_default())?;
    let make = |root: &OwnedFd| -> io::Result<OwnedFd> {
        // SAFETY: mkdirat relative to a directory descriptor we hold, NUL-terminated name.
        if unsafe { libc::mkdirat(root.as_raw_fd(), group.as_ptr(), 0o700) } != 0 {
            return Err(io::Error::last_os_error());
        }
        openat(root.as_raw_fd(), &group, libc::O_RDONLY | libc::O_DIRECTORY)
    };
    let gfd = match open_subdir(root.as_raw_fd(), &group, false) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => make(root)?,
        // A link (O_NOFOLLOW: ELOOP) or a file where the directory was: the sandbox's, removed.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
            remove_at(root, &group)?;
            make(root)?
        }
        Err(e) => return Err(e),
    };
    for name in [c"config.toml", c"config"] {
        remove_at(&gfd, name)?;
        let target = real.join(OsStr::from_bytes(name.to_bytes()));
        if target.is_file() {
            let t = cstring(target.as_os_str())?;
            // SAFETY: symlinkat relative to a directory descriptor we hold, NUL-terminated
            // strings; it never follows nor replaces what is at the name.
            if unsafe { libc::symlinkat(t.as_ptr(), gfd.as_raw_fd(), name.as_ptr()) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

// ---- walking through handles ----

fn cstring(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn openat(dir: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: a NUL-terminated name and a directory descriptor we hold.
    let fd = unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            flags | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor, owned from here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens `path` (absolute, a directory) for walking. cordon's own state directory: no
/// component is a link a sandbox could have planted (the sandboxes never write above the
/// upper and private directories), but links are refused anyway.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    const RESOLVE_NO_SYMLINKS: u64 = 0x04;
    let c = cstring(path.as_os_str())?;
    let how = OpenHow {
        flags: (libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_NO_SYMLINKS,
    };
    // SAFETY: openat2 with a valid path and a struct of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display())));
    }
    // SAFETY: a new descriptor, owned from here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The names in the directory `fd` (not `.` and `..`).
pub fn list(fd: &OwnedFd) -> io::Result<Vec<CString>> {
    // fdopendir takes ownership of a descriptor: give it a duplicate.
    // SAFETY: dup of a descriptor we hold; fdopendir/readdir/closedir on the stream it returns.
    unsafe {
        let d = libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0);
        if d < 0 {
            return Err(io::Error::last_os_error());
        }
        let dir = libc::fdopendir(d);
        if dir.is_null() {
            let e = io::Error::last_os_error();
            libc::close(d);
            return Err(e);
        }
        libc::rewinddir(dir);
        let mut out = Vec::new();
        loop {
            let ent = libc::readdir(dir);
            if ent.is_null() {
                break;
            }
            let name = CStr::from_ptr((*ent).d_name.as_ptr());
            let b = name.to_bytes();
            if b != b"." && b != b".." {
                out.push(name.to_owned());
            }
        }
        libc::closedir(dir);
        Ok(out)
    }
}

fn lstat_at(dir: RawFd, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: fstatat into a zeroed struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `name` is NUL-terminated and `st` writable, both alive for the call.
    if unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// Opens the directory `name` under `dir` for reading, making it readable first when its mode
/// forbids it (overlayfs' `work/work` is 000, Go's module cache 0555): the mode is changed on
/// the inode opened by `O_PATH`, through its /proc/self/fd link, so a name swapped in between
/// cannot redirect the change.
fn open_subdir(dir: RawFd, name: &CStr, writable: bool) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY;
    match openat(dir, name, flags) {
        Ok(fd) if !writable => return Ok(fd),
        Err(e) if e.raw_os_error() != Some(libc::EACCES) => return Err(e),
        _ => {}
    }
    let p = openat(dir, name, libc::O_PATH | libc::O_DIRECTORY)?;
    let proc = CString::new(format!("/proc/self/fd/{}", p.as_raw_fd()))
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: chmod on the magic link of a descriptor we hold (the exact inode opened above).
    if unsafe { libc::chmod(proc.as_ptr(), 0o700) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: reopening the same inode through its descriptor's link.
    let fd = unsafe { libc::open(proc.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor, owned from here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fstat_fd(fd: &OwnedFd) -> io::Result<(u64, u64)> {
    // SAFETY: fstat into a zeroed struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a descriptor we hold; `st` is writable and alive for the call.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((st.st_dev, st.st_ino))
}

/// A directory being walked: the identity (device, inode) of its parent, its name there, and
/// its entries not visited yet.
struct Level {
    parent: (u64, u64),
    name: CString,
    todo: Vec<CString>,
}

/// What [`Walk::next`] found.
enum Step {
    /// An entry that is not a directory, in [`Walk::cur`].
    Entry(CString, libc::stat),
    /// Went down into a directory (now [`Walk::cur`]).
    Entered(libc::stat),
    /// Every entry of a directory was visited; the walk went back up to its parent (now
    /// [`Walk::cur`]), where it has this name.
    Left(CString),
}

/// A depth-first walk that holds **one** directory descriptor at a time, however deep the tree:
/// a sandbox can make its cache thousands of levels deep, and a descriptor per level ran out at
/// the limit of open files (a depth limit left such a tree behind for good: `cordon cache clean`
/// failed on it every time). Going down opens the child relative to its parent with
/// `O_NOFOLLOW`; going back up opens `..` and checks that it is the directory the walk came from
/// (device and inode): a directory moved meanwhile stops the walk with an error instead of
/// leading it elsewhere. Another mount is never entered.
struct Walk {
    cur: OwnedFd,
    levels: Vec<Level>,
    dev: u64,
    /// Make unreadable directories readable (for removal: see [`open_subdir`]); else skip them.
    chmod: bool,
}

impl Walk {
    /// The walk of the directory `root` (its entries; `root` itself is not reported).
    fn new(root: OwnedFd, chmod: bool) -> io::Result<Walk> {
        let (dev, _) = fstat_fd(&root)?;
        let todo = list(&root)?;
        Ok(Walk {
            cur: root,
            levels: vec![Level {
                parent: (0, 0),
                name: CString::default(),
                todo,
            }],
            dev,
            chmod,
        })
    }

    /// The next step; `None` when every entry under the root was visited (`cur` is the root).
    fn next(&mut self) -> io::Result<Option<Step>> {
        loop {
            let Some(lvl) = self.levels.last_mut() else {
                return Ok(None);
            };
            let Some(n) = lvl.todo.pop() else {
                if self.levels.len() == 1 {
                    self.levels.clear();
                    return Ok(None);
                }
                let done = self.levels.pop().expect("a level");
                let up = openat(
                    self.cur.as_raw_fd(),
                    c"..",
                    libc::O_RDONLY | libc::O_DIRECTORY,
                )?;
                if fstat_fd(&up)? != done.parent {
                    return Err(io::Error::other(
                        "a directory was moved while cordon walked the tree",
                    ));
                }
                self.cur = up;
                return Ok(Some(Step::Left(done.name)));
            };
            let st = match lstat_at(self.cur.as_raw_fd(), &n) {
                Ok(st) => st,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if !is_dir(&st) {
                return Ok(Some(Step::Entry(n, st)));
            }
            if st.st_dev != self.dev {
                continue; // a mount point: never entered
            }
            let sub = if self.chmod {
                open_subdir(self.cur.as_raw_fd(), &n, true)
            } else {
                openat(self.cur.as_raw_fd(), &n, libc::O_RDONLY | libc::O_DIRECTORY)
            };
            let sub = match sub {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                // Unreadable (when not made readable), or swapped for a link since the lstat:
                // reported as an entry (measured, or unlinked), never entered.
                Err(e)
                    if !self.chmod
                        || matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) =>
                {
                    return Ok(Some(Step::Entry(n, st)));
                }
                Err(e) => return Err(e),
            };
            let parent = fstat_fd(&self.cur)?;
            let todo = list(&sub)?;
            self.levels.push(Level {
                parent,
                name: n,
                todo,
            });
            self.cur = sub;
            return Ok(Some(Step::Entered(st)));
        }
    }
}

/// Disk usage (bytes) of the tree at `fd`, counting each hard-linked inode once. What a walk
/// cannot reach (an unreadable directory, a tree changed meanwhile) is left out.
pub fn du(fd: &OwnedFd) -> u64 {
    let Ok(mut w) = fd.try_clone().and_then(|root| Walk::new(root, false)) else {
        return 0;
    };
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut total = 0;
    while let Ok(Some(step)) = w.next() {
        let st = match step {
            Step::Entry(_, st) | Step::Entered(st) => st,
            Step::Left(_) => continue,
        };
        if st.st_nlink > 1 && !is_dir(&st) && !seen.insert((st.st_dev, st.st_ino)) {
            continue;
        }
        total += st.st_blocks as u64 * 512;
    }
    total
}

/// Removes the entry `name` under the directory `dir`, recursively, through handles (a
/// [`Walk`]: however deep the tree, never following a link, never into another mount). What is
/// already gone counts as removed: the trash's cleaner may be removing the same tree.
pub fn remove_at(dir: &OwnedFd, name: &CStr) -> io::Result<()> {
    fn unlink(dir: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<()> {
        // SAFETY: unlinkat relative to a directory descriptor we hold, NUL-terminated name.
        if unsafe { libc::unlinkat(dir, name.as_ptr(), flags) } != 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::NotFound {
                return Err(e);
            }
        }
        Ok(())
    }
    let st = match lstat_at(dir.as_raw_fd(), name) {
        Ok(st) => st,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !is_dir(&st) {
        return unlink(dir.as_raw_fd(), name, 0);
    }
    let root = match open_subdir(dir.as_raw_fd(), name, true) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if fstat_fd(&root)?.0 != fstat_fd(dir)?.0 {
        return Err(io::Error::other("a mount point: not removed"));
    }
    let mut w = Walk::new(root, true)?;
    while let Some(step) = w.next()? {
        match step {
            Step::Entry(n, _) => unlink(w.cur.as_raw_fd(), &n, 0)?,
            Step::Entered(_) => {}
            Step::Left(n) => unlink(w.cur.as_raw_fd(), &n, libc::AT_REMOVEDIR)?,
        }
    }
    unlink(dir.as_raw_fd(), name, libc::AT_REMOVEDIR)
}

// ---- the work directories of volatile overlays ----

/// Where the overlays' old work directories are moved (by the sandbox's init after its
/// unmounts, or the next supervisor when that init was killed), in a workspace's caches
/// directory, until they are removed (by that init, at idle priority: `mount::teardown`).
pub const TRASH: &str = ".trash";

/// Above this many entries in the trash (old work directories), a run removes the excess itself
/// before it mounts anything: the inits that empty it were killed before they could, and the
/// trash must not grow without end.
pub const TRASH_MAX: u64 = 1024;

/// With the workspace's mounts lock held and no mount of `o`'s layers alive (by init after its
/// unmounts, or by the supervisor before the mounts when that init was killed): moves the
/// `work/work` the last mount left into `<caches>/.trash`. overlayfs would otherwise remove
/// it itself during the mount, and refuses to while it holds the mark of a volatile mount
/// (`work/work/incompat/volatile`). A rename frees nothing, so it costs the same everywhere,
/// where removing a directory frees its block, and that can wait for the disk: on a file
/// system mounted `discard` without a journal, each freed block waits for a synchronous discard
/// (~3.5 ms per directory on the machine of docs/benchmarks.md; a volatile work directory is
/// three). [`empty_trash`] removes it outside every run's critical path.
/// Returns whether something was moved.
pub fn retire_work(caches: &OwnedFd, o: &Overlay) -> io::Result<bool> {
    let name = cstring(OsStr::new(&o.name))?;
    // Usually nothing to do (the last init moved it): one fstatat says so. The overlay's name
    // is one component (`group_name`: letters, digits and `-`).
    let path = cstring(OsStr::new(&format!("{}/work/work", o.name)))?;
    match lstat_at(caches.as_raw_fd(), &path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        _ => {}
    }
    let ofd = openat(
        caches.as_raw_fd(),
        &name,
        libc::O_RDONLY | libc::O_DIRECTORY,
    )?;
    let wfd = openat(ofd.as_raw_fd(), c"work", libc::O_RDONLY | libc::O_DIRECTORY)?;
    // overlayfs makes `work/work` mode 000, and moving a directory to another parent needs
    // write permission on it (its `..` changes): without CAP_DAC_OVERRIDE, the rename would
    // fail with EACCES. The mode is changed on the inode held (open_subdir), never by path.
    let held = match open_subdir(wfd.as_raw_fd(), c"work", true) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false), // never mounted
        Err(e) => return Err(e),
    };
    let Err(e) = move_to_trash(caches, wfd.as_raw_fd(), c"work", &o.name) else {
        return Ok(true);
    };
    drop(held);
    // Not moved (a file system without RENAME_NOREPLACE, say): removed then, which is what
    // overlayfs would do but cannot with the mark.
    remove_at(&wfd, c"work").map_err(|r| io::Error::new(r.kind(), format!("{e}; {r}")))?;
    Ok(false)
}

/// `mkdirat(dir, name)`; a directory entry already there (cordon's own) is fine.
fn mkdir_or_there(dir: RawFd, name: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: mkdirat relative to a directory descriptor we hold, a NUL-terminated name.
    if unsafe { libc::mkdirat(dir, name.as_ptr(), mode) } != 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::AlreadyExists {
            return Err(e);
        }
    }
    Ok(())
}

/// Moves the entry `name` of the directory `from` into `<caches>/.trash`, under a name of its
/// own (`<label>.<pid>.<ns>`), by a rename between descriptors (never replacing anything there).
fn move_to_trash(caches: &OwnedFd, from: RawFd, name: &CStr, label: &str) -> io::Result<()> {
    mkdir_or_there(caches.as_raw_fd(), c".trash", 0o700)?;
    let tfd = openat(
        caches.as_raw_fd(),
        c".trash",
        libc::O_RDONLY | libc::O_DIRECTORY,
    )?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let to = cstring(OsStr::new(&format!(
        "{label}.{}.{}",
        std::process::id(),
        now.as_nanos()
    )))?;
    // SAFETY: renameat2 between directory descriptors we hold, with NUL-terminated names;
    // RENAME_NOREPLACE never replaces what is in the trash.
    let r = unsafe {
        libc::renameat2(
            from,
            name.as_ptr(),
            tfd.as_raw_fd(),
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Where the cleaner moves each entry of the trash before it removes it: removing a directory
/// holds its parent's lock while its block is freed (and, on a file system mounted `discard`
/// without a journal, discarded), which would hold up the next run's moves into `.trash`.
pub const CLEANING: &str = ".cleaning";

/// How many entries the trash holds (with those the cleaner is removing), from the link counts
/// of the two directories alone (every entry is a directory). 0 when there is none.
pub fn trash_len(caches: &OwnedFd) -> u64 {
    [c".trash", c".cleaning"]
        .iter()
        .filter_map(|n| lstat_at(caches.as_raw_fd(), n).ok())
        .map(|st| st.st_nlink.saturating_sub(2))
        .sum()
}

/// Removes what is in `<caches>/.trash` (and what a cleaner that was stopped left in
/// `.cleaning`), under an exclusive `flock` on `.trash`. `limit`: None, everything, waiting for
/// the lock (sandbox inits after their report, one after another: each empties what the ones
/// before it left, and lists the trash again until it is empty, so that what an init moved
/// there while another cleaned is never left behind); Some(n), n entries at most, and nothing
/// if another cleaner holds the lock (a supervisor that found the trash overfull, which must
/// not wait). Entries are dead work directories: no mount uses them (they were moved with the
/// workspace's mounts lock held, after the mount that used them was gone), so this needs no
/// other lock and may run while sandboxes of the workspace run.
pub fn empty_trash(caches: &OwnedFd, limit: Option<u64>) {
    let Ok(tfd) = openat(
        caches.as_raw_fd(),
        c".trash",
        libc::O_RDONLY | libc::O_DIRECTORY,
    ) else {
        return;
    };
    let how = if limit.is_some() {
        libc::LOCK_EX | libc::LOCK_NB
    } else {
        libc::LOCK_EX
    };
    loop {
        // SAFETY: flock on a descriptor we hold.
        if unsafe { libc::flock(tfd.as_raw_fd(), how) } == 0 {
            break;
        }
        if limit.is_some() || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
    // `cordon cache clean` (which takes this lock too) may have removed the trash meanwhile.
    if lstat_at(tfd.as_raw_fd(), c".").map_or(true, |st| st.st_nlink == 0) {
        return;
    }
    // SAFETY: mkdirat relative to a directory descriptor we hold.
    unsafe { libc::mkdirat(caches.as_raw_fd(), c".cleaning".as_ptr(), 0o700) };
    let Ok(cfd) = openat(
        caches.as_raw_fd(),
        c".cleaning",
        libc::O_RDONLY | libc::O_DIRECTORY,
    ) else {
        return;
    };
    for n in list(&cfd).unwrap_or_default() {
        let _ = remove_at(&cfd, &n);
    }
    let mut left = limit.unwrap_or(u64::MAX);
    loop {
        let names = list(&tfd).unwrap_or_default();
        let mut moved = 0;
        for n in names
            .iter()
            .take(usize::try_from(left).unwrap_or(usize::MAX))
        {
            // SAFETY: renameat between directory descriptors we hold (the names are unique:
            // overlay name, process id, time).
            if unsafe { libc::renameat(tfd.as_raw_fd(), n.as_ptr(), cfd.as_raw_fd(), n.as_ptr()) }
                == 0
            {
                let _ = remove_at(&cfd, n);
                moved += 1;
            }
        }
        left = left.saturating_sub(moved);
        // Until nothing more is moved: a bounded run stops at its limit, and an entry that
        // cannot be moved (it never can: the names are ours) does not make this loop forever.
        if moved == 0 || left == 0 || limit.is_some() {
            return;
        }
    }
}

/// Lowers this process to idle I/O priority and the idle CPU class: for emptying the trash,
/// which waits on the disk (every freed block may wait for a discard) and must never slow down
/// the runs that follow. `SCHED_IDLE` runs only on a CPU nothing else wants (nice 19 still
/// takes its share), and leaves a real-time class cordon was started in (`chrt`), which a nice
/// value does not touch; nice 19 too, where the class cannot be changed.
pub fn idle_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: ioprio_set and setpriority take integers only; sched_setscheduler reads the
    // sched_param it is given, which lives for the call.
    unsafe {
        // IOPRIO_WHO_PROCESS (1), this process (0), IOPRIO_CLASS_IDLE (3) << 13.
        libc::syscall(libc::SYS_ioprio_set, 1, 0, 3 << 13);
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
    }
}

/// One entry of a workspace's caches directory, as `cordon cache list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Usage {
    pub name: String,
    /// Bytes in the upper layer (and work directory) of its overlay.
    pub overlay_bytes: u64,
    /// Bytes in its private directory.
    pub private_bytes: u64,
}

/// A workspace's caches directory, as found in the state directory.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WorkspaceCaches {
    pub id: String,
    /// The workspace it belongs to (from its `.workspace` file), if known.
    pub workspace: Option<PathBuf>,
    pub dir: PathBuf,
    pub entries: Vec<Usage>,
}

/// Every workspace's caches under `<state>/workspaces`.
pub fn scan(state: &Path) -> io::Result<Vec<WorkspaceCaches>> {
    let root = state.join("workspaces");
    let wfd = match open_dir(&root) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    let mut ids = list(&wfd)?;
    ids.sort();
    for id in ids {
        let Ok(ws) = openat(wfd.as_raw_fd(), &id, libc::O_RDONLY | libc::O_DIRECTORY) else {
            continue;
        };
        let Ok(cfd) = openat(
            ws.as_raw_fd(),
            c"caches",
            libc::O_RDONLY | libc::O_DIRECTORY,
        ) else {
            continue;
        };
        let ids = String::from_utf8_lossy(id.to_bytes()).into_owned();
        out.push(WorkspaceCaches {
            workspace: read_workspace_file(&cfd),
            dir: root.join(&ids).join("caches"),
            id: ids,
            entries: usage(&cfd),
        });
    }
    Ok(out)
}

fn read_workspace_file(cfd: &OwnedFd) -> Option<PathBuf> {
    let c = CString::new(WORKSPACE_FILE).ok()?;
    let f = openat(cfd.as_raw_fd(), &c, libc::O_RDONLY).ok()?;
    let mut s = Vec::new();
    use std::io::Read;
    fs::File::from(f).take(4096).read_to_end(&mut s).ok()?;
    let s = s.strip_suffix(b"\n").unwrap_or(&s);
    Some(PathBuf::from(OsStr::from_bytes(s)))
}

fn usage(cfd: &OwnedFd) -> Vec<Usage> {
    let mut entries = Vec::new();
    let Ok(mut names) = list(cfd) else {
        return entries;
    };
    names.sort();
    for n in names {
        if n.to_bytes().starts_with(b".") {
            continue;
        }
        let Ok(efd) = openat(cfd.as_raw_fd(), &n, libc::O_RDONLY | libc::O_DIRECTORY) else {
            continue;
        };
        if n.to_bytes() == super::PRIVATE.as_bytes() {
            // One entry per tool directory in it.
            let Ok(mut groups) = list(&efd) else { continue };
            groups.sort();
            for g in groups {
                if let Ok(gfd) = openat(efd.as_raw_fd(), &g, libc::O_RDONLY | libc::O_DIRECTORY) {
                    let name = String::from_utf8_lossy(g.to_bytes()).into_owned();
                    add(&mut entries, name, 0, du(&gfd));
                }
            }
            continue;
        }
        let part = |name: &CStr| {
            openat(efd.as_raw_fd(), name, libc::O_RDONLY | libc::O_DIRECTORY)
                .map(|f| du(&f))
                .unwrap_or(0)
        };
        let name = String::from_utf8_lossy(n.to_bytes()).into_owned();
        if name.starts_with("home-") {
            // The overlay of the home directory: one entry per directory of the home it holds
            // (`~/.npm`, `~/.cache`, ...); its own name only while it holds none (the few
            // blocks of its directories and work directory are left out then).
            let parts = home_parts(&efd);
            if !parts.is_empty() {
                for (child, b) in parts {
                    add(&mut entries, format!("~/{child}"), b, 0);
                }
                continue;
            }
        }
        let bytes = part(c"upper") + part(c"work");
        add(&mut entries, name, bytes, 0);
    }
    entries
}

/// Adds bytes to the entry `name` (made when it is new).
fn add(entries: &mut Vec<Usage>, name: String, overlay: u64, private: u64) {
    match entries.iter_mut().find(|e| e.name == name) {
        Some(e) => {
            e.overlay_bytes += overlay;
            e.private_bytes += private;
        }
        None => entries.push(Usage {
            name,
            overlay_bytes: overlay,
            private_bytes: private,
        }),
    }
}

/// The directories in the upper layer of the home directory's overlay (`efd`), with their bytes.
fn home_parts(efd: &OwnedFd) -> Vec<(String, u64)> {
    let Ok(up) = openat(
        efd.as_raw_fd(),
        c"upper",
        libc::O_RDONLY | libc::O_DIRECTORY,
    ) else {
        return Vec::new();
    };
    let Ok(mut names) = list(&up) else {
        return Vec::new();
    };
    names.sort();
    names
        .iter()
        .filter_map(|c| {
            let f = openat(up.as_raw_fd(), c, libc::O_RDONLY | libc::O_DIRECTORY).ok()?;
            Some((String::from_utf8_lossy(c.to_bytes()).into_owned(), du(&f)))
        })
        .collect()
}

/// Removes everything in a workspace's caches directory but its lock, holding the lock (so no
/// sandbox of the workspace is running) and the mounts lock (so no overlay of its layers is
/// left either). `Ok(false)` when a sandbox of it is running.
pub fn clean(dir: &Path) -> io::Result<bool> {
    let cfd = match open_dir(dir) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    let Some(_lock) = try_lock(dir)? else {
        return Ok(false);
    };
    let Some(_mounts) = lock_mounts(dir, std::time::Duration::from_secs(5))? else {
        return Ok(false);
    };
    // And the trash's: a cleaner at work finishes first (one that starts later finds the trash
    // locked, or gone).
    let trash = openat(
        cfd.as_raw_fd(),
        c".trash",
        libc::O_RDONLY | libc::O_DIRECTORY,
    )
    .ok();
    if let Some(t) = &trash {
        // SAFETY: flock on a descriptor we hold (waits for the cleaner).
        unsafe { libc::flock(t.as_raw_fd(), libc::LOCK_EX) };
    }
    for n in list(&cfd)? {
        // The mounts lock goes too: it is held here, and no run can be waiting for it (a run
        // takes the lock first).
        if n.to_bytes() == LOCK.as_bytes() {
            continue;
        }
        remove_at(&cfd, &n).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "remove {}: {e}",
                    dir.join(OsStr::from_bytes(n.to_bytes())).display()
                ),
            )
        })?;
    }
    Ok(true)
}
