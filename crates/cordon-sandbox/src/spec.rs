//! `SandboxSpec`: the whole sandbox as plain data, resolved before any confining system call.
//! It can be printed (`cordon run --dry-run`), tested and diffed.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::env::{filter_env, DroppedEnv, EnvRequest};
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Nothing writable but the private /tmp.
    ReadOnly,
    /// The workspace and the extra writable roots are writable.
    WorkspaceWrite,
    /// No sandbox at all.
    DangerFullAccess,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "read-only" => Ok(Mode::ReadOnly),
            "workspace-write" => Ok(Mode::WorkspaceWrite),
            "danger-full-access" => Ok(Mode::DangerFullAccess),
            _ => Err(format!(
                "unknown mode '{s}' (expected read-only, workspace-write or danger-full-access)"
            )),
        }
    }
}

/// How the sandbox is built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Isolation {
    /// user + mount + PID + network + IPC + UTS namespaces, Landlock, seccomp.
    Namespaces,
    /// No user namespaces: Landlock + seccomp only (network refused by seccomp).
    LandlockOnly { reason: String },
    /// `--mode danger-full-access`.
    None,
}

/// Network access of the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Network {
    /// Loopback only.
    None,
    /// Loopback plus cordon's egress proxy, reachable inside at 127.0.0.1:`port`.
    Proxy { port: u16 },
    /// The host network, unfiltered.
    Full,
}

/// Resource limits applied to the command (`setrlimit`, inherited by every descendant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// RLIMIT_NPROC: processes of the user (a fork bomb stops here). Not enforced by the kernel for uid 0.
    pub nproc: u64,
    /// RLIMIT_DATA in bytes: a runaway memory hog gets ENOMEM instead of the OOM killer's attention.
    pub data_bytes: u64,
    /// RLIMIT_NOFILE.
    pub nofile: u64,
    /// RLIMIT_CORE: 0, core dumps would carry memory out of the sandbox.
    pub core_bytes: u64,
}

impl Limits {
    pub fn defaults() -> Limits {
        // Three quarters of physical memory per process: high enough for any real build, low
        // enough that one process cannot take the machine down.
        let mem = crate::sys::fs::physical_memory().unwrap_or(8 << 30);
        Limits {
            nproc: 4096,
            data_bytes: mem / 4 * 3,
            nofile: 65536,
            core_bytes: 0,
        }
    }
}

pub use crate::protected::{is_secret_file_name, Kind, Protected, HOME_SECRETS, PROTECTED};

/// A file a remembered approval is bound to, pinned to the bytes whose hash was checked: the
/// run reads exactly these (namespaces: a read-only copy mounted over the path; without them,
/// the file is read again and compared before the run). See `runs.rs` for why no other sandbox
/// can change it meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pinned {
    pub path: PathBuf,
    /// SHA-256 of `bytes` (hex), as the approval recorded it.
    pub sha256: String,
    /// Permission bits of the file when it was read.
    pub mode: u32,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// Where the run's CA files are inside the sandbox: a directory of its private /tmp, written by
/// its init and mounted read-only over itself (namespaces only; gone with the sandbox).
pub const TRUST_DIR: &str = "/tmp/.cordon-ca";

/// The variables that point TLS clients at a CA bundle (`Trust::bundle`): OpenSSL, Python's
/// requests, curl, git, pip, cargo, the AWS SDKs, Deno.
pub const BUNDLE_VARS: &[&str] = &[
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "PIP_CERT",
    "CARGO_HTTP_CAINFO",
    "AWS_CA_BUNDLE",
    "DENO_CERT",
];

/// The variables that add one CA to a client's own roots (`Trust::ca`): Node.
pub const EXTRA_CA_VARS: &[&str] = &["NODE_EXTRA_CA_CERTS"];

/// A credential the proxy adds on egress, as the spec shows it: where, which header, which
/// variable of cordon's environment holds it (the value is never here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Injected {
    pub host: String,
    pub port: u16,
    pub header: String,
    pub env: String,
}

/// The certificates the sandbox trusts when the proxy intercepts (credentials injected on
/// egress): the system's bundle plus the run's CA, and the run's CA alone. Public data: no key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trust {
    /// The bundle's path inside the sandbox (system roots + the run's CA).
    pub bundle: PathBuf,
    /// The run's CA alone, inside the sandbox.
    pub ca: PathBuf,
    /// The credentials the proxy adds (shown by `--dry-run`; never a value).
    pub credentials: Vec<Injected>,
    #[serde(skip)]
    pub bundle_pem: Vec<u8>,
    #[serde(skip)]
    pub ca_pem: Vec<u8>,
}

