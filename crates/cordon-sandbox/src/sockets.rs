//! Named unix sockets outside the sandbox.
//!
//! A network namespace does not fence named unix sockets: `connect` finds the socket through its
//! file, from any namespace. Landlock ABI 9 (Linux 7.1) can refuse connecting to sockets outside
//! the writable roots; before it, cordon keeps the host's sockets out of reach with mounts, in
//! three ways, strongest first:
//!
//! - **Hidden directories**: `$XDG_RUNTIME_DIR` and `/run/user` are replaced by empty ones: no
//!   socket there, whenever it was created.
//! - **Socket-proof views**: a directory shown through a read-only overlayfs whose lower layer is
//!   the directory itself. Files read as usual, but no socket in it can be connected to: the
//!   kernel finds a socket by the inode of its file, and an overlay inode is never one a socket
//!   is bound to (`connect` fails with ECONNREFUSED). That holds for sockets created or
//!   re-created after the start too (a daemon started or restarted during the run). Used for the
//!   XDG cache, data, config and state directories and for the directory holding each socket
//!   found, where it is safe (see [`Scope::view_ok`]).
//! - **Covers**: every other socket found gets `/dev/null` mounted over it. A cover lasts as long
//!   as the file: a daemon that deletes and re-creates its socket during the run removes it (the
//!   kernel detaches a mount whose mount point is deleted from another mount namespace).
//!
//! Sockets are found, each source bounded, by:
//! - the kernel's table of the sockets bound in cordon's network namespace, where the user's
//!   daemons run: sock_diag (listening and unconnected sockets only, in one netlink dump), else
//!   `/proc/net/unix`. Every such socket with an absolute path is found, wherever it lies;
//! - a walk of `/run` and of the home's dot-directories: sockets bound in other network
//!   namespaces (containers, other sandboxes), which the table does not list;
//! - the environment: any variable naming a socket (`SSH_AUTH_SOCK`, `DOCKER_HOST=unix://…`,
//!   `DBUS_SESSION_BUS_ADDRESS=unix:path=…`, `TMUX`, …).

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use crate::Error;

/// More sockets to cover one by one than this: cordon refuses to run (each is a mount).
pub const MAX_COVERS: usize = 4096;
/// Socket-proof views at most (each is an overlay mount, ~30 µs); the rest are covered.
pub const MAX_VIEWS: usize = 16;
/// Entries of the socket table read at most (sock_diag lists only listening and unconnected
/// sockets; `/proc/net/unix` lists every socket, connected ones included).
const MAX_TABLE: usize = 1_000_000;
/// Bytes of `/proc/net/unix` and `/proc/self/mounts` read at most.
const MAX_PROC_BYTES: u64 = 128 << 20;
/// Directory entries read by the walks (as before: /run 4 levels, the home's dot-dirs 2).
const RUN_BUDGET: usize = 4000;
const HOME_BUDGET: usize = 3000;

/// Large dot-directories of tool caches, not walked for sockets (the socket table still finds
/// the host's sockets there, and `.cache`, `.local/share` are socket-proof views).
const HOME_SCAN_SKIP: &[&str] = &[
    ".cache",
    ".cargo",
    ".rustup",
    ".npm",
    ".git",
    ".local",
    ".pyenv",
    ".nvm",
    ".m2",
    ".gradle",
    ".debug",
    ".vscode-server",
];

/// Where the sandbox's view is private or fresh: nothing of the host's is reachable there.
const PRIVATE: &[&str] = &["/tmp", "/var/tmp", "/dev", "/proc", "/sys"];

/// What to hide, for [`crate::spec::SandboxSpec`].
#[derive(Debug, Default)]
pub struct Found {
    /// Replaced by an empty directory.
    pub dirs: Vec<PathBuf>,
    /// Shown through a read-only overlay: no socket in them connectable.
    pub views: Vec<PathBuf>,
    /// Every socket found (those inside a view need no cover of their own).
    pub sockets: Vec<PathBuf>,
    pub notes: Vec<String>,
    /// The questions asked about the secrets on the way.
    pub asked: Vec<Asked>,
}

