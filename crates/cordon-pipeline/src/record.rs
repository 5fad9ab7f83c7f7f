//! The last stage: what a session writes to the audit log (`cordon-audit`), from the first
//! record (`session_start`, required: a run does not start unrecorded) to `exit`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use cordon_audit::{Event, Text, Writer};
use cordon_sandbox::{Isolation, Network, Probe, SandboxSpec};

use crate::approval::{display_argv, ApprovalRecord};
use crate::{Error, Result};

/// Where the audit log goes, as the caller was told (flags).
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    /// `--audit-dir`.
    pub dir: Option<PathBuf>,
    /// `--no-audit`.
    pub off: bool,
    /// `--agent NAME`, recorded in `session_start`.
    pub agent: Option<String>,
}

const FIX: &str =
    "pass --audit-dir DIR to write it elsewhere, or --no-audit to run without an audit log";

/// `--audit-dir`, else `CORDON_AUDIT_DIR`, else [`cordon_audit::default_dir`].
pub fn resolve_dir(flag: Option<&Path>) -> Result<PathBuf> {
    let p = match flag {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os("CORDON_AUDIT_DIR").filter(|v| !v.is_empty()) {
            Some(v) => PathBuf::from(v),
            None => cordon_audit::default_dir().map_err(|e| Error::Usage(e.to_string()))?,
        },
    };
    std::path::absolute(&p)
        .map_err(|e| Error::Usage(format!("audit directory {}: {e}", p.display())))
}

/// Where a session writes: a managed `audit.dir` (which `--no-audit` cannot turn off), else
/// `--audit-dir`, `CORDON_AUDIT_DIR`, the config's `audit.dir`, the default. None: `--no-audit`.
pub fn resolve_run_dir(
    a: &AuditOptions,
    cfg_dir: Option<&cordon_config::Val<PathBuf>>,
) -> Result<Option<PathBuf>> {
    if let Some(d) = cfg_dir.filter(|d| d.origin.layer == cordon_config::Layer::Managed) {
        if a.off {
            return Err(Error::Usage(format!(
                "--no-audit: the managed policy{} sets audit.dir, so the audit log cannot be turned off; drop --no-audit",
                d.origin
                    .file
                    .as_ref()
                    .map(|f| format!(" ({})", f.display()))
                    .unwrap_or_default()
            )));
        }
        return Ok(Some(d.value.clone()));
    }
    if a.off {
        return Ok(None);
    }
    if a.dir.is_none() && std::env::var_os("CORDON_AUDIT_DIR").is_none_or(|v| v.is_empty()) {
        if let Some(d) = cfg_dir {
            return Ok(Some(d.value.clone()));
        }
    }
    resolve_dir(a.dir.as_deref()).map(Some)
}

/// The audit log of one cordon process (shared with the proxy's thread). Writing the first
/// record is required (fail closed); later records are required where the caller says so.
#[derive(Clone)]
pub struct Session {
    w: Option<Arc<Mutex<Writer>>>,
    warned: Arc<AtomicBool>,
}

/// The config digest of a session: SHA-256 over the config files and `--policy` files read
/// (each: path, NUL, contents, NUL). Anyone can recompute it from the same files.
pub fn config_digest(cfg: &cordon_config::Config, policy_files: &[PathBuf]) -> Result<String> {
    let mut all = Vec::new();
    for f in cfg.files.iter().map(|(_, p)| p).chain(policy_files) {
        all.extend_from_slice(f.as_os_str().as_encoded_bytes());
        all.push(0);
        all.extend(std::fs::read(f).map_err(|err| Error::Read {
            path: f.clone(),
            err,
        })?);
        all.push(0);
    }
    Ok(cordon_audit::sha256_hex(&all))
}

/// The fields of `session_start` that are the same for every command.
pub fn session_start(
    command: &str,
    config_digest: String,
    spec_digest: Option<String>,
    mode: &str,
    roots: Vec<Text>,
    network: &str,
    agent: Option<&str>,
) -> Event {
    let uid = cordon_sandbox::host::uid();
    Event::SessionStart {
        command: command.into(),
        config_digest,
        spec_digest,
        mode: mode.into(),
        roots,
        network: network.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        user: cordon_sandbox::host::user_name(uid),
        uid,
        agent: agent.map(str::to_string),
        pid: std::process::id(),
    }
}

