//! Approvals: `--approval untrusted|on-request|on-failure|never` and `--escalate KIND:VALUE`.
//!
//! Who answers, in order: a remembered grant (`grants.rs`), a person on the controlling terminal
//! (`/dev/tty`, never stdin/stdout: those belong to the command), else the `approver` command
//! from the user's config; with none of them, ask is deny. Every question is asked before the
//! sandbox starts, or after it has exited and all its processes are dead (on-failure), so a
//! sandboxed command can never answer for itself. A rerun outside the sandbox needs a person's
//! yes on the terminal: never a grant, never the approver.
//!
//! The stage between the plan and the launch (`crate::Planned::approve`): [`before_run`] decides
//! whether the command runs and with what ([`Approved`]), [`after_failure`] whether an on-failure
//! rerun happens. What is granted becomes a config layer (`cordon_config::Granted`), never an edit
//! of the caller's options; the files a grant is bound to are pinned (`scripts.rs`).

use std::path::{Path, PathBuf};

use cordon_config::grants::Grants;
use cordon_config::Approval;
use cordon_policy::unicode;
use cordon_policy::{Decision, Evaluation};
use cordon_sandbox::exit::{self, REFUSED as EXIT_REFUSED};
use cordon_sandbox::spec::{Isolation, Pinned};
use cordon_sandbox::SandboxSpec;
use serde::Serialize;

mod ask;
pub mod scripts;

use ask::ask;
pub use ask::ask_other;
use scripts::Bound;

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
    pub approval: Option<Approval>,
    pub approver: Option<Vec<String>>,
    /// How long the approver may take (ms); default 60 s.
    pub approver_timeout: Option<u64>,
    /// The user's config file, where an approver is set (for messages).
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
pub fn settings_from_config(cfg: &cordon_config::Config, paths: &cordon_config::Paths) -> Settings {
    Settings {
        approval: Some(cfg.approval.value),
        approver: cfg.approver.as_ref().map(|a| a.value.clone()),
        approver_timeout: cfg.approver_timeout_ms.as_ref().map(|t| t.value),
        source: Some(paths.user_file()),
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
    #[serde(serialize_with = "mode_name")]
    pub mode: Approval,
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

fn mode_name<S: serde::Serializer>(m: &Approval, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(m.as_str())
}

/// Everything a question is about.
pub struct Ctx<'a> {
    pub mode: Approval,
    pub settings: &'a Settings,
    pub spec: &'a SandboxSpec,
    /// The policy's evaluation; None with --no-policy.
    pub eval: Option<&'a Evaluation>,
    pub escalations: &'a [Escalation],
    /// Do not answer from a remembered grant (its pins cannot hold now: see `Planned::approve`).
    pub skip_grants: bool,
    /// The remembered grants.
    pub grants: &'a Grants,
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

    /// The escalations granted, as the config layer they become.
    pub fn layer(&self) -> Result<cordon_config::Granted, crate::Error> {
        let mut g = cordon_config::Granted::default();
        for e in &self.escalations {
            match e {
                Escalation::Write(p) => g.writable.push(p.clone()),
                Escalation::Secret(p) => g.read_secret.push(p.clone()),
                Escalation::Domain(d) => g.allow_domain.push(
                    d.parse()
                        .map_err(|e| crate::Error::Usage(format!("domain:{d}: {e}")))?,
                ),
                Escalation::Env(n) => g.env.push(n.clone()),
            }
        }
        Ok(g)
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
                    for s in scripts::bound_for(&c.argv, &spec.cwd, &spec.workspace)? {
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
            None => scripts::bound_for(&spec.argv, &spec.cwd, &spec.workspace),
        }
    }
}

fn is_shell_string(argv: &[String]) -> bool {
    argv.len() >= 2 && argv[1] == "-c" && scripts::INTERPRETER_SHELLS.contains(&base(&argv[0]))
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
        Approval::Never => {
            if esc.is_empty() {
                return (Before::Run(Approved::nothing()), records);
            }
            let flags: Vec<String> = esc.iter().map(Escalation::flag).collect();
            errln!(
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
        Approval::OnFailure => false,
        Approval::OnRequest => !esc.is_empty(),
        Approval::Untrusted => decision == Decision::Ask || !esc.is_empty(),
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
    if cx.mode != Approval::OnFailure
        || matches!(
            code,
            0 | exit::TIMEOUT | exit::CORDON_FAILED | exit::REFUSED | exit::INTERRUPTED
        )
    {
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
            errln!("cordon: not rerun; exit status {code} is the sandboxed run's");
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
