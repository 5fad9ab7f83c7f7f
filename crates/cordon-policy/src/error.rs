//! Errors: a policy file that cannot be read or does not parse, named with its path, line and
//! column, what was expected and how to fix it.

use std::path::{Path, PathBuf};

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

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, col)
}

/// A [`PolicyError::Syntax`] at a byte offset of a policy file's text.
pub(crate) fn err_at(
    path: &Path,
    text: &str,
    offset: usize,
    msg: impl Into<String>,
) -> PolicyError {
    let (line, column) = line_col(text, offset);
    PolicyError::Syntax {
        path: path.to_path_buf(),
        line,
        column,
        message: msg.into(),
    }
}