impl Trust {
    /// The files for `system_pem` (the system's bundle) and the run's CA `ca_pem`.
    pub fn new(system_pem: &[u8], ca_pem: &[u8]) -> Trust {
        let mut bundle_pem = system_pem.to_vec();
        if !bundle_pem.is_empty() && !bundle_pem.ends_with(b"\n") {
            bundle_pem.push(b'\n');
        }
        bundle_pem.extend_from_slice(ca_pem);
        Trust {
            bundle: Path::new(TRUST_DIR).join("ca-bundle.pem"),
            ca: Path::new(TRUST_DIR).join("run-ca.pem"),
            credentials: Vec::new(),
            bundle_pem,
            ca_pem: ca_pem.to_vec(),
        }
    }

    /// The variables pointing at the files ([`BUNDLE_VARS`], [`EXTRA_CA_VARS`]).
    pub fn env(&self) -> Vec<(String, String)> {
        let b = self.bundle.display().to_string();
        let c = self.ca.display().to_string();
        BUNDLE_VARS
            .iter()
            .map(|v| (v.to_string(), b.clone()))
            .chain(EXTRA_CA_VARS.iter().map(|v| (v.to_string(), c.clone())))
            .collect()
    }
}

/// Everything the sandbox will be, as data.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxSpec {
    pub mode: Mode,
    pub isolation: Isolation,
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub workspace: PathBuf,
    pub home: PathBuf,
    /// Canonical writable roots (the workspace first, in workspace-write mode).
    pub writable: Vec<PathBuf>,
    /// Existing secret paths (canonical) that are made unreadable.
    pub secrets: Vec<PathBuf>,
    /// Secret paths let through on purpose (`--read-secret`).
    pub secrets_allowed: Vec<PathBuf>,
    /// Read-only paths inside writable roots.
    pub protected: Vec<Protected>,
    /// Unix sockets outside the sandbox that are hidden (mounted over, unless inside a
    /// socket-proof view). See sockets.rs.
    pub hidden_sockets: Vec<PathBuf>,
    /// Directories replaced by an empty one (runtime dirs full of agent sockets).
    pub hidden_dirs: Vec<PathBuf>,
    /// Directories shown through a read-only overlay: files readable, no unix socket in them
    /// connectable, including sockets created during the run.
    pub socket_views: Vec<PathBuf>,
    #[serde(serialize_with = "env_names")]
    pub env: Vec<(String, String)>,
    pub env_dropped: Vec<DroppedEnv>,
    pub network: Network,
    pub limits: Limits,
    pub timeout_ms: Option<u64>,
    /// Notes about the workspace scan (limits reached).
    pub notes: Vec<String>,
    /// Tool caches: overlays over the host's, private directories (see `caches`).
    pub caches: crate::caches::Caches,
    /// Files pinned to approved bytes for this run (a remembered approval).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pinned: Vec<Pinned>,
    /// Files another live run has pinned, inside this run's writable roots: read-only here.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pinned_elsewhere: Vec<PathBuf>,
    /// Pinned files another live run can write (path, its pid): the pins cannot hold, and the
    /// caller must not run with them (see `runs.rs`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pin_conflicts: Vec<(PathBuf, u32)>,
    /// The run's CA files (credentials injected on egress), written by init (namespaces).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust: Option<Trust>,
    /// Git directories bind-mounted on themselves (read-write) for the run: a mount point
    /// cannot be renamed or removed, so a repository cannot be swapped for another.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pinned_dirs: Vec<PathBuf>,
    /// What the check after the run needs (the index snapshot), when something is writable.
    #[serde(skip)]
    pub guard: Option<std::sync::Arc<crate::guard::Guard>>,
    /// Findings of an earlier run's check, done now because that run ended without it.
    #[serde(skip)]
    pub recovered: Vec<crate::neutralise::Finding>,
}

/// Only the names of the environment are printed: values stay out of logs and dry runs.
fn env_names<S: serde::Serializer>(env: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(env.iter().map(|(k, _)| k))
}

