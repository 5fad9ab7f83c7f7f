//! `cordon mcp wrap`: the gateway. The server runs in the sandbox from this process, through
//! the run pipeline (the stages of `cordon run`: the command policy, the sandbox and the audit
//! records of a `cordon run` apply to it unchanged), with pipes for its stdin and stdout (see
//! [`launch_server`], the one place that knows how).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use cordon_audit::{Event, Text};
use cordon_mcp::{CallDecision, CallPolicy, FirstUse, Gateway, Options, PoisonMode};
use cordon_policy::Decision;
use serde_json::Value;

use cordon_config::Approval as ApprovalMode;
use cordon_pipeline::approval::{self, Answer, Settings};
use cordon_pipeline::Error;
use cordon_pipeline::Plan;

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

/// The run pipeline's request for the server: what `cordon run --approval never [sandbox
/// options] --agent mcp:NAME -- SERVER...` asks for (a deny rule refuses it; nobody is asked at
/// start, the client has the terminal), with the server's stdin and stdout on the given pipes
/// and its stderr passed through.
pub fn server_request(
    a: &Args,
    stdin: OwnedFd,
    stdout: OwnedFd,
) -> Result<cordon_pipeline::Request, String> {
    use cordon_sandbox::spec::Mode;
    let mut req = cordon_pipeline::Request::new(cordon_pipeline::Command::Argv(a.argv.clone()));
    let f = &mut req.flags;
    f.approval = Some(ApprovalMode::Never);
    if a.no_sandbox {
        f.mode = Some(Mode::DangerFullAccess);
    } else if let Some((ws, rest)) = a.writable.split_first() {
        f.mode = Some(Mode::WorkspaceWrite);
        req.workspace = Some(ws.clone());
        f.writable = rest.to_vec();
    } else {
        f.mode = Some(Mode::ReadOnly);
    }
    for d in &a.allow_domain {
        f.allow_domain
            .push(d.parse().map_err(|e| format!("--allow-domain {d}: {e}"))?);
    }
    f.read_secret = a.read_secret.clone();
    f.env = a.env.clone();
    f.secret_env = a.secret_env.clone();
    f.policy = a.policy.clone();
    req.audit = cordon_pipeline::record::AuditOptions {
        dir: a.audit.audit_dir.clone(),
        off: a.audit.no_audit,
        agent: Some(format!("mcp:{}", a.name)),
    };
    req.stdio = cordon_pipeline::Stdio {
        stdin: Some(Arc::new(stdin)),
        stdout: Some(Arc::new(stdout)),
        stderr: None,
    };
    Ok(req)
}

/// The server, run in the sandbox from this process: the run pipeline's stages (those of
/// `cordon run`: decision, sandbox, audit records) in a thread of their own, the server's stdin
/// and stdout on pipes to the gateway. Returns those pipes' other ends and the server.
pub fn launch_server(a: &Args) -> Result<(File, File, SandboxedServer), String> {
    let pipe = || {
        cordon_sandbox::host::pipe().map_err(|e| format!("cannot make the MCP server's pipes: {e}"))
    };
    let (in_r, in_w) = pipe()?;
    let (out_r, out_w) = pipe()?;
    let mut req = server_request(a, in_r.into(), out_w.into())?;
    let running: Arc<Mutex<Option<cordon_sandbox::Running>>> = Arc::default();
    let r = running.clone();
    req.on_start = Some(cordon_pipeline::OnStart(Arc::new(move |run| {
        *r.lock().unwrap_or_else(|e| e.into_inner()) = Some(run);
    })));
    let (tx, done) = mpsc::channel();
    std::thread::Builder::new()
        .name("mcp-server".into())
        .spawn(move || {
            let code = match Plan::new(req)
                .and_then(|p| p.decide())
                .and_then(|d| d.approve())
                .and_then(|a| a.launch())
            {
                Ok(code) => code,
                Err(e) => {
                    if !e.is_silent() {
                        errln!("cordon: {e}");
                    }
                    e.exit_code()
                }
            };
            // The live-run record this run published (runs.rs), as `cordon run` does.
            cordon_sandbox::runs::withdraw();
            let _ = tx.send(code);
        })
        .map_err(|e| format!("cannot start the MCP server's thread: {e}"))?;
    Ok((in_w, out_r, SandboxedServer { done, running }))
}

