//! `rm -r` of `/`, a system directory, the home or workspace directory or an ancestor
//! of them is deny; `--no-preserve-root` is deny; a target only known at run time asks.

use super::{Call, Program};
use crate::eval::Ev;
use crate::{hit, Decision, Hit, Word};

pub(crate) static RM: Program = Program {
    names: &["rm"],
    check: Some(check),
    ..Program::NONE
};

fn check(ev: &mut Ev, c: &Call, hits: &mut Vec<Hit>) {
    hits.extend(ev.rm_check(c.args));
}

impl Ev<'_> {
    fn rm_check(&self, args: &[Word]) -> Option<Hit> {
        let mut recursive = false;
        let mut targets = Vec::new();
        let mut opts_done = false;
        for a in args {
            if !opts_done && a.known && a.text.starts_with('-') && a.text.len() > 1 {
                if a.text == "--" {
                    opts_done = true;
                } else if a.text == "--recursive" {
                    recursive = true;
                } else if a.text == "--no-preserve-root" {
                    return Some(hit(
                        Decision::Deny,
                        "rm-root",
                        "rm --no-preserve-root exists only to delete /",
                    ));
                } else if !a.text.starts_with("--") && a.text.contains(['r', 'R']) {
                    recursive = true;
                }
            } else {
                targets.push(a);
            }
        }
        if !recursive {
            return None;
        }
        for t in targets {
            if !t.known {
                return Some(hit(
                    Decision::Ask,
                    "rm-dynamic",
                    format!("rm -r of {}, a path only known at run time", t.text),
                ));
            }
            let (path, what) = if t.glob {
                // `/*`, `~/*`, `./*`: everything in the directory before the first glob char.
                let cut = t.text.find(['*', '?', '[']).unwrap_or(t.text.len());
                let pre = &t.text[..cut];
                let dir = match pre.rfind('/') {
                    Some(0) => "/".to_string(),
                    Some(i) => pre[..i].to_string(),
                    None => ".".to_string(),
                };
                (self.resolve(&dir), "everything in")
            } else {
                (self.resolve(&t.text), "")
            };
            match path {
                Some(p) if self.critical(&p) => {
                    return Some(hit(
                        Decision::Deny,
                        "rm-critical",
                        format!("rm -r deletes {what} {} (the root, a system directory, your home or the workspace)", p.display()).replace("  ", " "),
                    ))
                }
                None => {
                    return Some(hit(
                        Decision::Ask,
                        "rm-dynamic",
                        format!("rm -r of {} relative to a directory not known statically", t.text),
                    ))
                }
                _ => {}
            }
        }
        None
    }
}
