//! `cordon mcp wrap`: the gateway. The server runs as `cordon run` (this same binary) with
//! pipes for its stdin and stdout: the run pipeline, out of process, so that the sandbox, the
//! command policy and the audit log of a `cordon run` apply to it unchanged (see
//! [`spawn_server`], the one place that knows how).

use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cordon_audit::{Event, Text};
use cordon_mcp::{CallDecision, CallPolicy, FirstUse, Gateway, Options, PoisonMode};
use cordon_policy::Decision;
use serde_json::Value;

use cordon_config::Approval as ApprovalMode;
use cordon_pipeline::approval::{self, Answer, Settings};

/// 16 MiB: a message is held whole to route it; this covers a base64 image of about 12 MB
/// in a tool result, and keeps a hostile or broken peer from making the gateway hold more.
pub const DEFAULT_MAX_MESSAGE: usize = 16 << 20;

#[derive(clap::Args)]
#[command(
    after_help = "Defaults: no network, no secrets, nothing writable but a private /tmp. \
The server's stderr passes through. Pins: $XDG_STATE_HOME/cordon/mcp (see 'cordon mcp pins')."
)]
pub struct Args {
    /// The server's name: its pins and the tool rules' `server` (letters, digits, . _ -).
    #[arg(long)]
    pub name: String,
    /// A directory the server may write (repeatable); the first is its workspace.
    #[arg(long, value_name = "DIR")]
    pub writable: Vec<PathBuf>,
    /// Let the server reach this domain through cordon's proxy (repeatable), for servers that
    /// call an API.
    #[arg(long, value_name = "PATTERN[:PORT]")]
    pub allow_domain: Vec<String>,
    /// Let one secret path through on purpose (repeatable).
    #[arg(long, value_name = "PATH")]
    pub read_secret: Vec<PathBuf>,
    /// Pass NAME through from the environment, or set NAME=VALUE (repeatable).
    #[arg(long, value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,
    /// Pass NAME even though its value looks like a secret (an API token the server needs).
    #[arg(long, value_name = "NAME")]
    pub secret_env: Vec<String>,
    /// A policy file with tool rules ([[tool]]) and command rules (repeatable).
    #[arg(long, value_name = "FILE")]
    pub policy: Vec<PathBuf>,
    /// The first time a server is seen: trust (pin its tools as they are) or ask (withhold
    /// everything until `cordon mcp approve NAME`).
    #[arg(long, value_enum, default_value = "trust")]
    pub first_use: FirstUseArg,
    /// A tool flagged as possible poisoning: withhold it until approved, or warn and show it.
    #[arg(long, value_enum, default_value = "withhold")]
    pub on_poison: PoisonArg,
    /// The largest JSON-RPC message accepted, in bytes (e.g. 16M).
    #[arg(long, value_name = "BYTES", value_parser = crate::cmd_run::parse_bytes)]
    pub max_message: Option<u64>,
    /// Run the server without the sandbox (the gateway still pins and decides). Danger.
    #[arg(long)]
    pub no_sandbox: bool,
    #[command(flatten)]
    pub audit: crate::cmd_audit::LogArgs,
    /// The server's command and arguments (after --).
    #[arg(last = true, required = true, value_name = "SERVER")]
    pub argv: Vec<String>,
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum FirstUseArg {
    Trust,
    Ask,
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum PoisonArg {
    Withhold,
    Warn,
}

/// The server as a child process: `cordon run [sandbox options] -- SERVER...` with its stdin
/// and stdout piped to the gateway and its stderr passed through. The run pipeline decides
/// the command (a deny rule refuses it; `--approval never`: nobody is asked at start, the
/// client has the terminal), builds the sandbox and records the run like any `cordon run`.
pub fn spawn_server(a: &Args) -> Result<Child, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find cordon's own binary: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("run").args(["--approval", "never"]);
    if a.no_sandbox {
        cmd.args(["--mode", "danger-full-access"]);
    } else if let Some((ws, rest)) = a.writable.split_first() {
        cmd.args(["--mode", "workspace-write", "--workspace"])
            .arg(ws);
        for w in rest {
            cmd.arg("--writable").arg(w);
        }
    } else {
        cmd.args(["--mode", "read-only"]);
    }
    for d in &a.allow_domain {
        cmd.args(["--allow-domain", d]);
    }
    for p in &a.read_secret {
        cmd.arg("--read-secret").arg(p);
    }
    for e in &a.env {
        cmd.args(["--env", e]);
    }
    for e in &a.secret_env {
        cmd.args(["--secret-env", e]);
    }
    for p in &a.policy {
        cmd.arg("--policy").arg(p);
    }
    if let Some(d) = &a.audit.audit_dir {
        cmd.arg("--audit-dir").arg(d);
    }
    if a.audit.no_audit {
        cmd.arg("--no-audit");
    }
    cmd.args(["--agent", &format!("mcp:{}", a.name)]);
    cmd.arg("--").args(&a.argv);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd.spawn()
        .map_err(|e| format!("cannot start the MCP server through cordon run: {e}"))
}

struct ChildServer(Child);

impl cordon_mcp::relay::Server for ChildServer {
    fn stop(&mut self, grace: Duration) -> String {
        let status = |s: std::process::ExitStatus| {
            use std::os::unix::process::ExitStatusExt;
            match (s.code(), s.signal()) {
                (Some(c), _) => format!("exit status {c}"),
                (_, Some(n)) => format!("signal {n}"),
                _ => s.to_string(),
            }
        };
        let until = Instant::now() + grace;
        loop {
            match self.0.try_wait() {
                Ok(Some(s)) => return status(s),
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
                Ok(None) => break,
                Err(e) => return format!("unknown ({e})"),
            }
        }
        // SIGTERM first: cordon run forwards it into the sandbox and tears it down; SIGKILL
        // if it does not go.
        // Our own child, not reaped yet (try_wait said so): its pid is still its own.
        cordon_sandbox::host::terminate(self.0.id());
        let until = Instant::now() + Duration::from_secs(2);
        loop {
            match self.0.try_wait() {
                Ok(Some(s)) => return status(s),
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
                _ => break,
            }
        }
        let _ = self.0.kill();
        self.0
            .wait()
            .map(status)
            .unwrap_or_else(|e| format!("unknown ({e})"))
    }
}

/// Tool rules from the config layers and `--policy` files; `ask` through the approvals.
pub struct Rules {
    pub policy: Option<cordon_policy::Policy>,
    pub settings: Settings,
    pub home: String,
    pub audit: cordon_pipeline::record::Session,
}

/// The text values of an argument key (see cordon_policy::tool_rules).
pub fn arg_values(args: &Value, key: &str) -> Option<Vec<String>> {
    fn leaves(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
            Value::Object(m) => m.values().for_each(|x| leaves(x, out)),
            other => out.push(other.to_string()),
        }
    }
    let v = if key == "*" {
        args
    } else if key.starts_with('/') {
        args.pointer(key)?
    } else {
        args.get(key)?
    };
    let mut out = Vec::new();
    leaves(v, &mut out);
    Some(out)
}

