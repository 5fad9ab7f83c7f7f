//! Errors: a policy file that cannot be read or does not parse, named with its path, line and
//! column, what was expected and how to fix it.

use std::path::PathBuf;

/// A policy file could not be loaded: where, and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A source that may only tighten tried to loosen.
    #[error("{message}")]
    Loosens { message: String },
}

/// A rule's pattern token that cannot match anything or has the wrong shape; reported inside a
/// [`PolicyError::Syntax`] at the token's position.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PatternError {
    #[error("an empty string never matches")]
    EmptyToken,
    #[error("an empty pattern never matches")]
    EmptyPattern,
    #[error("expected a string, {{ any = [\"a\", \"b\"] }} or {{ glob = \"a*\" }}")]
    Shape,
}
