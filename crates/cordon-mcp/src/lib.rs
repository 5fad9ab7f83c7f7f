//! cordon-mcp: the MCP gateway behind `cordon mcp wrap`.
//!
//! - [`wire`]: newline-framed JSON-RPC messages read with a bound on their size;
//! - [`canon`]: canonical JSON (sorted keys) and its SHA-256, what pins are made of;
//! - [`poison`]: tool-poisoning detection in descriptions and schemas;
//! - [`hashcache`]: the identity's file hashes cached in the state directory (`mcp/hashes.json`);
//! - [`pins`]: the pin store in cordon's state directory (`mcp/`), the server's identity;
//! - [`gateway`]: the relay's decisions for each message, both protocol eras;
//! - [`relay`]: the threads that move messages between the client and the server.
#![forbid(unsafe_code)]
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

pub mod canon;
pub mod error;
pub mod gateway;
pub mod hashcache;
pub mod pins;
pub mod poison;
pub mod relay;
pub mod wire;

pub use error::Error;
pub use gateway::{CallDecision, CallPolicy, FirstUse, Gateway, Options, PoisonMode};