/// What the caller asks for; everything is resolved into a `SandboxSpec` by `build`.
#[derive(Debug, Clone)]
pub struct Request {
    pub mode: Mode,
    pub argv: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub workspace: Option<PathBuf>,
    pub writable: Vec<PathBuf>,
    pub read_secret: Vec<PathBuf>,
    pub env: EnvRequest,
    pub network: Network,
    pub limits: Limits,
    pub timeout_ms: Option<u64>,
    /// Skip user namespaces (the fallback path), as if the kernel refused them.
    pub force_no_userns: bool,
    /// Secret and protected paths added to or removed from the built-in lists (config).
    pub paths: PathRules,
    /// The workspace's state directory (`$XDG_STATE_HOME/cordon/workspaces/<id>`), where its
    /// index lives; None: every run walks the writable roots in full and keeps nothing.
    pub state_dir: Option<PathBuf>,
    /// The most entries the writable roots may hold (default [`crate::guard::DEFAULT_SCAN_LIMIT`]):
    /// beyond it cordon refuses to run rather than leave a secret unfound.
    pub scan_limit: Option<u64>,
    /// Tool caches (overlays); the per-workspace directories come from the caller.
    pub caches: crate::caches::CacheRequest,
    /// Files pinned to approved bytes (a remembered approval); empty otherwise.
    pub pinned: Vec<Pinned>,
    /// cordon's own directories (its config: grants, approver settings, trust): kept read-only
    /// when a writable root holds them (created first if missing, so that they can be mounted
    /// over and cannot be created inside).
    pub own_dirs: Vec<PathBuf>,
    /// With the proxy: the variables that point programs at it, and (credentials injected on
    /// egress) the CA variables and the credentials' placeholders. Every `*_proxy` variable of
    /// the environment, and every variable set here, is dropped first. Empty otherwise.
    pub proxy_env: Vec<(String, String)>,
    /// The run's CA files for the sandbox to trust (with `proxy_env` pointing at them).
    pub trust: Option<Trust>,
}

/// Changes to the built-in secret and protected path lists (from the config files).
#[derive(Debug, Clone, Default)]
pub struct PathRules {
    /// Extra secret paths: absolute, or relative to each writable root (like `.env`).
    pub secrets: Vec<PathBuf>,
    /// Extra protected paths: absolute (protected when inside a writable root), or relative to
    /// each writable root. A missing one ending in `/` gets a directory placeholder.
    pub protected: Vec<PathBuf>,
    /// Entries of [`HOME_SECRETS`] not to treat as secret.
    pub remove_secrets: Vec<String>,
    /// Entries of [`PROTECTED`] not to protect.
    pub remove_protected: Vec<String>,
}

/// Resolves a request against the machine into a spec. Reads the file system (canonical paths,
/// the workspace scan) but confines nothing.
pub fn build(
    req: &Request,
    parent_env: &[(String, String)],
    probe: &crate::Probe,
) -> Result<SandboxSpec, Error> {
    let (cwd, workspace, home) = locate(req, parent_env)?;
    crate::timing("spec: paths");
    let writable = writable_roots(req, &workspace, &home)?;
    let read_secret: Vec<PathBuf> = req
        .read_secret
        .iter()
        .map(|p| fs::canonicalize(p).unwrap_or_else(|_| crate::guard::lexical(p, &cwd)))
        .collect();

    // Secrets: the home list, then secret files found in the writable roots.
    let mut secrets = home_secrets(req, &home, parent_env);
    let mut notes = Vec::new();
    let state_dir = make_state_dir(req, &mut notes);
    let scan_roots: Vec<PathBuf> = if writable.is_empty() {
        vec![workspace.clone()]
    } else {
        writable.clone()
    };
    extra_secrets(req, &scan_roots, &mut secrets);
    // From the first look at the protected paths to the end of the run, hold the user's shared
    // placeholder lock: a placeholder left by an earlier run is "existing" here, and only under
    // the lock is it sure not to be removed (by the last run of another sandbox) before it is
    // mounted. See placeholders.rs.
    let namespaces =
        req.mode != Mode::DangerFullAccess && !req.force_no_userns && probe.userns_error.is_none();
    if namespaces && !writable.is_empty() {
        crate::placeholders::hold_shared()
            .map_err(|e| Error::Setup(format!("the placeholder lock: {e}")))?;
    }
    // The writable roots (or the workspace, read-only): every secret file, at any depth, through
    // the workspace index (scan.rs); and, when writable, the repositories and agent configs to
    // keep intact. Covered secret directories are not read (nothing can be planted in them).
    let skip: Vec<PathBuf> = secrets
        .iter()
        .filter(|s| s.is_dir() && !read_secret.iter().any(|r| r.starts_with(s.as_path())))
        .cloned()
        .collect();
    let sockets_scope = |secrets| crate::sockets::Scope {
        home: &home,
        env: parent_env,
        writable: &writable,
        cwd: &cwd,
        secrets,
    };
    let early_secrets = secrets.clone();
    let (mut env, env_dropped) = command_env(req, parent_env);
    let isolation = isolation(req, probe);
    // What does not need the socket search is done before waiting for it.
    let (after_scan, early_sockets) = scan_with_sockets(
        &crate::guard::ScanInput {
            roots: &scan_roots,
            writable: !writable.is_empty(),
            state_dir: state_dir.as_deref(),
            skip: &skip,
            limit: req.scan_limit.unwrap_or(crate::guard::DEFAULT_SCAN_LIMIT),
            env: parent_env,
            remove_protected: &req.paths.remove_protected,
        },
        namespaces.then(|| sockets_scope(&early_secrets)),
        |scan| {
            let a = after_scan(req, scan?, secrets, &read_secret, &writable, &mut notes)?;
            // The caches need the final secrets and only read the file system: resolved here,
            // while the socket search (usually the longer) may still run on the other thread.
            let caches = crate::caches::for_spec(
                &req.caches,
                &crate::caches::Context {
                    home: &home,
                    workspace: &workspace,
                    writable: &writable,
                    secrets: &a.secrets,
                    parent_env,
                },
                req.mode == Mode::WorkspaceWrite,
                isolation == Isolation::Namespaces,
                &mut env,
            );
            crate::timing("spec: caches");
            Ok::<_, Error>((a, caches))
        },
    );
    let (
        AfterScan {
            secrets,
            secrets_allowed,
            mut protected,
            pin_conflicts,
            pinned_elsewhere,
            scan,
        },
        caches,
    ) = after_scan?;
    // Host unix sockets are hidden with mounts: only the sandbox with namespaces has them (the
    // fallback refuses socket() altogether).
    // Found beside the scan, with the secrets known then: kept if the final list answers each
    // question the search asked alike, else searched again (see `scan_with_sockets`).
    let found = match early_sockets {
        Some(Ok(f)) if f.same_with(&early_secrets, &secrets) => f,
        Some(_) => crate::sockets::discover(&sockets_scope(&secrets))?,
        None => crate::sockets::Found::default(),
    };
    notes.extend(found.notes);
    crate::timing("spec: sockets");

    for d in &req.own_dirs {
        protect_own_dir(d, &writable, &mut protected, &mut notes);
    }

    Ok(SandboxSpec {
        mode: req.mode,
        isolation,
        argv: req.argv.clone(),
        cwd,
        workspace,
        home,
        writable,
        secrets,
        secrets_allowed,
        protected,
        hidden_sockets: found.sockets,
        hidden_dirs: found.dirs,
        socket_views: found.views,
        env,
        env_dropped,
        network: req.network.clone(),
        limits: req.limits.clone(),
        timeout_ms: req.timeout_ms,
        notes,
        caches,
        pinned: req.pinned.clone(),
        trust: req.trust.clone(),
        pinned_elsewhere,
        pin_conflicts,
        pinned_dirs: scan.pinned,
        guard: scan.guard.map(std::sync::Arc::new),
        recovered: scan.recovered,
    })
}

