//! `cordon hook AGENT [--event NAME]`: an agent's hook. Reads the agent's event JSON on stdin,
//! decides with the same config, policy and audit log as `cordon check`/`cordon run`, and
//! answers in that agent's format.
//!
//! - `call.rs`: the agent-independent model of an event (a typed tool call);
//! - `claude.rs`, `codex.rs`, `gemini.rs`, `cursor.rs`, `copilot.rs`, `goose.rs`: one adapter per
//!   agent protocol (parse its JSON into a call; render cordon's answer in its format);
//! - `decide.rs`: the decision for each kind of call (shell, file read/write, patch, fetch, MCP);
//! - `patch.rs`: the paths an `apply_patch` touches (the file rules are the pipeline's:
//!   `cordon_pipeline::files`);
//! - `rewrite.rs`: the shell command rewritten to run inside `cordon run`, quoted byte for byte.
//!
//! Fail closed: every agent treats a crashed hook as "allow", so any error (bad JSON, missing
//! fields, huge input, broken config, an audit log that cannot be written) answers *deny* in the
//! agent's format, with the reason on stderr and exit status 2 (the blocking convention of
//! Claude Code, Codex, Gemini CLI and Cursor). A panic is caught by a panic hook that does the
//! same before the process would abort.

use std::io::{Read, Write};
use std::process::ExitCode;

use cordon_pipeline::Error;
use cordon_sandbox::exit::HOOK_DENY;

mod call;
mod claude;
mod codex;
mod copilot;
mod cursor;
mod decide;
mod gemini;
mod goose;
mod patch;
mod redact;
mod rewrite;

pub use call::{Answer, Input};

/// The most a hook reads from stdin. Tool inputs carry whole files (Write, apply_patch), so this
/// is generous; anything larger is refused (deny), never truncated and half-decided.
pub const MAX_INPUT: usize = 16 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Agent {
    /// Claude Code (`hooks` in ~/.claude/settings.json): PreToolUse, PostToolUse, SessionStart.
    Claude,
    /// Codex CLI (~/.codex/hooks.json or `[hooks]` in config.toml): same event names.
    Codex,
    /// Gemini CLI (`hooks` in ~/.gemini/settings.json): BeforeTool, AfterTool, SessionStart.
    Gemini,
    /// Cursor (~/.cursor/hooks.json): beforeShellExecution, beforeReadFile, beforeMCPExecution.
    Cursor,
    /// GitHub Copilot CLI (.github/hooks/*.json): preToolUse, postToolUse, sessionStart.
    Copilot,
    /// goose (a plugin's hooks/hooks.json): PreToolUse.
    Goose,
}

impl Agent {
    /// The name recorded in the audit log (and passed to `cordon run --agent`).
    pub fn name(self) -> &'static str {
        match self {
            Agent::Claude => "claude-code",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
            Agent::Cursor => "cursor",
            Agent::Copilot => "copilot",
            Agent::Goose => "goose",
        }
    }

    /// Parses the agent's JSON (already known to be a JSON object).
    fn parse(self, v: &serde_json::Value, event: Option<&str>) -> Result<Input, String> {
        match self {
            Agent::Claude => claude::parse(v, event),
            Agent::Codex => codex::parse(v, event),
            Agent::Gemini => gemini::parse(v, event),
            Agent::Cursor => cursor::parse(v, event),
            Agent::Copilot => copilot::parse(v, event),
            Agent::Goose => goose::parse(v, event),
        }
    }

    /// cordon's answer in the agent's format.
    fn render(self, input: &Input, out: &call::Outcome) -> Answer {
        match self {
            Agent::Claude => claude::render(input, out),
            Agent::Codex => codex::render(input, out),
            Agent::Gemini => gemini::render(input, out),
            Agent::Cursor => cursor::render(input, out),
            Agent::Copilot => copilot::render(input, out),
            Agent::Goose => goose::render(input, out),
        }
    }

    /// A refusal when cordon itself failed: the agent's deny on stdout where it reads one, the
    /// reason on stderr, exit 2 (its blocking status).
    pub fn fail(self, event: Option<&str>, reason: &str) -> Answer {
        let reason = format!("cordon hook failed, so the call is refused (fail closed): {reason}");
        let stdout = match self {
            Agent::Claude | Agent::Codex => {
                let ev = event.unwrap_or("PreToolUse");
                serde_json::json!({"hookSpecificOutput": {"hookEventName": ev,
                    "permissionDecision": "deny", "permissionDecisionReason": reason}})
            }
            Agent::Gemini => serde_json::json!({"decision": "deny", "reason": reason}),
            Agent::Cursor => serde_json::json!({"permission": "deny", "continue": true,
                "user_message": reason, "agent_message": reason}),
            Agent::Copilot => serde_json::json!({"permissionDecision": "deny",
                "permissionDecisionReason": reason}),
            Agent::Goose => serde_json::json!({"decision": "block", "reason": reason}),
        };
        Answer {
            stdout: stdout.to_string(),
            stderr: reason,
            code: HOOK_DENY,
        }
    }
}

