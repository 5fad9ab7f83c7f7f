//! Approvals: `--approval untrusted|on-request|on-failure|never` and `--escalate KIND:VALUE`.
//!
//! Who answers, in order: a remembered grant (`grants.rs`), a person on the controlling terminal
//! (`/dev/tty`, never stdin/stdout: those belong to the command), else the `approver` command
//! from the user's config; with none of them, ask is deny. Every question is asked before the
//! sandbox starts, or after it has exited and all its processes are dead (on-failure), so a
//! sandboxed command can never answer for itself. A rerun outside the sandbox needs a person's
//! yes on the terminal: never a grant, never the approver.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cordon_policy::unicode;
use cordon_policy::{Decision, Evaluation};
use cordon_sandbox::spec::{Isolation, Kind, Protected};
use cordon_sandbox::SandboxSpec;
use serde::{Deserialize, Serialize};

use crate::grants::{self, Bound, Grant, Script};
use cordon_sandbox::spec::Pinned;

/// Exit status when the command is refused (policy deny, approval denied).
pub const EXIT_REFUSED: u8 = 126;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalMode {
    /// Only what the policy allows runs; ask prompts; deny is refused.
    Untrusted,
    /// Allow and ask run in the sandbox; only --escalate prompts (default).
    OnRequest,
    /// Run in the sandbox; if it fails, offer to rerun with the escalations (or unsandboxed).
    OnFailure,
    /// Never prompt: escalations are refused.
    Never,
}

impl ApprovalMode {
    pub fn from_config(a: cordon_config::Approval) -> ApprovalMode {
        match a {
            cordon_config::Approval::Untrusted => ApprovalMode::Untrusted,
            cordon_config::Approval::OnRequest => ApprovalMode::OnRequest,
            cordon_config::Approval::OnFailure => ApprovalMode::OnFailure,
            cordon_config::Approval::Never => ApprovalMode::Never,
        }
    }

    pub fn to_config(self) -> cordon_config::Approval {
        match self {
            ApprovalMode::Untrusted => cordon_config::Approval::Untrusted,
            ApprovalMode::OnRequest => cordon_config::Approval::OnRequest,
            ApprovalMode::OnFailure => cordon_config::Approval::OnFailure,
            ApprovalMode::Never => cordon_config::Approval::Never,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalMode::Untrusted => "untrusted",
            ApprovalMode::OnRequest => "on-request",
            ApprovalMode::OnFailure => "on-failure",
            ApprovalMode::Never => "never",
        }
    }
}

/// Extra access a caller asks for with `--escalate KIND:VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Escalation {
    /// `write:PATH`: an extra writable root.
    Write(PathBuf),
    /// `domain:PATTERN[:PORT]`: an allowed domain.
    Domain(String),
    /// `secret:PATH`: read one secret path.
    Secret(PathBuf),
    /// `env:NAME`: pass a variable through, even if its value looks like a secret.
    Env(String),
}

impl std::str::FromStr for Escalation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, value) = s.split_once(':').ok_or_else(|| {
            format!("'{s}': expected KIND:VALUE with KIND one of write, domain, secret, env (e.g. write:../shared)")
        })?;
        if value.is_empty() {
            return Err(format!("'{s}': the value after '{kind}:' is empty"));
        }
        match kind {
            "write" => Ok(Escalation::Write(absolute(Path::new(value)))),
            "secret" => Ok(Escalation::Secret(absolute(Path::new(value)))),
            "domain" => value
                .parse::<cordon_net::DomainPattern>()
                .map(|d| Escalation::Domain(d.to_string().to_ascii_lowercase()))
                .map_err(|e| format!("'{s}': {e}")),
            "env" => {
                if value.contains('=') || value.contains('\0') {
                    Err(format!("'{s}': env:NAME takes a variable name (its value comes from the environment)"))
                } else {
                    Ok(Escalation::Env(value.to_string()))
                }
            }
            other => Err(format!(
                "'{s}': unknown kind '{other}'; use write:PATH, domain:PATTERN, secret:PATH or env:NAME"
            )),
        }
    }
}

