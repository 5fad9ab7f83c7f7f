//! Typed errors of the MCP pin store. Each Display is the message cordon has always printed
//! (callers and tests compare it): the thing, the reason, and the fix where there is one.

use std::path::PathBuf;

/// A server name that cannot be used, or a pin store that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--name` (or a pin file's name) outside `A-Z a-z 0-9 . _ -`; holds the escaped name.
    #[error(
        "invalid server name {0:?}: use 1 to 64 letters, digits, '.', '_' or '-' (not starting with '.')"
    )]
    BadName(String),
    /// The store's directory (`<state>/mcp`, or its `servers/`) cannot be created or listed.
    #[error("pin store {}: {source}", dir.display())]
    Store {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// The store's lock file cannot be opened or locked.
    #[error("pin store lock {}: {source}", path.display())]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A server's pin file cannot be read or written.
    #[error("pin file {}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A server's pin file is not valid JSON of the expected shape.
    #[error(
        "pin file {} is damaged ({source}); move it away to start over (every tool will be pinned again on first use)",
        path.display()
    )]
    Damaged {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// The pins cannot be encoded (not expected: they are plain data).
    #[error("{0}")]
    Encode(serde_json::Error),
}
