//! `cordon trust [DIR]`, `cordon trust --revoke [DIR]`, `cordon trust --list`: which projects'
//! `.cordon/` config applies in full. A record is bound to the project's canonical path and to
//! a SHA-256 of its `.cordon/` content: any change and the project is untrusted again.

use std::path::PathBuf;
use std::process::ExitCode;

use cordon_config::{TrustRecord, TrustState, TrustStore};
use cordon_pipeline::Error;

#[derive(clap::Args)]
pub struct Args {
    /// The project (default: the git top-level of the current directory, else the current
    /// directory).
    #[arg(value_name = "DIR", conflicts_with = "list")]
    dir: Option<PathBuf>,
    /// Forget the project's trust: only what tightens will apply again.
    #[arg(long)]
    revoke: bool,
    /// List the trusted projects and whether their .cordon/ changed since.
    #[arg(long, conflicts_with = "revoke")]
    list: bool,
}

pub fn run(a: Args) -> Result<ExitCode, Error> {
    let paths = cordon_pipeline::plan::paths();
    let mut store = TrustStore::load(&paths.config_dir)?;
    if a.list {
        if store.records.is_empty() {
            errln!("cordon: no trusted projects ({})", store.path.display());
        }
        for r in &store.records {
            let (state, _) = store.state(&r.path);
            let st = match state {
                TrustState::Trusted => "trusted",
                TrustState::Changed => "changed",
                TrustState::NoConfig => "no .cordon/",
                TrustState::Untrusted => "untrusted",
                TrustState::Unhashable(_) => "unhashable",
            };
            outln!("{st}\t{}\t{}", r.hash, r.path.display())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let dir = match &a.dir {
        Some(d) => std::fs::canonicalize(d).map_err(|e| format!("{}: {e}", d.display())),
        None => cordon_pipeline::plan::workspace_root(None, None).map_err(|e| e.to_string()),
    };
    let dir = match dir {
        Ok(d) => d,
        Err(e) => return Err(Error::usage(format!("cannot find the project: {e}"))),
    };
    if a.revoke {
        if store.remove(&dir) {
            store.save()?;
            errln!(
                "cordon: {} is no longer trusted: only the settings of its .cordon/ that tighten apply",
                dir.display()
            );
        } else {
            errln!(
                "cordon: {} was not trusted; nothing to revoke",
                dir.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let snap = match cordon_config::snapshot(&dir) {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(Error::usage(format!(
                "cannot trust {}: it has no .cordon/ directory (nothing to trust); run this in the project, or give its directory",
                dir.display()
            )))
        }
        Err(e) => return Err(Error::usage(format!("cannot trust {}: {e}; fix it and try again", dir.display()))),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let files: Vec<String> = snap
        .files
        .iter()
        .map(|(p, b)| format!("{} ({} bytes)", p.display(), b.len()))
        .collect();
    store.set(TrustRecord {
        path: dir.clone(),
        hash: snap.hash.clone(),
        trusted_at: now,
    });
    store.save()?;
    errln!(
        "cordon: trusted {} ({}; {}): its .cordon/ config now applies in full until a file there changes. See 'cordon config show --origin'",
        dir.display(),
        if files.is_empty() { "no files".to_string() } else { files.join(", ") },
        snap.hash
    );
    Ok(ExitCode::SUCCESS)
}
