//! `cordon run`: run a command inside the sandbox.

use std::path::PathBuf;
use std::process::ExitCode;

use cordon_sandbox::env::EnvRequest;
use cordon_sandbox::spec::{self, Isolation, Mode, Network, PathRules, Request};
use cordon_sandbox::{Probe, SandboxSpec};

use crate::approval::{self, ApprovalMode, Before, Escalation, Rerun};
use crate::EXIT_CORDON_FAILED;

#[derive(clap::Args, Clone)]
#[command(
    after_help = "Exit status: the command's own; 128+N if it died of signal N; 124 if --timeout \
killed it; 125 if cordon itself failed; 126 not executable; 127 not found.\n\n\
CORDON_NO_USERNS=1 makes cordon skip user namespaces and use its fallback (Landlock + seccomp)."
)]
pub struct Args {
    /// read-only | workspace-write | danger-full-access (default: the config's `mode`, else
    /// workspace-write)
    #[arg(long, value_parser = parse_mode)]
    pub mode: Option<Mode>,
    /// The writable workspace (default: the git top-level of the working directory, else the
    /// working directory). The command's --cwd never widens it.
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// The command's working directory (default: the current one).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// An extra writable root (repeatable).
    #[arg(long, value_name = "DIR")]
    pub writable: Vec<PathBuf>,
    /// Let one secret path through on purpose (repeatable).
    #[arg(long, value_name = "PATH")]
    pub read_secret: Vec<PathBuf>,
    /// Pass NAME through from the environment, or set NAME=VALUE (repeatable).
    #[arg(long, value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,
    /// Pass NAME through even though its value looks like a secret (repeatable).
    #[arg(long, value_name = "NAME")]
    pub secret_env: Vec<String>,
    /// Wall-clock limit (e.g. 30s, 500ms, 5m); then the whole sandbox is killed.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
    pub timeout: Option<u64>,
    /// Maximum number of processes of the user (RLIMIT_NPROC).
    #[arg(long, value_name = "N")]
    pub limit_nproc: Option<u64>,
    /// Maximum data memory per process (RLIMIT_DATA), e.g. 4G, 512M.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub limit_memory: Option<u64>,
    /// Maximum open files per process (RLIMIT_NOFILE).
    #[arg(long, value_name = "N")]
    pub limit_nofile: Option<u64>,
    /// Let the command reach this domain through cordon's proxy (repeatable): `example.com`,
    /// `*.github.com` (subdomains only), `host:PORT`. Without a port: 80 and 443.
    #[arg(long, value_name = "PATTERN[:PORT]", value_parser = parse_domain)]
    pub allow_domain: Vec<cordon_net::DomainPattern>,
    /// Refuse this domain even if an --allow-domain matches it (repeatable; any port without one).
    #[arg(long, value_name = "PATTERN[:PORT]", value_parser = parse_domain)]
    pub deny_domain: Vec<cordon_net::DomainPattern>,
    /// Allow destinations that resolve to loopback, private, link-local, CGNAT or ULA addresses.
    #[arg(long)]
    pub allow_local: bool,
    /// Pin NAME to ADDR for the proxy's resolution (repeatable), like curl's --resolve.
    #[arg(long, value_name = "NAME:ADDR", value_parser = cordon_net::parse_resolve)]
    pub resolve: Vec<(String, std::net::IpAddr)>,
    /// `none` (default: loopback only, or the proxy when --allow-domain is given) or `full`
    /// (the host network, unfiltered: danger).
    #[arg(long, value_name = "none|full", value_parser = ["none", "full"])]
    pub network: Option<String>,
    /// Write every connection (allowed or refused) as a JSON line to FILE.
    #[arg(long, value_name = "FILE")]
    pub net_log: Option<PathBuf>,
    /// A policy file (repeatable), on top of the built-in rules.
    #[arg(long, value_name = "FILE")]
    pub policy: Vec<PathBuf>,
    /// Do not consult the command policy (the sandbox still applies).
    #[arg(long, conflicts_with = "policy")]
    pub no_policy: bool,
    /// Print the policy decision (rule and reason) on stderr before running.
    #[arg(long)]
    pub explain: bool,
    /// Print the resolved sandbox spec as JSON and run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// When to ask: untrusted | on-request (default) | on-failure | never (see README "Approvals").
    #[arg(long, value_enum, value_name = "MODE")]
    pub approval: Option<crate::approval::ApprovalMode>,
    /// Ask for more than the sandbox gives, granted only on a yes (repeatable): write:PATH,
    /// domain:PATTERN, secret:PATH, env:NAME.
    #[arg(long, value_name = "KIND:VALUE")]
    pub escalate: Vec<crate::approval::Escalation>,
    #[command(flatten)]
    pub audit: crate::cmd_audit::LogArgs,
    /// Run this string with /bin/sh -c.
    #[arg(short = 'c', value_name = "SHELL STRING", conflicts_with = "argv")]
    pub shell: Option<String>,
    /// The command and its arguments (after --).
    #[arg(last = true, value_name = "CMD")]
    pub argv: Vec<String>,
}