impl std::fmt::Display for Escalation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Escalation::Write(p) => write!(f, "write:{}", p.display()),
            Escalation::Domain(d) => write!(f, "domain:{d}"),
            Escalation::Secret(p) => write!(f, "secret:{}", p.display()),
            Escalation::Env(n) => write!(f, "env:{n}"),
        }
    }
}

impl Escalation {
    /// What a person reads in the prompt.
    fn describe(&self) -> String {
        let s = match self {
            Escalation::Write(p) => {
                format!("write access to {} (an extra writable root)", p.display())
            }
            Escalation::Domain(d) => format!("network access to {d} (through cordon's proxy)"),
            Escalation::Secret(p) => format!("read access to the secret path {}", p.display()),
            Escalation::Env(n) => {
                format!("the environment variable {n}, even if its value looks like a secret")
            }
        };
        unicode::escape(&s)
    }

    /// The flag that grants it without asking.
    fn flag(&self) -> String {
        match self {
            Escalation::Write(p) => format!("--writable {}", p.display()),
            Escalation::Domain(d) => format!("--allow-domain {d}"),
            Escalation::Secret(p) => format!("--read-secret {}", p.display()),
            Escalation::Env(n) => format!("--env {n} --secret-env {n}"),
        }
    }
}

/// An absolute path: canonical when it exists, else joined to the working directory.
fn absolute(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// Approval settings from config. Only the system, user and managed layers may set `approver`
/// (an agent calling cordon must not approve itself): never an environment variable, a flag or
/// a project (cordon-config enforces it).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub approval: Option<ApprovalMode>,
    pub approver: Option<Vec<String>>,
    /// How long the approver may take (ms); default 60 s.
    pub approver_timeout: Option<u64>,
    /// Where the settings came from (for messages).
    pub source: Option<PathBuf>,
}

/// Default time an approver command gets before its silence counts as deny.
pub const APPROVER_TIMEOUT_MS: u64 = 60_000;

impl Settings {
    fn approver_timeout_ms(&self) -> Result<u64, String> {
        Ok(self.approver_timeout.unwrap_or(APPROVER_TIMEOUT_MS))
    }
}

/// The approval settings of the effective config (flags and managed limits included).
pub fn settings_from_config(cfg: &cordon_config::Config) -> Settings {
    Settings {
        approval: Some(ApprovalMode::from_config(cfg.approval.value)),
        approver: cfg.approver.as_ref().map(|a| a.value.clone()),
        approver_timeout: cfg.approver_timeout_ms.as_ref().map(|t| t.value),
        source: None,
    }
}

/// Who answered a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnsweredBy {
    /// A person on the controlling terminal.
    Tty,
    /// The approver command from config.
    Approver,
    /// A remembered grant.
    Grant,
    /// Nobody could be asked (no terminal, no approver), or the mode forbids asking.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    AllowOnce,
    AllowProject,
    Deny,
}

/// One question and its answer, for the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalRecord {
    pub mode: ApprovalMode,
    /// `before-run` or `after-failure`.
    pub stage: &'static str,
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub workspace: PathBuf,
    /// The policy's decision, rule and reason (`allow`, `--no-policy`, ... without a policy).
    pub decision: String,
    pub rule: String,
    pub reason: String,
    /// Escalations asked for.
    pub requested: Vec<String>,
    /// The question was whether to rerun outside the sandbox.
    pub unsandboxed: bool,
    pub answered_by: AnsweredBy,
    pub answer: Answer,
    /// What was actually granted.
    pub granted: Vec<String>,
    /// The grant used or stored.
    pub grant_id: Option<String>,
    /// Why (the approver's reason, why nobody could be asked, ...).
    pub note: String,
}

/// Everything a question is about.
pub struct Ctx<'a> {
    pub mode: ApprovalMode,
    pub settings: &'a Settings,
    pub spec: &'a SandboxSpec,
    /// The policy's evaluation; None with --no-policy.
    pub eval: Option<&'a Evaluation>,
    pub escalations: &'a [Escalation],
    /// Do not answer from a remembered grant (its pins cannot hold now: see cmd_run).
    pub skip_grants: bool,
}