/// The workspace scan, then `then` (what follows from the scan, given its result), and (with
/// `sockets`) the search for host unix sockets on a second thread meanwhile: both mostly wait on
/// the kernel. The search only knows the secrets found
/// before the scan; `build` keeps its result if the final list answers each of its questions
/// alike (`sockets::Found::same_with`), else searches again, so the spec is what a sequential
/// build gives. No thread outlives this function: the supervisor's `clone` of the sandbox,
/// later, relies on being the process's only thread.
type EarlySockets = Option<Result<crate::sockets::Found, Error>>;
fn scan_with_sockets<R>(
    inp: &crate::guard::ScanInput<'_>,
    sockets: Option<crate::sockets::Scope<'_>>,
    then: impl FnOnce(Result<crate::scan::Scan, Error>) -> R,
) -> (R, EarlySockets) {
    std::thread::scope(|s| {
        let job = sockets.map(|sc| {
            s.spawn(move || {
                let t = std::time::Instant::now();
                let r = crate::sockets::discover(&sc);
                crate::timing_note("sockets search", t);
                r
            })
        });
        let scan = crate::scan::scan(inp);
        crate::timing("spec: scan done");
        let r = then(scan);
        let early = job.map(|j| match j.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        });
        (r, early)
    })
}

/// What `build` derives from the scan while the socket search may still run.
struct AfterScan {
    secrets: Vec<PathBuf>,
    secrets_allowed: Vec<PathBuf>,
    protected: Vec<Protected>,
    pin_conflicts: PinConflicts,
    pinned_elsewhere: Vec<PathBuf>,
    /// The rest of the scan (pins, guard, recovered findings).
    scan: crate::scan::Scan,
}

