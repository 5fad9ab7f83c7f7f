//! The sandbox's file rules applied to a named path, without building a sandbox: what a hook
//! asks about an agent's own file tools (Read, Write, Edit, apply_patch, Gemini's write_file...),
//! which run in the agent's process, outside any sandbox: the hook is their only fence, so it
//! applies what `cordon run` would enforce ([`crate::check::Checker::file`]).
//!
//! A path is made absolute against the hook's `cwd`, then resolved the way the kernel would:
//! symlinks followed as far as the path exists; the part that does not exist yet (a file about
//! to be created) is appended lexically (it cannot hold a symlink).

use std::path::{Component, Path, PathBuf};

use cordon_sandbox::spec::{is_secret_file_name, Mode, HOME_SECRETS, PROTECTED};

/// `p` against `cwd`, canonical as far as it exists.
pub fn resolve(p: &Path, cwd: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    };
    // Lexical first: `a/../b` where `a` is missing.
    let mut lex = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                // Only lexical where the part does not exist; an existing symlink's `..` is
                // the kernel's, so resolve what exists before going up.
                if let Ok(real) = std::fs::canonicalize(&lex) {
                    lex = real;
                }
                lex.pop();
            }
            Component::Normal(n) => lex.push(n),
            _ => {}
        }
    }
    if let Ok(c) = std::fs::canonicalize(&lex) {
        return c;
    }
    // Canonicalize the longest existing ancestor and append the rest.
    let mut rest = Vec::new();
    let mut cur = lex.clone();
    loop {
        if let Ok(c) = std::fs::canonicalize(&cur) {
            let mut out = c;
            for r in rest.iter().rev() {
                out.push(r);
            }
            return out;
        }
        match (cur.file_name().map(|n| n.to_os_string()), cur.parent()) {
            (Some(n), Some(parent)) => {
                rest.push(n);
                cur = parent.to_path_buf();
            }
            _ => return lex,
        }
    }
}

/// cordon's state directory, `$XDG_STATE_HOME/cordon` else `~/.local/state/cordon` (hidden from
/// sandboxed commands and from an agent's file tools).
pub fn state_dir(home: &Path) -> PathBuf {
    match std::env::var_os("XDG_STATE_HOME").map(PathBuf::from) {
        Some(x) if x.is_absolute() => x.join("cordon"),
        _ => home.join(".local/state/cordon"),
    }
}

/// What the sandbox would allow, as paths.
#[derive(Debug, Clone)]
pub struct FileRules {
    pub mode: Mode,
    /// Writable roots, canonical (the workspace first); empty in read-only mode.
    pub writable: Vec<PathBuf>,
    /// The workspace (secret file names apply below it and below the writable roots).
    pub workspace: PathBuf,
    /// Secret paths (resolved; existing or not).
    pub secrets: Vec<PathBuf>,
    /// Secret paths let through on purpose (`read_secret`).
    pub allowed: Vec<PathBuf>,
    /// Read-only paths inside the writable roots (resolved).
    pub protected: Vec<PathBuf>,
}

/// Why a path is refused, or `None`.
pub type Refusal = Option<String>;

impl FileRules {
    /// The rules of a config, for this workspace. `hidden`: directories the sandbox hides
    /// (cordon's audit log, its state directory).
    pub fn new(
        cfg: &cordon_config::Config,
        workspace: &Path,
        home: &Path,
        hidden: &[PathBuf],
    ) -> FileRules {
        let mode = cfg.mode.value;
        let mut writable = Vec::new();
        if mode == Mode::WorkspaceWrite {
            writable.push(workspace.to_path_buf());
            for w in &cfg.writable {
                let r = resolve(&w.value, workspace);
                if !writable.contains(&r) {
                    writable.push(r);
                }
            }
        }
        let removed = |rel: &str| cfg.remove_secrets.iter().any(|r| r.value == rel);
        let mut secrets: Vec<PathBuf> = HOME_SECRETS
            .iter()
            .filter(|rel| !removed(rel))
            .map(|rel| resolve(&home.join(rel), home))
            .collect();
        let roots: Vec<PathBuf> = if writable.is_empty() {
            vec![workspace.to_path_buf()]
        } else {
            writable.clone()
        };
        for s in &cfg.secrets {
            if s.value.is_absolute() {
                secrets.push(resolve(&s.value, workspace));
            } else {
                secrets.extend(roots.iter().map(|r| resolve(&r.join(&s.value), r)));
            }
        }
        secrets.extend(hidden.iter().map(|h| resolve(h, workspace)));
        let allowed = cfg
            .read_secret
            .iter()
            .map(|r| resolve(&r.value, workspace))
            .collect();
        let unprotected = |rel: &str| cfg.remove_protected.iter().any(|r| r.value == rel);
        let mut protected = Vec::new();
        for root in &writable {
            for (rel, _kind) in PROTECTED.iter().filter(|(rel, _)| !unprotected(rel)) {
                if let Some(sub) = rel.strip_prefix(".git/") {
                    // As the sandbox does: `.git` a file (worktree) → the file; no `.git` at
                    // all → `.git` as a whole, so that none can be planted.
                    let git = root.join(".git");
                    match std::fs::symlink_metadata(&git) {
                        Ok(m) if m.is_dir() => protected.push(resolve(&git.join(sub), root)),
                        _ => protected.push(git),
                    }
                } else {
                    protected.push(resolve(&root.join(rel), root));
                }
            }
            for p in &cfg.protected {
                let r = resolve(&p.value, root);
                if r.starts_with(root) {
                    protected.push(r);
                }
            }
        }
        // cordon's own config, trust store and grants stay read-only wherever they are.
        let paths = crate::plan::paths();
        protected.push(resolve(&paths.config_dir, home));
        protected.push(resolve(&paths.etc_dir, home));
        FileRules {
            mode,
            writable,
            workspace: workspace.to_path_buf(),
            secrets,
            allowed,
            protected,
        }
    }

