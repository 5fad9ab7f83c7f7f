//! Tool caches that a sandboxed command can use but cannot poison.
//!
//! Package managers and build tools keep their caches in the home directory, which is read-only
//! in the sandbox: `npm install` fails, cargo warns, pip runs cold. Making those directories
//! writable would let a sandboxed command plant code in `~/.cargo/registry/src` or
//! `~/.npm/_cacache` that the next unsandboxed build runs. Instead, each known cache is mounted
//! as an **overlay**: the host's cache is the read-only lower layer, and every write lands in an
//! upper layer that belongs to the workspace (`<state>/workspaces/<id>/caches/home-<hash>/upper`),
//! so the next run in the same workspace is warm and the host's cache is never written. One
//! overlay, of the home directory, serves every cache on the home's mount ([`group_root`]).
//!
//! When there is nothing to overlay (no user namespaces: the fallback; or no host cache and no
//! tool directory to create it in), the tool's own variable points it at a private, per-workspace
//! directory (`caches/private/<group>`), writable in the sandbox: cold the first time, warm
//! after. `caches/private` is one mount (one Landlock rule); the tools create their directory
//! in it when they first need it, as they would in the home directory.
//!
//! Pieces: [`known`] (the table), [`resolve`] (spec time, no side effect), [`Session`] (the
//! supervisor, before the sandbox starts: directories, the workspace lock), [`mount`] (init,
//! inside the namespaces), [`store`] (`cordon cache list/clean`, through handles).

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub mod known;
pub mod mount;
pub mod store;

use known::{Env, Redirect, KNOWN};

/// What the caller asks for (from the config and cordon's state directory).
#[derive(Debug, Clone, Default)]
pub struct CacheRequest {
    /// `[caches] enabled`; false: the host caches stay read-only, as any other directory.
    pub enabled: bool,
    /// `<state>/workspaces/<id>/caches`: upper layers, work directories, private directories.
    /// None: no state directory (HOME unset), no caches.
    pub dir: Option<PathBuf>,
    /// cordon's state directory, hidden from the sandbox (with holes for private directories).
    pub state_dir: Option<PathBuf>,
    /// Known entries (or families) not to overlay.
    pub remove: Vec<String>,
    /// Extra caches from the config.
    pub add: Vec<Extra>,
}

/// A cache added by the config: `{ name, path, env }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Extra {
    pub name: String,
    pub path: PathBuf,
    /// The variable that points the tool elsewhere (the fallback sets it).
    pub var: Option<String>,
}

/// One overlay: the host's `lower` stays read-only; writes go to `upper`. Its caches are
/// mounted from it (bind mounts of its subdirectories), never the overlay as a whole: one
/// overlay, of the home directory, serves every cache on its mount ([`group_root`]), because
/// each overlay mount costs ~0.1 ms of kernel work and journaled metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overlay {
    /// The layers' directory name: the root's path, sanitized, and a hash of it.
    pub name: String,
    /// The host directory overlaid (canonical): the home directory, or the highest directory
    /// below it on the caches' mount; outside it, the highest below a top-level directory
    /// ([`group_root`]).
    pub lower: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    /// The caches mounted from it, at their own paths.
    pub caches: Vec<Cache>,
}

/// A cache mounted from an overlay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cache {
    pub name: String,
    /// Canonical; inside the overlay's `lower`.
    pub path: PathBuf,
    /// The cache directory does not exist yet but its tool's directory does: cordon creates it
    /// empty before the run (as the tool would), so that it can be mounted over.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub create: bool,
}

/// The directory of the private caches, in a workspace's caches directory.
pub const PRIVATE: &str = "private";

/// A private, per-workspace directory the tool is pointed at with a variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Private {
    /// The group (one directory for the entries that share a variable: cargo-registry and
    /// cargo-git share CARGO_HOME).
    pub name: String,
    pub var: String,
    pub dir: PathBuf,
    /// `MAVEN_OPTS`: the value is `-Dmaven.repo.local=DIR`.
    #[serde(skip)]
    maven: bool,
    /// CARGO_HOME: the real cargo home, whose config.toml is linked into the private one.
    #[serde(skip)]
    link_config_from: Option<PathBuf>,
}

/// A known cache that is not overlaid, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub name: String,
    pub path: PathBuf,
    pub why: String,
}