fn parse_domain(s: &str) -> Result<cordon_net::DomainPattern, String> {
    s.parse()
}

/// Where the proxy listens inside the sandbox's own network namespace (nothing else is there).
pub const PROXY_PORT: u16 = 3128;

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse()
}

pub use cordon_config::units::{parse_bytes, parse_duration_ms};

/// What the flags say, for the config layers (flags override config; managed overrides flags).
pub fn flags(a: &Args) -> cordon_config::Flags {
    cordon_config::Flags {
        mode: a.mode,
        approval: a.approval.map(ApprovalMode::to_config),
        writable: a.writable.clone(),
        read_secret: a.read_secret.clone(),
        env: a.env.clone(),
        secret_env: a.secret_env.clone(),
        timeout_ms: a.timeout,
        nproc: a.limit_nproc,
        memory: a.limit_memory,
        nofile: a.limit_nofile,
        allow_domain: a.allow_domain.clone(),
        deny_domain: a.deny_domain.clone(),
        allow_local: a.allow_local,
        resolve: a.resolve.clone(),
        network: match a.network.as_deref() {
            Some("full") => Some(cordon_config::NetMode::Full),
            Some(_) => Some(cordon_config::NetMode::None),
            None => None,
        },
        policy: a.policy.clone(),
        no_policy: a.no_policy,
    }
}

/// Builds the sandbox request from the effective config (config files, environment, flags,
/// managed policy: see `cordon config show --origin`).
pub fn request(
    a: &Args,
    cfg: &cordon_config::Config,
    pinned: &[cordon_sandbox::spec::Pinned],
) -> Result<Request, String> {
    let argv = match &a.shell {
        Some(s) => vec!["/bin/sh".to_string(), "-c".to_string(), s.clone()],
        None => a.argv.clone(),
    };
    if argv.is_empty() {
        return Err("no command given: cordon run [OPTIONS] -- CMD [ARGS...], or cordon run -c 'shell string'".into());
    }
    let vals = |v: &[cordon_config::Val<PathBuf>]| v.iter().map(|x| x.value.clone()).collect();
    let strs = |v: &[cordon_config::Val<String>]| v.iter().map(|x| x.value.clone()).collect();
    let mut protected: Vec<PathBuf> = vals(&cfg.protected);
    // The workspace's state (its index) lives out of the sandbox's reach: cordon's whole state
    // directory is a secret, like the audit log.
    let workspace = crate::cmd_config::workspace_root(a.workspace.as_deref(), None).ok();
    let state_dir = workspace
        .as_deref()
        .and_then(crate::cmd_config::workspace_state);
    // cordon's own config and trust store stay read-only even inside a writable root.
    let p = cfg_paths();
    protected.extend([p.config_dir, p.etc_dir].into_iter().filter(|d| d.is_dir()));
    Ok(Request {
        mode: cfg.mode.value,
        argv,
        cwd: a.cwd.clone(),
        workspace: a.workspace.clone(),
        writable: vals(&cfg.writable),
        read_secret: vals(&cfg.read_secret),
        env: EnvRequest {
            extra: strs(&cfg.env_pass),
            secret_ok: strs(&cfg.env_secret),
        },
        network: if cfg.network.value == cordon_config::NetMode::Full {
            Network::Full
        } else if !cfg.allow_domains.is_empty() {
            Network::Proxy { port: PROXY_PORT }
        } else {
            Network::None
        },
        limits: cfg.limits(),
        timeout_ms: cfg.timeout_ms.as_ref().map(|t| t.value),
        force_no_userns: std::env::var_os("CORDON_NO_USERNS")
            .is_some_and(|v| !v.is_empty() && v != "0"),
        paths: PathRules {
            // The audit log directory (resolved by `run`) is a secret wherever it is.
            secrets: vals(&cfg.secrets)
                .into_iter()
                .chain(a.audit.audit_dir.clone().filter(|_| !a.audit.no_audit))
                .chain(crate::cmd_config::state_root())
                .collect(),
            protected,
            remove_secrets: strs(&cfg.remove_secrets),
            remove_protected: strs(&cfg.remove_protected),
        },
        state_dir,
        scan_limit: cfg.scan_limit.as_ref().map(|v| v.value),
        pinned: pinned.to_vec(),
    })
}

