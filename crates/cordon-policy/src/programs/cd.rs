//! `cd DIR` moves the directory later relative paths resolve against (unknown once DIR is).

use super::{Call, Program};
use crate::eval::Ev;
use crate::{Hit, Word};

pub(crate) static CD: Program = Program {
    names: &["cd"],
    check: Some(check),
    ..Program::NONE
};

fn check(ev: &mut Ev, c: &Call, _: &mut Vec<Hit>) {
    ev.cd(c.args);
}

impl Ev<'_> {
    fn cd(&mut self, args: &[Word]) {
        let target = args
            .iter()
            .find(|w| !w.text.starts_with('-') || w.text == "-");
        self.cwd = match target {
            None => Some(self.ctx.home.clone()),
            Some(w) if w.known && !w.glob && w.text != "-" => self.resolve(&w.text),
            _ => None,
        };
    }
}