/// The caches of a sandbox, as data (part of the spec).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Caches {
    /// `<state>/workspaces/<id>/caches`.
    pub dir: Option<PathBuf>,
    /// Hidden from the sandbox.
    pub state_dir: Option<PathBuf>,
    pub overlays: Vec<Overlay>,
    pub private: Vec<Private>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// What the fallback uses instead (every cache with a variable, in a private directory).
    #[serde(skip)]
    fallback: Vec<Private>,
    /// Set by the supervisor when another sandbox of the same workspace holds the upper layers:
    /// this run's writes go to a throwaway layer (an overlay's upper must not be shared by two
    /// live mounts).
    #[serde(skip)]
    pub throwaway: bool,
    /// The home directory (canonical), where the layers of earlier versions are looked for
    /// ([`store::adopt_old_layers`]).
    #[serde(skip)]
    home: PathBuf,
}

impl Caches {
    pub fn is_empty(&self) -> bool {
        self.overlays.is_empty() && self.private.is_empty()
    }

    /// `caches/private`, mounted writable when some tool is pointed there.
    pub fn private_root(&self) -> Option<PathBuf> {
        if self.private.is_empty() {
            return None;
        }
        self.dir.as_ref().map(|d| d.join(PRIVATE))
    }

    /// Creates `caches/private` (and CARGO_HOME's links to the real cargo config). What is
    /// below it was written by sandboxes: handled through a handle of it (`store::create_private`).
    fn create_private(&self) -> std::io::Result<()> {
        if let Some(root) = self.private_root() {
            store::mkdirs(&root)?;
            let rfd = store::open_dir(&root)?;
            for p in &self.private {
                store::create_private(&rfd, p).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("{}: {e}", p.dir.display()))
                })?;
            }
        }
        Ok(())
    }
}

/// What `resolve` needs to know about the sandbox.
pub struct Context<'a> {
    pub home: &'a Path,
    pub workspace: &'a Path,
    pub writable: &'a [PathBuf],
    pub secrets: &'a [PathBuf],
    /// cordon's environment (the tools' location variables are read here).
    pub parent_env: &'a [(String, String)],
}

/// A cache to consider: (name, path, anchor, redirect: (variable, maven), group).
type Entry = (
    String,
    PathBuf,
    Option<PathBuf>,
    Option<(String, bool)>,
    String,
);

/// The known caches (minus those the config removes, which are recorded as skipped, and those it
/// replaces), then the config's own.
fn entries(req: &CacheRequest, env: &Env, c: &mut Caches) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::with_capacity(KNOWN.len() + req.add.len());
    for k in KNOWN {
        if req.add.iter().any(|a| a.name == k.name) {
            continue; // replaced by the config's entry of the same name
        }
        let Some(path) = (k.path)(env) else { continue };
        if let Some(r) = req.remove.iter().find(|r| known::matches_name(k.name, r)) {
            c.skipped.push(Skipped {
                name: k.name.into(),
                path,
                why: format!("removed by the config ([caches] remove = [\"{r}\"])"),
            });
            continue;
        }
        let redirect = match k.redirect {
            Redirect::Var(v) => Some((v.to_string(), false)),
            Redirect::MavenOpts => Some(("MAVEN_OPTS".to_string(), true)),
            Redirect::None => None,
        };
        entries.push((
            k.name.into(),
            path,
            k.anchor.map(|a| a(env)),
            redirect,
            k.group.into(),
        ));
    }
    for a in &req.add {
        let redirect = a.var.clone().map(|v| (v, false));
        entries.push((
            a.name.clone(),
            a.path.clone(),
            None,
            redirect,
            a.name.clone(),
        ));
    }
    entries
}

/// Where a missing cache `path` would be created in its tool's directory `anchor`: the part that
/// exists resolved (a link in the tool's directory followed), the missing names after it; and
/// only if that is still below the tool's directory, by plain names. A `..`
/// (`YARN_GLOBAL_FOLDER=~/.yarn/../.ssh/x`) or a link (`~/.bun/install -> ~/.ssh`) made the
/// supervisor create `~/.ssh/x`, inside a secret directory, on the host: the checks saw the path
/// as spelled, below `~/.yarn`.
fn anchored(canon: &mut Canon, path: &Path, anchor: Option<&Path>) -> Option<PathBuf> {
    let a = anchor?;
    path.strip_prefix(a).ok()?;
    let a = canon.canon(a).filter(|a| canon.is_dir(a))?;
    let l = canon.canonical(path);
    let names = l.components().all(|c| {
        matches!(
            c,
            std::path::Component::RootDir | std::path::Component::Normal(_)
        )
    });
    (names && within(&l, &a) && l != a).then_some(l)
}

