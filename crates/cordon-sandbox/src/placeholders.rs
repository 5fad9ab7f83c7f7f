//! Placeholders for protected paths that do not exist yet.
//!
//! A path can only be mounted over if it exists. To make `.claude/` or `.git/hooks/` impossible
//! to create inside a writable workspace, cordon creates an empty placeholder (directory or file)
//! before the sandbox starts, mounts it read-only inside, and removes it after the run if it is
//! still empty.
//!
//! Concurrent runs share placeholders: each run holds a shared `flock` on the user's lock file
//! for its whole life and records what it created in a list beside it; a run removes the listed
//! placeholders only if it can upgrade to an exclusive lock without waiting (no other run is
//! alive). Removing a placeholder that another sandbox still has mounted would detach that mount
//! (rmdir of a mount point in another namespace succeeds) and open the path to it; the lock
//! prevents that, and the list lets the last run clean up after the others.
//!
//! A placeholder is taken from the workspace's pool when it has one (`<state dir>/placeholders`,
//! out of every sandbox's reach) and given back to it afterwards, by `rename`, rather than
//! created and removed on every run: creating and removing files costs an inode allocation and a
//! free each time, and each removed directory frees a block (on ext4 without a journal, as on
//! some VMs, allocating an inode skips every inode freed in the last ~30 s, and with `discard`
//! each freed block waits for the device: hundreds of µs to milliseconds per run). The pool
//! fills up by itself: a placeholder created when the pool had none goes into it after the run
//! (same mount only; elsewhere it is removed as before). Only an empty directory or empty file
//! is ever taken from it or given back; one found otherwise is left where it is.
//!
//! Placeholders are created and removed through directory handles, never by re-resolving a
//! path: the writable root is opened with no symlink on its path, the parent below it with
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, and a placeholder is removed only if the name still
//! holds the device and inode that were created (a command that swapped `.git` for a symlink to
//! elsewhere cannot make cordon remove anything there).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::handles::{self, Stat};
use crate::protected::{Kind, Protected};

pub struct Placeholders {
    lock: Option<File>,
}

pub use crate::runtime::runtime_dir;

fn private_dir() -> io::Result<PathBuf> {
    let dir = runtime_dir();
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("create {}: {e}", dir.display()),
            ))
        }
    }
    // A directory in a shared /tmp must be ours, or another user could hold our locks.
    let meta = fs::symlink_metadata(&dir)?;
    if !meta.is_dir() || meta.uid() != crate::sys::fs::uid() || meta.mode() & 0o022 != 0 {
        return Err(io::Error::other(format!(
            "{} is not a private directory owned by you; remove it or set XDG_RUNTIME_DIR",
            dir.display()
        )));
    }
    Ok(dir)
}

fn open_private(name: &str, append: bool) -> io::Result<File> {
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(!append)
        .append(append)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(private_dir()?.join(name))
}

fn flock(f: &File, op: libc::c_int) -> io::Result<()> {
    use std::os::fd::AsFd;
    crate::sys::fs::flock(f.as_fd(), op)
}

/// The shared lock, taken once per process by `hold_shared` and handed to `Placeholders`.
static SHARED: std::sync::Mutex<Option<File>> = std::sync::Mutex::new(None);

/// Takes the user's shared placeholder lock (blocking while the last run of another sandbox
/// removes its placeholders) and keeps it for the rest of this run. Called before the spec
/// looks at the protected paths: what it sees then stays true until the run ends.
pub fn hold_shared() -> io::Result<()> {
    let mut g = SHARED
        .lock()
        .map_err(|_| io::Error::other("placeholder lock poisoned"))?;
    if g.is_none() {
        let lock = open_private("placeholders.lock", false)?;
        flock(&lock, libc::LOCK_SH)?;
        *g = Some(lock);
    }
    Ok(())
}

impl Placeholders {
    pub fn none() -> Placeholders {
        Placeholders { lock: None }
    }

