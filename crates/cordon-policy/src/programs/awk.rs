//! awk is allow with `-F`/`-v` and harmless flags and a program that cannot run commands,
//! write files or load code.

use super::{Call, Program};
use crate::eval::Ev;
use crate::options::{self, Item};
use crate::{hit, Decision, Hit, Word};

pub(crate) static AWK: Program = Program {
    names: &["awk", "gawk", "mawk", "nawk"],
    check: Some(check),
    ..Program::NONE
};

fn check(_: &mut Ev, c: &Call, hits: &mut Vec<Hit>) {
    hits.push(if awk_readonly(c.args) {
        hit(
            Decision::Allow,
            "awk-readonly",
            "awk program without system(), pipes, redirections or getline",
        )
    } else {
        hit(
            Decision::Ask,
            "awk-program",
            "this awk program can run commands (system, |), write files (>, -o, -d) or load code (-f, -i, -l, @include)",
        )
    });
}

/// awk that only reads: options from an allowlist (`-F`, `-v` and flags that change no
/// behaviour but parsing and output), so `-f`/`-e`/`-i` (program files), `-l` (a shared
/// library), `-o`/`-d`/`-p`/`-D` (files written) and mawk's `-W` are not readonly, however
/// abbreviated; and a program text without `system`, `|`, `>`, `getline`, `ENVIRON` or `@`
/// (`@include`, `@load`, indirect calls such as `@f()` with `f = "system"`).
pub(crate) fn awk_readonly(args: &[Word]) -> bool {
    const FLAGS: &str = "bcCghkLMNnOPrsStVY";
    const LONG: &[&str] = &[
        "assign",
        "field-separator",
        "bignum",
        "characters-as-bytes",
        "copyright",
        "csv",
        "gen-pot",
        "help",
        "lint",
        "no-optimize",
        "non-decimal-data",
        "optimize",
        "posix",
        "re-interval",
        "sandbox",
        "traditional",
        "use-lc-numeric",
        "version",
    ];
    let p = options::parse(&options::AWK, args);
    if p.uncertain {
        return false;
    }
    let mut program = None;
    for item in &p.items {
        match item {
            // (-F and -v values are data, whatever they are.)
            Item::Short('F' | 'v', ..) => {}
            Item::Short(c, ..) if FLAGS.contains(*c) => {}
            Item::Long(n, _) if LONG.contains(n) => {}
            Item::Operand(k) => {
                program = Some(*k);
                break;
            }
            Item::EndOfOptions => {}
            _ => return false,
        }
    }
    let Some(k) = program else {
        return false;
    };
    let w = &args[k];
    if !w.known {
        return false;
    }
    let p = w.text.as_str();
    !(p.contains("system")
        || p.contains('|')
        || p.contains('>')
        || p.contains("getline")
        || p.contains("ENVIRON")
        || p.contains('@'))
}