/// Resolves the caches for a sandbox: reads the file system (which caches exist), changes
/// nothing. The variables for the command (location variables passed through, private
/// directories) are returned separately, to be merged into the spec's environment. `req`'s
/// directories are made canonical, as the caches' paths are: the overlap checks compare them (a
/// state directory reached through a link would not be seen inside a cache that holds it), and
/// the supervisor opens them with no link on the way.
pub fn resolve(req: &CacheRequest, cx: &Context) -> (Caches, Vec<(String, String)>) {
    let mut canon = Canon::default();
    let mut c = Caches {
        dir: req.dir.as_deref().map(|d| canon.canonical(d)),
        state_dir: req.state_dir.as_deref().map(|d| canon.canonical(d)),
        ..Default::default()
    };
    let Some(dir) = c.dir.clone().filter(|_| req.enabled) else {
        return (c, Vec::new());
    };
    let state_dir = c.state_dir.clone();
    let var = |k: &str| {
        cx.parent_env
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let env = Env::new(cx.home, &var);
    let mut seen: Vec<PathBuf> = Vec::new();
    let add_private = |c: &mut Caches, p: Private| {
        if !c.private.iter().any(|x| x.name == p.name) {
            c.private.push(p);
        }
    };
    let entries = entries(req, &env, &mut c);
    let around = Around::new(cx, state_dir.as_deref(), private_places(cx, &mut canon));
    // The overlays' roots are compared with the caches' canonical paths.
    let home = canon.canon(cx.home).unwrap_or_else(|| clean(cx.home));
    c.home = home.clone();
    // The ids the sandbox's user namespace maps (to themselves): see `group_root`.
    let ids = (crate::host::euid(), crate::sys::process::egid());
    for (name, path, anchor, redirect, group) in entries {
        let private = |dir: &Path| -> Option<Private> {
            let (var, maven) = redirect.clone()?;
            Some(Private {
                name: group.clone(),
                dir: dir.join(PRIVATE).join(&group),
                link_config_from: (var == "CARGO_HOME").then(|| env.path_or_default_cargo()),
                var,
                maven,
            })
        };
        // What the fallback uses for this entry, if it is overlaid or redirected.
        let add_fallback = |c: &mut Caches| {
            if !c.fallback.iter().any(|x| x.name == group) {
                c.fallback.extend(private(&dir));
            }
        };
        let (lower, create) = match canon.canon(&path) {
            Some(l) if canon.is_dir(&l) => (l, false),
            Some(_) => {
                c.skipped.push(Skipped {
                    name,
                    path,
                    why: "not a directory".into(),
                });
                continue;
            }
            None => {
                // Not there: create it in the tool's own directory if that exists, else point
                // the tool at a private directory.
                match anchored(&mut canon, &path, anchor.as_deref()) {
                    Some(l) => (l, true),
                    None => {
                        match private(&dir) {
                            Some(p) => {
                                add_fallback(&mut c);
                                add_private(&mut c, p)
                            }
                            None => c.skipped.push(Skipped {
                                name,
                                path,
                                why: "not on this machine, and no variable moves it".into(),
                            }),
                        }
                        continue;
                    }
                }
            }
        };
        if let Some(why) = refuse(&lower, &around, &seen) {
            c.skipped.push(Skipped {
                name,
                path: lower,
                why,
            });
            continue;
        }
        seen.push(lower.clone());
        add_fallback(&mut c);
        let root = group_root(&lower, &home, ids, &mut canon);
        let cache = Cache {
            name,
            path: lower,
            create,
        };
        match c
            .overlays
            .iter_mut()
            .find(|o| o.lower.as_os_str() == root.as_os_str())
        {
            Some(o) => o.caches.push(cache),
            None => {
                let gname = group_name(&root, &home);
                c.overlays.push(Overlay {
                    upper: dir.join(&gname).join("upper"),
                    work: dir.join(&gname).join("work"),
                    name: gname,
                    lower: root,
                    caches: vec![cache],
                });
            }
        }
    }
    // Shallowest first: a cache nested in another is mounted on top of it.
    for o in &mut c.overlays {
        o.caches.sort_by_key(|m| m.path.components().count());
    }
    c.overlays.sort_by_key(|o| o.lower.components().count());

    let mut vars: Vec<(String, String)> = Vec::new();
    for v in known::LOCATION_VARS {
        if let Some(val) = var(v).filter(|x| !x.is_empty()) {
            vars.push((v.to_string(), val));
        }
    }
    (c, vars)
}

/// `p` with its longest existing ancestor made canonical (cordon's state directory may not exist
/// yet): `/home -> /var/home`, or an `XDG_STATE_HOME` through a link, resolved once here.
pub fn canonical(p: &Path) -> PathBuf {
    Canon::default().canonical(p)
}

impl Env<'_> {
    fn path_or_default_cargo(&self) -> PathBuf {
        (self.var)("CARGO_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| self.home.join(".cargo"))
    }
}

/// Canonical paths, memoized per parent: the caches share a few parents (the home directory,
/// `~/.cache`, `~/.cargo`), which `fs::canonicalize` (realpath(3): one readlink per component)
/// would resolve again for each cache, ~120 system calls for the 19 known caches. Resolves
/// exactly as realpath does (symbolic links followed, `.` and `..` after them, at most 40
/// links), reading only the file system; a path that does not resolve is None.
/// Each component is looked at with one statx (not following it), which also says whether it
/// is a directory and on which mount (`is_dir`, `mount_id`: no more system calls for those).
/// Keyed by the paths' bytes (a `Path` key is hashed and compared component by component).
#[derive(Default)]
struct Canon {
    memo: std::collections::HashMap<std::ffi::OsString, Option<PathBuf>>,
    meta: std::collections::HashMap<std::ffi::OsString, Option<Meta>>,
}

/// What statx says of a path, without following a last symbolic link.
#[derive(Clone, Copy)]
struct Meta {
    link: bool,
    dir: bool,
    mnt: Option<u64>,
    /// Owner and group.
    ids: (u32, u32),
}

fn statx_meta(p: &Path) -> Option<Meta> {
    let c = crate::sys::cstr(p).ok()?;
    // SAFETY: statx into a zeroed struct.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `st` a writable statx, both alive for the call.
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            libc::STATX_TYPE | libc::STATX_MNT_ID | libc::STATX_UID | libc::STATX_GID,
            &mut st,
        )
    };
    if r != 0 {
        return None;
    }
    let fmt = u32::from(st.stx_mode) & libc::S_IFMT;
    Some(Meta {
        link: fmt == libc::S_IFLNK,
        dir: fmt == libc::S_IFDIR,
        mnt: (st.stx_mask & libc::STATX_MNT_ID != 0).then_some(st.stx_mnt_id),
        ids: (st.stx_uid, st.stx_gid),
    })
}