/// What a yes granted.
#[derive(Default)]
pub struct Approved {
    pub escalations: Vec<Escalation>,
    /// The files a grant (used or stored) is bound to, pinned to the bytes hashed.
    pub pins: Vec<Pinned>,
    /// The remembered grant that answered, if one did.
    pub grant: Option<String>,
}

impl Approved {
    fn nothing() -> Approved {
        Approved::default()
    }
}

/// What to do before the sandbox starts.
pub enum Before {
    /// Run, with these escalations granted.
    Run(Approved),
    /// Do not run: exit with this status (the message has been printed).
    Refuse(u8),
}

/// What to do after a run that failed.
pub enum Rerun {
    No,
    WithEscalations(Approved),
    Unsandboxed,
}

impl Ctx<'_> {
    fn decision(&self) -> (Decision, String, String) {
        match self.eval {
            Some(e) => (e.decision, e.rule.clone(), e.reason.clone()),
            None => (
                Decision::Allow,
                "--no-policy".into(),
                "the command policy was not consulted".into(),
            ),
        }
    }

    fn requested(&self) -> Vec<String> {
        self.escalations.iter().map(|e| e.to_string()).collect()
    }

    /// The script definitions a project grant for this command is bound to, with their files.
    fn scripts(&self) -> Result<Vec<Bound>, String> {
        let spec = self.spec;
        match self.eval {
            // The simple commands the policy found (through -c strings and wrappers).
            Some(ev) => {
                let mut all = Vec::new();
                for c in ev.commands.iter().filter(|c| c.kind == "command") {
                    for s in grants::bound_for(&c.argv, &spec.cwd, &spec.workspace)? {
                        if !all.contains(&s) {
                            all.push(s);
                        }
                    }
                }
                Ok(all)
            }
            None if is_shell_string(&spec.argv) => Err(
                "a shell string run with --no-policy is not parsed, so the scripts it runs cannot be pinned".into(),
            ),
            None => grants::bound_for(&spec.argv, &spec.cwd, &spec.workspace),
        }
    }
}

fn is_shell_string(argv: &[String]) -> bool {
    argv.len() >= 2 && argv[1] == "-c" && grants::INTERPRETER_SHELLS.contains(&base(&argv[0]))
}

