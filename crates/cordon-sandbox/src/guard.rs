//! What the scan before a run (`scan.rs`) and the check after it (`neutralise.rs`) share: which
//! names are agent configs, the writable roots opened by handle ([`Roots`]), which secret-named
//! files count as secrets ([`classify`]), and the [`Guard`]: everything the check after a run
//! needs, made by the scan.
//!
//! See README "Repositories and agent configs" for what is in and out, and why.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use crate::handles::{self, Ts};
use crate::index::{Index, Tree, REGEN};
use crate::protected::is_secret_file_name;
pub use crate::protected::{agent_config_name, AGENT_CONFIGS, AGENT_CONFIGS_IN, LOADED_ENV_FILE};

/// The most entries the writable roots may hold by default (see `Request::scan_limit`).
pub const DEFAULT_SCAN_LIMIT: u64 = 2_000_000;

/// Is the mark `name` in directory `dir` (of `tree`) an agent or editor config? (Some count only
/// inside a directory of a given name: [`AGENT_CONFIGS_IN`].)
pub fn agent_config(tree: &Tree, dir: u32, name: &[u8]) -> Option<&'static str> {
    let s = std::str::from_utf8(name).ok()?;
    if let Some(why) = crate::protected::agent_config_name(s) {
        return Some(why);
    }
    let parent = &*tree.dirs[dir as usize].name;
    AGENT_CONFIGS_IN
        .iter()
        .find(|(d, n, _)| *n == s && parent == d.as_bytes())
        .map(|(_, _, why)| *why)
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

/// A path to look at after the run: named by a config or a hook manager (missing now, or kept
/// read-only), or a symlink at a protected name. Neutralised if it appears (or changes) during
/// the run, or if a symlink is now on its way.
#[derive(Debug, Clone)]
pub struct Watched {
    pub path: PathBuf,
    pub why: String,
    /// The (device, inode) it had when it was protected by a mount: the mount keeps that file
    /// read-only, not the path to it. A directory on the way can be renamed during the run
    /// (rename(2) refuses a mount point itself, not its parents; the mount moves with it) and
    /// another one put in its place: the path must still lead to this file after the run.
    pub was: Option<(u64, u64)>,
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
                    && is_secret_file_name(name)
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