#[derive(clap::Args)]
#[command(
    after_help = "Reads the agent's hook event (JSON) on stdin and answers in its format. Any error \
answers deny (exit 2). See README \"Agent hooks\"."
)]
pub struct Args {
    /// The agent whose protocol is spoken.
    #[arg(value_enum)]
    pub agent: Agent,
    /// The event, for agents whose JSON does not name it (otherwise taken from the JSON; when
    /// both are given they must agree).
    #[arg(long, value_name = "NAME")]
    pub event: Option<String>,
}

/// Set once the agent is known: what the panic hook answers with.
static FAIL_AS: std::sync::OnceLock<(Agent, Option<String>)> = std::sync::OnceLock::new();

/// Writes the answer; never panics. An answer the agent may not have read in full (stdout
/// closed or failing) is a refusal: exit [`HOOK_DENY`], as the agent would otherwise read the
/// exit status alone — 0, "allow", without the rewrite into `cordon run` the answer carried.
fn emit(a: &Answer) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let mut written = Ok(());
    if !a.stdout.is_empty() {
        written = out
            .write_all(a.stdout.as_bytes())
            .and_then(|()| out.write_all(b"\n"));
    }
    let written = written.and_then(|()| out.flush());
    if !a.stderr.is_empty() {
        errln!("{}", a.stderr);
    }
    match written {
        Ok(()) => ExitCode::from(a.code),
        Err(e) => {
            errln!("cordon hook: cannot write the answer to stdout ({e}): refused");
            ExitCode::from(HOOK_DENY)
        }
    }
}

/// `cordon hook AGENT`. Never `Err`: every error, a panic included, is answered as a refusal in
/// the agent's format with [`HOOK_DENY`] (fail closed: an agent reads cordon's generic error, or
/// a crash, as "allow").
pub fn run(args: Args) -> Result<ExitCode, Error> {
    let _ = FAIL_AS.set((args.agent, args.event.clone()));
    // Fail closed on a panic too: the release build aborts on panic, which every agent would
    // read as "allow". The hook answers deny and exits 2 before that.
    std::panic::set_hook(Box::new(|info| {
        let (agent, event) = FAIL_AS.get().cloned().unwrap_or((Agent::Claude, None));
        let a = agent.fail(event.as_deref(), &format!("internal error: {info}"));
        let _ = emit(&a);
        std::process::exit(i32::from(HOOK_DENY));
    }));
    let answer = match handle(&args) {
        Ok(a) => a,
        Err(e) => args.agent.fail(args.event.as_deref(), &e),
    };
    Ok(emit(&answer))
}

/// Reads stdin (bounded) and decides.
fn handle(args: &Args) -> Result<Answer, String> {
    let mut buf = Vec::new();
    let n = std::io::stdin()
        .lock()
        .take(MAX_INPUT as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read the event on stdin: {e}"))?;
    if n > MAX_INPUT {
        return Err(format!(
            "the event on stdin is larger than {} MiB",
            MAX_INPUT >> 20
        ));
    }
    answer(args.agent, args.event.as_deref(), &buf)
}

/// The whole hook on one event's bytes: parse, decide, record, render. Errors are the caller's
/// to turn into a refusal.
pub fn answer(agent: Agent, event: Option<&str>, bytes: &[u8]) -> Result<Answer, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "the event on stdin is not valid UTF-8 (byte {})",
            e.valid_up_to()
        )
    })?;
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("the event on stdin is not JSON: {e}"))?;
    if !v.is_object() {
        return Err("the event on stdin is not a JSON object".into());
    }
    let input = agent.parse(&v, event)?;
    let out = decide::decide(agent, &input)?;
    Ok(agent.render(&input, &out))
}

#[cfg(test)]
mod tests;
