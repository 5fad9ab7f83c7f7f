//! Walking the chain: every record's `prev` must be the SHA-256 of the line before it, and the
//! seqs must follow each other; the end must match `audit.head`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::writer::Head;
use crate::{hex, io_err, sha256, unhex32, Error};

/// Where a record is: file, line (1-based), seq when it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: u64,
    pub seq: Option<u64>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} line {}", self.file.display(), self.line)?;
        if let Some(s) = self.seq {
            write!(f, " (seq {s})")?;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct Report {
    /// Records in the chain.
    pub records: u64,
    pub files: Vec<PathBuf>,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// SHA-256 (hex) of the last record.
    pub last_hash: Option<String>,
    /// Hash and place of the record whose seq is the head's.
    hash_at_head: Option<([u8; 32], Location)>,
    /// Place of the last record of the chain.
    last_at: Option<Location>,
    /// Torn lines that a later writer sealed with a recovery record.
    pub sealed: Vec<Location>,
    /// A torn last line (a crash mid-write), not yet sealed: not tampering.
    pub torn: Option<(Location, u64)>,
    /// The first break of the chain.
    pub problem: Option<(Location, String)>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn intact(&self) -> bool {
        self.problem.is_none()
    }
}

#[derive(Deserialize)]
struct Hdr<'a> {
    seq: u64,
    #[serde(borrow)]
    prev: &'a str,
    #[serde(borrow)]
    event: &'a str,
    #[serde(default, borrow)]
    torn_sha256: Option<&'a str>,
}

fn hdr(line: &[u8]) -> Option<Hdr<'_>> {
    fast_hdr(line).or_else(|| serde_json::from_slice::<Hdr>(line).ok())
}

/// The header as the writer lays it out (`{"seq":N,"ts":"…","session":"…","prev":"…","event":"…"`),
/// read without a JSON parser; anything else (and recovery records) goes to serde_json. The rest
/// of the line is covered by the hash of the next record.
fn fast_hdr(line: &[u8]) -> Option<Hdr<'_>> {
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let n = rest.iter().position(|c| !c.is_ascii_digit())?;
    if n == 0 || n > 19 || (n > 1 && rest[0] == b'0') {
        return None;
    }
    let seq: u64 = std::str::from_utf8(&rest[..n]).ok()?.parse().ok()?;
    let rest = rest[n..].strip_prefix(b",\"ts\":\"")?;
    let q = memchr::memchr(b'"', rest)?;
    let rest = rest[q + 1..].strip_prefix(b",\"session\":\"")?;
    let q = memchr::memchr(b'"', rest)?;
    let rest = rest[q + 1..].strip_prefix(b",\"prev\":\"")?;
    if rest.len() < 65 || rest[64] != b'"' {
        return None;
    }
    let prev = std::str::from_utf8(&rest[..64]).ok()?;
    let rest = rest[65..].strip_prefix(b",\"event\":\"")?;
    let q = memchr::memchr(b'"', rest)?;
    let event = std::str::from_utf8(&rest[..q]).ok()?;
    if event == "recovery" || event.contains('\\') {
        return None;
    }
    Some(Hdr {
        seq,
        prev,
        event,
        torn_sha256: None,
    })
}

#[derive(Clone, Copy)]
struct State {
    seq: u64,
    hash: [u8; 32],
}

/// Verifies a log directory (every file in order, then the head) or one file.
pub fn verify_path(p: &Path) -> Result<Report, Error> {
    let meta = std::fs::metadata(p).map_err(|e| io_err(format!("{}", p.display()), e))?;
    if meta.is_dir() {
        let files = crate::log_files(p)?;
        let head = Head::read(p);
        let mut r = verify_files(&files, true, head.map(|h| h.seq))?;
        check_head(p, head, &mut r);
        Ok(r)
    } else {
        verify_files(&[p.to_path_buf()], false, None)
    }
}

/// The head is the last checkpoint: the log must reach it, and hold that very record.
fn check_head(dir: &Path, head: Option<Head>, r: &mut Report) {
    if r.problem.is_some() {
        return;
    }
    let Some(head) = head else {
        if r.records > 0 {
            r.notes.push(
                "no readable audit.head (no checkpoint yet): the end of the log cannot be checked for truncation"
                    .into(),
            );
        }
        return;
    };
    let last = r.last_seq.unwrap_or(0);
    let at = r.last_at.clone().unwrap_or_else(|| Location {
        file: dir.join(crate::LOG_NAME),
        line: 0,
        seq: None,
    });
    if head.seq > last {
        r.problem = Some((
            at,
            format!(
                "the log ends at seq {last} but audit.head records seq {}: records were removed from the end (truncated)",
                head.seq
            ),
        ));
    } else if head.seq > 0 && r.hash_at_head.as_ref().map(|h| h.0) != Some(head.hash) {
        r.problem = Some((
            r.hash_at_head.as_ref().map(|h| h.1.clone()).unwrap_or(at),
            format!(
                "the record seq {} (the last checkpoint) does not match audit.head: it was edited or replaced",
                head.seq
            ),
        ));
    }
}

/// A byte range of a line (without its newline).
type Span = (usize, usize);

/// The whole lines of `buf`, and the torn rest when it does not end with a newline.
fn lines(buf: &[u8]) -> (Vec<Span>, Option<Span>) {
    let mut v = Vec::with_capacity(buf.len() / 200 + 1);
    let mut start = 0;
    while let Some(i) = memchr::memchr(b'\n', &buf[start..]) {
        v.push((start, start + i));
        start += i + 1;
    }
    let torn = (start < buf.len()).then_some((start, buf.len()));
    (v, torn)
}

