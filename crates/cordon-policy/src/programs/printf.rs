//! bash's `printf -v NAME` assigns a variable, like `NAME=...`.

use super::{Call, Program};
use crate::eval::Ev;
use crate::options::{self, Spec};
use crate::{hit, Decision, Hit, Word};

pub(crate) static PRINTF: Program = Program {
    names: &["printf"],
    check: Some(check),
    ..Program::NONE
};

fn check(_: &mut Ev, c: &Call, hits: &mut Vec<Hit>) {
    hits.extend(printf_assign(c.args));
}

/// bash's `printf -v NAME` assigns a variable: like `NAME=...`, setting `PATH` or
/// `LD_PRELOAD` changes what runs next.
fn printf_assign(args: &[Word]) -> Option<Hit> {
    static PRINTF: Spec = Spec {
        short: "v:",
        long: &[],
        abbrev: false,
        permute: false,
        attached: true,
        strict: false,
    };
    let p = options::parse(&PRINTF, args);
    let name = p.values('v', "").last()?;
    let risky = match name.value() {
        Some(n) => crate::vars::dangerous_env(n.split('[').next().unwrap_or(&n)),
        None => true,
    };
    risky.then(|| {
        hit(
            Decision::Ask,
            "env-assignment",
            format!(
                "printf -v {} sets a variable that changes which program runs or what it loads",
                name.text
            ),
        )
    })
}
