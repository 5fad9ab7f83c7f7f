//! Reading records back: all of them, filtered, and as one line for people.

use std::path::Path;

use serde_json::Value;

use crate::text::{display_bytes, term_safe};
use crate::{io_err, Error};

/// One record as read from the log.
#[derive(Debug, Clone)]
pub struct Record {
    /// The exact line (without the newline).
    pub raw: String,
    pub v: Value,
    pub seq: u64,
    pub ts_ms: i64,
}

impl Record {
    pub fn parse(line: &[u8]) -> Option<Record> {
        let raw = std::str::from_utf8(line).ok()?.to_string();
        let v: Value = serde_json::from_str(&raw).ok()?;
        let seq = v.get("seq")?.as_u64()?;
        let ts_ms = v
            .get("ts")
            .and_then(Value::as_str)
            .and_then(crate::parse_rfc3339_ms)
            .unwrap_or(0);
        Some(Record { raw, v, seq, ts_ms })
    }

    pub fn str(&self, k: &str) -> &str {
        self.v.get(k).and_then(Value::as_str).unwrap_or("")
    }

    pub fn event(&self) -> &str {
        self.str("event")
    }

    pub fn session(&self) -> &str {
        self.str("session")
    }

    pub fn u64(&self, k: &str) -> u64 {
        self.v.get(k).and_then(Value::as_u64).unwrap_or(0)
    }

    /// A field for people: strings through `term_safe`, `{"b64":…}` decoded with `\xNN`.
    pub fn text(&self, k: &str) -> String {
        self.v.get(k).map(value_text).unwrap_or_default()
    }
}

/// A JSON value for people (never raw control characters).
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => term_safe(s).into_owned(),
        Value::Null => String::new(),
        Value::Object(m) if m.len() == 1 && m.contains_key("b64") => {
            match m
                .get("b64")
                .and_then(Value::as_str)
                .and_then(crate::b64_decode)
            {
                Some(b) => display_bytes(&b),
                None => "?".into(),
            }
        }
        Value::Array(a) => a.iter().map(value_text).collect::<Vec<_>>().join(" "),
        other => term_safe(&other.to_string()).into_owned(),
    }
}

/// The bytes of an agent-controlled field (string or `{"b64":…}`).
pub fn value_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Object(m) => m
            .get("b64")
            .and_then(Value::as_str)
            .and_then(crate::b64_decode),
        _ => None,
    }
}

