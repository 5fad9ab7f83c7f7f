//! `cordon run`: run a command inside the sandbox.

use std::path::PathBuf;
use std::process::ExitCode;

use cordon_sandbox::env::EnvRequest;
use cordon_sandbox::spec::{self, Isolation, Limits, Mode, Network, Request};
use cordon_sandbox::{Probe, SandboxSpec};

use crate::EXIT_CORDON_FAILED;

#[derive(clap::Args)]
#[command(
    after_help = "Exit status: the command's own; 128+N if it died of signal N; 124 if --timeout \
killed it; 125 if cordon itself failed; 126 not executable; 127 not found.\n\n\
CORDON_NO_USERNS=1 makes cordon skip user namespaces and use its fallback (Landlock + seccomp)."
)]
pub struct Args {
    /// read-only | workspace-write | danger-full-access
    #[arg(long, default_value = "workspace-write", value_parser = parse_mode)]
    pub mode: Mode,
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

/// "30s", "500ms", "5m", "1h", or plain seconds.
pub fn parse_duration_ms(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000.0)
    } else {
        (s, 1000.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (try 30s, 500ms, 5m)"))?;
    if !v.is_finite() || v <= 0.0 {
        return Err(format!("'{s}': the duration must be positive"));
    }
    Ok((v * mult).round() as u64)
}

/// "4G", "512M", "100k", or plain bytes.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        Some('T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (try 4G, 512M)"))?;
    v.checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too large"))
}

