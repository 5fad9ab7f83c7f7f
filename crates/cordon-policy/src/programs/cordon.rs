//! cordon's own `run`: what it runs is decided (a model writing `cordon run --no-policy -- X`
//! gets X decided); `cordon` itself is no rule's, so it asks.

use super::{Call, Program};
use crate::options;
use crate::unwrap::{argv_from, shell_string, uncertain, Unwrapped};
use crate::Word;

pub(crate) static CORDON: Program = Program {
    names: &["cordon"],
    runs: Some(runs),
    ..Program::NONE
};

fn runs(c: &Call) -> Unwrapped {
    match c.args.first() {
        Some(a) if a.known && a.text == "run" => unwrap_cordon_run(&c.args[1..]),
        _ => Unwrapped::None,
    }
}

/// `cordon run [OPTIONS] -- CMD...` or `cordon run [OPTIONS] -c STRING` (clap: exact long
/// options; the command only after `--`).
fn unwrap_cordon_run(args: &[Word]) -> Unwrapped {
    let p = options::parse(&options::CORDON_RUN, args);
    if p.uncertain {
        return uncertain("cordon run", args);
    }
    if let Some(s) = p.values('c', "").last() {
        return shell_string(s);
    }
    let Some(dd) = p
        .items
        .iter()
        .position(|i| matches!(i, options::Item::EndOfOptions))
    else {
        return Unwrapped::None; // nothing to run (clap refuses it)
    };
    let first = p.items[dd..].iter().find_map(|i| match i {
        options::Item::Operand(k) => Some(*k),
        _ => None,
    });
    match first {
        Some(k) => argv_from(args, k, false, None),
        None => Unwrapped::None,
    }
}
