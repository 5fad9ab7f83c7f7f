//! cordon-config: the layered configuration, project trust and managed policy.
//!
//! One TOML schema for every layer; later layers override earlier ones:
//! built-in → system (`/etc/cordon/config.toml`) → user (`$XDG_CONFIG_HOME/cordon/config.toml`)
//! → project (`<workspace>/.cordon/config.toml`: in full only when trusted, else only what
//! tightens) → environment (`CORDON_*`) → flags → managed (`/etc/cordon/managed.toml`, last,
//! tighten-only). Every effective value carries its [`Origin`] (file and line, flag, variable).
//! A broken file is an error, never a silent fallback to defaults.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use cordon_net::DomainPattern;
use cordon_policy::{Loosening, Source};
use cordon_sandbox::spec::{Limits, Mode, HOME_SECRETS, PROTECTED};

pub mod grants;
mod profiles;
mod schema;
use profiles::ProfileDef;
pub use profiles::{ProfileInfo, BUILTIN as BUILTIN_PROFILES};
mod show;
pub mod store;
mod trust;
pub mod units;

use schema::{expand_home, Doc, FileToml, S};
pub use trust::{snapshot, Snapshot, TrustRecord, TrustState, TrustStore};

/// A configuration error, already worded for the user (`cordon: ` is added by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl ConfigError {
    pub fn new(s: impl Into<String>) -> ConfigError {
        ConfigError(s.into())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Where a layer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    Builtin,
    System,
    User,
    Project,
    /// `cordon run --profile NAME`: a built-in profile or a `[profile.NAME]` table.
    Profile,
    Env,
    Flag,
    /// Access granted by an approval (`--escalate`, answered yes).
    Approval,
    Managed,
}

/// Where one effective value was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub layer: Layer,
    /// The file, for file layers.
    pub file: Option<PathBuf>,
    /// 1-based line in `file`.
    pub line: usize,
    /// The flag (`--mode`) or variable (`CORDON_MODE`), for those layers.
    pub what: Option<String>,
}

impl Origin {
    pub fn builtin() -> Origin {
        Origin {
            layer: Layer::Builtin,
            file: None,
            line: 0,
            what: None,
        }
    }
    pub fn flag(name: &str) -> Origin {
        Origin {
            layer: Layer::Flag,
            file: None,
            line: 0,
            what: Some(name.to_string()),
        }
    }
    pub fn env(name: &str) -> Origin {
        Origin {
            layer: Layer::Env,
            file: None,
            line: 0,
            what: Some(name.to_string()),
        }
    }
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Builtin => "built-in",
            Layer::System => "system",
            Layer::User => "user",
            Layer::Project => "project",
            Layer::Profile => "profile",
            Layer::Env => "env",
            Layer::Flag => "flag",
            Layer::Approval => "approval",
            Layer::Managed => "managed",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, &self.what, self.layer) {
            (Some(p), _, _) => write!(f, "{}:{}", p.display(), self.line),
            (None, Some(w), Layer::Env) => write!(f, "env {w}"),
            (None, Some(w), Layer::Approval) => write!(f, "approval {w}"),
            (None, Some(w), _) => write!(f, "flag {w}"),
            (None, None, _) => f.write_str("built-in"),
        }
    }
}

/// A value and where it was set.
#[derive(Debug, Clone)]
pub struct Val<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Val<T> {
    fn new(value: T, origin: Origin) -> Val<T> {
        Val { value, origin }
    }
}

/// When a person is asked (consumed by the approvals part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    Untrusted,
    OnRequest,
    OnFailure,
    Never,
}

impl Approval {
    pub const NAMES: &'static [&'static str] = &["untrusted", "on-request", "on-failure", "never"];
    pub fn as_str(self) -> &'static str {
        match self {
            Approval::Untrusted => "untrusted",
            Approval::OnRequest => "on-request",
            Approval::OnFailure => "on-failure",
            Approval::Never => "never",
        }
    }
}

impl std::str::FromStr for Approval {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "untrusted" => Ok(Approval::Untrusted),
            "on-request" => Ok(Approval::OnRequest),
            "on-failure" => Ok(Approval::OnFailure),
            "never" => Ok(Approval::Never),
            _ => Err(format!(
                "unknown approval mode '{s}' (expected untrusted, on-request, on-failure or never)"
            )),
        }
    }
}

/// `network.mode`: no host network (loopback, plus the proxy when domains are allowed) or the
/// host network unfiltered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetMode {
    None,
    Full,
}

impl NetMode {
    pub fn as_str(self) -> &'static str {
        match self {
            NetMode::None => "none",
            NetMode::Full => "full",
        }
    }
}

pub fn mode_str(m: Mode) -> &'static str {
    match m {
        Mode::ReadOnly => "read-only",
        Mode::WorkspaceWrite => "workspace-write",
        Mode::DangerFullAccess => "danger-full-access",
    }
}

fn mode_rank(m: Mode) -> u8 {
    match m {
        Mode::ReadOnly => 0,
        Mode::WorkspaceWrite => 1,
        Mode::DangerFullAccess => 2,
    }
}

/// Where the layers live.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `/etc/cordon` (system config and managed file).
    pub etc_dir: PathBuf,
    /// `$XDG_CONFIG_HOME/cordon` (user config, trust store, grants).
    pub config_dir: PathBuf,
    pub home: PathBuf,
    /// See [`Paths::state_dir`].
    pub state_dir: PathBuf,
}

impl Paths {
    /// From the environment. `/etc/cordon` cannot be moved by whoever runs cordon (an agent
    /// could otherwise point the managed file at an empty one), except in debug builds, where
    /// `CORDON_ETC_DIR` moves it for tests.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Paths {
        let home = var("HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| PathBuf::from("/"));
        let config_dir = var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| home.join(".config"))
            .join("cordon");
        let state_dir = var("XDG_STATE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| home.join(".local").join("state"))
            .join("cordon");
        #[allow(unused_mut)]
        let mut etc_dir = PathBuf::from("/etc/cordon");
        #[cfg(debug_assertions)]
        if let Some(d) = var("CORDON_ETC_DIR").filter(|d| Path::new(d).is_absolute()) {
            etc_dir = PathBuf::from(d);
        }
        Paths {
            etc_dir,
            config_dir,
            home,
            state_dir,
        }
    }

