//! The agent-independent model of a hook event: which event, which session, where, and the
//! tool call typed by what it does.

use std::path::PathBuf;

use serde_json::Value;

/// The agent's event, reduced to what cordon does with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// Before a tool runs: decide.
    PreTool,
    /// After a tool ran: record, and redact known secrets from its output where the agent lets
    /// a hook replace it.
    PostTool,
    /// A session starts: a few lines of context for the model.
    SessionStart,
    /// Anything else: recorded, nothing decided.
    Other,
}

/// What a tool call does, as far as cordon's rules go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// A shell command (`bash -c`). `unsandboxed`: the model asked to run it outside any
    /// sandbox (Claude's `dangerouslyDisableSandbox`, Codex's `require_escalated`), with its
    /// justification.
    Shell {
        command: String,
        unsandboxed: Option<String>,
    },
    /// Reads one file (or directory listing).
    Read { path: String },
    /// Reads the contents of many files below directories (Grep) or lists names (Glob).
    /// `paths` empty: the current directory.
    Search { paths: Vec<String>, contents: bool },
    /// Writes, edits or creates these files.
    Write { paths: Vec<String> },
    /// A patch (`apply_patch` format) touching the files it names.
    Patch { text: String },
    /// Fetches a URL from the agent's process.
    Fetch { url: String },
    /// An MCP tool call.
    Mcp { server: String, tool: String },
    /// A tool that acts only inside the agent (a to-do list, a plan, a question to the user,
    /// stdin to a command already running in the sandbox).
    Inert,
    /// A tool cordon does not know.
    Unknown,
}

impl What {
    pub fn kind(&self) -> &'static str {
        match self {
            What::Shell { .. } => "shell",
            What::Read { .. } => "read",
            What::Search { .. } => "search",
            What::Write { .. } => "write",
            What::Patch { .. } => "patch",
            What::Fetch { .. } => "fetch",
            What::Mcp { .. } => "mcp",
            What::Inert => "inert",
            What::Unknown => "unknown",
        }
    }

    /// What the call acts on, for the audit log.
    pub fn target(&self) -> String {
        match self {
            What::Shell { command, .. } => command.clone(),
            What::Read { path } => path.clone(),
            What::Search { paths, .. } if paths.is_empty() => ".".into(),
            What::Search { paths, .. } => paths.join(" "),
            What::Write { paths } => paths.join(" "),
            What::Patch { text } => crate::hook::patch::paths(text)
                .map(|p| p.join(" "))
                .unwrap_or_else(|_| "(unparsable patch)".into()),
            What::Fetch { url } => url.clone(),
            What::Mcp { server, tool } => format!("{server}/{tool}"),
            What::Inert | What::Unknown => String::new(),
        }
    }
}

/// A tool call: the tool as the agent named it, and what it does.
#[derive(Debug, Clone)]
pub struct ToolCall {
    pub tool: String,
    pub what: What,
}

/// One hook event from an agent.
#[derive(Debug, Clone)]
pub struct Input {
    /// The event name as the agent sent it (`PreToolUse`, `BeforeTool`, `preToolUse`...).
    pub event_name: String,
    pub event: EventKind,
    /// The agent's session id ("" when the agent sends none).
    pub session: String,
    /// The directory the agent says it is in (the shell's current directory for Claude Code).
    pub cwd: PathBuf,
    /// The project directory when the agent says which (Claude Code's `CLAUDE_PROJECT_DIR`);
    /// the workspace is this one, never a directory the model `cd`'d to.
    pub project_dir: Option<PathBuf>,
    pub call: Option<ToolCall>,
    /// The tool's input as the agent sent it (rewrites keep every other field).
    pub tool_input: Value,
    /// PostToolUse: the tool's output as the agent sent it.
    pub tool_output: Option<Value>,
}

/// cordon's decision on a tool call: the policy's own (allow, ask, deny).
pub use cordon_policy::Decision;

/// The answer to a PreToolUse-like event.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub decision: Decision,
    pub rule: String,
    pub reason: String,
    /// The shell command to run instead (inside `cordon run`), for agents that honour it.
    pub rewrite: Option<String>,
    /// Allow: say so to the agent (skipping its own permission prompt) rather than leaving the
    /// call to the agent's own rules. Shell commands that cordon sandboxes are said; a file
    /// read that cordon has no objection to is left to the agent.
    pub explicit: bool,
}

impl Verdict {
    pub fn deny(rule: &str, reason: impl Into<String>) -> Verdict {
        Verdict {
            decision: Decision::Deny,
            rule: rule.into(),
            reason: reason.into(),
            rewrite: None,
            explicit: true,
        }
    }
    pub fn ask(rule: &str, reason: impl Into<String>) -> Verdict {
        Verdict {
            decision: Decision::Ask,
            rule: rule.into(),
            reason: reason.into(),
            rewrite: None,
            explicit: true,
        }
    }
    /// No objection: the agent's own permission rules decide.
    pub fn defer(rule: &str, reason: impl Into<String>) -> Verdict {
        Verdict {
            decision: Decision::Allow,
            rule: rule.into(),
            reason: reason.into(),
            rewrite: None,
            explicit: false,
        }
    }
}

/// What cordon answers, agent-independent; each adapter renders it.
#[derive(Debug, Clone)]
pub enum Outcome {
    Pre(Verdict),
    /// PostToolUse: the output with known secret values replaced (when any was found).
    Post {
        redacted: Option<Value>,
    },
    /// SessionStart: context lines for the model (empty: none).
    Context(String),
    /// Nothing to say.
    Nothing,
}

/// What the hook process prints and its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub stdout: String,
    pub stderr: String,
    pub code: u8,
}

impl Answer {
    pub fn json(v: Value) -> Answer {
        Answer {
            stdout: v.to_string(),
            stderr: String::new(),
            code: 0,
        }
    }
    pub fn empty() -> Answer {
        Answer {
            stdout: String::new(),
            stderr: String::new(),
            code: 0,
        }
    }
}

/// A required string field of a JSON object: an error naming it when missing or not a string.
pub fn req_str<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    match v.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("field `{key}` is not a string")),
        None => Err(format!("field `{key}` is missing")),
    }
}

/// An optional string field (a wrong type is an error, not a silent default).
pub fn opt_str<'a>(v: &'a Value, key: &str) -> Result<Option<&'a str>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("field `{key}` is not a string")),
    }
}

/// The `cwd` field: required, absolute.
pub fn cwd_of(v: &Value, key: &str) -> Result<PathBuf, String> {
    let c = req_str(v, key)?;
    let p = PathBuf::from(c);
    if !p.is_absolute() {
        return Err(format!("field `{key}` is not an absolute path: {c:?}"));
    }
    Ok(p)
}

/// Reads a required object field.
pub fn req_obj<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
    match v.get(key) {
        Some(o @ Value::Object(_)) => Ok(o),
        Some(_) => Err(format!("field `{key}` is not an object")),
        None => Err(format!("field `{key}` is missing")),
    }
}

/// The event name: the JSON's `key`, checked against `--event` when both are given.
pub fn event_name(v: &Value, key: &str, flag: Option<&str>) -> Result<String, String> {
    match (opt_str(v, key)?, flag) {
        (Some(a), Some(b)) if a != b => Err(format!(
            "the event is {a:?} in the JSON but --event {b:?} was given"
        )),
        (Some(a), _) => Ok(a.to_string()),
        (None, Some(b)) => Ok(b.to_string()),
        (None, None) => Err(format!(
            "field `{key}` is missing (pass --event NAME when the agent does not send it)"
        )),
    }
}
