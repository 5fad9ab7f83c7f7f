#![forbid(unsafe_code)]
//! cordon-config: the layered configuration, project trust and managed policy.
//!
//! One TOML schema for every layer; later layers override earlier ones:
//! built-in → system (`/etc/cordon/config.toml`) → user (`$XDG_CONFIG_HOME/cordon/config.toml`)
//! → project (`<workspace>/.cordon/config.toml`: in full only when trusted, else only what
//! tightens) → environment (`CORDON_*`) → flags → managed (`/etc/cordon/managed.toml`, last,
//! tighten-only). Every effective value carries its [`Origin`] (file and line, flag, variable).
//! A broken file is an error, never a silent fallback to defaults.
// cordon's output goes through `out!`/`outln!`/`errln!` (cordon_pipeline::out): `print!`,
// `println!` and `eprintln!` panic when the pipe's reader is gone (`cordon ... | head`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use cordon_net::DomainPattern;
use cordon_policy::{Loosening, Source};
use cordon_sandbox::spec::{Limits, Mode};

mod apply;
mod credentials;
pub use credentials::CredentialConf;
pub mod grants;
mod profiles;
mod schema;
use profiles::ProfileDef;
pub use profiles::{ProfileInfo, BUILTIN as BUILTIN_PROFILES};
mod show;
pub mod store;
mod trust;
pub mod units;

use schema::{Doc, FileToml};
pub use trust::{snapshot, Snapshot, TrustRecord, TrustState, TrustStore};

/// A configuration error, worded for the user: the thing, the reason, the fix (`cordon: ` is
/// added by the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value of a config file, at its line and column.
    #[error("config {}:{line}:{col}: {what}; {hint}", path.display())]
    At {
        path: PathBuf,
        line: usize,
        col: usize,
        what: String,
        hint: String,
    },
    /// A config file that cannot be read (`why` says what to do).
    #[error("config {}: {why}", path.display())]
    File { path: PathBuf, why: String },
    /// A `CORDON_*` variable.
    #[error("{name}={value}: {why}; fix the variable or unset it")]
    Env {
        name: String,
        value: String,
        why: String,
    },
    /// A `--policy` file.
    #[error("--policy {}: {why}; fix the path", path.display())]
    PolicyFile { path: PathBuf, why: String },
    /// The rules do not load.
    #[error("bad policy: {0}; fix the rule (`cordon policy test FILE` checks a policy file)")]
    Policy(String),
    /// A value the managed file forbids, whoever set it.
    #[error("{what}: forbidden by the managed policy {by} ({rule}); ask the administrator of this machine")]
    Managed {
        what: String,
        by: String,
        rule: String,
    },
    /// `--no-policy` with rules in the managed file (they always apply).
    #[error("skipping the policy ({set_by}): forbidden by the managed policy {by} (its rules always apply); drop --no-policy")]
    ManagedRules { set_by: String, by: String },
    /// `--profile NAME` names no profile.
    #[error("unknown profile `{name}`; the profiles are: {known} (define your own as [profile.{name}] in ~/.config/cordon/config.toml)")]
    UnknownProfile { name: String, known: String },
    /// The trust store (`why` says what to do).
    #[error("trust store {}: {why}", path.display())]
    Trust { path: PathBuf, why: String },
    /// A duration (`--timeout`, `timeout`, `approver_timeout`) that is not a number with a unit.
    #[error("'{0}' is not a duration (try 30s, 500ms, 5m)")]
    BadDuration(String),
    /// A duration of zero, below zero, or not finite.
    #[error("'{0}': the duration must be positive")]
    NonPositiveDuration(String),
    /// A size (`--memory`, `memory`, `--max-message`) that is not a number with a unit.
    #[error("'{0}' is not a size (try 4G, 512M)")]
    BadSize(String),
    /// A size over 2^64 bytes.
    #[error("'{0}' is too large")]
    SizeTooLarge(String),
}

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

pub(crate) fn mode_rank(m: Mode) -> u8 {
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
    pub allow_ech: bool,
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
    /// `filesystem.scan_limit`: the most entries the writable roots may hold (the sandbox's
    /// default when unset).
    pub scan_limit: Option<Val<u64>>,
    pub env_pass: Vec<Val<String>>,
    pub env_secret: Vec<Val<String>>,
    pub network: Val<NetMode>,
    pub allow_domains: Vec<Val<DomainPattern>>,
    pub deny_domains: Vec<Val<DomainPattern>>,
    pub allow_local: Val<bool>,
    /// Tunnels may carry an encrypted ClientHello (ECH): its server name cannot be checked.
    pub allow_ech: Val<bool>,
    pub resolve: Vec<Val<(String, IpAddr)>>,
    /// `[[network.credentials]]` (user, system and managed files only; never a project's).
    pub credentials: Vec<Val<CredentialConf>>,
    /// `network.upstream_ca_file`: certificates added to the roots that verify intercepted
    /// hosts' servers (user, system and managed files only).
    pub upstream_ca_file: Option<Val<PathBuf>>,
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
pub(crate) enum How {
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
            .map_err(|_| ConfigError::File {
                path: pfile.clone(),
                why: "not valid UTF-8; save it as UTF-8 text".into(),
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
            scan_limit: None,
            env_pass: Vec::new(),
            env_secret: Vec::new(),
            network: Val::new(NetMode::None, b()),
            allow_domains: Vec::new(),
            deny_domains: Vec::new(),
            allow_local: Val::new(false, b()),
            allow_ech: Val::new(false, b()),
            resolve: Vec::new(),
            credentials: Vec::new(),
            upstream_ca_file: None,
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
            Err(e) => Err(ConfigError::Policy(e.to_string())),
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
        let mut a = apply::Applier {
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
        let mut a = apply::Applier {
            cfg: self,
            doc,
            layer,
            how: How::Full,
            paths,
        };
        a.apply(f, None)
    }

    fn apply_env(&mut self, var: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let bad = |name: &str, v: &str, why: String| ConfigError::Env {
            name: name.into(),
            value: v.into(),
            why,
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
            let t = units::parse_duration_ms(&v)
                .map_err(|e| bad("CORDON_TIMEOUT", &v, e.to_string()))?;
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
        if f.allow_ech {
            self.allow_ech = Val::new(true, o("--allow-ech"));
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
            let source = Source::read(p).map_err(|e| ConfigError::PolicyFile {
                path: p.clone(),
                why: e.to_string(),
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
        let refuse = |what: String, by: &Origin, rule: &str| ConfigError::Managed {
            what,
            by: by.to_string(),
            rule: rule.into(),
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
                return Err(ConfigError::ManagedRules {
                    set_by: set_by(&self.no_policy.origin),
                    by,
                });
            }
        }
        Ok(())
    }
}

pub use show::{render_json, render_text};