impl Canon {
    fn meta(&mut self, p: &Path) -> Option<Meta> {
        if let Some(m) = self.meta.get(p.as_os_str()) {
            return *m;
        }
        let m = statx_meta(p);
        self.meta.insert(p.as_os_str().to_owned(), m);
        m
    }

    /// `p` (canonical) is a directory.
    fn is_dir(&mut self, p: &Path) -> bool {
        self.meta(p).is_some_and(|m| m.dir)
    }

    /// The owner and group of `p` (canonical).
    fn ids(&mut self, p: &Path) -> Option<(u32, u32)> {
        self.meta(p).map(|m| m.ids)
    }

    /// The mount id of `p` (canonical), or of its nearest existing ancestor.
    fn mount_id(&mut self, p: &Path) -> Option<u64> {
        let mut q = p;
        loop {
            if let Some(m) = self.meta(q) {
                return m.mnt;
            }
            q = q.parent()?;
        }
    }

    /// `p` with its longest existing ancestor canonical ([`canonical`]).
    fn canonical(&mut self, p: &Path) -> PathBuf {
        let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
        let mut q = p;
        loop {
            if let Some(c) = self.canon(q) {
                return rest.iter().rev().fold(c, |a, r| a.join(r));
            }
            match (q.parent(), q.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name);
                    q = parent;
                }
                _ => return p.to_path_buf(),
            }
        }
    }

    fn canon(&mut self, p: &Path) -> Option<PathBuf> {
        let mut links = 0;
        self.resolve(p, &mut links)
    }

    fn resolve(&mut self, p: &Path, links: &mut u32) -> Option<PathBuf> {
        if !p.is_absolute() {
            return fs::canonicalize(p).ok();
        }
        if let Some(r) = self.memo.get(p.as_os_str()) {
            return r.clone();
        }
        let r = self.resolve_last(p, links);
        self.memo.insert(p.as_os_str().to_owned(), r.clone());
        r
    }

    /// The parent (memoized), then the last component.
    fn resolve_last(&mut self, p: &Path, links: &mut u32) -> Option<PathBuf> {
        use std::path::Component;
        let Some(last) = p.components().next_back() else {
            return Some(p.to_path_buf());
        };
        let parent = || p.parent().unwrap_or(Path::new("/"));
        match last {
            Component::RootDir | Component::Prefix(_) => Some(PathBuf::from("/")),
            Component::CurDir => self.resolve(parent(), links),
            // The parent is canonical (no link in it): its parent is the lexical one.
            Component::ParentDir => {
                let base = self.resolve(parent(), links)?;
                Some(base.parent().map_or(base.clone(), Path::to_path_buf))
            }
            Component::Normal(name) => {
                let base = self.resolve(parent(), links)?;
                let here = base.join(name);
                match self.meta(&here) {
                    Some(m) if m.link => {
                        *links += 1;
                        if *links > 40 {
                            return None; // ELOOP, as the kernel says
                        }
                        let target = fs::read_link(&here).ok()?;
                        self.resolve(&base.join(target), links)
                    }
                    Some(_) => Some(here),
                    None => None,
                }
            }
        }
    }
}

