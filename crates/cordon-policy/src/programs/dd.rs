//! `dd of=FILE` writes FILE: a device or a protected path is deny however it is spelled.

use super::{Call, Program};
use crate::eval::Ev;
use crate::{hit, Decision, Hit, Word};

pub(crate) static DD: Program = Program {
    names: &["dd"],
    check: Some(check),
    ..Program::NONE
};

fn check(ev: &mut Ev, c: &Call, hits: &mut Vec<Hit>) {
    hits.extend(ev.dd_check(c.args));
}

impl Ev<'_> {
    /// `dd of=FILE` writes FILE: a device or a protected path is deny (however it is spelled:
    /// `of=//dev/sda`, `of=/dev/../dev/sda`, `cd /dev && dd of=sda`).
    fn dd_check(&self, args: &[Word]) -> Option<Hit> {
        for a in args {
            let Some(path) = a.text.strip_prefix("of=") else {
                continue;
            };
            let w = Word {
                text: path.to_string(),
                ..a.clone()
            };
            let h = self.write_check(&w);
            if h.decision == Decision::Deny {
                return Some(hit(Decision::Deny, "dd-device", format!("dd {}", h.reason)));
            }
        }
        None
    }
}
