//! `tee FILE` fed a download writes a download.

use super::{Call, Program};
use crate::eval::Ev;
use crate::Hit;

pub(crate) static TEE: Program = Program {
    names: &["tee"],
    check: Some(check),
    ..Program::NONE
};

fn check(ev: &mut Ev, c: &Call, _: &mut Vec<Hit>) {
    if c.stdin.fetch {
        for w in c.args.iter().filter(|w| !w.text.starts_with('-')) {
            ev.downloaded(w);
        }
    }
}