/// Builds the sandbox request from the flags. Shared with later layers (config, policy).
pub fn request(a: &Args) -> Result<Request, String> {
    let argv = match &a.shell {
        Some(s) => vec!["/bin/sh".to_string(), "-c".to_string(), s.clone()],
        None => a.argv.clone(),
    };
    if argv.is_empty() {
        return Err("no command given: cordon run [OPTIONS] -- CMD [ARGS...], or cordon run -c 'shell string'".into());
    }
    let mut limits = Limits::defaults();
    if let Some(n) = a.limit_nproc {
        limits.nproc = n;
    }
    if let Some(n) = a.limit_memory {
        limits.data_bytes = n;
    }
    if let Some(n) = a.limit_nofile {
        limits.nofile = n;
    }
    Ok(Request {
        mode: a.mode,
        argv,
        cwd: a.cwd.clone(),
        workspace: a.workspace.clone(),
        writable: a.writable.clone(),
        read_secret: a.read_secret.clone(),
        env: EnvRequest {
            extra: a.env.clone(),
            secret_ok: a.secret_env.clone(),
        },
        network: if a.network.as_deref() == Some("full") {
            Network::Full
        } else if !a.allow_domain.is_empty() {
            Network::Proxy { port: PROXY_PORT }
        } else {
            Network::None
        },
        limits,
        timeout_ms: a.timeout,
        force_no_userns: std::env::var_os("CORDON_NO_USERNS")
            .is_some_and(|v| !v.is_empty() && v != "0"),
        extra_secrets: Vec::new(),
    })
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

pub fn run(a: Args) -> ExitCode {
    cordon_sandbox::timing("start");
    let mut req = match request(&a) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    // The audit log directory is a secret of the sandbox: neither readable nor writable inside.
    let audit_dir = if a.audit.no_audit {
        None
    } else {
        match crate::cmd_audit::resolve_dir(a.audit.audit_dir.as_deref()) {
            Ok(d) => {
                if !a.dry_run {
                    if let Err(e) = cordon_audit::Writer::create_dir(&d) {
                        return fail(format!("audit log: {e}; pass --audit-dir DIR to write it elsewhere, or --no-audit to run without an audit log"));
                    }
                }
                req.extra_secrets.push(d.clone());
                Some(d)
            }
            // A dry run writes no log: no directory is no error.
            Err(_) if a.dry_run => None,
            Err(e) => return fail(e),
        }
    };
    let started = std::time::Instant::now();
    let probe = Probe::quick();
    cordon_sandbox::timing("probe");
    let mut spec = match spec::build(&req, &parent_env(), &probe) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    cordon_sandbox::timing("spec built");
    if let Network::Proxy { port } = spec.network {
        spec.env
            .retain(|(k, _)| !k.to_ascii_lowercase().ends_with("_proxy"));
        spec.env.extend(cordon_net::proxy_env(port));
    }
    let audit = if a.dry_run {
        None
    } else {
        match crate::cmd_audit::start_run(
            audit_dir.as_deref(),
            &spec,
            &probe,
            a.audit.agent.as_deref(),
        ) {
            Ok(s) => Some(std::sync::Arc::new(s)),
            Err(e) => return fail(e),
        }
    };
    // The policy decides before anything starts: deny refuses (126); allow and ask both run,
    // inside the sandbox (what ask means for a person comes with approvals).
    if !a.no_policy {
        let policy = if a.policy.is_empty() {
            cordon_policy::Policy::builtin()
        } else {
            match cordon_policy::Policy::load(&a.policy) {
                Ok(p) => p,
                Err(e) => return fail(e),
            }
        };
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
        if let Some(s) = &audit {
            let command = match &a.shell {
                Some(src) => src.clone(),
                None => spec.argv.join(" "),
            };
            if let Err(e) = s.require(&crate::cmd_audit::decision(&ev, command.as_bytes())) {
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
    }
    if a.dry_run {
        return match serde_json::to_string_pretty(&spec) {
            Ok(j) => {
                println!("{j}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        };
    }
    let Some(audit) = audit else {
        return fail("internal: no audit session");
    };
    if let Err(e) = audit.require(&crate::cmd_audit::exec(&spec)) {
        return fail(e);
    }
    if !matches!(spec.network, Network::Proxy { .. }) {
        if spec.network == Network::Full {
            eprintln!(
                "cordon: WARNING: --network full: the command has the host network, unfiltered"
            );
        }
        let (code, timed_out, fell_back) = run_spec_status(&spec, &probe, None);
        return crate::cmd_audit::finish(&audit, code, timed_out, fell_back, started);
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
            Err(e) => return fail(format!("--net-log {}: {e}", p.display())),
        },
        None => None,
    };
    let policy = cordon_net::NetPolicy {
        allow: a.allow_domain.clone(),
        deny: a.deny_domain.clone(),
        allow_local: a.allow_local,
        resolve: a.resolve.clone(),
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
    let (code, timed_out, fell_back) = run_spec_status(&spec, &probe, Some(hook));
    if let Some(h) = handle.borrow_mut().take() {
        h.shutdown();
    }
    crate::cmd_audit::finish(&audit, code, timed_out, fell_back, started)
}

/// Runs a resolved spec, with cordon's messages on stderr; returns the exit status.
#[allow(dead_code)]
pub fn run_spec(
    spec: &SandboxSpec,
    probe: &Probe,
    on_listener: Option<cordon_sandbox::exec::ListenerHook<'_>>,
) -> ExitCode {
    ExitCode::from(run_spec_status(spec, probe, on_listener).0)
}

/// `run_spec`, with what the audit log records: (exit status, timed out, fell back because).
pub fn run_spec_status(
    spec: &SandboxSpec,
    probe: &Probe,
    on_listener: Option<cordon_sandbox::exec::ListenerHook<'_>>,
) -> (u8, bool, Option<String>) {
    let fail = |m: String| {
        eprintln!("cordon: {m}");
        (EXIT_CORDON_FAILED, false, None)
    };
    if let Some(why) = refuse_reason(spec, probe) {
        return fail(why);
    }
    match &spec.isolation {
        Isolation::None => eprintln!("cordon: WARNING: --mode danger-full-access: no sandbox at all, the command runs with your full access"),
        Isolation::LandlockOnly { reason } => fallback_notice(reason),
        Isolation::Namespaces => {}
    }
    for n in &spec.notes {
        eprintln!("cordon: note: {n}");
    }
    match cordon_sandbox::run(spec, on_listener) {
        Ok(o) => {
            if let (Some(why), Isolation::Namespaces) = (&o.fell_back, &spec.isolation) {
                fallback_notice(why);
            }
            if o.timed_out {
                eprintln!("cordon: timed out: the sandbox was killed after --timeout");
            }
            let fell = match &spec.isolation {
                Isolation::Namespaces => o.fell_back,
                _ => None,
            };
            (o.code.clamp(0, 255) as u8, o.timed_out, fell)
        }
        Err(e) => fail(format!("{e}; run 'cordon doctor'")),
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
