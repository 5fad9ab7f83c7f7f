//! `cordon audit`: verify, read and export the audit log; and the session recorder used by
//! `cordon run` / `cordon check`.

use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use cordon_audit::read::{self, Filter, Record};
use cordon_audit::{Event, Text, Writer};

use crate::EXIT_CORDON_FAILED;

/// The audit options shared by `run` and `check`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LogArgs {
    /// The audit log directory (default: $CORDON_AUDIT_DIR, else
    /// $XDG_STATE_HOME/cordon/audit, else ~/.local/state/cordon/audit).
    #[arg(long, value_name = "DIR")]
    pub audit_dir: Option<PathBuf>,
    /// Run without writing the audit log (a warning is printed).
    #[arg(long, conflicts_with = "audit_dir")]
    pub no_audit: bool,
    /// The agent's name, recorded in the audit log (e.g. claude-code, codex).
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
}

/// `--audit-dir`, else `CORDON_AUDIT_DIR`, else [`cordon_audit::default_dir`].
pub fn resolve_dir(flag: Option<&Path>) -> Result<PathBuf, String> {
    let p = match flag {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os("CORDON_AUDIT_DIR").filter(|v| !v.is_empty()) {
            Some(v) => PathBuf::from(v),
            None => cordon_audit::default_dir().map_err(|e| e.to_string())?,
        },
    };
    std::path::absolute(&p).map_err(|e| format!("audit directory {}: {e}", p.display()))
}

/// Where `run` and `check` write: a managed `audit.dir` (which `--no-audit` cannot turn off),
/// else `--audit-dir`, `CORDON_AUDIT_DIR`, the config's `audit.dir`, the default. None:
/// `--no-audit`.
pub fn resolve_run_dir(
    a: &LogArgs,
    cfg_dir: Option<&cordon_config::Val<PathBuf>>,
) -> Result<Option<PathBuf>, String> {
    if let Some(d) = cfg_dir.filter(|d| d.origin.layer == cordon_config::Layer::Managed) {
        if a.no_audit {
            return Err(format!(
                "--no-audit: the managed policy{} sets audit.dir, so the audit log cannot be turned off; drop --no-audit",
                d.origin
                    .file
                    .as_ref()
                    .map(|f| format!(" ({})", f.display()))
                    .unwrap_or_default()
            ));
        }
        return Ok(Some(d.value.clone()));
    }
    if a.no_audit {
        return Ok(None);
    }
    if a.audit_dir.is_none() && std::env::var_os("CORDON_AUDIT_DIR").is_none_or(|v| v.is_empty()) {
        if let Some(d) = cfg_dir {
            return Ok(Some(d.value.clone()));
        }
    }
    resolve_dir(a.audit_dir.as_deref()).map(Some)
}

/// The audit log of one cordon process (shared with the proxy's thread). Writing the first
/// record is required (fail closed); later records are required where the caller says so.
#[derive(Clone)]
pub struct Session {
    w: Option<Arc<Mutex<Writer>>>,
    warned: Arc<AtomicBool>,
}

fn user_name(uid: u32) -> String {
    // getpwuid_r; fall back to $USER, then the number.
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut res: *mut libc::passwd = std::ptr::null_mut();
    let r = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut res) };
    if r == 0 && !res.is_null() && !pw.pw_name.is_null() {
        let s = unsafe { std::ffi::CStr::from_ptr(pw.pw_name) };
        return s.to_string_lossy().into_owned();
    }
    std::env::var("USER").unwrap_or_else(|_| uid.to_string())
}

