//! sed is allow when it only prints: options read as sed reads them, no `-i`/`-f`, and a
//! script without the `e`/`w` flags or e/r/R/w/W commands.

use super::{Call, Program};
use crate::eval::Ev;
use crate::options::{self, Item};
use crate::{hit, Decision, Hit, Word};

pub(crate) static SED: Program = Program {
    names: &["sed", "gsed"],
    check: Some(check),
    ..Program::NONE
};

fn check(_: &mut Ev, c: &Call, hits: &mut Vec<Hit>) {
    hits.push(if sed_readonly(c.args) {
        hit(
            Decision::Allow,
            "sed-readonly",
            "sed that only prints (no -i, no e/w/r commands)",
        )
    } else {
        hit(
            Decision::Ask,
            "sed-script",
            "this sed can write files (-i, w) or run commands (e)",
        )
    });
}

/// sed that only reads: no `-i`/`--in-place`, no `-f`/`--file` (however abbreviated or
/// clustered: `--in-pl`, `-ni`, `--fil=`), and scripts of print/delete/substitute commands
/// without the `e` and `w` flags and without e/r/R/w/W commands.
pub(crate) fn sed_readonly(args: &[Word]) -> bool {
    let p = options::parse(&options::SED, args);
    if p.uncertain {
        return false;
    }
    let mut scripts = Vec::new();
    for item in &p.items {
        match item {
            Item::Short('e', v, _) | Item::Long("expression", v) => match v {
                Some(w) if w.known => scripts.push(w.text.clone()),
                _ => return false,
            },
            Item::Short('i' | 'f', ..) | Item::Long("in-place" | "file", _) => return false,
            Item::Operand(k) if !args[*k].known => return false,
            _ => {}
        }
    }
    if scripts.is_empty() {
        match p.operands().next() {
            Some(k) => scripts.push(args[k].text.clone()),
            None => return false,
        }
    }
    scripts.iter().all(|s| sed_script_safe(s))
}

fn sed_script_safe(s: &str) -> bool {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < c.len() {
        // separators and addresses
        while i < c.len()
            && (c[i].is_whitespace()
                || c[i] == ';'
                || c[i].is_ascii_digit()
                || c[i] == ','
                || c[i] == '$'
                || c[i] == '!')
        {
            i += 1;
        }
        if i < c.len() && c[i] == '/' {
            i += 1;
            while i < c.len() && c[i] != '/' {
                if c[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        if i >= c.len() {
            break;
        }
        match c[i] {
            'p' | 'd' | 'q' | 'Q' | '=' | 'n' | 'N' | 'P' | 'D' | 'h' | 'H' | 'g' | 'G' | 'x'
            | 'l' | '{' | '}' => i += 1,
            's' | 'y' => {
                let cmd = c[i];
                let Some(&delim) = c.get(i + 1) else {
                    return false;
                };
                if delim == '\\' || delim == '\n' {
                    return false;
                }
                i += 2;
                for _ in 0..2 {
                    while i < c.len() && c[i] != delim {
                        if c[i] == '\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                    i += 1;
                }
                if i > c.len() {
                    return false;
                }
                if cmd == 's' {
                    while i < c.len() && !matches!(c[i], ';' | '\n' | '}') {
                        if matches!(c[i], 'e' | 'w' | 'W') {
                            return false;
                        }
                        if !(c[i].is_ascii_digit()
                            || matches!(c[i], 'g' | 'p' | 'i' | 'I' | 'm' | 'M' | ' '))
                        {
                            return false;
                        }
                        i += 1;
                    }
                }
            }
            _ => return false, // e, r, R, w, W, a, i, c, unknown: ask
        }
    }
    true
}
