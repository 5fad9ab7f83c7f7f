//! `cordon audit`: verify, read and export the audit log. (What a session writes to it is
//! `cordon_pipeline::record`.)

use cordon_audit::read::{self, Filter, Record};
use cordon_pipeline::record::{resolve_run_dir, AuditOptions};
use cordon_pipeline::Error;
use cordon_sandbox::exit::CHECK_FAILED;
use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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

impl LogArgs {
    /// The options, for the pipeline.
    pub fn options(&self) -> AuditOptions {
        AuditOptions {
            dir: self.audit_dir.clone(),
            off: self.no_audit,
            agent: self.agent.clone(),
        }
    }
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

fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// The directory `run` and `check` write to from here (the config's `audit.dir` included).
fn read_dir_for(flag: Option<&Path>) -> Result<PathBuf, Error> {
    let paths = cordon_pipeline::plan::paths();
    let cfg = cordon_pipeline::plan::workspace_root(None, None).and_then(|w| {
        cordon_pipeline::plan::load_config(&paths, &w, &cordon_config::Flags::default())
    });
    let cfg = match cfg {
        Ok(c) => Some(c),
        Err(e) => {
            errln!("cordon: note: the config is not readable ({e}); its audit.dir is not used");
            None
        }
    };
    let args = AuditOptions {
        dir: flag.map(Path::to_path_buf),
        ..Default::default()
    };
    let d = resolve_run_dir(&args, cfg.as_ref().and_then(|c| c.audit_dir.as_ref()))?;
    d.ok_or_else(|| Error::usage("no audit directory; pass --audit-dir DIR"))
}

pub fn run(a: Args) -> Result<ExitCode, Error> {
    let dir = read_dir_for(a.audit_dir.as_deref())?;
    match a.cmd {
        Sub::Verify { path } => verify(path.as_deref().unwrap_or(&dir)),
        Sub::Tail {
            follow,
            lines,
            json,
        } => tail(&dir, follow, lines, json),
        Sub::Show { filter, json } => match (filter.filter(), read_existing(&dir)) {
            (Err(e), _) | (_, Err(e)) => Err(Error::usage(e)),
            (Ok(f), Ok(recs)) => {
                print_records(recs.iter().filter(|r| f.matches(r)), json).map(|_| ExitCode::SUCCESS)
            }
        },
        Sub::Export { otlp, filter } => match (filter.filter(), read_existing(&dir)) {
            (Err(e), _) | (_, Err(e)) => Err(Error::usage(e)),
            (Ok(f), Ok(recs)) => {
                let recs: Vec<Record> = recs.into_iter().filter(|r| f.matches(r)).collect();
                match cordon_audit::otlp::export(&otlp, &recs) {
                    Ok(n) => {
                        errln!(
                            "cordon: exported {n} records to {}",
                            otlp.trim_end_matches('/')
                        );
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(e) => Err(Error::usage(format!("export to {otlp}: {e}"))),
                }
            }
        },
        Sub::Report { html, filter } => match (filter.filter(), read_existing(&dir)) {
            (Err(e), _) | (_, Err(e)) => Err(Error::usage(e)),
            (Ok(f), Ok(recs)) => {
                let recs: Vec<Record> = recs.into_iter().filter(|r| f.matches(r)).collect();
                let page = cordon_audit::report::html(&recs, &dir.display().to_string());
                match std::fs::write(&html, page) {
                    Ok(()) => {
                        errln!("cordon: wrote {} ({} records)", html.display(), recs.len());
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(e) => Err(Error::usage(format!(
                        "cannot write {}: {e}",
                        html.display()
                    ))),
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

/// Prints `recs`; false when stdout's reader is gone (the rest is dropped quietly).
fn print_records<'a>(recs: impl Iterator<Item = &'a Record>, json: bool) -> Result<bool, Error> {
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
            return still_open(e);
        }
    }
    out.flush().map_or_else(still_open, |()| Ok(true))
}

fn verify(path: &Path) -> Result<ExitCode, Error> {
    let r = match cordon_audit::verify::verify_path(path) {
        Ok(r) => r,
        Err(e) => {
            return Err(Error::usage(format!(
                "cannot verify {}: {e}; pass the log directory or a file",
                path.display()
            )))
        }
    };
    for n in &r.notes {
        outln!("note: {}", cordon_audit::term_safe(n))?;
    }
    for s in &r.sealed {
        outln!("sealed: a torn record at {s} (a crash mid-write), sealed by the recovery record after it")?;
    }
    if let Some((at, why)) = &r.problem {
        outln!("TAMPERED: {at}: {}", cordon_audit::term_safe(why))?;
        return Ok(ExitCode::from(CHECK_FAILED));
    }
    if let Some((at, n)) = &r.torn {
        outln!("torn: the last record at {at} is incomplete ({n} bytes): a crash mid-write, not tampering; the next record written seals it")?;
    }
    outln!(
        "intact: {} records in {} file(s), seq {}..{}",
        r.records,
        r.files.len(),
        r.first_seq.unwrap_or(0),
        r.last_seq.unwrap_or(0)
    )?;
    Ok(ExitCode::SUCCESS)
}

fn tail(dir: &Path, follow: bool, n: usize, json: bool) -> Result<ExitCode, Error> {
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
            errln!("cordon: {e}; waiting for it");
            Vec::new()
        }
        Err(e) => return Err(Error::usage(e)),
    };
    let skip = recs.len().saturating_sub(n);
    // Following ends when the reader is gone (`audit tail -f | head -1`).
    if !print_records(recs[skip..].iter(), json)? || !follow {
        return Ok(ExitCode::SUCCESS);
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
                if !drain(&mut f, &mut off, &mut pending, &mut last_seq, json, c)? {
                    return Ok(ExitCode::SUCCESS);
                }
                f = std::fs::File::open(&path).ok();
                ino = m.ino();
                off = 0;
                pending.clear();
            }
        }
        if !drain(&mut f, &mut off, &mut pending, &mut last_seq, json, c)? {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Prints the whole new lines of `f` after `off` whose seq is past `last_seq`; false when
/// stdout's reader is gone (following ends quietly), an error when stdout fails otherwise.
fn drain(
    f: &mut Option<std::fs::File>,
    off: &mut u64,
    pending: &mut Vec<u8>,
    last_seq: &mut Option<u64>,
    json: bool,
    c: bool,
) -> Result<bool, Error> {
    let Some(file) = f else { return Ok(true) };
    if file.seek(SeekFrom::Start(*off)).is_err() {
        return Ok(true);
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
            if let Err(e) = writeln!(out, "{s}") {
                return still_open(e);
            }
        }
    }
    out.flush().map_or_else(still_open, |()| Ok(true))
}

/// A closed pipe is the quiet end of the output (`Ok(false)`); any other write error fails.
fn still_open(e: std::io::Error) -> Result<bool, Error> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return Ok(false);
    }
    Err(Error::failed(format!(
        "cannot write the output to stdout: {e}; the output is incomplete"
    )))
}