    /// Creates what is missing among `protected` (each inside one of `roots`), by handle, taking
    /// from the pool in `state_dir` (see the module comment) when there is one.
    pub fn create(
        protected: &[Protected],
        roots: &[PathBuf],
        state_dir: Option<&Path>,
    ) -> io::Result<Placeholders> {
        if protected.is_empty() {
            return Ok(Placeholders::none());
        }
        // Taken even when nothing is missing: a placeholder made by another run that is alive
        // now must not be removed under us when that run ends.
        // Normally already held since the spec was built (`hold_shared`).
        hold_shared()?;
        let lock = match SHARED.lock() {
            Ok(mut g) => g.take(),
            Err(_) => None,
        }
        .ok_or_else(|| io::Error::other("the placeholder lock was not held"))?;
        let mut list = None;
        let mut pool = None;
        let mut missing = protected.iter().filter(|p| !p.exists).peekable();
        if missing.peek().is_some() {
            pool = state_dir.and_then(Pool::open);
        }
        for p in missing {
            let r = make(p, roots, pool.as_mut());
            match r {
                Ok(Some(line)) => {
                    if list.is_none() {
                        let mut l = open_private("placeholders.list", true)?;
                        // The list starts with an empty line, which emptying it keeps (see
                        // `Drop`); an empty line is no placeholder.
                        if l.metadata()?.len() == 0 {
                            l.write_all(b"\n")?;
                        }
                        list = Some(l);
                    }
                    if let Some(l) = list.as_mut() {
                        // One write per line, O_APPEND: lines from concurrent runs do not mix.
                        l.write_all(line.as_bytes())?;
                    }
                }
                // Another run (or the user) created it meanwhile: it exists, which is all we need.
                Ok(None) => {}
                Err(e) => {
                    drop(Placeholders { lock: Some(lock) });
                    return Err(io::Error::new(
                        e.kind(),
                        format!(
                            "cannot create a placeholder for the protected path {}: {e}",
                            p.path.display()
                        ),
                    ));
                }
            }
        }
        Ok(Placeholders { lock: Some(lock) })
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The writable root holding `p` (the deepest), and `p`'s parent relative to it.
fn root_of<'a>(p: &Path, roots: &'a [PathBuf]) -> io::Result<(&'a PathBuf, PathBuf, Vec<u8>)> {
    let root = roots
        .iter()
        .filter(|r| p.starts_with(r) && p != r.as_path())
        .max_by_key(|r| r.components().count())
        .ok_or_else(|| io::Error::other("not inside a writable root"))?;
    let rel = p.strip_prefix(root).map_err(io::Error::other)?;
    let name = rel
        .file_name()
        .ok_or_else(|| io::Error::other("no file name"))?
        .as_bytes()
        .to_vec();
    Ok((
        root,
        rel.parent().unwrap_or(Path::new("")).to_path_buf(),
        name,
    ))
}

/// The placeholders kept between runs of a workspace (see the module comment): empty
/// directories `d-<inode>` and empty files `f-<inode>` in `<state dir>/placeholders`.
struct Pool {
    path: PathBuf,
    fd: std::os::fd::OwnedFd,
    /// Entries not taken yet: (name, is a directory).
    entries: Vec<(Vec<u8>, bool)>,
}

impl Pool {
    fn open(state_dir: &Path) -> Option<Pool> {
        let path = state_dir.join("placeholders");
        match fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(_) => return None,
        }
        let fd = handles::open_no_symlinks(&path, libc::O_RDONLY | libc::O_DIRECTORY).ok()?;
        let mut budget = 100_000;
        let entries = handles::read_dir(fd.as_fd(), &mut budget)
            .ok()?
            .into_iter()
            .filter_map(|e| match e.name.get(..2) {
                Some(b"d-") => Some((e.name, true)),
                Some(b"f-") => Some((e.name, false)),
                _ => None,
            })
            .collect();
        Some(Pool { path, fd, entries })
    }

