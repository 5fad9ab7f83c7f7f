//! Appending records. Under an exclusive `flock` on `audit.head`, a writer finds the chain's
//! tail, writes the record with one `write(2)` on an `O_APPEND` descriptor, and lets go.
//!
//! The tail: when the log still ends where this writer's last record ended and is not marked
//! as rotated (one `fstat`), it is that record; otherwise
//! (another writer appended, rotated, or this is the first record) it is read from the end of
//! the log (never the whole file), and a torn last line is sealed with a `recovery` record.
//!
//! Checkpoints: at every sync point (a deny, an approval, the end of a session, a rotation, a
//! recovery) the log is fsync'd, then `audit.head` gets the last record's seq, hash and end
//! offset. `verify` reports a log that ends before its head as truncated.
//!
//! Rotation: the full file is marked read-only (mode 0400: other writers see it in the
//! `fstat` they do anyway), renamed `audit.<last seq>.jsonl`, and a new file started.
//!
//! The generation: a counter in `audit.head` (bytes 128..136), mapped shared by every writer.
//! Under the lock, before it changes anything (a record, a seal, a rotation), a writer bumps
//! it; after its append it remembers the value. If the counter still holds that value at its
//! next append, nobody else touched the log meanwhile, and the `fstat` is skipped: one system
//! call fewer on the fast path (lock, write, unlock). Bumping *before* the change is what makes
//! a writer that dies half-way safe: the others see a new value and read the log's tail.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};

use serde::Serialize;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::text::SafeFormatter;
use crate::{hex, io_err, sha256, unhex32, Error, Event, HEAD_NAME, LOG_NAME};

/// Rotation threshold of `audit.jsonl`.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;

/// `{seq:020} {hash:64} {size:020}\n`
const HEAD_LEN: usize = 20 + 1 + 64 + 1 + 20 + 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub seq: u64,
    pub hash: [u8; 32],
    /// Size of `audit.jsonl` after the record `seq`.
    pub size: u64,
}

impl Head {
    fn bytes(&self) -> Vec<u8> {
        format!("{:020} {} {:020}\n", self.seq, hex(&self.hash), self.size).into_bytes()
    }

    pub(crate) fn parse(b: &[u8]) -> Option<Head> {
        if b.len() < HEAD_LEN || b[20] != b' ' || b[85] != b' ' || b[106] != b'\n' {
            return None;
        }
        let seq = std::str::from_utf8(&b[..20]).ok()?.parse().ok()?;
        let hash = unhex32(&b[21..85])?;
        let size = std::str::from_utf8(&b[86..106]).ok()?.parse().ok()?;
        Some(Head { seq, hash, size })
    }

    pub(crate) fn read(dir: &Path) -> Option<Head> {
        let b = std::fs::read(dir.join(HEAD_NAME)).ok()?;
        Head::parse(&b)
    }
}

/// Where the generation counter lives in `audit.head` (after the head line, see `Head`).
const GEN_OFFSET: usize = 128;

/// The shared mapping of the first page of `audit.head`, for the generation counter (only
/// touched under the exclusive flock, through atomics).
struct GenPage(cordon_sandbox::host::SharedCounter);

impl GenPage {
    /// Maps the head file's first page shared (growing the file to hold the counter). None if
    /// anything fails: the writer then always takes the `fstat` path.
    fn map(head: &File) -> Option<GenPage> {
        use std::os::fd::AsFd;
        let len = head.metadata().ok()?.len();
        if len < (GEN_OFFSET + 8) as u64 {
            // Under no lock: set_len only grows here, and concurrent growers agree on the size.
            head.set_len((GEN_OFFSET + 8) as u64).ok()?;
        }
        cordon_sandbox::host::SharedCounter::map(head.as_fd(), GEN_OFFSET).map(GenPage)
    }

    fn counter(&self) -> &std::sync::atomic::AtomicU64 {
        self.0.get()
    }
}

