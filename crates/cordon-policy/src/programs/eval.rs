//! `eval WORDS...`: the words joined are shell code (a static string is parsed; `eval "$x"` asks).

use super::{Call, Program};
use crate::unwrap::join_source;

pub(crate) static EVAL: Program = Program {
    names: &["eval"],
    runs: Some(|c: &Call| join_source(c.args, "eval of a string only known at run time")),
    ..Program::NONE
};