/// The final secrets (the scan's added, `--read-secret` applied), this run's record among the
/// live runs, and the protected paths.
fn after_scan(
    req: &Request,
    mut scan: crate::scan::Scan,
    mut secrets: Vec<PathBuf>,
    read_secret: &[PathBuf],
    writable: &[PathBuf],
    notes: &mut Vec<String>,
) -> Result<AfterScan, Error> {
    for s in std::mem::take(&mut scan.secrets) {
        push_unique(&mut secrets, s);
    }
    notes.append(&mut scan.notes);
    let (secrets, secrets_allowed) = allow_read_secrets(secrets, read_secret);
    crate::timing("spec: secrets scanned");
    writable_outside_secrets(writable, &secrets)?;
    let (pin_conflicts, pinned_elsewhere) = live_runs(req, writable)?;
    let mut protected = protected_paths(req, writable)?;
    for p in std::mem::take(&mut scan.protected) {
        if !protected.iter().any(|x: &Protected| x.path == p.path) {
            protected.push(p);
        }
    }
    crate::timing("spec: protected");
    Ok(AfterScan {
        secrets,
        secrets_allowed,
        protected,
        pin_conflicts,
        pinned_elsewhere,
        scan,
    })
}

/// A writable root inside a secret would be covered by it: say so instead of hiding it.
fn writable_outside_secrets(writable: &[PathBuf], secrets: &[PathBuf]) -> Result<(), Error> {
    for w in writable {
        if let Some(s) = secrets.iter().find(|s| w.starts_with(s)) {
            return Err(Error::Usage(format!(
                "the writable root {} is inside the secret path {}; add --read-secret {} if you mean it",
                w.display(),
                s.display(),
                s.display()
            )));
        }
    }
    Ok(())
}

/// The command's environment (filtered as asked), with cordon's proxy variables in place of
/// the caller's; and the names dropped.
fn command_env(
    req: &Request,
    parent_env: &[(String, String)],
) -> (Vec<(String, String)>, Vec<DroppedEnv>) {
    let (mut env, env_dropped) = filter_env(parent_env, &req.env);
    if !req.proxy_env.is_empty() {
        // A credential's variable is replaced by its placeholder: never the parent's value.
        env.retain(|(k, _)| {
            !k.to_ascii_lowercase().ends_with("_proxy")
                && !req.proxy_env.iter().any(|(p, _)| p == k)
        });
        env.extend(req.proxy_env.iter().cloned());
    }
    (env, env_dropped)
}

/// The command's working directory, the workspace and the home directory, canonical.
fn locate(
    req: &Request,
    parent_env: &[(String, String)],
) -> Result<(PathBuf, PathBuf, PathBuf), Error> {
    let cwd_raw = match &req.cwd {
        Some(c) => c.clone(),
        None => std::env::current_dir()
            .map_err(|e| Error::Setup(format!("cannot read the working directory: {e}")))?,
    };
    let cwd = canonical(&cwd_raw, "--cwd")?;
    if !cwd.is_dir() {
        return Err(Error::Usage(format!(
            "--cwd {}: not a directory",
            cwd.display()
        )));
    }
    // The workspace comes from --workspace or from where cordon was started, never from the
    // command's --cwd alone widening anything: `--cwd $HOME` with no --workspace keeps the
    // workspace of the directory cordon runs in (CVE-2025-59532 was the opposite).
    let workspace = match &req.workspace {
        Some(w) => canonical(w, "--workspace")?,
        None => {
            let here = std::env::current_dir()
                .map_err(|e| Error::Setup(format!("cannot read the working directory: {e}")))?;
            let here = canonical(&here, "the working directory")?;
            git_toplevel(&here).unwrap_or(here)
        }
    };
    let home = parent_env
        .iter()
        .find(|(k, _)| k == "HOME")
        .map(|(_, v)| PathBuf::from(v))
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from("/"));
    let home = fs::canonicalize(&home).unwrap_or(home);
    Ok((cwd, workspace, home))
}

/// The writable roots: the workspace, then `--writable` (workspace-write mode only).
fn writable_roots(req: &Request, workspace: &Path, home: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut writable = Vec::new();
    if req.mode == Mode::WorkspaceWrite {
        // A workspace that holds the home directory (cordon started in ~ or / outside any git
        // repository) would make shell rc files and tool configs writable: not by accident.
        if req.workspace.is_none() && home.starts_with(workspace) {
            return Err(Error::Usage(format!(
                "the workspace would be {} (no git repository above the working directory), which holds your home directory; \
                 cd into a project, or pass --workspace DIR (or --mode read-only)",
                workspace.display()
            )));
        }
        writable.push(workspace.to_path_buf());
        for w in &req.writable {
            let c = canonical(w, "--writable")?;
            if c == Path::new("/") {
                return Err(Error::Usage(
                    "--writable /: the whole machine cannot be a writable root; use --mode danger-full-access if you mean it".into(),
                ));
            }
            if !writable.contains(&c) {
                writable.push(c);
            }
        }
    } else if !req.writable.is_empty() && req.mode == Mode::ReadOnly {
        return Err(Error::Usage(
            "--writable has no effect with --mode read-only".into(),
        ));
    }
    Ok(writable)
}

