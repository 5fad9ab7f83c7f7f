//! `uniq IN OUT` writes OUT.

use super::{Call, Program};
use crate::eval::Ev;
use crate::{hit, Decision, Hit};

pub(crate) static UNIQ: Program = Program {
    names: &["uniq"],
    check: Some(check),
    ..Program::NONE
};

fn check(_: &mut Ev, c: &Call, hits: &mut Vec<Hit>) {
    let files = c
        .args
        .iter()
        .filter(|a| !a.text.starts_with('-') || a.text == "-");
    if files.count() > 1 {
        hits.push(hit(
            Decision::Ask,
            "uniq-output",
            "uniq writes its second file argument",
        ));
    }
}