impl Found {
    /// Would [`discover`] with `secrets` instead of the list this was found with have decided
    /// the same? True when both lists answer every question it asked alike.
    pub fn same_with(&self, found_with: &[PathBuf], secrets: &[PathBuf]) -> bool {
        self.asked
            .iter()
            .all(|q| q.answer(found_with) == q.answer(secrets))
    }
}

/// What the sandbox will be, as far as hiding sockets is concerned.
pub struct Scope<'a> {
    pub home: &'a Path,
    pub env: &'a [(String, String)],
    pub writable: &'a [PathBuf],
    pub cwd: &'a Path,
    /// Secrets (canonical): hidden already, and Landlock carves around them.
    pub secrets: &'a [PathBuf],
}

/// One question [`discover`] asked about the secrets: is a secret at or around `path` (inside
/// it, or holding it), or with `around == false` only holding it. Every decision that depends
/// on the secrets is one of these, so a discovery made with another list of secrets decides
/// the same wherever both lists answer every question alike ([`Found::same_with`]).
#[derive(Debug, Clone)]
pub struct Asked {
    path: PathBuf,
    around: bool,
}

impl Asked {
    fn answer(&self, secrets: &[PathBuf]) -> bool {
        secrets
            .iter()
            .any(|x| self.path.starts_with(x) || (self.around && x.starts_with(&self.path)))
    }
}

impl Scope<'_> {
    /// The secrets question about `path` (see [`Asked`]), recorded in `asked`.
    fn secret_at(&self, path: &Path, around: bool, asked: &mut Vec<Asked>) -> bool {
        let q = Asked {
            path: path.to_path_buf(),
            around,
        };
        let a = q.answer(self.secrets);
        asked.push(q);
        a
    }

    fn var(&self, k: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    /// May the directory `d` be replaced or overlaid without changing what the command works
    /// on: not `/` nor the home, not holding a writable root or the working directory, not
    /// inside a writable root.
    fn may_cover_dir(&self, d: &Path) -> bool {
        d != Path::new("/")
            && d != self.home
            && !self
                .writable
                .iter()
                .any(|w| w.starts_with(d) || d.starts_with(w))
            && !self.cwd.starts_with(d)
    }

    fn is_private(&self, p: &Path) -> bool {
        PRIVATE.iter().any(|t| p.starts_with(t)) && !self.writable.iter().any(|w| p.starts_with(w))
    }

    /// A socket-proof view of `d` is safe when, besides [`Self::may_cover_dir`]: it is not a
    /// secret nor inside one, no other mount lies below it (overlayfs does not cross mount
    /// points: what is mounted there would vanish), and overlayfs' option syntax can name it.
    /// A secret inside it is no reason to go without: it is covered on top of the view, and
    /// Landlock's carve around it is made on the view's inodes (`Fence::grant_view`). (It once
    /// was, and a user with `~/.config/gcloud` had no view of `~/.config`: a socket created
    /// there during the run was reachable.)
    fn view_ok(
        &self,
        d: &Path,
        mounts: &[PathBuf],
        hidden: &[PathBuf],
        asked: &mut Vec<Asked>,
    ) -> bool {
        let Some(s) = d.to_str() else { return false };
        self.may_cover_dir(d)
            && d.components().count() > 2
            && !s.contains([':', ',', '\\'])
            && !s.chars().any(char::is_control)
            && !self.is_private(d)
            && !hidden.iter().any(|h| d.starts_with(h) || h.starts_with(d))
            && !self.secret_at(d, false, asked)
            && !mounts.iter().any(|m| m != d && m.starts_with(d))
            && fs::symlink_metadata(d).is_ok_and(|m| m.is_dir())
    }
}

