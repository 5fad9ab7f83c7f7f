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

/// The (device, inode) of every placeholder the list names: cordon's own, made by runs alive or
/// dead (a killed run leaves its placeholders until the last run alive removes them). The check
/// after a run must not take them for agent configs a run created or changed.
pub fn listed() -> Vec<(u64, u64)> {
    let mut text = Vec::new();
    if open_private("placeholders.list", true)
        .and_then(|mut f| f.read_to_end(&mut text))
        .is_err()
    {
        return Vec::new();
    }
    String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|l| {
            let mut w = l.split(' ').skip(1);
            Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
        })
        .collect()
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

    /// Creates what is missing among `protected` (each inside one of `roots`), by handle.
    pub fn create(protected: &[Protected], roots: &[PathBuf]) -> io::Result<Placeholders> {
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
        let mut dirs = Handles::default();
        for p in protected.iter().filter(|p| !p.exists) {
            let r = make(p, roots, &mut dirs);
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

/// Directory handles already opened (root, parent below it), for the placeholders that share
/// them (most lie in the same directory): opened once each, as `make` and `unmake` would open
/// them. A handle keeps the directory it was opened on, even if that is renamed meanwhile.
#[derive(Default)]
struct Handles(Vec<((PathBuf, PathBuf), std::os::fd::OwnedFd)>);

impl Handles {
    /// The parent directory `parent` (relative) below the writable root `root`: the root opened
    /// with no symlink on its path, the parent below it with `RESOLVE_BENEATH |
    /// RESOLVE_NO_SYMLINKS`.
    fn get(&mut self, root: &Path, parent: &Path) -> io::Result<BorrowedFd<'_>> {
        let key = (root.to_path_buf(), parent.to_path_buf());
        let i = match self.0.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                let rfd = handles::open_no_symlinks(root, libc::O_PATH | libc::O_DIRECTORY)?;
                let dfd =
                    handles::open_beneath(rfd.as_fd(), parent, libc::O_PATH | libc::O_DIRECTORY)?;
                self.0.push((key, dfd));
                self.0.len() - 1
            }
        };
        Ok(self.0[i].1.as_fd())
    }
}

/// Creates one placeholder; its list line (`d|f dev ino hex(root) hex(parent) hex(name)`), or
/// None when something is already there.
fn make(p: &Protected, roots: &[PathBuf], dirs: &mut Handles) -> io::Result<Option<String>> {
    let (root, parent, name) = root_of(&p.path, roots)?;
    let dfd = dirs.get(root, &parent).map_err(|e| {
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
    let st = match p.kind {
        Kind::Dir => handles::mkdir_at(dfd, &name, 0o755),
        Kind::File => handles::create_file_at(dfd, &name, 0o644),
    };
    let st = match st {
        Ok(s) => s,
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => return Ok(None),
        Err(e) => return Err(e),
    };
    let kind = if p.kind == Kind::Dir { 'd' } else { 'f' };
    Ok(Some(format!(
        "{kind} {} {} {} {} {}\n",
        st.dev,
        st.ino,
        hex(root.as_os_str().as_bytes()),
        hex(parent.as_os_str().as_bytes()),
        hex(&name)
    )))
}

/// Removes the placeholder of one list line, if it is still the one created (and empty).
fn unmake(line: &str, dirs: &mut Handles) -> Option<()> {
    let mut w = line.split(' ');
    let kind = w.next()?;
    let dev: u64 = w.next()?.parse().ok()?;
    let ino: u64 = w.next()?.parse().ok()?;
    let root = PathBuf::from(std::ffi::OsStr::from_bytes(&unhex(w.next()?)?));
    let parent = PathBuf::from(std::ffi::OsStr::from_bytes(&unhex(w.next()?)?));
    let name = unhex(w.next()?)?;
    let dfd = dirs.get(&root, &parent).ok()?;
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
    // Fails, as it should, if something was put in it, or if another file is there now.
    handles::remove_checked(dfd, &name, &expect).ok()
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
        let mut dirs = Handles::default();
        for line in String::from_utf8_lossy(&text).lines().rev() {
            let _ = unmake(line, &mut dirs);
        }
        // Emptied down to its first line (empty), not to nothing: on ext4 a file truncated to
        // zero is written out and its block allocated when closed after the next write
        // (`auto_da_alloc`), and freed again at the next truncation (with `discard`, a
        // synchronous discard): a block allocated and freed on every run, for nothing.
        let _ = list.set_len(if text.first() == Some(&b'\n') { 1 } else { 0 });
    }
}
