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
//! record is a slot file `<runtime dir>/runs/<n>-slot`, kept and reused from run to run (a file
//! created and removed per run costs an inode allocation and a free each time, which on ext4
//! without a journal is slow under a stream of runs). A run takes a slot by locking it (`flock`,
//! exclusive, not waiting: a locked slot is a live run's), writes its record in place and holds
//! the lock until it exits, so a slot that can be locked is idle, whatever it holds. A record
//! ends with its writer's pid and a checksum of what precedes it: one read while being written
//! (its old and new bytes mixed) fails the checksum and is skipped, exactly as if it had been
//! published a moment later, after this run's reading. That keeps the guarantee: the run whose
//! reading came first had published before the other read. (Older cordon versions wrote
//! `<pid>-<n>` files under a temporary name and renamed them into place; those are still read.)

use std::fs::{self, File};
use std::io::{self, Read};
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

/// Slots tried before giving up (one per run alive at once).
const MAX_SLOTS: usize = 4096;
const SLOT_SUFFIX: &str = "-slot";

/// A slot's record: the items of `encode`, then `e<pid> <checksum>` (see the module comment).
fn encode_slot(pid: u32, writable: &[PathBuf], pinned: &[PathBuf]) -> Vec<u8> {
    let mut b = encode(writable, pinned);
    let sum = fnv(&b);
    b.push(b'e');
    b.extend_from_slice(format!("{pid} {sum:016x}").as_bytes());
    b.push(0);
    b
}

/// The record in a slot, if it is whole (its end item's checksum matches what precedes it).
fn decode_slot(bytes: &[u8]) -> Option<Record> {
    let mut pos = 0;
    while pos < bytes.len() {
        let end = pos + bytes[pos..].iter().position(|b| *b == 0)?;
        let item = &bytes[pos..end];
        if item.first() == Some(&b'e') {
            let text = std::str::from_utf8(&item[1..]).ok()?;
            let (pid, sum) = text.split_once(' ')?;
            if u64::from_str_radix(sum, 16).ok()? != fnv(&bytes[..pos]) {
                return None;
            }
            return Some(decode(pid.parse().ok()?, &bytes[..pos]));
        }
        pos = end + 1;
    }
    None
}

/// FNV-1a, 64 bits: tells a whole record from one being overwritten.
fn fnv(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in b {
        h ^= *x as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Publishes this process's record (replacing its earlier one), then returns every other live
/// run's. `writable`: what this run can write (`/` without a sandbox).
pub fn publish(writable: &[PathBuf], pinned: &[PathBuf]) -> io::Result<Vec<Record>> {
    use std::os::unix::fs::FileExt;
    let d = dir()?;
    let record = encode_slot(std::process::id(), writable, pinned);
    let mut mine = MINE.lock().unwrap_or_else(|p| p.into_inner());
    if mine.is_none() {
        *mine = Some(take_slot(&d)?);
    }
    let Some((path, f)) = mine.as_ref() else {
        return Err(io::Error::other("no slot for the record of this run"));
    };
    f.write_all_at(&record, 0)?;
    if f.metadata()?.len() > record.len() as u64 {
        f.set_len(record.len() as u64)?;
    }
    let path = path.clone();
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

/// The first slot no live run holds (created if there is none), locked.
fn take_slot(d: &Path) -> io::Result<(PathBuf, File)> {
    for n in 0..MAX_SLOTS {
        let path = d.join(format!("{n}{SLOT_SUFFIX}"));
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("open {}: {e}", path.display())))?;
        if flock(&f, libc::LOCK_EX | libc::LOCK_NB).is_ok() {
            return Ok((path, f));
        }
    }
    Err(io::Error::other(format!(
        "{}: {MAX_SLOTS} runs alive at once",
        d.display()
    )))
}

/// Withdraws this process's record (at the end of a run): its slot is unlocked, which makes
/// it idle (a crash does the same).
pub fn withdraw() {
    let mut mine = MINE.lock().unwrap_or_else(|p| p.into_inner());
    mine.take();
}

fn others(d: &Path, mine: &Path) -> io::Result<Vec<Record>> {
    let mut out = Vec::new();
    for ent in fs::read_dir(d)?.flatten() {
        let name = ent.file_name();
        let path = ent.path();
        if path == mine {
            continue;
        }
        if name.as_bytes().ends_with(SLOT_SUFFIX.as_bytes()) {
            let Ok(mut f) = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&path)
            else {
                continue;
            };
            if flock(&f, libc::LOCK_SH | libc::LOCK_NB).is_ok() {
                continue; // idle: kept for the next run
            }
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)?;
            // None: being written now, i.e. published after this reading (module comment).
            out.extend(decode_slot(&bytes));
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

    /// A slot's record is read only when whole: one being overwritten by a shorter or longer
    /// record (old and new bytes mixed) is skipped.
    #[test]
    fn slot_records_are_whole_or_nothing() {
        let w = vec![PathBuf::from("/w"), PathBuf::from("/x y")];
        let p = vec![PathBuf::from("/w/s.sh")];
        let a = encode_slot(7, &w, &p);
        assert_eq!(
            decode_slot(&a),
            Some(Record {
                pid: 7,
                writable: w.clone(),
                pinned: p.clone()
            })
        );
        let b = encode_slot(8, &[PathBuf::from("/other/root")], &[]);
        for cut in 0..b.len() {
            // b written over a, up to `cut` bytes so far.
            let mut torn = a.clone();
            torn.resize(torn.len().max(cut), 0);
            torn[..cut].copy_from_slice(&b[..cut]);
            let r = decode_slot(&torn);
            assert!(
                r.is_none() || r.as_ref().is_some_and(|r| r.pid == 7 || r.pid == 8),
                "{cut}: {r:?}"
            );
            if let Some(r) = r {
                // Only the complete old or complete new record, never a mix.
                assert!(
                    (r.pid == 7 && r.writable == w) || (r.pid == 8 && cut >= b.len() - 1),
                    "{cut}: {r:?}"
                );
            }
        }
        assert!(decode_slot(b"").is_none());
        assert!(decode_slot(b"w/a\0").is_none());
    }

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