/// What the caches are checked against ([`refuse`]), made clean once per resolution
/// (see [`within`]).
struct Around {
    home: PathBuf,
    workspace: PathBuf,
    writable: Vec<PathBuf>,
    secrets: Vec<PathBuf>,
    state: Option<PathBuf>,
    /// `private_places`.
    private: Vec<PathBuf>,
}

impl Around {
    fn new(cx: &Context, state: Option<&Path>, private: Vec<PathBuf>) -> Around {
        let all = |v: &[PathBuf]| v.iter().map(|p| clean(p)).collect();
        Around {
            home: clean(cx.home),
            workspace: clean(cx.workspace),
            writable: all(cx.writable),
            secrets: all(cx.secrets),
            state: state.map(clean),
            private: all(&private),
        }
    }
}

/// `p` as its components: no `.`, repeated or trailing `/` (`..` stays, as a name). The caches'
/// own paths are clean already (made by [`Canon`], or joined name by name).
fn clean(p: &Path) -> PathBuf {
    p.components().collect()
}

/// `p` is `base` or below it, both clean: what `Path::starts_with` answers for clean paths, by
/// comparing bytes (`starts_with` parses both paths into components at every call: with 19
/// caches, a quarter of the resolution's time).
fn within(p: &Path, base: &Path) -> bool {
    let (p, b) = (p.as_os_str().as_bytes(), base.as_os_str().as_bytes());
    p.starts_with(b) && (p.len() == b.len() || p[b.len()] == b'/' || b == b"/")
}

/// The directory to overlay for the cache at `lower` (canonical): its highest ancestor at or
/// below the home directory `home` (canonical) that is on the cache's mount (overlayfs does not
/// look into submounts of a lower layer). That is the home directory itself when the caches share
/// its mount, as they usually do: one overlay serves them all, however many tools have caches.
/// Each overlay mount costs ~0.1 ms of kernel work, more on a busy machine, and its work
/// directory's inodes go into the journal commit at the run's end (the audit log is synced): one
/// per tool directory cost ~0.3 ms with three tools, ~1 ms with nine (docs/benchmarks.md).
///
/// Only the caches are mounted from the overlay (bind mounts of its subdirectories, `mount.rs`):
/// the rest of the home directory is never seen through it. Its upper and work directories are
/// inside its lower layer (cordon's state directory is below the home directory): overlayfs
/// mounts that, and refuses only a lookup through the overlay that reaches them (ELOOP, its
/// "overlapping layers" trap), which no cache can make: [`refuse`] keeps every cache out of the
/// state directory. The workspace, also below, is written by the sandbox directly, never through
/// the overlay, which does not look at it.
/// A cache outside the home directory (or with `/` as the home directory) gets the same rule
/// below its top-level directory instead (`/usr/local/cargo/registry` and `…/git` of a container
/// image's `CARGO_HOME=/usr/local/cargo`: `/usr` when run as root), never `/` itself.
///
/// Every directory between the root and the cache must belong to the sandbox's user and group
/// (`ids`: the only ones its user namespace maps): writing below one copies it up into the upper
/// layer with its owner, and overlayfs cannot give a new inode an owner the namespace does not
/// map (EOVERFLOW: `/usr/local` owned by root, a `~/.cache` made by `sudo pip`). The walk stops
/// at the first that is not (an overlay's root is never copied up).
fn group_root(lower: &Path, home: &Path, ids: (u32, u32), canon: &mut Canon) -> PathBuf {
    if lower.as_os_str() == home.as_os_str() {
        return lower.to_path_buf();
    }
    let bound = (home.as_os_str() != "/" && within(lower, home)).then_some(home);
    let Some(mnt) = canon.mount_id(lower) else {
        return lower.to_path_buf();
    };
    let mut best = lower;
    while let Some(a) = best.parent() {
        let inside = match bound {
            Some(b) => within(a, b),
            None => a.as_os_str() != "/",
        };
        // `best` (now between the root and the cache) must be the user's; a cache cordon will
        // create (missing) will be.
        let owned = canon.ids(best).is_none_or(|i| i == ids);
        if !inside || canon.mount_id(a) != Some(mnt) || !owned {
            break;
        }
        best = a;
        if bound.is_some_and(|b| a.as_os_str() == b.as_os_str()) {
            break;
        }
    }
    best.to_path_buf()
}

