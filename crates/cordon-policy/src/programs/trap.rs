//! `trap ACTION SIGNAL...`: ACTION is shell code, run later in this shell.

use super::{Call, Program};
use crate::unwrap::{shell_string, Unwrapped};
use crate::Word;

pub(crate) static TRAP: Program = Program {
    names: &["trap"],
    runs: Some(|c: &Call| unwrap_trap(c.args)),
    ..Program::NONE
};

/// `trap [-lpP] [ACTION] [SIGNAL...]`: ACTION is shell code (run later, in this shell).
fn unwrap_trap(args: &[Word]) -> Unwrapped {
    let ops: Vec<&Word> = args
        .iter()
        .skip_while(|a| a.known && a.text.starts_with('-') && a.text != "-" && a.text != "--")
        .skip_while(|a| a.known && a.text == "--")
        .collect();
    if args
        .iter()
        .take_while(|a| a.text.starts_with('-'))
        .any(|a| matches!(a.text.as_str(), "-l" | "-p" | "-P"))
        || ops.len() < 2
    {
        return Unwrapped::None;
    }
    let action = ops[0];
    if action.known && (action.text == "-" || action.text.is_empty()) {
        return Unwrapped::None;
    }
    shell_string(action)
}
