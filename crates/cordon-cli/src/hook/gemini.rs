//! Gemini CLI (npm `@google/gemini-cli`, checked against 0.61.0, its docs/hooks/reference.md and
//! scheduler/hook-utils.js): hooks in `settings.json` (`~/.gemini/`, `.gemini/`).
//!
//! In: `{session_id, transcript_path, cwd, hook_event_name, timestamp, tool_name, tool_input,
//! mcp_context?}`; AfterTool adds `tool_response {llmContent, returnDisplay, error?}`.
//! Out: `{"decision": "allow|deny|ask", "reason": .., "systemMessage": ..,
//! "hookSpecificOutput": {"tool_input": {..}}}` (the tool input is rebuilt from it); AfterTool
//! `decision: "deny"` replaces the result with `reason`; SessionStart `additionalContext`.
//! Exit 2 + stderr blocks.

use serde_json::{json, Value};

use super::call::*;

fn urls(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '(' | ')'))
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .map(|w| w.trim_end_matches(['.', ',', ';']).to_string())
        .collect()
}

fn what(tool: &str, inp: &Value) -> Result<What, String> {
    let dir = || -> Result<Option<String>, String> {
        Ok(match opt_str(inp, "dir_path")? {
            Some(d) => Some(d.to_string()),
            None => opt_str(inp, "path")?.map(str::to_string),
        })
    };
    Ok(match tool {
        "run_shell_command" => What::Shell {
            command: req_str(inp, "command")?.to_string(),
            unsandboxed: None,
        },
        "read_file" => What::Read {
            path: match opt_str(inp, "file_path")? {
                Some(p) => p.to_string(),
                None => req_str(inp, "absolute_path")?.to_string(),
            },
        },
        "read_many_files" => What::Search {
            paths: Vec::new(),
            contents: true,
        },
        "list_directory" | "glob" => What::Search {
            paths: dir()?.into_iter().collect(),
            contents: false,
        },
        "search_file_content" | "grep_search" | "grep" => What::Search {
            paths: dir()?.into_iter().collect(),
            contents: true,
        },
        "write_file" | "replace" | "edit" => What::Write {
            paths: vec![req_str(inp, "file_path")?.to_string()],
        },
        "web_fetch" => {
            let u = urls(req_str(inp, "prompt")?);
            if u.is_empty() {
                What::Unknown
            } else {
                What::Fetch { url: u.join(" ") }
            }
        }
        "write_todos" | "ask_user" | "enter_plan_mode" | "exit_plan_mode" => What::Inert,
        _ => What::Unknown,
    })
}

pub fn parse(v: &Value, flag: Option<&str>) -> Result<Input, String> {
    let event_name = event_name(v, "hook_event_name", flag)?;
    let event = match event_name.as_str() {
        "BeforeTool" => EventKind::PreTool,
        "AfterTool" => EventKind::PostTool,
        "SessionStart" => EventKind::SessionStart,
        _ => EventKind::Other,
    };
    let session = req_str(v, "session_id")?.to_string();
    let cwd = cwd_of(v, "cwd")?;
    let project_dir = std::env::var_os("GEMINI_PROJECT_DIR")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_absolute());
    let (call, tool_input) = match event {
        EventKind::PreTool | EventKind::PostTool => {
            let tool = req_str(v, "tool_name")?;
            let inp = req_obj(v, "tool_input")?;
            // MCP tools: the server and tool come from mcp_context when the CLI sends it
            // (`mcp_<server>_<tool>` names are ambiguous when either holds `_`).
            let w = match v.get("mcp_context") {
                Some(c @ Value::Object(_)) => What::Mcp {
                    server: opt_str(c, "server_name")?.unwrap_or("?").into(),
                    tool: opt_str(c, "tool_name")?.unwrap_or(tool).into(),
                },
                _ => what(tool, inp)?,
            };
            (
                Some(ToolCall {
                    tool: tool.into(),
                    what: w,
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

pub fn render(input: &Input, out: &Outcome) -> Answer {
    match out {
        Outcome::Pre(v) => {
            if v.decision == Decision::Allow && !v.explicit {
                return Answer::empty();
            }
            let said = super::claude::said(v);
            let mut o = json!({"decision": v.decision.as_str(), "reason": said});
            if v.decision == Decision::Ask {
                o["systemMessage"] = Value::String(said);
            }
            if let (Some(cmd), Value::Object(m)) = (&v.rewrite, &input.tool_input) {
                let mut m = m.clone();
                m.insert("command".into(), Value::String(cmd.clone()));
                o["hookSpecificOutput"] = json!({ "tool_input": Value::Object(m) });
            }
            Answer::json(o)
        }
        // Gemini replaces a result only by refusing it, with `reason` as the new content.
        Outcome::Post { redacted: Some(r) } => {
            let text = match r.get("llmContent") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => r.to_string(),
            };
            Answer::json(json!({"decision": "deny", "reason": text}))
        }
        Outcome::Context(s) if !s.is_empty() => Answer::json(json!({"hookSpecificOutput": {
            "hookEventName": "SessionStart", "additionalContext": s}})),
        _ => Answer::empty(),
    }
}