/// Every record of the log directory (or of one file), in chain order. Lines that are not
/// records (torn, tampered) are skipped: `verify` is the judge of those.
pub fn read_all(path: &Path) -> Result<Vec<Record>, Error> {
    let files = if path.is_dir() {
        crate::log_files(path)?
    } else {
        vec![path.to_path_buf()]
    };
    let mut out = Vec::new();
    for f in files {
        let buf =
            std::fs::read(&f).map_err(|e| io_err(format!("cannot read {}", f.display()), e))?;
        for line in buf.split(|&c| c == b'\n') {
            if let Some(r) = Record::parse(line) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// `show`'s filters.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub since_ms: Option<i64>,
    pub decision: Option<String>,
    pub session: Option<String>,
    pub event: Option<String>,
}

impl Filter {
    pub fn matches(&self, r: &Record) -> bool {
        if let Some(s) = self.since_ms {
            if r.ts_ms < s {
                return false;
            }
        }
        if let Some(d) = &self.decision {
            let got = match r.event() {
                "approval" => r.str("answer"),
                _ => r.str("decision"),
            };
            if got != d {
                return false;
            }
        }
        if let Some(s) = &self.session {
            if !r.session().starts_with(s.as_str()) {
                return false;
            }
        }
        if let Some(e) = &self.event {
            if r.event() != e {
                return false;
            }
        }
        true
    }
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

fn paint(s: &str, c: &str, on: bool) -> String {
    if on {
        format!("{c}{s}{RESET}")
    } else {
        s.to_string()
    }
}

fn decision_colour(d: &str) -> &'static str {
    match d {
        "deny" | "denied" | "refused" => RED,
        "ask" => YELLOW,
        _ => GREEN,
    }
}

/// One line for people: `ts session seq event details`. Colours only when `colour`.
pub fn summary(r: &Record, colour: bool) -> String {
    let ev = r.event();
    let details = match ev {
        "session_start" => session_start_details(r),
        "decision" => {
            let d = r.text("decision");
            format!(
                "{} {}: {} — {}",
                paint(&d, decision_colour(&d), colour),
                r.text("rule"),
                r.text("reason"),
                r.text("command")
            )
        }
        "hook" => hook_details(r, colour),
        "approval" => approval_details(r, colour),
        "exec" => exec_details(r),
        "exit" => exit_details(r),
        "connection" => {
            let d = r.text("decision");
            // Plain HTTP: the request's method and path (without the query).
            let request = match r.text("method") {
                m if m.is_empty() => String::new(),
                m => format!(" {m} {}", r.text("path")),
            };
            // An intercepted request that got a credential: the header's name, never its value.
            let injected = match r.text("injected") {
                h if h.is_empty() => String::new(),
                h => format!(" injected={h}"),
            };
            format!(
                "{} {} {}:{}{request}{injected} up={}B down={}B ({})",
                paint(&d, decision_colour(&d), colour),
                r.text("protocol"),
                r.text("host"),
                r.u64("port"),
                r.u64("bytes_up"),
                r.u64("bytes_down"),
                r.text("rule")
            )
        }
        "env_dropped" => format!("{} ({})", r.text("name"), r.text("reason")),
        "degradation" => paint(
            &format!("{}: {}", r.text("what"), r.text("detail")),
            YELLOW,
            colour,
        ),
        "neutralised" => neutralised_details(r, colour),
        "mcp_list" => format!(
            "{}: {} tools shown{}",
            r.text("server"),
            r.u64("shown"),
            match r.text("withheld") {
                w if w.is_empty() => String::new(),
                w => paint(&format!(", withheld: {w}"), YELLOW, colour),
            }
        ),
        "mcp_call" => mcp_call_details(r, colour),
        "mcp_change" => mcp_change_details(r, colour),
        "mcp_error" => paint(
            &format!(
                "{} {}: {}",
                r.text("what"),
                r.text("server"),
                r.text("detail")
            ),
            RED,
            colour,
        ),
        "recovery" => format!(
            "sealed a torn record of {} bytes at offset {} (a crash mid-write)",
            r.u64("torn_bytes"),
            r.u64("torn_offset")
        ),
        _ => {
            let mut m = r.v.clone();
            if let Value::Object(o) = &mut m {
                for k in ["seq", "ts", "session", "prev", "event"] {
                    o.remove(k);
                }
            }
            value_text(&m)
        }
    };
    format!(
        "{} {} {:>6} {:<13} {}",
        paint(&term_safe(r.str("ts")), DIM, colour),
        term_safe(r.session().get(..8).unwrap_or(r.session())),
        r.seq,
        paint(&term_safe(ev), BOLD, colour),
        details
    )
}

/// `session_start`: the command, mode, network, who, cordon's version, the roots.
fn session_start_details(r: &Record) -> String {
    format!(
        "{} mode={} network={} user={}{} cordon {} roots={}",
        r.text("command"),
        r.text("mode"),
        r.text("network"),
        r.text("user"),
        match r.v.get("agent").map(value_text) {
            Some(a) if !a.is_empty() => format!(" agent={a}"),
            _ => String::new(),
        },
        r.text("version"),
        r.text("roots"),
    )
}

/// `hook`: an agent's tool call and cordon's answer.
fn hook_details(r: &Record, colour: bool) -> String {
    let d = r.text("decision");
    format!(
        "{} {} {} {} ({}{}): {}{} — {}",
        r.text("agent"),
        r.text("hook_event"),
        r.text("tool"),
        paint(&d, decision_colour(&d), colour),
        r.text("rule"),
        if r.v.get("rewritten").and_then(Value::as_bool) == Some(true) {
            ", sandboxed"
        } else {
            ""
        },
        r.text("reason"),
        match r.text("agent_session") {
            s if s.is_empty() => String::new(),
            s => format!(" [session {s}]"),
        },
        r.text("target")
    )
}

/// `approval`: the answer, who gave it, at which stage, what was granted.
fn approval_details(r: &Record, colour: bool) -> String {
    let a = r.text("answer");
    let c = if a.starts_with("allow") { GREEN } else { RED };
    let granted = r.text("granted");
    format!(
        "{} by {} ({}{}): {}{}",
        paint(&a, c, colour),
        r.text("answered_by"),
        r.text("stage"),
        match r.v.get("rule").map(value_text) {
            Some(x) if !x.is_empty() => format!(", {x}"),
            _ => String::new(),
        },
        r.text("prompt"),
        if granted.is_empty() {
            String::new()
        } else {
            format!(" granted: {granted}")
        }
    )
}

/// `exec`: the process and its argv.
fn exec_details(r: &Record) -> String {
    format!(
        "pid={} cwd={} argv: {}",
        r.u64("pid"),
        r.text("cwd"),
        r.v.get("argv")
            .and_then(Value::as_array)
            .map(|a| a
                .iter()
                .map(|x| quote(&value_text(x)))
                .collect::<Vec<_>>()
                .join(" "))
            .unwrap_or_default()
    )
}

/// `exit`: the status and the resources used.
fn exit_details(r: &Record) -> String {
    format!(
        "status={}{} {}ms user={}ms sys={}ms maxrss={}KiB",
        r.v.get("status").map(value_text).unwrap_or_default(),
        if r.v.get("timed_out").and_then(Value::as_bool) == Some(true) {
            " (timed out)"
        } else {
            ""
        },
        r.u64("duration_ms"),
        r.u64("user_ms"),
        r.u64("sys_ms"),
        r.u64("max_rss_kib"),
    )
}

/// `neutralised`: what the check after a run moved aside (or could not).
fn neutralised_details(r: &Record, colour: bool) -> String {
    paint(
        &match r
            .v
            .get("moved_to")
            .map(value_text)
            .filter(|m| !m.is_empty() && m != "null")
        {
            Some(to) => format!("{} -> {to}: {}", r.text("path"), r.text("reason")),
            None => format!(
                "{} NOT MOVED ({}): {}",
                r.text("path"),
                r.text("error"),
                r.text("reason")
            ),
        },
        YELLOW,
        colour,
    )
}

/// `mcp_call`: a tool call through the gateway and its result.
fn mcp_call_details(r: &Record, colour: bool) -> String {
    let d = r.text("decision");
    format!(
        "{} {}/{} {}: {}{}",
        paint(&d, decision_colour(&d), colour),
        r.text("server"),
        r.text("tool"),
        r.text("rule"),
        r.text("reason"),
        match r.v.get("duration_ms").and_then(Value::as_u64) {
            Some(ms) => format!(
                " ({}B in {ms}ms{})",
                r.u64("result_bytes"),
                if r.v.get("is_error").and_then(Value::as_bool) == Some(true) {
                    ", tool error"
                } else {
                    ""
                }
            ),
            None => String::new(),
        }
    )
}

/// `mcp_change`: a server's or tool's change against its pin.
fn mcp_change_details(r: &Record, colour: bool) -> String {
    paint(
        &format!(
            "{} {}{}: {}",
            r.text("change"),
            r.text("server"),
            match r.v.get("tool").map(value_text) {
                Some(t) if !t.is_empty() => format!("/{t}"),
                _ => String::new(),
            },
            r.text("detail")
        ),
        YELLOW,
        colour,
    )
}

/// Shell-ish quoting for an argv word shown to people (already terminal-safe).
fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
