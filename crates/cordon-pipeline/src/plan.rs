//! Stage 1, the plan: the effective config (every layer), the policy, the machine's abilities
//! and the sandbox spec, resolved before anything is asked, recorded or run. `spec::build` is the
//! only producer of the spec: what cordon adds to it (its own directories, the proxy's
//! variables, later the granted escalations and pinned files) are inputs of the build, so
//! `--dry-run` prints exactly what runs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use cordon_config::{Config, Flags, LoadInput, Paths};
use cordon_sandbox::env::EnvRequest;
use cordon_sandbox::spec::{self, Network, PathRules, Pinned};
use cordon_sandbox::{timing, Probe, SandboxSpec};

use crate::record;
use crate::request::Request;
use crate::{Error, Result};

/// Where the proxy listens inside the sandbox's own network namespace (nothing else is there).
pub const PROXY_PORT: u16 = 3128;

/// Everything resolved for one run, nothing done yet.
pub struct Plan {
    pub request: Request,
    /// Where cordon's own files live.
    pub paths: Paths,
    /// The canonical workspace root (its `.cordon/` is the project layer).
    pub workspace: PathBuf,
    pub config: Config,
    /// The command policy; None under `--no-policy`.
    pub policy: Option<cordon_policy::Policy>,
    pub probe: Probe,
    pub spec: SandboxSpec,
    /// The audit log directory; None with `--no-audit` (or a dry run that has none).
    pub audit_dir: Option<PathBuf>,
    /// The run's CA when credentials are configured (`credentials::run_ca`): made once, so
    /// that every spec built for the run trusts the CA the proxy uses.
    pub run_ca: Option<std::sync::Arc<cordon_net::tls::RunCa>>,
    pub(crate) started: Instant,
}

/// The environment of this process (what the command's is filtered from).
pub fn parent_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Where the config layers live (`cordon_config::Paths::from_env`).
pub fn paths() -> Paths {
    Paths::from_env(|k| std::env::var(k).ok())
}

/// The workspace root: `flag`, else the git top-level of `from` (default: the current
/// directory), else that directory; canonical.
pub fn workspace_root(flag: Option<&Path>, from: Option<&Path>) -> Result<PathBuf> {
    if let Some(w) = flag {
        return std::fs::canonicalize(w)
            .map_err(|e| Error::Usage(format!("--workspace {}: {e}", w.display())));
    }
    let here = match from {
        Some(d) => d.to_path_buf(),
        None => std::env::current_dir().map_err(|e| {
            Error::Usage(format!(
                "cannot read the current directory: {e}; pass --workspace DIR"
            ))
        })?,
    };
    let here = std::fs::canonicalize(&here).map_err(|e| {
        Error::Usage(format!(
            "cannot resolve {}: {e}; pass --workspace DIR",
            here.display()
        ))
    })?;
    Ok(cordon_sandbox::spec::git_toplevel(&here).unwrap_or(here))
}

/// Every config layer, merged, for this workspace and these flags.
pub fn load_config(paths: &Paths, workspace: &Path, flags: &Flags) -> Result<Config> {
    let var = |k: &str| std::env::var(k).ok();
    Ok(cordon_config::load(&LoadInput {
        paths,
        workspace,
        var: &var,
        flags,
    })?)
}

impl Plan {
    /// Resolves `request`: config, the audit directory (created unless a dry run), the policy,
    /// the probe, the spec.
    pub fn new(mut request: Request) -> Result<Plan> {
        timing("start");
        let paths = paths();
        let workspace = workspace_root(request.workspace.as_deref(), None)?;
        let mut config = load_config(&paths, &workspace, &request.flags)?;
        crate::profile::prepare(&mut config, request.dry_run)?;
        timing("config");
        // The audit log directory: resolved once (the flag, CORDON_AUDIT_DIR, the config's
        // audit.dir, the default); the sandbox hides it.
        let audit_dir = match record::resolve_run_dir(&request.audit, config.audit_dir.as_ref()) {
            Ok(Some(d)) => {
                if !request.dry_run {
                    cordon_audit::Writer::create_dir(&d).map_err(|e| {
                        Error::Audit(format!("{e}; pass --audit-dir DIR to write it elsewhere, or --no-audit to run without an audit log"))
                    })?;
                }
                Some(d)
            }
            Ok(None) => None,
            // A dry run writes no log: no directory is no error.
            Err(_) if request.dry_run => {
                request.audit.off = true;
                None
            }
            Err(e) => return Err(e),
        };
        if !request.dry_run {
            // The state directory exists from the first run on, so that it can be hidden.
            use std::os::unix::fs::DirBuilderExt;
            let _ = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(paths.state_dir());
        }
        let started = Instant::now();
        let run_ca = crate::credentials::run_ca(&config)?;
        let req = sandbox_request(
            &request,
            &config,
            &paths,
            audit_dir.as_ref(),
            &[],
            run_ca.as_deref(),
        )?;
        // The built-in rules are compiled in (no parsing); only config and --policy files are.
        let policy = config.load_policy()?;
        let probe = Probe::quick();
        timing("probe");
        let spec = spec::build(&req, &parent_env(), &probe)?;
        timing("spec built");
        Ok(Plan {
            request,
            paths,
            workspace,
            config,
            policy,
            probe,
            spec,
            audit_dir,
            run_ca,
            started,
        })
    }