fn cfg_paths() -> cordon_config::Paths {
    crate::cmd_config::paths()
}

pub fn parent_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("cordon: {msg}");
    ExitCode::from(EXIT_CORDON_FAILED)
}

/// Removes this run's record among the user's live runs when `run` returns (runs.rs).
struct LiveRecord;

impl Drop for LiveRecord {
    fn drop(&mut self) {
        cordon_sandbox::runs::withdraw();
    }
}

pub fn run(mut a: Args) -> ExitCode {
    cordon_sandbox::timing("start");
    let _record = LiveRecord;
    let workspace = match crate::cmd_config::workspace_root(a.workspace.as_deref(), None) {
        Ok(w) => w,
        Err(e) => return fail(e),
    };
    let mut cfg = match crate::cmd_config::load(&workspace, &flags(&a)) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    cordon_sandbox::timing("config");
    // The audit log directory: resolved once (the flag, CORDON_AUDIT_DIR, the config's audit.dir,
    // the default) and kept in the flags, so that every request built from them hides it.
    match crate::cmd_audit::resolve_run_dir(&a.audit, cfg.audit_dir.as_ref()) {
        Ok(Some(d)) => {
            if !a.dry_run {
                if let Err(e) = cordon_audit::Writer::create_dir(&d) {
                    return fail(format!("audit log: {e}; pass --audit-dir DIR to write it elsewhere, or --no-audit to run without an audit log"));
                }
            }
            a.audit.audit_dir = Some(d);
        }
        Ok(None) => {}
        // A dry run writes no log: no directory is no error.
        Err(_) if a.dry_run => a.audit.no_audit = true,
        Err(e) => return fail(e),
    }
    let started = std::time::Instant::now();
    let req = match request(&a, &cfg, &[]) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    // The built-in rules are compiled in (no parsing); only config and --policy files are.
    let policy = match cfg.load_policy() {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let probe = Probe::quick();
    cordon_sandbox::timing("probe");
    let mut spec = match spec::build(&req, &parent_env(), &probe) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    cordon_sandbox::timing("spec built");
    let audit = if a.dry_run {
        crate::cmd_audit::Session::none()
    } else {
        let digest = match crate::cmd_audit::config_digest(&cfg, &a.policy) {
            Ok(d) => d,
            Err(e) => return fail(e),
        };
        match crate::cmd_audit::start_run(
            a.audit.audit_dir.as_deref().filter(|_| !a.audit.no_audit),
            &spec,
            &dry_run_json(&spec).unwrap_or_default(),
            digest,
            &probe,
            a.audit.agent.as_deref(),
        ) {
            Ok(s) => s,
            Err(e) => return fail(e),
        }
    };
    // The policy decides before anything starts: deny refuses (126); allow and ask both run,
    // inside the sandbox, unless the approval mode says to ask (approval.rs).
    if let Some(line) = cfg.ignored_line() {
        eprintln!("cordon: {line}");
    }
    let mut eval = None;
    if let Some(policy) = policy {
        let ctx = cordon_policy::Context {
            cwd: spec.cwd.clone(),
            workspace: spec.workspace.clone(),
            home: spec.home.clone(),
        };
        let ev = match &a.shell {
            Some(src) => policy.check_shell(src, &ctx),
            None => policy.check_argv(&spec.argv, &ctx),
        };
        cordon_sandbox::timing("policy decided");
        if !a.dry_run {
            let command = match &a.shell {
                Some(src) => src.clone(),
                None => spec.argv.join(" "),
            };
            if let Err(e) = audit.require(&crate::cmd_audit::decision(&ev, command.as_bytes())) {
                return fail(e);
            }
        }
        if ev.decision == cordon_policy::Decision::Deny {
            eprintln!("{}", ev.summary());
            eprintln!("cordon: refused by the command policy (--policy FILE to change the rules, --no-policy to skip them)");
            return ExitCode::from(126);
        }
        if a.explain {
            eprintln!("{}", ev.summary());
        }
        eval = Some(ev);
    }
    // Approvals: asked before the sandbox starts, or after it is gone (on-failure).
    // The mode is the config's: --approval is one of its layers, and managed.toml may forbid it.
    let settings = approval::settings_from_config(&cfg);
    let mode = settings.approval.unwrap_or(ApprovalMode::OnRequest);
    let escalations = std::mem::take(&mut a.escalate);
    let mut approvals = Vec::new();
    if a.dry_run && !escalations.is_empty() {
        eprintln!("cordon: note: --dry-run asks nothing: the spec is shown without the --escalate requests");
    } else if !a.dry_run {
        let planned = spec.clone();
        let mut ask = |skip_grants: bool| {
            let cx = approval::Ctx {
                mode,
                settings: &settings,
                spec: &planned,
                eval: eval.as_ref(),
                escalations: &escalations,
                skip_grants,
            };
            let (before, recs) = approval::before_run(&cx);
            for r in &recs {
                audit.record_approval(r);
            }
            approvals.extend(recs);
            match before {
                Before::Refuse(code) => Err(Stop::Code(code)),
                Before::Run(ok) => Ok(ok),
            }
        };
        let approved = match ask(false) {
            Ok(ok) => ok,
            Err(stop) => return stop.exit(),
        };
        if !approved.escalations.is_empty() || !approved.pins.is_empty() {
            match approved_spec(&a, &workspace, approved, &probe, &mut ask) {
                Ok((s, c)) => {
                    spec = s;
                    cfg = c;
                }
                Err(stop) => return stop.exit(),
            }
        }
    }
    cordon_sandbox::timing("approval decided");
    approval::protect_config_dir(&mut spec);
    let mut code = launch(&a, &cfg, spec.clone(), &probe, &audit, started);
    if code != 0 && mode == ApprovalMode::OnFailure && !a.dry_run {
        let ran = spec.clone();
        let mut ask = |skip_grants: bool| {
            let cx = approval::Ctx {
                mode,
                settings: &settings,
                spec: &ran,
                eval: eval.as_ref(),
                escalations: &escalations,
                skip_grants,
            };
            let (rerun, recs) = approval::after_failure(&cx, code);
            for r in &recs {
                audit.record_approval(r);
            }
            approvals.extend(recs);
            match rerun {
                Rerun::No => Err(Stop::Code(code)),
                Rerun::WithEscalations(ok) => Ok(Some(ok)),
                Rerun::Unsandboxed => Ok(None),
            }
        };
        let granted = match ask(false) {
            Ok(Some(ok)) => Some(ok),
            Ok(None) => {
                a.mode = Some(Mode::DangerFullAccess);
                a.allow_domain.clear();
                Some(approval::Approved::default())
            }
            Err(_) => None,
        };
        if let Some(ok) = granted {
            eprintln!("cordon: rerunning {}", approval::display_argv(&spec.argv));
            let mut again = |skip: bool| match ask(skip) {
                Ok(Some(ok)) => Ok(ok),
                Ok(None) => Err(Stop::Code(code)),
                Err(stop) => Err(stop),
            };
            code = match approved_spec(&a, &workspace, ok, &probe, &mut again) {
                Ok((s, c)) => launch(&a, &c, s, &probe, &audit, std::time::Instant::now()),
                Err(Stop::Code(c)) => c,
                Err(stop) => return stop.exit(),
            };
        }
    }
    // The audit log records these (who answered, what was granted); --explain prints them.
    if a.explain {
        for r in &approvals {
            eprintln!(
                "cordon: approval: {}",
                serde_json::to_string(r).unwrap_or_default()
            );
        }
    }
    ExitCode::from(code)
}

/// Why a run stops before it starts: a status (refused) or cordon's failure.
enum Stop {
    Code(u8),
    Fail(String),
}

impl Stop {
    fn exit(self) -> ExitCode {
        match self {
            Stop::Code(c) => ExitCode::from(c),
            Stop::Fail(e) => fail(e),
        }
    }
}

/// The config and the spec for a run with what was approved. A pinned file that another live
/// sandboxed run can write (`spec.pin_conflicts`) cannot be held to its approved bytes: an answer
/// from a remembered grant is then not used (`ask_again` asks without grants), and a fresh
/// answer runs this once without pins, as an "allow once" would.
fn approved_spec(
    a: &Args,
    workspace: &std::path::Path,
    approved: approval::Approved,
    probe: &Probe,
    ask_again: &mut dyn FnMut(bool) -> Result<approval::Approved, Stop>,
) -> Result<(SandboxSpec, cordon_config::Config), Stop> {
    let (spec, cfg) = respec(a, workspace, &approved.escalations, &approved.pins, probe)?;
    let Some((file, pid)) = spec.pin_conflicts.first().cloned() else {
        return Ok((spec, cfg));
    };
    let approved = match &approved.grant {
        Some(id) => {
            eprintln!(
                "cordon: the remembered grant {id} is not used: {} can be changed by another sandboxed run (pid {pid}) while this one runs; asking instead",
                file.display()
            );
            ask_again(true)?
        }
        None => approved,
    };
    if !approved.pins.is_empty() {
        eprintln!(
            "cordon: note: {} can be changed by another sandboxed run (pid {pid}): this run is not held to the approved content (allowed once)",
            file.display()
        );
    }
    respec(a, workspace, &approved.escalations, &[], probe)
}

/// The config and the spec again, with granted escalations added to the flags (the managed
/// file still has the last word on them) and the pinned files.
fn respec(
    a: &Args,
    workspace: &std::path::Path,
    granted: &[Escalation],
    pins: &[cordon_sandbox::spec::Pinned],
    probe: &Probe,
) -> Result<(SandboxSpec, cordon_config::Config), Stop> {
    let mut a = a.clone();
    approval::apply(&mut a, granted).map_err(Stop::Fail)?;
    let cfg =
        crate::cmd_config::load(workspace, &flags(&a)).map_err(|e| Stop::Fail(e.to_string()))?;
    let req = request(&a, &cfg, pins).map_err(Stop::Fail)?;
    let mut spec =
        spec::build(&req, &parent_env(), probe).map_err(|e| Stop::Fail(e.to_string()))?;
    approval::protect_config_dir(&mut spec);
    Ok((spec, cfg))
}

/// The proxy's variables in the command's environment, when it has the proxy.
fn with_proxy_env(spec: &mut SandboxSpec) {
    if let Network::Proxy { port } = spec.network {
        spec.env
            .retain(|(k, _)| !k.to_ascii_lowercase().ends_with("_proxy"));
        spec.env.extend(cordon_net::proxy_env(port));
    }
}

/// The spec exactly as `--dry-run` prints it (its SHA-256 is the audit log's config digest).
fn dry_run_json(spec: &SandboxSpec) -> Result<String, String> {
    let mut shown = spec.clone();
    approval::protect_config_dir(&mut shown);
    with_proxy_env(&mut shown);
    serde_json::to_string_pretty(&shown).map_err(|e| format!("cannot encode the spec: {e}"))
}

/// Starts the proxy when needed, runs the spec (or prints it with --dry-run); the exit status.
/// The exec and exit records go to the audit log.
fn launch(
    a: &Args,
    cfg: &cordon_config::Config,
    mut spec: SandboxSpec,
    probe: &Probe,
    audit: &crate::cmd_audit::Session,
    started: std::time::Instant,
) -> u8 {
    if a.dry_run {
        return match dry_run_json(&spec) {
            Ok(j) => {
                println!("{j}");
                0
            }
            Err(e) => fail_code(e),
        };
    }
    with_proxy_env(&mut spec);
    if let Err(e) = audit.require(&crate::cmd_audit::exec(&spec)) {
        return fail_code(e);
    }
    if !matches!(spec.network, Network::Proxy { .. }) {
        if spec.network == Network::Full {
            eprintln!(
                "cordon: WARNING: --network full: the command has the host network, unfiltered"
            );
        }
        let ran = run_spec_status(&spec, probe, None);
        return crate::cmd_audit::finish(audit, &ran, started);
    }
    // The proxy: started in this (supervising) process once the sandbox hands out the socket it
    // listens on inside its network namespace; stopped when the sandbox is gone.
    let log = match &a.net_log {
        Some(p) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            Ok(f) => Some(std::sync::Mutex::new(f)),
            Err(e) => return fail_code(format!("--net-log {}: {e}", p.display())),
        },
        None => None,
    };
    let policy = cordon_net::NetPolicy {
        allow: cfg.allow_domains.iter().map(|d| d.value.clone()).collect(),
        deny: cfg.deny_domains.iter().map(|d| d.value.clone()).collect(),
        allow_local: cfg.allow_local.value,
        resolve: cfg.resolve.iter().map(|r| r.value.clone()).collect(),
        // A deny from a config file (managed.toml's never_allow_domains, say) names its file.
        deny_origin: cfg
            .deny_domains
            .iter()
            .map(|d| match &d.origin.file {
                Some(_) => d.origin.to_string(),
                None => String::new(),
            })
            .collect(),
    };
    let conn_audit = audit.clone();
    let on_event: Box<dyn Fn(cordon_net::ConnEvent) + Send + Sync> = Box::new(move |ev| {
        conn_audit.record(&crate::cmd_audit::connection(&ev));
        if let Some(f) = &log {
            if let (Ok(mut f), Ok(mut line)) = (f.lock(), serde_json::to_vec(&ev)) {
                use std::io::Write;
                line.push(b'\n');
                let _ = f.write_all(&line);
            }
        }
    });
    let handle = std::cell::RefCell::new(None);
    let hook = Box::new(
        |l: std::net::TcpListener| match cordon_net::start(l, policy, on_event) {
            Ok(h) => *handle.borrow_mut() = Some(h),
            // Fail closed: without the proxy the sandbox simply has no way out.
            Err(e) => eprintln!(
                "cordon: network: the proxy could not start ({e}); the command has no network"
            ),
        },
    );
    let ran = run_spec_status(&spec, probe, Some(hook));
    if let Some(h) = handle.borrow_mut().take() {
        h.shutdown();
    }
    crate::cmd_audit::finish(audit, &ran, started)
}

