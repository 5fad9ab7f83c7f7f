//! The SHA-256 of a server's files (its identity, [`crate::pins::identity`]), cached in cordon's
//! state directory: `<state>/mcp/hashes.json`, out of the sandbox's reach. Hashing the
//! interpreter at every start costs tens of milliseconds (python3, 7 MB) to hundreds (node,
//! 100 MB); a hit costs one `fstat` of the handle the hash would be read through.
//!
//! **The key** is what cannot stay the same when a file's content changes: device, inode, size,
//! mtime and ctime in nanoseconds, all from one `fstat` of the open handle (never a second
//! lookup by path). The ctime carries the weight: the kernel sets it to the current time on
//! every write, truncate, rename or link, and no user can set it (`touch -d` sets mtime and
//! atime, and stamps ctime with now). A file replaced by another (rename over it, a new copy)
//! is a new inode. Hard links share the inode, hence the content and the entry.
//!
//! **Not cached** (hashed every time, as without the cache):
//! - a file whose mtime or ctime is less than [`MIN_AGE_MS`] old, or in the future: a write
//!   within the same timestamp tick as the one hashed would leave the key unchanged (git's
//!   "racy" files). Timestamps come from a coarse clock (one tick, 1-10 ms) and some file
//!   systems keep whole seconds (or two), so only a file left alone longer than that is stored;
//!   any later change stamps a ctime at least that much newer.
//! - a file on a file system not known to keep inode numbers and ctimes stable: only ext2/3/4,
//!   xfs, btrfs, f2fs, zfs and tmpfs are trusted. Overlay (a container's root: copy-up and
//!   lower-layer changes), FUSE, NFS and other network file systems (inode numbers and
//!   timestamps are the server's word, or made up) are never cached.
//! - a file whose key changed while it was being hashed.
//!
//! What remains: root setting the clock back to stamp a file with an old ctime (root owns the
//! state directory anyway).
//!
//! **The file**: read through a handle of the canonical `<state>/mcp` opened with no symlink
//! on the way (`RESOLVE_NO_SYMLINKS`), `hashes.json` opened `O_NOFOLLOW`, at most
//! [`MAX_FILE`] bytes. It is trusted whole or not at all: unreadable, not JSON of the expected
//! shape, or any entry malformed, and it is ignored and rewritten. Written as a new file
//! (`O_EXCL`, mode 0600) renamed over it, so that concurrent gateways never see a partial
//! file (the last writer wins; it merges what is on disk first); the temporary files a gateway
//! killed mid-write left are removed by the next write. At most [`MAX_ENTRIES`] entries: the
//! oldest stored go first.

use std::collections::BTreeMap;
use std::fs::{File, Metadata};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use cordon_sandbox::handles;
use serde::{Deserialize, Serialize};

/// A file changed less than this long ago (mtime or ctime) is hashed but not stored.
pub const MIN_AGE_MS: u64 = 2_000;
/// Entries kept (the oldest stored are dropped first).
pub const MAX_ENTRIES: usize = 256;
/// A cache file larger than this is ignored (256 entries take about 50 KB).
pub const MAX_FILE: u64 = 1 << 20;
const NAME: &[u8] = b"hashes.json";
const VERSION: u32 = 1;

/// The file systems whose inode numbers and ctimes are trusted to change with the content
/// (`f_type` of fstatfs).
const TRUSTED_FS: &[(u32, &str)] = &[
    (0xEF53, "ext2/3/4"),
    (0x5846_5342, "xfs"),
    (0x9123_683E, "btrfs"),
    (0xF2F5_2010, "f2fs"),
    (0x2FC1_2FC1, "zfs"),
    (0x0102_1994, "tmpfs"),
];

