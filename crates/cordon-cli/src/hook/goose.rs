//! goose (Block's agent; hooks from a plugin's `hooks/hooks.json`, Claude-style; from its
//! documentation, not run here: goose is not on npm).
//!
//! In: `{hook_event_name, session_id?, cwd?, tool_name, tool_input}` with the shell tool
//! `developer__shell {command}` and the editor `developer__text_editor {command, path}`.
//! Out: exit 2 with the reason on stderr, or `{"decision": "block", "reason": ..}`. goose has no
//! way to ask or to rewrite from a hook: an asked command is blocked with the reason (fail
//! closed), and nothing runs inside cordon's sandbox from here.

use serde_json::{json, Value};

use super::call::*;

fn what(tool: &str, inp: &Value) -> Result<What, String> {
    let base = tool.rsplit("__").next().unwrap_or(tool);
    Ok(match base {
        "shell" | "bash" => What::Shell {
            command: req_str(inp, "command")?.to_string(),
            unsandboxed: None,
        },
        "text_editor" => {
            let path = req_str(inp, "path")?.to_string();
            match opt_str(inp, "command")? {
                Some("view") => What::Read { path },
                _ => What::Write { paths: vec![path] },
            }
        }
        "todo_write" | "todo_read" => What::Inert,
        _ => What::Unknown,
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
    let cwd = match opt_str(v, "cwd")? {
        Some(_) => cwd_of(v, "cwd")?,
        None => std::env::current_dir().map_err(|e| format!("no `cwd` field and {e}"))?,
    };
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
        session: opt_str(v, "session_id")?.unwrap_or("").to_string(),
        cwd,
        project_dir: None,
        call,
        tool_input,
        tool_output: None,
    })
}

pub fn render(_input: &Input, out: &Outcome) -> Answer {
    match out {
        Outcome::Pre(v) if v.decision != Decision::Allow => {
            let reason = super::claude::said(v);
            Answer {
                stdout: json!({"decision": "block", "reason": reason}).to_string(),
                stderr: reason,
                code: cordon_sandbox::exit::HOOK_DENY,
            }
        }
        _ => Answer::empty(),
    }
}