fn fail_code(msg: impl std::fmt::Display) -> u8 {
    eprintln!("cordon: {msg}");
    EXIT_CORDON_FAILED
}

/// Runs a resolved spec, with cordon's messages on stderr; returns the exit status.
#[allow(dead_code)]
pub fn run_spec(
    spec: &SandboxSpec,
    probe: &Probe,
    on_listener: Option<cordon_sandbox::exec::ListenerHook<'_>>,
) -> u8 {
    run_spec_status(spec, probe, on_listener).code
}

/// What the audit log records of a run.
pub struct Ran {
    pub code: u8,
    pub timed_out: bool,
    /// The namespaces failed at run time and the run fell back, because.
    pub fell_back: Option<String>,
    pub usage: Option<cordon_sandbox::exec::Usage>,
    /// What the check after the run moved aside (already printed).
    pub findings: Vec<cordon_sandbox::Finding>,
}

impl Ran {
    fn failed(code: u8) -> Ran {
        Ran {
            code,
            timed_out: false,
            fell_back: None,
            usage: None,
            findings: Vec::new(),
        }
    }
}

/// Prints what the check after a run found (see README "Repositories and agent configs").
pub fn report_findings(findings: &[cordon_sandbox::Finding]) {
    if findings.is_empty() {
        return;
    }
    eprintln!(
        "cordon: the command left {} thing(s) that would run code outside the sandbox when git, an editor or an agent is used there:",
        findings.len()
    );
    for f in findings {
        eprintln!("cordon: {}", f.message());
    }
}

