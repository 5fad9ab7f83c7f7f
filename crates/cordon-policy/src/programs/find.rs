//! `find`: what `-exec/-execdir/-ok/-okdir ... ;` runs (each command is evaluated, `{}` a
//! run-time word), and deleting under a critical directory (`-delete`, `-exec rm`).

use super::{Call, Program};
use crate::eval::Ev;
use crate::unwrap::Unwrapped;
use crate::{hit, Decision, Hit, Word};

pub(crate) static FIND: Program = Program {
    names: &["find"],
    runs: Some(runs),
    check: Some(check),
    ..Program::NONE
};

fn runs(c: &Call) -> Unwrapped {
    Unwrapped::Each {
        via: "find -exec",
        commands: find_exec(c.args),
    }
}

fn check(ev: &mut Ev, c: &Call, hits: &mut Vec<Hit>) {
    hits.extend(ev.find_check(c.args));
}

/// The commands that `find -exec/-execdir/-ok/-okdir ... ;` runs (`{}` is a run-time word).
fn find_exec(args: &[Word]) -> Vec<Vec<Word>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if matches!(
            args[i].text.as_str(),
            "-exec" | "-execdir" | "-ok" | "-okdir"
        ) {
            let mut inner = Vec::new();
            i += 1;
            while i < args.len() && args[i].text != ";" && args[i].text != "+" {
                let mut w = args[i].clone();
                if w.text.contains("{}") {
                    w.known = false;
                }
                inner.push(w);
                i += 1;
            }
            if !inner.is_empty() {
                out.push(inner);
            }
        }
        i += 1;
    }
    out
}

impl Ev<'_> {
    /// `find START... EXPR` deleting under a critical directory: `-delete`, or `-exec rm`
    /// (`rmdir`, `unlink`, `shred`, `truncate`; also `-execdir`, `-ok`, `-okdir`). Deny when a
    /// start is `/`, a system directory, the home directory or an ancestor of it or of the
    /// workspace (what `rm -r` may not delete); at the workspace root itself, deny only when
    /// nothing narrows what is deleted (`find . -delete`, not `find . -name '*.o' -delete`).
    pub(crate) fn find_check(&self, args: &[Word]) -> Option<Hit> {
        let f = FindArgs::parse(args);
        if !f.deletes {
            return None;
        }
        let starts: Vec<&Word> = if f.starts.is_empty() {
            Vec::new()
        } else {
            f.starts.iter().map(|&k| &args[k]).collect()
        };
        let dot = Word::known(".".into());
        let starts = if starts.is_empty() {
            vec![&dot]
        } else {
            starts
        };
        for w in starts {
            let Some(p) = w.value().and_then(|t| self.resolve(&t)) else {
                continue; // unknown: find-exec asks already
            };
            let beyond_workspace = p != self.ctx.workspace;
            if self.critical(&p) && (beyond_workspace || !f.narrowed) {
                return Some(hit(
                    Decision::Deny,
                    "find-delete-critical",
                    format!(
                        "find deletes under {} (the root, a system directory, your home or the workspace){}",
                        p.display(),
                        if beyond_workspace { "" } else { " with nothing narrowing what" }
                    ),
                ));
            }
        }
        None
    }
}

/// `find`'s arguments: the start directories (indices), whether it deletes, and whether some
/// test narrows what it acts on.
struct FindArgs {
    starts: Vec<usize>,
    deletes: bool,
    narrowed: bool,
}

/// Deleting programs run by `find -exec`.
const DELETERS: &[&str] = &["rm", "rmdir", "unlink", "shred", "truncate"];

/// Expression words that do not narrow which files an action applies to.
const NOT_NARROWING: &[&str] = &[
    "-depth",
    "-d",
    "-maxdepth",
    "-mindepth",
    "-xdev",
    "-mount",
    "-noleaf",
    "-ignore_readdir_race",
    "-noignore_readdir_race",
    "-daystart",
    "-follow",
    "-regextype",
    "-warn",
    "-nowarn",
    "-true",
    "-type",
    "-xtype",
    "-print",
    "-print0",
    "-printf",
    "-fprint",
    "-fprint0",
    "-fprintf",
    "-ls",
    "-fls",
    "-a",
    "-and",
    "(",
    ")",
    ",",
    "-delete",
];

impl FindArgs {
    fn parse(args: &[Word]) -> FindArgs {
        let mut i = 0;
        // Options before the starting points: -H -L -P, -D debugopts, -Olevel.
        while i < args.len() {
            match args[i].text.as_str() {
                "-H" | "-L" | "-P" => i += 1,
                "-D" => i += 2,
                t if t.starts_with("-O") => i += 1,
                _ => break,
            }
        }
        let mut f = FindArgs {
            starts: Vec::new(),
            deletes: false,
            narrowed: false,
        };
        while i < args.len() {
            let t = args[i].text.as_str();
            if t.starts_with('-') || matches!(t, "(" | "!" | ")" | ",") {
                break;
            }
            f.starts.push(i);
            i += 1;
        }
        while i < args.len() {
            let t = args[i].text.as_str();
            match t {
                "-delete" => f.deletes = true,
                "-exec" | "-execdir" | "-ok" | "-okdir" => {
                    let prog = args.get(i + 1).map(|w| w.text.as_str()).unwrap_or("");
                    let base = prog.rsplit('/').next().unwrap_or(prog);
                    f.deletes |= DELETERS.contains(&base);
                    while i < args.len() && args[i].text != ";" && args[i].text != "+" {
                        i += 1;
                    }
                }
                _ if NOT_NARROWING.contains(&t) => {
                    if matches!(
                        t,
                        "-maxdepth" | "-mindepth" | "-regextype" | "-type" | "-xtype"
                    ) {
                        i += 1; // its argument
                    }
                    if matches!(t, "-printf" | "-fprint" | "-fprint0" | "-fls") {
                        i += 1;
                    }
                    if t == "-fprintf" {
                        i += 2;
                    }
                }
                _ => f.narrowed = true,
            }
            i += 1;
        }
        f
    }
}
