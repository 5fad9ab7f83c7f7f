//! `cordon mcp`: the MCP gateway (`wrap`), the sandboxed shell server (`serve`), the pins
//! (`pins`, `approve`) and client configuration (`install`, `uninstall`). The logic lives in
//! the cordon-mcp crate; this is the command line around it.

use cordon_pipeline::Error;
use std::path::PathBuf;
use std::process::ExitCode;

mod approve;
mod install;
mod serve;
pub(crate) mod wrap;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Run an MCP server (stdio) in the sandbox behind cordon's gateway: pins its tools,
    /// withholds changed or poisoned ones, decides each tool call, records everything.
    Wrap(Box<wrap::Args>),
    /// An MCP server (stdio) with tools run, check, read_file, list_dir: cordon's sandbox for
    /// any MCP client.
    Serve(serve::Args),
    /// Rewrite a client's MCP servers to run through `cordon mcp wrap` (backup, --dry-run).
    Install(install::Args),
    /// Restore a client's MCP servers as they were before `cordon mcp install`.
    Uninstall(install::Args),
    /// List the pinned servers and tools, what is withheld, and tool names offered twice.
    Pins(approve::PinsArgs),
    /// Review what changed in a server (or one tool) and approve it.
    Approve(approve::ApproveArgs),
}

pub fn run(a: Args) -> Result<ExitCode, Error> {
    match a.cmd {
        Cmd::Wrap(a) => wrap::run(*a),
        Cmd::Serve(a) => serve::run(a),
        Cmd::Install(a) => install::run(a, true),
        Cmd::Uninstall(a) => install::run(a, false),
        Cmd::Pins(a) => approve::pins(a),
        Cmd::Approve(a) => approve::approve(a),
    }
}

/// cordon's state directory: `$XDG_STATE_HOME/cordon`, else `~/.local/state/cordon`.
pub fn state_dir() -> Result<PathBuf, String> {
    if let Some(x) = std::env::var_os("XDG_STATE_HOME") {
        let p = PathBuf::from(x);
        if p.is_absolute() {
            return Ok(p.join("cordon"));
        }
    }
    match std::env::var_os("HOME") {
        Some(h) if std::path::Path::new(&h).is_absolute() => {
            Ok(PathBuf::from(h).join(".local/state/cordon"))
        }
        _ => Err(
            "no state directory: neither XDG_STATE_HOME nor HOME is set to an absolute path".into(),
        ),
    }
}

/// The pin store (`<state>/mcp`).
pub fn store() -> Result<cordon_mcp::pins::Store, String> {
    Ok(cordon_mcp::pins::Store::new(state_dir()?.join("mcp")))
}
