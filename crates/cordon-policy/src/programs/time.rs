//! `time [-p] CMD` (the bash keyword) and GNU `/usr/bin/time [-o FILE] CMD`: runs CMD; `-o`
//! writes FILE.

use super::{Call, Program};
use crate::eval::Ev;
use crate::options;
use crate::unwrap::{wrapped, Unwrapped};
use crate::{Hit, Word};

pub(crate) static TIME: Program = Program {
    names: &["time"],
    runs: Some(runs),
    check: Some(check),
    ..Program::NONE
};

fn runs(c: &Call) -> Unwrapped {
    wrapped(c.program, &options::TIME, c.args, 0)
}

fn check(ev: &mut Ev, c: &Call, hits: &mut Vec<Hit>) {
    let p = options::parse(&options::TIME, c.args);
    let outs: Vec<Word> = p.values('o', "output").cloned().collect();
    for w in outs {
        hits.push(ev.write_check(&w));
    }
}
