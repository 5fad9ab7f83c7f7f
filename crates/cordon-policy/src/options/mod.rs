//! Command-line options read the way the program itself reads them.
//!
//! A rule that forbids `--output` is only as good as its idea of what `--output` looks like to
//! the program: GNU `getopt_long` and git's parse-options accept any unique prefix of a long
//! option (`sort --outp=F`, `git push --force-w`), short options cluster (`sort -uo F`,
//! `sed -ni`), a short option's argument may be attached (`-oF`) and a long option's may follow
//! `=` or come as the next word. For the programs listed here, arguments are parsed against the
//! program's real option table (taken from its `--help` / `-h` of the versions named in each
//! table) and rewritten into one canonical spelling before any rule sees them:
//!
//! - a long option is spelled out in full: `--output=FILE` (one word), `--force`;
//! - a short cluster is split: `-uo F` is `-u`, `-o`, `F`; an optional short argument stays
//!   attached (`-i.bak`);
//! - `--` and the operands are kept as written;
//! - an option the program does not have, an ambiguous prefix, or a word not known statically
//!   in option position becomes an unknown word, so an allow rule with exclusions does not
//!   apply (fail closed), exactly like `$x`.

use crate::Word;

mod git;
mod tables;

pub(crate) use tables::*;

/// Does an option take an argument?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arg {
    /// No argument.
    No,
    /// Required: attached (`-oF`, `--out=F`) or the next word.
    Req,
    /// Optional: only attached (`-i.bak`, `--in-place=.bak`).
    Opt,
}

/// How a program reads its options.
#[derive(Debug)]
pub(crate) struct Spec {
    /// getopt-style short options: a character, then `:` if it takes an argument, `::` if the
    /// argument is optional (attached only).
    pub short: &'static str,
    /// Long options without the leading `--`.
    pub long: &'static [(&'static str, Arg)],
    /// Unique prefixes of long options are accepted (GNU getopt_long, git parse-options).
    pub abbrev: bool,
    /// Options may follow operands (GNU permutation). When false the first operand ends the
    /// options (wrappers: `env`, `timeout`, `xargs`, ... whose first operand is a command).
    pub permute: bool,
    /// A short option's required argument may be attached (`-oFILE`); `tree` only takes it
    /// from the next word.
    pub attached: bool,
    /// An option missing from the table makes the word unknown (fail closed). Off where the
    /// program hands unknown options on to another parser (`git blame`, `git shortlog` take
    /// revision options) or the table lists only what cordon looks for (`curl`, `wget`).
    pub strict: bool,
}

impl Spec {
    fn short_arg(&self, c: char) -> Option<Arg> {
        let s = self.short;
        let i = s.find(c).filter(|_| c != ':')?;
        let rest = &s[i + c.len_utf8()..];
        Some(if rest.starts_with("::") {
            Arg::Opt
        } else if rest.starts_with(':') {
            Arg::Req
        } else {
            Arg::No
        })
    }

    /// The long option `name` (an exact name or, where accepted, a unique prefix).
    fn long_opt(&self, name: &str) -> Option<(&'static str, Arg)> {
        if name.is_empty() {
            return None;
        }
        if let Some(&(n, a)) = self.long.iter().find(|(n, _)| *n == name) {
            return Some((n, a));
        }
        if !self.abbrev {
            return None;
        }
        let mut found = None;
        for &(n, a) in self.long {
            if n.starts_with(name) {
                if found.is_some() {
                    return None; // ambiguous: the program refuses it
                }
                found = Some((n, a));
            }
        }
        found
    }
}

/// One parsed argument.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    /// A short option; its argument, if any, and whether that argument was attached (`-i.bak`)
    /// or the next word.
    Short(char, Option<Word>, bool),
    /// A long option (full name) and its argument, if any.
    Long(&'static str, Option<Word>),
    /// An operand: the index of the word in the arguments.
    Operand(usize),
    /// `--`: every later word is an operand.
    EndOfOptions,
    /// A word in option position that is not an option of this program (or not known
    /// statically): what the program does with it, and with the words after it, is unknown.
    Unknown(usize),
}

