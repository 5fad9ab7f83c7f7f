//! The sandbox's file rules applied to a named path, without building a sandbox: what a hook
//! asks about an agent's own file tools (Read, Write, Edit, apply_patch, Gemini's write_file...),
//! which run in the agent's process, outside any sandbox: the hook is their only fence, so it
//! applies what `cordon run` would enforce ([`crate::check::Checker::file`]).
//!
//! A path is made absolute against the hook's `cwd`, then resolved the way the kernel would:
//! symlinks followed as far as the path exists — a dangling one too, to where it points (a write
//! through `x -> ~/.bash_login` creates `~/.bash_login`); the part that does not exist yet (a
//! file about to be created) is appended lexically (it cannot hold a symlink).

use std::path::{Component, Path, PathBuf};

use cordon_sandbox::spec::{is_secret_file_name, Mode, HOME_SECRETS, PROTECTED};

/// `p` against `cwd`, canonical as far as it exists.
pub fn resolve(p: &Path, cwd: &Path) -> PathBuf {
    resolve_hops(p, cwd, 0)
}

/// The kernel gives up after 40 symlinks (ELOOP): so does the resolution of dangling ones.
const MAX_HOPS: usize = 40;

fn resolve_hops(p: &Path, cwd: &Path, hops: usize) -> PathBuf {
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
        // A dangling symlink: the kernel follows it (open(O_CREAT) creates its target), so the
        // path is where it points, and the rest below that.
        if let Ok(target) = std::fs::read_link(&cur) {
            if hops < MAX_HOPS {
                let mut next = match cur.parent() {
                    Some(parent) => parent.join(&target),
                    None => target,
                };
                for r in rest.iter().rev() {
                    next.push(r);
                }
                return resolve_hops(&next, Path::new("/"), hops + 1);
            }
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
    /// The workspace's state directory (where the sandbox keeps its index) and the scan's entry
    /// limit: the hook looks at the writable roots with the sandbox's own scan
    /// ([`FileRules::scanned`]). `None`: no scan (tests).
    pub index: Option<(PathBuf, u64)>,
    /// Built-in protected entries switched off (`filesystem.remove_protected`), for the scan.
    pub remove_protected: Vec<String>,
    /// The scan, done once (on first need) per set of rules.
    scanned: std::sync::OnceLock<Result<Scanned, cordon_sandbox::Error>>,
}

/// What the sandbox's scan of the writable roots finds (`cordon_sandbox::scan::scan`, through
/// the workspace index: only what changed since the last look is read again).
#[derive(Debug, Clone, Default)]
pub struct Scanned {
    /// The secret files the sandbox covers there: secret names at any depth, the targets of
    /// secret-named symlinks, the other names (hard links) of secret files, secrets an earlier
    /// run moved under another name or into a regenerated tree.
    pub secrets: Vec<PathBuf>,
    /// What it keeps read-only there, or neutralises when it appears, and why: what git reads as
    /// code in every repository (top-level, nested, bare, submodules' and worktrees' git
    /// directories), what their configs name (`core.hooksPath`, `core.fsmonitor = ./x`, included
    /// files), installed hook managers' configs, existing agent configs at any depth.
    pub protected: Vec<(PathBuf, String)>,
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
        let limit = cfg
            .scan_limit
            .as_ref()
            .map_or(cordon_sandbox::guard::DEFAULT_SCAN_LIMIT, |v| v.value);
        FileRules {
            mode,
            writable,
            workspace: workspace.to_path_buf(),
            secrets,
            allowed,
            protected,
            index: Some((paths.workspace_state_dir(workspace), limit)),
            remove_protected: cfg
                .remove_protected
                .iter()
                .map(|r| r.value.clone())
                .collect(),
            scanned: std::sync::OnceLock::new(),
        }
    }

    /// The sandbox's scan of the writable roots (or of the workspace in read-only mode), done
    /// once. `Err`: it could not be done (the entry limit, an unreadable root, a secret with a
    /// name outside the roots): the caller refuses (the sandbox would not run either).
    pub fn scanned(&self) -> Result<&Scanned, cordon_sandbox::Error> {
        self.scanned
            .get_or_init(|| self.scan())
            .as_ref()
            .map_err(Clone::clone)
    }

    fn scan(&self) -> Result<Scanned, cordon_sandbox::Error> {
        let Some((state, limit)) = &self.index else {
            return Ok(Scanned::default());
        };
        let roots: Vec<PathBuf> = if self.writable.is_empty() {
            vec![self.workspace.clone()]
        } else {
            self.writable.clone()
        };
        // As the sandbox: covered secret directories are not read.
        let skip: Vec<PathBuf> = self
            .secrets
            .iter()
            .filter(|s| s.is_dir() && !self.allowed.iter().any(|a| a.starts_with(s)))
            .cloned()
            .collect();
        let env: Vec<(String, String)> = std::env::vars().collect();
        let scan = cordon_sandbox::scan::scan(&cordon_sandbox::guard::ScanInput {
            roots: &roots,
            writable: !self.writable.is_empty(),
            state_dir: Some(state),
            skip: &skip,
            limit: *limit,
            env: &env,
            remove_protected: &self.remove_protected,
        })?;
        let mut protected: Vec<(PathBuf, String)> = scan
            .protected
            .into_iter()
            .map(|p| {
                (
                    p.path,
                    "the sandbox keeps it read-only: git or an agent or editor reads it as code"
                        .to_string(),
                )
            })
            .collect();
        if let Some(g) = scan.guard {
            protected.extend(g.watched.into_iter().map(|w| (w.path, w.why)));
        }
        Ok(Scanned {
            secrets: scan
                .secrets
                .into_iter()
                .filter(|s| !self.allowed.iter().any(|a| s.starts_with(a)))
                .collect(),
            protected,
        })
    }

    /// What git and the tools that run code on entering a directory read below the writable
    /// roots, at any depth, existing or about to be created by writing `p` (README
    /// "Repositories and agent configs"): anything inside a git directory (`.git`, or a
    /// directory that is one by its shape — see [`git_dir_after`]), an agent or editor config
    /// (`.cursor/`, `.gemini/`, `.vscode/`, `.devcontainer/`, `.envrc`..., and those that count
    /// only in a given directory: Copilot CLI's `.github/hooks/` and `.github/mcp.json`,
    /// `.config/mise`). The sandbox keeps the existing ones read-only
    /// and neutralises new ones after each run; the agent's own file tools run outside any run
    /// and its check, so the hook refuses them.
    pub fn code_config(&self, p: &Path) -> Option<(PathBuf, String)> {
        const GIT: &str = "a git directory: git runs its hooks and reads its config as code";
        for root in &self.writable {
            let Ok(rel) = p.strip_prefix(root) else {
                continue;
            };
            let mut cur = root.clone();
            if git_dir_after(&cur, p) {
                return Some((cur, GIT.into()));
            }
            let mut parent_name: Option<&std::ffi::OsStr> = None;
            for c in rel.components() {
                let Component::Normal(n) = c else { continue };
                cur.push(n);
                let name = n.to_str().unwrap_or("");
                if name == ".git" {
                    return Some((cur, GIT.into()));
                }
                if let Some(why) = cordon_sandbox::guard::agent_config_name(name) {
                    return Some((cur, format!("an agent or editor config ({why})")));
                }
                if let Some((_, _, why)) = cordon_sandbox::guard::AGENT_CONFIGS_IN
                    .iter()
                    .find(|(d, a, _)| *a == name && parent_name.is_some_and(|p| p == *d))
                {
                    return Some((cur, format!("an agent or editor config ({why})")));
                }
                if cur != p && git_dir_after(&cur, p) {
                    return Some((cur, GIT.into()));
                }
                parent_name = Some(n);
            }
        }
        None
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

    /// A read of `p` (resolved): refused when it is a secret, by name or because the sandbox
    /// covers it (the target of a secret-named symlink, another name of a secret file, a secret
    /// renamed by an earlier run).
    pub fn read(&self, p: &Path) -> Refusal {
        if let Some(s) = self.secret(p) {
            return Some(format!(
                "{} is a secret path ({}): cordon hides it from the agent and from sandboxed commands",
                p.display(),
                s.display()
            ));
        }
        if let Some(what) = process_secret(p) {
            return Some(format!(
                "{} is {what}: the agent's own holds its API keys and tokens, which cordon hides from sandboxed commands",
                p.display()
            ));
        }
        if !p.is_file() {
            return None;
        }
        match self.scanned() {
            Ok(s) if !s.secrets.iter().any(|x| x == p) => None,
            Ok(_) => Some(format!(
                "{} is a secret file (cordon's sandbox covers it: a secret-named link leads to it, it is another name of a secret file, or it was a secret before under another name): cordon hides it from the agent and from sandboxed commands",
                p.display()
            )),
            Err(e) => Some(format!(
                "cordon cannot tell whether {} is a secret file: {e}",
                p.display()
            )),
        }
    }

    /// A search below `dir` (resolved). `contents`: it reads the files (Grep), not only names.
    /// The agent's search runs outside the sandbox, where the workspace's secret files are not
    /// hidden: a content search whose scope holds one is refused, naming it, and pointing at
    /// a narrower directory or the sandboxed shell's `rg`.
    pub fn search(&self, dir: &Path, contents: bool) -> Refusal {
        if let Some(r) = self.read(dir) {
            return Some(r);
        }
        if !contents {
            return None;
        }
        if dir.starts_with("/proc") {
            return Some(format!(
                "searching the contents of {} would read processes' environments and memory (the agent's own holds its API keys): search a narrower path",
                dir.display()
            ));
        }
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
        // The secret files of the writable roots the search reaches (`*.pem`, `*.key`, `id_*`,
        // `.env*` at any depth, and what else the sandbox covers there).
        let mut found: Vec<PathBuf> = Vec::new();
        let reaches = |r: &PathBuf| r.starts_with(dir) || dir.starts_with(r);
        if self.writable.iter().chain([&self.workspace]).any(reaches) {
            match self.scanned() {
                Ok(s) => found.extend(s.secrets.iter().filter(|s| s.starts_with(dir)).cloned()),
                Err(e) => {
                    return Some(format!(
                        "cordon cannot tell which secret files a search of {} would read: {e}; run the search as a shell command (`rg PATTERN`), which runs in cordon's sandbox",
                        dir.display()
                    ))
                }
            }
        }
        let first = found.first()?;
        Some(format!(
            "searching the contents of {} would read the secret {}{}, which this tool (it runs outside cordon's sandbox) does not hide: search a narrower path that holds no secret, or run the search as a shell command (`rg PATTERN`, `grep -rn PATTERN`), which runs in cordon's sandbox where secrets are hidden",
            dir.display(),
            first.display(),
            match found.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            }
        ))
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
        if let Some((at, why)) = self.code_config(p) {
            return Some(format!(
                "{} is in {}, {why}: read-only even inside the workspace (code there runs later, outside any sandbox); change it yourself, outside the agent",
                p.display(),
                at.display()
            ));
        }
        match self.scanned() {
            Ok(s) => {
                if let Some((at, why)) = s.protected.iter().find(|(x, _)| p.starts_with(x)) {
                    return Some(format!(
                        "{} is a protected path ({}; {why}): read-only even inside the workspace (code there runs later, outside any sandbox); change it yourself, outside the agent",
                        p.display(),
                        at.display()
                    ));
                }
                if s.secrets.iter().any(|x| x == p) {
                    return Some(format!(
                        "{} is a secret file (cordon's sandbox covers it): no read, no write",
                        p.display()
                    ));
                }
            }
            Err(e) => {
                return Some(format!(
                    "cordon cannot tell whether {} is protected: {e}",
                    p.display()
                ))
            }
        }
        None
    }
}

