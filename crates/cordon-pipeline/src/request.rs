//! Stage 0, the request: what an entry point asks for, in the pipeline's terms (no clap here).

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use crate::approval::Escalation;
use crate::record::AuditOptions;

/// The command to run.
#[derive(Debug, Clone)]
pub enum Command {
    /// A program and its arguments.
    Argv(Vec<String>),
    /// A shell string, run with `/bin/sh -c` (the policy parses it).
    Shell(String),
}

impl Command {
    /// What is executed.
    pub fn argv(&self) -> Vec<String> {
        match self {
            Command::Argv(a) => a.clone(),
            Command::Shell(s) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
        }
    }
}

/// One command to run in the sandbox, as an entry point (`cordon run`, a hook, the MCP wrapper)
/// asks for it.
#[derive(Debug, Clone)]
pub struct Request {
    pub command: Command,
    /// The command's working directory (default: cordon's).
    pub cwd: Option<PathBuf>,
    /// The writable workspace (default: the git top-level of the working directory).
    pub workspace: Option<PathBuf>,
    /// What the caller's options say, as one config layer (flags override the files; the
    /// managed file overrides flags).
    pub flags: cordon_config::Flags,
    /// `--escalate`: more than the sandbox gives, granted only on a yes.
    pub escalations: Vec<Escalation>,
    pub audit: AuditOptions,
    /// Print the policy decision and the approvals on stderr.
    pub explain: bool,
    /// Resolve the plan and print the spec; run nothing, ask nothing, record nothing.
    pub dry_run: bool,
    /// Write every connection through the proxy as a JSON line to this file.
    pub net_log: Option<PathBuf>,
    /// The command's standard descriptors, where they are not cordon's own.
    pub stdio: Stdio,
    /// Called with a handle on the sandbox once it runs (again for a rerun).
    pub on_start: Option<OnStart>,
}

/// The command's standard input, output and error when they are not cordon's own 0, 1, 2: an
/// in-process caller's pipes (the MCP gateway speaking to a server it runs in the sandbox).
/// Clones of the request share them; each launch gives the sandbox its own copies (closed when
/// that run ends, see `cordon_sandbox::Stdio`), and these close when the last request holding
/// them is dropped (at the end of [`crate::Approved::launch`] for the caller's one).
#[derive(Debug, Clone, Default)]
pub struct Stdio {
    pub stdin: Option<Arc<OwnedFd>>,
    pub stdout: Option<Arc<OwnedFd>>,
    pub stderr: Option<Arc<OwnedFd>>,
}

impl Stdio {
    /// The sandbox's copies (close-on-exec duplicates; the sandbox places them at 0, 1, 2).
    pub(crate) fn copies(&self) -> std::io::Result<cordon_sandbox::Stdio> {
        let dup = |f: &Option<Arc<OwnedFd>>| f.as_ref().map(|f| f.try_clone()).transpose();
        Ok(cordon_sandbox::Stdio {
            stdin: dup(&self.stdin)?,
            stdout: dup(&self.stdout)?,
            stderr: dup(&self.stderr)?,
        })
    }
}

/// What an in-process caller is handed once the sandbox runs: a handle that stops it from
/// another thread (`cordon_sandbox::Running`).
#[derive(Clone)]
pub struct OnStart(pub Arc<dyn Fn(cordon_sandbox::Running) + Send + Sync>);

impl std::fmt::Debug for OnStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnStart(..)")
    }
}

impl Request {
    /// A request for `command` with nothing else said (the config decides the rest).
    pub fn new(command: Command) -> Request {
        Request {
            command,
            cwd: None,
            workspace: None,
            flags: cordon_config::Flags::default(),
            escalations: Vec::new(),
            audit: AuditOptions::default(),
            explain: false,
            dry_run: false,
            net_log: None,
            stdio: Stdio::default(),
            on_start: None,
        }
    }

    /// The `cordon run` options that reproduce this request's sandbox (not the command): for an
    /// entry point that rewrites an agent's command into `cordon run OPTIONS -- CMD`.
    pub fn run_options(&self) -> Vec<String> {
        let mut o = Vec::new();
        let mut opt = |k: &str, v: String| {
            o.push(k.to_string());
            o.push(v);
        };
        let path = |p: &PathBuf| p.display().to_string();
        if let Some(w) = &self.workspace {
            opt("--workspace", path(w));
        }
        if let Some(c) = &self.cwd {
            opt("--cwd", path(c));
        }
        let f = &self.flags;
        if let Some(m) = f.mode {
            opt("--mode", cordon_config::mode_str(m).into());
        }
        if let Some(a) = f.approval {
            opt("--approval", a.as_str().into());
        }
        f.writable.iter().for_each(|p| opt("--writable", path(p)));
        f.read_secret
            .iter()
            .for_each(|p| opt("--read-secret", path(p)));
        f.env.iter().for_each(|e| opt("--env", e.clone()));
        f.secret_env
            .iter()
            .for_each(|e| opt("--secret-env", e.clone()));
        if let Some(t) = f.timeout_ms {
            opt("--timeout", format!("{t}ms"));
        }
        if let Some(n) = f.nproc {
            opt("--limit-nproc", n.to_string());
        }
        if let Some(n) = f.memory {
            opt("--limit-memory", n.to_string());
        }
        if let Some(n) = f.nofile {
            opt("--limit-nofile", n.to_string());
        }
        f.allow_domain
            .iter()
            .for_each(|d| opt("--allow-domain", d.to_string()));
        f.deny_domain
            .iter()
            .for_each(|d| opt("--deny-domain", d.to_string()));
        f.resolve
            .iter()
            .for_each(|(n, a)| opt("--resolve", format!("{n}:{a}")));
        if let Some(n) = f.network {
            opt("--network", n.as_str().into());
        }
        f.policy.iter().for_each(|p| opt("--policy", path(p)));
        self.escalations
            .iter()
            .for_each(|e| opt("--escalate", e.to_string()));
        if let Some(d) = &self.audit.dir {
            opt("--audit-dir", path(d));
        }
        if let Some(a) = &self.audit.agent {
            opt("--agent", a.clone());
        }
        if f.allow_local {
            o.push("--allow-local".into());
        }
        if f.allow_ech {
            o.push("--allow-ech".into());
        }
        if f.no_policy {
            o.push("--no-policy".into());
        }
        if self.audit.off {
            o.push("--no-audit".into());
        }
        o
    }
}