fn base(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// The argv for a person to read: every control or invisible character escaped (`<U+001B>`),
/// arguments with spaces or quotes single-quoted.
pub fn display_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let e = unicode::escape(a);
            if e.is_empty()
                || e.contains([
                    ' ', '\'', '"', '\\', '$', '`', ';', '&', '|', '<', '>', '*', '?', '(', ')',
                ])
            {
                format!("'{}'", e.replace('\'', "'\\''"))
            } else {
                e
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Before the sandbox starts: decides whether the command runs and with which escalations.
pub fn before_run(cx: &Ctx) -> (Before, Vec<ApprovalRecord>) {
    let (decision, rule, reason) = cx.decision();
    let mut records = Vec::new();
    if decision == Decision::Deny {
        // Deny is never promptable (cmd_run refuses it before this; kept as a guard).
        return (Before::Refuse(EXIT_REFUSED), records);
    }
    let esc = cx.escalations;
    let must_ask = match cx.mode {
        ApprovalMode::Never => {
            if esc.is_empty() {
                return (Before::Run(Approved::nothing()), records);
            }
            let flags: Vec<String> = esc.iter().map(Escalation::flag).collect();
            eprintln!(
                "cordon: --escalate {} refused: --approval never asks no one, and the command does not run with it; \
                 grant the access yourself ({}), or use --approval on-request",
                unicode::escape(&cx.requested().join(" --escalate ")),
                unicode::escape(&flags.join(" "))
            );
            records.push(record(
                cx,
                "before-run",
                false,
                AnsweredBy::None,
                Answer::Deny,
                None,
                "--approval never",
            ));
            return (Before::Refuse(EXIT_REFUSED), records);
        }
        // Escalations wait for a failure.
        ApprovalMode::OnFailure => false,
        ApprovalMode::OnRequest => !esc.is_empty(),
        ApprovalMode::Untrusted => decision == Decision::Ask || !esc.is_empty(),
    };
    if !must_ask {
        return (Before::Run(Approved::nothing()), records);
    }
    let q = Question {
        stage: "before-run",
        unsandboxed: false,
        title: if esc.is_empty() {
            format!("the policy says ask (--approval {})", cx.mode.as_str())
        } else {
            "the command asks for more than the sandbox gives".to_string()
        },
    };
    let (r, pins) = ask(cx, &q, &decision, &rule, &reason);
    let ok = r.answer != Answer::Deny;
    let grant = (r.answered_by == AnsweredBy::Grant)
        .then(|| r.grant_id.clone())
        .flatten();
    records.push(r);
    if ok {
        let approved = Approved {
            escalations: esc.to_vec(),
            pins,
            grant,
        };
        (Before::Run(approved), records)
    } else {
        (Before::Refuse(EXIT_REFUSED), records)
    }
}

/// After the sandboxed run exited with `code` (all its processes are dead): under on-failure,
/// offers to rerun with the escalations, or outside the sandbox when none were requested.
pub fn after_failure(cx: &Ctx, code: u8) -> (Rerun, Vec<ApprovalRecord>) {
    let mut records = Vec::new();
    // 124 timeout, 125 cordon failed, 126 refused, 130 Ctrl-C: a rerun would not be what the
    // person wants (and a sandbox that could not start is no reason to run without one).
    if cx.mode != ApprovalMode::OnFailure || matches!(code, 0 | 124 | 125 | 126 | 130) {
        return (Rerun::No, records);
    }
    let unsandboxed = cx.escalations.is_empty();
    if unsandboxed && cx.spec.isolation == Isolation::None {
        return (Rerun::No, records);
    }
    let (decision, rule, reason) = cx.decision();
    let q = Question {
        stage: "after-failure",
        unsandboxed,
        title: format!("the command failed in the sandbox (exit {code})"),
    };
    let (r, pins) = ask(cx, &q, &decision, &rule, &reason);
    let ok = r.answer != Answer::Deny;
    let grant = (r.answered_by == AnsweredBy::Grant)
        .then(|| r.grant_id.clone())
        .flatten();
    records.push(r);
    match (ok, unsandboxed) {
        (false, _) => {
            eprintln!("cordon: not rerun; exit status {code} is the sandboxed run's");
            (Rerun::No, records)
        }
        (true, true) => (Rerun::Unsandboxed, records),
        (true, false) => {
            let approved = Approved {
                escalations: cx.escalations.to_vec(),
                pins,
                grant,
            };
            (Rerun::WithEscalations(approved), records)
        }
    }
}

struct Question {
    stage: &'static str,
    unsandboxed: bool,
    title: String,
}

fn record(
    cx: &Ctx,
    stage: &'static str,
    unsandboxed: bool,
    by: AnsweredBy,
    answer: Answer,
    grant_id: Option<String>,
    note: &str,
) -> ApprovalRecord {
    let (d, rule, reason) = cx.decision();
    ApprovalRecord {
        mode: cx.mode,
        stage,
        argv: cx.spec.argv.clone(),
        cwd: cx.spec.cwd.clone(),
        workspace: cx.spec.workspace.clone(),
        decision: d.as_str().into(),
        rule,
        reason,
        requested: cx.requested(),
        unsandboxed,
        answered_by: by,
        answer,
        granted: if answer == Answer::Deny {
            Vec::new()
        } else if unsandboxed {
            vec!["unsandboxed".into()]
        } else {
            cx.requested()
        },
        grant_id,
        note: note.into(),
    }
}

/// Grant, then terminal, then approver; none → deny. With the record, the files pinned for the
/// run: those of the grant that answered, or of the one stored (allow for the project).
fn ask(
    cx: &Ctx,
    q: &Question,
    decision: &Decision,
    rule: &str,
    reason: &str,
) -> (ApprovalRecord, Vec<Pinned>) {
    let (scripts, pins) = split_bound(cx.scripts());
    let r = ask_who(cx, q, decision, rule, reason, &scripts);
    let pinned = r.answered_by == AnsweredBy::Grant || r.answer == Answer::AllowProject;
    (r, if pinned { pins } else { Vec::new() })
}

/// The definitions and, when every file exists, the files read (a missing file cannot be
/// pinned: no grant then).
fn split_bound(bound: Result<Vec<Bound>, String>) -> (Result<Vec<Script>, String>, Vec<Pinned>) {
    let bound = match bound {
        Ok(b) => b,
        Err(e) => return (Err(e), Vec::new()),
    };
    let mut scripts = Vec::new();
    let mut pins: Vec<Pinned> = Vec::new();
    for (s, p) in bound {
        match p {
            Some(p) => {
                if !pins.iter().any(|q| q.path == p.path) {
                    pins.push(p);
                }
            }
            None => {
                return (
                    Err(format!(
                        "{} does not exist, so a grant could not hold it to its content",
                        s.file.display()
                    )),
                    Vec::new(),
                )
            }
        }
        scripts.push(s);
    }
    (Ok(scripts), pins)
}

fn ask_who(
    cx: &Ctx,
    q: &Question,
    decision: &Decision,
    rule: &str,
    reason: &str,
    scripts: &Result<Vec<Script>, String>,
) -> ApprovalRecord {
    let rec = |by, answer, id: Option<String>, note: &str| {
        record(cx, q.stage, q.unsandboxed, by, answer, id, note)
    };
    let requested = cx.requested();
    // 1. A remembered grant (never for a rerun outside the sandbox).
    if !q.unsandboxed && !cx.skip_grants {
        if let Ok(scripts) = scripts {
            match grants::load() {
                Ok(all) => {
                    if let Some(g) =
                        grants::find(&all, &cx.spec.workspace, &cx.spec.argv, scripts, &requested)
                    {
                        eprintln!(
                            "cordon: approved by the remembered grant {} ('cordon grants revoke {}' to forget it)",
                            g.id, g.id
                        );
                        return rec(
                            AnsweredBy::Grant,
                            Answer::AllowOnce,
                            Some(g.id.clone()),
                            "remembered grant",
                        );
                    }
                }
                Err(e) => eprintln!("cordon: warning: remembered grants ignored: {e}"),
            }
        }
    }
    let project_ok = !q.unsandboxed && scripts.is_ok();
    let text = prompt_text(cx, q, decision, rule, reason, scripts);
    // 2. A person on the terminal.
    let tty_err = match open_tty() {
        Ok(mut tty) => {
            let answer = prompt_tty(&mut tty, &text, project_ok);
            let (answer, id, note) = store_if_project(cx, answer, scripts, "tty", "");
            return rec(AnsweredBy::Tty, answer, id, &note);
        }
        Err(e) => e,
    };
    // 3. The approver command (never for a rerun outside the sandbox: that takes a person).
    let cmd_line = display_argv(&cx.spec.argv);
    if q.unsandboxed {
        eprintln!(
            "cordon: not rerun outside the sandbox: that needs a person's yes on a terminal (/dev/tty: {tty_err})"
        );
        return rec(
            AnsweredBy::None,
            Answer::Deny,
            None,
            "no terminal for a rerun outside the sandbox",
        );
    }
    let Some(approver) = &cx.settings.approver else {
        let where_ = cx
            .settings
            .source
            .clone()
            .or_else(|| grants::config_dir().map(|d| d.join("config.toml")))
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "~/.config/cordon/config.toml".into());
        eprintln!(
            "cordon: not approved: {cmd_line}: {} and nobody can be asked: no terminal (/dev/tty: {tty_err}) and no approver configured; \
             add approver = [\"/path/to/approver\"] to {where_}, or run cordon from a terminal",
            q.title
        );
        return rec(
            AnsweredBy::None,
            Answer::Deny,
            None,
            "no terminal and no approver",
        );
    };
    let request = serde_json::json!({
        "version": 1,
        "stage": q.stage,
        "mode": cx.mode.as_str(),
        "command": cmd_line,
        "argv": cx.spec.argv,
        "cwd": cx.spec.cwd,
        "workspace": cx.spec.workspace,
        "decision": decision.as_str(),
        "rule": rule,
        "reason": reason,
        "escalations": requested,
        "allow_project": project_ok,
    });
    let timeout = cx
        .settings
        .approver_timeout_ms()
        .unwrap_or(APPROVER_TIMEOUT_MS);
    let shown = display_argv(approver);
    let (answer, why) = match run_approver(approver, &request.to_string(), timeout) {
        Ok((Answer::Deny, why)) => {
            eprintln!(
                "cordon: not approved: {cmd_line}: the approver {shown} said no: {}",
                unicode::escape(&why)
            );
            (Answer::Deny, why)
        }
        Ok((a, why)) => {
            eprintln!(
                "cordon: approved by the approver {shown}: {}",
                unicode::escape(&why)
            );
            (a, why)
        }
        Err(why) => {
            eprintln!(
                "cordon: not approved: {cmd_line}: the approver {shown} gave no valid answer, which counts as deny: {}",
                unicode::escape(&why)
            );
            (Answer::Deny, why)
        }
    };
    let answer = if answer == Answer::AllowProject && !project_ok {
        Answer::AllowOnce
    } else {
        answer
    };
    let (answer, id, note) = store_if_project(cx, answer, scripts, "approver", &why);
    rec(AnsweredBy::Approver, answer, id, &note)
}

/// Stores a grant for an allow-for-project answer; if it cannot be stored, it was allowed once.
fn store_if_project(
    cx: &Ctx,
    answer: Answer,
    scripts: &Result<Vec<Script>, String>,
    by: &str,
    why: &str,
) -> (Answer, Option<String>, String) {
    let (Answer::AllowProject, Ok(scripts)) = (answer, scripts) else {
        return (answer, None, why.to_string());
    };
    let g = Grant {
        id: String::new(),
        created_ms: 0,
        workspace: cx.spec.workspace.clone(),
        argv: cx.spec.argv.clone(),
        scripts: scripts.clone(),
        escalations: cx.requested(),
        approved_by: by.into(),
        reason: why.into(),
    };
    match grants::add(g) {
        Ok(g) => {
            eprintln!(
                "cordon: remembered for this project as grant {} ('cordon grants revoke {}' to forget it)",
                g.id, g.id
            );
            (Answer::AllowProject, Some(g.id), why.to_string())
        }
        Err(e) => {
            eprintln!("cordon: warning: the grant could not be stored ({e}); allowed this once");
            (Answer::AllowOnce, None, format!("grant not stored: {e}"))
        }
    }
}

fn prompt_text(
    cx: &Ctx,
    q: &Question,
    decision: &Decision,
    rule: &str,
    reason: &str,
    scripts: &Result<Vec<Script>, String>,
) -> String {
    let mut t = format!("\ncordon: approval needed: {}\n", q.title);
    t += &format!("  command:   {}\n", display_argv(&cx.spec.argv));
    t += &format!(
        "  in:        {}\n",
        unicode::escape(&cx.spec.cwd.display().to_string())
    );
    t += &format!(
        "  workspace: {}\n",
        unicode::escape(&cx.spec.workspace.display().to_string())
    );
    t += &format!(
        "  policy:    {} ({}): {}\n",
        decision.as_str(),
        unicode::escape(rule),
        unicode::escape(reason)
    );
    if q.unsandboxed {
        t += "  grants:    a rerun OUTSIDE the sandbox, with your full access (files, secrets, network)\n";
    } else if cx.escalations.is_empty() {
        t += "  grants:    running it, inside the sandbox (nothing beyond the sandbox)\n";
    } else {
        for (i, e) in cx.escalations.iter().enumerate() {
            t += &format!(
                "  {}{}\n",
                if i == 0 { "grants:    " } else { "           " },
                e.describe()
            );
        }
        if q.stage == "after-failure" {
            t += "             (a rerun, inside the sandbox)\n";
        }
    }
    match scripts {
        Ok(s) if !q.unsandboxed => {
            for s in s {
                let what = if s.entry.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", s.entry)
                };
                t += &format!(
                    "  pinned to: {}{what}\n",
                    unicode::escape(&s.file.display().to_string())
                );
            }
        }
        Err(e) if !q.unsandboxed => t += &format!("  note:      {}\n", unicode::escape(e)),
        _ => {}
    }
    t
}