/// The built-in secrets under the home directory that exist (minus `remove_secrets`), and the
/// credential files of tool homes moved by a variable (CARGO_HOME, GRADLE_USER_HOME).
fn home_secrets(req: &Request, home: &Path, parent_env: &[(String, String)]) -> Vec<PathBuf> {
    let mut secrets = Vec::new();
    for rel in HOME_SECRETS {
        if req.paths.remove_secrets.iter().any(|r| r == rel) {
            continue;
        }
        if let Some(c) = canonical_if_present(&home.join(rel)) {
            push_unique(&mut secrets, c);
        }
    }
    for p in crate::caches::moved_secrets(home, parent_env) {
        if let Some(c) = canonical_if_present(&p) {
            push_unique(&mut secrets, c);
        }
    }
    secrets
}

/// The canonical path of `p` if something is there (a dangling symlink is nothing). Same as
/// `fs::canonicalize(p).ok()`, but a missing path costs one `lstat` instead of a `readlink` per
/// component: most of the secrets cordon looks for at each start do not exist.
fn canonical_if_present(p: &Path) -> Option<PathBuf> {
    fs::symlink_metadata(p).ok()?;
    fs::canonicalize(p).ok()
}

/// The workspace's state directory, created (0700) before the secrets are resolved: it is one
/// of them (the caller hides cordon's state directory), and a missing path cannot be covered.
/// It is a cache (and the record of a run in progress): without it, every run reads the whole
/// workspace, which is slower, not weaker (a note says so).
fn make_state_dir(req: &Request, notes: &mut Vec<String>) -> Option<PathBuf> {
    let d = req.state_dir.as_ref()?;
    use std::os::unix::fs::DirBuilderExt;
    if let Err(e) = fs::DirBuilder::new().recursive(true).mode(0o700).create(d) {
        notes.push(format!(
            "cannot create the workspace's state directory {} ({e}): every run reads the whole workspace",
            d.display()
        ));
        return None;
    }
    Some(d.clone())
}

/// The configured extra secrets that exist: absolute, or relative to each scanned root.
fn extra_secrets(req: &Request, scan_roots: &[PathBuf], secrets: &mut Vec<PathBuf>) {
    for extra in &req.paths.secrets {
        let candidates: Vec<PathBuf> = if extra.is_absolute() {
            vec![extra.clone()]
        } else {
            scan_roots.iter().map(|r| r.join(extra)).collect()
        };
        for p in candidates {
            if let Ok(c) = fs::canonicalize(&p) {
                push_unique(secrets, c);
            }
        }
    }
}

/// `--read-secret`: an exact secret is dropped from the list; a path inside a secret directory
/// splits that directory into its entries, so that only the named path comes through. Returns
/// the secrets to cover and the ones allowed.
fn allow_read_secrets(
    mut secrets: Vec<PathBuf>,
    read_secret: &[PathBuf],
) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut secrets_allowed = Vec::new();
    for allow in read_secret {
        let mut next = Vec::new();
        for s in secrets.drain(..) {
            if &s == allow {
                secrets_allowed.push(s);
            } else if allow.starts_with(&s) {
                secrets_allowed.push(allow.clone());
                split_secret(&s, allow, &mut next);
            } else {
                next.push(s);
            }
        }
        secrets = next;
    }
    // A secret inside another is covered with it (~/.ssh/id_rsa, found by the scan of a
    // workspace that holds the home, inside ~/.ssh); mounting over it too would fail once the
    // outer cover hides it.
    let all = secrets.clone();
    secrets.retain(|s| !all.iter().any(|o| o != s && s.starts_with(o)));
    (secrets, secrets_allowed)
}

/// Files this run pins that another live run can write, with that run's pid.
type PinConflicts = Vec<(PathBuf, u32)>;

/// This run's record among the user's live runs (runs.rs): published before the others are
/// read. Pins another run could change are conflicts; files others pinned are read-only here.
/// Returns (pin conflicts, files pinned elsewhere).
fn live_runs(req: &Request, writable: &[PathBuf]) -> Result<(PinConflicts, Vec<PathBuf>), Error> {
    let can_write = if req.mode == Mode::DangerFullAccess {
        vec![PathBuf::from("/")]
    } else {
        writable.to_vec()
    };
    let pin_paths: Vec<PathBuf> = req.pinned.iter().map(|p| p.path.clone()).collect();
    let live = crate::runs::publish(&can_write, &pin_paths)
        .map_err(|e| Error::Setup(format!("the record of live runs: {e}")))?;
    let mut pin_conflicts = Vec::new();
    let mut pinned_elsewhere = Vec::new();
    for r in &live {
        for p in &pin_paths {
            if r.writable.iter().any(|w| p.starts_with(w)) {
                pin_conflicts.push((p.clone(), r.pid));
            }
        }
        for q in &r.pinned {
            if writable.iter().any(|w| q.starts_with(w)) && !pin_paths.contains(q) {
                push_unique(&mut pinned_elsewhere, q.clone());
            }
        }
    }
    Ok((pin_conflicts, pinned_elsewhere))
}