    pub fn system_file(&self) -> PathBuf {
        self.etc_dir.join("config.toml")
    }
    /// cordon's state directory: `$XDG_STATE_HOME/cordon`, else `~/.local/state/cordon` (the
    /// audit log's default is `audit/` there; per-workspace state in `workspaces/`).
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir.clone()
    }
    /// The state of one workspace: `state_dir/workspaces/<id>`, `<id>` the first 16 hex digits
    /// of the SHA-256 of the workspace's canonical path (pass it canonical).
    pub fn workspace_state_dir(&self, workspace: &Path) -> PathBuf {
        use sha2::Digest;
        let h = sha2::Sha256::digest(workspace.as_os_str().as_encoded_bytes());
        self.state_dir
            .join("workspaces")
            .join(&grants::hex(&h)[..16])
    }
    pub fn user_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }
    pub fn managed_file(&self) -> PathBuf {
        self.etc_dir.join("managed.toml")
    }
}

/// What the command line says (`None`/empty: not given).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub mode: Option<Mode>,
    pub approval: Option<Approval>,
    pub writable: Vec<PathBuf>,
    pub read_secret: Vec<PathBuf>,
    pub env: Vec<String>,
    pub secret_env: Vec<String>,
    pub timeout_ms: Option<u64>,
    pub nproc: Option<u64>,
    pub memory: Option<u64>,
    pub nofile: Option<u64>,
    pub allow_domain: Vec<DomainPattern>,
    pub deny_domain: Vec<DomainPattern>,
    pub allow_local: bool,
    pub resolve: Vec<(String, IpAddr)>,
    pub network: Option<NetMode>,
    pub policy: Vec<PathBuf>,
    pub no_policy: bool,
    /// `--profile NAME`.
    pub profile: Option<String>,
}

/// Access granted by an approval (`--escalate KIND:VALUE` answered yes): one more layer after
/// the flags, never an edit of them ([`Config::grant`]); the managed file still has the last
/// word on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Granted {
    /// `write:PATH`
    pub writable: Vec<PathBuf>,
    /// `secret:PATH`
    pub read_secret: Vec<PathBuf>,
    /// `domain:PATTERN`
    pub allow_domain: Vec<DomainPattern>,
    /// `env:NAME`: passed through, even when its value looks like a secret.
    pub env: Vec<String>,
}

impl Granted {
    pub fn is_empty(&self) -> bool {
        *self == Granted::default()
    }
}

/// Rules loaded from one place, with where they came from.
#[derive(Debug, Clone)]
pub struct PolicyEntry {
    /// "inline rules", or the file's path.
    pub what: String,
    pub source: Source,
}

/// What the managed file imposes, beyond the values it tightens.
#[derive(Debug, Clone, Default)]
pub struct Managed {
    /// The managed file, when there is one.
    pub file: Option<PathBuf>,
    pub allowed_modes: Option<Val<Vec<Mode>>>,
    pub allowed_approvals: Option<Val<Vec<Approval>>>,
    pub never_allow_domains: Vec<Val<DomainPattern>>,
    /// Set (with where) when `--network full` is forbidden.
    pub forbid_network_full: Option<Origin>,
    pub forbid_allow_local: Option<Origin>,
    pub forbid_read_secret: Option<Origin>,
    pub require_policy: Option<Origin>,
}

/// The project (the workspace root) and its trust.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    /// `.cordon/config.toml`, when it exists.
    pub config: Option<PathBuf>,
    pub state: TrustState,
}

/// The effective configuration: every value with its origin.
#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Val<Mode>,
    pub approval: Val<Approval>,
    pub approver: Option<Val<Vec<String>>>,
    /// How long the approver may take before its silence counts as deny (ms).
    pub approver_timeout_ms: Option<Val<u64>>,
    pub writable: Vec<Val<PathBuf>>,
    pub read_secret: Vec<Val<PathBuf>>,
    pub secrets: Vec<Val<PathBuf>>,
    pub protected: Vec<Val<PathBuf>>,
    pub remove_secrets: Vec<Val<String>>,
    pub remove_protected: Vec<Val<String>>,
    pub env_pass: Vec<Val<String>>,
    pub env_secret: Vec<Val<String>>,
    pub network: Val<NetMode>,
    pub allow_domains: Vec<Val<DomainPattern>>,
    pub deny_domains: Vec<Val<DomainPattern>>,
    pub allow_local: Val<bool>,
    pub resolve: Vec<Val<(String, IpAddr)>>,
    pub nproc: Val<u64>,
    pub memory: Val<u64>,
    pub nofile: Val<u64>,
    pub timeout_ms: Option<Val<u64>>,
    /// Rule sources, in evaluation order (after the built-in rules).
    pub policy: Vec<PolicyEntry>,
    pub no_policy: Val<bool>,
    pub audit_dir: Option<Val<PathBuf>>,
    /// `[hook] context`: agents' hooks give the model a few lines about the sandbox at session
    /// start (default true).
    pub hook_context: Val<bool>,
    /// `[hook] unknown_tool`: what a hook answers for a tool cordon does not know (default ask).
    pub hook_unknown_tool: Val<cordon_policy::Decision>,
    /// `[caches] enabled`.
    pub caches_enabled: Val<bool>,
    /// `[caches] remove`: known caches (or families) not to overlay.
    pub caches_remove: Vec<Val<String>>,
    /// `[caches] add`.
    pub caches_add: Vec<Val<cordon_sandbox::caches::Extra>>,
    pub managed: Managed,
    pub project: Project,
    /// Settings of an untrusted project (or a project's approver, audit dir, removals) that
    /// were not applied, one description each.
    pub ignored: Vec<String>,
    /// The files read, by layer.
    pub files: Vec<(Layer, PathBuf)>,
    /// The profile applied (`--profile`), and where it is defined.
    pub profile: Option<Val<String>>,
    /// `[profile.NAME]` tables read from the system, user and trusted project files, in layer
    /// order (the last definition of a name wins over earlier ones and over a built-in).
    profile_defs: Vec<ProfileDef>,
}

/// How a file layer may act.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum How {
    /// System and user: anything.
    Full,
    /// A trusted project: anything but the approver, the audit dir and removals of built-in
    /// secret/protected paths.
    Trusted,
    /// An untrusted project: only what tightens; the rest is reported as ignored.
    Untrusted,
    /// The managed file: only what tightens; anything else is an error.
    Managed,
}

/// Inputs of [`load`].
pub struct LoadInput<'a> {
    pub paths: &'a Paths,
    /// The canonical workspace root (its `.cordon/config.toml` is the project layer).
    pub workspace: &'a Path,
    /// `CORDON_*` variables are read through this.
    pub var: &'a dyn Fn(&str) -> Option<String>,
    pub flags: &'a Flags,
}

