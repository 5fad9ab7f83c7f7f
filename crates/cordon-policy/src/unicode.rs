//! Invisible and confusable characters. A command that contains them asks, and the reason
//! shows them escaped (`U+200B`), because what a person reads is not what the shell runs.

/// Why `c` is suspicious, or None if it is an ordinary character.
pub fn suspicious(c: char) -> Option<&'static str> {
    let u = c as u32;
    if c.is_ascii() {
        return if (u < 0x20 && c != '\t' && c != '\n' && c != '\r') || u == 0x7f {
            Some("control character")
        } else {
            None
        };
    }
    Some(match u {
        0x80..=0x9f => "control character",
        0x200b..=0x200d | 0x2060..=0x2064 | 0xfeff | 0x00ad | 0x180e | 0x034f => {
            "zero-width character"
        }
        0x200e | 0x200f | 0x061c | 0x202a..=0x202e | 0x2066..=0x2069 => "bidi control",
        0xe0000..=0xe007f => "Unicode tag character",
        0x00a0 | 0x1680 | 0x2000..=0x200a | 0x2028 | 0x2029 | 0x202f | 0x205f | 0x3000 => {
            "non-ASCII space"
        }
        0xfff9..=0xfffb | 0xfe00..=0xfe0f | 0xe0100..=0xe01ef => "invisible formatting character",
        _ => return None,
    })
}

/// Escape every non-ASCII or control character as `U+XXXX`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() && !c.is_ascii_control() || c == ' ' {
            out.push(c);
        } else {
            out.push_str(&format!("<U+{:04X}>", c as u32));
        }
    }
    out
}

/// The first suspicious character of `s` with its description.
pub fn find(s: &str) -> Option<(char, &'static str)> {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) || b == b'\t' || b == b'\n')
    {
        return None; // fast path: plain ASCII
    }
    s.chars().find_map(|c| suspicious(c).map(|why| (c, why)))
}
