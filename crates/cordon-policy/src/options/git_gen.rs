//! Generates `git.rs` from the installed git: `git SUB -h` (short options, which take an
//! argument) and `git SUB --git-completion-helper-all` (every long option, hidden ones and
//! `--no-` forms included). Run after upgrading git:
//! `CORDON_REGEN_GIT_OPTIONS=1 cargo test -p cordon-policy generated_git_options`.

use std::collections::BTreeMap;
use std::process::Command;

/// The subcommands whose options the built-in rules look at and that read them with
/// parse-options' abbreviations (tested against git 2.47: `git status --shor` is `--short`,
/// `git push --force-w` is `--force-with-lease`). `diff`, `log`, `show`, `rev-list`,
/// `whatchanged` and `rev-parse` match long options exactly and need no table.
pub(crate) const SUBCOMMANDS: &[(&str, bool)] = &[
    // (subcommand, strict: unknown options are refused by git itself)
    ("add", true),
    ("blame", false), // takes revision options too
    ("branch", true),
    ("cat-file", true),
    ("commit", true),
    ("describe", true),
    ("fetch", true),
    ("grep", true),
    ("help", true),
    ("init", true),
    ("ls-files", true),
    ("ls-tree", true),
    ("merge-base", true),
    ("mv", true),
    ("push", true),
    ("shortlog", false), // takes revision options too
    ("status", true),
    ("switch", true),
    ("tag", true),
    ("version", true),
];

fn run(args: &[&str]) -> String {
    let o = Command::new("git")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run git {args:?}: {e}"));
    let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&o.stderr));
    s
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum K {
    No,
    Req,
    Opt,
}

/// parse-options prints the description at column 26 when the option (with its argument) fits
/// in 25 columns, else on the next line.
const DESCRIPTION_COLUMN: usize = 26;

/// After an option's name in `-h` output (`rest`, starting at column `col`): `[=<x>]` optional,
/// `=<x>` or a word before the description required, else none.
fn kind_after(rest: &str, col: usize) -> K {
    if rest.starts_with('[') {
        K::Opt // `--abbrev[=<n>]`, `-C[<score>]`
    } else if rest.starts_with('=') {
        K::Req
    } else if rest.trim().is_empty() {
        K::No
    } else {
        let next = col + rest.len() - rest.trim_start().len();
        // (An argument placeholder can start at that column too, when the option is wider
        // than 25 columns and its description goes to the next line: `<key-id>` alone.)
        let text = rest.trim();
        let placeholder = !text.contains(' ') && text.starts_with(['<', '(', '[']);
        let is_description = col < DESCRIPTION_COLUMN && next == DESCRIPTION_COLUMN && !placeholder;
        if is_description {
            K::No
        } else {
            K::Req
        }
    }
}

struct Table {
    short: BTreeMap<char, K>,
    long: BTreeMap<String, K>,
}

fn table(sub: &str) -> Table {
    let mut t = Table {
        short: BTreeMap::new(),
        long: BTreeMap::new(),
    };
    for line in run(&[sub, "-h"]).lines() {
        let Some(l) = line.strip_prefix("    ").filter(|l| l.starts_with('-')) else {
            continue;
        };
        if l.starts_with("-NUM") {
            for d in '0'..='9' {
                t.short.insert(d, K::No);
            }
            continue;
        }
        let mut rest = l;
        let mut shorts = Vec::new();
        while let Some(c) = rest
            .strip_prefix('-')
            .and_then(|r| r.chars().next())
            .filter(|c| *c != '-')
        {
            shorts.push(c);
            rest = &rest[1 + c.len_utf8()..];
            match rest.strip_prefix(", ") {
                Some(r) => rest = r,
                None => break,
            }
        }
        let kind;
        if let Some(r) = rest.strip_prefix("--") {
            let (neg, r) = match r.strip_prefix("[no-]") {
                Some(r) => (true, r),
                None => (false, r),
            };
            let end = r.find(['[', '=', ' ']).unwrap_or(r.len());
            let name = &r[..end];
            kind = kind_after(&r[end..], col(line, &r[end..]));
            t.long.insert(name.to_string(), kind);
            if neg {
                t.long.insert(format!("no-{name}"), K::No);
            }
        } else {
            kind = kind_after(rest, col(line, rest));
        }
        for c in shorts {
            t.short.insert(c, kind);
        }
    }
    for w in run(&[sub, "--git-completion-helper-all"]).split_whitespace() {
        let Some(n) = w.strip_prefix("--").filter(|n| !n.is_empty()) else {
            continue;
        };
        let (name, k) = match n.strip_suffix('=') {
            Some(n) => (n, K::Req),
            None => (n, K::No),
        };
        t.long.entry(name.to_string()).or_insert(k);
    }
    t
}

/// The Rust source of `git.rs`.
pub(crate) fn regen_source() -> String {
    let version = run(&["--version"]);
    let mut o = String::new();
    o.push_str("// @generated from ");
    o.push_str(version.trim());
    o.push_str(
        " by\n// `CORDON_REGEN_GIT_OPTIONS=1 cargo test -p cordon-policy generated_git_options`\n",
    );
    o.push_str("// (see git_gen.rs). Do not edit.\n\n");
    o.push_str("use super::Arg::{No, Opt, Req};\nuse super::Spec;\n\n");
    o.push_str("/// The option table of `git SUB`, for the subcommands that need one.\n");
    o.push_str("pub(super) fn spec(sub: &str) -> Option<&'static Spec> {\n");
    o.push_str("    Some(match sub {\n");
    for (sub, _) in SUBCOMMANDS {
        o.push_str(&format!("        {sub:?} => &{},\n", ident(sub)));
    }
    o.push_str("        _ => return None,\n    })\n}\n");
    for (sub, strict) in SUBCOMMANDS {
        let t = table(sub);
        let mut short = String::new();
        for (c, k) in &t.short {
            short.push(*c);
            match k {
                K::No => {}
                K::Req => short.push(':'),
                K::Opt => short.push_str("::"),
            }
        }
        o.push_str(&format!(
            "\nstatic {}: Spec = Spec {{\n    short: {short:?},\n    long: &[\n",
            ident(sub)
        ));
        for (n, k) in &t.long {
            let k = match k {
                K::No => "No",
                K::Req => "Req",
                K::Opt => "Opt",
            };
            o.push_str(&format!("        ({n:?}, {k}),\n"));
        }
        o.push_str(&format!(
            "    ],\n    abbrev: true,\n    permute: true,\n    attached: true,\n    strict: {strict},\n}};\n"
        ));
    }
    o
}

/// The column at which `part` (a suffix of `line`) starts.
fn col(line: &str, part: &str) -> usize {
    line.len() - part.len()
}

fn ident(sub: &str) -> String {
    sub.to_uppercase().replace('-', "_")
}
