//! Strings an agent controls: lossless for bytes that are not UTF-8, and never a terminal escape.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use serde::{Serialize, Serializer};

/// Bytes an agent controls (argv, paths). Serialized as a JSON string when they are UTF-8, else
/// as `{"b64":"<standard base64 of the bytes>"}`: lossless, and never mistaken for a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub Vec<u8>);

impl Text {
    /// For people: UTF-8 as is (through [`term_safe`]), other bytes as `\xNN`.
    pub fn display(&self) -> String {
        display_bytes(&self.0)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text(s.as_bytes().to_vec())
    }
}
impl From<&String> for Text {
    fn from(s: &String) -> Text {
        Text(s.as_bytes().to_vec())
    }
}
impl From<&OsStr> for Text {
    fn from(s: &OsStr) -> Text {
        Text(s.as_bytes().to_vec())
    }
}
impl From<&std::path::Path> for Text {
    fn from(p: &std::path::Path) -> Text {
        Text(p.as_os_str().as_bytes().to_vec())
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(t) => s.serialize_str(t),
            Err(_) => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("b64", &b64_encode(&self.0))?;
                m.end()
            }
        }
    }
}

pub(crate) fn display_bytes(b: &[u8]) -> String {
    let mut out = String::new();
    for chunk in b.utf8_chunks() {
        out.push_str(&term_safe(chunk.valid()));
        for x in chunk.invalid() {
            out.push_str(&format!("\\x{x:02x}"));
        }
    }
    out
}

/// Characters that must not reach a terminal raw: C0 controls, DEL, C1 controls (0x9b is CSI on
/// some terminals), bidirectional overrides (Trojan Source), and the Unicode line separators.
pub(crate) fn is_dangerous(c: char) -> bool {
    matches!(c, '\0'..='\x1f' | '\x7f'..='\u{9f}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every dangerous character written as an escape (`\n`, `\t`, `\u{1b}`...).
pub fn term_safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_dangerous) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_dangerous(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A serde_json formatter that also escapes DEL, C1 controls, bidi overrides and U+2028/9 as
/// `\uXXXX`: a stored line is plain ASCII-safe for `cat` on a terminal, and still valid JSON.
pub(crate) struct SafeFormatter;

impl serde_json::ser::Formatter for SafeFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        // serde_json has escaped C0 controls, quotes and backslashes already; plain ASCII
        // below DEL needs nothing more.
        if fragment.bytes().all(|b| b < 0x7f) {
            return w.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_dangerous(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                write!(w, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn b64_encode(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for ch in b.chunks(3) {
        let n = (ch[0] as u32) << 16
            | (*ch.get(1).unwrap_or(&0) as u32) << 8
            | *ch.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= ch.len() {
                s.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Decodes standard base64 (padding optional); None on a bad character.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        if c == b'=' {
            break;
        }
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for s in [&b""[..], b"f", b"fo", b"foo", b"foob", b"\xff\xfe\x00ab"] {
            assert_eq!(b64_decode(&b64_encode(s)).unwrap(), s);
        }
        assert_eq!(b64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(b64_encode(b"fo"), "Zm8=");
    }

    #[test]
    fn text_serializes_losslessly() {
        assert_eq!(
            serde_json::to_string(&Text::from("a\nb")).unwrap(),
            r#""a\nb""#
        );
        let t = Text(b"a\xffb".to_vec());
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"b64":"Yf9i"}"#);
        assert_eq!(t.display(), "a\\xffb");
    }

    #[test]
    fn terminal_escapes_are_neutralised() {
        assert_eq!(
            term_safe("a\x1b[31mb\u{9b}c\u{202e}"),
            "a\\u{1b}[31mb\\u{9b}c\\u{202e}"
        );
        let mut v = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut v, SafeFormatter);
        serde::Serialize::serialize("x\u{9b}\u{7f}\x1by", &mut ser).unwrap();
        assert_eq!(String::from_utf8(v).unwrap(), r#""x\u009b\u007f\u001by""#);
    }
}