/// Finds what to hide. Fails (cordon refuses to run) only when a bound is reached that would
/// leave sockets uncovered.
pub fn discover(sc: &Scope) -> Result<Found, Error> {
    let mut f = Found {
        dirs: runtime_dirs(sc),
        ..Found::default()
    };
    let mounts = match mount_points() {
        Ok(m) => Some(m),
        Err(e) => {
            f.notes.push(format!(
                "cannot read /proc/self/mounts ({e}): unix sockets are covered one by one, and one created during the run outside {} is reachable",
                f.dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
            ));
            None
        }
    };
    // The XDG directories first: the walk below need not enter them.
    let mut wanted = match &mounts {
        Some(_) => xdg_dirs(sc),
        None => Vec::new(),
    };
    let mut asked = Vec::new();
    if let Some(m) = &mounts {
        wanted.retain(|d| sc.view_ok(d, m, &f.dirs, &mut asked));
    }
    let mut cands = table_candidates(&mut f.notes)?;
    let mut skip = f.dirs.clone();
    skip.extend(wanted.iter().cloned());
    walk(sc, &skip, &mut cands, &mut f.notes);
    for (_, v) in sc.env {
        env_paths(v, &mut cands);
    }
    f.sockets = reachable_sockets(sc, &f.dirs, cands, &mut asked);
    if let Some(mounts) = &mounts {
        wanted.extend(
            f.sockets
                .iter()
                .filter_map(|s| anchor(sc, s, mounts, &f.dirs, &mut asked)),
        );
        // The daemons' own directories, and those of the sockets a variable or a docker
        // context names, socket or not yet (see DAEMON_SOCKETS).
        let mut expected = named_sockets(sc);
        if sc.home != Path::new("/") {
            expected.extend(DAEMON_SOCKETS.iter().map(|rel| sc.home.join(rel)));
        }
        for s in expected.iter().filter_map(|s| canonical_prefix(s)) {
            if let Some(d) = anchor(sc, &s, mounts, &f.dirs, &mut asked) {
                if !wanted.contains(&d) {
                    wanted.push(d);
                }
            }
        }
        // Outermost first; a view inside another is covered by it.
        wanted.sort_by_key(|d| d.components().count());
        for d in wanted {
            if f.views.iter().any(|v| d.starts_with(v)) {
                continue;
            }
            if f.views.len() == MAX_VIEWS {
                f.notes.push(format!(
                    "more than {MAX_VIEWS} directories hold unix sockets: those in {} and beyond are covered one by one \
                     (a socket re-created there during the run is reachable)",
                    d.display()
                ));
                break;
            }
            f.views.push(d);
        }
    }
    let covers = f
        .sockets
        .iter()
        .filter(|s| !f.views.iter().any(|v| s.starts_with(v)))
        .count();
    f.asked = asked;
    if covers > MAX_COVERS {
        return Err(Error::Setup(format!(
            "{covers} unix sockets reachable from the sandbox would each need a mount of their own (at most {MAX_COVERS}); \
             run fewer daemons, or use a kernel with Landlock ABI 9 (Linux 7.1)"
        )));
    }
    Ok(f)
}

/// `/run/user`, `/var/run/user`, `$XDG_RUNTIME_DIR` and `~/.git-credential-cache`, where they may
/// be replaced whole.
fn runtime_dirs(sc: &Scope) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let runtime = sc.var("XDG_RUNTIME_DIR").map(PathBuf::from);
    // Directories that only ever hold the socket of a daemon started on demand, whose socket is
    // therefore often missing at the start and made during the run: git's credential cache
    // (git-credential-cache(1): `~/.git-credential-cache/socket` when that directory exists,
    // which git before 2.13 made; the daemon hands out the passwords it holds to whoever
    // connects). Its XDG place, `~/.cache/git/credential/`, is in the `~/.cache` view.
    let on_demand = (sc.home != Path::new("/")).then(|| sc.home.join(".git-credential-cache"));
    for d in [
        Some(PathBuf::from("/run/user")),
        Some(PathBuf::from("/var/run/user")),
        runtime,
        on_demand,
    ]
    .into_iter()
    .flatten()
    .filter(|d| d.is_absolute())
    {
        if let Ok(c) = fs::canonicalize(&d) {
            if c.is_dir() && sc.may_cover_dir(&c) && !dirs.contains(&c) {
                dirs.push(c);
            }
        }
    }
    dirs
}

