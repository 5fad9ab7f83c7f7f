//! cordon's exit statuses, defined once (the CLI, the pipeline and the sandbox use these).
//!
//! A command that ran exits with its own status; these are cordon's own, chosen as `timeout(1)`
//! and POSIX shells do (124 and up). The low ones (1, 2) are the answers of cordon's own
//! commands that check something.

/// A command that checks or asks ran and the answer is no, as printed: `cordon doctor` (cordon
/// would refuse to run), `audit verify` (tampered), `install --self-test` (a hook answered
/// wrong), `policy test` (a file failed), `cache clean` (a cache in use), `mcp approve` (not
/// approved).
pub const CHECK_FAILED: u8 = 1;
/// `cordon check`: the decision is ask (allow is 0).
pub const CHECK_ASK: u8 = 1;
/// `cordon check`: the decision is deny.
pub const CHECK_DENY: u8 = 2;
/// `cordon hook`: the status every agent's hook protocol reads as "blocked" (with the refusal in
/// the agent's format on stdout and the reason on stderr).
pub const HOOK_DENY: u8 = 2;
/// `--timeout` killed the sandbox.
pub const TIMEOUT: u8 = 124;
/// cordon itself failed: a bad option, a broken config, a sandbox that could not be set up.
pub const CORDON_FAILED: u8 = 125;
/// Refused (policy deny, approval denied, a pinned file changed), or the command is not
/// executable.
pub const REFUSED: u8 = 126;
/// The command was not found.
pub const NOT_FOUND: u8 = 127;

/// The status of a command stopped by Ctrl-C (SIGINT: [`signal`]`(2)`).
pub const INTERRUPTED: u8 = 130;

/// The status of a command that died of signal `n`.
pub fn signal(n: i32) -> i32 {
    128 + n
}