    /// The secret `p` (resolved) is, or is inside.
    pub fn secret(&self, p: &Path) -> Option<PathBuf> {
        if self.allowed.iter().any(|a| p.starts_with(a)) {
            return None;
        }
        if let Some(s) = self.secrets.iter().find(|s| p.starts_with(s)) {
            return Some(s.clone());
        }
        // Secret file names (.env, *.pem, *.key, id_*) anywhere below the workspace or a
        // writable root (the sandbox looks 4 levels deep; the hook at any depth).
        for root in std::iter::once(&self.workspace).chain(self.writable.iter()) {
            if let Ok(rel) = p.strip_prefix(root) {
                let mut cur = root.clone();
                for c in rel.components() {
                    cur.push(c);
                    if let Component::Normal(n) = c {
                        if n.to_str().is_some_and(is_secret_file_name) {
                            return Some(cur);
                        }
                    }
                }
            }
        }
        None
    }

    /// A read of `p` (resolved): refused when it is a secret.
    pub fn read(&self, p: &Path) -> Refusal {
        self.secret(p).map(|s| {
            format!(
                "{} is a secret path ({}): cordon hides it from the agent and from sandboxed commands",
                p.display(),
                s.display()
            )
        })
    }

    /// A search below `dir` (resolved). `contents`: it reads the files (Grep), not only names.
    pub fn search(&self, dir: &Path, contents: bool) -> Refusal {
        if let Some(r) = self.read(dir) {
            return Some(r);
        }
        if contents {
            if let Some(s) = self
                .secrets
                .iter()
                .find(|s| s.starts_with(dir) && s.exists())
                .filter(|s| !self.allowed.iter().any(|a| s.starts_with(a)))
            {
                return Some(format!(
                    "searching the contents of {} would read the secret path {}: search a narrower directory",
                    dir.display(),
                    s.display()
                ));
            }
        }
        None
    }

    /// A write (create, edit, delete, move) of `p` (resolved).
    pub fn write(&self, p: &Path) -> Refusal {
        match self.mode {
            Mode::DangerFullAccess => return None,
            Mode::ReadOnly => {
                return Some(format!(
                    "{}: cordon's mode is read-only, nothing may be written",
                    p.display()
                ))
            }
            Mode::WorkspaceWrite => {}
        }
        if let Some(s) = self.secret(p) {
            return Some(format!(
                "{} is a secret path ({}): no read, no write",
                p.display(),
                s.display()
            ));
        }
        if !self.writable.iter().any(|r| p.starts_with(r)) {
            return Some(format!(
                "{} is outside the writable roots ({}): cordon lets the agent write only there",
                p.display(),
                self.writable
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(pr) = self.protected.iter().find(|pr| p.starts_with(pr)) {
            return Some(format!(
                "{} is a protected path ({}): read-only even inside the workspace (code there runs later, outside any sandbox)",
                p.display(),
                pr.display()
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_follows_symlinks_as_far_as_the_path_exists() {
        let t = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir_all(root.join("real/dir")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        // Through a symlinked directory to a file that does not exist yet.
        assert_eq!(
            resolve(Path::new("link/dir/new/file"), &root),
            root.join("real/dir/new/file")
        );
        // `..` after a missing part is lexical; after an existing symlink, the kernel's.
        assert_eq!(resolve(Path::new("missing/../x"), &root), root.join("x"));
        assert_eq!(
            resolve(Path::new("link/dir/../x"), &root),
            root.join("real/x")
        );
        assert_eq!(resolve(Path::new("/a/../../b"), &root), PathBuf::from("/b"));
    }

    #[test]
    fn secret_names_at_any_depth_and_the_git_directory() {
        let t = tempfile::tempdir().unwrap();
        let ws = std::fs::canonicalize(t.path()).unwrap();
        let rules = FileRules {
            mode: Mode::WorkspaceWrite,
            writable: vec![ws.clone()],
            workspace: ws.clone(),
            secrets: vec![],
            allowed: vec![],
            protected: vec![ws.join(".git")],
        };
        assert!(rules.read(&ws.join("a/b/c/d/e/.env")).is_some());
        assert!(rules.read(&ws.join("certs/server.pem")).is_some());
        assert!(rules.read(&ws.join(".env.example")).is_none());
        assert!(rules.write(&ws.join(".git/hooks/pre-commit")).is_some());
        assert!(rules.write(&ws.join("src/main.rs")).is_none());
        assert!(rules.write(Path::new("/etc/passwd")).is_some());
    }
}