    /// What the sandbox is asked for, from `config` (and `pinned` files).
    pub(crate) fn sandbox_request(
        &self,
        config: &Config,
        pinned: &[Pinned],
    ) -> Result<spec::Request> {
        sandbox_request(
            &self.request,
            config,
            &self.paths,
            self.audit_dir.as_ref(),
            pinned,
            self.run_ca.as_deref(),
        )
    }
}

fn sandbox_request(
    request: &Request,
    cfg: &Config,
    paths: &Paths,
    audit_dir: Option<&PathBuf>,
    pinned: &[Pinned],
    run_ca: Option<&cordon_net::tls::RunCa>,
) -> Result<spec::Request> {
    let argv = request.command.argv();
    if argv.is_empty() {
        return Err(Error::Usage("no command given: cordon run [OPTIONS] -- CMD [ARGS...], or cordon run -c 'shell string'".into()));
    }
    let vals = |v: &[cordon_config::Val<PathBuf>]| v.iter().map(|x| x.value.clone()).collect();
    let strs = |v: &[cordon_config::Val<String>]| v.iter().map(|x| x.value.clone()).collect();
    let mut protected: Vec<PathBuf> = vals(&cfg.protected);
    let caches = cache_request(cfg, paths);
    // cordon's own config and trust store stay read-only even inside a writable root.
    let p = paths;
    protected.extend(
        [p.config_dir.clone(), p.etc_dir.clone()]
            .into_iter()
            .filter(|d| d.is_dir()),
    );
    let network = if cfg.network.value == cordon_config::NetMode::Full {
        Network::Full
    } else if !cfg.allow_domains.is_empty() {
        Network::Proxy { port: PROXY_PORT }
    } else {
        Network::None
    };
    // With the proxy: its variables, and with credentials the CA files and variables and the
    // credentials' placeholders.
    let (proxy_env, trust) = match network {
        Network::Proxy { port } => {
            let mut env = cordon_net::proxy_env(port);
            let trust = crate::credentials::sandbox_side(cfg, run_ca, &mut env)?;
            (env, trust)
        }
        _ => (Vec::new(), None),
    };
    Ok(spec::Request {
        mode: cfg.mode.value,
        argv,
        cwd: request.cwd.clone(),
        workspace: request.workspace.clone(),
        writable: vals(&cfg.writable),
        read_secret: vals(&cfg.read_secret),
        env: EnvRequest {
            extra: strs(&cfg.env_pass),
            secret_ok: strs(&cfg.env_secret),
        },
        network,
        limits: cfg.limits(),
        timeout_ms: cfg.timeout_ms.as_ref().map(|t| t.value),
        force_no_userns: std::env::var_os("CORDON_NO_USERNS")
            .is_some_and(|v| !v.is_empty() && v != "0"),
        paths: PathRules {
            // The audit log directory is a secret wherever it is, and so is cordon's state
            // directory (the workspaces' cache layers, ...).
            secrets: vals(&cfg.secrets)
                .into_iter()
                .chain(audit_dir.cloned())
                .chain(caches.state_dir.clone())
                // The MCP pins (cordon mcp): a wrapped server must not approve itself.
                .chain(Some(paths.state_dir().join("mcp")).filter(|d| d.is_dir()))
                .collect(),
            protected,
            remove_secrets: strs(&cfg.remove_secrets),
            remove_protected: strs(&cfg.remove_protected),
        },
        // The workspace index (and the record of a run in progress) for the check after the run,
        // in the workspace's state directory (hidden with the rest of the state, above).
        state_dir: caches
            .state_dir
            .as_ref()
            .map(|_| paths.workspace_state_dir(&cfg.project.root)),
        scan_limit: cfg.scan_limit.as_ref().map(|v| v.value),
        pinned: pinned.to_vec(),
        // Grants, approver settings, trust: never writable from inside.
        own_dirs: vec![paths.config_dir.clone()],
        proxy_env,
        trust,
        caches,
    })
}

/// The tool caches part of a run (`[caches]`; the layers in the workspace's state directory).
pub fn cache_request(cfg: &Config, paths: &Paths) -> cordon_sandbox::caches::CacheRequest {
    // Without a home directory there is no state directory to keep layers in.
    let state = (paths.home != Path::new("/")).then(|| paths.state_dir());
    cordon_sandbox::caches::CacheRequest {
        enabled: cfg.caches_enabled.value,
        dir: state
            .as_ref()
            .map(|_| paths.workspace_state_dir(&cfg.project.root).join("caches")),
        state_dir: state,
        remove: cfg.caches_remove.iter().map(|r| r.value.clone()).collect(),
        add: cfg.caches_add.iter().map(|a| a.value.clone()).collect(),
    }
}