/// Builds the effective configuration from every layer.
pub fn load(input: &LoadInput) -> Result<Config, ConfigError> {
    let paths = input.paths;
    let mut cfg = Config::builtin(input.workspace);
    let trust = TrustStore::load(&paths.config_dir)?;

    for (layer, path) in [
        (Layer::System, paths.system_file()),
        (Layer::User, paths.user_file()),
    ] {
        if let Some(text) = schema::read_optional(&path)? {
            cfg.apply_file(&path, &text, layer, How::Full, None, paths)?;
        }
    }

    // The project: its config applies in full only when trusted, and what is read is what was
    // hashed (no window between the check and the use).
    let (state, snap) = trust.state(input.workspace);
    let pfile = input.workspace.join(".cordon").join("config.toml");
    let ptext = match &snap {
        Some(s) => s
            .files
            .get(Path::new("config.toml"))
            .map(|b| String::from_utf8(b.clone()))
            .transpose()
            .map_err(|_| {
                ConfigError::new(format!(
                    "config {}: not valid UTF-8; save it as UTF-8 text",
                    pfile.display()
                ))
            })?,
        // Not hashable (a symlink somewhere): read it anyway, but only to tighten.
        None if matches!(state, TrustState::Unhashable(_)) => {
            if std::fs::symlink_metadata(&pfile).is_ok_and(|m| m.is_file()) {
                schema::read_optional(&pfile)?
            } else {
                None
            }
        }
        None => None,
    };
    cfg.project = Project {
        root: input.workspace.to_path_buf(),
        config: ptext.as_ref().map(|_| pfile.clone()),
        state: state.clone(),
    };
    if let Some(text) = &ptext {
        let how = if state == TrustState::Trusted {
            How::Trusted
        } else {
            How::Untrusted
        };
        cfg.apply_file(&pfile, text, Layer::Project, how, snap.as_ref(), paths)?;
    }

    if let Some(name) = &input.flags.profile {
        cfg.apply_profile(name, paths)?;
    }

    cfg.apply_env(input.var)?;
    cfg.apply_flags(input.flags)?;

    let mpath = paths.managed_file();
    if let Some(text) = schema::read_optional(&mpath)? {
        cfg.managed.file = Some(mpath.clone());
        cfg.apply_file(&mpath, &text, Layer::Managed, How::Managed, None, paths)?;
    }
    cfg.enforce_managed()?;
    Ok(cfg)
}

impl Config {
    fn builtin(workspace: &Path) -> Config {
        let b = Origin::builtin;
        let l = Limits::defaults();
        Config {
            mode: Val::new(Mode::WorkspaceWrite, b()),
            approval: Val::new(Approval::OnRequest, b()),
            approver: None,
            approver_timeout_ms: None,
            writable: Vec::new(),
            read_secret: Vec::new(),
            secrets: Vec::new(),
            protected: Vec::new(),
            remove_secrets: Vec::new(),
            remove_protected: Vec::new(),
            env_pass: Vec::new(),
            env_secret: Vec::new(),
            network: Val::new(NetMode::None, b()),
            allow_domains: Vec::new(),
            deny_domains: Vec::new(),
            allow_local: Val::new(false, b()),
            resolve: Vec::new(),
            nproc: Val::new(l.nproc, b()),
            memory: Val::new(l.data_bytes, b()),
            nofile: Val::new(l.nofile, b()),
            timeout_ms: None,
            policy: Vec::new(),
            no_policy: Val::new(false, b()),
            audit_dir: None,
            hook_context: Val::new(true, b()),
            hook_unknown_tool: Val::new(cordon_policy::Decision::Ask, b()),
            caches_enabled: Val::new(true, b()),
            caches_remove: Vec::new(),
            caches_add: Vec::new(),
            managed: Managed::default(),
            project: Project {
                root: workspace.to_path_buf(),
                config: None,
                state: TrustState::NoConfig,
            },
            ignored: Vec::new(),
            files: Vec::new(),
            profile: None,
            profile_defs: Vec::new(),
        }
    }

    /// The sandbox limits, as the sandbox wants them.
    pub fn limits(&self) -> Limits {
        Limits {
            nproc: self.nproc.value,
            data_bytes: self.memory.value,
            nofile: self.nofile.value,
            core_bytes: 0,
        }
    }

    /// Loads the command policy: the built-in rules, then every source in order. `None` when
    /// the policy is skipped (`--no-policy`). What an untrusted project's rules would have
    /// loosened is added to [`Config::ignored`].
    pub fn load_policy(&mut self) -> Result<Option<cordon_policy::Policy>, ConfigError> {
        match self.policy_sources() {
            None => Ok(None),
            Some(sources) => self
                .policy_loaded(cordon_policy::Policy::load_sources(&sources))
                .map(Some),
        }
    }

    /// The policy's sources in order, or None under `no_policy`.
    fn policy_sources(&self) -> Option<Vec<Source>> {
        (!self.no_policy.value).then(|| self.policy.iter().map(|e| e.source.clone()).collect())
    }

    /// Takes the result of `Policy::load_sources` over `policy_sources()`.
    fn policy_loaded(
        &mut self,
        loaded: Result<(cordon_policy::Policy, Vec<String>), cordon_policy::PolicyError>,
    ) -> Result<cordon_policy::Policy, ConfigError> {
        match loaded {
            Ok((p, dropped)) => {
                self.ignored.extend(dropped);
                Ok(p)
            }
            Err(e) => Err(ConfigError::new(format!(
                "bad policy: {e}; fix the rule (`cordon policy test FILE` checks a policy file)"
            ))),
        }
    }

