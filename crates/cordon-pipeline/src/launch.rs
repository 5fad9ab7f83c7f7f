//! Stage 4, the launch: the proxy when the spec has one, the sandbox (`cordon_sandbox::run_with`,
//! with the request's stdio),
//! cordon's notices, and the exec and exit records. Returns the exit status: the command's own,
//! 124 timeout, 125 when cordon failed (the message printed here), 126/127 not executable / not
//! found, 128+N for a signal.

use std::sync::Mutex;

use cordon_config::Config;
use cordon_sandbox::exit;
use cordon_sandbox::spec::{Isolation, Network};
use cordon_sandbox::{Probe, SandboxSpec};

use crate::plan::Plan;
use crate::record::{self, spec_json, Ran, Session};

fn fail_code(msg: impl std::fmt::Display) -> u8 {
    errln!("cordon: {msg}");
    exit::CORDON_FAILED
}

/// Runs `spec` (prints it, for a dry run) and records what happened.
pub(crate) fn run(
    cfg: &Config,
    spec: &SandboxSpec,
    plan: &Plan,
    rec: &Session,
    started: std::time::Instant,
) -> u8 {
    if plan.request.dry_run {
        // The spec on stdout; a reader that stopped early (`| head`) is not a failure.
        return match spec_json(spec).map_err(|e| e.to_string()).and_then(|j| {
            outln!("{j}")
                .and_then(|()| crate::out::flush())
                .map_err(|e| e.to_string())
        }) {
            Ok(()) => 0,
            Err(e) => fail_code(e),
        };
    }
    // Credentials injected on egress: every secret is read now, before anything runs; one
    // missing refuses the run (crate::credentials).
    let mut policy = net_policy(cfg);
    if let (Network::Proxy { .. }, Some(ca), Some(_)) = (&spec.network, &plan.run_ca, &spec.trust) {
        let var = |k: &str| std::env::var(k).ok();
        if let Err(e) = crate::credentials::intercept(cfg, ca, &mut policy, &var) {
            return fail_code(e);
        }
    }
    if let Err(e) = rec.require(&record::exec(spec)) {
        return fail_code(e);
    }
    if !matches!(spec.network, Network::Proxy { .. }) {
        if spec.network == Network::Full {
            errln!("cordon: WARNING: --network full: the command has the host network, unfiltered");
        }
        let ran = sandbox(spec, plan, None);
        let code = record::finish(rec, &ran, started);
        cordon_sandbox::timing("recorded");
        return code;
    }
    // The proxy: started in this (supervising) process once the sandbox hands out the socket it
    // listens on inside its network namespace; stopped when the sandbox is gone.
    let log = match &plan.request.net_log {
        Some(p) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            Ok(f) => Some(Mutex::new(f)),
            Err(e) => return fail_code(format!("--net-log {}: {e}", p.display())),
        },
        None => None,
    };
    let conn_audit = rec.clone();
    let on_event: Box<dyn Fn(cordon_net::ConnEvent) + Send + Sync> = Box::new(move |ev| {
        conn_audit.record(&record::connection(&ev));
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
            Err(e) => errln!(
                "cordon: network: the proxy could not start ({e}); the command has no network"
            ),
        },
    );
    let ran = sandbox(spec, plan, Some(hook));
    if let Some(h) = handle.borrow_mut().take() {
        h.shutdown();
    }
    record::finish(rec, &ran, started)
}

/// What the proxy lets through, from the effective config. A credential's host:port is
/// allowed by the credential itself (a deny still wins); its secret and the run's CA are added
/// at launch (`credentials::intercept`).
pub fn net_policy(cfg: &Config) -> cordon_net::NetPolicy {
    // The allow list, each entry with where it came from: the flags and config files (shown as
    // `--allow-domain`), then each credential's host:port (shown as that credential, so that a
    // record does not name a flag nobody gave).
    let credential_hosts = cfg.credentials.iter().filter_map(|c| {
        let pattern = format!("{}:{}", c.value.host, c.value.port)
            .parse::<cordon_net::DomainPattern>()
            .ok()?;
        Some((pattern, format!("[[network.credentials]] at {}", c.origin)))
    });
    let (allow, allow_origin): (Vec<_>, Vec<_>) = cfg
        .allow_domains
        .iter()
        .map(|d| (d.value.clone(), String::new()))
        .chain(credential_hosts)
        .unzip();
    cordon_net::NetPolicy {
        allow,
        allow_origin,
        deny: cfg.deny_domains.iter().map(|d| d.value.clone()).collect(),
        allow_local: cfg.allow_local.value,
        allow_ech: cfg.allow_ech.value,
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
        // Added at launch, with the secrets (`credentials::intercept`).
        credentials: Vec::new(),
        intercept_ca: None,
        upstream_roots: None,
    }
}

/// Prints what the check after a run moved aside (README "Repositories and agent configs").
fn report_findings(findings: &[cordon_sandbox::Finding]) {
    if findings.is_empty() {
        return;
    }
    errln!(
        "cordon: the command left {} thing(s) that would run code outside the sandbox when git, an editor or an agent is used there:",
        findings.len()
    );
    for f in findings {
        errln!("cordon: {}", f.message());
    }
}

/// Runs a resolved spec in the sandbox, with cordon's messages on stderr.
fn sandbox(
    spec: &SandboxSpec,
    plan: &Plan,
    on_listener: Option<cordon_sandbox::exec::ListenerHook<'_>>,
) -> Ran {
    let probe: &Probe = &plan.probe;
    if let Some(why) = cordon_sandbox::fallback::refusal(spec, probe) {
        return Ran::failed(fail_code(why));
    }
    match &spec.isolation {
        Isolation::None => errln!("cordon: WARNING: --mode danger-full-access: no sandbox at all, the command runs with your full access"),
        Isolation::LandlockOnly { reason } => {
            errln!("cordon: {}", cordon_sandbox::fallback::notice(reason));
            if let Some(n) = cordon_sandbox::caches::fallback_notice(&spec.caches) {
                errln!("cordon: {n}");
            }
        }
        Isolation::Namespaces => {}
    }
    for n in &spec.notes {
        errln!("cordon: note: {n}");
    }
    report_findings(&spec.recovered);
    let stdio = match plan.request.stdio.copies() {
        Ok(s) => s,
        Err(e) => return Ran::failed(fail_code(format!("the command's stdio: {e}"))),
    };
    let on_start = plan.request.on_start.clone().map(|f| {
        Box::new(move |r: cordon_sandbox::Running| (f.0)(r)) as cordon_sandbox::StartHook<'_>
    });
    let launch = cordon_sandbox::Launch {
        on_listener,
        stdio,
        on_start,
    };
    match cordon_sandbox::run_with(spec, launch) {
        Ok(o) => {
            if let (Some(why), Isolation::Namespaces) = (&o.fell_back, &spec.isolation) {
                errln!("cordon: {}", cordon_sandbox::fallback::notice(why));
                if let Some(n) = cordon_sandbox::caches::fallback_notice(&spec.caches) {
                    errln!("cordon: {n}");
                }
            }
            if o.timed_out {
                errln!("cordon: timed out: the sandbox was killed after --timeout");
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
            errln!("cordon: {e}");
            Ran::failed(exit::REFUSED)
        }
        Err(e) => Ran::failed(fail_code(format!("{e}; run 'cordon doctor'"))),
    }
}
