//! Remembered approvals ("allow for this project"): `grants.json` in cordon's config directory
//! (`$XDG_CONFIG_HOME/cordon`, default `~/.config/cordon`), outside every workspace, so read-only
//! inside the sandbox (and protected when a writable root holds it). Written through the same
//! atomic store as the trust store (`store.rs`).
//!
//! A grant is bound to the workspace's canonical path, the exact argv, and, for commands that run
//! a script the workspace defines (`npm test`, `make`, `just`, `./x.sh`, `python x.py`), the
//! SHA-256 of that script's definition ([`Script`], computed by `cordon-pipeline`): edit the
//! script, and the grant no longer matches.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{self, ReadError, StoreError};
use crate::Paths;

/// The definition of a script a command runs, pinned by its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Script {
    /// The file that defines it (absolute; it may not exist: then the hash is of "missing").
    pub file: PathBuf,
    /// What in the file: `scripts.test` (package.json), or empty for the whole file.
    pub entry: String,
    pub sha256: String,
}

/// One remembered approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    pub created_ms: u64,
    /// Canonical workspace path.
    pub workspace: PathBuf,
    /// The exact argv approved.
    pub argv: Vec<String>,
    /// Script definitions the approval is bound to.
    #[serde(default)]
    pub scripts: Vec<Script>,
    /// Escalations approved with it (`write:/path`, `domain:host`, `secret:/path`, `env:NAME`).
    #[serde(default)]
    pub escalations: Vec<String>,
    /// `tty` (a person) or `approver`.
    pub approved_by: String,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct GrantsFile {
    version: u32,
    grants: Vec<Grant>,
}

/// A grants error, worded for the user (`cordon: grants: ` is added by the caller).
#[derive(Debug, thiserror::Error)]
pub enum GrantsError {
    #[error("{path}: {err}")]
    Read { path: PathBuf, err: std::io::Error },
    #[error(
        "{path}: not a valid grants file ({err}); fix it or delete it (cordon grants revoke --all)"
    )]
    Invalid {
        path: PathBuf,
        err: serde_json::Error,
    },
    #[error("cannot update {path}: {err}")]
    Store { path: PathBuf, err: StoreError },
    #[error("no grant with id {0}; 'cordon grants list' shows the ids")]
    NoSuchId(String),
}

/// The grants of the user whose config lives in `paths`.
pub struct Grants {
    path: PathBuf,
}