    /// One line for stderr about what an untrusted project could not set, if anything.
    pub fn ignored_line(&self) -> Option<String> {
        if self.ignored.is_empty() && self.project.state != TrustState::Changed {
            return None;
        }
        let why = match &self.project.state {
            TrustState::Trusted => "is trusted, but a project cannot set these".to_string(),
            TrustState::Changed => {
                "changed since you trusted it, so only what tightens applies".to_string()
            }
            TrustState::Unhashable(e) => {
                format!("cannot be trusted ({e}), so only what tightens applies")
            }
            _ => "is not trusted, so only what tightens applies".to_string(),
        };
        let fix = if self.project.state == TrustState::Trusted {
            "set them in your user config instead".to_string()
        } else {
            format!(
                "review it, then run 'cordon trust {}'",
                self.project.root.display()
            )
        };
        Some(format!(
            "{} {why}; ignored: {}; {fix}",
            self.project
                .config
                .as_deref()
                .unwrap_or(&self.project.root.join(".cordon"))
                .display(),
            if self.ignored.is_empty() {
                "nothing".to_string()
            } else {
                // "network.allow (2)" rather than the key twice.
                let mut seen: Vec<(&str, usize)> = Vec::new();
                for k in &self.ignored {
                    match seen.iter_mut().find(|(s, _)| s == k) {
                        Some((_, n)) => *n += 1,
                        None => seen.push((k, 1)),
                    }
                }
                seen.iter()
                    .map(|(k, n)| {
                        if *n > 1 {
                            format!("{k} ({n})")
                        } else {
                            k.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ))
    }

    fn apply_file(
        &mut self,
        path: &Path,
        text: &str,
        layer: Layer,
        how: How,
        snap: Option<&Snapshot>,
        paths: &Paths,
    ) -> Result<(), ConfigError> {
        let doc = Doc { path, text };
        let f = doc.parse()?;
        self.files.push((layer, path.to_path_buf()));
        for (name, t) in &f.profile {
            profiles::check_name(&doc, name, t)?;
            match how {
                How::Full | How::Trusted => self.profile_defs.push(ProfileDef {
                    name: name.clone(),
                    path: path.to_path_buf(),
                    text: text.to_string(),
                    line: doc.line_col(t.span().start).0,
                }),
                How::Untrusted => self.ignored.push(format!("profile.{name}")),
                How::Managed => {
                    return Err(doc.err_at(
                        t,
                        "a [profile] table in the managed file",
                        "profiles open what an agent needs (they widen access); define them in \
                         the system or user config",
                    ))
                }
            }
        }
        let mut a = Applier {
            cfg: self,
            doc: &doc,
            layer,
            how,
            paths,
        };
        a.apply(f, snap)
    }

    /// Applies an already parsed document in full (a profile).
    fn apply_doc(
        &mut self,
        doc: &Doc,
        f: FileToml,
        layer: Layer,
        paths: &Paths,
    ) -> Result<(), ConfigError> {
        let mut a = Applier {
            cfg: self,
            doc,
            layer,
            how: How::Full,
            paths,
        };
        a.apply(f, None)
    }

    fn apply_env(&mut self, var: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let bad = |name: &str, v: &str, why: String| {
            ConfigError::new(format!("{name}={v}: {why}; fix the variable or unset it"))
        };
        if let Some(v) = var("CORDON_MODE").filter(|v| !v.is_empty()) {
            let m: Mode = v.parse().map_err(|e| bad("CORDON_MODE", &v, e))?;
            self.mode = Val::new(m, Origin::env("CORDON_MODE"));
        }
        if let Some(v) = var("CORDON_APPROVAL").filter(|v| !v.is_empty()) {
            let m: Approval = v.parse().map_err(|e| bad("CORDON_APPROVAL", &v, e))?;
            self.approval = Val::new(m, Origin::env("CORDON_APPROVAL"));
        }
        if let Some(v) = var("CORDON_TIMEOUT").filter(|v| !v.is_empty()) {
            let t = units::parse_duration_ms(&v).map_err(|e| bad("CORDON_TIMEOUT", &v, e))?;
            self.timeout_ms = Some(Val::new(t, Origin::env("CORDON_TIMEOUT")));
        }
        Ok(())
    }

    fn apply_flags(&mut self, f: &Flags) -> Result<(), ConfigError> {
        let o = Origin::flag;
        if let Some(m) = f.mode {
            self.mode = Val::new(m, o("--mode"));
        }
        if let Some(a) = f.approval {
            self.approval = Val::new(a, o("--approval"));
        }
        let push = |v: &mut Vec<Val<PathBuf>>, items: &[PathBuf], name: &str| {
            v.extend(items.iter().map(|p| Val::new(p.clone(), o(name))));
        };
        push(&mut self.writable, &f.writable, "--writable");
        push(&mut self.read_secret, &f.read_secret, "--read-secret");
        self.env_pass
            .extend(f.env.iter().map(|e| Val::new(e.clone(), o("--env"))));
        self.env_secret.extend(
            f.secret_env
                .iter()
                .map(|e| Val::new(e.clone(), o("--secret-env"))),
        );
        if let Some(t) = f.timeout_ms {
            self.timeout_ms = Some(Val::new(t, o("--timeout")));
        }
        if let Some(n) = f.nproc {
            self.nproc = Val::new(n, o("--limit-nproc"));
        }
        if let Some(n) = f.memory {
            self.memory = Val::new(n, o("--limit-memory"));
        }
        if let Some(n) = f.nofile {
            self.nofile = Val::new(n, o("--limit-nofile"));
        }
        self.allow_domains.extend(
            f.allow_domain
                .iter()
                .map(|d| Val::new(d.clone(), o("--allow-domain"))),
        );
        self.deny_domains.extend(
            f.deny_domain
                .iter()
                .map(|d| Val::new(d.clone(), o("--deny-domain"))),
        );
        if f.allow_local {
            self.allow_local = Val::new(true, o("--allow-local"));
        }
        self.resolve.extend(
            f.resolve
                .iter()
                .map(|r| Val::new(r.clone(), o("--resolve"))),
        );
        if let Some(n) = f.network {
            self.network = Val::new(n, o("--network"));
        }
        for p in &f.policy {
            let source = Source::read(p).map_err(|e| {
                ConfigError::new(format!("--policy {}: {e}; fix the path", p.display()))
            })?;
            self.policy.push(PolicyEntry {
                what: p.display().to_string(),
                source,
            });
        }
        if f.no_policy {
            self.no_policy = Val::new(true, o("--no-policy"));
        }
        Ok(())
    }

    /// Adds what an approval granted (the layer after the flags), then checks the managed file's
    /// requirements again: what it forbids stays forbidden, whoever granted it.
    pub fn grant(&mut self, g: &Granted) -> Result<(), ConfigError> {
        let o = |what: String| Origin {
            layer: Layer::Approval,
            file: None,
            line: 0,
            what: Some(what),
        };
        for p in &g.writable {
            let v = Val::new(p.clone(), o(format!("--escalate write:{}", p.display())));
            self.writable.push(v);
        }
        for p in &g.read_secret {
            let v = Val::new(p.clone(), o(format!("--escalate secret:{}", p.display())));
            self.read_secret.push(v);
        }
        for d in &g.allow_domain {
            let v = Val::new(d.clone(), o(format!("--escalate domain:{d}")));
            self.allow_domains.push(v);
        }
        for n in &g.env {
            let origin = o(format!("--escalate env:{n}"));
            self.env_pass.push(Val::new(n.clone(), origin.clone()));
            self.env_secret.push(Val::new(n.clone(), origin));
        }
        self.enforce_managed()
    }

    /// The managed file's requirements, checked on the final values: what it forbids is an
    /// error naming the file and line, whoever asked for it.
    fn enforce_managed(&mut self) -> Result<(), ConfigError> {
        let refuse = |what: String, by: &Origin, rule: &str| {
            ConfigError::new(format!(
                "{what}: forbidden by the managed policy {by} ({rule}); ask the administrator of this machine"
            ))
        };
        let set_by = |o: &Origin| match o.layer {
            Layer::Builtin => "the built-in default".to_string(),
            _ => format!("set by {o}"),
        };
        if let Some(allowed) = self.managed.allowed_modes.clone() {
            if !allowed.value.contains(&self.mode.value) {
                if self.mode.origin.layer == Layer::Builtin {
                    // The default is not allowed: the first allowed mode becomes the default.
                    self.mode = Val::new(allowed.value[0], allowed.origin.clone());
                } else {
                    let names: Vec<&str> = allowed.value.iter().map(|m| mode_str(*m)).collect();
                    return Err(refuse(
                        format!(
                            "mode {} ({})",
                            mode_str(self.mode.value),
                            set_by(&self.mode.origin)
                        ),
                        &allowed.origin,
                        &format!("allowed_modes = [{}]", names.join(", ")),
                    ));
                }
            }
        }
        if let Some(allowed) = self.managed.allowed_approvals.clone() {
            if !allowed.value.contains(&self.approval.value) {
                if self.approval.origin.layer == Layer::Builtin {
                    self.approval = Val::new(allowed.value[0], allowed.origin.clone());
                } else {
                    let names: Vec<&str> = allowed.value.iter().map(|m| m.as_str()).collect();
                    return Err(refuse(
                        format!(
                            "approval {} ({})",
                            self.approval.value.as_str(),
                            set_by(&self.approval.origin)
                        ),
                        &allowed.origin,
                        &format!("allowed_approvals = [{}]", names.join(", ")),
                    ));
                }
            }
        }
        if let Some(by) = &self.managed.forbid_network_full {
            if self.network.value == NetMode::Full {
                return Err(refuse(
                    format!("network full ({})", set_by(&self.network.origin)),
                    by,
                    "allow_network_full = false",
                ));
            }
        }
        if let Some(by) = &self.managed.forbid_allow_local {
            if self.allow_local.value {
                return Err(refuse(
                    format!("allow_local ({})", set_by(&self.allow_local.origin)),
                    by,
                    "allow_local_addresses = false",
                ));
            }
        }
        if let Some(by) = &self.managed.forbid_read_secret {
            if let Some(r) = self.read_secret.first() {
                return Err(refuse(
                    format!("read_secret {} (set by {})", r.value.display(), r.origin),
                    by,
                    "allow_read_secret = false",
                ));
            }
        }
        let managed_rules = self
            .policy
            .iter()
            .any(|e| matches!(e.source.loosening, Loosening::Refuse(_)));
        if self.no_policy.value {
            if let Some(by) = &self.managed.require_policy {
                return Err(refuse(
                    format!("skipping the policy ({})", set_by(&self.no_policy.origin)),
                    by,
                    "require_policy = true",
                ));
            }
            if managed_rules {
                let by = self
                    .managed
                    .file
                    .as_ref()
                    .map_or("the managed file".to_string(), |p| p.display().to_string());
                return Err(ConfigError::new(format!(
                    "skipping the policy ({}): forbidden by the managed policy {by} (its rules always apply); drop --no-policy",
                    set_by(&self.no_policy.origin)
                )));
            }
        }
        Ok(())
    }
}

/// Applies one parsed file to the configuration, following its layer's rules.
struct Applier<'a, 'b> {
    cfg: &'a mut Config,
    doc: &'b Doc<'b>,
    layer: Layer,
    how: How,
    paths: &'b Paths,
}

impl Applier<'_, '_> {
    fn origin<T>(&self, v: &S<T>) -> Origin {
        let (line, _) = self.doc.line_col(v.span().start);
        Origin {
            layer: self.layer,
            file: Some(self.doc.path.to_path_buf()),
            line,
            what: None,
        }
    }

    /// May this layer loosen `key`? Untrusted projects: no, noted as ignored. Managed: an error.
    fn loosen<T>(&mut self, v: &S<T>, key: &str) -> Result<bool, ConfigError> {
        match self.how {
            How::Full | How::Trusted => Ok(true),
            How::Untrusted => {
                self.ignore(key);
                Ok(false)
            }
            How::Managed => Err(self.doc.err_at(
                v,
                format!("`{key}` widens access"),
                "a managed file can only tighten (see [managed] for limits on the other layers); remove it",
            )),
        }
    }

    /// Keys only the system, user and managed layers may set, never a project (even trusted).
    fn personal<T>(&mut self, v: &S<T>, key: &str) -> Result<bool, ConfigError> {
        match self.how {
            How::Full => Ok(true),
            How::Managed => self.loosen(v, key),
            How::Trusted | How::Untrusted => {
                self.ignore(key);
                Ok(false)
            }
        }
    }

    fn ignore(&mut self, key: &str) {
        self.cfg.ignored.push(key.to_string());
    }

    fn path(&self, s: &str) -> PathBuf {
        let p = expand_home(s, &self.paths.home);
        if p.is_relative() {
            self.cfg.project.root.join(p)
        } else {
            p
        }
    }

    fn strings(&self, list: &[S<String>], key: &str) -> Result<(), ConfigError> {
        for s in list {
            if s.get_ref().trim().is_empty() {
                return Err(self
                    .doc
                    .err_at(s, format!("empty string in `{key}`"), "remove it"));
            }
        }
        Ok(())
    }

    /// `[caches]`: turning caches off and removing entries tighten (any layer); adding entries
    /// and turning them back on loosen.
    fn apply_caches(&mut self, c: &schema::CachesToml) -> Result<(), ConfigError> {
        use cordon_sandbox::caches::known;
        if let Some(e) = &c.enabled {
            if !*e.get_ref() || self.loosen(e, "caches.enabled")? {
                self.cfg.caches_enabled = Val::new(*e.get_ref(), self.origin(e));
            }
        }
        for r in &c.remove {
            let name = r.get_ref().trim();
            if !known::is_known_name(name) {
                let names = known::names();
                let hint = match units::did_you_mean(name, &names) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!("expected one of {}", names.join(", ")),
                };
                return Err(self
                    .doc
                    .err_at(r, format!("`{name}` is not a known cache"), &hint));
            }
            self.cfg
                .caches_remove
                .push(Val::new(name.to_string(), self.origin(r)));
        }
        for a in &c.add {
            let v = a.get_ref();
            let name_ok = !v.name.is_empty()
                && v.name.len() <= 64
                && v.name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
                })
                && !v.name.starts_with('.');
            if !name_ok {
                return Err(self.doc.err_at(
                    a,
                    format!(
                        "cache name {:?}: use lower-case letters, digits, `-`, `_`, `.`",
                        v.name
                    ),
                    "e.g. name = \"deno\"",
                ));
            }
            let p = expand_home(&v.path, &self.paths.home);
            if !p.is_absolute() {
                return Err(self.doc.err_at(
                    a,
                    format!(
                        "cache path {:?} must be absolute (or start with ~/)",
                        v.path
                    ),
                    "write the full path",
                ));
            }
            if let Some(e) = &v.env {
                let ok = !e.is_empty()
                    && !e.starts_with(|c: char| c.is_ascii_digit())
                    && e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !ok {
                    return Err(self.doc.err_at(
                        a,
                        format!("`env` {e:?} is not a variable name"),
                        "e.g. env = \"DENO_DIR\"",
                    ));
                }
            }
            if self.loosen(a, "caches.add")? {
                self.cfg.caches_add.push(Val::new(
                    cordon_sandbox::caches::Extra {
                        name: v.name.clone(),
                        path: p,
                        var: v.env.clone(),
                    },
                    self.origin(a),
                ));
            }
        }
        Ok(())
    }

    fn apply(&mut self, f: FileToml, snap: Option<&Snapshot>) -> Result<(), ConfigError> {
        let tighten_only = matches!(self.how, How::Untrusted | How::Managed);
        if let Some(m) = &f.managed {
            if self.how != How::Managed {
                return Err(self.doc.err_at(
                    m,
                    "a [managed] table outside the managed file",
                    &format!(
                        "it is only read from {}; move it there (as root) or remove it",
                        self.paths.managed_file().display()
                    ),
                ));
            }
        }
        if let Some(m) = &f.mode {
            let mode: Mode = m
                .get_ref()
                .parse()
                .map_err(|e: String| self.doc.err_at(m, e, "use one of the names listed"))?;
            let cur = self.cfg.mode.value;
            if !tighten_only || mode_rank(mode) < mode_rank(cur) {
                self.cfg.mode = Val::new(mode, self.origin(m));
            } else if mode_rank(mode) > mode_rank(cur) && self.how == How::Untrusted {
                self.ignore("mode");
            }
        }
        if let Some(a) = &f.approval {
            let ap: Approval = a
                .get_ref()
                .parse()
                .map_err(|e: String| self.doc.err_at(a, e, "use one of the names listed"))?;
            if self.how == How::Managed {
                return Err(self.doc.err_at(
                    a,
                    "`approval` in the managed file",
                    "set [managed] allowed_approvals = [..] instead",
                ));
            }
            if self.loosen(a, "approval")? {
                self.cfg.approval = Val::new(ap, self.origin(a));
            }
        }
        if let Some(a) = &f.approver {
            if a.get_ref().is_empty() || a.get_ref()[0].trim().is_empty() {
                return Err(self.doc.err_at(
                    a,
                    "`approver` is empty",
                    "give the command and its arguments, e.g. approver = [\"/usr/local/bin/approve\", \"--json\"]",
                ));
            }
            if self.how == How::Managed || self.personal(a, "approver")? {
                self.cfg.approver = Some(Val::new(a.get_ref().clone(), self.origin(a)));
            }
        }
        if let Some(v) = &f.approver_timeout {
            let ms = match v.get_ref() {
                toml::Value::Integer(i) if *i > 0 => (*i as u64).saturating_mul(1000),
                toml::Value::String(s) => units::parse_duration_ms(s).map_err(|e| {
                    self.doc
                        .err_at(v, e, "write e.g. approver_timeout = \"30s\"")
                })?,
                _ => {
                    return Err(self.doc.err_at(
                        v,
                        "`approver_timeout` must be a positive number of seconds or a duration",
                        "write e.g. approver_timeout = \"30s\"",
                    ))
                }
            };
            if self.how == How::Managed || self.personal(v, "approver_timeout")? {
                self.cfg.approver_timeout_ms = Some(Val::new(ms, self.origin(v)));
            }
        }

        // [hook]
        if let Some(c) = &f.hook.context {
            // Not a permission: any layer that applies in full may set it.
            if matches!(self.how, How::Full | How::Trusted) {
                self.cfg.hook_context = Val::new(*c.get_ref(), self.origin(c));
            }
        }
        if let Some(u) = &f.hook.unknown_tool {
            let d = match u.get_ref().as_str() {
                "allow" => cordon_policy::Decision::Allow,
                "ask" => cordon_policy::Decision::Ask,
                "deny" => cordon_policy::Decision::Deny,
                other => {
                    return Err(self.doc.err_at(
                        u,
                        format!("unknown decision '{other}' for `unknown_tool`"),
                        "use allow, ask or deny",
                    ))
                }
            };
            // Stricter is always taken; looser only where a layer may loosen.
            if d >= self.cfg.hook_unknown_tool.value || self.loosen(u, "hook.unknown_tool")? {
                self.cfg.hook_unknown_tool = Val::new(d, self.origin(u));
            }
        }

        // [filesystem]
        let fs = &f.filesystem;
        for (list, key) in [
            (&fs.writable, "filesystem.writable"),
            (&fs.read_secret, "filesystem.read_secret"),
            (&fs.secret, "filesystem.secret"),
            (&fs.protected, "filesystem.protected"),
            (&fs.remove_secret, "filesystem.remove_secret"),
            (&fs.remove_protected, "filesystem.remove_protected"),
        ] {
            self.strings(list, key)?;
        }
        for w in &fs.writable {
            if self.loosen(w, "filesystem.writable")? {
                let p = self.path(w.get_ref());
                self.cfg.writable.push(Val::new(p, self.origin(w)));
            }
        }
        for w in &fs.read_secret {
            if self.loosen(w, "filesystem.read_secret")? {
                let p = self.path(w.get_ref());
                self.cfg.read_secret.push(Val::new(p, self.origin(w)));
            }
        }
        for s in &fs.secret {
            // Relative: in every writable root (like `.env`), so not joined here.
            let p = expand_home(s.get_ref(), &self.paths.home);
            self.cfg.secrets.push(Val::new(p, self.origin(s)));
        }
        for s in &fs.protected {
            let p = expand_home(s.get_ref(), &self.paths.home);
            self.cfg.protected.push(Val::new(p, self.origin(s)));
        }
        for r in &fs.remove_secret {
            let name = r.get_ref().trim_end_matches('/');
            let name = name.strip_prefix("~/").unwrap_or(name);
            if !HOME_SECRETS.contains(&name) {
                let hint = match units::did_you_mean(name, HOME_SECRETS) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!("expected one of {}", HOME_SECRETS.join(", ")),
                };
                return Err(self.doc.err_at(
                    r,
                    format!("`{name}` is not a built-in secret path"),
                    &hint,
                ));
            }
            if self.personal(r, "filesystem.remove_secret")? {
                self.cfg
                    .remove_secrets
                    .push(Val::new(name.to_string(), self.origin(r)));
            }
        }
        for r in &fs.remove_protected {
            let name = r.get_ref().trim_end_matches('/');
            let names: Vec<&str> = PROTECTED.iter().map(|(n, _)| *n).collect();
            if !names.contains(&name) {
                let hint = match units::did_you_mean(name, &names) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!("expected one of {}", names.join(", ")),
                };
                return Err(self.doc.err_at(
                    r,
                    format!("`{name}` is not a built-in protected path"),
                    &hint,
                ));
            }
            if name == ".cordon" {
                return Err(self.doc.err_at(
                    r,
                    "`.cordon` cannot be unprotected",
                    "it holds the project's config, which trust is bound to; remove this entry",
                ));
            }
            if self.personal(r, "filesystem.remove_protected")? {
                self.cfg
                    .remove_protected
                    .push(Val::new(name.to_string(), self.origin(r)));
            }
        }

