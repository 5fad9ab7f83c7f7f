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

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

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

    /// Creates what is missing among `protected`, under a shared lock for `workspace`.
    pub fn create(protected: &[Protected]) -> io::Result<Placeholders> {
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
        let missing: Vec<&Protected> = protected.iter().filter(|p| !p.exists).collect();
        let mut list = None;
        for p in missing {
            let r = match p.kind {
                Kind::Dir => fs::DirBuilder::new().mode(0o755).create(&p.path),
                Kind::File => fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o644)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&p.path)
                    .map(drop),
            };
            match r {
                Ok(()) => {
                    if list.is_none() {
                        list = Some(open_private("placeholders.list", true)?);
                    }
                    if let Some(l) = list.as_mut() {
                        // One write per line, O_APPEND: lines from concurrent runs do not mix.
                        let kind = if p.kind == Kind::Dir { 'd' } else { 'f' };
                        let mut line = format!("{kind} ").into_bytes();
                        line.extend_from_slice(p.path.as_os_str().as_bytes());
                        line.push(b'\n');
                        l.write_all(&line)?;
                    }
                }
                // Another run (or the user) created it meanwhile: it exists, which is all we need.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
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
        if list.read_to_end(&mut text).is_err() || text.is_empty() {
            return;
        }
        for line in text.split(|b| *b == b'\n').rev() {
            let (kind, path) = match line {
                [k, b' ', rest @ ..] => (*k, Path::new(std::ffi::OsStr::from_bytes(rest))),
                _ => continue,
            };
            if kind == b'd' {
                let _ = fs::remove_dir(path); // fails, as it should, if something was put in it
            } else if fs::symlink_metadata(path)
                .map(|m| m.is_file() && m.len() == 0)
                .unwrap_or(false)
            {
                let _ = fs::remove_file(path);
            }
        }
        let _ = list.set_len(0);
    }
}