impl Grants {
    pub fn new(paths: &Paths) -> Grants {
        Grants {
            path: paths.config_dir.join("grants.json"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_err(&self, e: ReadError) -> GrantsError {
        match e {
            ReadError::Io(err) => GrantsError::Read {
                path: self.path.clone(),
                err,
            },
            ReadError::Parse(err) => GrantsError::Invalid {
                path: self.path.clone(),
                err,
            },
        }
    }

    /// Every grant; none when the file does not exist. A file that cannot be read or parsed is
    /// an error naming the file (callers treat it as "no grant", which only means more
    /// questions).
    pub fn load(&self) -> Result<Vec<Grant>, GrantsError> {
        store::read::<GrantsFile>(&self.path)
            .map(|f| f.map(|f| f.grants).unwrap_or_default())
            .map_err(|e| self.read_err(e))
    }

    fn update<T>(
        &self,
        f: impl FnOnce(&mut Vec<Grant>) -> Result<T, GrantsError>,
    ) -> Result<T, GrantsError> {
        let lock = self.path.with_file_name("grants.lock");
        store::update(
            &self.path,
            &lock,
            |e| self.read_err(e),
            |err| GrantsError::Store {
                path: self.path.clone(),
                err,
            },
            |file: &mut GrantsFile| {
                file.version = 1;
                f(&mut file.grants)
            },
        )
    }

    /// Stores a new grant and returns it with its id (one per workspace and argv: a new answer
    /// replaces the old one).
    pub fn add(&self, mut g: Grant) -> Result<Grant, GrantsError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        g.created_ms = now;
        let mut h = Sha256::new();
        h.update(g.workspace.as_os_str().as_encoded_bytes());
        for a in &g.argv {
            h.update(b"\0");
            h.update(a.as_bytes());
        }
        h.update(now.to_le_bytes());
        h.update(std::process::id().to_le_bytes());
        g.id = format!("g-{}", &hex(&h.finalize())[..10]);
        self.update(|all| {
            all.retain(|o| !(o.workspace == g.workspace && o.argv == g.argv));
            all.push(g.clone());
            Ok(g)
        })
    }

    /// Removes the grants with these ids (all of them with `all`); returns how many were
    /// removed. An id that matches nothing is an error (and nothing is removed).
    pub fn revoke(&self, ids: &[String], all: bool) -> Result<usize, GrantsError> {
        self.update(|grants| {
            if all {
                let n = grants.len();
                grants.clear();
                return Ok(n);
            }
            if let Some(id) = ids.iter().find(|id| !grants.iter().any(|g| &g.id == *id)) {
                return Err(GrantsError::NoSuchId(id.clone()));
            }
            let n = grants.len();
            grants.retain(|g| !ids.contains(&g.id));
            Ok(n - grants.len())
        })
    }
}

/// The grant that covers this command with these escalations, if any: same workspace, same
/// argv, the same script definitions (hashes) as now, and every escalation among those granted.
pub fn find<'a>(
    grants: &'a [Grant],
    workspace: &Path,
    argv: &[String],
    scripts: &[Script],
    escalations: &[String],
) -> Option<&'a Grant> {
    grants.iter().find(|g| {
        g.workspace == workspace
            && g.argv == argv
            && g.scripts == scripts
            && escalations.iter().all(|e| g.escalations.contains(e))
    })
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn find_needs_every_escalation_and_the_same_scripts() {
        let g = Grant {
            id: "g-1".into(),
            created_ms: 0,
            workspace: "/w".into(),
            argv: sv(&["npm", "test"]),
            scripts: vec![],
            escalations: sv(&["write:/a"]),
            approved_by: "tty".into(),
            reason: String::new(),
        };
        let all = vec![g];
        let w = Path::new("/w");
        let argv = sv(&["npm", "test"]);
        assert!(find(&all, w, &argv, &[], &sv(&["write:/a"])).is_some());
        assert!(find(&all, w, &argv, &[], &[]).is_some());
        assert!(find(&all, w, &argv, &[], &sv(&["write:/b"])).is_none());
        assert!(find(&all, Path::new("/v"), &argv, &[], &[]).is_none());
        assert!(find(&all, w, &sv(&["npm", "test", "x"]), &[], &[]).is_none());
        let s = Script {
            file: "/w/package.json".into(),
            entry: "scripts.test".into(),
            sha256: "00".into(),
        };
        assert!(find(&all, w, &argv, &[s], &[]).is_none());
    }

    #[test]
    fn add_list_revoke_through_the_store() {
        let d = tempfile::tempdir().unwrap();
        let paths = Paths {
            etc_dir: d.path().join("etc"),
            config_dir: d.path().join("cfg"),
            home: d.path().to_path_buf(),
            state_dir: d.path().join("state"),
        };
        let s = Grants::new(&paths);
        assert!(s.load().unwrap().is_empty());
        let g = s
            .add(Grant {
                id: String::new(),
                created_ms: 0,
                workspace: "/w".into(),
                argv: sv(&["make"]),
                scripts: vec![],
                escalations: vec![],
                approved_by: "tty".into(),
                reason: String::new(),
            })
            .unwrap();
        assert_eq!(s.load().unwrap(), vec![g.clone()]);
        assert!(matches!(
            s.revoke(&sv(&["g-x"]), false),
            Err(GrantsError::NoSuchId(_))
        ));
        assert_eq!(s.revoke(&[g.id], false).unwrap(), 1);
        assert!(s.load().unwrap().is_empty());
    }
}
