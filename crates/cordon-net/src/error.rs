//! Typed errors of the network crate's parsers. Each Display is the message cordon has always
//! printed (callers and tests compare it): the thing, the reason, and the fix where there is one.

use crate::host::BadHost;

/// A host, `host:port`, domain pattern or `--resolve` value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `host:PORT` with a port that is not 1–65535.
    #[error("bad port in {input:?}")]
    BadPort { input: String },
    /// `[v6` without its `]`.
    #[error("unclosed '[' in {input:?}")]
    UnclosedBracket { input: String },
    /// `[v6]` followed by something other than `:port`.
    #[error("bad address {input:?}")]
    BadAddress { input: String },
    /// A domain pattern whose host is not a host name or address.
    #[error("{input:?}: {reason}")]
    PatternHost { input: String, reason: BadHost },
    /// `*.` with nothing usable after it.
    #[error("{input:?}: a wildcard needs a domain after '*.'")]
    EmptyWildcard { input: String },
    /// A `*` anywhere but a leading `*.`.
    #[error("{input:?}: only a leading '*.' wildcard is supported (e.g. '*.github.com')")]
    InnerWildcard { input: String },
    /// `--resolve` without a `:`.
    #[error("--resolve {input:?}: expected NAME:ADDR")]
    ResolveSyntax { input: String },
    /// `--resolve NAME:ADDR` whose ADDR is not an IP address.
    #[error("--resolve {input:?}: {addr:?} is not an address")]
    ResolveAddress { input: String, addr: String },
    /// `--resolve NAME:ADDR` whose NAME is not a host name.
    #[error("--resolve {input:?}: {name:?} is not a host name")]
    ResolveName { input: String, name: String },
}
