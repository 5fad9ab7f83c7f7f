//! GitHub Copilot CLI (npm `@github/copilot`, 1.0.102; from GitHub's CLI hooks reference: the
//! CLI could not be driven here, it needs a GitHub sign-in): hooks in `.github/hooks/*.json`
//! (`{"version": 1, "hooks": {"preToolUse": [{"type": "command", "bash": ...}]}}`).
//!
//! In: `{timestamp, cwd, toolName, toolArgs}` (`toolArgs` a JSON string in the CLI, an object
//! in the SDK); postToolUse adds `toolResult`. No event name in the JSON: pass `--event`, else
//! it is inferred (`toolResult` → postToolUse, `toolName` → preToolUse, else sessionStart).
//! Out: `{"permissionDecision": "allow|deny|ask", "permissionDecisionReason": ..,
//! "modifiedArgs": {..}}`. `modifiedArgs` is documented for the SDK only, but the CLI honours
//! it (checked with 1.0.102 driven offline through its BYOK provider variables): the shell
//! command is rewritten to run inside cordon. Its `bash` tool keeps one shell across calls, so
//! the rewrite is the stateful one (working directory, aliases and functions kept).

use serde_json::{json, Value};

use super::call::*;

fn what(tool: &str, args: &Value) -> Result<What, String> {
    let path = || -> Result<String, String> {
        Ok(match opt_str(args, "path")? {
            Some(p) => p.to_string(),
            None => req_str(args, "file_path")?.to_string(),
        })
    };
    Ok(match tool {
        "bash" | "shell" => What::Shell {
            command: req_str(args, "command")?.to_string(),
            unsandboxed: None,
        },
        "view" | "read" => What::Read { path: path()? },
        "create" | "edit" | "str_replace" | "write" | "insert" => What::Write {
            paths: vec![path()?],
        },
        "web_fetch" | "fetch" => What::Fetch {
            url: req_str(args, "url")?.to_string(),
        },
        // Its ripgrep-based search tools (1.0.102): `paths`, one directory or an array of them,
        // the current directory by default.
        "grep" | "glob" => What::Search {
            paths: match args.get("paths") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| "field `paths` holds a non-string".to_string())
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err("field `paths` is neither a string nor an array".into()),
            },
            contents: tool == "grep",
        },
        // Its shells' output and its own session state: nothing outside the agent.
        "read_bash" | "list_bash" | "report_intent" | "update_todo" | "think" => What::Inert,
        _ => What::Unknown,
    })
}

pub fn parse(v: &Value, flag: Option<&str>) -> Result<Input, String> {
    let event_name = match flag {
        Some(e) => e.to_string(),
        None if v.get("toolResult").is_some() => "postToolUse".into(),
        None if v.get("toolName").is_some() => "preToolUse".into(),
        None => "sessionStart".into(),
    };
    let event = match event_name.as_str() {
        "preToolUse" => EventKind::PreTool,
        "postToolUse" => EventKind::PostTool,
        "sessionStart" => EventKind::SessionStart,
        _ => EventKind::Other,
    };
    let cwd = cwd_of(v, "cwd")?;
    let (call, tool_input) = match event {
        EventKind::PreTool | EventKind::PostTool => {
            let tool = req_str(v, "toolName")?;
            let args = match v.get("toolArgs") {
                Some(Value::String(s)) => serde_json::from_str::<Value>(s)
                    .map_err(|e| format!("field `toolArgs` is not JSON: {e}"))?,
                Some(o @ Value::Object(_)) => o.clone(),
                Some(Value::Null) | None => json!({}),
                Some(_) => return Err("field `toolArgs` is neither a string nor an object".into()),
            };
            (
                Some(ToolCall {
                    tool: tool.into(),
                    what: what(tool, &args)?,
                }),
                args,
            )
        }
        _ => (None, Value::Null),
    };
    Ok(Input {
        event_name,
        event,
        session: opt_str(v, "sessionId")?.unwrap_or("").to_string(),
        cwd,
        project_dir: None,
        call,
        tool_input,
        tool_output: v.get("toolResult").cloned(),
    })
}

pub fn render(input: &Input, out: &Outcome) -> Answer {
    match out {
        Outcome::Pre(v) if v.decision != Decision::Allow || v.explicit => {
            let mut o = json!({"permissionDecision": v.decision.as_str(),
                "permissionDecisionReason": super::claude::said(v)});
            if let (Some(cmd), Value::Object(m)) = (&v.rewrite, &input.tool_input) {
                let mut m = m.clone();
                m.insert("command".into(), Value::String(cmd.clone()));
                o["modifiedArgs"] = Value::Object(m);
            }
            Answer::json(o)
        }
        _ => Answer::empty(),
    }
}