    /// Moves a pooled placeholder of `kind` to `name` in `dfd`: Ok(Some(its stat)) when moved,
    /// Ok(None) when `name` exists already, Err when none could be used (the caller creates
    /// one).
    fn take(&mut self, kind: Kind, dfd: BorrowedFd<'_>, name: &[u8]) -> io::Result<Option<Stat>> {
        let dir = kind == Kind::Dir;
        while let Some(i) = self.entries.iter().position(|(_, d)| *d == dir) {
            let (e, _) = self.entries.swap_remove(i);
            let pfd = self.fd.as_fd();
            // Only what cordon put there: an empty directory, or an empty file with no other
            // name. (Nothing sandboxed can reach the state directory.)
            let Ok(st) = handles::statx_at(pfd, &e, false) else {
                continue; // another run took it
            };
            let usable = if dir {
                st.is_dir() && handles::dir_is_empty_at(pfd, &e).unwrap_or(false)
            } else {
                st.is_file() && st.size == 0 && st.nlink == 1
            };
            if !usable {
                continue;
            }
            match handles::move_noreplace(pfd, &e, dfd, name) {
                Ok(()) => return Ok(Some(st)),
                Err(err) if err.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(err) => {
                    self.entries.push((e, dir));
                    if err.raw_os_error() == Some(libc::EEXIST) {
                        return Ok(None);
                    }
                    return Err(err);
                }
            }
        }
        Err(io::Error::from_raw_os_error(libc::ENOENT))
    }
}

/// Creates one placeholder (from the pool when it can); its list line (`d|f dev ino hex(root)
/// hex(parent) hex(name) hex(pool)`, the pool empty when there is none), or None when something
/// is already there.
fn make(p: &Protected, roots: &[PathBuf], pool: Option<&mut Pool>) -> io::Result<Option<String>> {
    let (root, parent, name) = root_of(&p.path, roots)?;
    let rfd = handles::open_no_symlinks(root, libc::O_PATH | libc::O_DIRECTORY)?;
    let dfd = handles::open_beneath(rfd.as_fd(), &parent, libc::O_PATH | libc::O_DIRECTORY)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) || e.raw_os_error() == Some(libc::EXDEV) {
                io::Error::new(
                    e.kind(),
                    format!(
                        "{} lies behind a symlink (cordon protects no path through a link, whose target could change):                          replace the link with the real directory; 'cordon repair' shows what an earlier run moved aside",
                        parent.display()
                    ),
                )
            } else {
                e
            }
        })?;
    let pool_path = pool.as_ref().map(|p| p.path.clone());
    let taken = match pool {
        Some(pool) => match pool.take(p.kind, dfd.as_fd(), &name) {
            Ok(Some(st)) => Some(Ok(st)),
            Ok(None) => return Ok(None),
            // None usable, or another mount: a new one.
            Err(_) => None,
        },
        None => None,
    };
    let st = match taken {
        Some(st) => st,
        None => match p.kind {
            Kind::Dir => handles::mkdir_at(dfd.as_fd(), &name, 0o755),
            Kind::File => handles::create_file_at(dfd.as_fd(), &name, 0o644),
        },
    };
    let st = match st {
        Ok(s) => s,
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => return Ok(None),
        Err(e) => return Err(e),
    };
    let kind = if p.kind == Kind::Dir { 'd' } else { 'f' };
    Ok(Some(format!(
        "{kind} {} {} {} {} {} {}\n",
        st.dev,
        st.ino,
        hex(root.as_os_str().as_bytes()),
        hex(parent.as_os_str().as_bytes()),
        hex(&name),
        pool_path
            .map(|p| hex(p.as_os_str().as_bytes()))
            .unwrap_or_default()
    )))
}

