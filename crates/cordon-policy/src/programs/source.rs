//! `source FILE` / `. FILE`: runs FILE in this shell (the file is not read: a rule asks);
//! `/dev/stdin` reads the program from stdin; `<(curl ..)` is a download.

use super::{is_stdin_path, Call, Program};
use crate::unwrap::{Code, Unwrapped};

pub(crate) static SOURCE: Program = Program {
    names: &["source", "."],
    runs: Some(runs),
    ..Program::NONE
};

fn runs(c: &Call) -> Unwrapped {
    let code = match c.args.iter().find(|a| a.text != "--") {
        Some(w) if is_stdin_path(w) => Code::Stdin,
        Some(w) => Code::File(w.clone()),
        None => Code::None,
    };
    Unwrapped::Code(code, true)
}