fn open_tty() -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open("/dev/tty")
}

/// Written before a question: normal attributes, main screen, visible cursor, full scroll
/// region, start of line.
const TERM_RESET: &str = "\x1b[0m\x1b[?1049l\x1b[?25h\x1b[r\r\n";

/// Asks on the terminal: line mode with echo for the answer, type-ahead discarded (nothing typed
/// before the question was shown can answer it), the terminal's settings restored after.
fn prompt_tty(tty: &mut File, text: &str, project_ok: bool) -> Answer {
    let fd = tty.as_raw_fd();
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    let have = unsafe { libc::tcgetattr(fd, &mut saved) } == 0;
    if have {
        let mut t = saved;
        t.c_lflag |= libc::ICANON | libc::ECHO | libc::ISIG;
        t.c_iflag |= libc::ICRNL;
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) };
    }
    let choices = if project_ok {
        "  [y] allow once   [p] allow for this project (remembered)   [n] deny (default)\ncordon: allow? [y/p/N] "
    } else {
        "  [y] allow once   [n] deny (default)\ncordon: allow? [y/N] "
    };
    let mut answer = Answer::Deny;
    for attempt in 0..3 {
        unsafe { libc::tcflush(fd, libc::TCIFLUSH) };
        let _ = if attempt == 0 {
            // A command that ran before (on-failure) may have left the terminal showing text
            // in the background colour, on the alternate screen or with the cursor hidden:
            // reset what would hide the question (SGR attributes, alternate screen, cursor
            // visibility, scroll region) without clearing the screen.
            tty.write_all(format!("{TERM_RESET}{text}{choices}").as_bytes())
        } else {
            tty.write_all(b"cordon: answer y, p or n: ")
        };
        let _ = tty.flush();
        let line = read_line(tty);
        let Some(line) = line else { break }; // EOF
        match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => answer = Answer::AllowOnce,
            "p" if project_ok => answer = Answer::AllowProject,
            "" | "n" | "no" => answer = Answer::Deny,
            _ => continue,
        }
        break;
    }
    let said = match answer {
        Answer::AllowOnce => "cordon: allowed once\n",
        Answer::AllowProject => "cordon: allowed for this project\n",
        Answer::Deny => "cordon: denied\n",
    };
    let _ = tty.write_all(said.as_bytes());
    if have {
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    }
    answer
}

