#![forbid(unsafe_code)]
//! cordon-pipeline: one run, decided, confined and recorded, for every entry point (`cordon
//! run`, `cordon check`, the agent hooks, the MCP wrapper). The binary only turns its options
//! into a [`Request`] and prints what comes back.
//!
//! One command, from `main` to `execve` and back to the audit record, is these stages in order,
//! each a type that can only be made from the one before:
//!
//! 1. [`Request`] (`request.rs`): what to run, the options as one config layer
//!    (`cordon_config::Flags`), the escalations asked for, the audit options.
//! 2. [`Plan::new`] (`plan.rs`): the effective config (built-in, system, user, project by trust,
//!    environment, flags, managed: `cordon_config::load`), the audit directory, the command
//!    policy, the kernel's abilities (`Probe`) and the sandbox spec (`cordon_sandbox::spec::build`,
//!    its only producer: cordon's own directories and the proxy's variables are inputs of the
//!    build, so `--dry-run` prints exactly what runs). Nothing is asked, written or run yet.
//! 3. [`Plan::decide`] → [`Decided`] (`decide.rs`): the session's audit record is opened
//!    (`record.rs`: `session_start` must be written, or nothing runs), and the policy decides the
//!    command; the decision is recorded; deny stops here (126).
//! 4. [`Decided::approve`] → [`Approved`] (`approve.rs`, `approval/`): the approval mode says who
//!    is asked (a remembered grant, a person on the terminal, the approver command). What a yes
//!    grants becomes one more config layer (`Config::grant`, never an edit of the options) and
//!    the spec is built again from it, with the files a grant is bound to pinned to the bytes
//!    that were hashed (`approval/scripts.rs`).
//! 5. [`Approved::launch`] (`launch.rs`): the proxy when the spec has one, then
//!    `cordon_sandbox::run_with` (supervisor, the sandbox's init, the command's `execve`; the
//!    command's stdio is cordon's own, or the caller's pipes: `Request::stdio`); the exec
//!    and exit records; under `on-failure`, a failed run may be asked about and run again. The
//!    exit status comes back to `main` (`cordon_sandbox::exit`).
//!
//! Deciding without running (a hook's question about a shell command, a file, a URL) is
//! [`check::Checker`], on the same config, trust, policy and audit log.
// cordon's output goes through `out!`/`outln!`/`errln!` (cordon_pipeline::out): `print!`,
// `println!` and `eprintln!` panic when the pipe's reader is gone (`cordon ... | head`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

// First: its macros (`out!`, `outln!`, `errln!`) are used by the modules after it.
#[macro_use]
pub mod out;
pub mod approval;
pub mod approve;
pub mod check;
pub mod credentials;
pub mod decide;
mod error;
pub mod files;
pub mod launch;
pub mod plan;
pub mod profile;
pub mod record;
pub mod request;

pub use approve::Approved;
pub use decide::Decided;
pub use error::{Error, Result};
pub use plan::Plan;
pub use request::{Command, OnStart, Request, Stdio};
