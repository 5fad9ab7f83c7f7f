//! Cursor (its agent's hooks in `.cursor/hooks.json`, `~/.cursor/hooks.json`; from Cursor's
//! hooks documentation, not run here: Cursor is not on npm).
//!
//! In: `{conversation_id, generation_id, hook_event_name, workspace_roots, ...}` with
//! `beforeShellExecution {command, cwd}`, `beforeReadFile {file_path, content}`,
//! `beforeMCPExecution {tool_name, tool_input, url|command}`, `afterFileEdit {file_path}`.
//! Out: `{"permission": "allow|deny|ask", "user_message": .., "agent_message": ..}`.
//! Cursor documents no way to rewrite a command, so nothing runs inside cordon's sandbox from
//! here: a command the policy asks about is asked (never allowed unsandboxed), and under
//! approval `never`, refused.

use serde_json::{json, Value};

use super::call::*;

pub fn parse(v: &Value, flag: Option<&str>) -> Result<Input, String> {
    let event_name = event_name(v, "hook_event_name", flag)?;
    let session = opt_str(v, "conversation_id")?.unwrap_or("").to_string();
    let roots: Vec<std::path::PathBuf> = match v.get("workspace_roots") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(std::path::PathBuf::from)
            .filter(|p| p.is_absolute())
            .collect(),
        _ => Vec::new(),
    };
    let cwd = match opt_str(v, "cwd")? {
        Some(c) if std::path::Path::new(c).is_absolute() => std::path::PathBuf::from(c),
        Some(c) => return Err(format!("field `cwd` is not an absolute path: {c:?}")),
        None => roots
            .first()
            .cloned()
            .ok_or("fields `cwd` and `workspace_roots` are both missing")?,
    };
    let (event, call) = match event_name.as_str() {
        "beforeShellExecution" => (
            EventKind::PreTool,
            Some(ToolCall {
                tool: "shell".into(),
                what: What::Shell {
                    command: req_str(v, "command")?.into(),
                    unsandboxed: None,
                },
            }),
        ),
        "beforeReadFile" => (
            EventKind::PreTool,
            Some(ToolCall {
                tool: "read".into(),
                what: What::Read {
                    path: req_str(v, "file_path")?.into(),
                },
            }),
        ),
        "beforeMCPExecution" => (
            EventKind::PreTool,
            Some(ToolCall {
                tool: req_str(v, "tool_name")?.into(),
                what: What::Mcp {
                    server: opt_str(v, "server_name")?
                        .or(opt_str(v, "url")?)
                        .or(opt_str(v, "command")?)
                        .unwrap_or("?")
                        .into(),
                    tool: req_str(v, "tool_name")?.into(),
                },
            }),
        ),
        "afterFileEdit" | "afterShellExecution" | "afterMCPExecution" => (EventKind::Other, None),
        _ => (EventKind::Other, None),
    };
    Ok(Input {
        event_name,
        event,
        session,
        cwd,
        project_dir: roots.first().cloned(),
        call,
        tool_input: Value::Null,
        tool_output: None,
    })
}

pub fn render(input: &Input, out: &Outcome) -> Answer {
    match out {
        Outcome::Pre(v) => {
            let said = super::claude::said(v);
            // beforeReadFile answers allow|deny only.
            let read = input.event_name == "beforeReadFile";
            let p = match v.decision {
                Decision::Ask if read => "deny",
                d => d.as_str(),
            };
            Answer::json(json!({"permission": p, "continue": true,
                "user_message": said, "agent_message": said}))
        }
        _ => Answer::empty(),
    }
}
