//! The audit log's error type. Each Display is the message cordon has always printed (callers
//! and tests compare it): the thing, the reason, and the fix where there is one.

/// An error of the audit log, in cordon's style: what, why, and the fix when there is one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory of the log that cannot be opened, read, written, locked or synced;
    /// `what` names it ("cannot read /path", "cannot lock the audit log").
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// A record that cannot be encoded as JSON (not expected: records are plain data).
    #[error("cannot encode the audit record: {0}")]
    Encode(serde_json::Error),
    /// The log's state forbids the operation (no state directory, a log that changed under the
    /// writer, a last line that is not a record): the message says which and what to do.
    #[error("{0}")]
    Log(String),
    /// `cordon audit export --otlp`: a bad collector URL, or a collector that cannot be reached
    /// or refused the records.
    #[error("{0}")]
    Export(String),
}

pub(crate) fn io_err(what: impl std::fmt::Display, e: std::io::Error) -> Error {
    Error::Io {
        what: what.to_string(),
        source: e,
    }
}
