//! What the workspace index implies before a run: the secret files to cover, the repositories
//! to keep intact (git directories pinned, the entries git reads as code read-only), the agent
//! and editor configs to keep read-only at any depth, and what to look at after the run
//! ([`Guard`], used by `neutralise.rs`).
//!
//! See README "Repositories and agent configs" for what is in and out, and why.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use crate::handles::{self, Ts};
use crate::index::{self, Index, Tree, GIT_DIR, REGEN, SKIPPED};
use crate::spec::{Kind, Protected};
use crate::Error;

/// Configs that make a tool run code when a person, an editor or an agent opens or enters the
/// directory that holds them (name, what runs). Existing ones are read-only during a run, at any
/// depth outside regenerated trees; new ones are neutralised after it.
pub const AGENT_CONFIGS: &[(&str, &str)] = &[
    (
        ".claude",
        "Claude Code: settings.json hooks, MCP servers, commands, agents",
    ),
    (
        ".mcp.json",
        "Claude Code and others: MCP servers (commands to start)",
    ),
    (".codex", "Codex: config.toml (MCP servers, hooks)"),
    (".agents", "agent skills and commands"),
    (".cursor", "Cursor: hooks.json, mcp.json"),
    (
        ".gemini",
        "Gemini CLI: settings.json (MCP servers, tool discovery commands)",
    ),
    (".windsurf", "Windsurf: hooks, workflows"),
    (
        ".zed",
        "Zed: tasks, language servers and context servers with commands",
    ),
    (".continue", "Continue: MCP servers"),
    (".kiro", "Kiro: agent hooks"),
    (".amazonq", "Amazon Q: MCP servers"),
    (".clinerules", "Cline: hooks, workflows"),
    (".roo", "Roo Code: MCP servers"),
    (".opencode", "OpenCode: plugins (JavaScript it loads)"),
    ("opencode.json", "OpenCode: plugins, MCP servers"),
    ("opencode.jsonc", "OpenCode: plugins, MCP servers"),
    (".aider.conf.yml", "Aider: lint-cmd, test-cmd"),
    (
        ".vscode",
        "VS Code: tasks (runOn folderOpen), settings naming executables",
    ),
    (
        ".idea",
        "JetBrains IDEs: run configurations, external tools, startup tasks",
    ),
    (
        ".devcontainer",
        "Dev Containers: initializeCommand runs on the host",
    ),
    (
        ".devcontainer.json",
        "Dev Containers: initializeCommand runs on the host",
    ),
    (".husky", "husky: the git hooks (core.hooksPath = .husky/_)"),
    (".envrc", "direnv: a shell script run on cd"),
    (
        ".mise.toml",
        "mise: [hooks] enter/cd, templates that exec, env._.source",
    ),
    ("mise.toml", "mise: as .mise.toml"),
    (".mise.local.toml", "mise: as .mise.toml"),
    ("mise.local.toml", "mise: as .mise.toml"),
    (".mise", "mise: config directory"),
    (".autoenv.zsh", "zsh-autoenv: sourced on cd"),
    (".autoenv_leave.zsh", "zsh-autoenv: sourced on leaving"),
    (".env.leave", "autoenv: sourced on leaving"),
    (".dir-locals.el", "Emacs: directory variables (eval)"),
    (".dir-locals-2.el", "Emacs: directory variables (eval)"),
    (".nvim.lua", "Neovim exrc"),
    (".nvimrc", "Neovim/Vim exrc"),
    (".exrc", "Vim exrc"),
];

/// Configs that an installed git hook manager reads from the work tree's top at each commit
/// (name, manager). Protected when that manager's hook is installed in the repository.
pub const HOOK_MANAGER_CONFIGS: &[(&str, &str)] = &[
    (".pre-commit-config.yaml", "pre-commit"),
    (".pre-commit-config.yml", "pre-commit"),
    ("lefthook.yml", "lefthook"),
    (".lefthook.yml", "lefthook"),
    ("lefthook.yaml", "lefthook"),
    (".lefthook.yaml", "lefthook"),
    ("lefthook.toml", "lefthook"),
    (".lefthook.toml", "lefthook"),
    ("lefthook.json", "lefthook"),
    (".lefthook.json", "lefthook"),
    ("lefthook-local.yml", "lefthook"),
    (".lefthook-local.yml", "lefthook"),
    ("lefthook-local.yaml", "lefthook"),
    (".lefthook-local.yaml", "lefthook"),
    ("lefthook-local.toml", "lefthook"),
    (".lefthook-local.toml", "lefthook"),
    ("lefthook-local.json", "lefthook"),
    (".lefthook-local.json", "lefthook"),
    (".lefthook", "lefthook"),
    (".lefthook-local", "lefthook"),
    (".overcommit.yml", "overcommit"),
    (".lintstagedrc", "lint-staged"),
    (".lintstagedrc.json", "lint-staged"),
    (".lintstagedrc.yaml", "lint-staged"),
    (".lintstagedrc.yml", "lint-staged"),
    (".lintstagedrc.mjs", "lint-staged"),
    (".lintstagedrc.cjs", "lint-staged"),
    (".lintstagedrc.js", "lint-staged"),
    ("lint-staged.config.js", "lint-staged"),
    ("lint-staged.config.mjs", "lint-staged"),
    ("lint-staged.config.cjs", "lint-staged"),
];

