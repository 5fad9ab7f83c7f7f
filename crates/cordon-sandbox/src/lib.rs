//! cordon-sandbox: the Linux sandbox. User, mount, PID, network, IPC and UTS namespaces; a
//! read-only view of the machine with the workspace writable, secrets covered and protected
//! paths read-only; Landlock as a second fence; a seccomp deny list; rlimits.
//!
//! Data flows one way: a [`spec::Request`] is resolved into a [`SandboxSpec`] (plain data, no
//! confinement yet), which [`exec::run`] turns into processes. All system calls live here.

pub mod env;
pub mod exec;
pub mod fence;
mod mounts;
pub mod placeholders;
pub mod probe;
pub mod seccomp;
pub mod spec;
mod sys;

pub use exec::{run, Outcome};
pub use probe::Probe;
pub use spec::{SandboxSpec, Mode, Network, Isolation};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is wrong (bad option, missing path): the user can fix the command line.
    #[error("{0}")]
    Usage(String),
    /// A protection could not be set up: cordon refuses to run.
    #[error("cannot sandbox: {0}")]
    Setup(String),
}
