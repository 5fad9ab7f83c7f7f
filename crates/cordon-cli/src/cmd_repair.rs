//! `cordon repair`: what the checks after runs moved aside in this workspace, and putting it
//! back once reviewed; what in the workspace makes cordon refuse to run, and the fix.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cordon_pipeline::Error;
use cordon_sandbox::neutralise;

#[derive(clap::Args)]
pub struct Args {
    /// The workspace (default: the git top-level of the current directory, else it).
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
    /// Put back what cordon moved aside (the original path, or the `.cordon-disabled-…` one),
    /// after reviewing it. Repeatable.
    #[arg(long, value_name = "PATH")]
    restore: Vec<PathBuf>,
    /// Print the list as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<ExitCode, Error> {
    let ws = cordon_pipeline::plan::workspace_root(a.workspace.as_deref(), None)?;
    let state = cordon_pipeline::plan::paths().workspace_state_dir(&ws);
    let records = neutralise::records(&state);
    if !a.restore.is_empty() {
        return restore(&ws, &records, &a.restore);
    }
    let still: Vec<&neutralise::Record> = records
        .iter()
        .filter(|r| r.moved_to.as_deref().is_some_and(exists))
        .collect();
    if a.json {
        let j = serde_json::to_string_pretty(&still)
            .map_err(|e| Error::Usage(format!("repair: {e}")))?;
        outln!("{j}")?;
        return Ok(ExitCode::SUCCESS);
    }
    for p in problems(&ws) {
        outln!("problem: {}", neutralise::shown(Path::new(&p)))?;
    }
    let pending = neutralise::pending_runs(&state);
    if pending > 0 {
        outln!(
            "{pending} run(s) here ended before their check (cordon was killed); the next 'cordon run' in {} performs it first",
            ws.display()
        )?;
    }
    if still.is_empty() {
        outln!("nothing moved aside in {}", ws.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    for r in still {
        let to = r.moved_to.as_deref().unwrap_or(Path::new(""));
        // The names are a run's: shown with their control characters escaped.
        let shown = neutralise::shown;
        outln!("{}", shown(&r.path))?;
        outln!("    why: {}", shown(Path::new(&r.reason)))?;
        outln!("    now: {}", shown(to))?;
        outln!(
            "    after reviewing it: cordon repair --restore {}",
            neutralise::shell_quote(&r.path)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

fn restore(
    ws: &Path,
    records: &[neutralise::Record],
    wanted: &[PathBuf],
) -> Result<ExitCode, Error> {
    let mut code = ExitCode::SUCCESS;
    for w in wanted {
        let w = std::path::absolute(w).unwrap_or_else(|_| w.clone());
        // The latest record of this path that is still aside: only cordon's own moves.
        let Some(r) = records.iter().rev().find(|r| {
            (r.path == w || r.moved_to.as_deref() == Some(w.as_path()))
                && r.moved_to.as_deref().is_some_and(exists)
        }) else {
            errln!(
                "cordon: repair: {} is not something cordon moved aside here (see 'cordon repair')",
                w.display()
            );
            code = ExitCode::from(cordon_sandbox::exit::CORDON_FAILED);
            continue;
        };
        let to = r.moved_to.clone().unwrap_or_default();
        let root = ws_root_of(ws, &r.path);
        match neutralise::restore(&root, &to, &r.path) {
            Ok(()) => outln!("restored {}", r.path.display())?,
            Err(e) => {
                errln!(
                    "cordon: repair: cannot put {} back at {}: {e}{}",
                    to.display(),
                    r.path.display(),
                    if exists(&r.path) {
                        " (something is there now: move it away first)"
                    } else {
                        ""
                    }
                );
                code = ExitCode::from(cordon_sandbox::exit::CORDON_FAILED);
            }
        }
    }
    Ok(code)
}

/// The directory under which `p` is restored by handle: the workspace, or `/` for a path that
/// lay in another writable root.
fn ws_root_of(ws: &Path, p: &Path) -> PathBuf {
    if p.starts_with(ws) {
        ws.to_path_buf()
    } else {
        PathBuf::from("/")
    }
}

/// What makes `cordon run` refuse in this workspace, with the fix.
fn problems(ws: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let git = ws.join(".git");
    if let Ok(m) = std::fs::symlink_metadata(&git) {
        if m.file_type().is_symlink() {
            let t = std::fs::read_link(&git).unwrap_or_default();
            out.push(format!(
                "{} is a symlink to {}: git never makes one. Put the real repository back: rm {}, then mv the directory \
                 holding HEAD, objects/ and refs/ to {}",
                git.display(),
                t.display(),
                git.display(),
                git.display()
            ));
        }
    }
    for rel in cordon_sandbox::spec::PROTECTED.iter().map(|(r, _)| *r) {
        let p = ws.join(rel);
        if rel.starts_with(".git/") && out.iter().any(|o| o.contains(".git is")) {
            continue;
        }
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            out.push(format!(
                "{} is a symlink: replace it with the real directory or file",
                p.display()
            ));
        }
    }
    out
}