/// The fields of `session_start` that are the same for run and check.
/// The config digest of a session: SHA-256 over the config files and `--policy` files read
/// (each: path, NUL, contents, NUL). Anyone can recompute it from the same files.
pub fn config_digest(
    cfg: &cordon_config::Config,
    policy_files: &[std::path::PathBuf],
) -> Result<String, String> {
    let mut all = Vec::new();
    for f in cfg.files.iter().map(|(_, p)| p).chain(policy_files) {
        all.extend_from_slice(f.as_os_str().as_encoded_bytes());
        all.push(0);
        all.extend(std::fs::read(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?);
        all.push(0);
    }
    Ok(cordon_audit::sha256_hex(&all))
}

pub fn session_start(
    command: &str,
    config_digest: String,
    spec_digest: Option<String>,
    mode: &str,
    roots: Vec<Text>,
    network: &str,
    agent: Option<&str>,
) -> Event {
    let uid = unsafe { libc::getuid() };
    Event::SessionStart {
        command: command.into(),
        config_digest,
        spec_digest,
        mode: mode.into(),
        roots,
        network: network.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        user: user_name(uid),
        uid,
        agent: agent.map(str::to_string),
        pid: std::process::id(),
    }
}

impl Session {
    /// No log (`--no-audit`): prints the warning.
    pub fn disabled() -> Session {
        eprintln!(
            "cordon: WARNING: --no-audit: nothing of this session is recorded in the audit log"
        );
        Session::none()
    }

    /// No log, silently (a dry run).
    pub fn none() -> Session {
        Session {
            w: None,
            warned: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Opens the log in `dir` and writes `start`. The error is cordon's message with the fix.
    pub fn start(dir: &Path, start: &Event) -> Result<Session, String> {
        let fix =
            "pass --audit-dir DIR to write it elsewhere, or --no-audit to run without an audit log";
        let mut w = Writer::open(dir).map_err(|e| format!("audit log: {e}; {fix}"))?;
        w.append(start)
            .map_err(|e| format!("audit log: {e}; {fix}"))?;
        Ok(Session {
            w: Some(Arc::new(Mutex::new(w))),
            warned: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Appends `ev`; an error is returned (for records the caller must not go on without).
    pub fn require(&self, ev: &Event) -> Result<(), String> {
        let Some(w) = &self.w else { return Ok(()) };
        let mut g = w.lock().unwrap_or_else(|p| p.into_inner());
        g.append(ev)
            .map(|_| ())
            .map_err(|e| format!("audit log: {e}; pass --no-audit to run without an audit log"))
    }

    /// Appends `ev`; an error is printed once, and the session goes on.
    pub fn record(&self, ev: &Event) {
        if let Err(e) = self.require(ev) {
            if !self.warned.swap(true, Ordering::SeqCst) {
                eprintln!("cordon: WARNING: {e}");
            }
        }
    }

    /// A question and its answer (fsync'd).
    pub fn record_approval(&self, r: &crate::approval::ApprovalRecord) {
        let word = |v: serde_json::Result<serde_json::Value>| {
            v.ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        self.record(&Event::Approval {
            stage: r.stage.into(),
            prompt: Text::from(crate::approval::display_argv(&r.argv).as_str()),
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

/// getrusage(RUSAGE_CHILDREN): (user ms, sys ms, max RSS KiB).
pub fn rusage_children() -> (u64, u64, u64) {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) } != 0 {
        return (0, 0, 0);
    }
    let ms = |t: libc::timeval| (t.tv_sec as u64) * 1000 + (t.tv_usec as u64) / 1000;
    (ms(ru.ru_utime), ms(ru.ru_stime), ru.ru_maxrss.max(0) as u64)
}

// ---------------------------------------------------------------------------------------------
// The subcommands.

#[derive(clap::Args)]
pub struct Args {
    /// The audit log directory (default: $CORDON_AUDIT_DIR, else
    /// $XDG_STATE_HOME/cordon/audit, else ~/.local/state/cordon/audit).
    #[arg(long, value_name = "DIR", global = true)]
    audit_dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Walk the hash chain. Exit 0 intact (a torn last record from a crash is reported but is
    /// not tampering), 1 tampered, 125 cannot read.
    Verify {
        /// A log file or directory (default: the audit directory).
        path: Option<PathBuf>,
    },
    /// The last records, one line each; -f to follow.
    Tail {
        #[arg(short = 'f', long)]
        follow: bool,
        /// How many records.
        #[arg(short = 'n', long, default_value_t = 10)]
        lines: usize,
        /// The records as stored (JSON lines).
        #[arg(long)]
        json: bool,
    },
    /// Records, filtered.
    Show {
        #[command(flatten)]
        filter: FilterArgs,
        /// The records as stored (JSON lines).
        #[arg(long)]
        json: bool,
    },
    /// Send the records as OpenTelemetry logs (OTLP/HTTP protobuf) to URL/v1/logs.
    Export {
        /// The collector, e.g. http://127.0.0.1:4318.
        #[arg(long, value_name = "URL")]
        otlp: String,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Write one self-contained HTML page: sessions, decisions, denied commands, domains, activity.
    Report {
        #[arg(long, value_name = "FILE")]
        html: PathBuf,
        #[command(flatten)]
        filter: FilterArgs,
    },
}

#[derive(clap::Args)]
struct FilterArgs {
    /// Only records newer than this: a duration (90s, 30m, 1h, 7d) or a time (RFC 3339, or YYYY-MM-DD).
    #[arg(long, value_name = "DURATION|TIME")]
    since: Option<String>,
    /// Only records with this decision (allow, ask, deny; for connections: allowed, denied...).
    #[arg(long, value_name = "DECISION")]
    decision: Option<String>,
    /// Only this session (a prefix of its id is enough).
    #[arg(long, value_name = "ID")]
    session: Option<String>,
    /// Only this event type (session_start, decision, approval, exec, exit, connection, ...).
    #[arg(long, value_name = "EVENT")]
    event: Option<String>,
}

impl FilterArgs {
    fn filter(&self) -> Result<Filter, String> {
        let since_ms = match &self.since {
            None => None,
            Some(s) => Some(parse_since(s)?),
        };
        Ok(Filter {
            since_ms,
            decision: self.decision.clone(),
            session: self.session.clone(),
            event: self.event.clone(),
        })
    }
}

fn parse_since(s: &str) -> Result<i64, String> {
    if let Some(t) = cordon_audit::parse_rfc3339_ms(s) {
        return Ok(t);
    }
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'd')) => (&t[..i], 86_400_000i64),
        Some((i, 'h')) => (&t[..i], 3_600_000),
        Some((i, 'm')) => (&t[..i], 60_000),
        Some((i, 's')) => (&t[..i], 1000),
        _ => (t, 1000),
    };
    let n: i64 = num.parse().map_err(|_| {
        format!("--since {s}: not a duration or a time (try 1h, 30m, 7d, or 2026-01-31T12:00:00Z)")
    })?;
    Ok(cordon_audit::now_ms() - n.saturating_mul(mult))
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("cordon: {msg}");
    ExitCode::from(EXIT_CORDON_FAILED)
}

fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// The directory `run` and `check` write to from here (the config's `audit.dir` included).
fn read_dir_for(flag: Option<&Path>) -> Result<PathBuf, String> {
    let cfg = crate::cmd_config::workspace_root(None, None)
        .and_then(|w| crate::cmd_config::load(&w, &cordon_config::Flags::default()));
    let cfg = match cfg {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("cordon: note: the config is not readable ({e}); its audit.dir is not used");
            None
        }
    };
    let args = LogArgs {
        audit_dir: flag.map(Path::to_path_buf),
        ..Default::default()
    };
    let d = resolve_run_dir(&args, cfg.as_ref().and_then(|c| c.audit_dir.as_ref()))?;
    d.ok_or_else(|| "no audit directory; pass --audit-dir DIR".to_string())
}

pub fn run(a: Args) -> ExitCode {
    let dir = match read_dir_for(a.audit_dir.as_deref()) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    match a.cmd {
        Sub::Verify { path } => verify(path.as_deref().unwrap_or(&dir)),
        Sub::Tail {
            follow,
            lines,
            json,
        } => tail(&dir, follow, lines, json),
        Sub::Show { filter, json } => match (filter.filter(), read_existing(&dir)) {
            (Err(e), _) | (_, Err(e)) => fail(e),
            (Ok(f), Ok(recs)) => print_records(recs.iter().filter(|r| f.matches(r)), json),
        },
        Sub::Export { otlp, filter } => match (filter.filter(), read_existing(&dir)) {
            (Err(e), _) | (_, Err(e)) => fail(e),
            (Ok(f), Ok(recs)) => {
                let recs: Vec<Record> = recs.into_iter().filter(|r| f.matches(r)).collect();
                match cordon_audit::otlp::export(&otlp, &recs) {
                    Ok(n) => {
                        eprintln!(
                            "cordon: exported {n} records to {}",
                            otlp.trim_end_matches('/')
                        );
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(format!("export to {otlp}: {e}")),
                }
            }
        },
        Sub::Report { html, filter } => match (filter.filter(), read_existing(&dir)) {
            (Err(e), _) | (_, Err(e)) => fail(e),
            (Ok(f), Ok(recs)) => {
                let recs: Vec<Record> = recs.into_iter().filter(|r| f.matches(r)).collect();
                let page = cordon_audit::report::html(&recs, &dir.display().to_string());
                match std::fs::write(&html, page) {
                    Ok(()) => {
                        eprintln!("cordon: wrote {} ({} records)", html.display(), recs.len());
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(format!("cannot write {}: {e}", html.display())),
                }
            }
        },
    }
}

fn read_existing(dir: &Path) -> Result<Vec<Record>, String> {
    if !dir.exists() {
        return Err(format!(
            "no audit log at {}; pass --audit-dir DIR (or set CORDON_AUDIT_DIR) to read another",
            dir.display()
        ));
    }
    read::read_all(dir).map_err(|e| e.to_string())
}

fn print_records<'a>(recs: impl Iterator<Item = &'a Record>, json: bool) -> ExitCode {
    let c = colour();
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for r in recs {
        // Stored lines are already terminal-safe (control, C1 and bidi characters escaped).
        let line = if json {
            r.raw.clone()
        } else {
            read::summary(r, c)
        };
        if let Err(e) = writeln!(out, "{line}") {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return ExitCode::SUCCESS;
            }
            return fail(format!("cannot write the output: {e}"));
        }
    }
    let _ = out.flush();
    ExitCode::SUCCESS
}

fn verify(path: &Path) -> ExitCode {
    let r = match cordon_audit::verify::verify_path(path) {
        Ok(r) => r,
        Err(e) => {
            return fail(format!(
                "cannot verify {}: {e}; pass the log directory or a file",
                path.display()
            ))
        }
    };
    for n in &r.notes {
        println!("note: {}", cordon_audit::term_safe(n));
    }
    for s in &r.sealed {
        println!("sealed: a torn record at {s} (a crash mid-write), sealed by the recovery record after it");
    }
    if let Some((at, why)) = &r.problem {
        println!("TAMPERED: {at}: {}", cordon_audit::term_safe(why));
        return ExitCode::from(1);
    }
    if let Some((at, n)) = &r.torn {
        println!("torn: the last record at {at} is incomplete ({n} bytes): a crash mid-write, not tampering; the next record written seals it");
    }
    println!(
        "intact: {} records in {} file(s), seq {}..{}",
        r.records,
        r.files.len(),
        r.first_seq.unwrap_or(0),
        r.last_seq.unwrap_or(0)
    );
    ExitCode::SUCCESS
}

fn tail(dir: &Path, follow: bool, n: usize, json: bool) -> ExitCode {
    // Where following starts is taken before the existing records are read: a record appended
    // in between is then read twice (and printed once: records are skipped by seq), never lost.
    let path = dir.join(cordon_audit::LOG_NAME);
    let mut ino = 0u64;
    let mut off = 0u64;
    let mut f: Option<std::fs::File> = None;
    if follow {
        if let Ok(file) = std::fs::File::open(&path) {
            if let Ok(m) = file.metadata() {
                ino = m.ino();
                off = m.len();
            }
            f = Some(file);
        }
    }
    let recs = match read_existing(dir) {
        Ok(r) => r,
        Err(e) if follow => {
            eprintln!("cordon: {e}; waiting for it");
            Vec::new()
        }
        Err(e) => return fail(e),
    };
    let skip = recs.len().saturating_sub(n);
    let code = print_records(recs[skip..].iter(), json);
    if !follow {
        return code;
    }
    // Follow audit.jsonl from where it ended; a rotation (new inode) starts the new file.
    let mut last_seq = recs.last().map(|r| r.seq);
    let mut pending: Vec<u8> = Vec::new();
    let c = colour();
    loop {
        let cur = std::fs::metadata(&path).ok();
        if cur.as_ref().map(|m| m.ino()) != Some(ino) {
            if let Some(m) = cur {
                // Drain the rest of the old file, then switch.
                drain(&mut f, &mut off, &mut pending, &mut last_seq, json, c);
                f = std::fs::File::open(&path).ok();
                ino = m.ino();
                off = 0;
                pending.clear();
            }
        }
        if !drain(&mut f, &mut off, &mut pending, &mut last_seq, json, c) {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Prints the whole new lines of `f` after `off` whose seq is past `last_seq`; false when
/// stdout is gone.
fn drain(
    f: &mut Option<std::fs::File>,
    off: &mut u64,
    pending: &mut Vec<u8>,
    last_seq: &mut Option<u64>,
    json: bool,
    c: bool,
) -> bool {
    let Some(file) = f else { return true };
    if file.seek(SeekFrom::Start(*off)).is_err() {
        return true;
    }
    let mut buf = Vec::new();
    if let Ok(n) = file.read_to_end(&mut buf) {
        *off += n as u64;
    }
    pending.extend_from_slice(&buf);
    let mut out = std::io::stdout().lock();
    while let Some(i) = pending.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = pending.drain(..=i).collect();
        let line = &line[..line.len() - 1];
        if let Some(r) = Record::parse(line) {
            if last_seq.is_some_and(|l| r.seq <= l) {
                continue; // already printed with the existing records
            }
            *last_seq = Some(r.seq);
            let s = if json {
                r.raw.clone()
            } else {
                read::summary(&r, c)
            };
            if writeln!(out, "{s}").is_err() {
                return false;
            }
        }
    }
    out.flush().is_ok()
}

// ---------------------------------------------------------------------------------------------
// The events of `cordon run`.

/// The Landlock ABI cordon asks for (cordon-sandbox's fence); below it is a degradation.
const LANDLOCK_WANTED: i32 = 9;

/// Opens the log and writes session_start, the degradations and the dropped variables.
/// `dir` None: `--no-audit`. `dry_run_json`: the spec exactly as `cordon run --dry-run` prints
/// it; its SHA-256 is the spec digest. `config_digest`: see [`config_digest`].
pub fn start_run(
    dir: Option<&Path>,
    spec: &cordon_sandbox::SandboxSpec,
    dry_run_json: &str,
    config_digest: String,
    probe: &cordon_sandbox::Probe,
    agent: Option<&str>,
) -> Result<Session, String> {
    use cordon_sandbox::{Isolation, Network};
    let Some(dir) = dir else {
        return Ok(Session::disabled());
    };
    let json = dry_run_json;
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
    for f in &spec.recovered {
        s.record(&neutralised(f));
    }
    for (what, detail) in degr {
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

pub fn decision(ev: &cordon_policy::Evaluation, command: &[u8]) -> Event {
    Event::Decision {
        decision: ev.decision.as_str().into(),
        rule: ev.rule.clone(),
        reason: ev.reason.clone(),
        command: Text(command.to_vec()),
    }
}

pub fn exec(spec: &cordon_sandbox::SandboxSpec) -> Event {
    use cordon_sandbox::Isolation;
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

pub fn connection(ev: &cordon_net::ConnEvent) -> Event {
    Event::Connection {
        protocol: ev.protocol.into(),
        host: Text::from(&ev.host),
        port: ev.port,
        addr: ev.addr.clone(),
        decision: ev.decision.into(),
        rule: Text::from(&ev.rule),
        bytes_up: ev.bytes_up,
        bytes_down: ev.bytes_down,
        duration_ms: ev.duration_ms.min(u64::MAX as u128) as u64,
    }
}

/// What the check after a run moved aside.
pub fn neutralised(f: &cordon_sandbox::Finding) -> Event {
    Event::Neutralised {
        path: Text::from(f.path.as_path()),
        moved_to: f.moved_to.as_deref().map(Text::from),
        reason: f.reason.clone(),
        error: f.error.clone(),
    }
}

/// Records the exit (and a late fallback) and returns cordon's exit status.
pub fn finish(s: &Session, ran: &crate::cmd_run::Ran, started: std::time::Instant) -> u8 {
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
        None => rusage_children(),
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
