//! Project trust: records bound to a project's canonical path and to a SHA-256 of its
//! `.cordon/` content. Change a file there and the project is untrusted again.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ConfigError;

/// How many entries and bytes a `.cordon/` directory may hold to be hashed.
const MAX_ENTRIES: usize = 10_000;
const MAX_BYTES: u64 = 64 << 20;

/// The content of a project's `.cordon/`, read once: what is hashed is what is used.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// `sha256:` and 64 hex digits.
    pub hash: String,
    /// Regular files by path relative to `.cordon/`.
    pub files: BTreeMap<PathBuf, Vec<u8>>,
}

/// Reads and hashes `DIR/.cordon/`: every entry's relative path and type, and every file's
/// bytes, in sorted order. Symlinks and special files are refused (a link's target could
/// change without the hash changing). `Ok(None)` when there is no `.cordon/`.
pub fn snapshot(project: &Path) -> Result<Option<Snapshot>, String> {
    let root = project.join(".cordon");
    match fs::symlink_metadata(&root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", root.display())),
        Ok(m) if m.file_type().is_symlink() => {
            return Err(format!("{} is a symlink", root.display()))
        }
        Ok(m) if !m.is_dir() => return Err(format!("{} is not a directory", root.display())),
        Ok(_) => {}
    }
    let mut entries: BTreeMap<PathBuf, Option<Vec<u8>>> = BTreeMap::new();
    let mut budget = (MAX_ENTRIES, MAX_BYTES);
    walk(&root, Path::new(""), &mut entries, &mut budget)?;
    let mut h = Sha256::new();
    h.update(b"cordon-trust-v1\0");
    let mut files = BTreeMap::new();
    for (rel, content) in entries {
        let name = rel.as_os_str().as_encoded_bytes();
        match content {
            None => {
                h.update(b"d\0");
                h.update(name);
                h.update(b"\0");
            }
            Some(bytes) => {
                h.update(b"f\0");
                h.update(name);
                h.update(b"\0");
                h.update((bytes.len() as u64).to_le_bytes());
                h.update(&bytes);
                files.insert(rel, bytes);
            }
        }
    }
    let digest = h.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Some(Snapshot {
        hash: format!("sha256:{hex}"),
        files,
    }))
}

fn walk(
    dir: &Path,
    rel: &Path,
    out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>,
    budget: &mut (usize, u64),
) -> Result<(), String> {
    let rd = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for ent in rd {
        let ent = ent.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        if budget.0 == 0 {
            return Err(format!(
                "{} holds more than {MAX_ENTRIES} entries",
                dir.display()
            ));
        }
        budget.0 -= 1;
        let path = ent.path();
        let r = rel.join(ent.file_name());
        let ft = ent
            .file_type()
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if ft.is_symlink() {
            return Err(format!(
                "{} is a symlink (not allowed in .cordon/: its target could change unseen)",
                path.display()
            ));
        } else if ft.is_dir() {
            out.insert(r.clone(), None);
            walk(&path, &r, out, budget)?;
        } else if ft.is_file() {
            let bytes =
                fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            budget.1 = budget
                .1
                .checked_sub(bytes.len() as u64)
                .ok_or_else(|| format!("{} holds more than {MAX_BYTES} bytes", dir.display()))?;
            out.insert(r, Some(bytes));
        } else {
            return Err(format!(
                "{} is not a regular file or directory",
                path.display()
            ));
        }
    }
    Ok(())
}

/// One trusted project.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TrustRecord {
    /// Canonical path of the project (the workspace root holding `.cordon/`).
    pub path: PathBuf,
    /// Hash of `.cordon/` when it was trusted ([`snapshot`]).
    pub hash: String,
    /// Seconds since the epoch.
    pub trusted_at: u64,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    version: u32,
    projects: Vec<TrustRecord>,
}

/// `$XDG_CONFIG_HOME/cordon/trust.json`.
#[derive(Debug, Clone)]
pub struct TrustStore {
    pub path: PathBuf,
    pub records: Vec<TrustRecord>,
}

/// Where a project stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustState {
    /// No `.cordon/` directory: nothing to trust.
    NoConfig,
    /// Trusted, and the content is what was trusted.
    Trusted,
    /// Never trusted (or revoked).
    Untrusted,
    /// Trusted once, but `.cordon/` changed since.
    Changed,
    /// `.cordon/` cannot be hashed (a symlink, unreadable): never trusted.
    Unhashable(String),
}

