//! Claude Code (npm `@anthropic-ai/claude-code`, checked against 2.1.332 and its bundled
//! schemas): hooks in `settings.json` (`~/.claude/`, `.claude/`, managed
//! `/etc/claude-code/managed-settings.json`).
//!
//! In: `{session_id, transcript_path, cwd, permission_mode, hook_event_name, tool_name,
//! tool_input, tool_use_id}` (PostToolUse adds `tool_response`, SessionStart has `source`).
//! Out: exit 0 + `{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision":
//! "allow|deny|ask", "permissionDecisionReason": .., "updatedInput": {..}}}`; PostToolUse
//! `updatedToolOutput` (all tools since 2.1.121); SessionStart `additionalContext`.
//! Exit 2 + stderr blocks.

use serde_json::{json, Value};

use super::call::*;

/// Claude Code's tools by what they do.
fn what(tool: &str, inp: &Value) -> Result<What, String> {
    let path = |k: &str| req_str(inp, k).map(str::to_string);
    Ok(match tool {
        "Bash" => What::Shell {
            command: req_str(inp, "command")?.to_string(),
            unsandboxed: (inp.get("dangerouslyDisableSandbox") == Some(&Value::Bool(true)))
                .then(|| "dangerouslyDisableSandbox".to_string()),
        },
        "Read" => What::Read {
            path: path("file_path")?,
        },
        "NotebookRead" => What::Read {
            path: path("notebook_path")?,
        },
        "Write" | "Edit" | "MultiEdit" => What::Write {
            paths: vec![path("file_path")?],
        },
        "NotebookEdit" => What::Write {
            paths: vec![path("notebook_path")?],
        },
        "Grep" => What::Search {
            paths: opt_str(inp, "path")?
                .map(str::to_string)
                .into_iter()
                .collect(),
            contents: true,
        },
        "Glob" | "LS" => What::Search {
            paths: opt_str(inp, "path")?
                .map(str::to_string)
                .into_iter()
                .collect(),
            contents: false,
        },
        "WebFetch" => What::Fetch {
            url: req_str(inp, "url")?.to_string(),
        },
        "TodoWrite"
        | "TodoRead"
        | "Task"
        | "Agent"
        | "ExitPlanMode"
        | "EnterPlanMode"
        | "AskUserQuestion"
        | "BashOutput"
        | "KillShell"
        | "KillBash"
        | "TaskOutput"
        | "TaskStop"
        | "ToolSearch"
        | "Skill"
        | "SlashCommand"
        | "ListMcpResourcesTool" => What::Inert,
        t => match t.strip_prefix("mcp__").and_then(|r| r.split_once("__")) {
            Some((server, tool)) => What::Mcp {
                server: server.into(),
                tool: tool.into(),
            },
            None => What::Unknown,
        },
    })
}

pub fn parse(v: &Value, flag: Option<&str>) -> Result<Input, String> {
    let event_name = event_name(v, "hook_event_name", flag)?;
    let event = match event_name.as_str() {
        "PreToolUse" => EventKind::PreTool,
        "PostToolUse" => EventKind::PostTool,
        "SessionStart" => EventKind::SessionStart,
        _ => EventKind::Other,
    };
    let session = req_str(v, "session_id")?.to_string();
    let cwd = cwd_of(v, "cwd")?;
    let project_dir = std::env::var_os("CLAUDE_PROJECT_DIR")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_absolute());
    let (call, tool_input) = match event {
        EventKind::PreTool | EventKind::PostTool => {
            let tool = req_str(v, "tool_name")?;
            let inp = req_obj(v, "tool_input")?;
            (
                Some(ToolCall {
                    tool: tool.into(),
                    what: what(tool, inp)?,
                }),
                inp.clone(),
            )
        }
        _ => (None, Value::Null),
    };
    Ok(Input {
        event_name,
        event,
        session,
        cwd,
        project_dir,
        call,
        tool_input,
        tool_output: v.get("tool_response").cloned(),
    })
}

/// The reason as the model reads it.
pub fn said(v: &Verdict) -> String {
    format!("cordon: {} ({})", v.reason, v.rule)
}

pub fn render(input: &Input, out: &Outcome) -> Answer {
    match out {
        Outcome::Pre(v) => {
            if v.decision == Decision::Allow && !v.explicit {
                return Answer::empty();
            }
            let mut o = json!({
                "hookEventName": "PreToolUse",
                "permissionDecision": v.decision.as_str(),
                "permissionDecisionReason": said(v),
            });
            if let (Some(cmd), Value::Object(m)) = (&v.rewrite, &input.tool_input) {
                // Every other field (timeout, description, run_in_background) is kept.
                let mut m = m.clone();
                m.insert("command".into(), Value::String(cmd.clone()));
                o["updatedInput"] = Value::Object(m);
            }
            Answer::json(json!({ "hookSpecificOutput": o }))
        }
        Outcome::Post { redacted: Some(r) } => Answer::json(json!({"hookSpecificOutput": {
            "hookEventName": "PostToolUse", "updatedToolOutput": r}})),
        Outcome::Context(s) if !s.is_empty() => Answer::json(json!({"hookSpecificOutput": {
            "hookEventName": "SessionStart", "additionalContext": s}})),
        _ => Answer::empty(),
    }
}