        // [env]
        self.strings(&f.env.pass, "env.pass")?;
        self.strings(&f.env.secret, "env.secret")?;
        for e in &f.env.pass {
            if self.loosen(e, "env.pass")? {
                self.cfg
                    .env_pass
                    .push(Val::new(e.get_ref().clone(), self.origin(e)));
            }
        }
        for e in &f.env.secret {
            if self.loosen(e, "env.secret")? {
                self.cfg
                    .env_secret
                    .push(Val::new(e.get_ref().clone(), self.origin(e)));
            }
        }

        // [network]
        let net = &f.network;
        if let Some(m) = &net.mode {
            let mode = match m.get_ref().as_str() {
                "none" => NetMode::None,
                "full" => NetMode::Full,
                other => {
                    return Err(self.doc.err_at(
                        m,
                        format!("unknown network mode {other:?}"),
                        "expected \"none\" or \"full\"",
                    ))
                }
            };
            if mode == NetMode::None || self.loosen(m, "network.mode")? {
                self.cfg.network = Val::new(mode, self.origin(m));
            }
        }
        let domain = |d: &S<String>| -> Result<DomainPattern, ConfigError> {
            d.get_ref().parse().map_err(|e: String| {
                self.doc.err_at(
                    d,
                    e,
                    "write a name, *.suffix or an address, with an optional :PORT",
                )
            })
        };
        let mut allow = Vec::new();
        for d in &net.allow {
            allow.push((domain(d)?, d));
        }
        let mut deny = Vec::new();
        for d in &net.deny {
            deny.push(Val::new(domain(d)?, self.origin(d)));
        }
        for (p, d) in allow {
            if self.loosen(d, "network.allow")? {
                self.cfg.allow_domains.push(Val::new(p, self.origin(d)));
            }
        }
        self.cfg.deny_domains.extend(deny);
        if let Some(l) = &net.allow_local {
            if !*l.get_ref() || self.loosen(l, "network.allow_local")? {
                self.cfg.allow_local = Val::new(*l.get_ref(), self.origin(l));
            }
        }
        for r in &net.resolve {
            let v = cordon_net::parse_resolve(r.get_ref()).map_err(|e| {
                self.doc
                    .err_at(r, e, "write NAME:ADDR, e.g. \"api.test:127.0.0.1\"")
            })?;
            if self.loosen(r, "network.resolve")? {
                self.cfg.resolve.push(Val::new(v, self.origin(r)));
            }
        }