/// One line from the terminal (at most 256 bytes are kept); None on EOF before a newline.
fn read_line(tty: &mut File) -> Option<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match tty.read(&mut b) {
            Ok(0) => return None,
            Ok(_) if b[0] == b'\n' => break,
            Ok(_) => {
                if line.len() < 256 {
                    line.push(b[0]);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
    }
    Some(String::from_utf8_lossy(&line).into_owned())
}

#[derive(Deserialize)]
struct ApproverAnswer {
    decision: String,
    #[serde(default)]
    reason: String,
}

/// Runs the approver outside the sandbox: one JSON object on stdin, one on stdout. A non-zero
/// exit, bad JSON, an unknown decision or the timeout is deny (with the reason why).
fn run_approver(
    cmd: &[String],
    request: &str,
    timeout_ms: u64,
) -> Result<(Answer, String), String> {
    let shown = display_argv(cmd);
    let mut child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start the approver {shown}: {e}"))?;
    let pid = child.id() as i32;
    let mut stdin = child.stdin.take();
    let req = request.as_bytes().to_vec();
    let writer = std::thread::spawn(move || {
        if let Some(s) = stdin.as_mut() {
            let _ = s.write_all(&req);
        }
    });
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        stdout
            .as_mut()
            .map(|s| grants::read_capped(s, 64 * 1024))
            .unwrap_or_default()
    });
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break None,
        }
    };
    let Some(status) = status else {
        // Its whole process group: a shell script's children too.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = child.wait();
        return Err(format!(
            "no answer within {} ms (approver_timeout)",
            timeout_ms
        ));
    };
    let _ = writer.join();
    // Children it left holding stdout would keep the reader waiting: end them.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("it exited with {status}"));
    }
    let a: ApproverAnswer = serde_json::from_slice(&out).map_err(|e| {
        format!(
            "its answer is not {{\"decision\":\"allow\"|\"allow_project\"|\"deny\",\"reason\":\"...\"}} ({e})"
        )
    })?;
    let answer = match a.decision.as_str() {
        "allow" => Answer::AllowOnce,
        "allow_project" => Answer::AllowProject,
        "deny" => Answer::Deny,
        other => {
            return Err(format!(
                "unknown decision {:?} (allow, allow_project or deny)",
                unicode::escape(other)
            ))
        }
    };
    let reason = if a.reason.is_empty() {
        "no reason given".to_string()
    } else {
        a.reason
    };
    Ok((answer, reason))
}