/// The protected paths of each writable root: the built-in ones (minus `remove_protected`),
/// then the configured ones that lie inside it.
fn protected_paths(req: &Request, writable: &[PathBuf]) -> Result<Vec<Protected>, Error> {
    let mut protected = Vec::new();
    let extra: Vec<(PathBuf, Kind)> = req
        .paths
        .protected
        .iter()
        .map(|p| {
            let dir = p.as_os_str().as_encoded_bytes().ends_with(b"/");
            let clean: PathBuf = p.components().collect();
            (clean, if dir { Kind::Dir } else { Kind::File })
        })
        .collect();
    for root in writable {
        let builtin = PROTECTED
            .iter()
            .filter(|(rel, _)| !req.paths.remove_protected.iter().any(|r| r == rel))
            .map(|(rel, kind)| (PathBuf::from(rel), *kind));
        // Only what lies inside this root: outside the roots everything is read-only anyway.
        let extra = extra.iter().filter_map(|(p, kind)| {
            let a = crate::guard::lexical(p, root);
            let rel = a.strip_prefix(root).ok()?.to_path_buf();
            (!rel.as_os_str().is_empty()).then_some((rel, *kind))
        });
        for (rel, kind) in builtin.chain(extra) {
            let path = root.join(&rel);
            if protected.iter().any(|p: &Protected| p.path == path) {
                continue;
            }
            // .git may be a file (worktrees, submodules: "gitdir: ..."); then the file itself is
            // protected so that it cannot be pointed elsewhere, and nothing below it exists.
            if rel.starts_with(".git/") && !git_dir_entry(root, &mut protected)? {
                continue;
            }
            protected.push(protected_entry(path, &rel, kind)?);
        }
    }
    Ok(protected)
}

/// For a built-in entry under `.git/`: whether `.git` is a directory (then the entry itself is
/// protected). Otherwise `.git` stands for it: a `.git` file (worktrees, submodules) is
/// protected itself, a missing one as a whole (so that none can be planted); a symlink is
/// refused.
fn git_dir_entry(root: &Path, protected: &mut Vec<Protected>) -> Result<bool, Error> {
    let g = root.join(".git");
    let (kind, exists) = match fs::symlink_metadata(&g) {
        Ok(m) if m.is_file() => (Kind::File, true),
        Ok(m) if m.is_dir() => return Ok(true),
        Ok(m) if m.file_type().is_symlink() => {
            let target = fs::read_link(&g)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            return Err(Error::Usage(format!(
                "{} is a symlink (to {target}): git never makes one, and cordon cannot keep a repository \
                 behind a link intact (the link can be pointed elsewhere). If a command replaced the real \
                 .git (an earlier sandboxed run, before cordon pinned it), put it back: rm {}/.git, then \
                 mv the real git directory (the one holding HEAD, objects/ and refs/) to {}/.git. \
                 'cordon repair' lists what cordon moved aside",
                g.display(),
                root.display(),
                root.display()
            )));
        }
        // No repository: protect `.git` as a whole so that none can be planted.
        _ => (Kind::Dir, false),
    };
    if !protected.iter().any(|p: &Protected| p.path == g) {
        protected.push(Protected {
            path: g,
            kind,
            exists,
        });
    }
    Ok(false)
}

/// One protected path: its kind as found, or as listed (with a placeholder) when missing. A
/// symlink is refused: a mount would land on the link's target and leave the link itself
/// replaceable.
fn protected_entry(path: PathBuf, rel: &Path, kind: Kind) -> Result<Protected, Error> {
    match fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => {
            let target = fs::read_link(&path)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            Err(Error::Usage(format!(
                "the protected path {} is a symlink (to {target}): a read-only mount would land on the link's \
                 target and leave the link itself replaceable. Replace the link with the real directory or \
                 file (rm {p}; cp -a {target} {p}), or if you do not need it protected, add \"{}\" to \
                 remove_protected under [filesystem] in ~/.config/cordon/config.toml",
                path.display(),
                rel.display(),
                p = path.display(),
            )))
        }
        Ok(m) => {
            let k = if m.is_dir() { Kind::Dir } else { Kind::File };
            Ok(Protected {
                path,
                kind: k,
                exists: true,
            })
        }
        Err(_) => Ok(Protected {
            path,
            kind,
            exists: false,
        }),
    }
}

