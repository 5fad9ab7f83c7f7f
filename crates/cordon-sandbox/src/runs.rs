//! The user's live runs: what each can write and which files each has pinned.
//!
//! A run under a remembered approval executes the bytes that were hashed (`spec::Pinned`). Its
//! own sandbox mounts a copy of them, but another sandbox of the same user that can write the
//! file could still rename something over its path (a rename or unlink from another mount
//! namespace detaches the mounts on the old file) or, without namespaces, simply write it. So
//! nothing else that is sandboxed may write a pinned file while the run lasts:
//!
//! - every run publishes a record (its writable roots, its pinned files) for its whole life, and
//!   only then reads the others';
//! - a pinned file that another live run can write is a conflict: the run does not get its pins
//!   (`SandboxSpec::pin_conflicts`; the caller asks again instead of using the grant);
//! - a file another live run has pinned, inside this run's writable roots, is read-only here
//!   (`SandboxSpec::pinned_elsewhere`).
//!
//! Publishing before reading means two runs starting together cannot both miss each other. A
//! record is `<runtime dir>/runs/<pid>-<n>`, written under a temporary name, locked (`flock`, held
//! until the run exits) and only then renamed into place, so a record that can be locked is one
//! whose run is gone: it is removed.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Another live run, as it published itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub pid: u32,
    /// Canonical writable roots (`/` for a run without a sandbox).
    pub writable: Vec<PathBuf>,
    pub pinned: Vec<PathBuf>,
}

/// This process's published record (its path and its locked file).
static MINE: Mutex<Option<(PathBuf, File)>> = Mutex::new(None);

fn dir() -> io::Result<PathBuf> {
    let d = crate::runtime::runtime_dir().join("runs");
    match fs::DirBuilder::new().recursive(true).mode(0o700).create(&d) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("create {}: {e}", d.display()),
            ))
        }
    }
    let m = fs::symlink_metadata(&d)?;
    let uid = crate::sys::fs::uid();
    if !m.is_dir() || m.uid() != uid || m.mode() & 0o022 != 0 {
        return Err(io::Error::other(format!(
            "{} is not a private directory owned by you; remove it or set XDG_RUNTIME_DIR",
            d.display()
        )));
    }
    Ok(d)
}

fn flock(f: &File, op: libc::c_int) -> io::Result<()> {
    use std::os::fd::AsFd;
    crate::sys::fs::flock(f.as_fd(), op)
}

fn encode(writable: &[PathBuf], pinned: &[PathBuf]) -> Vec<u8> {
    let mut b = Vec::new();
    for (tag, list) in [(b'w', writable), (b'p', pinned)] {
        for p in list {
            b.push(tag);
            b.extend_from_slice(p.as_os_str().as_bytes());
            b.push(0);
        }
    }
    b
}

fn decode(pid: u32, bytes: &[u8]) -> Record {
    let mut r = Record {
        pid,
        writable: Vec::new(),
        pinned: Vec::new(),
    };
    for item in bytes.split(|b| *b == 0) {
        let Some((tag, path)) = item.split_first() else {
            continue;
        };
        let p = PathBuf::from(std::ffi::OsStr::from_bytes(path));
        match tag {
            b'w' => r.writable.push(p),
            b'p' => r.pinned.push(p),
            _ => {}
        }
    }
    r
}

/// Publishes this process's record (replacing its earlier one), then returns every other live
/// run's. `writable`: what this run can write (`/` without a sandbox).
pub fn publish(writable: &[PathBuf], pinned: &[PathBuf]) -> io::Result<Vec<Record>> {
    let d = dir()?;
    let pid = std::process::id();
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("{pid}-{n}");
    let tmp = d.join(format!(".{name}"));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .map_err(|e| io::Error::new(e.kind(), format!("create {}: {e}", tmp.display())))?;
    flock(&f, libc::LOCK_EX)?;
    f.write_all(&encode(writable, pinned))?;
    let path = d.join(&name);
    fs::rename(&tmp, &path)?;
    let mut mine = MINE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((old, _)) = mine.replace((path.clone(), f)) {
        let _ = fs::remove_file(old);
    }
    drop(mine);
    others(&d, &path)
}

/// Every other live run's record, without publishing one: for a command that must not act
/// under a running sandbox (`cordon cache clean`).
pub fn live() -> io::Result<Vec<Record>> {
    let d = dir()?;
    let mine = MINE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map(|(p, _)| p.clone())
        .unwrap_or_default();
    others(&d, &mine)
}

/// Removes this process's record (at the end of a run; a crash leaves it to be found stale).
pub fn withdraw() {
    let mut mine = MINE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((path, _)) = mine.take() {
        let _ = fs::remove_file(path);
    }
}

fn others(d: &Path, mine: &Path) -> io::Result<Vec<Record>> {
    let mut out = Vec::new();
    for ent in fs::read_dir(d)?.flatten() {
        let name = ent.file_name();
        let path = ent.path();
        if path == mine {
            continue;
        }
        if name.as_bytes().starts_with(b".") {
            // A record being written (it may not be locked yet), or one whose writer died
            // before publishing it: removed when unlocked and older than a minute.
            let old = ent
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 60);
            if let (true, Ok(f)) = (old, File::open(&path)) {
                if flock(&f, libc::LOCK_SH | libc::LOCK_NB).is_ok() {
                    let _ = fs::remove_file(&path);
                }
            }
            continue;
        }
        let Some(pid) = name
            .to_str()
            .and_then(|s| s.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(mut f) = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
        else {
            continue; // gone meanwhile
        };
        if flock(&f, libc::LOCK_SH | libc::LOCK_NB).is_ok() {
            // Nobody holds it: its run is gone.
            let _ = fs::remove_file(&path);
            continue;
        }
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)?;
        out.push(decode(pid, &bytes));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let w = vec![PathBuf::from("/w"), PathBuf::from("/x y")];
        let p = vec![PathBuf::from("/w/s.sh")];
        assert_eq!(
            decode(7, &encode(&w, &p)),
            Record {
                pid: 7,
                writable: w,
                pinned: p
            }
        );
    }
}