impl Session {
    /// No log (`--no-audit`): prints the warning.
    pub fn disabled() -> Session {
        errln!("cordon: WARNING: --no-audit: nothing of this session is recorded in the audit log");
        Session::none()
    }

    /// No log, silently (a dry run).
    pub fn none() -> Session {
        Session {
            w: None,
            warned: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Opens the log in `dir` and writes `start`.
    pub fn start(dir: &Path, start: &Event) -> Result<Session> {
        let mut w = Writer::open(dir).map_err(|e| Error::Audit(format!("{e}; {FIX}")))?;
        w.append(start)
            .map_err(|e| Error::Audit(format!("{e}; {FIX}")))?;
        Ok(Session {
            w: Some(Arc::new(Mutex::new(w))),
            warned: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Appends `ev`; an error is returned (for records the caller must not go on without).
    pub fn require(&self, ev: &Event) -> Result<()> {
        let Some(w) = &self.w else { return Ok(()) };
        let mut g = w.lock().unwrap_or_else(|p| p.into_inner());
        g.append(ev)
            .map(|_| ())
            .map_err(|e| Error::Audit(format!("{e}; pass --no-audit to run without an audit log")))
    }

    /// Appends `ev`; an error is printed once, and the session goes on.
    pub fn record(&self, ev: &Event) {
        if let Err(e) = self.require(ev) {
            if !self.warned.swap(true, Ordering::SeqCst) {
                errln!("cordon: WARNING: {e}");
            }
        }
    }

    /// A question and its answer (fsync'd).
    pub fn record_approval(&self, r: &ApprovalRecord) {
        let word = |v: serde_json::Result<serde_json::Value>| {
            v.ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        self.record(&Event::Approval {
            stage: r.stage.into(),
            prompt: Text::from(display_argv(&r.argv).as_str()),
            answer: word(serde_json::to_value(r.answer)),
            answered_by: word(serde_json::to_value(r.answered_by)),
            policy_decision: r.decision.clone(),
            rule: (!r.rule.is_empty()).then(|| r.rule.clone()),
            requested: r.requested.clone(),
            granted: r.granted.clone(),
            unsandboxed: r.unsandboxed,
            grant_id: r.grant_id.clone(),
            note: r.note.clone(),
        });
    }
}

/// The spec as `--dry-run` prints it (its SHA-256 is the audit log's spec digest).
pub fn spec_json(spec: &SandboxSpec) -> Result<String> {
    serde_json::to_string_pretty(spec)
        .map_err(|e| Error::Usage(format!("cannot encode the spec: {e}")))
}

/// The Landlock ABI cordon asks for (cordon-sandbox's fence); below it is a degradation.
const LANDLOCK_WANTED: i32 = 9;

/// Opens the log and writes session_start, the degradations and the dropped variables of a run.
/// `dir` None: `--no-audit`. The spec digest is the SHA-256 of the spec as `--dry-run` prints it.
pub fn start_run(
    dir: Option<&Path>,
    spec: &SandboxSpec,
    config_digest: String,
    probe: &Probe,
    agent: Option<&str>,
) -> Result<Session> {
    let Some(dir) = dir else {
        return Ok(Session::disabled());
    };
    let json = spec_json(spec)?;
    let mode = serde_json::to_value(spec.mode)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let network = match spec.network {
        Network::None => "none".to_string(),
        Network::Proxy { port } => format!("proxy:{port}"),
        Network::Full => "full".to_string(),
    };
    let start = session_start(
        "run",
        config_digest,
        Some(cordon_audit::sha256_hex(json.as_bytes())),
        &mode,
        spec.writable
            .iter()
            .map(|p| Text::from(p.as_path()))
            .collect(),
        &network,
        agent,
    );
    let s = Session::start(dir, &start)?;
    // What the check after an earlier run (killed before it) moved aside now.
    for f in &spec.recovered {
        s.record(&neutralised(f));
    }
    for (what, detail) in degradations(spec, probe) {
        s.require(&Event::Degradation {
            what: what.into(),
            detail,
        })?;
    }
    for d in &spec.env_dropped {
        s.require(&Event::EnvDropped {
            name: Text::from(&d.name),
            reason: d.reason.clone(),
        })?;
    }
    Ok(s)
}

/// What the sandbox of `spec` lacks here, for the log.
fn degradations(spec: &SandboxSpec, probe: &Probe) -> Vec<(&'static str, String)> {
    let mut degr: Vec<(&str, String)> = Vec::new();
    match &spec.isolation {
        Isolation::Namespaces => {}
        Isolation::LandlockOnly { reason } => degr.push((
            "fallback",
            format!("{reason}: Landlock + seccomp only (no namespaces)"),
        )),
        Isolation::None => degr.push(("no_sandbox", "--mode danger-full-access".into())),
    }
    if spec.isolation != Isolation::None && probe.landlock_abi < LANDLOCK_WANTED {
        degr.push((
            "landlock_abi",
            format!(
                "the kernel's Landlock ABI is {} (cordon asks for {LANDLOCK_WANTED}): the newer rights are not enforced",
                probe.landlock_abi
            ),
        ));
    }
    if spec.network == Network::Full {
        degr.push((
            "network_full",
            "--network full: the host network, unfiltered".into(),
        ));
    }
    for n in &spec.notes {
        degr.push(("note", n.clone()));
    }
    degr
}

/// The policy's decision on `command` (its bytes as given).
pub fn decision(ev: &cordon_policy::Evaluation, command: &[u8]) -> Event {
    Event::Decision {
        decision: ev.decision.as_str().into(),
        rule: ev.rule.clone(),
        reason: ev.reason.clone(),
        command: Text(command.to_vec()),
    }
}

/// What is about to be executed, and how confined.
pub fn exec(spec: &SandboxSpec) -> Event {
    Event::Exec {
        argv: spec.argv.iter().map(Text::from).collect(),
        cwd: Text::from(spec.cwd.as_path()),
        pid: std::process::id(),
        isolation: match spec.isolation {
            Isolation::Namespaces => "namespaces",
            Isolation::LandlockOnly { .. } => "landlock-only",
            Isolation::None => "none",
        }
        .into(),
    }
}

/// A connection through the proxy.
pub fn connection(ev: &cordon_net::ConnEvent) -> Event {
    Event::Connection {
        protocol: ev.protocol.into(),
        host: Text::from(&ev.host),
        port: ev.port,
        addr: ev.addr.clone(),
        method: ev.method.clone(),
        path: ev.path.as_ref().map(Text::from),
        injected: ev.injected.clone(),
        decision: ev.decision.into(),
        rule: Text::from(&ev.rule),
        bytes_up: ev.bytes_up,
        bytes_down: ev.bytes_down,
        duration_ms: ev.duration_ms.min(u64::MAX as u128) as u64,
    }
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
    /// A run that did not happen, with cordon's status.
    pub fn failed(code: u8) -> Ran {
        Ran {
            code,
            timed_out: false,
            fell_back: None,
            usage: None,
            findings: Vec::new(),
        }
    }
}

/// What the check after a run moved aside (`neutralised`).
pub fn neutralised(f: &cordon_sandbox::Finding) -> Event {
    Event::Neutralised {
        path: Text::from(f.path.as_path()),
        moved_to: f.moved_to.as_deref().map(Text::from),
        reason: f.reason.clone(),
        error: f.error.clone(),
    }
}

/// Records the exit (and a late fallback) and returns the exit status.
pub fn finish(s: &Session, ran: &Ran, started: std::time::Instant) -> u8 {
    for f in &ran.findings {
        s.record(&neutralised(f));
    }
    if let Some(why) = &ran.fell_back {
        s.record(&Event::Degradation {
            what: "fallback".into(),
            detail: format!("{why}: fell back to Landlock + seccomp only at run time"),
        });
    }
    // init's own measure (namespaces), else this process's children (waited for).
    let (user_ms, sys_ms, max_rss_kib) = match ran.usage {
        Some(u) => (u.user_us / 1000, u.sys_us / 1000, u.max_rss_kib),
        None => cordon_sandbox::host::rusage_children(),
    };
    s.record(&Event::Exit {
        status: ran.code as i32,
        timed_out: ran.timed_out,
        duration_ms: started.elapsed().as_millis() as u64,
        user_ms,
        sys_ms,
        max_rss_kib,
    });
    ran.code
}