/// The most entries the writable roots may hold by default (see `Request::scan_limit`).
pub const DEFAULT_SCAN_LIMIT: u64 = 2_000_000;

/// Configs that count only inside a directory of a given name (directory, name, what runs).
pub const AGENT_CONFIGS_IN: &[(&str, &str, &str)] = &[
    (".config", "mise", "mise: config in .config/"),
    (".config", "mise.toml", "mise: config in .config/"),
    (".config", "mise.local.toml", "mise: config in .config/"),
    (
        ".github",
        "hooks",
        "Copilot CLI: .github/hooks/*.json name commands it runs at its events (cordon install copilot --scope project puts cordon's own hook there)",
    ),
    (
        ".github",
        "mcp.json",
        "Copilot CLI: MCP servers (commands to start)",
    ),
];

/// A `.env` file that an agent loads into its own environment, whence it reaches every command
/// the agent runs (`BASH_ENV`, `NODE_OPTIONS`, `LD_PRELOAD`... run code): Gemini CLI (and its
/// forks) read the nearest `.env` from the directory they start in upwards, in a trusted folder
/// with every variable. An existing one is a secret (covered in the sandbox: it cannot be
/// changed); a new one is neutralised after the run like an agent config.
pub const LOADED_ENV_FILE: (&str, &str) = (
    ".env",
    "a .env file: Gemini CLI loads the nearest one into its environment (BASH_ENV, NODE_OPTIONS... run code at its next command)",
);

/// Is the mark `name` in directory `dir` (of `tree`) an agent or editor config? (Some count only
/// inside a directory of a given name: [`AGENT_CONFIGS_IN`].)
pub fn agent_config(tree: &Tree, dir: u32, name: &[u8]) -> Option<&'static str> {
    let s = std::str::from_utf8(name).ok()?;
    if let Some((_, why)) = AGENT_CONFIGS.iter().find(|(n, _)| *n == s) {
        return Some(why);
    }
    let parent = &*tree.dirs[dir as usize].name;
    AGENT_CONFIGS_IN
        .iter()
        .find(|(d, n, _)| *n == s && parent == d.as_bytes())
        .map(|(_, _, why)| *why)
}

/// What the scan found before the run.
pub struct Scan {
    /// Secret files in the writable roots (and the targets of secret-named symlinks).
    pub secrets: Vec<PathBuf>,
    /// Paths to keep read-only, found by the scan (nested repositories' entries, nested agent
    /// configs, files that configs name).
    pub protected: Vec<Protected>,
    /// Git directories bind-mounted on themselves (read-write) so that they cannot be renamed
    /// or removed during the run.
    pub pinned: Vec<PathBuf>,
    pub notes: Vec<String>,
    /// What the check after the run needs. None when nothing is writable.
    pub guard: Option<Guard>,
    /// Findings of earlier runs' checks done now (those runs ended without them).
    pub recovered: Vec<crate::neutralise::Finding>,
}

/// The input of [`scan`].
pub struct ScanInput<'a> {
    /// Canonical roots: the writable roots (or the workspace in read-only mode).
    pub roots: &'a [PathBuf],
    /// Whether the roots are writable (else only secrets matter).
    pub writable: bool,
    /// The workspace's state directory (`…/cordon/workspaces/<id>`), where the index lives.
    pub state_dir: Option<&'a Path>,
    /// Directories not to read (covered secrets).
    pub skip: &'a [PathBuf],
    pub limit: u64,
    /// The caller's environment (HOME, XDG_CONFIG_HOME, GIT_CONFIG_GLOBAL, GIT_TEMPLATE_DIR).
    pub env: &'a [(String, String)],
    /// Built-in protected entries switched off (`.git/hooks`...).
    pub remove_protected: &'a [String],
}

/// A path to look at after the run: named by a config or a hook manager but missing now, or a
/// symlink at a protected name. Neutralised if it appears (or changes) during the run.
#[derive(Debug, Clone)]
pub struct Watched {
    pub path: PathBuf,
    pub why: String,
}

/// Everything the check after a run needs (see `neutralise.rs`).
pub struct Guard {
    pub index: Index,
    /// When the index walk started: what changed after this was done by the run (or during it).
    pub t0: Ts,
    pub roots: Vec<PathBuf>,
    pub skip: Vec<PathBuf>,
    pub limit: u64,
    pub state_dir: Option<PathBuf>,
    pub watched: Vec<Watched>,
    /// `exec` lines of rebases in progress before the run, per git directory.
    pub rebase_exec: Vec<(PathBuf, Vec<String>)>,
    /// Git's template directory (hooks that `git init` copies are not new code).
    pub templates: Option<PathBuf>,
    /// The file that says "a run is in progress" (see `neutralise::begin`), locked while it is.
    pub(crate) run_file: Mutex<Option<(PathBuf, std::fs::File)>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("roots", &self.roots)
            .field("t0", &self.t0)
            .field("watched", &self.watched)
            .finish_non_exhaustive()
    }
}