/// The XDG cache, data, config and state directories (canonical), where they exist.
fn xdg_dirs(sc: &Scope) -> Vec<PathBuf> {
    if sc.home == Path::new("/") {
        return Vec::new();
    }
    [
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_STATE_HOME", ".local/state"),
    ]
    .iter()
    .filter_map(|(var, default)| {
        let d = sc
            .var(var)
            .map(PathBuf::from)
            .filter(|d| d.is_absolute())
            .unwrap_or_else(|| sc.home.join(default));
        fs::canonicalize(d).ok()
    })
    .collect()
}

/// The absolute names from the socket table; relative ones are said in a note.
fn table_candidates(notes: &mut Vec<String>) -> Result<Vec<PathBuf>, Error> {
    let mut cands = Vec::new();
    let mut relative: Vec<String> = Vec::new();
    match table() {
        Ok(names) => {
            for n in names {
                let p = PathBuf::from(n);
                if p.is_absolute() {
                    cands.push(p);
                } else if relative.len() < 3 {
                    relative.push(p.display().to_string());
                }
            }
        }
        Err(TableError::TooLarge) => {
            return Err(Error::Setup(format!(
                "more than {MAX_TABLE} unix sockets in this network namespace: cordon cannot list the ones to hide from the sandbox; \
                 run fewer daemons, or use a kernel with Landlock ABI 9 (Linux 7.1)"
            )))
        }
        Err(TableError::Unreadable(e)) => notes.push(format!(
            "cannot list this machine's unix sockets ({e}): only those under /run, in your home's dot-directories \
             and named by the environment are hidden from the sandbox"
        )),
    }
    if !relative.is_empty() {
        notes.push(format!(
            "unix sockets bound by a relative name cannot be located, and stay reachable from the sandbox if their permissions allow: {}",
            relative.join(", ")
        ));
    }
    Ok(cands)
}

/// The candidates that are sockets now and that the user could connect to, by canonical path,
/// without those already out of reach (private or hidden directories, secrets).
fn reachable_sockets(
    sc: &Scope,
    hidden: &[PathBuf],
    cands: Vec<PathBuf>,
    asked: &mut Vec<Asked>,
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut parents: HashMap<PathBuf, Option<PathBuf>> = HashMap::new();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    for p in cands {
        // One lstat first: most candidates from the environment are no socket at all.
        if !fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_socket()) {
            continue;
        }
        let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else {
            continue;
        };
        let parent = parents
            .entry(parent.to_path_buf())
            .or_insert_with(|| fs::canonicalize(parent).ok());
        let Some(parent) = parent else { continue };
        let c = parent.join(name);
        if !seen.insert(c.clone())
            || sc.is_private(&c)
            || hidden.iter().any(|d| c.starts_with(d))
            || sc.secret_at(&c, false, asked)
        {
            continue;
        }
        // A socket the user cannot connect to needs no cover (one mount fewer each).
        if crate::sys::may_write(&c) {
            out.push(c);
        }
    }
    out
}

/// The directory to show as a socket-proof view for the socket `s`: below the home, the
/// outermost directory between the home and the socket where a view is safe (e.g. `~/.tool` for
/// `~/.tool/run/a.sock`, so that a socket created later anywhere in `~/.tool` is closed too);
/// elsewhere, the socket's own directory.
fn anchor(
    sc: &Scope,
    s: &Path,
    mounts: &[PathBuf],
    hidden: &[PathBuf],
    asked: &mut Vec<Asked>,
) -> Option<PathBuf> {
    let parent = s.parent()?;
    if sc.home != Path::new("/") && parent.starts_with(sc.home) && parent != sc.home {
        let rel = parent.strip_prefix(sc.home).ok()?;
        let mut d = sc.home.to_path_buf();
        for c in rel.components() {
            d.push(c);
            if sc.view_ok(&d, mounts, hidden, asked) {
                return Some(d);
            }
        }
        return None;
    }
    sc.view_ok(parent, mounts, hidden, asked)
        .then(|| parent.to_path_buf())
}

enum TableError {
    TooLarge,
    Unreadable(String),
}

