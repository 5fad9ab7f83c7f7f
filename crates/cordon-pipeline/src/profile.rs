//! What a `--profile` needs on disk before the sandbox is built: its state directories
//! (`~/.claude`, ...) created as the agent would create them, and a JSON settings file it
//! protects there created as `{}`.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use cordon_config::{Config, Layer};

use crate::{Error, Result};

/// Prepares the profile's paths. A dry run changes nothing: a state directory that does not
/// exist is left out of the config (and said on stderr), so the spec shown is what a real run
/// would have minus that directory.
///
/// - Writable roots the profile layer set that do not exist are created (mode 0700), only under
///   `$HOME`, never through a symlink (`symlink_metadata` first; `create_dir` does not follow a
///   final symlink).
/// - A protected `.json` file directly in such a root that does not exist is created as `{}`
///   (mode 0600, `O_CREAT|O_EXCL`: never through a symlink, never over a file) and kept: the
///   sandbox's temporary placeholder for a missing protected file is an empty file, which Gemini
///   CLI refuses as broken JSON, and `{}` is every agent's "defaults".
pub fn prepare(config: &mut Config, dry_run: bool) -> Result<()> {
    let roots: Vec<PathBuf> = config
        .writable
        .iter()
        .filter(|w| w.origin.layer == Layer::Profile)
        .map(|w| w.value.clone())
        .collect();
    if roots.is_empty() {
        return Ok(());
    }
    if dry_run {
        let missing: Vec<PathBuf> = roots
            .iter()
            .filter(|p| std::fs::symlink_metadata(p).is_err())
            .cloned()
            .collect();
        for m in &missing {
            eprintln!(
                "cordon: {} does not exist yet: a real run with this profile creates it (left out \
                 of the spec below)",
                m.display()
            );
        }
        config.writable.retain(|w| !missing.contains(&w.value));
        return Ok(());
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    for (p, w) in roots.iter().zip(
        config
            .writable
            .iter()
            .filter(|w| w.origin.layer == Layer::Profile),
    ) {
        if std::fs::symlink_metadata(p).is_ok() || !home.as_ref().is_some_and(|h| p.starts_with(h))
        {
            continue;
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(p)
            .map_err(|e| {
                Error::Usage(format!(
                    "cannot create {} (profile {}): {e}",
                    p.display(),
                    w.origin
                ))
            })?;
    }
    for pr in config
        .protected
        .iter()
        .filter(|x| x.origin.layer == Layer::Profile)
    {
        let p = &pr.value;
        let json = !p.as_os_str().to_string_lossy().ends_with('/')
            && p.extension().is_some_and(|e| e == "json");
        let in_root = p.parent().is_some_and(|d| roots.iter().any(|r| d == r));
        if !json || !in_root || std::fs::symlink_metadata(p).is_ok() {
            continue;
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(p)
        {
            Ok(mut f) => f.write_all(b"{}\n").map_err(|err| Error::Read {
                path: p.clone(),
                err,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(Error::Usage(format!(
                    "cannot create {} (profile {}): {e}",
                    p.display(),
                    pr.origin
                )))
            }
        }
    }
    Ok(())
}