impl Item {
    /// Is this the option `-short` / `--long`?
    pub fn is(&self, short: char, long: &str) -> bool {
        match self {
            Item::Short(c, ..) => *c == short,
            Item::Long(n, _) => *n == long,
            _ => false,
        }
    }

    /// The option's argument.
    pub fn value(&self) -> Option<&Word> {
        match self {
            Item::Short(_, v, _) | Item::Long(_, v) => v.as_ref(),
            _ => None,
        }
    }
}

/// The arguments, parsed.
pub(crate) struct Parsed {
    pub items: Vec<Item>,
    strict: bool,
    /// Some word in option position could not be read (unknown option, `-$x`): later words
    /// may be option arguments rather than operands.
    pub uncertain: bool,
}

impl Parsed {
    /// The operands' indices, in order.
    pub fn operands(&self) -> impl Iterator<Item = usize> + '_ {
        self.items.iter().filter_map(|i| match i {
            Item::Operand(k) => Some(*k),
            _ => None,
        })
    }

    /// Is the option `-short` / `--long` given?
    pub fn has(&self, short: char, long: &str) -> bool {
        self.items.iter().any(|i| i.is(short, long))
    }

    /// The arguments of every `-short` / `--long`.
    pub fn values<'a>(&'a self, short: char, long: &'a str) -> impl Iterator<Item = &'a Word> {
        self.items
            .iter()
            .filter(move |i| i.is(short, long))
            .filter_map(Item::value)
    }

    /// The canonical words rules see (see the module documentation).
    pub fn canonical(&self, args: &[Word]) -> Vec<Option<String>> {
        let mut out = Vec::with_capacity(args.len());
        for item in &self.items {
            match item {
                Item::Short(c, Some(v), true) => out.push(v.value().map(|t| format!("-{c}{t}"))),
                Item::Short(c, v, _) => {
                    out.push(Some(format!("-{c}")));
                    if let Some(v) = v {
                        out.push(v.value());
                    }
                }
                Item::Long(n, None) => out.push(Some(format!("--{n}"))),
                Item::Long(n, Some(v)) => match v.value() {
                    Some(t) => out.push(Some(format!("--{n}={t}"))),
                    None => {
                        out.push(Some(format!("--{n}")));
                        out.push(None);
                    }
                },
                Item::Operand(k) => out.push(args[*k].value()),
                Item::EndOfOptions => out.push(Some("--".to_string())),
                Item::Unknown(k) if !self.strict => out.push(args[*k].value()),
                Item::Unknown(_) => out.push(None),
            }
        }
        out
    }
}

/// Parse `args` (the words after the program name) with `spec`.
pub(crate) fn parse(spec: &Spec, args: &[Word]) -> Parsed {
    let mut p = Parsed {
        items: Vec::with_capacity(args.len()),
        strict: spec.strict,
        uncertain: false,
    };
    let mut i = 0;
    let mut options_done = false;
    while i < args.len() {
        let w = &args[i];
        let t = w.text.as_str();
        let dashed = t.starts_with('-') && t != "-";
        if options_done || !dashed {
            // (An unknown word that does not start with `-` is taken as an operand: if it
            // expands to options, the operand it stands for is unknown all the same.)
            p.items.push(Item::Operand(i));
            options_done |= !spec.permute;
        } else if w.value().is_none() {
            p.uncertain = true;
            p.items.push(Item::Unknown(i));
            options_done |= !spec.permute;
        } else if t == "--" {
            p.items.push(Item::EndOfOptions);
            options_done = true;
        } else if let Some(body) = t.strip_prefix("--") {
            i += long(spec, args, i, body, &mut p);
        } else {
            i += short(spec, args, i, &t[1..], &mut p);
        }
        i += 1;
    }
    p
}