/// The layers' directory name of the overlay of `root`: `home-1a2b3c4d` for the home directory,
/// `cache-1a2b3c4d` for `~/.cache`, ... (the hash of the full path keeps two roots with the same
/// last components apart). Below the home directory, the names are those of the overlays of
/// tool directories of earlier versions ([`store::adopt_old_layers`]).
fn group_name(root: &Path, home: &Path) -> String {
    let rel = root.strip_prefix(home).unwrap_or(root);
    let mut n: String = rel
        .to_string_lossy()
        .chars()
        .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
        .collect();
    n = n.trim_matches('-').to_string();
    n.truncate(40);
    // FNV-1a: stable across runs and builds (DefaultHasher is not guaranteed to be).
    let mut h: u32 = 0x811c_9dc5;
    for b in root.as_os_str().as_encoded_bytes() {
        h = (h ^ *b as u32).wrapping_mul(0x0100_0193);
    }
    if !n.is_empty() {
        format!("{n}-{h:08x}")
    } else if root.as_os_str() == home.as_os_str() {
        format!("home-{h:08x}")
    } else {
        format!("root-{h:08x}")
    }
}

/// Places the sandbox sees private, fresh or emptied (see `refuse`).
const PRIVATE_PLACES: &[&str] = &["/tmp", "/var/tmp", "/dev", "/proc", "/sys", "/run"];

/// The places the sandbox sees private, fresh or hidden, canonical (once per resolution): its
/// /tmp, /dev, /proc, /sys; /run and the runtime directory, emptied for their sockets.
fn private_places(cx: &Context, canon: &mut Canon) -> Vec<PathBuf> {
    let runtime = cx
        .parent_env
        .iter()
        .find(|(k, _)| k == "XDG_RUNTIME_DIR")
        .map(|(_, v)| PathBuf::from(v))
        .filter(|p| p.is_absolute());
    PRIVATE_PLACES
        .iter()
        .map(PathBuf::from)
        .chain(runtime)
        .map(|p| canon.canon(&p).unwrap_or(p))
        .collect()
}

/// Why `lower` (clean) cannot be overlaid, if it cannot.
fn refuse(lower: &Path, x: &Around, seen: &[PathBuf]) -> Option<String> {
    if within(&x.home, lower) {
        return Some("it holds the home directory".into());
    }
    if within(&x.workspace, lower) {
        return Some("it holds the workspace".into());
    }
    if let Some(w) = x.writable.iter().find(|w| within(lower, w)) {
        return Some(format!(
            "inside the writable root {}: already writable, and per workspace",
            w.display()
        ));
    }
    if let Some(w) = x.writable.iter().find(|w| within(w, lower)) {
        return Some(format!("it holds the writable root {}", w.display()));
    }
    if let Some(s) = x.secrets.iter().find(|s| within(lower, s)) {
        return Some(format!("inside the secret path {}", s.display()));
    }
    // The sandbox's own view of these is private, fresh or hidden (`private_places`). An
    // overlay's lower layer is the host's directory, so a cache that is or holds one of them
    // (`npm_config_cache=/tmp`) would show the host's there: every user's temporary files,
    // Kerberos tickets in /tmp, ...
    if let Some(p) = x.private.iter().find(|p| within(p, lower)) {
        return Some(format!(
            "it holds {}, which the sandbox sees private or empty",
            p.display()
        ));
    }
    if let Some(p) = ["/dev", "/proc", "/sys"]
        .iter()
        .find(|p| within(lower, Path::new(p)))
    {
        return Some(format!("inside {p}, which the sandbox sees private"));
    }
    if let Some(s) = &x.state {
        if within(lower, s) || within(s, lower) {
            return Some("it overlaps cordon's state directory".into());
        }
    }
    if seen.iter().any(|s| s.as_os_str() == lower.as_os_str()) {
        return Some("the same directory as another cache".into());
    }
    None
}

