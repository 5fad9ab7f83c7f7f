//! `env [-i] [-u NAME] [-C DIR] [NAME=VALUE]... [COMMAND]`.

use super::{Call, Program};
use crate::options;
use crate::unwrap::{argv_from, uncertain, Unwrapped};
use crate::Word;

pub(crate) static ENV: Program = Program {
    names: &["env"],
    runs: Some(|c: &Call| unwrap_env(c.args)),
    ..Program::NONE
};

/// `env [-i] [-u NAME] [-C DIR] [NAME=VALUE]... [COMMAND]`; `-S STRING` splits a string
/// into the command (not read: ask); a lone `-` is `-i`.
fn unwrap_env(args: &[Word]) -> Unwrapped {
    let p = options::parse(&options::ENV, args);
    if p.has('S', "split-string") {
        let fetch = p.values('S', "split-string").any(|w| w.fetch);
        return Unwrapped::Dynamic("env -S splits a string into a command".into(), fetch);
    }
    if p.uncertain {
        return uncertain("env", args);
    }
    let mut ops = p.operands().peekable();
    if ops
        .peek()
        .is_some_and(|&k| args[k].known && args[k].text == "-")
    {
        ops.next();
    }
    let chdir = p.values('C', "chdir").last().cloned();
    match ops.next() {
        Some(k) => argv_from(args, k, false, chdir),
        None => Unwrapped::None,
    }
}