/// Removes the placeholder of one list line (gives it back to its pool), if it is still the one
/// created (and empty).
fn unmake(line: &str) -> Option<()> {
    let mut w = line.split(' ');
    let kind = w.next()?;
    let dev: u64 = w.next()?.parse().ok()?;
    let ino: u64 = w.next()?.parse().ok()?;
    let root = PathBuf::from(std::ffi::OsStr::from_bytes(&unhex(w.next()?)?));
    let parent = PathBuf::from(std::ffi::OsStr::from_bytes(&unhex(w.next()?)?));
    let name = unhex(w.next()?)?;
    let pool = w
        .next()
        .and_then(unhex)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(std::ffi::OsStr::from_bytes(&p)));
    let rfd = handles::open_no_symlinks(&root, libc::O_PATH | libc::O_DIRECTORY).ok()?;
    let dfd = handles::open_beneath(rfd.as_fd(), &parent, libc::O_PATH | libc::O_DIRECTORY).ok()?;
    let expect = Stat {
        dev,
        ino,
        mode: if kind == "d" {
            libc::S_IFDIR
        } else {
            libc::S_IFREG
        },
        nlink: 1,
        size: 0,
        ctime: handles::Ts::default(),
    };
    if let Some(pool) = pool {
        if give_back(dfd.as_fd(), &name, &expect, &pool).is_some() {
            return Some(());
        }
    }
    // Fails, as it should, if something was put in it, or if another file is there now.
    handles::remove_checked(dfd.as_fd(), &name, &expect).ok()
}

/// Moves the placeholder `name` of `dfd` into `pool`, if it is still the inode placed and empty.
/// None: not done (the caller removes it, which fails the same way if it is not empty).
fn give_back(dfd: BorrowedFd<'_>, name: &[u8], expect: &Stat, pool: &Path) -> Option<()> {
    let now = handles::statx_at(dfd, name, false).ok()?;
    if !now.same(expect) {
        return None;
    }
    let empty = |dir: BorrowedFd<'_>, n: &[u8]| {
        if now.is_dir() {
            handles::dir_is_empty_at(dir, n).unwrap_or(false)
        } else {
            handles::statx_at(dir, n, false)
                .is_ok_and(|s| s.is_file() && s.size == 0 && s.nlink == 1)
        }
    };
    if !empty(dfd, name) {
        return None;
    }
    let pfd = handles::open_no_symlinks(pool, libc::O_PATH | libc::O_DIRECTORY).ok()?;
    let to = format!("{}-{}", if now.is_dir() { 'd' } else { 'f' }, now.ino).into_bytes();
    handles::move_noreplace(dfd, name, pfd.as_fd(), &to).ok()?;
    // Written into between the check and the move (through a descriptor opened before): back
    // where it was, as a removal would have left it. Never taken from the pool while not empty.
    if !empty(pfd.as_fd(), &to) {
        let _ = handles::move_noreplace(pfd.as_fd(), &to, dfd, name);
    }
    Some(())
}

impl Drop for Placeholders {
    fn drop(&mut self) {
        let Some(lock) = self.lock.take() else { return };
        // Only the last run alive removes placeholders (see the module comment).
        if flock(&lock, libc::LOCK_EX | libc::LOCK_NB).is_err() {
            return;
        }
        let Ok(mut list) = open_private("placeholders.list", false) else {
            return;
        };
        let mut text = Vec::new();
        if list.read_to_end(&mut text).is_err() || text.is_empty() || text == b"\n" {
            return;
        }
        for line in String::from_utf8_lossy(&text).lines().rev() {
            let _ = unmake(line);
        }
        // Emptied down to its first line (empty), not to nothing: on ext4 a file truncated to
        // zero is written out and its block allocated when closed after the next write
        // (`auto_da_alloc`), and freed again at the next truncation (with `discard`, a
        // synchronous discard): a block allocated and freed on every run, for nothing.
        let _ = list.set_len(if text.first() == Some(&b'\n') { 1 } else { 0 });
    }
}