/// Without namespaces when asked (danger-full-access, CORDON_NO_USERNS) or when the kernel
/// refuses them (the probe's reason): Landlock alone.
fn isolation(req: &Request, probe: &crate::Probe) -> Isolation {
    if req.mode == Mode::DangerFullAccess {
        Isolation::None
    } else if req.force_no_userns {
        Isolation::LandlockOnly {
            reason: "CORDON_NO_USERNS is set".into(),
        }
    } else if let Some(why) = &probe.userns_error {
        Isolation::LandlockOnly {
            reason: why.clone(),
        }
    } else {
        Isolation::Namespaces
    }
}

/// Keeps cordon's own directory `dir` read-only inside the sandbox when a writable root holds it
/// (`--workspace ~`, `--writable ~/.config`): created if missing (mode 0700), then protected.
fn protect_own_dir(
    dir: &Path,
    writable: &[PathBuf],
    protected: &mut Vec<Protected>,
    notes: &mut Vec<String>,
) {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return;
    };
    let parent = fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
    let canon = parent.join(name);
    if !writable.iter().any(|w| canon.starts_with(w)) {
        return;
    }
    // It must exist to be mounted over (and so that it cannot be created inside).
    let _ = {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&canon)
    };
    if let Ok(m) = fs::symlink_metadata(&canon) {
        if m.file_type().is_symlink() {
            notes.push(format!(
                "{} is a symlink; cordon protects where it points",
                canon.display()
            ));
        }
    }
    let canon = fs::canonicalize(&canon).unwrap_or(canon);
    if !protected.iter().any(|p| p.path == canon) {
        protected.push(Protected {
            path: canon,
            kind: Kind::Dir,
            exists: true,
        });
    }
}

/// Without namespaces there is no copy to mount: the pinned files are read again, through a
/// handle, and must still hold exactly the approved bytes (no other sandbox can change them
/// from here on: see `runs.rs`). The error names the file that changed.
pub fn verify_pinned(spec: &SandboxSpec) -> Result<(), crate::Error> {
    for p in &spec.pinned {
        let now = crate::files::read_pinned(&spec.workspace, &p.path).map_err(|e| {
            crate::Error::Refused(format!("cannot read {} again: {e}", p.path.display()))
        })?;
        if now.as_ref().map(|f| &f.bytes) != Some(&p.bytes) {
            return Err(crate::Error::Refused(format!(
                "{} changed after it was approved (the approval is bound to its content); not run. Run the command again to be asked about it as it is now",
                p.path.display()
            )));
        }
    }
    Ok(())
}

/// Replaces the secret directory `dir` by its entries, minus the way to `allow` (which lies below it).
fn split_secret(dir: &Path, allow: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for ent in rd.flatten() {
        let p = ent.path();
        if p.as_path() == allow {
            continue;
        }
        if allow.starts_with(&p) {
            split_secret(&p, allow, out);
        } else {
            push_unique(out, p);
        }
    }
}

fn push_unique(v: &mut Vec<PathBuf>, p: PathBuf) {
    if !v.contains(&p) {
        v.push(p);
    }
}

fn canonical(p: &Path, what: &str) -> Result<PathBuf, Error> {
    fs::canonicalize(p).map_err(|e| Error::Usage(format!("{what} {}: {e}", p.display())))
}

/// The top of the git work tree containing `dir` (walks up looking for `.git`; no git process).
pub fn git_toplevel(dir: &Path) -> Option<PathBuf> {
    let mut d = Some(dir);
    while let Some(p) = d {
        if fs::symlink_metadata(p.join(".git")).is_ok() {
            return Some(p.to_path_buf());
        }
        d = p.parent();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_file_names() {
        for n in [
            ".env",
            ".env.local",
            ".env.production",
            "server.pem",
            "tls.key",
            "id_rsa",
            "id_ed25519",
        ] {
            assert!(is_secret_file_name(n), "{n}");
        }
        for n in [
            ".env.example",
            ".env.sample",
            "id_rsa.pub",
            "README.md",
            "env",
            "keys.rs",
            "id_",
        ] {
            assert!(!is_secret_file_name(n), "{n}");
        }
    }

    #[test]
    fn absolute_is_lexical() {
        assert_eq!(
            crate::guard::lexical(Path::new("a/../b/./c"), Path::new("/x")),
            PathBuf::from("/x/b/c")
        );
        assert_eq!(
            crate::guard::lexical(Path::new("../../.."), Path::new("/x")),
            PathBuf::from("/")
        );
    }
}