/// A long option at `args[i]`; returns how many extra words it took.
fn long(spec: &Spec, args: &[Word], i: usize, body: &str, p: &mut Parsed) -> usize {
    let (name, val) = match body.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (body, None),
    };
    let w = &args[i];
    match (spec.long_opt(name), val) {
        (Some((full, Arg::No)), None) => p.items.push(Item::Long(full, None)),
        (Some((full, Arg::Opt | Arg::Req)), Some(v)) => {
            p.items.push(Item::Long(full, Some(part(w, v))))
        }
        (Some((full, Arg::Opt)), None) => p.items.push(Item::Long(full, None)),
        (Some((full, Arg::Req)), None) if i + 1 < args.len() => {
            p.items.push(Item::Long(full, Some(args[i + 1].clone())));
            return 1;
        }
        _ => {
            // Not an option of this program, ambiguous, or missing its argument: the program
            // refuses it, or it is newer than the table. Either way: unknown.
            p.uncertain = true;
            p.items.push(Item::Unknown(i));
        }
    }
    0
}

/// A cluster of short options at `args[i]`; returns how many extra words it took.
fn short(spec: &Spec, args: &[Word], i: usize, body: &str, p: &mut Parsed) -> usize {
    let w = &args[i];
    let mut cluster = Vec::new();
    let mut extra = 0;
    for (pos, c) in body.char_indices() {
        let rest = &body[pos + c.len_utf8()..];
        match spec.short_arg(c) {
            Some(Arg::No) => cluster.push(Item::Short(c, None, false)),
            Some(Arg::Opt) => {
                let v = (!rest.is_empty()).then(|| part(w, rest));
                cluster.push(Item::Short(c, v, true));
                break;
            }
            Some(Arg::Req) if !rest.is_empty() && spec.attached => {
                cluster.push(Item::Short(c, Some(part(w, rest)), false));
                break;
            }
            Some(Arg::Req) if rest.is_empty() && i + 1 < args.len() => {
                cluster.push(Item::Short(c, Some(args[i + 1].clone()), false));
                extra = 1;
                break;
            }
            _ => {
                // An unknown letter, a missing argument, or (tree) an argument that would
                // come from a later word while more letters follow: unknown.
                p.uncertain = true;
                p.items.push(Item::Unknown(i));
                return 0;
            }
        }
    }
    p.items.extend(cluster);
    extra
}

/// The part of a word after an option name: known when the word is.
fn part(w: &Word, text: &str) -> Word {
    Word {
        text: text.to_string(),
        known: w.known,
        glob: w.glob,
        fetch: w.fetch,
    }
}

/// The option table for a program (and, for git, its subcommand), if cordon has one.
/// `args` are the words after the program name; returns the table and how many leading words
/// (git's subcommand) are not options.
pub(crate) fn spec_for(program: &str, args: &[Word]) -> Option<(usize, &'static Spec)> {
    if program == "git" {
        let sub = args.first().filter(|w| w.known)?;
        return git::spec(&sub.text).map(|s| (1, s));
    }
    tables::spec(program).map(|s| (0, s))
}

/// The words rules see for `program args`: canonical where cordon knows the program's
/// options, else each word's static value.
pub(crate) fn rule_view(program: &str, args: &[Word]) -> Vec<Option<String>> {
    match spec_for(program, args) {
        Some((skip, spec)) => {
            let mut out: Vec<Option<String>> = args[..skip].iter().map(Word::value).collect();
            let parsed = parse(spec, &args[skip..]);
            out.extend(parsed.canonical(&args[skip..]));
            out
        }
        None => args.iter().map(Word::value).collect(),
    }
}

#[cfg(test)]
mod git_gen;
#[cfg(test)]
pub(crate) use git_gen::regen_source as git_regen_source;
