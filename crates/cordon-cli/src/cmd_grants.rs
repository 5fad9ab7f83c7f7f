//! `cordon grants list | revoke`: remembered approvals (see `grants.rs`).

use std::process::ExitCode;

use cordon_config::grants::Grants;
use cordon_pipeline::approval::display_argv;
use cordon_pipeline::Error;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Every remembered approval: id, workspace, command, what it grants, what it is pinned to.
    List {
        /// One JSON array instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Forget approvals by id (from 'cordon grants list'), or all of them.
    Revoke {
        #[arg(value_name = "ID", required_unless_present = "all")]
        ids: Vec<String>,
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

pub fn run(a: Args) -> Result<ExitCode, Error> {
    let store = Grants::new(&cordon_pipeline::plan::paths());
    match a.cmd {
        Sub::List { json } => {
            let all = store.load()?;
            if json {
                let j = serde_json::to_string_pretty(&all)
                    .map_err(|e| Error::Usage(format!("grants: {e}")))?;
                outln!("{j}")?;
                return Ok(ExitCode::SUCCESS);
            }
            if all.is_empty() {
                outln!("no remembered approvals ({})", store.path().display())?;
                return Ok(ExitCode::SUCCESS);
            }
            for g in &all {
                outln!("{}  {}", g.id, display_argv(&g.argv))?;
                outln!(
                    "    workspace: {}",
                    cordon_policy::unicode::escape(&g.workspace.display().to_string())
                )?;
                if !g.escalations.is_empty() {
                    outln!(
                        "    grants:    {}",
                        cordon_policy::unicode::escape(&g.escalations.join(", "))
                    )?;
                }
                for s in &g.scripts {
                    let entry = if s.entry.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", s.entry)
                    };
                    outln!(
                        "    pinned:    {}{entry} sha256:{}",
                        cordon_policy::unicode::escape(&s.file.display().to_string()),
                        &s.sha256[..s.sha256.len().min(16)]
                    )?;
                }
                outln!("    by:        {}", g.approved_by)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Sub::Revoke { ids, all } => {
            let n = store.revoke(&ids, all)?;
            outln!("revoked {n} grant{}", if n == 1 { "" } else { "s" })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
