//! Reading newline-framed JSON-RPC messages (the stdio transport: one message per line, no
//! embedded newlines) with a bound on the size of one message.
//!
//! The gateway must see a message whole to route it (its `id` and `method`) and to inspect
//! tool lists, so one message is held in memory at a time per direction, never more than
//! `max` bytes of it. A longer line is not kept: it is read through to its newline and dropped,
//! keeping only its first 4 KiB and last 256 bytes, where the `id` of a JSON-RPC message
//! normally is (first for most writers, last for some: the TypeScript SDK writes `id` after
//! `result`), so that the request it belongs to can still be answered with an error.

use std::io::{self, BufRead};

use serde_json::Value;

const HEAD: usize = 4096;
const TAIL: usize = 256;

/// One message read from a stream.
#[derive(Debug)]
pub enum Msg {
    /// A line (without its newline), at most `max` bytes.
    Line(Vec<u8>),
    /// A line longer than `max`: dropped; its size and the top-level `id` found in its first or
    /// last bytes, if any.
    Oversized { len: u64, id: Option<Value> },
}

/// Reads the next non-blank line. None at the end of the stream. A last line without its
/// newline is returned like any other.
pub fn read(r: &mut impl BufRead, max: usize) -> io::Result<Option<Msg>> {
    let mut line: Vec<u8> = Vec::new();
    let mut over: Option<(u64, Vec<u8>, Vec<u8>)> = None; // (len, head, tail)
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            // End of stream.
            return Ok(finish(line, over));
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        match &mut over {
            None if line.len() + chunk.len() <= max => line.extend_from_slice(chunk),
            None => {
                // Over the bound: keep the first and last bytes only, count the rest.
                let old = std::mem::take(&mut line);
                let len = (old.len() + chunk.len()) as u64;
                let mut tail = old[old.len().saturating_sub(TAIL)..].to_vec();
                push_tail(&mut tail, chunk);
                let mut head = old;
                head.truncate(HEAD);
                let room = HEAD - head.len();
                head.extend_from_slice(&chunk[..chunk.len().min(room)]);
                over = Some((len, head, tail));
            }
            Some((len, _, tail)) => {
                *len += chunk.len() as u64;
                push_tail(tail, chunk);
            }
        }
        let n = done.unwrap_or(buf.len());
        r.consume(n);
        if done.is_some() {
            if over.is_none() && line.iter().all(|b| b.is_ascii_whitespace()) {
                line.clear();
                continue; // blank line
            }
            return Ok(finish(line, over));
        }
    }
}

fn push_tail(tail: &mut Vec<u8>, chunk: &[u8]) {
    tail.extend_from_slice(&chunk[chunk.len().saturating_sub(TAIL)..]);
    if tail.len() > TAIL {
        tail.drain(..tail.len() - TAIL);
    }
}

fn finish(line: Vec<u8>, over: Option<(u64, Vec<u8>, Vec<u8>)>) -> Option<Msg> {
    match over {
        Some((len, head, tail)) => Some(Msg::Oversized {
            len,
            id: id_in_head(&head).or_else(|| id_in_tail(&tail)),
        }),
        None if line.is_empty() => None,
        None => Some(Msg::Line(line)),
    }
}

/// The value of the top-level `"id"` key in the first bytes of a JSON object, if it is there.
pub fn id_in_head(b: &[u8]) -> Option<Value> {
    let mut depth = 0i32;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth -= 1,
            b'"' => {
                let end = string_end(b, i)?;
                if depth == 1 && &b[i..=end] == b"\"id\"" {
                    let rest = skip_ws(b, end + 1);
                    if b.get(rest) == Some(&b':') {
                        return scalar_at(b, skip_ws(b, rest + 1));
                    }
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The value of an `"id"` key that ends the object (`..."id":3}`), from the last bytes.
pub fn id_in_tail(b: &[u8]) -> Option<Value> {
    let s = std::str::from_utf8(b).ok().or_else(|| {
        // The tail may start inside a multi-byte character.
        (1..4).find_map(|k| b.get(k..).and_then(|x| std::str::from_utf8(x).ok()))
    })?;
    let t = s.trim_end();
    let t = t.strip_suffix('}')?.trim_end();
    let k = t.rfind("\"id\"")?;
    let v = t[k + 4..].trim_start().strip_prefix(':')?.trim();
    serde_json::from_str::<Value>(v)
        .ok()
        .filter(|v| v.is_number() || v.is_string())
}

fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn scalar_at(b: &[u8], i: usize) -> Option<Value> {
    let end = if b.get(i) == Some(&b'"') {
        string_end(b, i)? + 1
    } else {
        let mut j = i;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b"-+.".contains(&b[j])) {
            j += 1;
        }
        j
    };
    serde_json::from_slice::<Value>(b.get(i..end)?)
        .ok()
        .filter(|v| v.is_number() || v.is_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], max: usize) -> Vec<Msg> {
        let mut r = io::BufReader::with_capacity(64, input);
        let mut v = Vec::new();
        while let Some(m) = read(&mut r, max).unwrap() {
            v.push(m);
        }
        v
    }

    #[test]
    fn lines_and_blank_lines() {
        let v = all(b"{\"a\":1}\n\n  \n{\"b\":2}", 100);
        assert_eq!(v.len(), 2);
        assert!(matches!(&v[0], Msg::Line(l) if l == b"{\"a\":1}"));
        assert!(matches!(&v[1], Msg::Line(l) if l == b"{\"b\":2}"));
    }

    #[test]
    fn oversized_keeps_the_id_and_the_stream() {
        let big = "x".repeat(5000);
        let input = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":7,\"params\":{{\"id\":9,\"v\":\"{big}\"}}}}\n{{\"result\":{{\"v\":\"{big}\"}},\"id\":\"s-1\"}}\n{{\"ok\":1}}\n"
        );
        let v = all(input.as_bytes(), 1000);
        assert_eq!(v.len(), 3, "{v:?}");
        match &v[0] {
            Msg::Oversized { len, id } => {
                assert_eq!(*id, Some(serde_json::json!(7)));
                assert!(*len > 5000, "{len}");
            }
            m => panic!("{m:?}"),
        }
        assert!(matches!(&v[1], Msg::Oversized { id: Some(Value::String(s)), .. } if s == "s-1"));
        assert!(matches!(&v[2], Msg::Line(l) if l == b"{\"ok\":1}"));
    }

    #[test]
    fn nested_ids_are_not_taken() {
        assert_eq!(id_in_head(br#"{"params":{"id":1},"x":"#), None);
        assert_eq!(
            id_in_head(br#"{"jsonrpc":"2.0","id":"a\"b","#),
            Some(serde_json::json!("a\"b"))
        );
        assert_eq!(id_in_tail(br#"xx},"id":12}"#), Some(serde_json::json!(12)));
        assert_eq!(id_in_tail(br#"xx"},"id":{"a":1}}"#), None);
    }
}
