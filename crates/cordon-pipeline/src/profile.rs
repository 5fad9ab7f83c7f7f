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
/// - Every file inside those roots that a protected settings file names (a hook script, a status
///   line command, Codex's `notify` program) is protected too: see [`named_by_settings`].
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
            errln!(
                "cordon: {} does not exist yet: a real run with this profile creates it (left out \
                 of the spec below)",
                m.display()
            );
        }
        config.writable.retain(|w| !missing.contains(&w.value));
        let existing: Vec<PathBuf> = roots.into_iter().filter(|r| !missing.contains(r)).collect();
        let named = named_by_settings(config, &existing);
        config.protected.extend(named);
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
    let named = named_by_settings(config, &roots);
    config.protected.extend(named);
    Ok(())
}

/// The largest settings file read for the paths it names.
const MAX_SETTINGS: u64 = 1 << 20;

/// Files inside the profile's writable roots that its protected settings files name. A
/// protected `settings.json` is no protection if the hook script or status-line command it runs
/// lies beside it, writable (`"command": "~/.claude/statusline.sh"`, Codex's `notify =
/// ["python3", "/home/me/.codex/notify.py"]`). So each protected `.json`/`.toml` file of the
/// profile is read as text, and every path in it that lies inside a writable root of the
/// profile — written absolute, `~/…`, `$HOME/…` or `${HOME}/…`, up to a quote, whitespace or a
/// shell or JSON delimiter — that exists is protected as well (through a symlink: its target,
/// when that lies inside a root). Whatever the agent runs from its settings is then read-only
/// in the sandbox, whichever name the user chose for it.
fn named_by_settings(config: &Config, roots: &[PathBuf]) -> Vec<cordon_config::Val<PathBuf>> {
    use std::io::Read;
    let Some(home) = std::env::var_os("HOME").map(PathBuf::from) else {
        return Vec::new();
    };
    // Each root in the spellings a settings file may use for it.
    let mut spellings: Vec<(String, &PathBuf)> = Vec::new();
    for r in roots {
        let Some(abs) = r.to_str() else { continue };
        spellings.push((format!("{abs}/"), r));
        if let Ok(rel) = r.strip_prefix(&home) {
            if let Some(rel) = rel.to_str() {
                for h in ["~", "$HOME", "${HOME}"] {
                    spellings.push((format!("{h}/{rel}/"), r));
                }
            }
        }
    }
    let canonical_roots: Vec<PathBuf> = roots
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .collect();
    let mut out: Vec<cordon_config::Val<PathBuf>> = Vec::new();
    for pr in config
        .protected
        .iter()
        .filter(|x| x.origin.layer == Layer::Profile)
    {
        let settings = &pr.value;
        if !settings
            .extension()
            .is_some_and(|e| e == "json" || e == "toml")
        {
            continue;
        }
        let mut text = String::new();
        let read = std::fs::File::open(settings)
            .and_then(|f| f.take(MAX_SETTINGS).read_to_string(&mut text));
        if read.is_err() {
            continue;
        }
        for (spelling, root) in &spellings {
            let mut from = 0;
            while let Some(i) = text[from..].find(spelling.as_str()) {
                let start = from + i + spelling.len();
                from = start;
                let rest = &text[start..];
                let end = rest
                    .find(|c: char| {
                        c.is_whitespace()
                            || matches!(
                                c,
                                '"' | '\''
                                    | '`'
                                    | ','
                                    | ';'
                                    | '|'
                                    | '&'
                                    | ')'
                                    | '('
                                    | ']'
                                    | '['
                                    | '}'
                                    | '{'
                                    | '<'
                                    | '>'
                                    | '\\'
                            )
                    })
                    .unwrap_or(rest.len());
                let rel = &rest[..end];
                if rel.is_empty() || rel.split('/').any(|c| c == "..") {
                    continue;
                }
                let p = root.join(rel);
                let Ok(meta) = std::fs::symlink_metadata(&p) else {
                    continue;
                };
                // A protected path that is a symlink makes the run refuse: protect where it
                // leads when that is inside a root (elsewhere it is read-only anyway).
                let p = if meta.file_type().is_symlink() {
                    match std::fs::canonicalize(&p) {
                        Ok(t) if canonical_roots.iter().any(|r| t.starts_with(r)) => t,
                        _ => continue,
                    }
                } else {
                    p
                };
                if p == **root || out.iter().any(|o| o.value == p) {
                    continue;
                }
                if config.protected.iter().any(|o| p.starts_with(&o.value)) {
                    continue;
                }
                out.push(cordon_config::Val {
                    value: p,
                    origin: pr.origin.clone(),
                });
            }
        }
    }
    out
}
