//! Deciding without launching: a shell command, a file access, a URL, against the same config,
//! trust, policy and audit log as a run (`cordon check`, and the agent hooks).

use std::path::{Path, PathBuf};

use cordon_config::Config;
use cordon_policy::{Context, Decision, Evaluation, Policy};

use crate::plan::{load_config, paths};
use crate::record::{self, AuditOptions, Session};
use crate::{Error, Result};

/// The git top-level: the nearest ancestor holding `.git` (a directory or a worktree file).
pub fn workspace_of(dir: &Path) -> PathBuf {
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.join(".git").exists() {
            return d.to_path_buf();
        }
        cur = d.parent();
    }
    dir.to_path_buf()
}

/// Where a command is decided: `cwd` (default: the current directory), `workspace` (default:
/// the git top-level of `cwd`), the home directory.
pub fn context(cwd: Option<PathBuf>, workspace: Option<PathBuf>) -> Result<Context> {
    let cwd = match cwd {
        Some(c) => std::path::absolute(&c)
            .map_err(|e| Error::Usage(format!("cannot use --cwd {}: {e}", c.display())))?,
        None => std::env::current_dir().map_err(|e| {
            Error::Usage(format!(
                "cannot read the current directory: {e}; pass --cwd DIR"
            ))
        })?,
    };
    let workspace = match workspace {
        Some(w) => std::path::absolute(&w)
            .map_err(|e| Error::Usage(format!("cannot use --workspace {}: {e}", w.display())))?,
        None => workspace_of(&cwd),
    };
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    Ok(Context {
        cwd,
        workspace,
        home,
    })
}

/// The config of `workspace` with `--policy` files as the only flag, and the rules that apply
/// there: built-in, then the config layers' (system, user, project by trust, managed), then
/// `files`. Prints the line about what an untrusted project could not set.
pub fn policy_for(workspace: &Path, files: &[PathBuf]) -> Result<(Policy, Config)> {
    let flags = cordon_config::Flags {
        policy: files.to_vec(),
        ..Default::default()
    };
    let mut cfg = load_config(&paths(), workspace, &flags)?;
    let policy = cfg.load_policy()?.unwrap_or_else(Policy::builtin);
    if let Some(line) = cfg.ignored_line() {
        errln!("cordon: {line}");
    }
    Ok((policy, cfg))
}

/// `session_start` of a decision-only session (`command`: `check`, `hook`...): the config digest
/// is the SHA-256 of the config and `--policy` files read.
pub fn start_session(
    audit: &AuditOptions,
    command: &str,
    policy_files: &[PathBuf],
    cfg: &Config,
    ctx: &Context,
) -> Result<Session> {
    let Some(dir) = record::resolve_run_dir(audit, cfg.audit_dir.as_ref())? else {
        return Ok(Session::disabled());
    };
    let digest = record::config_digest(cfg, policy_files)?;
    let start = record::session_start(
        command,
        digest,
        None,
        command,
        vec![cordon_audit::Text::from(ctx.workspace.as_path())],
        "none",
        audit.agent.as_deref(),
    );
    Session::start(&dir, &start)
}

/// Decisions for one workspace with its config, policy and audit session: what an agent hook
/// asks before the agent acts.
pub struct Checker {
    pub ctx: Context,
    pub config: Config,
    pub policy: Policy,
    pub record: Session,
}

/// A decision on something other than a command, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    pub reason: String,
}

impl Checker {
    /// Loads the config and policy of the workspace of `ctx`, and opens a session named
    /// `command` (e.g. `hook`) in the audit log.
    pub fn new(ctx: Context, command: &str, audit: &AuditOptions) -> Result<Checker> {
        let root = std::fs::canonicalize(&ctx.workspace).unwrap_or_else(|_| ctx.workspace.clone());
        let (policy, config) = policy_for(&root, &[])?;
        let record = start_session(audit, command, &[], &config, &ctx)?;
        Ok(Checker {
            ctx,
            config,
            policy,
            record,
        })
    }

    /// Decides a shell command (its bytes as given) and records the decision.
    pub fn shell(&self, command: &[u8]) -> Result<Evaluation> {
        let src = String::from_utf8_lossy(command);
        let ev = self.policy.check_shell(&src, &self.ctx);
        self.record.require(&record::decision(&ev, command))?;
        Ok(ev)
    }

    /// Would the sandbox of this workspace let the command read (or, `write`, change) `path`?
    /// Deny for a secret (cordon's audit and state directories included), or a write outside
    /// the writable roots or to a protected path ([`crate::files::FileRules`]: symlinks
    /// followed, a path that does not exist yet resolved as far as it exists).
    pub fn file(&mut self, path: &Path, write: bool) -> Result<Verdict> {
        let home = std::fs::canonicalize(&self.ctx.home).unwrap_or_else(|_| self.ctx.home.clone());
        let mut hidden: Vec<PathBuf> = vec![crate::files::state_dir(&home)];
        hidden.extend(record::resolve_run_dir(
            &AuditOptions::default(),
            self.config.audit_dir.as_ref(),
        )?);
        let rules = crate::files::FileRules::new(&self.config, &self.ctx.workspace, &home, &hidden);
        let p = crate::files::resolve(path, &self.ctx.cwd);
        let refused = if write {
            rules.write(&p)
        } else {
            rules.read(&p)
        };
        Ok(match refused {
            Some(reason) => Verdict {
                decision: Decision::Deny,
                reason,
            },
            None => Verdict {
                decision: Decision::Allow,
                reason: "the sandbox allows it".into(),
            },
        })
    }

    /// Would the proxy let the command reach `host:port`? (The proxy also refuses local
    /// addresses a name resolves to, unless allowed: that is decided when it connects.)
    pub fn url(&self, host: &str, port: u16) -> Verdict {
        let deny = |reason: String| Verdict {
            decision: Decision::Deny,
            reason,
        };
        let h = match cordon_net::canonical_host(host) {
            Ok(h) => h,
            Err(e) => return deny(format!("{host}: {}", e.0)),
        };
        let p = crate::launch::net_policy(&self.config);
        if p.deny.iter().any(|d| d.denies(&h, port)) {
            return deny(format!("{host}:{port} is denied by the config"));
        }
        if p.allow.iter().any(|d| d.allows(&h, port)) {
            return Verdict {
                decision: Decision::Allow,
                reason: format!("{host}:{port} is an allowed domain"),
            };
        }
        deny(format!(
            "{host}:{port} is not an allowed domain (network.allow, --allow-domain)"
        ))
    }
}