/// Appends records to the log in one directory. Several writers (threads or processes) may
/// append to the same directory at once: each record is placed under the lock.
pub struct Writer {
    dir: PathBuf,
    log: File,
    /// Shared with the lock guard of an append, which must not borrow the writer.
    head: std::sync::Arc<File>,
    session: String,
    max_bytes: u64,
    line: Vec<u8>,
    body: Vec<u8>,
    /// This writer's last record (and the log's size after it).
    cached: Option<Head>,
    /// `cached` is in the head file.
    checkpointed: bool,
    /// The shared generation counter, and its value after this writer's last append.
    gen: Option<GenPage>,
    seen_gen: Option<u64>,
}

/// Mode of a log file that was rotated away (or is being rotated).
const ROTATED_MODE: u32 = 0o400;

/// The exclusive lock on `audit.head`, released when dropped.
struct Lock(std::sync::Arc<File>);

impl Lock {
    fn take(f: &std::sync::Arc<File>) -> std::io::Result<Lock> {
        cordon_sandbox::host::flock(f, libc::LOCK_EX)?;
        Ok(Lock(f.clone()))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = cordon_sandbox::host::flock(&self.0, libc::LOCK_UN);
    }
}

fn open_log(dir: &Path) -> Result<File, Error> {
    let p = dir.join(LOG_NAME);
    OpenOptions::new()
        .append(true)
        .read(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&p)
        .map_err(|e| io_err(format!("cannot open the audit log {}", p.display()), e))
}

/// The last complete line of `f` (of size `size`) ending at or before `end`: (start, bytes).
fn last_line(f: &File, end: u64) -> std::io::Result<Option<(u64, Vec<u8>)>> {
    // `end` is just past a '\n'; find the '\n' before it, reading backwards in growing chunks.
    if end == 0 {
        return Ok(None);
    }
    let mut chunk = 4096u64;
    loop {
        let start = end.saturating_sub(chunk);
        let mut buf = vec![0u8; (end - start) as usize];
        f.read_exact_at(&mut buf, start)?;
        let body = &buf[..buf.len() - 1];
        if let Some(i) = body.iter().rposition(|&c| c == b'\n') {
            return Ok(Some((start + i as u64 + 1, body[i + 1..].to_vec())));
        }
        if start == 0 {
            return Ok(Some((0, body.to_vec())));
        }
        chunk *= 4;
    }
}

/// The seq of a record line (without parsing the rest).
pub(crate) fn seq_of(line: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct S {
        seq: u64,
    }
    serde_json::from_slice::<S>(line).ok().map(|s| s.seq)
}

struct Torn {
    offset: u64,
    bytes: Vec<u8>,
}

impl Writer {
    /// Opens (creating it, mode 0700) the log directory `dir` with a new random session id.
    pub fn open(dir: &Path) -> Result<Writer, Error> {
        Writer::open_with(dir, crate::new_session_id(), DEFAULT_MAX_BYTES)
    }

