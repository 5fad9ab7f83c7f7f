//! `cordon mcp serve`: an MCP server (stdio) that gives any MCP client cordon's sandbox
//! without a hook. Built on rmcp, the official Rust SDK, which serves both protocol eras (the
//! `initialize` handshake and 2026-07-28's stateless requests with `server/discover`).
//!
//! Tools: `run` (a shell command: decided by the command policy, run by `cordon run`, its exit
//! status, stdout and stderr, with a timeout), `check` (the decision only), `read_file` and
//! `list_dir` (read-only, inside a read-only sandbox, so the secret paths are hidden exactly as
//! for any sandboxed command).

use std::path::PathBuf;
use std::pin::Pin;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use cordon_audit::{Event, Text};
use cordon_pipeline::Error;
use cordon_sandbox::exit;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock as Content, ServerCapabilities, ServerConfig};
use rmcp::{schemars, tool, tool_handler, tool_router, ServerHandler, ServiceExt};
use serde::Deserialize;

/// What a tool returns of a command's output, per stream.
const MAX_OUTPUT: usize = 1 << 20;

#[derive(clap::Args)]
pub struct Args {
    /// A policy file for `run` and `check` (repeatable), on top of the config's rules.
    #[arg(long, value_name = "FILE")]
    pub policy: Vec<PathBuf>,
    /// The longest a `run` may take when the call does not say (e.g. 2m).
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = crate::cmd_run::parse_duration_ms)]
    pub timeout: u64,
    /// The workspace `run` may write (default: the git top-level of the current directory,
    /// else the current directory).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    #[command(flatten)]
    pub audit: crate::cmd_audit::LogArgs,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct RunReq {
    /// The shell command (run with /bin/sh -c).
    command: String,
    /// Seconds before the sandbox is killed (default: the server's --timeout).
    timeout_secs: Option<u64>,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct CheckReq {
    /// The shell command to decide.
    command: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct PathReq {
    /// The path (absolute, or relative to the workspace).
    path: String,
}

#[derive(Clone)]
struct Shell {
    tool_router: ToolRouter<Self>,
    exe: PathBuf,
    workspace: PathBuf,
    policy_files: Vec<PathBuf>,
    timeout_ms: u64,
    audit_dir: Option<PathBuf>,
    audit: cordon_pipeline::record::Session,
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

fn capped(mut b: Vec<u8>) -> String {
    let more = b.len().saturating_sub(MAX_OUTPUT);
    b.truncate(MAX_OUTPUT);
    let mut s = String::from_utf8_lossy(&b).into_owned();
    if more > 0 {
        s.push_str(&format!("\n[cordon: {more} more bytes not shown]"));
    }
    s
}

impl Shell {
    /// `cordon run ARGS` with no stdin, output captured; killed after `timeout_ms` + a margin.
    async fn cordon_run(&self, args: &[&str], timeout_ms: u64) -> Result<Ran, String> {
        let mut cmd = tokio::process::Command::new(&self.exe);
        cmd.arg("run").arg("--workspace").arg(&self.workspace);
        if let Some(d) = &self.audit_dir {
            cmd.arg("--audit-dir").arg(d);
        }
        cmd.args(["--agent", "mcp-serve"]);
        cmd.args(args)
            .current_dir(&self.workspace)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start cordon run: {e}"))?;
        // cordon run enforces --timeout itself (124); this is the margin for its own start.
        match tokio::time::timeout(
            Duration::from_millis(timeout_ms + 10_000),
            child.wait_with_output(),
        )
        .await
        {
            Ok(Ok(o)) => Ok(Ran {
                code: o.status.code(),
                timed_out: o.status.code() == Some(i32::from(exit::TIMEOUT)),
                stdout: capped(o.stdout),
                stderr: capped(o.stderr),
            }),
            Ok(Err(e)) => Err(format!("cordon run: {e}")),
            Err(_) => Err("cordon run did not end in time".into()),
        }
    }

    fn policy(&self) -> Result<Option<cordon_policy::Policy>, String> {
        let flags = cordon_config::Flags {
            policy: self.policy_files.clone(),
            ..Default::default()
        };
        let mut cfg = cordon_pipeline::plan::load_config(
            &cordon_pipeline::plan::paths(),
            &self.workspace,
            &flags,
        )
        .map_err(|e| e.to_string())?;
        cfg.load_policy().map_err(|e| e.to_string())
    }

    fn evaluate(&self, command: &str) -> Result<Option<cordon_policy::Evaluation>, String> {
        let ctx = cordon_pipeline::check::context(
            Some(self.workspace.clone()),
            Some(self.workspace.clone()),
        )
        .map_err(|e| e.to_string())?;
        Ok(self.policy()?.map(|p| p.check_shell(command, &ctx)))
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        tool: &str,
        args: &str,
        decision: &str,
        rule: &str,
        reason: &str,
        bytes: Option<u64>,
        err: Option<bool>,
        t: Option<Instant>,
    ) {
        self.audit.record(&Event::McpCall {
            server: "cordon".into(),
            tool: Text::from(tool),
            args_sha256: cordon_audit::sha256_hex(args.as_bytes()),
            decision: decision.into(),
            rule: rule.into(),
            reason: Text::from(reason),
            result_bytes: bytes,
            is_error: err,
            duration_ms: t.map(|t| t.elapsed().as_millis() as u64),
        });
    }
}

fn text(s: String) -> CallToolResult {
    CallToolResult::success(vec![Content::text(s)])
}

fn error(s: String) -> CallToolResult {
    CallToolResult::error(vec![Content::text(s)])
}

#[tool_router]
impl Shell {
    #[tool(
        description = "Run a shell command (/bin/sh -c) in cordon's sandbox: decided by the command policy first (a denied command is refused with the rule), then run with the workspace writable, no network, secrets hidden. Returns the exit status, stdout and stderr (1 MiB each at most)."
    )]
    async fn run(&self, Parameters(r): Parameters<RunReq>) -> CallToolResult {
        let started = Instant::now();
        let ev = match self.evaluate(&r.command) {
            Ok(ev) => ev,
            Err(e) => return error(format!("cordon: {e}")),
        };
        if let Some(ev) = &ev {
            if ev.decision == cordon_policy::Decision::Deny {
                let msg = format!(
                    "cordon refused the command: deny by rule {}: {}\n{}",
                    ev.rule,
                    ev.reason,
                    ev.summary()
                );
                self.record(
                    "run", &r.command, "deny", &ev.rule, &ev.reason, None, None, None,
                );
                return error(msg);
            }
        }
        let timeout_ms = r
            .timeout_secs
            .map_or(self.timeout_ms, |s| s.saturating_mul(1000));
        let t = format!("{timeout_ms}ms");
        let mut args: Vec<&str> = vec!["--timeout", &t];
        for p in &self.policy_files {
            args.extend(["--policy", p.to_str().unwrap_or_default()]);
        }
        args.extend(["-c", &r.command]);
        let (decision, rule, reason) = ev
            .as_ref()
            .map(|e| (e.decision.as_str(), e.rule.clone(), e.reason.clone()))
            .unwrap_or(("allow", "--no-policy".into(), String::new()));
        match self.cordon_run(&args, timeout_ms).await {
            Ok(ran) => {
                let status = match (ran.timed_out, ran.code) {
                    (true, _) => "timed out (the sandbox was killed)".to_string(),
                    (_, Some(c)) => c.to_string(),
                    (_, None) => "killed by a signal".to_string(),
                };
                let body = format!(
                    "exit status: {status}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    ran.stdout, ran.stderr
                );
                self.record(
                    "run",
                    &r.command,
                    decision,
                    &rule,
                    &reason,
                    Some(body.len() as u64),
                    Some(ran.code == Some(i32::from(exit::REFUSED))),
                    Some(started),
                );
                if ran.code == Some(i32::from(exit::REFUSED)) {
                    error(body)
                } else {
                    text(body)
                }
            }
            Err(e) => error(format!("cordon: {e}")),
        }
    }

    #[tool(
        description = "Decide a shell command against cordon's command policy without running it: allow, ask or deny, with the rule and the reason for each simple command in it."
    )]
    async fn check(&self, Parameters(r): Parameters<CheckReq>) -> CallToolResult {
        match self.evaluate(&r.command) {
            Ok(Some(ev)) => {
                text(serde_json::to_string_pretty(&ev).unwrap_or_else(|_| ev.summary()))
            }
            Ok(None) => text("allow (the command policy is off)".into()),
            Err(e) => error(format!("cordon: {e}")),
        }
    }

    #[tool(
        description = "Read a text file (1 MiB at most), read-only, in the sandbox: secret paths (~/.ssh, ~/.aws, .env, keys, ...) cannot be read."
    )]
    async fn read_file(&self, Parameters(r): Parameters<PathReq>) -> CallToolResult {
        let cap = MAX_OUTPUT.to_string();
        self.read_only("read_file", &["head", "-c", &cap, "--", &r.path])
            .await
    }

    #[tool(
        description = "List a directory (names, types, sizes), read-only, in the sandbox: the contents of secret directories are not shown."
    )]
    async fn list_dir(&self, Parameters(r): Parameters<PathReq>) -> CallToolResult {
        self.read_only("list_dir", &["ls", "-la", "--", &r.path])
            .await
    }
}