        // [limits]: lower is tighter.
        let lim = &f.limits;
        let positive = |v: &S<u64>, key: &str| -> Result<u64, ConfigError> {
            match *v.get_ref() {
                0 => Err(self.doc.err_at(
                    v,
                    format!("`{key}` must be at least 1"),
                    "give a positive number",
                )),
                n => Ok(n),
            }
        };
        let mut limits: Vec<(&'static str, u64, Origin)> = Vec::new();
        if let Some(v) = &lim.nproc {
            limits.push(("nproc", positive(v, "limits.nproc")?, self.origin(v)));
        }
        if let Some(v) = &lim.nofile {
            limits.push(("nofile", positive(v, "limits.nofile")?, self.origin(v)));
        }
        if let Some(v) = &lim.memory {
            let n = match v.get_ref() {
                toml::Value::Integer(i) if *i > 0 => *i as u64,
                toml::Value::String(s) => units::parse_bytes(s)
                    .map_err(|e| self.doc.err_at(v, e, "write bytes, or 512M, 4G"))?,
                _ => {
                    return Err(self.doc.err_at(
                        v,
                        "`limits.memory` must be a positive number of bytes or a size",
                        "write e.g. memory = \"4G\"",
                    ))
                }
            };
            limits.push(("memory", n, self.origin(v)));
        }
        for (key, n, origin) in limits {
            let cur = match key {
                "nproc" => &mut self.cfg.nproc,
                "nofile" => &mut self.cfg.nofile,
                _ => &mut self.cfg.memory,
            };
            if !tighten_only || n < cur.value {
                *cur = Val::new(n, origin);
            } else if n > cur.value && self.how == How::Untrusted {
                self.cfg.ignored.push(format!("limits.{key}"));
            }
        }
        if let Some(v) = &lim.timeout {
            let ms = match v.get_ref() {
                toml::Value::Integer(i) if *i > 0 => (*i as u64).saturating_mul(1000),
                toml::Value::String(s) => units::parse_duration_ms(s)
                    .map_err(|e| self.doc.err_at(v, e, "write e.g. timeout = \"30m\""))?,
                _ => {
                    return Err(self.doc.err_at(
                        v,
                        "`limits.timeout` must be a positive number of seconds or a duration",
                        "write e.g. timeout = \"30m\"",
                    ))
                }
            };
            let cur = self.cfg.timeout_ms.as_ref().map(|t| t.value);
            if !tighten_only || cur.is_none_or(|c| ms < c) {
                self.cfg.timeout_ms = Some(Val::new(ms, self.origin(v)));
            } else if cur.is_some_and(|c| ms > c) && self.how == How::Untrusted {
                self.ignore("limits.timeout");
            }
        }

        // [policy]
        let loosening = match self.how {
            How::Full | How::Trusted => Loosening::Keep,
            How::Untrusted => Loosening::Drop,
            How::Managed => Loosening::Refuse("a managed file".into()),
        };
        let base = self.doc.path.parent().unwrap_or(Path::new("/"));
        for p in &f.policy.files {
            let rel = expand_home(p.get_ref(), &self.paths.home);
            let file = base.join(&rel);
            let text = if self.layer == Layer::Project {
                // Only files under .cordon/ (covered by the trust hash), read from the snapshot.
                let inside: Option<PathBuf> = if rel.is_relative()
                    && rel
                        .components()
                        .all(|c| matches!(c, std::path::Component::Normal(_)))
                {
                    Some(rel.clone())
                } else {
                    None
                };
                let Some(inside) = inside else {
                    return Err(self.doc.err_at(
                        p,
                        format!("policy file {:?} is outside .cordon/", p.get_ref()),
                        "a project's policy files must lie in its .cordon/ directory (covered by its trust); move it there",
                    ));
                };
                match snap.and_then(|s| s.files.get(&inside)) {
                    Some(b) => String::from_utf8(b.clone()).map_err(|_| {
                        self.doc
                            .err_at(p, "the policy file is not valid UTF-8", "save it as UTF-8")
                    })?,
                    None => std::fs::read_to_string(&file).map_err(|e| {
                        self.doc.err_at(
                            p,
                            format!("cannot read policy file {}: {e}", file.display()),
                            "fix the path",
                        )
                    })?,
                }
            } else {
                std::fs::read_to_string(&file).map_err(|e| {
                    self.doc.err_at(
                        p,
                        format!("cannot read policy file {}: {e}", file.display()),
                        "fix the path (relative paths are relative to this file's directory)",
                    )
                })?
            };
            self.cfg.policy.push(PolicyEntry {
                what: file.display().to_string(),
                source: Source {
                    origin: file,
                    text,
                    embedded: false,
                    loosening: loosening.clone(),
                },
            });
        }
        if !f.policy.rule.is_empty()
            || !f.policy.disable_builtins.is_empty()
            || !f.policy.tool.is_empty()
        {
            for r in &f.policy.rule {
                if !r.get_ref().contains_key("decision") {
                    return Err(self.doc.err_at(
                        r,
                        "a [[policy.rule]] without `decision`",
                        "add decision = \"allow\", \"ask\" or \"deny\"",
                    ));
                }
            }
            self.cfg.policy.push(PolicyEntry {
                what: format!("inline rules of {}", self.doc.path.display()),
                source: Source {
                    origin: self.doc.path.to_path_buf(),
                    text: self.doc.text.to_string(),
                    embedded: true,
                    loosening: loosening.clone(),
                },
            });
        }

        // [audit]
        if let Some(d) = &f.audit.dir {
            let p = expand_home(d.get_ref(), &self.paths.home);
            if !p.is_absolute() {
                return Err(self.doc.err_at(
                    d,
                    "`audit.dir` must be an absolute path (or start with ~/)",
                    "write the full path",
                ));
            }
            if self.how == How::Managed || self.personal(d, "audit.dir")? {
                self.cfg.audit_dir = Some(Val::new(p, self.origin(d)));
            }
        }

        self.apply_caches(&f.caches)?;

        // [managed]
        if let Some(m) = f.managed {
            let m = m.into_inner();
            if let Some(list) = &m.allowed_modes {
                let mut v = Vec::new();
                for s in list.get_ref() {
                    v.push(
                        s.get_ref()
                            .parse::<Mode>()
                            .map_err(|e| self.doc.err_at(s, e, "use one of the names listed"))?,
                    );
                }
                if v.is_empty() {
                    return Err(self.doc.err_at(
                        list,
                        "`allowed_modes` is empty",
                        "allow at least one mode, e.g. [\"read-only\"]",
                    ));
                }
                self.cfg.managed.allowed_modes = Some(Val::new(v, self.origin(list)));
            }
            if let Some(list) = &m.allowed_approvals {
                let mut v = Vec::new();
                for s in list.get_ref() {
                    v.push(
                        s.get_ref()
                            .parse::<Approval>()
                            .map_err(|e| self.doc.err_at(s, e, "use one of the names listed"))?,
                    );
                }
                if v.is_empty() {
                    return Err(self.doc.err_at(
                        list,
                        "`allowed_approvals` is empty",
                        "allow at least one approval mode, e.g. [\"untrusted\"]",
                    ));
                }
                self.cfg.managed.allowed_approvals = Some(Val::new(v, self.origin(list)));
            }
            for d in &m.never_allow_domains {
                let p = domain(d)?;
                let v = Val::new(p, self.origin(d));
                self.cfg.managed.never_allow_domains.push(v.clone());
                self.cfg.deny_domains.push(v);
            }
            fn forbid(b: &Option<S<bool>>) -> Option<&S<bool>> {
                b.as_ref().filter(|b| !*b.get_ref())
            }
            if let Some(b) = forbid(&m.allow_network_full) {
                self.cfg.managed.forbid_network_full = Some(self.origin(b));
            }
            if let Some(b) = forbid(&m.allow_local_addresses) {
                self.cfg.managed.forbid_allow_local = Some(self.origin(b));
            }
            if let Some(b) = forbid(&m.allow_read_secret) {
                self.cfg.managed.forbid_read_secret = Some(self.origin(b));
            }
            if let Some(b) = m.require_policy.as_ref().filter(|b| *b.get_ref()) {
                self.cfg.managed.require_policy = Some(self.origin(b));
            }
        }
        Ok(())
    }
}

pub use show::{render_json, render_text};
