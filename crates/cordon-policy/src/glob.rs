//! A tiny shell-style glob for matching single argv words: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`.
//!
//! Hand-rolled on purpose: rules match one argv word at a time (no path separators, no `**`),
//! and a compiled regex per rule (globset) would cost more than the whole decision. The matcher
//! is the classic linear-time "remember the last star" algorithm, so no input can make it
//! backtrack exponentially.

/// Does `pat` contain glob metacharacters? (If not, it is compared literally.)
pub fn is_glob(pat: &str) -> bool {
    pat.bytes().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// Match a whole `text` against `pat`.
pub fn matches(pat: &str, text: &str) -> bool {
    if pat.is_ascii() && text.is_ascii() {
        // Fast path without allocation: ASCII bytes are characters.
        return match_slices(pat.as_bytes(), text.as_bytes());
    }
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = text.chars().collect();
    match_slices(&p, &t)
}

/// A character: `char`, or `u8` when both sides are ASCII.
trait Ch: Copy + PartialEq + PartialOrd {
    fn is(self, c: u8) -> bool;
}
impl Ch for u8 {
    fn is(self, c: u8) -> bool {
        self == c
    }
}
impl Ch for char {
    fn is(self, c: u8) -> bool {
        self == c as char
    }
}

fn match_slices<C: Ch>(p: &[C], t: &[C]) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    // Position after the last `*` seen, and the text position it is currently absorbing up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            let c = p[pi];
            match () {
                _ if c.is(b'*') => {
                    star = Some((pi + 1, ti));
                    pi += 1;
                    continue;
                }
                _ if c.is(b'?') => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ if c.is(b'[') => {
                    if let Some((ok, next)) = class(p, pi, t[ti]) {
                        if ok {
                            pi = next;
                            ti += 1;
                            continue;
                        }
                    } else if t[ti].is(b'[') {
                        // An unclosed `[` is a literal (so the rule `[` matches the test command).
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
                _ if c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        // Mismatch: let the last star absorb one more character, or fail.
        match star {
            Some((sp, st)) => {
                pi = sp;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c.is(b'*'))
}

/// Match one char against the class starting at `p[start] == '['`.
/// Returns (matched, index after `]`), or None if the class is not closed.
fn class<C: Ch>(p: &[C], start: usize, c: C) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = p.get(i).is_some_and(|x| x.is(b'!') || x.is(b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i].is(b']') && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1].is(b'-') && !p[i + 2].is(b']') {
            if p[i] <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn basics() {
        assert!(matches("--force*", "--force-with-lease"));
        assert!(matches("-[!-]*f*", "-uf"));
        assert!(!matches("-[!-]*f*", "--follow-tags"));
        assert!(matches("mkfs*", "mkfs.ext4"));
        assert!(!matches("mkfs*", "xmkfs"));
        assert!(matches("[", "["));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("*", ""));
        assert!(matches("*a*a*a*a*b", &"a".repeat(50).replace("aa", "ab")));
        assert!(!matches("*a*a*a*a*a*a*a*c", &"a".repeat(5000)));
    }
}