impl Shell {
    async fn read_only(&self, tool: &str, argv: &[&str]) -> CallToolResult {
        let started = Instant::now();
        let mut args = vec![
            "--mode",
            "read-only",
            "--no-policy",
            "--approval",
            "never",
            "--",
        ];
        args.extend_from_slice(argv);
        match self.cordon_run(&args, 30_000).await {
            Ok(ran) if ran.code == Some(0) => {
                self.record(
                    tool,
                    argv.last().unwrap_or(&""),
                    "allow",
                    "read-only",
                    "",
                    Some(ran.stdout.len() as u64),
                    Some(false),
                    Some(started),
                );
                text(ran.stdout)
            }
            Ok(ran) => {
                self.record(
                    tool,
                    argv.last().unwrap_or(&""),
                    "allow",
                    "read-only",
                    "",
                    None,
                    Some(true),
                    Some(started),
                );
                error(format!("cordon: {}", ran.stderr.trim()))
            }
            Err(e) => error(format!("cordon: {e}")),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Shell {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_instructions(
            "cordon's sandboxed shell: `run` decides a command with the policy and runs it in a sandbox (workspace writable, no network, secrets hidden); `check` only decides; `read_file` and `list_dir` read without writing.",
        )
    }
}

pub fn run(a: Args) -> Result<ExitCode, Error> {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            return Err(Error::failed(format!(
                "cannot find cordon's own binary: {e}"
            )))
        }
    };
    let workspace = match cordon_pipeline::plan::workspace_root(a.workspace.as_deref(), None) {
        Ok(w) => w,
        Err(e) => return Err(Error::failed(e)),
    };
    let audit_dir = match cordon_pipeline::record::resolve_run_dir(&a.audit.options(), None) {
        Ok(d) => d,
        Err(e) => return Err(Error::failed(e)),
    };
    let audit = match &audit_dir {
        Some(dir) => {
            let start = cordon_pipeline::record::session_start(
                "mcp-serve",
                cordon_audit::sha256_hex(b""),
                None,
                "workspace-write",
                vec![Text::from(workspace.as_path())],
                "none",
                a.audit.agent.as_deref(),
            );
            if let Err(e) = cordon_audit::Writer::create_dir(dir) {
                return Err(Error::failed(format!("audit log: {e}")));
            }
            match cordon_pipeline::record::Session::start(dir, &start) {
                Ok(s) => s,
                Err(e) => return Err(Error::failed(e)),
            }
        }
        None => cordon_pipeline::record::Session::disabled(),
    };
    let shell = Shell {
        tool_router: Shell::tool_router(),
        exe,
        workspace,
        policy_files: a.policy,
        timeout_ms: a.timeout,
        audit_dir,
        audit,
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return Err(Error::failed(format!(
                "cannot start the async runtime: {e}"
            )))
        }
    };
    let done = rt.block_on(async move {
        let gone = Arc::new(tokio::sync::Notify::new());
        let out = ClientOut {
            inner: tokio::io::stdout(),
            gone: gone.clone(),
        };
        match shell.serve((tokio::io::stdin(), out)).await {
            Ok(service) => {
                // A client that closed its end of stdout ends the server as one that closed
                // stdin does: rmcp only logs an answer it could not send, and would serve on.
                let stop = service.cancellation_token();
                tokio::spawn(async move {
                    gone.notified().await;
                    stop.cancel();
                });
                let _ = service.waiting().await;
                Ok(ExitCode::SUCCESS)
            }
            // The client went away before the handshake's answer (its end of stdout closed):
            // the same quiet end as a client that closes stdin.
            Err(e) if client_gone(&e) => Ok(ExitCode::SUCCESS),
            Err(e) => Err(Error::failed(format!("mcp serve: {e}"))),
        }
    });
    // Not `drop(rt)`: that waits for the thread blocked reading stdin, i.e. for a client that
    // is gone from stdout but keeps stdin open.
    rt.shutdown_background();
    done
}

/// stdout, the client's end; a write that finds it closed (`BrokenPipe`) notifies `gone`.
struct ClientOut {
    inner: tokio::io::Stdout,
    gone: Arc<tokio::sync::Notify>,
}

impl ClientOut {
    fn note<T>(&self, r: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        if let Poll::Ready(Err(e)) = &r {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                self.gone.notify_one();
            }
        }
        r
    }
}

impl tokio::io::AsyncWrite for ClientOut {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note(r)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.note(r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.note(r)
    }
}

/// True when `e` comes from writing to a client whose end of stdout is closed.
fn client_gone(e: &rmcp::service::ServerInitializeError) -> bool {
    // The transport's error is a field (not a `source`) of this variant; below it, the chain.
    let rmcp::service::ServerInitializeError::TransportError { error, .. } = e else {
        return false;
    };
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                return true;
            }
        }
        cur = err.source();
    }
    false
}