/// `run_spec`, with what the audit log records.
pub fn run_spec_status(
    spec: &SandboxSpec,
    probe: &Probe,
    on_listener: Option<cordon_sandbox::exec::ListenerHook<'_>>,
) -> Ran {
    if let Some(why) = refuse_reason(spec, probe) {
        return Ran::failed(fail_code(why));
    }
    match &spec.isolation {
        Isolation::None => eprintln!("cordon: WARNING: --mode danger-full-access: no sandbox at all, the command runs with your full access"),
        Isolation::LandlockOnly { reason } => fallback_notice(reason),
        Isolation::Namespaces => {}
    }
    for n in &spec.notes {
        eprintln!("cordon: note: {n}");
    }
    report_findings(&spec.recovered);
    match cordon_sandbox::run(spec, on_listener) {
        Ok(o) => {
            if let (Some(why), Isolation::Namespaces) = (&o.fell_back, &spec.isolation) {
                fallback_notice(why);
            }
            if o.timed_out {
                eprintln!("cordon: timed out: the sandbox was killed after --timeout");
            }
            report_findings(&o.findings);
            Ran {
                code: o.code.clamp(0, 255) as u8,
                timed_out: o.timed_out,
                fell_back: match &spec.isolation {
                    Isolation::Namespaces => o.fell_back,
                    _ => None,
                },
                usage: o.usage,
                findings: o.findings,
            }
        }
        Err(e @ cordon_sandbox::Error::Refused(_)) => {
            eprintln!("cordon: {e}");
            Ran::failed(approval::EXIT_REFUSED)
        }
        Err(e) => Ran::failed(fail_code(format!("{e}; run 'cordon doctor'"))),
    }
}