// TCP states as the unix sockets use them (include/net/tcp_states.h).
const TCP_CLOSE: u32 = 7;
const TCP_LISTEN: u32 = 10;
const UDIAG_SHOW_NAME: u32 = 0x1;
const UNIX_DIAG_NAME: u16 = 0;

/// The names of the sockets bound in this network namespace that can be reached: listening
/// (stream, seqpacket) and unconnected (datagram) ones. A connected socket accepts nothing
/// new: a stream socket only connects to a listener, and a connected datagram socket takes
/// datagrams from its peer only.
fn table() -> Result<Vec<OsString>, TableError> {
    let mut names = Vec::new();
    let mut n = 0usize;
    let diag = crate::sys::net::unix_diag_dump(
        (1 << TCP_LISTEN) | (1 << TCP_CLOSE),
        UDIAG_SHOW_NAME,
        |msg| {
            n += 1;
            if let Some(name) = diag_name(msg) {
                names.push(name);
            }
            n <= MAX_TABLE
        },
    );
    match diag {
        Ok(()) if n > MAX_TABLE => Err(TableError::TooLarge),
        Ok(()) => Ok(names),
        Err(diag_err) => proc_net_unix().map_err(|e| match e {
            TableError::Unreadable(e) => {
                TableError::Unreadable(format!("sock_diag: {diag_err}; /proc/net/unix: {e}"))
            }
            other => other,
        }),
    }
}

/// The bound name in one `unix_diag_msg` (16 bytes, then attributes), if it is a path (an
/// abstract name starts with a NUL byte, and has no file).
fn diag_name(msg: &[u8]) -> Option<OsString> {
    let mut a = msg.get(16..)?;
    while a.len() >= 4 {
        let len = u16::from_ne_bytes([a[0], a[1]]) as usize;
        let ty = u16::from_ne_bytes([a[2], a[3]]);
        if len < 4 || len > a.len() {
            return None;
        }
        if ty == UNIX_DIAG_NAME {
            let name = &a[4..len];
            let name = name.split(|&b| b == 0).next().unwrap_or(&[]);
            if name.is_empty() || a[4] == 0 {
                return None;
            }
            return Some(OsString::from_vec(name.to_vec()));
        }
        a = a.get((len + 3) & !3..).unwrap_or(&[]);
    }
    None
}

/// The same from `/proc/net/unix`, where sock_diag is missing (`CONFIG_UNIX_DIAG=n`). Slower:
/// every socket of the namespace is listed, connected ones too (about 0.5 µs each).
fn proc_net_unix() -> Result<Vec<OsString>, TableError> {
    let data = read_bounded("/proc/net/unix").map_err(|e| match e {
        ReadError::TooLarge => TableError::TooLarge,
        ReadError::Io(e) => TableError::Unreadable(e),
    })?;
    let mut names = Vec::new();
    // "Num RefCount Protocol Flags Type St Inode Path": the path follows the seventh field.
    let hex = |t: &[u8]| {
        std::str::from_utf8(t)
            .ok()
            .and_then(|t| u32::from_str_radix(t, 16).ok())
    };
    for (i, line) in data.split(|&b| b == b'\n').skip(1).enumerate() {
        if i >= MAX_TABLE {
            return Err(TableError::TooLarge);
        }
        let mut rest = line;
        let mut tok: [&[u8]; 7] = [&[]; 7];
        for t in &mut tok {
            rest = trim_start(rest);
            let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
            *t = &rest[..end];
            rest = &rest[end..];
        }
        let (Some(flags), Some(ty), Some(st)) = (hex(tok[3]), hex(tok[4]), hex(tok[5])) else {
            continue;
        };
        // Listening (__SO_ACCEPTCON in Flags), or an unconnected datagram socket (St 01).
        let listening = flags & 0x0001_0000 != 0;
        let dgram_open = ty == 2 && st == 1;
        let path = rest.strip_prefix(b" ").unwrap_or(rest);
        if (listening || dgram_open) && path.first() == Some(&b'/') {
            names.push(OsString::from_vec(path.to_vec()));
        }
    }
    Ok(names)
}

fn trim_start(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|&c| c != b' ').unwrap_or(b.len());
    &b[i..]
}