impl CallPolicy for Rules {
    fn decide(
        &self,
        server: &str,
        tool: &str,
        args: &Value,
        annotations: Option<&Value>,
    ) -> CallDecision {
        let arg = |k: &str| arg_values(args, k);
        let hit = self.policy.as_ref().and_then(|p| {
            p.check_tool(&cordon_policy::ToolCall {
                server,
                tool,
                arg: &arg,
                home: &self.home,
            })
        });
        let Some(hit) = hit else {
            return CallDecision {
                decision: "allow".into(),
                allowed: true,
                rule: "default".into(),
                reason: "no tool rule matches".into(),
            };
        };
        let allowed = match hit.decision {
            Decision::Allow => true,
            Decision::Deny => false,
            Decision::Ask => self.ask(server, tool, args, annotations, &hit),
        };
        CallDecision {
            decision: hit.decision.as_str().into(),
            allowed,
            rule: hit.rule,
            reason: hit.reason,
        }
    }
}

impl Rules {
    fn ask(
        &self,
        server: &str,
        tool: &str,
        args: &Value,
        annotations: Option<&Value>,
        hit: &cordon_policy::ToolHit,
    ) -> bool {
        let mode = self.settings.approval.unwrap_or(ApprovalMode::OnRequest);
        let mut shown_args = cordon_mcp::canon::to_string(args);
        if shown_args.len() > 2000 {
            shown_args.truncate(
                shown_args
                    .char_indices()
                    .nth(2000)
                    .map_or(shown_args.len(), |(i, _)| i),
            );
            shown_args.push('…');
        }
        let shown_args = cordon_policy::unicode::escape(&shown_args);
        let hints = annotations
            .map(|a| {
                format!(
                    "\n  the server says (not trusted): {}",
                    cordon_policy::unicode::escape(&a.to_string())
                )
            })
            .unwrap_or_default();
        let text = format!(
            "cordon: MCP tool call: {server}/{tool}\n  arguments: {shown_args}{hints}\n  rule {}: ask — {}\n",
            hit.rule, hit.reason
        );
        let (by, answer, note) = if mode == ApprovalMode::Never {
            (
                approval::AnsweredBy::None,
                Answer::Deny,
                "--approval never: nobody is asked, and an ask is refused".to_string(),
            )
        } else {
            let request = serde_json::json!({
                "version": 1, "stage": "mcp-call", "mode": mode.as_str(),
                "command": format!("{server}/{tool} {shown_args}"),
                "server": server, "tool": tool, "arguments": args, "annotations": annotations,
                "decision": "ask", "rule": hit.rule, "reason": hit.reason,
                "escalations": [], "allow_project": false,
            });
            approval::ask_other(&self.settings, &text, request)
        };
        let word = |v: serde_json::Result<Value>| {
            v.ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        self.audit.record(&Event::Approval {
            stage: "mcp-call".into(),
            prompt: Text::from(format!("{server}/{tool} {shown_args}").as_str()),
            answer: word(serde_json::to_value(answer)),
            answered_by: word(serde_json::to_value(by)),
            policy_decision: "ask".into(),
            rule: Some(hit.rule.clone()),
            requested: vec![],
            granted: vec![],
            unsandboxed: false,
            grant_id: None,
            note: note.clone(),
        });
        if answer == Answer::Deny && !note.is_empty() {
            eprintln!("cordon: mcp {server}/{tool}: not approved: {note}");
        }
        answer != Answer::Deny
    }
}

pub fn run(a: Args) -> ExitCode {
    if let Err(e) = cordon_mcp::pins::check_name(&a.name) {
        return super::fail(format!("--name: {e}"));
    }
    let cwd = match std::env::current_dir() {
        Ok(d) => d,
        Err(e) => return super::fail(format!("current directory: {e}")),
    };
    // The config layers (for the tool rules, the approval settings, the audit directory).
    let workspace = cordon_pipeline::check::workspace_of(&cwd);
    let flags = cordon_config::Flags {
        policy: a.policy.clone(),
        ..Default::default()
    };
    let mut cfg = match cordon_pipeline::plan::load_config(
        &cordon_pipeline::plan::paths(),
        &workspace,
        &flags,
    ) {
        Ok(c) => c,
        Err(e) => return super::fail(e),
    };
    let policy = match cfg.load_policy() {
        Ok(p) => p,
        Err(e) => return super::fail(e),
    };
    let audit = match cordon_pipeline::record::resolve_run_dir(
        &a.audit.options(),
        cfg.audit_dir.as_ref(),
    ) {
        Ok(Some(dir)) => {
            let digest =
                cordon_pipeline::record::config_digest(&cfg, &a.policy).unwrap_or_default();
            let start = cordon_pipeline::record::session_start(
                "mcp-wrap",
                digest,
                None,
                if a.no_sandbox {
                    "danger-full-access"
                } else if a.writable.is_empty() {
                    "read-only"
                } else {
                    "workspace-write"
                },
                a.writable.iter().map(|w| Text::from(w.as_path())).collect(),
                if a.allow_domain.is_empty() {
                    "none"
                } else {
                    "proxy"
                },
                Some(&format!("mcp:{}", a.name)),
            );
            if let Err(e) = cordon_audit::Writer::create_dir(&dir) {
                return super::fail(format!(
                    "audit log: {e}; pass --audit-dir DIR, or --no-audit"
                ));
            }
            match cordon_pipeline::record::Session::start(&dir, &start) {
                Ok(s) => s,
                Err(e) => return super::fail(e),
            }
        }
        Ok(None) => cordon_pipeline::record::Session::disabled(),
        Err(e) => return super::fail(e),
    };
    let store = match super::store() {
        Ok(s) => s,
        Err(e) => return super::fail(e),
    };
    let path = std::env::var("PATH").ok();
    let identity = cordon_mcp::pins::identity(&a.argv, path.as_deref(), &cwd);
    let home = std::env::var("HOME").unwrap_or_default();
    let rules = Rules {
        policy,
        settings: approval::settings_from_config(&cfg, &cordon_pipeline::plan::paths()),
        home,
        audit: audit.clone(),
    };
    let max_message = a
        .max_message
        .map_or(DEFAULT_MAX_MESSAGE, |m| m.min(usize::MAX as u64) as usize);
    let rec_audit = audit.clone();
    let gw = match Gateway::new(
        Options {
            name: a.name.clone(),
            first_use: match a.first_use {
                FirstUseArg::Trust => FirstUse::Trust,
                FirstUseArg::Ask => FirstUse::Ask,
            },
            poison: match a.on_poison {
                PoisonArg::Withhold => PoisonMode::Withhold,
                PoisonArg::Warn => PoisonMode::Warn,
            },
            max_message,
        },
        store,
        identity,
        Box::new(rules),
        Box::new(move |ev| rec_audit.record(&ev)),
    ) {
        Ok(g) => Arc::new(g),
        Err(e) => return super::fail(e),
    };
    let mut child = match spawn_server(&a) {
        Ok(c) => c,
        Err(e) => return super::fail(e),
    };
    let (Some(sin), Some(sout)) = (child.stdin.take(), child.stdout.take()) else {
        return super::fail("the MCP server's pipes could not be set up");
    };
    let end = cordon_mcp::relay::run(
        gw,
        Box::new(std::io::stdin()),
        Box::new(std::io::stdout()),
        Box::new(sin),
        Box::new(sout),
        Box::new(ChildServer(child)),
        max_message,
    );
    match end {
        cordon_mcp::relay::End::Client => ExitCode::SUCCESS,
        cordon_mcp::relay::End::Server(status) => {
            let code = status
                .strip_prefix("exit status ")
                .and_then(|c| c.parse::<u8>().ok())
                .unwrap_or(1);
            ExitCode::from(code)
        }
    }
}
