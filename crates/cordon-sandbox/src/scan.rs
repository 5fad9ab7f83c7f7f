//! The scan before a run: what the workspace index implies. Walks the writable roots (through
//! the index kept in the workspace's state directory), first doing the check after the run of
//! an earlier run that ended without it (`neutralise::recover`), and derives the secret files to
//! cover, the repositories to keep intact (git directories pinned, the entries git reads as code
//! read-only), the agent and editor configs to keep read-only at any depth, and the [`Guard`]
//! that the check after this run needs.
//!
//! See README "Repositories and agent configs" for what is in and out, and why.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::guard::{
    agent_config, classify, exec_lines, lexical, split, valid_head, Guard, Roots, ScanInput,
    Watched,
};
use crate::handles::{self, Ts};
use crate::index::{self, Index, Tree, GIT_DIR, REGEN, SKIPPED};
use crate::protected::{is_secret_file_name, Kind, Protected, HOOK_MANAGER_CONFIGS};
use crate::Error;

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

fn env<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
    env.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
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
    let store = open_store(inp.state_dir, &mut notes);
    let state_dir = store.as_ref().and(inp.state_dir);
    // A run that ended without its check (cordon was killed): do it now.
    let recovered = match &store {
        Some(s) => crate::neutralise::recover(s, inp)?,
        None => Vec::new(),
    };
    crate::timing("scan: recovered");
    let old = store.as_ref().and_then(|s| s.load());
    crate::timing("scan: index loaded");
    let t0 = Ts::now();
    let (idx, changes) = match index::walk(old.as_ref(), inp.roots, inp.skip, inp.limit) {
        Ok(r) => r,
        Err(index::WalkError::Limit(l)) => return Err(limit_error(&l)),
        Err(index::WalkError::Io(e)) => {
            return Err(Error::Setup(format!("cannot read the workspace: {e}")))
        }
    };
    crate::timing("scan: walked");
    let mut idx = idx;
    classify(&mut idx, old.as_ref(), &Roots::open(inp.roots));
    crate::timing("scan: classified");
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
    crate::timing("scan: saved");
    let roots = Roots::open(inp.roots);
    let secrets = secrets(&idx, &roots, inp)?;
    crate::timing("scan: secrets");
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
    let mut d = derive(&idx, &roots, inp);
    crate::timing("scan: derived");
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

/// The workspace index's store in the state directory. A cache: without it every run reads the
/// whole workspace (slower, not weaker), and a note says so.
fn open_store(state_dir: Option<&Path>, notes: &mut Vec<String>) -> Option<index::Store> {
    let d = state_dir?;
    match index::Store::open(d) {
        Ok(s) => Some(s),
        Err(e) => {
            notes.push(format!(
                "the workspace index in {} cannot be used ({e}): every run reads the whole workspace",
                d.display()
            ));
            None
        }
    }
}

/// What the index implies in writable roots: the files git configs include, each repository's
/// git directory, `.git` files and links, agent configs (and what their links point to).
fn derive(idx: &Index, roots: &Roots, inp: &ScanInput<'_>) -> Derived {
    let mut d = Derived::default();
    let globals = {
        let mut g = crate::gitconfig::Named::default();
        let mut files = Vec::new();
        for p in global_configs(inp.env) {
            read_named(roots, &p, 0, &mut g, &mut files);
        }
        for (f, _) in files {
            d.protect_or_watch(roots, &f, "a file your git config includes");
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
            if dir.flags & GIT_DIR != 0 && valid_head(roots, &path) {
                d.git_dir(roots, tree, i, &path, &globals, inp.remove_protected);
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
                            // Its target, kept read-only, and watched by identity: the
                            // mount keeps the target, not its path (a parent renamed and
                            // made again would give the link a new target).
                            if let Ok(t) = std::fs::canonicalize(&p) {
                                d.protect_or_watch(
                                    roots,
                                    &t,
                                    "what an agent config's symlink leads to",
                                );
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    d
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
                if !is_secret_file_name(name) {
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
        self.watch_as(p, why, None);
    }

    fn watch_as(&mut self, p: &Path, why: &str, was: Option<(u64, u64)>) {
        if !self.watched.iter().any(|w| w.path == p) {
            self.watched.push(Watched {
                path: p.to_path_buf(),
                why: why.to_string(),
                was,
            });
        }
    }

    /// A path a config names: read-only if it exists in a root, watched if it is missing there
    /// (or a symlink, which a mount cannot keep). A read-only one is watched too, by identity:
    /// its mount keeps the file, not the path (`tools/` of `tools/hooks/pre-commit` can be
    /// renamed during the run, and another `tools/` made, whose hook git would run later).
    fn protect_or_watch(&mut self, roots: &Roots, p: &Path, why: &str) {
        if !roots.contains(p) {
            return;
        }
        match roots.stat(p) {
            Ok(st) if !st.is_symlink() => {
                self.protect(p, if st.is_dir() { Kind::Dir } else { Kind::File });
                self.watch_as(p, why, Some((st.dev, st.ino)));
            }
            _ => self.watch(p, why),
        }
    }

    /// Hooks that are symlinks (`ln -s ../../scripts/pre-commit .git/hooks/`, as many projects
    /// set theirs up): git runs their target, a file of the work tree that the hooks directory's
    /// own protection does not cover. Each target is kept read-only (watched if it is missing
    /// or a symlink itself), like a program a config names.
    fn linked_hooks(&mut self, roots: &Roots, dirs: &[PathBuf]) {
        for d in dirs {
            let Some((fd, entries)) = hook_dir(roots, d) else {
                continue;
            };
            for e in entries.iter().take(256) {
                if e.name.ends_with(b".sample")
                    || (e.dtype != libc::DT_LNK && e.dtype != libc::DT_UNKNOWN)
                {
                    continue;
                }
                let Ok(target) = handles::read_link_at(fd.as_fd(), &e.name) else {
                    continue; // not a symlink
                };
                use std::os::unix::ffi::OsStringExt;
                let target = PathBuf::from(std::ffi::OsString::from_vec(target));
                let p = lexical(&target, d);
                self.protect_or_watch(roots, &p, "the file a symlinked git hook runs");
            }
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
        let mut hook_dirs = vec![common
            .clone()
            .unwrap_or_else(|| g.to_path_buf())
            .join("hooks")];
        for hp in named.hooks_paths.iter().chain(&globals.hooks_paths) {
            hook_dirs.push(expand_home(hp, roots).unwrap_or_else(|| lexical(Path::new(hp), &base)));
        }
        self.linked_hooks(roots, &hook_dirs);
        // Hook managers whose hook is installed: their config in the work tree.
        if let Some(wt) = &wt {
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

/// A hooks directory opened (through the roots' handles when it is one of them, else with no
/// symlink on the way) and its entries (at most 4096).
fn hook_dir(roots: &Roots, d: &Path) -> Option<(OwnedFd, Vec<handles::Entry>)> {
    let fd = if roots.contains(d) {
        roots.open_dir(d, libc::O_RDONLY)
    } else {
        handles::open_no_symlinks(d, libc::O_RDONLY | libc::O_DIRECTORY)
    }
    .ok()?;
    let mut budget = 4096;
    let entries = handles::read_dir(fd.as_fd(), &mut budget).ok()?;
    Some((fd, entries))
}

/// The text of the hooks in `dirs` (files up to 64 KiB each, at most 64 of them).
fn hook_texts(roots: &Roots, dirs: &[PathBuf]) -> String {
    let mut s = String::new();
    for d in dirs {
        let Some((fd, entries)) = hook_dir(roots, d) else {
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