    /// Creates the log directory (mode 0700) if needed.
    pub fn create_dir(dir: &Path) -> Result<(), Error> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                io_err(
                    format!("cannot create the audit directory {}", dir.display()),
                    e,
                )
            })
    }

    pub fn open_with(dir: &Path, session: String, max_bytes: u64) -> Result<Writer, Error> {
        Writer::create_dir(dir)?;
        let hp = dir.join(HEAD_NAME);
        let head = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&hp)
            .map_err(|e| io_err(format!("cannot open the audit lock {}", hp.display()), e))?;
        let log = open_log(dir)?;
        let gen = GenPage::map(&head);
        Ok(Writer {
            dir: dir.to_path_buf(),
            log,
            head: std::sync::Arc::new(head),
            session,
            max_bytes: max_bytes.max(1),
            line: Vec::with_capacity(512),
            body: Vec::with_capacity(512),
            cached: None,
            checkpointed: true,
            gen,
            seen_gen: None,
        })
    }

    pub fn session(&self) -> &str {
        &self.session
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one event; returns its seq. fsyncs when [`Event::needs_sync`].
    pub fn append(&mut self, ev: &Event) -> Result<u64, Error> {
        self.body.clear();
        let mut ser = serde_json::Serializer::with_formatter(&mut self.body, SafeFormatter);
        ev.serialize(&mut ser).map_err(Error::Encode)?;
        let _lock = Lock::take(&self.head).map_err(|e| io_err("cannot lock the audit log", e))?;
        let (mut head, torn) = self.tail()?;
        // Announce the change before making it (see the module comment).
        let bumped = self.gen.as_ref().map(|g| {
            let c = g.counter();
            let v = c.load(std::sync::atomic::Ordering::SeqCst).wrapping_add(1);
            c.store(v, std::sync::atomic::Ordering::SeqCst);
            v
        });
        self.seen_gen = None;
        let mut out = Vec::new();
        let mut checkpoint = ev.needs_sync();
        if let Some(t) = torn {
            checkpoint = true;
            // Seal: end the torn line, then a recovery record chained to the last good one.
            out.push(b'\n');
            head.size += 1;
            let rec = Event::Recovery {
                torn_bytes: t.bytes.len() as u64,
                torn_sha256: hex(&sha256(&t.bytes)),
                torn_offset: t.offset,
            };
            let mut body = Vec::new();
            let mut ser = serde_json::Serializer::with_formatter(&mut body, SafeFormatter);
            rec.serialize(&mut ser).map_err(Error::Encode)?;
            head = self.build_line(head, &body);
            out.extend_from_slice(&self.line);
        }
        if head.size > 0
            && head.size + (out.len() + self.body.len() + 200) as u64 > self.max_bytes
            && out.is_empty()
        {
            self.rotate(head.seq)?;
            head.size = 0;
            checkpoint = true;
        }
        let body = std::mem::take(&mut self.body);
        head = self.build_line(head, &body);
        self.body = body;
        let out = if out.is_empty() {
            &self.line
        } else {
            out.extend_from_slice(&self.line);
            &out
        };
        // One write(2) of whole lines; O_APPEND places it at the end.
        let n = self.log.write(out).map_err(|e| {
            io_err(
                format!("cannot write the audit log in {}", self.dir.display()),
                e,
            )
        })?;
        if n != out.len() {
            return Err(Error::Log(format!(
                "cannot write the audit log in {}: short write ({n} of {} bytes; disk full?)",
                self.dir.display(),
                out.len()
            )));
        }
        self.cached = Some(head);
        self.seen_gen = bumped;
        self.checkpointed = false;
        if checkpoint {
            self.checkpoint_locked()?;
        }
        Ok(head.seq)
    }

    /// fsync of the log, then the head records this writer's last record (unless another
    /// writer's checkpoint is already further). Under the lock.
    fn checkpoint_locked(&mut self) -> Result<(), Error> {
        self.log
            .sync_data()
            .map_err(|e| io_err("cannot fsync the audit log", e))?;
        if let Some(c) = self.cached {
            let cur = self.read_head();
            if cur.is_none_or(|h| h.seq < c.seq) {
                // Not fsync'd: a head lost in a crash is an older checkpoint (less to check,
                // never a false alarm); the log it points to is already on disk.
                self.head
                    .write_all_at(&c.bytes(), 0)
                    .map_err(|e| io_err("cannot write the audit head", e))?;
            }
        }
        self.checkpointed = true;
        Ok(())
    }

    fn read_head(&self) -> Option<Head> {
        let mut hb = [0u8; HEAD_LEN];
        match self.head.read_at(&mut hb, 0) {
            Ok(n) if n == HEAD_LEN => Head::parse(&hb),
            _ => None,
        }
    }

    /// Formats the record after `head` with `body` (`{"event":…}`) into `self.line` (with the
    /// newline); returns the new head.
    fn build_line(&mut self, head: Head, body: &[u8]) -> Head {
        let seq = head.seq + 1;
        self.line.clear();
        // The session id is ours (hex), the timestamp is ours: no escaping needed.
        self.line.extend_from_slice(b"{\"seq\":");
        let _ = write!(self.line, "{seq}");
        self.line.extend_from_slice(b",\"ts\":\"");
        crate::time::write_rfc3339_ms(&mut self.line, crate::now_ms());
        self.line.extend_from_slice(b"\",\"session\":\"");
        self.line.extend_from_slice(self.session.as_bytes());
        self.line.extend_from_slice(b"\",\"prev\":\"");
        crate::hex_into(&mut self.line, &head.hash);
        self.line.extend_from_slice(b"\",");
        self.line.extend_from_slice(&body[1..]);
        let hash = sha256(&self.line);
        self.line.push(b'\n');
        Head {
            seq,
            hash,
            size: head.size + self.line.len() as u64,
        }
    }

    /// A checkpoint: fsync of the log, then the head. Done at every sync point and when the
    /// writer is dropped (the end of a session).
    pub fn sync(&mut self) -> Result<(), Error> {
        let _lock = Lock::take(&self.head).map_err(|e| io_err("cannot lock the audit log", e))?;
        self.checkpoint_locked()
    }

    /// The chain's tail: this writer's last record when nothing happened since, else read
    /// from the end of the log.
    fn tail(&mut self) -> Result<(Head, Option<Torn>), Error> {
        // Nobody bumped the generation since our last append: the log is as we left it.
        if let (Some(c), Some(seen), Some(g)) = (self.cached, self.seen_gen, self.gen.as_ref()) {
            if g.counter().load(std::sync::atomic::Ordering::SeqCst) == seen {
                return Ok((c, None));
            }
        }
        // fstat(2) rather than std's statx: this is the one stat of the slower path.
        let (st_mode, st_size) =
            cordon_sandbox::host::fstat(&self.log).map_err(|e| io_err("audit log", e))?;
        let marked = st_mode & 0o777 == ROTATED_MODE;
        if let Some(c) = self.cached {
            // Another writer's record changes the size; its rotation marks the file first.
            if !marked && c.size == st_size {
                return Ok((c, None));
            }
        }
        let meta = self.log.metadata().map_err(|e| io_err("audit log", e))?;
        // Another process may have rotated: follow the name.
        let p = self.dir.join(LOG_NAME);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.ino() == meta.ino() && m.dev() == meta.dev() => {
                if marked {
                    // A rotation that did not finish (its writer died): finish it.
                    let (h, _) = self.tail_from_log(meta.len())?;
                    self.rotate(h.seq)?;
                    return self.tail();
                }
            }
            _ => {
                self.log = open_log(&self.dir)?;
                let m = self.log.metadata().map_err(|e| io_err("audit log", e))?;
                if m.mode() & 0o777 == ROTATED_MODE && m.len() == 0 {
                    return Err(Error::Log(format!(
                        "{} is read-only (mode 0400); make it writable (chmod 600) or move it aside",
                        p.display()
                    )));
                }
                return self.tail();
            }
        }
        self.tail_from_log(meta.len())
    }

    fn tail_from_log(&mut self, size: u64) -> Result<(Head, Option<Torn>), Error> {
        let p = self.dir.join(LOG_NAME);
        let mut torn = None;
        let mut end = size;
        if size > 0 {
            let mut last = [0u8; 1];
            self.log
                .read_exact_at(&mut last, size - 1)
                .map_err(|e| io_err(format!("cannot read {}", p.display()), e))?;
            if last[0] != b'\n' {
                // A torn last line: from the last '\n' (or the start) to the end.
                let start = last_line_start(&self.log, size)
                    .map_err(|e| io_err(format!("cannot read {}", p.display()), e))?
                    .unwrap_or_default();
                let mut bytes = vec![0u8; (size - start) as usize];
                self.log
                    .read_exact_at(&mut bytes, start)
                    .map_err(|e| io_err(format!("cannot read {}", p.display()), e))?;
                torn = Some(Torn {
                    offset: start,
                    bytes,
                });
                end = start;
            }
        }
        let good = last_line(&self.log, end)
            .map_err(|e| io_err(format!("cannot read {}", p.display()), e))?;
        let (seq, hash) = match good {
            Some((start, line)) => match seq_of(&line) {
                Some(s) => (s, sha256(&line)),
                None => {
                    return Err(Error::Log(format!(
                        "the last record of {} (at byte {start}) is not a cordon audit record; \
                         run 'cordon audit verify', then move the file aside to start a new chain",
                        p.display()
                    )))
                }
            },
            None => self.tail_of_rotated()?,
        };
        Ok((Head { seq, hash, size }, torn))
    }

    /// The last record of the newest rotated file, or the genesis.
    fn tail_of_rotated(&self) -> Result<(u64, [u8; 32]), Error> {
        let files = crate::log_files(&self.dir)?;
        let Some(last) = files.iter().rev().find(|p| !p.ends_with(LOG_NAME)) else {
            return Ok((0, [0u8; 32]));
        };
        let mut f = File::open(last).map_err(|e| io_err(format!("{}", last.display()), e))?;
        let size = f
            .seek(SeekFrom::End(0))
            .map_err(|e| io_err(format!("{}", last.display()), e))?;
        let mut lastb = [0u8; 1];
        if size == 0 || f.read_exact_at(&mut lastb, size - 1).is_err() || lastb[0] != b'\n' {
            return Err(Error::Log(format!(
                "the rotated audit file {} does not end with a whole record; run 'cordon audit verify'",
                last.display()
            )));
        }
        match last_line(&f, size).map_err(|e| io_err(format!("{}", last.display()), e))? {
            Some((_, line)) => match seq_of(&line) {
                Some(s) => Ok((s, sha256(&line))),
                None => Err(Error::Log(format!(
                    "the last record of {} is not a cordon audit record; run 'cordon audit verify'",
                    last.display()
                ))),
            },
            None => Ok((0, [0u8; 32])),
        }
    }

    fn rotate(&mut self, last_seq: u64) -> Result<(), Error> {
        let from = self.dir.join(LOG_NAME);
        let to = self.dir.join(format!("audit.{last_seq:012}.jsonl"));
        if to.exists() {
            return Err(Error::Log(format!(
                "cannot rotate the audit log: {} exists; run 'cordon audit verify'",
                to.display()
            )));
        }
        // Marked first: a writer holding the old file sees the mark before it writes.
        let _ = self
            .log
            .set_permissions(std::fs::Permissions::from_mode(ROTATED_MODE));
        let _ = self.log.sync_all();
        std::fs::rename(&from, &to)
            .map_err(|e| io_err(format!("cannot rotate {}", from.display()), e))?;
        self.log = open_log(&self.dir)?;
        Ok(())
    }
}

/// Start offset of the last (unterminated) line of `f` of size `size`.
fn last_line_start(f: &File, size: u64) -> std::io::Result<Option<u64>> {
    let mut chunk = 4096u64;
    let mut end = size;
    loop {
        let start = end.saturating_sub(chunk);
        let mut buf = vec![0u8; (end - start) as usize];
        f.read_exact_at(&mut buf, start)?;
        if let Some(i) = buf.iter().rposition(|&c| c == b'\n') {
            return Ok(Some(start + i as u64 + 1));
        }
        if start == 0 {
            return Ok(None);
        }
        end = start;
        chunk *= 4;
    }
}

impl Drop for Writer {
    /// The end of a session: fsync and checkpoint what this writer appended.
    fn drop(&mut self) {
        if !self.checkpointed && self.cached.is_some() {
            let _ = self.sync();
        }
    }
}
