//! Words: the static value of a shell word, when there is one (quotes removed, `$'..'`
//! decoded, `~` and `$HOME` resolved), and whether a substitution in it downloads.

use crate::eval::text;
use crate::Context;

/// A shell word as cordon resolved it.
#[derive(Debug, Clone)]
pub(crate) struct Word {
    pub(crate) text: String,
    /// The value is known statically (no `$x`, `$(..)`, brace expansion, `~user`).
    pub(crate) known: bool,
    /// Unquoted glob characters: the shell will expand it into file names.
    pub(crate) glob: bool,
    /// Contains a substitution that downloads something (`$(curl ..)`, `<(wget ..)`).
    pub(crate) fetch: bool,
}

impl Word {
    pub(crate) fn known(text: String) -> Word {
        Word {
            text,
            known: true,
            glob: false,
            fetch: false,
        }
    }
    /// The value rules see: None when it is not a fixed string.
    pub(crate) fn value(&self) -> Option<String> {
        (self.known && !self.glob).then(|| self.text.clone())
    }
}

pub(crate) const FETCHERS: &[&str] = &[
    "curl",
    "wget",
    "aria2c",
    "fetch",
    "http",
    "https",
    "xh",
    "lwp-request",
];

/// Like `word`, without looking for downloads inside substitutions.
pub(crate) fn word_plain(n: tree_sitter::Node, src: &str, ctx: &Context) -> Word {
    let mut w = Word::known(String::new());
    word_into(n, src, ctx, &mut w, 0, false);
    w
}

/// The static value of a word node, or its source text marked unknown.
pub(crate) fn word(n: tree_sitter::Node, src: &str, ctx: &Context) -> Word {
    let mut w = Word {
        text: String::new(),
        known: true,
        glob: false,
        fetch: false,
    };
    word_into(n, src, ctx, &mut w, 0, true);
    w
}

fn word_into(
    n: tree_sitter::Node,
    src: &str,
    ctx: &Context,
    w: &mut Word,
    level: usize,
    scan: bool,
) {
    let raw = text(n, src);
    if level > 32 {
        w.known = false;
        w.text.push_str(raw);
        return;
    }
    match n.kind() {
        "word" | "number" => word_literal(raw, ctx, w),
        "command_name" => {
            let mut cur = n.walk();
            let kids: Vec<_> = n.named_children(&mut cur).collect();
            if kids.len() == 1 {
                word_into(kids[0], src, ctx, w, level + 1, scan);
            } else {
                w.known = false;
                w.text.push_str(raw);
            }
        }
        "raw_string" => {
            w.text.push_str(
                raw.strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .unwrap_or(raw),
            );
        }
        "ansi_c_string" => {
            let inner = raw
                .strip_prefix("$'")
                .and_then(|s| s.strip_suffix('\''))
                .unwrap_or(raw);
            w.text.push_str(&ansi_c_decode(inner));
        }
        "string" | "translated_string" => word_string(n, src, ctx, w, level, scan),
        "concatenation" => word_concatenation(n, src, ctx, w, level, scan),
        "simple_expansion" | "expansion" => {
            let name = raw
                .trim_start_matches('$')
                .trim_start_matches('{')
                .trim_end_matches('}');
            match name {
                "HOME" => w.text.push_str(&ctx.home.to_string_lossy()),
                "PWD" => w.text.push_str(&ctx.cwd.to_string_lossy()),
                _ => {
                    w.known = false;
                    w.text.push_str(raw);
                }
            }
        }
        "command_substitution" | "process_substitution" => {
            w.known = false;
            // `scan` is off while has_fetcher itself resolves names: no quadratic re-scans.
            w.fetch |= scan && has_fetcher(n, src, ctx);
            w.text.push_str(raw);
        }
        _ => {
            w.known = false;
            w.text.push_str(raw);
        }
    }
}

/// An unquoted word: `\` escapes, a leading `~`/`~/` is the home directory (`~user` is not
/// known), `*?[` make it a glob, and brace expansion (`{a,b}`, `{1..3}`) changes the words.
fn word_literal(raw: &str, ctx: &Context, w: &mut Word) {
    let mut chars = raw.chars().peekable();
    let at_start = w.text.is_empty();
    if at_start && (raw == "~" || raw.starts_with("~/")) {
        w.text.push_str(&ctx.home.to_string_lossy());
        chars.next();
    } else if at_start && raw.starts_with('~') {
        w.known = false; // ~user
    }
    let mut brace = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(nc) = chars.next() {
                    if nc != '\n' {
                        w.text.push(nc);
                    }
                }
            }
            '*' | '?' | '[' => {
                w.glob = true;
                w.text.push(c);
            }
            '{' => {
                brace = true;
                w.text.push(c);
            }
            ',' | '.' if brace => {
                // `{a,b}` or `{1..3}`: brace expansion changes the words.
                w.known = false;
                w.text.push(c);
            }
            _ => w.text.push(c),
        }
    }
}