/// Sets the private directories' variables (and the location variables) in `env`.
pub fn apply_env(
    env: &mut Vec<(String, String)>,
    location: &[(String, String)],
    private: &[Private],
) {
    for (k, v) in location {
        if !env.iter().any(|(n, _)| n == k) {
            env.push((k.clone(), v.clone()));
        }
    }
    for p in private {
        let dir = p.dir.display().to_string();
        let value = if p.maven {
            // Whatever MAVEN_OPTS held, without an earlier repository setting.
            let old: Vec<String> = env
                .iter()
                .find(|(k, _)| k == "MAVEN_OPTS")
                .map(|(_, v)| {
                    v.split_whitespace()
                        .filter(|t| !t.starts_with("-Dmaven.repo.local="))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            std::iter::once(format!("-Dmaven.repo.local={dir}"))
                .chain(old)
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            dir
        };
        env.retain(|(k, _)| k != &p.var);
        env.push((p.var.clone(), value));
    }
}

impl Caches {
    /// The fallback (no namespaces, so no overlays): every cache with a variable gets its
    /// private directory instead. Pure (dry runs show it); [`Caches::fallback_dirs`] creates
    /// the directories.
    pub fn to_fallback(&mut self, env: &mut Vec<(String, String)>) {
        if self.is_empty() {
            return;
        }
        self.overlays.clear();
        let mut private = std::mem::take(&mut self.fallback);
        for p in std::mem::take(&mut self.private) {
            if !private.iter().any(|x| x.name == p.name) {
                private.push(p);
            }
        }
        apply_env(env, &[], &private);
        self.private = private;
    }

    /// Creates the private directory of the fallback; returns it (to become a writable root).
    pub fn fallback_dirs(&self) -> std::io::Result<Vec<PathBuf>> {
        self.create_private()?;
        Ok(self.private_root().into_iter().collect())
    }
}

/// The supervisor's part of a run with namespaces: creates the directories and holds the
/// workspace's cache lock until dropped (after the sandbox is gone).
pub struct Session {
    _lock: Option<fs::File>,
    /// `store::MOUNTS_LOCK`, until the sandbox's init holds it ([`Session::handed_over`]).
    mounts: Option<fs::File>,
    /// The workspace's caches directory, opened here (the host's view, writable), until init
    /// holds its copy: init clears the overlays' work directories through it.
    dir: Option<std::os::fd::OwnedFd>,
}

impl Session {
    /// Prepares `c` for a run: upper and work directories, the empty host cache directories
    /// (`create`), the private directories; takes the workspace's lock, or marks the run as
    /// throwaway when another sandbox of this workspace holds it. The work directories the last
    /// mounts left are normally gone already (the last sandbox's init moved them to the trash
    /// after its unmounts, and emptied it: [`mount::teardown`]); what an init killed before
    /// that left is moved aside here. Failures to prepare a cache drop that cache (said on
    /// stderr): a cache is a convenience, never a reason not to run.
    pub fn start(c: &mut Caches, workspace: &Path) -> Session {
        let none = Session {
            _lock: None,
            mounts: None,
            dir: None,
        };
        let Some(dir) = c.dir.clone() else {
            return none;
        };
        if c.is_empty() {
            return none;
        }
        if let Err(e) = store::create_caches_dir(&dir, workspace) {
            errln!(
                "cordon: caches: cannot create {} ({e}); tool caches stay read-only in this run",
                dir.display()
            );
            c.overlays.clear();
            c.private.clear();
            return none;
        }
        let mut lock = match store::try_lock(&dir) {
            Ok(Some(f)) => Some(f),
            Ok(None) => {
                c.throwaway = true;
                None
            }
            Err(e) => {
                errln!("cordon: caches: {e}; this run's cache writes are thrown away");
                c.throwaway = true;
                None
            }
        };
        // The last sandbox of the workspace may still be unmounting its overlays (its init
        // does, after its report): wait for it, so that an upper layer is never in two mounts.
        let mut mounts = None;
        if lock.is_some() && !c.overlays.is_empty() {
            match store::lock_mounts(&dir, std::time::Duration::from_secs(5)) {
                Ok(Some(f)) => mounts = Some(f),
                r => {
                    let why = match r {
                        Err(e) => e.to_string(),
                        _ => {
                            "the last sandbox of this workspace still holds its overlays after 5 s"
                                .into()
                        }
                    };
                    errln!("cordon: caches: {why}; this run's cache writes are thrown away");
                    c.throwaway = true;
                    lock = None;
                }
            }
        }
        // The caches directory, opened once: the layers' directories are looked at through it,
        // and init keeps it (`dir_fd`).
        let cfd = match store::open_dir(&dir) {
            Ok(f) => Some(f),
            Err(e) => {
                errln!("cordon: caches: {e}; tool caches stay read-only in this run");
                c.overlays.clear();
                None
            }
        };
        // The layers of an earlier cordon are kept only by the run that holds the locks.
        let adopt_in = lock.is_some().then(|| c.home.clone());
        c.overlays.retain(|o| {
            match cfd
                .as_ref()
                .map(|f| store::create_overlay_dirs(f, o, adopt_in.as_deref()))
            {
                None => false,
                Some(Ok(())) => true,
                Some(Err(e)) => {
                    errln!(
                        "cordon: cache {}: cannot prepare {} ({e}); it stays read-only in this run",
                        o.name,
                        o.lower.display()
                    );
                    false
                }
            }
        });
        if let Err(e) = c.create_private() {
            errln!("cordon: caches: {e}; the tools pointed at private caches will find none");
            c.private.clear();
        }
        // The work directories the last mounts left (marked volatile), when their init could
        // not move them aside (it was killed): only with the lock (without it, they belong to
        // the sandbox that holds it; this run's layers are a throwaway tmpfs).
        let mut dir_fd = None;
        if let Some(cfd) = cfd.filter(|_| lock.is_some() && !c.overlays.is_empty()) {
            c.overlays.retain(|o| match store::retire_work(&cfd, o) {
                Ok(_) => true,
                Err(e) => {
                    errln!(
                        "cordon: cache {}: cannot clear {} ({e}); it stays read-only in this run",
                        o.name,
                        o.work.display()
                    );
                    false
                }
            });
            let n = store::trash_len(&cfd);
            if n > store::TRASH_MAX {
                // The inits that empty it were killed too often: the excess goes now.
                store::empty_trash(&cfd, Some(n - store::TRASH_MAX));
            }
            dir_fd = Some(cfd);
        }
        Session {
            _lock: lock,
            mounts,
            dir: dir_fd,
        }
    }

    /// The caches directory's descriptor, for init to keep (it clears the work directories
    /// through it after its unmounts): only with the workspace's locks held (`start` keeps it
    /// only then).
    pub fn dir_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.dir.as_ref().map(|f| f.as_raw_fd())
    }

    /// The mounts lock's descriptor, for init to keep.
    pub fn mounts_lock(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.mounts.as_ref().map(|f| f.as_raw_fd())
    }

    /// After the clone: the sandbox's init holds the mounts lock now (a copy of the same open
    /// file, so the same lock) until it has unmounted the overlays; the supervisor's copy goes.
    pub fn handed_over(&mut self) {
        self.mounts = None;
        self.dir = None;
    }
}

#[cfg(test)]
mod tests;

/// The spec's caches: none outside `workspace-write` mode; in namespaces mode the overlays and
/// the private directories of missing caches; otherwise the fallback's private directories. The
/// command's environment gets the variables.
pub fn for_spec(
    req: &CacheRequest,
    cx: &Context,
    workspace_write: bool,
    namespaces: bool,
    env: &mut Vec<(String, String)>,
) -> Caches {
    if !workspace_write {
        return Caches::default();
    }
    let (mut c, location) = resolve(req, cx);
    if c.is_empty() {
        return c;
    }
    apply_env(env, &location, &[]);
    if namespaces {
        apply_env(env, &[], &c.private);
    } else {
        c.to_fallback(env);
    }
    c
}

/// Credential files moved by a variable of cordon's environment (see [`known::moved_secrets`]).
pub fn moved_secrets(home: &Path, parent_env: &[(String, String)]) -> Vec<PathBuf> {
    let var = |k: &str| {
        parent_env
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    known::moved_secrets(&Env::new(home, &var))
}

/// The fallback's part, in the supervisor (idempotent: a spec built for the fallback already
/// has its private directories): the private directories are created and become writable roots.
/// Returns the workspace's lock, shared ([`store::try_lock_shared`]), to hold until the run
/// has ended.
#[must_use = "the lock is held for the run"]
pub fn fallback(spec: &mut crate::SandboxSpec) -> Option<fs::File> {
    let mut env = std::mem::take(&mut spec.env);
    spec.caches.to_fallback(&mut env);
    spec.env = env;
    let mut lock = None;
    if let (Some(dir), false) = (&spec.caches.dir, spec.caches.private.is_empty()) {
        let _ = store::create_caches_dir(dir, &spec.workspace);
        lock = store::try_lock_shared(dir).ok().flatten();
    }
    match spec.caches.fallback_dirs() {
        Ok(dirs) => {
            for d in dirs {
                if !spec.writable.contains(&d) {
                    spec.writable.push(d);
                }
            }
        }
        Err(e) => errln!("cordon: caches: {e}; tool caches stay read-only in this run"),
    }
    lock
}

/// The one line said in the fallback: the tools use private directories instead of overlays.
pub fn fallback_notice(c: &Caches) -> Option<String> {
    let mut names: Vec<&str> = c.private.iter().map(|p| p.name.as_str()).collect();
    for o in &c.overlays {
        names.extend(o.caches.iter().map(|m| m.name.as_str()));
    }
    if names.is_empty() {
        return None;
    }
    Some(format!(
        "tool caches ({}): no copy-on-write overlays without user namespaces; the tools use this \
         workspace's private cache directories instead (cold the first time, warm after){}",
        names.join(", "),
        c.dir
            .as_deref()
            .map(|d| format!(", under {}", d.join(PRIVATE).display()))
            .unwrap_or_default()
    ))
}
