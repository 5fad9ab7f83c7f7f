//! `watch`: runs its words joined by `sh -c` (or as they are with `-x`).

use super::{Call, Program};
use crate::options;
use crate::unwrap::{argv_from, join_source, uncertain, Unwrapped};
use crate::Word;

pub(crate) static WATCH: Program = Program {
    names: &["watch"],
    runs: Some(|c: &Call| unwrap_watch(c.args)),
    ..Program::NONE
};

/// `watch [OPTIONS] COMMAND...`: the words joined and run by `sh -c`, or with `-x` as they are.
fn unwrap_watch(args: &[Word]) -> Unwrapped {
    let p = options::parse(&options::WATCH, args);
    if p.uncertain {
        return uncertain("watch", args);
    }
    let Some(k) = p.operands().next() else {
        return Unwrapped::None;
    };
    if p.has('x', "exec") {
        argv_from(args, k, false, None)
    } else {
        join_source(&args[k..], "watch runs a computed command")
    }
}