enum ReadError {
    TooLarge,
    Io(String),
}

fn read_bounded(path: &str) -> Result<Vec<u8>, ReadError> {
    let f = fs::File::open(path).map_err(|e| ReadError::Io(e.to_string()))?;
    let mut data = Vec::with_capacity(64 * 1024);
    f.take(MAX_PROC_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(|e| ReadError::Io(e.to_string()))?;
    if data.len() as u64 > MAX_PROC_BYTES {
        return Err(ReadError::TooLarge);
    }
    Ok(data)
}

/// Every mount point of this mount namespace (`/proc/self/mounts`, field 2, unescaped; half
/// the kernel's cost of mountinfo).
fn mount_points() -> Result<Vec<PathBuf>, String> {
    let data = read_bounded("/proc/self/mounts").map_err(|e| match e {
        ReadError::TooLarge => "too large".to_string(),
        ReadError::Io(e) => e,
    })?;
    let mut out = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        if let Some(field) = line.split(|&b| b == b' ').nth(1) {
            out.push(PathBuf::from(OsString::from_vec(unescape_octal(field))));
        }
    }
    Ok(out)
}

/// /proc/self/mounts writes space, tab, newline and backslash as `\040`, `\011`, `\012`, `\134`.
fn unescape_octal(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\'
            && i + 3 < s.len()
            && s[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((s[i + 1] - b'0') * 64 + (s[i + 2] - b'0') * 8 + (s[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// `p` (absolute) with its longest existing prefix made canonical (links resolved) and the rest
/// kept, if that rest is plain names (a `..` in it: None; a `.` is no component): a socket that
/// is not there yet, at the place its directory really is. The resolution is the tool caches'
/// (`caches::canonical`), which keeps a rest it cannot walk up through (`..`) as it was.
fn canonical_prefix(p: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let c = crate::caches::canonical(p);
    let plain = c
        .components()
        .all(|x| matches!(x, Component::RootDir | Component::Normal(_)));
    (c.is_absolute() && plain).then_some(c)
}

/// The sockets that are named, whether they exist now or not: by a variable that names one
/// (`*_SOCK`, `*_SOCKET`, or a `unix:` address: `DOCKER_HOST=unix://…`,
/// `CONTAINER_HOST`, `DBUS_SESSION_BUS_ADDRESS`), or by a docker context (`docker context
/// create --docker host=unix://…`: `contexts/meta/*/meta.json` of `$DOCKER_CONFIG`, else
/// `~/.docker`). Their directories get views (see [`discover`]): the daemon may start during
/// the run.
fn named_sockets(sc: &Scope) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (k, v) in sc.env {
        if k.ends_with("_SOCK") || k.ends_with("_SOCKET") || v.contains("unix:") {
            env_paths(v, &mut out);
        }
    }
    let config = sc
        .var("DOCKER_CONFIG")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute())
        .unwrap_or_else(|| sc.home.join(".docker"));
    if let Ok(rd) = fs::read_dir(config.join("contexts/meta")) {
        for e in rd.flatten().take(64) {
            // Without blocking on a FIFO; regular files only.
            use std::os::unix::fs::OpenOptionsExt;
            let Ok(f) = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(e.path().join("meta.json"))
            else {
                continue;
            };
            if !f.metadata().is_ok_and(|m| m.is_file()) {
                continue;
            }
            let mut text = Vec::new();
            if f.take(64 * 1024).read_to_end(&mut text).is_err() {
                continue;
            }
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&text) else {
                continue;
            };
            if let Some(host) = v["Endpoints"]["docker"]["Host"].as_str() {
                if host.starts_with("unix:") {
                    env_paths(host, &mut out);
                }
            }
        }
    }
    out
}

/// Socket paths named by an environment value: `/path`, `unix:///path`, `unix:/path`,
/// `unix:path=/path,guid=…` (D-Bus, `;`-separated alternatives), `/path,pid,n` (tmux).
fn env_paths(v: &str, out: &mut Vec<PathBuf>) {
    if v.len() > 4096 {
        return;
    }
    for alt in v.split(';') {
        let p = alt
            .strip_prefix("unix://")
            .or_else(|| alt.strip_prefix("unix:path="))
            .or_else(|| alt.strip_prefix("unix:"))
            .unwrap_or(alt);
        let p = p.split(',').next().unwrap_or("");
        // A `:` is a list (PATH-like), not one socket.
        if p.starts_with('/') && !p.contains(':') {
            out.push(PathBuf::from(p));
        }
    }
}

/// Sockets of other network namespaces in the usual places: `/run` (4 levels), the home's
/// top level and dot-directories (2 levels), and a few deeper well-known ones.
fn walk(sc: &Scope, hidden: &[PathBuf], out: &mut Vec<PathBuf>, notes: &mut Vec<String>) {
    let mut budget = RUN_BUDGET;
    let mut scanned: Vec<PathBuf> = Vec::new();
    for d in ["/run", "/var/run"] {
        // /var/run is usually a link to /run: walk it once.
        if let Ok(c) = fs::canonicalize(d) {
            if !scanned.contains(&c) {
                find_sockets(&c, 4, hidden, &mut budget, out);
                scanned.push(c);
            }
        }
    }
    if budget == 0 {
        notes.push(format!(
            "the walk of /run for unix sockets of other network namespaces stopped after {RUN_BUDGET} entries"
        ));
    }
    let home = sc.home;
    if home == Path::new("/") {
        return;
    }
    let mut budget = HOME_BUDGET;
    if let Ok(rd) = fs::read_dir(home) {
        for ent in rd.flatten() {
            let name = ent.file_name();
            let Ok(ft) = ent.file_type() else { continue };
            if ft.is_socket() {
                out.push(ent.path());
            } else if ft.is_dir()
                && name.as_bytes().starts_with(b".")
                && !HOME_SCAN_SKIP.contains(&name.to_str().unwrap_or(""))
            {
                find_sockets(&ent.path(), 2, hidden, &mut budget, out);
            }
        }
    }
    if budget == 0 {
        notes.push(format!(
            "the walk of {}'s dot-directories for unix sockets of other network namespaces stopped after {HOME_BUDGET} entries",
            home.display()
        ));
    }
    for rel in DAEMON_SOCKETS {
        out.push(home.join(rel));
    }
}

/// Where daemons that give root-equivalent or credential access put their sockets below the
/// home, each as its tool documents it: Docker Desktop (`~/.docker/desktop/docker.sock` on
/// Linux, `~/.docker/run/docker.sock`), Colima, Rancher Desktop, Lima's default instance, the
/// 1Password SSH agent. Looked for at each start; and the directory that would hold each gets
/// its socket-proof view even when the socket is missing then ([`discover`]): such a daemon is
/// often started while a run goes on (Docker Desktop opened, `colima start`), and a socket
/// created in a directory without a view would be reachable (a Docker socket is the host's
/// root).
const DAEMON_SOCKETS: &[&str] = &[
    ".docker/run/docker.sock",
    ".docker/desktop/docker.sock",
    ".colima/default/docker.sock",
    ".rd/docker.sock",
    ".lima/default/sock/docker.sock",
    ".1password/agent.sock",
];

fn find_sockets(
    dir: &Path,
    depth: usize,
    skip: &[PathBuf],
    budget: &mut usize,
    out: &mut Vec<PathBuf>,
) {
    if skip.iter().any(|s| s == dir) {
        return;
    }
    let Ok(rd) = fs::read_dir(dir) else { return };
    for ent in rd.flatten() {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let Ok(ft) = ent.file_type() else { continue };
        if ft.is_socket() {
            out.push(ent.path());
        } else if ft.is_dir() && depth > 1 && ent.file_name() != "netns" {
            // (d_type from the directory entry: no stat per entry; symlinks are not followed.)
            find_sockets(&ent.path(), depth - 1, skip, budget, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_prefix_resolves_what_exists_and_keeps_plain_names() {
        let t = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(t.path()).unwrap();
        fs::create_dir_all(root.join("real/run")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        assert_eq!(
            canonical_prefix(&root.join("link/run/d.sock")),
            Some(root.join("real/run/d.sock"))
        );
        assert_eq!(
            canonical_prefix(&root.join("link/new/dir/d.sock")),
            Some(root.join("real/new/dir/d.sock"))
        );
        // `..` or `.` in the part that does not exist: not a place to anchor anything.
        assert_eq!(canonical_prefix(&root.join("link/new/../d.sock")), None);
        assert_eq!(
            canonical_prefix(&root.join("link/new/./d.sock")),
            Some(root.join("real/new/d.sock"))
        );
    }

    fn paths(v: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        env_paths(v, &mut out);
        out
    }

    #[test]
    fn environment_values_naming_sockets() {
        assert_eq!(
            paths("/run/user/1/ssh.sock"),
            [PathBuf::from("/run/user/1/ssh.sock")]
        );
        assert_eq!(
            paths("unix:///var/run/docker.sock"),
            [PathBuf::from("/var/run/docker.sock")]
        );
        assert_eq!(
            paths("unix:path=/run/user/1/bus,guid=abc;unix:abstract=/tmp/x"),
            [PathBuf::from("/run/user/1/bus")]
        );
        assert_eq!(
            paths("/tmp/tmux-1/default,123,0"),
            [PathBuf::from("/tmp/tmux-1/default")]
        );
        assert!(paths("/usr/bin:/bin").is_empty());
        assert!(paths("relative/sock").is_empty());
    }

    #[test]
    fn found_with_other_secrets_is_kept_only_when_every_answer_agrees() {
        let f = Found {
            asked: vec![
                Asked {
                    path: "/h/.tool".into(),
                    around: true,
                },
                Asked {
                    path: "/run/d/a.sock".into(),
                    around: false,
                },
            ],
            ..Found::default()
        };
        let early: Vec<PathBuf> = vec!["/h/.ssh".into()];
        let with = |more: &str| {
            let mut v = early.clone();
            v.push(more.into());
            v
        };
        assert!(f.same_with(&early, &early));
        // A secret found in the workspace touches nothing asked: kept.
        assert!(f.same_with(&early, &with("/h/project/.env")));
        // Inside a directory considered for a view, or holding it: asked again.
        assert!(!f.same_with(&early, &with("/h/.tool/key")));
        assert!(!f.same_with(&early, &with("/h")));
        // Holding a socket: asked again.
        assert!(!f.same_with(&early, &with("/run/d")));
        // A secret dropped by --read-secret counts as much as one added.
        assert!(!f.same_with(&with("/h/.tool/key"), &early));
    }

    #[test]
    fn diag_names() {
        let msg = |name: &[u8]| {
            let mut m = vec![0u8; 16];
            let len = 4 + name.len();
            m.extend_from_slice(&(len as u16).to_ne_bytes());
            m.extend_from_slice(&UNIX_DIAG_NAME.to_ne_bytes());
            m.extend_from_slice(name);
            m
        };
        assert_eq!(
            diag_name(&msg(b"/a/b.sock")),
            Some(OsString::from("/a/b.sock"))
        );
        assert_eq!(diag_name(&msg(b"\0abstract")), None);
        assert_eq!(
            diag_name(&msg(b"rel.sock")),
            Some(OsString::from("rel.sock"))
        );
        assert_eq!(diag_name(&[0u8; 16]), None);
        assert_eq!(diag_name(&[0u8; 3]), None);
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_octal(br"/a\040b\134c"), b"/a b\\c");
        assert_eq!(unescape_octal(br"/end\04"), br"/end\04");
    }

    #[test]
    fn the_socket_table_lists_a_listener() {
        let dir = std::env::temp_dir().join(format!("cordon-sockets-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("l.sock");
        let _ = fs::remove_file(&p);
        let _l = std::os::unix::net::UnixListener::bind(&p).unwrap();
        let names = table().ok().unwrap();
        assert!(names.iter().any(|n| Path::new(n) == p), "{names:?}");
        let names = proc_net_unix().ok().unwrap();
        assert!(names.iter().any(|n| Path::new(n) == p), "{names:?}");
        let _ = fs::remove_dir_all(&dir);
    }
}
