//! `cordon grants list | revoke`: remembered approvals (see `grants.rs`).

use std::process::ExitCode;

use crate::approval::display_argv;
use crate::grants;
use crate::EXIT_CORDON_FAILED;

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

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("cordon: grants: {msg}");
    ExitCode::from(EXIT_CORDON_FAILED)
}

pub fn run(a: Args) -> ExitCode {
    match a.cmd {
        Sub::List { json } => {
            let all = match grants::load() {
                Ok(g) => g,
                Err(e) => return fail(e),
            };
            if json {
                match serde_json::to_string_pretty(&all) {
                    Ok(j) => println!("{j}"),
                    Err(e) => return fail(e),
                }
                return ExitCode::SUCCESS;
            }
            if all.is_empty() {
                if let Ok(p) = grants::path() {
                    println!("no remembered approvals ({})", p.display());
                }
                return ExitCode::SUCCESS;
            }
            for g in &all {
                println!("{}  {}", g.id, display_argv(&g.argv));
                println!(
                    "    workspace: {}",
                    cordon_policy::unicode::escape(&g.workspace.display().to_string())
                );
                if !g.escalations.is_empty() {
                    println!(
                        "    grants:    {}",
                        cordon_policy::unicode::escape(&g.escalations.join(", "))
                    );
                }
                for s in &g.scripts {
                    let entry = if s.entry.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", s.entry)
                    };
                    println!(
                        "    pinned:    {}{entry} sha256:{}",
                        cordon_policy::unicode::escape(&s.file.display().to_string()),
                        &s.sha256[..s.sha256.len().min(16)]
                    );
                }
                println!("    by:        {}", g.approved_by);
            }
            ExitCode::SUCCESS
        }
        Sub::Revoke { ids, all } => match grants::revoke(&ids, all) {
            Ok(n) => {
                println!("revoked {n} grant{}", if n == 1 { "" } else { "s" });
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
    }
}