/// Whether files on the file system with magic `f_type` may be cached.
pub fn trusted_fs(f_type: u32) -> bool {
    TRUSTED_FS.iter().any(|(m, _)| *m == f_type)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Entry {
    sha256: String,
    /// The path it was hashed under (for people; not part of the key).
    path: String,
    /// When it was stored (seconds since the epoch): the oldest go first.
    at: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    version: u32,
    /// key (see [`key`]) → entry.
    entries: BTreeMap<String, Entry>,
}

impl Body {
    /// Whether every part is well formed: otherwise nothing of it is used.
    fn valid(&self) -> bool {
        self.version == VERSION
            && self.entries.len() <= MAX_ENTRIES
            && self.entries.iter().all(|(k, e)| {
                valid_key(k)
                    && e.sha256.len() == 64
                    && e.sha256
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
    }
}

/// `dev:ino:size:mtime_sec.mtime_nsec:ctime_sec.ctime_nsec`, from one fstat of the handle.
fn key(m: &Metadata) -> String {
    format!(
        "{}:{}:{}:{}.{:09}:{}.{:09}",
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    )
}

fn valid_key(k: &str) -> bool {
    let parts: Vec<&str> = k.split(':').collect();
    parts.len() == 5
        && parts[..3]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && parts[3..].iter().all(|p| {
            p.split_once('.').is_some_and(|(s, n)| {
                !s.is_empty()
                    && s.trim_start_matches('-')
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                    && n.len() == 9
                    && n.bytes().all(|b| b.is_ascii_digit())
            })
        })
}

/// Nanoseconds since the epoch of a (sec, nsec) timestamp.
fn ns(sec: i64, nsec: i64) -> i128 {
    sec as i128 * 1_000_000_000 + nsec as i128
}

/// The cache of one state directory.
#[derive(Debug, Clone)]
pub struct HashCache {
    dir: PathBuf,
    min_age_ms: u64,
}

impl HashCache {
    /// `dir` is `<state>/mcp` (created if missing).
    pub fn new(dir: PathBuf) -> HashCache {
        HashCache {
            dir,
            min_age_ms: MIN_AGE_MS,
        }
    }

    /// The same with another minimum age (tests: files they just wrote).
    #[doc(hidden)]
    pub fn with_min_age_ms(mut self, ms: u64) -> HashCache {
        self.min_age_ms = ms;
        self
    }

    /// `<state>/mcp/hashes.json`.
    pub fn path(&self) -> PathBuf {
        self.dir.join("hashes.json")
    }

    /// Opens the cache for a few lookups; [`Session::finish`] stores what was hashed.
    pub fn session(&self) -> Session {
        let dir = open_dir(&self.dir).ok();
        let (entries, dirty) = match &dir {
            Some(d) => match read(d) {
                Ok(Some(b)) => (b.entries, false),
                // Absent: nothing to rewrite until something is stored.
                Ok(None) => (BTreeMap::new(), false),
                // Unreadable or damaged: ignored whole, rewritten.
                Err(()) => (BTreeMap::new(), true),
            },
            None => (BTreeMap::new(), false),
        };
        Session {
            dir,
            entries,
            added: BTreeMap::new(),
            dirty,
            min_age_ms: self.min_age_ms,
            hits: 0,
        }
    }
}

fn open_dir(dir: &Path) -> std::io::Result<OwnedFd> {
    std::fs::create_dir_all(dir)?;
    let canon = std::fs::canonicalize(dir)?;
    handles::open_no_symlinks(&canon, libc::O_RDONLY | libc::O_DIRECTORY)
}

/// The cache file: Ok(None) when absent, Err when unreadable or damaged.
fn read(dir: &OwnedFd) -> Result<Option<Body>, ()> {
    let fd = match handles::open_entry(dir.as_fd(), NAME, libc::O_RDONLY) {
        Ok(fd) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(_) => return Err(()),
    };
    let f = File::from(fd);
    let m = f.metadata().map_err(|_| ())?;
    if !m.is_file() || m.len() > MAX_FILE {
        return Err(());
    }
    let mut buf = Vec::new();
    f.take(MAX_FILE + 1).read_to_end(&mut buf).map_err(|_| ())?;
    let body: Body = serde_json::from_slice(&buf).map_err(|_| ())?;
    if !body.valid() {
        return Err(());
    }
    Ok(Some(body))
}

/// One gateway's use of the cache: lookups, then one write of what it hashed.
#[derive(Debug)]
pub struct Session {
    dir: Option<OwnedFd>,
    entries: BTreeMap<String, Entry>,
    added: BTreeMap<String, Entry>,
    dirty: bool,
    min_age_ms: u64,
    hits: usize,
}

impl Session {
    /// How many files were answered from the cache.
    pub fn hits(&self) -> usize {
        self.hits
    }

    /// The SHA-256 (hex) of the regular file `path` (opened once, following symlinks as the
    /// exec would): from the cache when its key is there, else read through the same handle
    /// and stored if it may be. None if it cannot be read or is not a regular file.
    pub fn sha256(&mut self, path: &Path) -> Option<String> {
        let mut f = File::open(path).ok()?;
        let before = f.metadata().ok()?;
        if !before.is_file() {
            return None;
        }
        let k = key(&before);
        let cacheable = self.dir.is_some() && self.cacheable(&f, &before);
        if cacheable {
            if let Some(e) = self.entries.get(&k).or_else(|| self.added.get(&k)) {
                self.hits += 1;
                return Some(e.sha256.clone());
            }
        }
        let h = crate::pins::sha256_of(&mut f)?;
        // Stored only if the file did not change while it was read.
        if cacheable && f.metadata().is_ok_and(|after| key(&after) == k) {
            let at = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            self.added.insert(
                k,
                Entry {
                    sha256: h.clone(),
                    path: path.display().to_string(),
                    at,
                },
            );
        }
        Some(h)
    }

    /// Whether the file open at `f` (whose fstat is `m`) may be looked up and stored: on a
    /// trusted file system, and unchanged for at least the minimum age.
    fn cacheable(&self, f: &File, m: &Metadata) -> bool {
        if !handles::fs_magic(f.as_fd()).is_ok_and(trusted_fs) {
            return false;
        }
        let Ok(now) = SystemTime::now().duration_since(UNIX_EPOCH) else {
            return false;
        };
        let settled = now.as_nanos() as i128 - self.min_age_ms as i128 * 1_000_000;
        ns(m.mtime(), m.mtime_nsec()) < settled && ns(m.ctime(), m.ctime_nsec()) < settled
    }

    /// Stores what was hashed (merged into the file as it is now). Errors are ignored: the
    /// next start hashes again.
    pub fn finish(self) {
        let Some(dir) = self.dir else { return };
        if self.added.is_empty() && !self.dirty {
            return;
        }
        // Another gateway may have written since this one read: keep its entries.
        let mut entries = match read(&dir) {
            Ok(Some(b)) => b.entries,
            _ => BTreeMap::new(),
        };
        entries.extend(self.added);
        while entries.len() > MAX_ENTRIES {
            let Some(oldest) = entries
                .iter()
                .min_by_key(|(k, e)| (e.at, k.to_string()))
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            entries.remove(&oldest);
        }
        let body = Body {
            version: VERSION,
            entries,
        };
        let _ = write(&dir, &body);
    }
}

/// A temporary file older than this was left by a gateway killed while it wrote (a write
/// takes milliseconds). The tests cannot age a file's ctime: any earlier one is stale there.
const STALE_TMP_MS: i64 = if cfg!(test) { 0 } else { 60_000 };

/// Removes the temporary files gateways killed mid-write left (`.hashes.json.*.tmp`, older than
/// [`STALE_TMP_MS`]), by name in the directory's descriptor, never following a link.
fn sweep_stale(dir: &OwnedFd) {
    let mut budget = 10_000;
    let Ok(entries) = handles::read_dir(dir.as_fd(), &mut budget) else {
        return;
    };
    let old = handles::Ts::now().minus_ms(STALE_TMP_MS);
    for e in entries {
        if !(e.name.starts_with(b".hashes.json.") && e.name.ends_with(b".tmp")) {
            continue;
        }
        match handles::statx_at(dir.as_fd(), &e.name, false) {
            Ok(st) if st.is_file() && st.ctime < old => {
                let _ = handles::unlink_at(dir.as_fd(), &e.name);
            }
            _ => {}
        }
    }
}

fn write(dir: &OwnedFd, body: &Body) -> std::io::Result<()> {
    sweep_stale(dir);
    let data = serde_json::to_vec_pretty(body).map_err(std::io::Error::other)?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = format!(".hashes.json.{}.{nanos}.tmp", std::process::id());
    let tmp = tmp.as_bytes();
    let mut f = File::from(handles::create_file_fd(dir.as_fd(), tmp, 0o600)?);
    let r = f
        .write_all(&data)
        .and_then(|_| f.write_all(b"\n"))
        .and_then(|_| handles::replace_at(dir.as_fd(), tmp, NAME));
    if r.is_err() {
        let _ = handles::unlink_at(dir.as_fd(), tmp);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pins::{identity, identity_with};

    /// A scratch directory on a file system the cache trusts (the temporary directory, else
    /// /dev/shm); None when neither is (the caching tests are then skipped, said on stderr).
    fn scratch() -> Option<tempfile::TempDir> {
        for base in [std::env::temp_dir(), PathBuf::from("/dev/shm")] {
            if let Ok(d) = tempfile::tempdir_in(&base) {
                let ok = File::open(d.path())
                    .ok()
                    .and_then(|f| handles::fs_magic(f.as_fd()).ok())
                    .is_some_and(trusted_fs);
                if ok {
                    return Some(d);
                }
            }
        }
        errln!("skipped: no scratch directory on a file system the hash cache trusts");
        None
    }

    /// Files older than 100 ms are cached in these tests (written, then 150 ms later hashed).
    const AGE: u64 = 100;

    fn settle() {
        std::thread::sleep(std::time::Duration::from_millis(AGE + 50));
    }

    /// A server `sh script.sh` with its script in `d`; the cache in `d/state/mcp`.
    fn setup(d: &Path) -> (Vec<String>, HashCache) {
        std::fs::write(d.join("script.sh"), "echo one\n").unwrap();
        let argv = vec!["sh".to_string(), "script.sh".to_string()];
        (
            argv,
            HashCache::new(d.join("state/mcp")).with_min_age_ms(AGE),
        )
    }

    fn id(argv: &[String], d: &Path, c: &HashCache) -> crate::pins::Identity {
        identity_with(argv, None, d, Some(c))
    }

    fn hits(c: &HashCache, p: &Path) -> (usize, Option<String>) {
        let mut s = c.session();
        let h = s.sha256(p);
        let n = s.hits();
        s.finish();
        (n, h)
    }

    #[test]
    fn a_hit_gives_the_identity_of_a_fresh_hash() {
        let Some(d) = scratch() else { return };
        let (argv, c) = setup(d.path());
        settle();
        let fresh = identity(&argv, None, d.path());
        assert_eq!(fresh.files.len(), 2, "{fresh:?}");
        assert_eq!(id(&argv, d.path(), &c), fresh);
        assert!(c.path().is_file());
        // Both files (sh and the script) are answered from the cache now.
        let mut s = c.session();
        for (p, h) in &fresh.files {
            assert_eq!(s.sha256(Path::new(p)).as_ref(), Some(h));
        }
        assert_eq!(s.hits(), 2);
        assert_eq!(id(&argv, d.path(), &c), fresh);
        // A hard link is the same inode: the same entry.
        let script = d.path().join("script.sh");
        std::fs::hard_link(&script, d.path().join("link.sh")).unwrap();
        assert_eq!(
            hits(&c, &d.path().join("link.sh")).0,
            0,
            "the link's ctime changed"
        );
        settle();
        let (_, h) = hits(&c, &script);
        assert_eq!(hits(&c, &d.path().join("link.sh")), (1, h));
    }

    #[test]
    fn the_cache_is_what_answers_a_hit() {
        // Proof that a hit does not read the file: an entry's hash, changed in the cache file,
        // is what comes back (the state directory is trusted; the sandbox cannot reach it).
        let Some(d) = scratch() else { return };
        let (_, c) = setup(d.path());
        let script = d.path().join("script.sh");
        settle();
        let (0, Some(real)) = hits(&c, &script) else {
            panic!("first lookup")
        };
        let text = std::fs::read_to_string(c.path()).unwrap();
        let fake = "ab".repeat(32);
        std::fs::write(c.path(), text.replace(&real, &fake)).unwrap();
        assert_eq!(hits(&c, &script), (1, Some(fake)));
    }

    #[test]
    fn same_size_content_with_mtime_restored_is_seen_by_ctime() {
        let Some(d) = scratch() else { return };
        let (argv, c) = setup(d.path());
        let script = d.path().join("script.sh");
        settle();
        let before = id(&argv, d.path(), &c);
        let m0 = std::fs::metadata(&script).unwrap();
        // Same size, mtime put back (`touch -d`): only the ctime tells.
        std::fs::write(&script, "echo two\n").unwrap();
        let t = std::time::UNIX_EPOCH
            + std::time::Duration::new(m0.mtime() as u64, m0.mtime_nsec() as u32);
        File::options()
            .write(true)
            .open(&script)
            .unwrap()
            .set_modified(t)
            .unwrap();
        let m1 = std::fs::metadata(&script).unwrap();
        assert_eq!(
            (m1.size(), m1.mtime(), m1.mtime_nsec(), m1.ino()),
            (m0.size(), m0.mtime(), m0.mtime_nsec(), m0.ino())
        );
        let after = id(&argv, d.path(), &c);
        assert_ne!(after, before);
        assert_eq!(after, identity(&argv, None, d.path()));
        // And once settled, the new content is what the cache holds.
        settle();
        assert_eq!(id(&argv, d.path(), &c), after);
        assert_eq!(hits(&c, &script).0, 1);
        assert_eq!(id(&argv, d.path(), &c), after);
    }

    #[test]
    fn a_replaced_file_is_a_new_inode() {
        let Some(d) = scratch() else { return };
        let (argv, c) = setup(d.path());
        let script = d.path().join("script.sh");
        settle();
        let before = id(&argv, d.path(), &c);
        let m0 = std::fs::metadata(&script).unwrap();
        let new = d.path().join("new.sh");
        std::fs::write(&new, "echo two\n").unwrap();
        std::fs::rename(&new, &script).unwrap();
        assert_ne!(std::fs::metadata(&script).unwrap().ino(), m0.ino());
        let after = id(&argv, d.path(), &c);
        assert_ne!(after, before);
        assert_eq!(after, identity(&argv, None, d.path()));
    }

    #[test]
    fn a_recent_file_is_not_stored() {
        let Some(d) = scratch() else { return };
        let (_, _) = setup(d.path());
        let c = HashCache::new(d.path().join("state/mcp")); // the default minimum age
        let script = d.path().join("script.sh");
        assert_eq!(hits(&c, &script).0, 0);
        assert_eq!(hits(&c, &script).0, 0);
        assert!(!c.path().exists(), "nothing was stored");
    }

    #[test]
    fn a_damaged_cache_is_ignored_whole_and_rewritten() {
        let Some(d) = scratch() else { return };
        let (argv, c) = setup(d.path());
        let script = d.path().join("script.sh");
        settle();
        let fresh = identity(&argv, None, d.path());
        id(&argv, d.path(), &c);
        let good = std::fs::read_to_string(c.path()).unwrap();
        let fake = "cd".repeat(32);
        let (_, Some(real)) = hits(&c, &script) else {
            panic!()
        };
        let faked = good.replace(&real, &fake);
        // One malformed entry beside a well-formed (faked) one: nothing of the file is used.
        let bad_entry = faked.replacen(
            "\"entries\": {",
            "\"entries\": {\n    \"1:2:3:4.000000000:5.000000000\": {\"sha256\": \"xyz\", \"path\": \"/x\", \"at\": 1},",
            1,
        );
        for damaged in [
            "not json".to_string(),
            good[..good.len() / 2].to_string(),
            String::new(),
            bad_entry,
            faked.replace("\"version\": 1", "\"version\": 2"),
            faked.replacen("\"at\"", "\"extra\": 1, \"at\"", 1),
        ] {
            std::fs::write(c.path(), &damaged).unwrap();
            assert_eq!(id(&argv, d.path(), &c), fresh, "{damaged}");
            let now = std::fs::read_to_string(c.path()).unwrap();
            let body: Body = serde_json::from_str(&now).unwrap();
            assert!(body.valid(), "rewritten: {now}");
            assert!(!now.contains(&fake));
        }
        // A cache file that is a directory, or too large: ignored too.
        std::fs::remove_file(c.path()).unwrap();
        std::fs::write(c.path(), vec![b' '; MAX_FILE as usize + 1]).unwrap();
        assert_eq!(id(&argv, d.path(), &c), fresh);
        assert!(std::fs::metadata(c.path()).unwrap().len() < MAX_FILE);
    }

    #[test]
    fn the_cache_file_is_never_followed_through_a_symlink() {
        let Some(d) = scratch() else { return };
        let (argv, c) = setup(d.path());
        settle();
        let fresh = identity(&argv, None, d.path());
        id(&argv, d.path(), &c);
        // A symlink in its place, to a cache file elsewhere with a faked entry, and to a file
        // that must not be written through it.
        let elsewhere = d.path().join("elsewhere.json");
        let text = std::fs::read_to_string(c.path()).unwrap();
        let fake = "ef".repeat(32);
        let faked = text.replace(&fresh.files[1].1, &fake);
        std::fs::write(&elsewhere, &faked).unwrap();
        std::fs::remove_file(c.path()).unwrap();
        std::os::unix::fs::symlink(&elsewhere, c.path()).unwrap();
        assert_eq!(id(&argv, d.path(), &c), fresh);
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), faked);
        // Rewritten as a regular file (the link itself replaced).
        let m = std::fs::symlink_metadata(c.path()).unwrap();
        assert!(m.is_file());
        assert_eq!(m.mode() & 0o777, 0o600);
        // The state directory reached through a symlink: its canonical path is used.
        let alias = d.path().join("alias");
        std::os::unix::fs::symlink(d.path().join("state"), &alias).unwrap();
        let via = HashCache::new(alias.join("mcp")).with_min_age_ms(AGE);
        assert_eq!(hits(&via, &d.path().join("script.sh")).0, 1);
    }

    /// A gateway killed while it wrote left `.hashes.json.<pid>.<ns>.tmp`: the next save removes
    /// it (older than a write takes), and nothing else.
    #[test]
    fn leftovers_of_a_killed_writer_go() {
        let Some(d) = scratch() else { return };
        let c = HashCache::new(d.path().join("state/mcp")).with_min_age_ms(AGE);
        let f = d.path().join("f");
        std::fs::write(&f, "x").unwrap();
        std::fs::create_dir_all(d.path().join("state/mcp")).unwrap();
        let left = d.path().join("state/mcp/.hashes.json.4000000.17.tmp");
        let other = d.path().join("state/mcp/notes.tmp");
        std::fs::write(&left, "{").unwrap();
        std::fs::write(&other, "mine").unwrap();
        settle();
        let mut s = c.session();
        s.sha256(&f);
        s.finish();
        assert!(!left.exists(), "the leftover stayed");
        assert!(other.exists());
        assert!(c.path().exists());
    }

    #[test]
    fn bounded_and_merged() {
        let Some(d) = scratch() else { return };
        let c = HashCache::new(d.path().join("state/mcp")).with_min_age_ms(AGE);
        let files: Vec<PathBuf> = (0..MAX_ENTRIES + 10)
            .map(|i| {
                let p = d.path().join(format!("f{i}"));
                std::fs::write(&p, format!("{i}")).unwrap();
                p
            })
            .collect();
        settle();
        // Two sessions open at once (two gateways): each keeps the other's entries.
        let mut a = c.session();
        let mut b = c.session();
        a.sha256(&files[0]);
        b.sha256(&files[1]);
        a.finish();
        b.finish();
        assert_eq!(hits(&c, &files[0]).0, 1);
        assert_eq!(hits(&c, &files[1]).0, 1);
        let mut s = c.session();
        for f in &files {
            s.sha256(f);
        }
        s.finish();
        let body: Body = serde_json::from_slice(&std::fs::read(c.path()).unwrap()).unwrap();
        assert!(body.valid());
        assert_eq!(body.entries.len(), MAX_ENTRIES);
        // No temporary file left behind.
        let left: Vec<_> = std::fs::read_dir(d.path().join("state/mcp"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("hashes.json")]);
    }

    #[test]
    fn keys_and_file_systems() {
        assert!(valid_key(
            "2049:1234:99:1700000000.000000001:1700000000.123456789"
        ));
        assert!(!valid_key("2049:1234:99:1700000000.1:1700000000.123456789"));
        assert!(!valid_key("2049:1234:99:1700000000.000000001"));
        assert!(!valid_key("x:1234:99:1.000000000:1.000000000"));
        assert!(trusted_fs(0xEF53));
        assert!(!trusted_fs(0x794C_7630), "overlay");
        assert!(!trusted_fs(0x6573_5546), "fuse");
        assert!(!trusted_fs(0x6969), "nfs");
    }
}