fn verify_files(
    files: &[PathBuf],
    whole_chain: bool,
    head_seq: Option<u64>,
) -> Result<Report, Error> {
    let mut r = Report {
        files: files.to_vec(),
        ..Default::default()
    };
    let mut st: Option<State> = None;
    // Before the last accepted line, and that line's hash and location (to undo it when a
    // recovery record shows it was a torn line that happened to parse).
    let mut before: Option<State> = None;
    let mut last_loc: Option<Location> = None;
    for (fi, file) in files.iter().enumerate() {
        let buf = std::fs::read(file)
            .map_err(|e| io_err(format!("cannot read {}", file.display()), e))?;
        let (ls, torn) = lines(&buf);
        let is_last_file = fi + 1 == files.len();
        let mut i = 0;
        while i < ls.len() {
            let (a, b) = ls[i];
            let line = &buf[a..b];
            let loc = |seq| Location {
                file: file.clone(),
                line: i as u64 + 1,
                seq,
            };
            let h = hdr(line);
            let result: Result<&Hdr, String> = match &h {
                None => Err("not a JSON audit record (edited, or inserted)".into()),
                Some(h) => {
                    check(h, st, whole_chain && r.records == 0 && fi == 0 && i == 0).map(|_| h)
                }
            };
            match result {
                Ok(h) => {
                    before = st;
                    st = Some(State {
                        seq: h.seq,
                        hash: sha256(line),
                    });
                    if head_seq == Some(h.seq) {
                        r.hash_at_head = Some((sha256(line), loc(Some(h.seq))));
                    }
                    if r.first_seq.is_none() {
                        r.first_seq = Some(h.seq);
                    }
                    r.records += 1;
                    last_loc = Some(loc(Some(h.seq)));
                    r.last_at = last_loc.clone();
                    i += 1;
                }
                Err(why) => {
                    // A recovery record that seals the line before it, which parsed by chance?
                    if let (Some(h), Some(prev_loc)) = (&h, &last_loc) {
                        if h.event == "recovery" && i > 0 {
                            let (pa, pb) = ls[i - 1];
                            let prev_sha = hex(&sha256(&buf[pa..pb]));
                            if h.torn_sha256 == Some(prev_sha.as_str())
                                && check(h, before, false).is_ok()
                            {
                                r.sealed.push(prev_loc.clone());
                                r.records -= 1;
                                st = before;
                                continue;
                            }
                        }
                    }
                    // A torn line sealed by the recovery record after it?
                    if let Some(&(na, nb)) = ls.get(i + 1) {
                        if let Some(n) = hdr(&buf[na..nb]) {
                            if n.event == "recovery"
                                && n.torn_sha256 == Some(hex(&sha256(line)).as_str())
                            {
                                r.sealed.push(loc(h.as_ref().map(|h| h.seq)));
                                i += 1;
                                continue;
                            }
                        }
                    }
                    r.problem = Some((loc(h.as_ref().map(|h| h.seq)), why));
                    r.last_seq = st.map(|s| s.seq);
                    return Ok(r);
                }
            }
        }
        if let Some((a, b)) = torn {
            let at = Location {
                file: file.clone(),
                line: ls.len() as u64 + 1,
                seq: None,
            };
            if is_last_file {
                r.torn = Some((at, (b - a) as u64));
            } else {
                r.problem = Some((
                    at,
                    "a torn line in the middle of the chain (a rotated file does not end with a whole record)".into(),
                ));
                r.last_seq = st.map(|s| s.seq);
                return Ok(r);
            }
        }
    }
    r.last_seq = st.map(|s| s.seq);
    r.last_hash = st.map(|s| hex(&s.hash));
    Ok(r)
}

fn check(h: &Hdr<'_>, st: Option<State>, first_of_chain: bool) -> Result<(), String> {
    match st {
        Some(s) => {
            if h.seq != s.seq + 1 {
                return Err(if h.seq > s.seq + 1 {
                    if h.seq == s.seq + 2 {
                        format!(
                            "expected seq {} after seq {}, found seq {}: a record was removed (or records were reordered)",
                            s.seq + 1,
                            s.seq,
                            h.seq
                        )
                    } else {
                        format!(
                            "expected seq {} after seq {}, found seq {}: records {}..{} were removed (or records were reordered)",
                            s.seq + 1,
                            s.seq,
                            h.seq,
                            s.seq + 1,
                            h.seq - 1
                        )
                    }
                } else {
                    format!(
                        "seq {} comes after seq {}: records were reordered, or one was inserted",
                        h.seq, s.seq
                    )
                });
            }
            match unhex32(h.prev.as_bytes()) {
                Some(p) if p == s.hash => Ok(()),
                _ => Err(format!(
                    "its prev hash does not match the record before it (seq {}): that record was edited, or this one was inserted or moved",
                    s.seq
                )),
            }
        }
        None => {
            if h.seq == 1 && h.prev != crate::GENESIS {
                return Err(
                    "seq 1 does not start a chain (its prev is not the genesis hash): edited"
                        .into(),
                );
            }
            if first_of_chain && h.seq != 1 {
                return Err(format!(
                    "the chain starts at seq {}: records 1..{} are missing (deleted, or a rotated file was removed)",
                    h.seq,
                    h.seq - 1
                ));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split() {
        let (v, t) = lines(b"a\nbb\nc");
        assert_eq!(v, vec![(0, 1), (2, 4)]);
        assert_eq!(t, Some((5, 6)));
        let (v, t) = lines(b"a\n");
        assert_eq!(v, vec![(0, 1)]);
        assert_eq!(t, None);
    }
}