fn env<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
    env.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// `p` made absolute against `base`, `.` and `..` removed lexically.
pub fn lexical(p: &Path, base: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// The writable roots, opened once (no symlink anywhere on their paths).
pub struct Roots {
    pub paths: Vec<PathBuf>,
    fds: Vec<Option<OwnedFd>>,
}

impl Roots {
    pub fn open(paths: &[PathBuf]) -> Roots {
        Roots {
            paths: paths.to_vec(),
            fds: paths
                .iter()
                .map(|p| handles::open_no_symlinks(p, libc::O_PATH | libc::O_DIRECTORY).ok())
                .collect(),
        }
    }

    /// The deepest root holding `p`, and `p` relative to it.
    pub fn locate(&self, p: &Path) -> Option<(usize, PathBuf)> {
        self.paths
            .iter()
            .enumerate()
            .filter(|(_, r)| p.starts_with(r))
            .max_by_key(|(_, r)| r.components().count())
            .map(|(i, r)| (i, p.strip_prefix(r).unwrap_or(Path::new("")).to_path_buf()))
    }

    pub fn contains(&self, p: &Path) -> bool {
        self.locate(p).is_some()
    }

    /// The directory `dir` (absolute, inside a root), opened beneath its root.
    pub fn open_dir(&self, dir: &Path, flags: i32) -> std::io::Result<OwnedFd> {
        let (i, rel) = self
            .locate(dir)
            .ok_or_else(|| std::io::Error::other("outside the writable roots"))?;
        let root = self.fds[i]
            .as_ref()
            .ok_or_else(|| std::io::Error::other("the root could not be opened"))?;
        handles::open_beneath(root.as_fd(), &rel, flags | libc::O_DIRECTORY)
    }

    /// Stat of `p` (not following a symlink at its end; none may be on the way).
    pub fn stat(&self, p: &Path) -> std::io::Result<handles::Stat> {
        let (dir, name) = split(p)?;
        let d = self.open_dir(dir, libc::O_PATH)?;
        handles::statx_at(d.as_fd(), name, false)
    }

    /// Reads the regular file `p` (at most `max` bytes).
    pub fn read(&self, p: &Path, max: usize) -> std::io::Result<(handles::Stat, Vec<u8>)> {
        let (dir, name) = split(p)?;
        let d = self.open_dir(dir, libc::O_PATH)?;
        handles::read_file_at(d.as_fd(), name, max)
    }
}

pub fn split(p: &Path) -> std::io::Result<(&Path, &[u8])> {
    match (p.parent(), p.file_name()) {
        (Some(d), Some(n)) => Ok((d, n.as_bytes())),
        _ => Err(std::io::Error::other("no file name")),
    }
}

/// git's `validate_headref`: a symlink into `refs/`, `ref: refs/...`, or an object name.
pub fn valid_head(roots: &Roots, git_dir: &Path) -> bool {
    let p = git_dir.join("HEAD");
    let Ok(st) = roots.stat(&p) else { return false };
    if st.is_symlink() {
        let Ok(d) = roots.open_dir(git_dir, libc::O_PATH) else {
            return false;
        };
        return handles::read_link_at(d.as_fd(), b"HEAD").is_ok_and(|t| t.starts_with(b"refs/"));
    }
    let Ok((_, b)) = roots.read(&p, 255) else {
        return false;
    };
    let s = String::from_utf8_lossy(&b);
    if let Some(r) = s.strip_prefix("ref:") {
        return r.trim_start().starts_with("refs/");
    }
    let hex = s.trim_end();
    (hex.len() == 40 || hex.len() == 64) && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

/// The global and system git configs (and what they include), as the caller's git reads them.
fn global_configs(env_: &[(String, String)]) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(g) = env(env_, "GIT_CONFIG_GLOBAL") {
        v.push(PathBuf::from(g));
    } else {
        if let Some(h) = env(env_, "HOME") {
            v.push(Path::new(h).join(".gitconfig"));
        }
        match env(env_, "XDG_CONFIG_HOME") {
            Some(x) => v.push(Path::new(x).join("git/config")),
            None => {
                if let Some(h) = env(env_, "HOME") {
                    v.push(Path::new(h).join(".config/git/config"));
                }
            }
        }
    }
    if env(env_, "GIT_CONFIG_NOSYSTEM").is_none() {
        v.push(PathBuf::from(
            env(env_, "GIT_CONFIG_SYSTEM").unwrap_or("/etc/gitconfig"),
        ));
    }
    v.retain(|p| p.is_absolute());
    v
}

/// Reads a config outside or inside the roots (inside: by handle), for what it names, following
/// its includes (each include's path is relative to the file that names it) up to 10 deep.
/// Files inside the roots are collected in `files` (they must be protected too).
fn read_named(
    roots: &Roots,
    path: &Path,
    depth: usize,
    out: &mut crate::gitconfig::Named,
    files: &mut Vec<(PathBuf, bool)>,
) {
    if depth > 10 {
        return;
    }
    let inside = roots.contains(path);
    let text = if inside {
        match roots.read(path, 1 << 20) {
            Ok((_, t)) => {
                files.push((path.to_path_buf(), true));
                t
            }
            Err(_) => {
                files.push((path.to_path_buf(), false));
                return;
            }
        }
    } else {
        match std::fs::read(path) {
            Ok(t) => t,
            Err(_) => return,
        }
    };
    let n = crate::gitconfig::named(&text);
    let base = path.parent().unwrap_or(Path::new("/"));
    for inc in &n.includes {
        let p = expand_home(inc, roots).unwrap_or_else(|| lexical(Path::new(inc), base));
        read_named(roots, &p, depth + 1, out, files);
    }
    out.hooks_paths.extend(n.hooks_paths);
    out.command_words.extend(n.command_words);
    out.worktree_config |= n.worktree_config;
}

thread_local! {
    static HOME: std::cell::RefCell<Option<PathBuf>> = const { std::cell::RefCell::new(None) };
}

/// `~/x` as git expands it in paths (`include.path`, `core.hooksPath`).
fn expand_home(p: &str, _roots: &Roots) -> Option<PathBuf> {
    let rest = p.strip_prefix("~/")?;
    HOME.with(|h| h.borrow().as_ref().map(|h| h.join(rest)))
}

/// Walks the roots (through the index when there is one) and derives what to cover, protect,
/// pin and watch. Errors: the entry limit (fail closed, with how to proceed), or a root that
/// cannot be read.
pub fn scan(inp: &ScanInput<'_>) -> Result<Scan, Error> {
    HOME.with(|h| *h.borrow_mut() = env(inp.env, "HOME").map(PathBuf::from));
    let started = std::time::Instant::now();
    let mut notes = Vec::new();
    let mut state_dir = inp.state_dir;
    let store = match inp.state_dir.map(|d| (d, index::Store::open(d))) {
        Some((_, Ok(s))) => Some(s),
        Some((d, Err(e))) => {
            // A cache: without it every run reads the whole workspace (slower, not weaker).
            notes.push(format!(
                "the workspace index in {} cannot be used ({e}): every run reads the whole workspace",
                d.display()
            ));
            state_dir = None;
            None
        }
        None => None,
    };
    // A run that ended without its check (cordon was killed): do it now.
    let recovered = match &store {
        Some(s) => crate::neutralise::recover(s, inp)?,
        None => Vec::new(),
    };
    let old = store.as_ref().and_then(|s| s.load());
    let t0 = Ts::now();
    let (idx, changes) = match index::walk(old.as_ref(), inp.roots, inp.skip, inp.limit) {
        Ok(r) => r,
        Err(index::WalkError::Limit(l)) => return Err(limit_error(&l)),
        Err(index::WalkError::Io(e)) => {
            return Err(Error::Setup(format!("cannot read the workspace: {e}")))
        }
    };
    let mut idx = idx;
    classify(&mut idx, old.as_ref(), &Roots::open(inp.roots));
    let took = started.elapsed();
    if changes.full && took.as_millis() >= 1000 {
        notes.push(format!(
            "indexed {} for the first time ({} entries in {:.1} s); later runs only look at what changed",
            inp.roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            idx.trees.iter().map(Tree::entries).sum::<u64>(),
            took.as_secs_f64()
        ));
    }
    if let Some(s) = &store {
        if changes.dirs_read > 0 || old.is_none() {
            // A cache: failing to write it costs the next run a full walk, nothing else.
            let _ = s.save(&idx);
        }
    }
    drop(store);
    let roots = Roots::open(inp.roots);
    let secrets = secrets(&idx, &roots, inp)?;
    if !inp.writable {
        return Ok(Scan {
            secrets,
            protected: Vec::new(),
            pinned: Vec::new(),
            notes,
            guard: None,
            recovered,
        });
    }
    let mut d = Derived::default();
    let globals = {
        let mut g = crate::gitconfig::Named::default();
        let mut files = Vec::new();
        for p in global_configs(inp.env) {
            read_named(&roots, &p, 0, &mut g, &mut files);
        }
        for (f, _) in files {
            d.protect_or_watch(&roots, &f, "a file your git config includes");
        }
        g
    };
    for tree in &idx.trees {
        for (i, dir) in tree.dirs.iter().enumerate() {
            let i = i as u32;
            if dir.flags & (SKIPPED | REGEN) != 0 {
                continue;
            }
            let path = tree.path(i);
            if dir.flags & GIT_DIR != 0 && valid_head(&roots, &path) {
                d.git_dir(&roots, tree, i, &path, &globals, inp.remove_protected);
            }
            for m in &dir.marks {
                let p = path.join(std::ffi::OsStr::from_bytes(&m.name));
                if &*m.name == b".git" {
                    match m.dtype {
                        libc::DT_REG => d.protect(&p, Kind::File),
                        libc::DT_LNK => d.watch(&p, "a .git symlink"),
                        _ => {}
                    }
                } else if agent_config(tree, i, &m.name).is_some() {
                    // Copilot CLI's configs lie in `.github`, which the command could rename
                    // (taking cordon's own project hook away with it): pinned, as git
                    // directories are, so that it cannot be.
                    if &*dir.name == b".github" && !d.pinned.contains(&path) {
                        d.pinned.push(path.clone());
                    }
                    match m.dtype {
                        libc::DT_DIR => d.protect(&p, Kind::Dir),
                        libc::DT_REG => d.protect(&p, Kind::File),
                        libc::DT_LNK => {
                            d.watch(&p, "a symlink at an agent config's name");
                            if let Ok(t) = std::fs::canonicalize(&p) {
                                if roots.contains(&t) {
                                    let k = if t.is_dir() { Kind::Dir } else { Kind::File };
                                    d.protect(&t, k);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    let templates = templates(inp.env);
    // Nothing inside a path that is already read-only or covered: a pin (read-write) there
    // would open it again, and a read-only mount there is redundant.
    let ro: Vec<PathBuf> = d
        .protected
        .iter()
        .filter(|p| p.kind == Kind::Dir)
        .map(|p| p.path.clone())
        .chain(secrets.iter().cloned())
        .chain(inp.skip.iter().cloned())
        .collect();
    let under_ro = |p: &Path| ro.iter().any(|r| p != r && p.starts_with(r));
    d.protected.retain(|p| !under_ro(&p.path));
    d.pinned
        .retain(|p| !under_ro(p) && !ro.contains(p) && !inp.roots.contains(p));
    let guard = Guard {
        index: idx,
        t0,
        roots: inp.roots.to_vec(),
        skip: inp.skip.to_vec(),
        limit: inp.limit,
        state_dir: state_dir.map(Path::to_path_buf),
        watched: d.watched,
        rebase_exec: d.rebase_exec,
        templates,
        run_file: Mutex::new(None),
    };
    Ok(Scan {
        secrets,
        protected: d.protected,
        pinned: d.pinned,
        notes,
        guard: Some(guard),
        recovered,
    })
}

/// The limit's message: what happened, and the two ways on.
fn limit_error(l: &index::LimitReached) -> Error {
    let largest = l
        .largest
        .iter()
        .map(|(p, n)| format!("{} ({n} entries)", p.display()))
        .collect::<Vec<_>>()
        .join(", ");
    Error::Setup(format!(
        "{} holds more than {} files and directories: cordon reads all of a writable root to find its secrets and repositories, \
         and does not run when it cannot (a secret past the limit would be readable). \
         Raise the limit (scan_limit = N under [filesystem] in ~/.config/cordon/config.toml), \
         or choose a smaller workspace (--workspace DIR), or remove what is not needed{}",
        l.root.display(),
        l.limit,
        if largest.is_empty() {
            String::new()
        } else {
            format!(" (the largest: {largest})")
        }
    ))
}

/// The template directory `git init` copies hooks from.
fn templates(env_: &[(String, String)]) -> Option<PathBuf> {
    if let Some(t) = env(env_, "GIT_TEMPLATE_DIR") {
        return Some(PathBuf::from(t));
    }
    for p in global_configs(env_) {
        if let Ok(t) = std::fs::read(&p) {
            if let Ok(es) = crate::gitconfig::parse(&t) {
                if let Some(v) = es
                    .iter()
                    .rev()
                    .find(|e| e.section == "init" && e.key == "templatedir")
                    .and_then(|e| e.value.clone())
                {
                    let v = match v.strip_prefix("~/") {
                        Some(r) => env(env_, "HOME").map(|h| Path::new(h).join(r))?,
                        None => PathBuf::from(v),
                    };
                    return Some(v);
                }
            }
        }
    }
    [
        "/usr/share/git-core/templates",
        "/usr/local/share/git-core/templates",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_dir())
}

/// Workspace secrets from the index: secret-named files, the targets of secret-named symlinks
/// (in a root or the home directory), and every other name of a secret file (hard links).
fn secrets(idx: &Index, roots: &Roots, inp: &ScanInput<'_>) -> Result<Vec<PathBuf>, Error> {
    let home = env(inp.env, "HOME").map(PathBuf::from);
    let mut out: Vec<PathBuf> = Vec::new();
    for tree in &idx.trees {
        for (i, dir) in tree.dirs.iter().enumerate() {
            if dir.flags & SKIPPED != 0 {
                continue;
            }
            for m in &dir.marks {
                let Ok(name) = std::str::from_utf8(&m.name) else {
                    continue;
                };
                if !crate::spec::is_secret_file_name(name) {
                    continue;
                }
                let p = tree.path(i as u32).join(name);
                match m.dtype {
                    libc::DT_REG if m.covered => out.push(p),
                    libc::DT_REG => {}
                    libc::DT_LNK => {
                        if let Ok(t) = std::fs::canonicalize(&p) {
                            let near = roots.contains(&t)
                                || home.as_ref().is_some_and(|h| t.starts_with(h));
                            if near && t.is_file() && !out.contains(&t) {
                                out.push(t);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    // Hard links: another name of a secret file reads the same bytes.
    let mut linked = Vec::new();
    for s in &out {
        if let Ok(st) = roots.stat(s).or_else(|_| stat_path(s)) {
            if st.is_file() && st.nlink > 1 {
                linked.push((st.dev, st.ino, st.nlink, s.clone()));
            }
        }
    }
    if !linked.is_empty() {
        let found = find_inodes(roots, inp.skip, &linked);
        for (dev, ino, nlink, s) in &linked {
            let names: Vec<&PathBuf> = found
                .iter()
                .filter(|(d, i, _)| d == dev && i == ino)
                .map(|(_, _, p)| p)
                .collect();
            if (names.len() as u32) < *nlink {
                return Err(Error::Setup(format!(
                    "the secret {} has {} names (hard links) and only {} of them are in the writable roots: \
                     another name elsewhere would read it. Remove the other links (find / -xdev -samefile {}), \
                     or make it a plain copy",
                    s.display(),
                    nlink,
                    names.len(),
                    s.display()
                )));
            }
            for n in names {
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
        }
    }
    Ok(out)
}

/// Decides which secret-named files of `idx` are covered (`Mark::covered`): outside regenerated
/// trees, all of them; inside, those that [`looks_secret`], and any whose inode was covered in
/// `old` (a secret moved there by an earlier run stays one, whatever its content).
pub fn classify(idx: &mut Index, old: Option<&Index>, roots: &Roots) {
    let mut was: std::collections::HashSet<(u64, u64)> = std::collections::HashSet::new();
    for t in old.map(|o| o.trees.as_slice()).unwrap_or(&[]) {
        for d in &t.dirs {
            for m in d.marks.iter().filter(|m| m.covered) {
                was.insert((d.dev, m.ino));
            }
        }
    }
    for t in &mut idx.trees {
        for i in 0..t.dirs.len() {
            let (dev, regen) = (t.dirs[i].dev, t.dirs[i].flags & REGEN != 0);
            let path = t.path(i as u32);
            for m in &mut t.dirs[i].marks {
                let Ok(name) = std::str::from_utf8(&m.name) else {
                    continue;
                };
                m.covered = m.dtype == libc::DT_REG
                    && crate::spec::is_secret_file_name(name)
                    && (!regen
                        || was.contains(&(dev, m.ino))
                        || looks_secret(roots, &path.join(name), name));
            }
        }
    }
}

/// In a regenerated tree (`node_modules`, `.venv`...), packages ship public files with secret
/// names: certificate bundles (`certifi/cacert.pem`, which `pip` and `requests` read), public
/// keys, `id_generator.js`. There a `*.pem`, `*.key` or `id_*` counts as a secret when it holds
/// a private key (a `PRIVATE KEY` block), is binary (a DER key), is too big to tell, or cannot be
/// read; a text file without a private key does not. `.env` files count by name everywhere.
fn looks_secret(roots: &Roots, p: &Path, name: &str) -> bool {
    if name == ".env" || name.starts_with(".env.") {
        return true;
    }
    const MAX: usize = 1 << 20;
    match roots.read(p, MAX + 1) {
        Ok((_, b)) => {
            b.len() > MAX
                || b.contains(&0)
                || std::str::from_utf8(&b).is_err()
                || b.windows(11).any(|w| w == b"PRIVATE KEY")
        }
        Err(_) => true,
    }
}

fn stat_path(p: &Path) -> std::io::Result<handles::Stat> {
    let (dir, name) = split(p)?;
    let d = handles::open_no_symlinks(dir, libc::O_PATH | libc::O_DIRECTORY)?;
    handles::statx_at(d.as_fd(), name, false)
}

/// Every name in the roots of the inodes `want` (a full walk: only when a secret has hard links).
fn find_inodes(
    roots: &Roots,
    skip: &[PathBuf],
    want: &[(u64, u64, u32, PathBuf)],
) -> Vec<(u64, u64, PathBuf)> {
    fn walk(
        fd: &OwnedFd,
        path: &mut PathBuf,
        skip: &[PathBuf],
        want: &[(u64, u64, u32, PathBuf)],
        out: &mut Vec<(u64, u64, PathBuf)>,
    ) {
        let mut budget = u64::MAX;
        let Ok(entries) = handles::read_dir(fd.as_fd(), &mut budget) else {
            return;
        };
        for e in entries {
            path.push(std::ffi::OsStr::from_bytes(&e.name));
            if want.iter().any(|w| w.1 == e.ino) {
                if let Ok(st) = handles::statx_at(fd.as_fd(), &e.name, false) {
                    if want.iter().any(|w| w.0 == st.dev && w.1 == st.ino) {
                        out.push((st.dev, st.ino, path.clone()));
                    }
                }
            }
            if e.dtype == libc::DT_DIR && !skip.contains(path) {
                if let Ok(c) =
                    handles::open_entry(fd.as_fd(), &e.name, libc::O_RDONLY | libc::O_DIRECTORY)
                {
                    walk(&c, path, skip, want, out);
                }
            }
            path.pop();
        }
    }
    let mut out = Vec::new();
    for r in &roots.paths {
        if let Ok(fd) = handles::open_no_symlinks(r, libc::O_RDONLY | libc::O_DIRECTORY) {
            walk(&fd, &mut r.clone(), skip, want, &mut out);
        }
    }
    out
}

#[derive(Default)]
struct Derived {
    protected: Vec<Protected>,
    pinned: Vec<PathBuf>,
    watched: Vec<Watched>,
    rebase_exec: Vec<(PathBuf, Vec<String>)>,
}

impl Derived {
    fn protect(&mut self, p: &Path, kind: Kind) {
        if !self.protected.iter().any(|x| x.path == p) {
            self.protected.push(Protected {
                path: p.to_path_buf(),
                kind,
                exists: true,
            });
        }
    }

    fn placeholder(&mut self, p: &Path, kind: Kind) {
        if !self.protected.iter().any(|x| x.path == p) {
            self.protected.push(Protected {
                path: p.to_path_buf(),
                kind,
                exists: false,
            });
        }
    }

    fn watch(&mut self, p: &Path, why: &str) {
        if !self.watched.iter().any(|w| w.path == p) {
            self.watched.push(Watched {
                path: p.to_path_buf(),
                why: why.to_string(),
            });
        }
    }

    /// A path a config names: read-only if it exists in a root, watched if it is missing there
    /// (or a symlink, which a mount cannot keep).
    fn protect_or_watch(&mut self, roots: &Roots, p: &Path, why: &str) {
        if !roots.contains(p) {
            return;
        }
        match roots.stat(p) {
            Ok(st) if !st.is_symlink() => {
                self.protect(p, if st.is_dir() { Kind::Dir } else { Kind::File })
            }
            _ => self.watch(p, why),
        }
    }

    /// One git directory (found by its shape, HEAD valid): pin it, keep what git reads as code
    /// read-only, and protect what its config names.
    fn git_dir(
        &mut self,
        roots: &Roots,
        tree: &Tree,
        i: u32,
        g: &Path,
        globals: &crate::gitconfig::Named,
        remove: &[String],
    ) {
        let dir = &tree.dirs[i as usize];
        let off = |n: &str| remove.iter().any(|r| r == &format!(".git/{n}"));
        self.pinned.push(g.to_path_buf());
        for (name, kind) in [
            ("config", Kind::File),
            ("hooks", Kind::Dir),
            ("info", Kind::Dir),
        ] {
            if off(name) {
                continue;
            }
            let p = g.join(name);
            match dir.mark(name.as_bytes()).map(|m| m.dtype) {
                Some(libc::DT_LNK) => self.watch(&p, "a symlink where git reads code"),
                Some(_) => self.protect(&p, kind),
                // Worktree admin dirs read config and hooks from the common directory.
                None if dir.has("commondir") => {}
                None => self.placeholder(&p, kind),
            }
        }
        for name in ["commondir", "gitdir", "config.worktree"] {
            if let Some(m) = dir.mark(name.as_bytes()) {
                if m.dtype == libc::DT_LNK {
                    self.watch(&g.join(name), "a symlink where git reads code");
                } else {
                    self.protect(&g.join(name), Kind::File);
                }
            }
        }
        // What the config (and config.worktree) names.
        let mut named = crate::gitconfig::Named::default();
        let mut files = Vec::new();
        let common = if dir.has("commondir") {
            roots
                .read(&g.join("commondir"), 4096)
                .ok()
                .map(|(_, t)| lexical(Path::new(String::from_utf8_lossy(&t).trim_end()), g))
        } else {
            Some(g.to_path_buf())
        };
        if let Some(c) = &common {
            read_named(roots, &c.join("config"), 0, &mut named, &mut files);
        }
        if named.worktree_config && !dir.has("config.worktree") && !off("config") {
            self.placeholder(&g.join("config.worktree"), Kind::File);
        }
        read_named(roots, &g.join("config.worktree"), 0, &mut named, &mut files);
        for (f, _) in files {
            // The configs themselves are protected above; their includes are new here.
            if f.parent() != Some(g) && Some(f.parent().unwrap_or(g)) != common.as_deref() {
                self.protect_or_watch(roots, &f, "a file this repository's config includes");
            }
        }
        let wt = work_tree(roots, tree, i, g);
        let base = wt.clone().unwrap_or_else(|| g.to_path_buf());
        for hp in named.hooks_paths.iter().chain(&globals.hooks_paths) {
            let p = expand_home(hp, roots).unwrap_or_else(|| lexical(Path::new(hp), &base));
            self.protect_or_watch(roots, &p, "the hooks directory git's core.hooksPath names");
        }
        for w in named.command_words.iter().chain(&globals.command_words) {
            if !w.contains('/') {
                continue; // found through PATH
            }
            let p = expand_home(w, roots).unwrap_or_else(|| lexical(Path::new(w), &base));
            self.protect_or_watch(roots, &p, "a program a git config runs");
        }
        // Hook managers whose hook is installed: their config in the work tree.
        if let Some(wt) = &wt {
            let mut hook_dirs = vec![common
                .clone()
                .unwrap_or_else(|| g.to_path_buf())
                .join("hooks")];
            for hp in named.hooks_paths.iter().chain(&globals.hooks_paths) {
                hook_dirs
                    .push(expand_home(hp, roots).unwrap_or_else(|| lexical(Path::new(hp), wt)));
            }
            hook_dirs.push(wt.join(".husky"));
            let text = hook_texts(roots, &hook_dirs);
            for (name, manager) in HOOK_MANAGER_CONFIGS {
                if text.contains(manager) {
                    let p = wt.join(name);
                    self.protect_or_watch(
                        roots,
                        &p,
                        &format!("{manager}'s config (its git hook is installed)"),
                    );
                }
            }
        }
        // A rebase in progress: the exec lines already there are the user's.
        if dir.has("rebase-merge") {
            let todo = g.join("rebase-merge/git-rebase-todo");
            let lines = roots
                .read(&todo, 1 << 20)
                .map(|(_, t)| exec_lines(&t))
                .unwrap_or_default();
            self.rebase_exec.push((g.to_path_buf(), lines));
        }
    }
}

/// The text of the hooks in `dirs` (files up to 64 KiB each, at most 64 of them).
fn hook_texts(roots: &Roots, dirs: &[PathBuf]) -> String {
    let mut s = String::new();
    for d in dirs {
        let fd = if roots.contains(d) {
            roots.open_dir(d, libc::O_RDONLY)
        } else {
            handles::open_no_symlinks(d, libc::O_RDONLY | libc::O_DIRECTORY)
        };
        let Ok(fd) = fd else { continue };
        let mut budget = 4096;
        let Ok(entries) = handles::read_dir(fd.as_fd(), &mut budget) else {
            continue;
        };
        for e in entries.iter().take(64) {
            if e.name.ends_with(b".sample") {
                continue;
            }
            if let Ok((_, t)) = handles::read_file_at(fd.as_fd(), &e.name, 64 * 1024) {
                s.push_str(&String::from_utf8_lossy(&t));
            }
        }
    }
    s
}

/// The `exec`/`x` lines of a rebase todo list.
pub fn exec_lines(todo: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(todo)
        .lines()
        .map(str::trim_start)
        .filter(|l| {
            let w = l.split_whitespace().next().unwrap_or("");
            w == "exec" || w == "x"
        })
        .map(|l| l.trim_end().to_string())
        .collect()
}

/// The work tree of the git directory `g` (index `i` of `tree`): the parent of a `.git`; for a
/// worktree's admin directory, the directory of the `.git` file its `gitdir` names; else the
/// config's `core.worktree`; None for a bare repository.
pub fn work_tree(roots: &Roots, tree: &Tree, i: u32, g: &Path) -> Option<PathBuf> {
    let dir = &tree.dirs[i as usize];
    if &*dir.name == b".git" {
        return g.parent().map(Path::to_path_buf);
    }
    if dir.has("gitdir") {
        if let Ok((_, t)) = roots.read(&g.join("gitdir"), 4096) {
            let p = lexical(Path::new(String::from_utf8_lossy(&t).trim_end()), g);
            return p.parent().map(Path::to_path_buf);
        }
    }
    let (_, t) = roots.read(&g.join("config"), 1 << 20).ok()?;
    let es = crate::gitconfig::parse(&t).ok()?;
    let wt = es
        .iter()
        .rev()
        .find(|e| e.section == "core" && e.subsection.is_none() && e.key == "worktree")?
        .value
        .clone()?;
    Some(lexical(Path::new(&wt), g))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_lines_of_a_todo() {
        let t = b"pick abc one\nexec make test\n  x touch /tmp/p\n# exec not this\nreset onto\n";
        assert_eq!(exec_lines(t), vec!["exec make test", "x touch /tmp/p"]);
    }

    #[test]
    fn lexical_paths() {
        assert_eq!(
            lexical(Path::new("../../x"), Path::new("/a/b/c")),
            PathBuf::from("/a/x")
        );
        assert_eq!(
            lexical(Path::new("/y/./z"), Path::new("/a")),
            PathBuf::from("/y/z")
        );
    }
}
