//! cordon-audit: the audit log. Hash-chained JSON lines, written by the supervising process
//! (never inside the sandbox), one `write(2)` per record on an `O_APPEND` descriptor, under an
//! exclusive `flock` so that concurrent cordon processes keep a single chain.
//!
//! Layout of the log directory (see [`default_dir`]):
//! - `audit.jsonl`: the current file; `audit.NNNNNNNNNNNN.jsonl`: rotated files, named after the
//!   seq of their last record (so name order is chain order);
//! - `audit.head`: the lock file, which also holds the chain's head (last seq, its hash, the
//!   size of `audit.jsonl` after it) so that a writer never re-reads the log, and `verify` can
//!   tell a truncated log from an intact one.
//!
//! Each line is one record: `{"seq":N,"ts":"…","session":"…","prev":"<sha256 hex of the
//! previous line>","event":"…",…fields}`. The first record of a chain has `prev` = 64 zeros.
#![forbid(unsafe_code)]
// cordon's output goes through `out!`/`outln!`/`errln!` (cordon_pipeline::out): `print!`,
// `println!` and `eprintln!` panic when the pipe's reader is gone (`cordon ... | head`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

mod error;
mod event;
pub mod otlp;
pub mod read;
pub mod report;
mod text;
mod time;
pub mod verify;
mod writer;

pub use event::Event;
pub use text::{b64_decode, b64_encode, term_safe, Text};
pub use time::{now_ms, parse_rfc3339_ms, rfc3339_ms};
pub use writer::{Writer, DEFAULT_MAX_BYTES};

/// The current log file in the directory.
pub const LOG_NAME: &str = "audit.jsonl";
/// The lock file, which also holds the chain head.
pub const HEAD_NAME: &str = "audit.head";
/// `prev` of the first record of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub(crate) use error::io_err;
pub use error::Error;

/// The default log directory: `$XDG_STATE_HOME/cordon/audit`, else
/// `$HOME/.local/state/cordon/audit`. (`--audit-dir` and `CORDON_AUDIT_DIR` are the caller's.)
pub fn default_dir() -> Result<PathBuf, Error> {
    if let Some(x) = std::env::var_os("XDG_STATE_HOME") {
        let p = PathBuf::from(x);
        if p.is_absolute() {
            return Ok(p.join("cordon").join("audit"));
        }
    }
    match std::env::var_os("HOME") {
        Some(h) if Path::new(&h).is_absolute() => Ok(PathBuf::from(h)
            .join(".local")
            .join("state")
            .join("cordon")
            .join("audit")),
        _ => Err(Error::Log(
            "no audit directory: neither XDG_STATE_HOME nor HOME is set to an absolute path; \
             pass --audit-dir DIR or set CORDON_AUDIT_DIR"
                .into(),
        )),
    }
}

/// SHA-256 of `data`, as lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&sha256(data))
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

pub(crate) fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

pub(crate) fn hex_into(out: &mut Vec<u8>, b: &[u8]) {
    const H: &[u8; 16] = b"0123456789abcdef";
    for &x in b {
        out.push(H[(x >> 4) as usize]);
        out.push(H[(x & 15) as usize]);
    }
}

pub(crate) fn unhex32(s: &[u8]) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        let d = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        *o = (d(s[2 * i])? << 4) | d(s[2 * i + 1])?;
    }
    Some(out)
}

/// The log files of `dir` in chain order: rotated files by number, then `audit.jsonl`.
pub fn log_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let rd = std::fs::read_dir(dir).map_err(|e| io_err(format!("{}", dir.display()), e))?;
    let mut rotated: Vec<(u64, PathBuf)> = Vec::new();
    let mut current = None;
    for ent in rd.flatten() {
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == LOG_NAME {
            current = Some(ent.path());
        } else if let Some(n) = name
            .strip_prefix("audit.")
            .and_then(|r| r.strip_suffix(".jsonl"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            rotated.push((n, ent.path()));
        }
    }
    rotated.sort();
    let mut v: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    v.extend(current);
    Ok(v)
}

/// A random session id (16 hex digits) from the kernel's generator.
pub fn new_session_id() -> String {
    let mut b = [0u8; 8];
    if !cordon_sandbox::host::random_bytes(&mut b) {
        // No getrandom: time and pid are unique enough for a session label.
        let t = now_ms() as u64 ^ ((std::process::id() as u64) << 40);
        b = t.to_le_bytes();
    }
    hex(&b)
}
