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

/// The lock file in a workspace's caches directory.
pub const LOCK: &str = ".lock";
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
    mkdirs(dir)?;
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
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir.join(LOCK))
        .map_err(|e| io::Error::new(e.kind(), format!("lock {}: {e}", dir.display())))?;
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
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

/// The directory where init mounts an overlay before it takes its caches from it (in the
/// sandbox's own mount namespace; never visible to the command).
pub fn hidden_mount_point(o: &Overlay) -> PathBuf {
    o.upper.with_file_name("mnt")
}

/// The upper, work and hidden mount directories, and the host's empty cache directories that
/// are to be created (their tool's directory exists).
pub fn create_overlay_dirs(o: &Overlay) -> io::Result<()> {
    mkdirs(&o.upper)?;
    mkdirs(&o.work)?;
    mkdirs(&hidden_mount_point(o))?;
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

/// For CARGO_HOME pointed at a private directory: links to the real cargo home's config files (so that
/// registries, mirrors and build settings still apply). Links are made with `symlinkat`, which
/// never replaces what is there.
pub fn create_private(p: &Private) -> io::Result<()> {
    if let Some(real) = &p.link_config_from {
        mkdirs(&p.dir)?;
        for name in ["config.toml", "config"] {
            let target = real.join(name);
            if target.is_file() {
                let _ = std::os::unix::fs::symlink(&target, p.dir.join(name));
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

/// Disk usage (bytes) of the tree at `fd`, counting each hard-linked inode once.
pub fn du(fd: &OwnedFd) -> u64 {
    fn walk(fd: &OwnedFd, depth: usize, seen: &mut HashSet<(u64, u64)>) -> u64 {
        let mut total = 0;
        let Ok(names) = list(fd) else { return 0 };
        for n in names {
            let Ok(st) = lstat_at(fd.as_raw_fd(), &n) else {
                continue;
            };
            if st.st_nlink > 1 && !is_dir(&st) {
                let key = (st.st_dev, st.st_ino);
                if !seen.insert(key) {
                    continue;
                }
            }
            total += st.st_blocks as u64 * 512;
            if is_dir(&st) && depth < 4096 {
                if let Ok(sub) = openat(fd.as_raw_fd(), &n, libc::O_RDONLY | libc::O_DIRECTORY) {
                    total += walk(&sub, depth + 1, seen);
                }
            }
        }
        total
    }
    walk(fd, 0, &mut HashSet::new())
}

/// Removes the entry `name` under the directory `dir`, recursively, through handles.
pub fn remove_at(dir: &OwnedFd, name: &CStr) -> io::Result<()> {
    fn rm(dir: RawFd, name: &CStr, depth: usize) -> io::Result<()> {
        let st = lstat_at(dir, name)?;
        if is_dir(&st) {
            if depth > 4096 {
                return Err(io::Error::other("directory tree too deep"));
            }
            let sub = open_subdir(dir, name, true)?;
            for n in list(&sub)? {
                rm(sub.as_raw_fd(), &n, depth + 1)?;
            }
            drop(sub);
            // SAFETY: unlinkat relative to a directory descriptor we hold.
            if unsafe { libc::unlinkat(dir, name.as_ptr(), libc::AT_REMOVEDIR) } != 0 {
                return Err(io::Error::last_os_error());
            }
        } else if unsafe { libc::unlinkat(dir, name.as_ptr(), 0) } != 0 {
            // (SAFETY as above.)
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
    rm(dir.as_raw_fd(), name, 0)
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
                    let bytes = du(&gfd);
                    match entries.iter_mut().find(|e: &&mut Usage| e.name == name) {
                        Some(e) => e.private_bytes += bytes,
                        None => entries.push(Usage {
                            name,
                            overlay_bytes: 0,
                            private_bytes: bytes,
                        }),
                    }
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
        let bytes = part(c"upper") + part(c"work");
        match entries.iter_mut().find(|e: &&mut Usage| e.name == name) {
            Some(e) => e.overlay_bytes += bytes,
            None => entries.push(Usage {
                name,
                overlay_bytes: bytes,
                private_bytes: 0,
            }),
        }
    }
    entries
}

/// Removes everything in a workspace's caches directory but its lock, holding the lock (so no
/// sandbox of the workspace is running). `Ok(false)` when a sandbox of it is running.
pub fn clean(dir: &Path) -> io::Result<bool> {
    let cfd = match open_dir(dir) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    let Some(_lock) = try_lock(dir)? else {
        return Ok(false);
    };
    for n in list(&cfd)? {
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