/// A double-quoted string: literal parts with `\` escapes, and the expansions inside.
fn word_string(
    n: tree_sitter::Node,
    src: &str,
    ctx: &Context,
    w: &mut Word,
    level: usize,
    scan: bool,
) {
    let raw = text(n, src);
    let start = n.start_byte();
    let open = if raw.starts_with('$') { 2 } else { 1 };
    let inner_start = start + open.min(raw.len());
    let inner_end = n.end_byte().saturating_sub(1).max(inner_start);
    let mut pos = inner_start;
    let mut cur = n.walk();
    for c in n.named_children(&mut cur) {
        if c.kind() == "string_content" {
            continue;
        }
        if c.start_byte() > pos {
            push_dq(src.get(pos..c.start_byte().min(inner_end)).unwrap_or(""), w);
        }
        word_into(c, src, ctx, w, level + 1, scan);
        pos = c.end_byte();
    }
    if pos < inner_end {
        push_dq(src.get(pos..inner_end).unwrap_or(""), w);
    }
}

/// Parts written next to each other (`a"$b"'c'`): the text between them, then each part.
fn word_concatenation(
    n: tree_sitter::Node,
    src: &str,
    ctx: &Context,
    w: &mut Word,
    level: usize,
    scan: bool,
) {
    let mut cur = n.walk();
    let kids: Vec<_> = n.children(&mut cur).collect();
    let mut pos = n.start_byte();
    for c in kids {
        if c.start_byte() > pos {
            w.text.push_str(src.get(pos..c.start_byte()).unwrap_or(""));
        }
        word_into(c, src, ctx, w, level + 1, scan);
        pos = c.end_byte();
    }
}

/// Does `n` contain a command that downloads (`curl`, `wget`, ...; names resolved first)?
pub(crate) fn has_fetcher(n: tree_sitter::Node, src: &str, ctx: &Context) -> bool {
    let mut stack = vec![n];
    let mut budget = 10_000;
    while let Some(x) = stack.pop() {
        budget -= 1;
        if budget == 0 {
            return true; // too big to inspect: assume the worst
        }
        if x.kind() == "command" {
            let mut cur = x.walk();
            for w in x.named_children(&mut cur).take(4) {
                // Resolve quoting (`c''url`, `$'\x63url'`) before comparing names.
                let t = word_plain(w, src, ctx).text;
                let base = t.rsplit('/').next().unwrap_or(&t);
                if FETCHERS.contains(&base) {
                    return true;
                }
            }
        }
        let mut cur = x.walk();
        stack.extend(x.named_children(&mut cur));
    }
    false
}

/// Literal text inside double quotes: only `\$ \` \" \\ \newline` are escapes.
fn push_dq(s: &str, w: &mut Word) {
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('$' | '`' | '"' | '\\') => {
                    if let Some(n) = chars.next() {
                        w.text.push(n);
                    }
                }
                Some('\n') => {
                    chars.next();
                }
                _ => w.text.push('\\'),
            }
        } else {
            w.text.push(c);
        }
    }
}

/// Decode bash's `$'...'` escapes.
fn ansi_c_decode(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    let hex = |chars: &mut std::iter::Peekable<std::str::Chars>, max: usize| {
        let mut v = 0u32;
        let mut n = 0;
        while n < max {
            match chars.peek().and_then(|c| c.to_digit(16)) {
                Some(d) => {
                    v = v * 16 + d;
                    chars.next();
                    n += 1;
                }
                None => break,
            }
        }
        (v, n)
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            out.push('\\');
            break;
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'e' | 'E' => out.push('\x1b'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            '\\' | '\'' | '"' | '?' => out.push(e),
            'x' => {
                let (v, _) = hex(&mut chars, 2);
                out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            'u' | 'U' => {
                let (v, _) = hex(&mut chars, if e == 'u' { 4 } else { 8 });
                out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            'c' => {
                if let Some(x) = chars.next() {
                    out.push(char::from_u32((x as u32) & 0x1f).unwrap_or('\u{fffd}'));
                }
            }
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    out
}
