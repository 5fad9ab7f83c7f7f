//! The pipeline's errors. Each is worded for the user (the thing, the reason, the fix); the
//! binary prints it once, after `cordon: `, and exits with [`Error::exit_code`].

use cordon_sandbox::exit;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration (a file, a variable, a flag, the managed policy) is wrong or forbids it.
    #[error(transparent)]
    Config(#[from] cordon_config::ConfigError),
    /// The remembered approvals could not be read or written.
    #[error("grants: {0}")]
    Grants(#[from] cordon_config::grants::GrantsError),
    /// The sandbox could not be resolved or set up.
    #[error(transparent)]
    Sandbox(#[from] cordon_sandbox::Error),
    /// The audit log cannot be written: cordon does not run unrecorded unless told to.
    #[error("audit log: {0}")]
    Audit(String),
    /// What the caller asked is wrong (a missing command, conflicting options...).
    #[error("{0}")]
    Usage(String),
    /// cordon could not do what was asked (a file it cannot write, a state directory it cannot
    /// find...): the message names the thing, the reason and the fix.
    #[error("{0}")]
    Failed(String),
    /// A file cordon must read cannot be.
    #[error("cannot read {path}: {err}")]
    Read {
        path: std::path::PathBuf,
        err: std::io::Error,
    },
    /// Refused (policy deny, approval denied): the reason has been printed already; exit with
    /// this status.
    #[error("refused")]
    Refused(u8),
}

impl Error {
    /// A usage error: what the caller asked is wrong (the message names the fix).
    pub fn usage(msg: impl std::fmt::Display) -> Error {
        Error::Usage(msg.to_string())
    }

    /// cordon could not do what was asked (the message names the thing, the reason, the fix).
    pub fn failed(msg: impl std::fmt::Display) -> Error {
        Error::Failed(msg.to_string())
    }

    /// The exit status for this error (see `cordon_sandbox::exit`).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Refused(c) => *c,
            Error::Sandbox(cordon_sandbox::Error::Refused(_)) => exit::REFUSED,
            _ => exit::CORDON_FAILED,
        }
    }

    /// Whether the message is still to be printed (a refusal has said why already).
    pub fn is_silent(&self) -> bool {
        matches!(self, Error::Refused(_))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