/// Keeps cordon's config directory (grants, approver settings, trust) read-only inside the
/// sandbox when a writable root holds it (`--workspace ~`, `--writable ~/.config`).
pub fn protect_config_dir(spec: &mut SandboxSpec) {
    let Some(dir) = grants::config_dir() else {
        return;
    };
    let Some(parent) = dir.parent() else { return };
    let parent = std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
    let canon = parent.join("cordon");
    if !spec.writable.iter().any(|w| canon.starts_with(w)) {
        return;
    }
    // It must exist to be mounted over (and so that it cannot be created inside).
    let _ = {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&canon)
    };
    if let Ok(m) = std::fs::symlink_metadata(&canon) {
        if m.file_type().is_symlink() {
            spec.notes.push(format!(
                "{} is a symlink; cordon protects where it points",
                canon.display()
            ));
        }
    }
    let canon = std::fs::canonicalize(&canon).unwrap_or(canon);
    if !spec.protected.iter().any(|p| p.path == canon) {
        spec.protected.push(Protected {
            path: canon,
            kind: Kind::Dir,
            exists: true,
        });
    }
}

/// Adds granted escalations to the run's flags (the spec is then built again from them).
pub fn apply(a: &mut crate::cmd_run::Args, granted: &[Escalation]) -> Result<(), String> {
    for e in granted {
        match e {
            Escalation::Write(p) => a.writable.push(p.clone()),
            Escalation::Secret(p) => a.read_secret.push(p.clone()),
            Escalation::Domain(d) => a
                .allow_domain
                .push(d.parse().map_err(|e| format!("domain:{d}: {e}"))?),
            Escalation::Env(n) => {
                a.env.push(n.clone());
                a.secret_env.push(n.clone());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalations_parse_and_print() {
        let e: Escalation = "write:/var/tmp".parse().unwrap();
        assert_eq!(
            e.to_string(),
            format!(
                "write:{}",
                std::fs::canonicalize("/var/tmp").unwrap().display()
            )
        );
        assert_eq!(
            "domain:Example.COM"
                .parse::<Escalation>()
                .unwrap()
                .to_string(),
            "domain:example.com"
        );
        assert_eq!(
            "env:TOKEN".parse::<Escalation>().unwrap(),
            Escalation::Env("TOKEN".into())
        );
        for bad in ["write", "write:", "net:x", "env:A=b", "domain:a b"] {
            assert!(bad.parse::<Escalation>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_prompt_shows_control_and_invisible_characters_escaped() {
        let argv = vec![
            "rm".to_string(),
            "a\u{200b}b".to_string(),
            "\x1b[2Jx y".to_string(),
        ];
        let s = display_argv(&argv);
        assert_eq!(s, "rm 'a<U+200B>b' '<U+001B>[2Jx y'");
        assert!(!s.contains('\x1b'));
    }
}
