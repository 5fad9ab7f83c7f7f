//! cordon's exit statuses, defined once (the CLI, the pipeline and the sandbox use these).
//!
//! A command that ran exits with its own status; these are cordon's own, chosen as `timeout(1)`
//! and POSIX shells do.

/// `--timeout` killed the sandbox.
pub const TIMEOUT: u8 = 124;
/// cordon itself failed: a bad option, a broken config, a sandbox that could not be set up.
pub const CORDON_FAILED: u8 = 125;
/// Refused (policy deny, approval denied, a pinned file changed), or the command is not
/// executable.
pub const REFUSED: u8 = 126;
/// The command was not found.
pub const NOT_FOUND: u8 = 127;

/// The status of a command that died of signal `n`.
pub fn signal(n: i32) -> i32 {
    128 + n
}