/// The server's run, as the relay stops it.
pub struct SandboxedServer {
    /// The run's exit status (the command's own, 125 cordon failed, 126 refused, 128+N).
    done: mpsc::Receiver<u8>,
    /// The sandbox, once it runs.
    running: Arc<Mutex<Option<cordon_sandbox::Running>>>,
}

impl cordon_mcp::relay::Server for SandboxedServer {
    fn stop(&mut self, grace: Duration) -> String {
        let status = |c: u8| format!("exit status {c}");
        let gone = || "unknown (the server's run ended without a status)".to_string();
        match self.done.recv_timeout(grace) {
            Ok(c) => return status(c),
            Err(mpsc::RecvTimeoutError::Disconnected) => return gone(),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        // SIGTERM first (init forwards it to the server, as `cordon run` does with its own),
        // then SIGKILL for the whole sandbox if it does not go. A run still being set up has no
        // handle yet: asked again until it has one.
        let asked = Instant::now();
        let mut terminated = false;
        loop {
            match self.done.recv_timeout(Duration::from_millis(50)) {
                Ok(c) => return status(c),
                Err(mpsc::RecvTimeoutError::Disconnected) => return gone(),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            let run = self.running.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(r) = run.as_ref() {
                if !terminated {
                    r.terminate();
                    terminated = true;
                } else if asked.elapsed() > Duration::from_secs(2) {
                    r.kill();
                }
            }
        }
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
            errln!("cordon: mcp {server}/{tool}: not approved: {note}");
        }
        answer != Answer::Deny
    }
}

/// The audit session of this server (disabled with --no-audit).
fn audit_session(
    a: &Args,
    cfg: &cordon_config::Config,
) -> Result<cordon_pipeline::record::Session, Error> {
    let s = match cordon_pipeline::record::resolve_run_dir(
        &a.audit.options(),
        cfg.audit_dir.as_ref(),
    ) {
        Ok(Some(dir)) => {
            let digest = cordon_pipeline::record::config_digest(cfg, &a.policy).unwrap_or_default();
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
                return Err(Error::failed(format!(
                    "audit log: {e}; pass --audit-dir DIR, or --no-audit"
                )));
            }
            cordon_pipeline::record::Session::start(&dir, &start).map_err(Error::failed)?
        }
        Ok(None) => cordon_pipeline::record::Session::disabled(),
        Err(e) => return Err(Error::failed(e)),
    };
    Ok(s)
}

pub fn run(a: Args) -> Result<ExitCode, Error> {
    if let Err(e) = cordon_mcp::pins::check_name(&a.name) {
        return Err(Error::failed(format!("--name: {e}")));
    }
    let cwd = match std::env::current_dir() {
        Ok(d) => d,
        Err(e) => return Err(Error::failed(format!("current directory: {e}"))),
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
        Err(e) => return Err(Error::failed(e)),
    };
    let policy = match cfg.load_policy() {
        Ok(p) => p,
        Err(e) => return Err(Error::failed(e)),
    };
    let audit = audit_session(&a, &cfg)?;
    let store = super::store().map_err(Error::failed)?;
    let path = std::env::var("PATH").ok();
    // The files' hashes come from the cache in the state directory when their key (device,
    // inode, size, mtime, ctime) is there: hashing node at every start costs ~100s of ms.
    let t0 = std::time::Instant::now();
    let hashes = cordon_mcp::hashcache::HashCache::new(store.dir().to_path_buf());
    let identity = cordon_mcp::pins::identity_with(&a.argv, path.as_deref(), &cwd, Some(&hashes));
    cordon_sandbox::timing_note("mcp: server identity", t0);
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
        Err(e) => return Err(Error::failed(e)),
    };
    let (sin, sout, server) = launch_server(&a).map_err(Error::failed)?;
    let end = cordon_mcp::relay::run(
        gw,
        Box::new(std::io::stdin()),
        Box::new(std::io::stdout()),
        Box::new(sin),
        Box::new(sout),
        Box::new(server),
        max_message,
    );
    match end {
        cordon_mcp::relay::End::Client => Ok(ExitCode::SUCCESS),
        cordon_mcp::relay::End::Server(status) => {
            let code = status
                .strip_prefix("exit status ")
                .and_then(|c| c.parse::<u8>().ok())
                .unwrap_or(1);
            Ok(ExitCode::from(code))
        }
    }
}
