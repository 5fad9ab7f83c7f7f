//! The events of the audit log. The `event` tag and the fields below are the schema (README,
//! "Audit log").

use serde::Serialize;

use crate::Text;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A cordon process starts a session (`cordon run` or `cordon check`).
    SessionStart {
        /// `run` or `check`.
        command: String,
        /// SHA-256 of the config files and `--policy` files read (for each: its path, NUL, its
        /// contents, NUL; the SHA-256 of nothing when there are none), run and check alike.
        config_digest: String,
        /// run: SHA-256 of the resolved sandbox spec as `cordon run --dry-run` prints it.
        #[serde(skip_serializing_if = "Option::is_none")]
        spec_digest: Option<String>,
        mode: String,
        /// The writable roots (run) or the workspace (check).
        roots: Vec<Text>,
        network: String,
        version: String,
        user: String,
        uid: u32,
        /// `--agent NAME`.
        agent: Option<String>,
        /// The cordon process.
        pid: u32,
    },
    /// The command policy decided.
    Decision {
        decision: String,
        rule: String,
        reason: String,
        /// The command as given (shell string, or argv joined with spaces).
        command: Text,
    },
    /// An agent's hook call (`cordon hook AGENT`): the tool call the agent was about to make
    /// (or had made), and what cordon answered.
    Hook {
        /// The agent (`claude-code`, `codex`, `gemini`, `cursor`, `copilot`, `goose`).
        agent: String,
        /// The agent's own session id, as the agent sent it.
        agent_session: Text,
        /// The agent's event: `PreToolUse`, `PostToolUse`, `SessionStart`, ...
        hook_event: String,
        /// The tool as the agent named it, and its kind (`shell`, `read`, `search`, `write`,
        /// `patch`, `fetch`, `mcp`, `inert`, `unknown`).
        tool: Text,
        kind: String,
        /// What the call acts on: the command, the path(s), the URL, `server/tool`.
        target: Text,
        /// `allow`, `ask`, `deny`, or `none` (an event that decides nothing).
        decision: String,
        rule: String,
        reason: String,
        /// The command was rewritten to run inside cordon's sandbox.
        rewritten: bool,
    },
    /// A question about running a command (or more access), and its answer.
    Approval {
        /// `before-run` or `after-failure`.
        stage: String,
        /// What was asked about: the command as shown to the person.
        prompt: Text,
        /// `allow_once`, `allow_project` or `deny`.
        answer: String,
        /// `tty`, `approver`, `grant` or `none` (nobody could be asked).
        answered_by: String,
        /// The policy's decision and rule that led to the question.
        policy_decision: String,
        rule: Option<String>,
        /// Escalations asked for, and those granted (`write:PATH`, `domain:PATTERN`...).
        requested: Vec<String>,
        granted: Vec<String>,
        /// The question was whether to rerun outside the sandbox.
        unsandboxed: bool,
        grant_id: Option<String>,
        /// The approver's reason, or why nobody could be asked.
        note: String,
    },
    /// The command starts in the sandbox.
    Exec {
        argv: Vec<Text>,
        cwd: Text,
        /// The cordon process that supervises the command (the command's own pid lives in the
        /// sandbox's PID namespace).
        pid: u32,
        isolation: String,
    },
    /// The sandbox is gone.
    Exit {
        /// cordon's exit status (the command's, 128+N for a signal, 124 timeout).
        status: i32,
        timed_out: bool,
        duration_ms: u64,
        /// getrusage(RUSAGE_CHILDREN) of the cordon process after the run.
        user_ms: u64,
        sys_ms: u64,
        max_rss_kib: u64,
    },
    /// A connection through the egress proxy (allowed or refused).
    Connection {
        protocol: String,
        host: Text,
        port: u16,
        addr: Option<String>,
        /// Plain HTTP: the request's method and path (without the query); absent for tunnels.
        #[serde(skip_serializing_if = "Option::is_none")]
        method: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<Text>,
        /// Intercepted requests: the name of the credential header cordon added (never its
        /// value).
        #[serde(skip_serializing_if = "Option::is_none")]
        injected: Option<String>,
        decision: String,
        rule: Text,
        bytes_up: u64,
        bytes_down: u64,
        duration_ms: u64,
    },
    /// A variable of the environment was not passed into the sandbox. Never the value.
    EnvDropped { name: Text, reason: String },
    /// A protection could not be used as wanted.
    Degradation { what: String, detail: String },
    /// The check after a run found something the run created or changed that would run code
    /// outside the sandbox (a git hook or config, an agent config) and moved it aside.
    Neutralised {
        /// What was found.
        path: Text,
        /// Where it was moved (`NAME.cordon-disabled-<run>` beside it); absent when it could not
        /// be moved (`error` says why).
        moved_to: Option<Text>,
        reason: String,
        error: Option<String>,
    },
    /// A list (`tools/list`, one page) answered through the MCP gateway (`cordon mcp wrap`).
    McpList {
        /// The wrapped server's name (`--name`).
        server: String,
        /// How many tools reached the client, and the names of those withheld.
        shown: u64,
        withheld: Vec<Text>,
    },
    /// A `tools/call` through the MCP gateway: refused (`deny`, with the rule: a tool rule, or
    /// `pin:...` for a withheld tool) or forwarded and answered.
    McpCall {
        server: String,
        tool: Text,
        /// SHA-256 of the canonical JSON of the arguments (never the arguments themselves).
        args_sha256: String,
        /// `allow`, `ask` (then approved) or `deny`.
        decision: String,
        rule: String,
        reason: Text,
        /// Bytes of the answer's line, whether the server said `isError`, and the round trip.
        result_bytes: Option<u64>,
        is_error: Option<bool>,
        duration_ms: Option<u64>,
    },
    /// What the gateway saw change: `pinned` (first use), `new`, `changed`, `removed`,
    /// `flagged` (poisoning), `identity`, `instructions`, `approved`.
    McpChange {
        server: String,
        tool: Option<Text>,
        change: String,
        old_sha256: Option<String>,
        new_sha256: Option<String>,
        detail: Text,
    },
    /// Something went wrong on the wire: `malformed`, `oversized`, `server_exit`,
    /// `client_disconnect`, `duplicate_id`, `write_failed`.
    McpError {
        server: String,
        what: String,
        detail: Text,
    },
    /// Written by the writer that found a torn last line (a crash mid-write): links to the last
    /// good record and names the torn bytes.
    Recovery {
        torn_bytes: u64,
        torn_sha256: String,
        /// Byte offset of the torn line in its file.
        torn_offset: u64,
    },
}

