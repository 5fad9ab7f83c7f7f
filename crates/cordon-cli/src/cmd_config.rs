//! `cordon config show`: the effective configuration and where each value comes from.

use std::path::PathBuf;
use std::process::ExitCode;

use cordon_config::Flags;
use cordon_pipeline::plan::{load_config, paths, workspace_root};
use cordon_pipeline::Error;

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
    /// Show the config with this profile applied (as `cordon run --profile NAME` gets it).
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
}

pub fn run(a: Args) -> Result<ExitCode, Error> {
    match a.cmd {
        Cmd::Show(s) => show(s),
    }
}

fn show(a: ShowArgs) -> Result<ExitCode, Error> {
    let ws = workspace_root(a.workspace.as_deref(), None)?;
    let flags = Flags {
        profile: a.profile.clone(),
        ..Default::default()
    };
    let mut cfg = load_config(&paths(), &ws, &flags)?;
    // The rules are checked too: a broken rule is a broken config.
    cfg.load_policy()?;
    if a.json {
        let j = serde_json::to_string_pretty(&cordon_config::render_json(&cfg, a.origin))
            .map_err(|e| Error::Usage(format!("cannot encode the config as JSON: {e}")))?;
        outln!("{j}")?;
    } else {
        out!("{}", cordon_config::render_text(&cfg, a.origin))?;
    }
    Ok(ExitCode::SUCCESS)
}
