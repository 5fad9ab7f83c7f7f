//! GNU `parallel`/`sem` build the commands they run from their arguments and input: ask.

use super::{Call, Program};
use crate::unwrap::Unwrapped;

pub(crate) static PARALLEL: Program = Program {
    names: &["parallel", "sem"],
    runs: Some(runs),
    ..Program::NONE
};

fn runs(c: &Call) -> Unwrapped {
    Unwrapped::Dynamic(
        "GNU parallel runs commands built from its arguments and its input".into(),
        c.args.iter().any(|a| a.fetch),
    )
}
