//! cordon-sandbox: the Linux sandbox. User, mount, PID, network, IPC and UTS namespaces; a
//! read-only view of the machine with the workspace writable, secrets covered and protected
//! paths read-only; Landlock as a second fence; a seccomp deny list; rlimits.
//!
//! Data flows one way: a [`spec::Request`] is resolved into a [`SandboxSpec`] (plain data, no
//! confinement yet), which [`exec::run`] turns into processes. All system calls live here, and
//! all `unsafe` code in `sys` (denied elsewhere).
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]
// cordon's output goes through `out!`/`outln!`/`errln!` (cordon_pipeline::out): `print!`,
// `println!` and `eprintln!` panic when the pipe's reader is gone (`cordon ... | head`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

/// `eprintln!` that never panics (as `cordon_pipeline::errln!`): a diagnostic stderr cannot take
/// (a closed pipe: `cordon run -- make 2>&1 | head`) is dropped; `eprintln!` would panic, and
/// the release build aborts on panic.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr(), $($arg)*);
    }};
}

// The caches' overlays and store make their own system calls for now (each with a SAFETY
// comment); they are to move into `sys` like the rest.
#[allow(unsafe_code)]
pub mod caches;
pub mod env;
pub mod exec;
pub mod exit;
pub mod fallback;
pub mod fence;
pub mod files;
pub mod gitconfig;
pub mod guard;
// A system-call module of its own (handle-based file operations for the check after a run),
// each block with a SAFETY comment; to join `sys`.
#[allow(unsafe_code)]
pub mod handles;
pub mod host;
pub mod index;
mod mounts;
pub mod neutralise;
pub mod placeholders;
pub mod probe;
mod protected;
pub mod runs;
mod runtime;
pub mod scan;
pub mod seccomp;
pub mod sockets;
pub mod spec;
mod sys;

pub use exec::{run, run_with, Launch, Outcome, Running, StartHook, Stdio};
pub use neutralise::Finding;
pub use probe::Probe;
pub use spec::{Isolation, Mode, Network, SandboxSpec};

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The request is wrong (bad option, missing path): the user can fix the command line.
    #[error("{0}")]
    Usage(String),
    /// A protection could not be set up: cordon refuses to run.
    #[error("cannot sandbox: {0}")]
    Setup(String),
    /// What was approved no longer holds (a pinned file changed): the command is not run.
    #[error("{0}")]
    Refused(String),
}

/// `CORDON_TIMING=1`: how long a piece of work that ran beside the phases (on another thread)
/// took, on a line of its own (`cordon-timing-note:`).
pub fn timing_note(what: &str, since: std::time::Instant) {
    if timing_on() {
        errln!(
            "cordon-timing-note: {what} {} us",
            since.elapsed().as_micros()
        );
    }
}

fn timing_on() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("CORDON_TIMING").is_some())
}

/// `CORDON_TIMING=1`: each phase of a run prints a CLOCK_MONOTONIC timestamp (µs) on stderr,
/// for finding where start-up time goes (bench/startup.sh measures the whole).
pub fn timing(phase: &str) {
    if timing_on() {
        errln!(
            "cordon-timing: {:>12} {phase}",
            crate::sys::fs::monotonic_us()
        );
    }
}
