//! `su -c STRING` runs a shell string (su itself is denied by a rule).

use super::{Call, Program};
use crate::unwrap::{shell_string, Unwrapped};

pub(crate) static SU: Program = Program {
    names: &["su"],
    runs: Some(runs),
    ..Program::NONE
};

fn runs(c: &Call) -> Unwrapped {
    let args = c.args;
    match args
        .iter()
        .position(|a| a.text == "-c" || a.text == "--command")
    {
        Some(i) if i + 1 < args.len() => shell_string(&args[i + 1]),
        _ => Unwrapped::None,
    }
}
