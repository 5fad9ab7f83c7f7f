//! `xargs`: the command gets more arguments from the input; `-I R` words are replaced by it.

use super::{Call, Program};
use crate::options;
use crate::unwrap::{argv_from, uncertain, Unwrapped};
use crate::Word;

pub(crate) static XARGS: Program = Program {
    names: &["xargs"],
    runs: Some(|c: &Call| unwrap_xargs(c.args)),
    ..Program::NONE
};

/// `xargs [OPTIONS] [COMMAND [ARGS]]`: the command gets more arguments from the input;
/// with `-I R` / `-i` / `--replace`, every word containing R is replaced by input.
fn unwrap_xargs(args: &[Word]) -> Unwrapped {
    let p = options::parse(&options::XARGS, args);
    if p.uncertain {
        return uncertain("xargs", args);
    }
    let mut replace: Option<Option<String>> = None;
    for item in &p.items {
        if item.is('I', "") || item.is('i', "replace") {
            replace = Some(match item.value() {
                Some(w) => w.value(),
                None => Some("{}".to_string()),
            });
        }
    }
    let Some(k) = p.operands().next() else {
        return Unwrapped::Argv {
            argv: vec![Word::known("echo".into())],
            assigns: vec![],
            tail_unknown: true,
            chdir: None,
        };
    };
    let mut inner = argv_from(args, k, true, None);
    if let (Some(r), Unwrapped::Argv { argv, .. }) = (replace, &mut inner) {
        for w in argv.iter_mut() {
            // The replace string unknown: any word may be replaced.
            if r.as_deref().is_none_or(|r| w.text.contains(r)) {
                w.known = false;
            }
        }
    }
    inner
}