/// A process's environment or memory under `/proc` (`/proc/self/environ` of the agent's own
/// process: its API keys; the sandbox hides secret environment variables from commands).
fn process_secret(p: &Path) -> Option<&'static str> {
    let rest = p.strip_prefix("/proc").ok()?;
    match rest.file_name()?.to_str()? {
        "environ" => Some("a process's environment"),
        "mem" | "pagemap" => Some("a process's memory"),
        _ => None,
    }
}

/// Would `d` be a git directory once `p` is written? Git takes a directory for one by its
/// shape (`is_git_directory`: a `HEAD` file, and `objects/` and `refs/` — or a `commondir`
/// file naming where they are), wherever it is (a bare repository, or the target of a `.git`
/// file), and then reads its `config` and runs its `hooks/`. A write that completes the shape
/// or lands in such a directory is refused, in whatever order the pieces are written.
pub fn git_dir_after(d: &Path, p: &Path) -> bool {
    let file = |name: &str| p == d.join(name) || d.join(name).is_file();
    let dir = |name: &str| {
        let x = d.join(name);
        (p.starts_with(&x) && p != x) || x.is_dir()
    };
    file("HEAD") && ((dir("objects") && dir("refs")) || file("commondir"))
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
        // A dangling symlink is followed to where a write would land, also relative and
        // chained, and below it.
        std::os::unix::fs::symlink("../outside/new-file", root.join("real/dangling")).unwrap();
        std::os::unix::fs::symlink("real/dangling", root.join("chain")).unwrap();
        std::os::unix::fs::symlink("/nonexistent-dir", root.join("gone")).unwrap();
        assert_eq!(
            resolve(Path::new("real/dangling"), &root),
            root.join("outside/new-file")
        );
        assert_eq!(
            resolve(Path::new("chain"), &root),
            root.join("outside/new-file")
        );
        assert_eq!(
            resolve(Path::new("gone/a/b"), &root),
            PathBuf::from("/nonexistent-dir/a/b")
        );
        // A loop ends (the kernel's ELOOP) without hanging.
        std::os::unix::fs::symlink("loop2", root.join("loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", root.join("loop2")).unwrap();
        let _ = resolve(Path::new("loop1/x"), &root);
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
            index: None,
            remove_protected: vec![],
            scanned: Default::default(),
        };
        assert!(rules.read(&ws.join("a/b/c/d/e/.env")).is_some());
        assert!(rules.read(&ws.join("certs/server.pem")).is_some());
        assert!(rules.read(&ws.join(".env.example")).is_none());
        assert!(rules.write(&ws.join(".git/hooks/pre-commit")).is_some());
        assert!(rules.write(&ws.join("src/main.rs")).is_none());
        assert!(rules.write(Path::new("/etc/passwd")).is_some());
    }
}
