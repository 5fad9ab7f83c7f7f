//! cordon's state directory and the per-workspace state inside it.
//!
//! The state directory is `$XDG_STATE_HOME/cordon`, else `~/.local/state/cordon`. Per-workspace
//! state lives in `workspaces/<id>/`, where `<id>` is the first 16 hex digits of the SHA-256 of
//! the canonical workspace path. The sandbox hides the whole directory; the sandbox crate never
//! computes these paths itself (callers pass them in).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// `$XDG_STATE_HOME/cordon`, else `$HOME/.local/state/cordon`; None when neither variable is an
/// absolute path.
pub fn state_dir(var: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(x) = var("XDG_STATE_HOME").map(PathBuf::from) {
        if x.is_absolute() {
            return Some(x.join("cordon"));
        }
    }
    var("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute())
        .map(|h| h.join(".local").join("state").join("cordon"))
}

/// The id of a workspace: the first 16 hex digits of SHA-256 of its canonical path (bytes).
pub fn workspace_id(canonical: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let d = Sha256::digest(canonical.as_os_str().as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// `<state>/workspaces/<id>`.
pub fn workspace_dir(state: &Path, canonical_workspace: &Path) -> PathBuf {
    state
        .join("workspaces")
        .join(workspace_id(canonical_workspace))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_dirs() {
        let id = workspace_id(Path::new("/home/u/proj"));
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(id, workspace_id(Path::new("/home/u/proj2")));
        let env = |k: &str| match k {
            "HOME" => Some("/home/u".to_string()),
            _ => None,
        };
        assert_eq!(
            state_dir(env),
            Some(PathBuf::from("/home/u/.local/state/cordon"))
        );
        let env = |k: &str| match k {
            "HOME" => Some("/home/u".to_string()),
            "XDG_STATE_HOME" => Some("/s".to_string()),
            _ => None,
        };
        assert_eq!(state_dir(env), Some(PathBuf::from("/s/cordon")));
        let env = |k: &str| match k {
            "XDG_STATE_HOME" => Some("relative".to_string()),
            _ => None,
        };
        assert_eq!(state_dir(env), None);
    }
}