impl Event {
    /// The `event` tag.
    pub fn name(&self) -> &'static str {
        match self {
            Event::SessionStart { .. } => "session_start",
            Event::Decision { .. } => "decision",
            Event::Approval { .. } => "approval",
            Event::Hook { .. } => "hook",
            Event::Exec { .. } => "exec",
            Event::Exit { .. } => "exit",
            Event::Connection { .. } => "connection",
            Event::EnvDropped { .. } => "env_dropped",
            Event::Degradation { .. } => "degradation",
            Event::Neutralised { .. } => "neutralised",
            Event::Recovery { .. } => "recovery",
            Event::McpList { .. } => "mcp_list",
            Event::McpCall { .. } => "mcp_call",
            Event::McpChange { .. } => "mcp_change",
            Event::McpError { .. } => "mcp_error",
        }
    }

    /// Records that are fsync'd as soon as written: refusals, approvals, the end of a session.
    pub fn needs_sync(&self) -> bool {
        match self {
            Event::Decision { decision, .. }
            | Event::Hook { decision, .. }
            | Event::McpCall { decision, .. } => decision == "deny",
            Event::McpChange { .. } | Event::McpError { .. } => true,
            Event::Approval { .. }
            | Event::Exit { .. }
            | Event::Recovery { .. }
            | Event::Neutralised { .. } => true,
            _ => false,
        }
    }
}