impl TrustState {
    pub fn as_str(&self) -> &'static str {
        match self {
            TrustState::NoConfig => "no .cordon/",
            TrustState::Trusted => "trusted",
            TrustState::Untrusted => "not trusted",
            TrustState::Changed => "changed since it was trusted",
            TrustState::Unhashable(_) => "cannot be trusted",
        }
    }
}

impl TrustStore {
    /// Loads the store of the user config dir (empty when the file does not exist). A broken
    /// file is an error: trust is never guessed.
    pub fn load(config_dir: &Path) -> Result<TrustStore, ConfigError> {
        let path = config_dir.join("trust.json");
        let records = match fs::read(&path) {
            Ok(b) => {
                let f: StoreFile = serde_json::from_slice(&b).map_err(|e| ConfigError::Trust {
                    path: path.clone(),
                    why: format!(
                        "{e}; fix it, or remove it and run 'cordon trust' again in each project"
                    ),
                })?;
                if f.version != 1 {
                    return Err(ConfigError::Trust {
                        path,
                        why: format!(
                            "version {} is not known to this cordon (expected 1); upgrade cordon or remove the file",
                            f.version
                        ),
                    });
                }
                f.projects
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(ConfigError::Trust {
                    path,
                    why: format!("cannot read it ({e}); fix its permissions"),
                })
            }
        };
        Ok(TrustStore { path, records })
    }

    pub fn get(&self, project: &Path) -> Option<&TrustRecord> {
        self.records.iter().find(|r| r.path == project)
    }

    /// The state of a canonical project directory, with its snapshot when it has one.
    pub fn state(&self, project: &Path) -> (TrustState, Option<Snapshot>) {
        match snapshot(project) {
            Ok(None) => (TrustState::NoConfig, None),
            Err(e) => (TrustState::Unhashable(e), None),
            Ok(Some(s)) => match self.get(project) {
                Some(r) if r.hash == s.hash => (TrustState::Trusted, Some(s)),
                Some(_) => (TrustState::Changed, Some(s)),
                None => (TrustState::Untrusted, Some(s)),
            },
        }
    }

    pub fn set(&mut self, rec: TrustRecord) {
        self.records.retain(|r| r.path != rec.path);
        self.records.push(rec);
        self.records.sort_by(|a, b| a.path.cmp(&b.path));
    }

    pub fn remove(&mut self, project: &Path) -> bool {
        let n = self.records.len();
        self.records.retain(|r| r.path != project);
        self.records.len() != n
    }

    /// Writes the store atomically (a temporary file renamed over it), mode 0600, in a 0700
    /// directory (`store.rs`).
    pub fn save(&self) -> Result<(), ConfigError> {
        let file = StoreFile {
            version: 1,
            projects: self.records.clone(),
        };
        crate::store::write(&self.path, &file).map_err(|e| ConfigError::Trust {
            path: self.path.clone(),
            why: format!(
                "{e}; check the permissions of {}",
                self.path.parent().unwrap_or(Path::new("/")).display()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_follows_content_names_and_refuses_links() {
        let d = tempfile::tempdir().unwrap();
        assert!(snapshot(d.path()).unwrap().is_none());
        fs::create_dir(d.path().join(".cordon")).unwrap();
        fs::write(
            d.path().join(".cordon/config.toml"),
            "mode = \"read-only\"\n",
        )
        .unwrap();
        let a = snapshot(d.path()).unwrap().unwrap();
        assert_eq!(a.hash, snapshot(d.path()).unwrap().unwrap().hash);
        fs::write(
            d.path().join(".cordon/config.toml"),
            "mode = \"read-only\" \n",
        )
        .unwrap();
        let b = snapshot(d.path()).unwrap().unwrap();
        assert_ne!(a.hash, b.hash);
        fs::write(d.path().join(".cordon/extra.toml"), "").unwrap();
        let c = snapshot(d.path()).unwrap().unwrap();
        assert_ne!(b.hash, c.hash);
        fs::rename(
            d.path().join(".cordon/extra.toml"),
            d.path().join(".cordon/other.toml"),
        )
        .unwrap();
        assert_ne!(c.hash, snapshot(d.path()).unwrap().unwrap().hash);
        std::os::unix::fs::symlink("/etc/passwd", d.path().join(".cordon/link")).unwrap();
        assert!(snapshot(d.path()).unwrap_err().contains("symlink"));
    }
}