fn fallback_notice(reason: &str) {
    eprintln!(
        "cordon: {reason}: running with Landlock + seccomp only (no private /tmp, no network at all, \
         new entries cannot be created in directories that hold protected or secret paths); see 'cordon doctor'"
    );
}

/// Fail closed: without namespaces, Landlock is the only file-system fence.
fn refuse_reason(spec: &SandboxSpec, probe: &Probe) -> Option<String> {
    if let Isolation::LandlockOnly { reason } = &spec.isolation {
        if let Network::Proxy { .. } = spec.network {
            return Some(format!(
                "cannot sandbox: {reason}, and without a network namespace --allow-domain cannot be enforced \
                 (the proxy would be reachable only through a socket the command could also use to go anywhere). \
                 Enable user namespaces ('cordon doctor'), or drop --allow-domain"
            ));
        }
        if probe.landlock_abi < 1 {
            return Some(format!(
                "cannot sandbox: {reason}, and Landlock is unavailable (kernel {}, or 'landlock' missing from the lsm= boot parameter); \
                 refusing to run unconfined. Fix one of the two, or pass --mode danger-full-access to run without a sandbox",
                probe.kernel
            ));
        }
        if !probe.seccomp {
            return Some(
                "cannot sandbox: seccomp is unavailable in this kernel; refusing to run".into(),
            );
        }
    }
    None
}
