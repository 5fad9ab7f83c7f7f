//! `cordon config show`: the effective configuration and where each value comes from; and the
//! loading shared by `run` and `check`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cordon_config::{Config, Flags, LoadInput, Paths};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Print the effective configuration (all layers merged).
    Show(ShowArgs),
}

#[derive(clap::Args)]
struct ShowArgs {
    /// Show the file and line (or flag, variable, built-in) each value comes from.
    #[arg(long)]
    origin: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// The workspace whose project config applies (default: the git top-level of the current
    /// directory, else the current directory).
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
}

/// Where the config layers live (see `cordon_config::Paths::from_env`).
pub fn paths() -> Paths {
    Paths::from_env(|k| std::env::var(k).ok())
}

/// The workspace root: `--workspace`, else the git top-level of `from` (default: the current
/// directory), else that directory; canonical.
pub fn workspace_root(flag: Option<&Path>, from: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(w) = flag {
        return std::fs::canonicalize(w).map_err(|e| format!("--workspace {}: {e}", w.display()));
    }
    let here = match from {
        Some(d) => d.to_path_buf(),
        None => std::env::current_dir()
            .map_err(|e| format!("cannot read the current directory: {e}; pass --workspace DIR"))?,
    };
    let here = std::fs::canonicalize(&here).map_err(|e| {
        format!(
            "cannot resolve {}: {e}; pass --workspace DIR",
            here.display()
        )
    })?;
    Ok(cordon_sandbox::spec::git_toplevel(&here).unwrap_or(here))
}

/// cordon's state directory: `$XDG_STATE_HOME/cordon`, else `~/.local/state/cordon` (the audit
/// log's default home, per-workspace state in `workspaces/`). Hidden from every sandbox.
pub fn state_root() -> Option<PathBuf> {
    let abs = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").and_then(abs) {
        return Some(x.join("cordon"));
    }
    std::env::var_os("HOME")
        .and_then(abs)
        .map(|h| h.join(".local/state/cordon"))
}

/// The state directory of one workspace: `<state>/workspaces/<id>`, `<id>` the first 16 hex
/// digits of the SHA-256 of its canonical path.
pub fn workspace_state(workspace: &Path) -> Option<PathBuf> {
    use sha2::{Digest, Sha256};
    use std::os::unix::ffi::OsStrExt;
    let h = Sha256::digest(workspace.as_os_str().as_bytes());
    let id: String = h.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Some(state_root()?.join("workspaces").join(id))
}

/// Every layer, merged, for this workspace and these flags.
pub fn load(workspace: &Path, flags: &Flags) -> Result<Config, String> {
    let paths = paths();
    let var = |k: &str| std::env::var(k).ok();
    cordon_config::load(&LoadInput {
        paths: &paths,
        workspace,
        var: &var,
        flags,
    })
    .map_err(|e| e.to_string())
}

/// The config of `workspace` with `--policy` files as the only flag, and the rules that apply
/// there: built-in, then the config layers' (system, user, project by trust, managed), then
/// `files`. Prints the line about what an untrusted project could not set. For `check` and
/// `policy show`, which take no other flag that the config knows.
pub fn policy_for(
    workspace: &Path,
    files: &[PathBuf],
) -> Result<(cordon_policy::Policy, Config), String> {
    let flags = Flags {
        policy: files.to_vec(),
        ..Default::default()
    };
    let mut cfg = load(workspace, &flags)?;
    let policy = cfg
        .load_policy()
        .map_err(|e| e.to_string())?
        .unwrap_or_else(cordon_policy::Policy::builtin);
    if let Some(line) = cfg.ignored_line() {
        eprintln!("cordon: {line}");
    }
    Ok((policy, cfg))
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("cordon: {msg}");
    ExitCode::from(crate::EXIT_CORDON_FAILED)
}

pub fn run(a: Args) -> ExitCode {
    match a.cmd {
        Cmd::Show(s) => show(s),
    }
}

fn show(a: ShowArgs) -> ExitCode {
    let ws = match workspace_root(a.workspace.as_deref(), None) {
        Ok(w) => w,
        Err(e) => return fail(e),
    };
    let mut cfg = match load(&ws, &Flags::default()) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    // The rules are checked too: a broken rule is a broken config.
    if let Err(e) = cfg.load_policy() {
        return fail(e);
    }
    if a.json {
        match serde_json::to_string_pretty(&cordon_config::render_json(&cfg, a.origin)) {
            Ok(s) => println!("{s}"),
            Err(e) => return fail(format!("cannot encode the config as JSON: {e}")),
        }
    } else {
        print!("{}", cordon_config::render_text(&cfg, a.origin));
    }
    ExitCode::SUCCESS
}
