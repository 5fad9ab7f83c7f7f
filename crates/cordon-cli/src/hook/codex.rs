//! Codex CLI (npm `@openai/codex`, checked against 0.171.0 and codex-rs/hooks): hooks in
//! `~/.codex/hooks.json` or `[hooks]` of config.toml (non-managed hooks run only once the user
//! trusted them: `/hooks` in the TUI, or `--dangerously-bypass-hook-trust`); managed ones in
//! `/etc/codex/requirements.toml`.
//!
//! In: `{session_id, turn_id, transcript_path, cwd, hook_event_name, model, permission_mode,
//! tool_name, tool_input, tool_use_id}`; the shell tool is `Bash` with `{command}` (whatever
//! the model called: `exec_command`, `shell`...), `apply_patch` carries the patch in `command`,
//! MCP tools are `mcp__SERVER__TOOL`. PostToolUse adds `tool_response` (a string for Bash).
//! Out: as Claude Code's, with Codex's rules (output_parser.rs): `updatedInput` only with
//! `allow`; `allow` without `updatedInput` and `ask` are "unsupported" (the hook counts as
//! failed and the call goes ahead), so cordon never sends them: an ask becomes a deny that says
//! a person must approve; a deny needs a non-empty reason. PostToolUse cannot replace a
//! result in 0.171 (no `updatedToolOutput` yet): cordon blocks it with the redacted text as the
//! reason.

use serde_json::{json, Value};

use super::call::*;

fn what(tool: &str, inp: &Value) -> Result<What, String> {
    Ok(match tool {
        "Bash" | "shell" | "exec_command" | "local_shell" | "shell_command" => What::Shell {
            command: req_str(inp, "command")?.to_string(),
            unsandboxed: (opt_str(inp, "sandbox_permissions")? == Some("require_escalated")).then(
                || {
                    opt_str(inp, "justification")
                        .ok()
                        .flatten()
                        .unwrap_or("require_escalated")
                        .to_string()
                },
            ),
        },
        "apply_patch" => What::Patch {
            text: match opt_str(inp, "command")? {
                Some(t) => t.to_string(),
                None => req_str(inp, "input")?.to_string(),
            },
        },
        "Read" | "read_file" => What::Read {
            path: req_str(inp, "file_path")?.to_string(),
        },
        "view_image" => What::Read {
            path: req_str(inp, "path")?.to_string(),
        },
        "write_stdin" | "update_plan" | "request_user_input" | "get_goal" | "create_goal"
        | "update_goal" | "multi_agent_v1" => What::Inert,
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
        project_dir: None,
        call,
        tool_input,
        tool_output: v.get("tool_response").cloned(),
    })
}

fn deny(reason: String) -> Answer {
    Answer::json(json!({"hookSpecificOutput": {"hookEventName": "PreToolUse",
        "permissionDecision": "deny", "permissionDecisionReason": reason}}))
}

pub fn render(input: &Input, out: &Outcome) -> Answer {
    match out {
        Outcome::Pre(v) => match v.decision {
            Decision::Deny => deny(super::claude::said(v)),
            Decision::Ask => deny(format!(
                "{} A person must approve this, and Codex hooks cannot ask: if the user agrees, \
                 they run it themselves or allow it in cordon's config.",
                super::claude::said(v)
            )),
            Decision::Allow => match (&v.rewrite, &input.tool_input) {
                (Some(cmd), Value::Object(m)) => {
                    let mut m = m.clone();
                    m.insert("command".into(), Value::String(cmd.clone()));
                    Answer::json(json!({"hookSpecificOutput": {"hookEventName": "PreToolUse",
                        "permissionDecision": "allow",
                        "permissionDecisionReason": super::claude::said(v),
                        "updatedInput": Value::Object(m)}}))
                }
                _ => Answer::empty(),
            },
        },
        // Codex 0.171 has no `updatedToolOutput` (its PostToolUse output knows
        // `updatedMCPToolOutput`, MCP tools only): a result is replaced by blocking it, with the
        // redacted text as the reason, which is what the model then reads.
        Outcome::Post { redacted: Some(r) } => {
            let text = match r {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Answer::json(json!({"decision": "block", "reason": text}))
        }
        Outcome::Context(s) if !s.is_empty() => Answer::json(json!({"hookSpecificOutput": {
            "hookEventName": "SessionStart", "additionalContext": s}})),
        _ => Answer::empty(),
    }
}
