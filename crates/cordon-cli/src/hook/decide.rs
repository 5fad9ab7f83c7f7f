//! The agent-independent decision, on the same config, policy and audit log as `cordon check`
//! and `cordon run`. [`load`] is the one seam to the run pipeline: it loads what the decision
//! needs (effective config, policy, file rules, audit session) for the hook's workspace.

use std::path::{Path, PathBuf};

use cordon_config::Approval;
use cordon_policy::{Context, Policy};
use cordon_sandbox::spec::Mode;

use super::call::*;
use super::{rewrite, Agent};
use cordon_pipeline::files::{resolve, FileRules};

/// What one hook call decides with.
pub struct Env {
    pub cfg: cordon_config::Config,
    pub policy: Option<Policy>,
    pub ctx: Context,
    pub rules: FileRules,
    pub approval: Approval,
    pub audit: cordon_pipeline::record::Session,
    /// The hook itself runs inside a sandbox (the whole agent inside `cordon run`): no rewrite
    /// (the outer sandbox confines every command), and the audit log may be out of reach.
    pub nested: bool,
    pub home: PathBuf,
}

/// The process is confined by a seccomp filter with no_new_privs, as everything inside
/// `cordon run` is (a model cannot put the hook, which the agent spawns, in that state).
fn confined() -> bool {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    let field = |k: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_string())
    };
    field("NoNewPrivs:").as_deref() == Some("1") && field("Seccomp:").as_deref() == Some("2")
}

/// The seam: config, policy, file rules and the audit session for this event.
pub fn load(agent: Agent, input: &Input) -> Result<Env, String> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .ok_or("HOME is not set to an absolute path")?;
    let home = std::fs::canonicalize(&home).unwrap_or(home);
    let cwd = std::fs::canonicalize(&input.cwd)
        .map_err(|e| format!("the agent's cwd {}: {e}", input.cwd.display()))?;
    // The workspace is the project the agent was started in (never where the model cd'd to):
    // Claude Code's CLAUDE_PROJECT_DIR, else the git top-level of cwd, else cwd.
    let from = match &input.project_dir {
        Some(p) => std::fs::canonicalize(p)
            .map_err(|e| format!("the project directory {}: {e}", p.display()))?,
        None => cwd.clone(),
    };
    // The seam to the run pipeline: the same config layers, trust and audit options as a run.
    use cordon_pipeline::{plan, record};
    let err = |e: cordon_pipeline::Error| e.to_string();
    let workspace = plan::workspace_root(None, Some(&from)).map_err(err)?;
    let mut cfg = plan::load_config(&plan::paths(), &workspace, &cordon_config::Flags::default())
        .map_err(err)?;
    let policy = cfg.load_policy().map_err(|e| e.to_string())?;
    let nested = confined();
    let audit_dir =
        record::resolve_run_dir(&record::AuditOptions::default(), cfg.audit_dir.as_ref())
            .map_err(err)?;
    let audit = match &audit_dir {
        None => record::Session::none(),
        Some(dir) => {
            let digest = record::config_digest(&cfg, &[]).map_err(err)?;
            let start = record::session_start(
                "hook",
                digest,
                None,
                cordon_config::mode_str(cfg.mode.value),
                vec![cordon_audit::Text::from(workspace.as_path())],
                "none",
                Some(agent.name()),
            );
            let opened = cordon_audit::Writer::create_dir(dir)
                .map_err(|e| e.to_string())
                .and_then(|_| record::Session::start(dir, &start).map_err(err));
            match opened {
                Ok(s) => s,
                // Inside a cordon sandbox the audit directory is hidden: the outer cordon run
                // records the agent's session; the hook still decides (and never allows
                // because it could not record: the outer sandbox confines what runs).
                Err(_) if nested => record::Session::none(),
                Err(e) => return Err(e),
            }
        }
    };
    let mut hidden: Vec<PathBuf> = vec![cordon_pipeline::files::state_dir(&home)];
    hidden.extend(audit_dir);
    let rules = FileRules::new(&cfg, &workspace, &home, &hidden);
    let approval = cfg.approval.value;
    Ok(Env {
        ctx: Context {
            cwd,
            workspace,
            home: home.clone(),
        },
        cfg,
        policy,
        rules,
        approval,
        audit,
        nested,
        home,
    })
}

/// Does this agent run a rewritten command (a rewrite it would ignore is not sent)?
fn rewrites(agent: Agent) -> bool {
    matches!(
        agent,
        Agent::Claude | Agent::Codex | Agent::Gemini | Agent::Copilot
    )
}

/// The paths a file tool's `path` may mean, resolved (symlinks followed, dangling ones too):
/// against the hook's cwd, and — for `~` and `~/...`, which some tools expand and others take
/// literally — against the home directory as well. Each is checked; any refusal refuses.
fn targets<'a>(env: &'a Env, path: &'a str) -> impl Iterator<Item = PathBuf> + 'a {
    let home = match path.strip_prefix('~') {
        Some("") => Some(env.home.clone()),
        Some(rest) => rest.strip_prefix('/').map(|r| env.home.join(r)),
        None => None,
    };
    std::iter::once(resolve(Path::new(path), &env.ctx.cwd))
        .chain(home.map(|h| resolve(&h, &env.ctx.cwd)))
}

/// The decision for an event, recorded in the audit log.
pub fn decide(agent: Agent, input: &Input) -> Result<Outcome, String> {
    let env = load(agent, input)?;
    let (out, rec) = match (&input.event, &input.call) {
        (EventKind::PreTool, Some(call)) => {
            let v = pre_tool(agent, &env, input, call)?;
            let rec = record(agent, input, Some(call), &v);
            (Outcome::Pre(v), rec)
        }
        (EventKind::PostTool, Some(call)) => {
            let mut files = env.rules.secrets.clone();
            for root in std::iter::once(&env.rules.workspace).chain(env.rules.writable.iter()) {
                super::redact::secret_files(root, 2, &mut files);
            }
            let values = super::redact::known_values(&files);
            let redacted = input
                .tool_output
                .as_ref()
                .and_then(|o| super::redact::redact(o, &values));
            let reason = if redacted.is_some() {
                "known secret values in the output were replaced with [REDACTED]"
            } else {
                "ran"
            };
            let v = Verdict::defer("post-tool", reason);
            let mut rec = record(agent, input, Some(call), &v);
            if let cordon_audit::Event::Hook { decision, .. } = &mut rec {
                *decision = "none".into();
            }
            (Outcome::Post { redacted }, rec)
        }
        (EventKind::SessionStart, _) => {
            // `[hook] context = false` turns it off.
            let ctx = if env.cfg.hook_context.value {
                context(&env)
            } else {
                String::new()
            };
            let v = Verdict::defer("session-start", "context given to the model");
            let mut rec = record(agent, input, None, &v);
            if let cordon_audit::Event::Hook { decision, .. } = &mut rec {
                *decision = "none".into();
            }
            (Outcome::Context(ctx), rec)
        }
        _ => {
            let v = Verdict::defer("event", "nothing to decide");
            let mut rec = record(agent, input, input.call.as_ref(), &v);
            if let cordon_audit::Event::Hook { decision, .. } = &mut rec {
                *decision = "none".into();
            }
            (Outcome::Nothing, rec)
        }
    };
    // A decision that cannot be recorded is not given (fail closed), except inside a sandbox
    // (see `load`).
    env.audit.require(&rec).map_err(|e| e.to_string())?;
    Ok(out)
}

fn record(
    agent: Agent,
    input: &Input,
    call: Option<&ToolCall>,
    v: &Verdict,
) -> cordon_audit::Event {
    cordon_audit::Event::Hook {
        agent: agent.name().into(),
        agent_session: input.session.as_str().into(),
        hook_event: input.event_name.clone(),
        tool: call.map(|c| c.tool.as_str()).unwrap_or("").into(),
        kind: call.map(|c| c.what.kind()).unwrap_or("").into(),
        target: call
            .map(|c| c.what.target())
            .unwrap_or_default()
            .as_str()
            .into(),
        decision: v.decision.as_str().into(),
        rule: v.rule.clone(),
        reason: v.reason.clone(),
        rewritten: v.rewrite.is_some(),
    }
}

/// The SessionStart context: what the sandbox allows, in a few lines.
fn context(env: &Env) -> String {
    let roots = env
        .rules
        .writable
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let net = if env.cfg.network.value == cordon_config::NetMode::Full {
        "the network is open".to_string()
    } else if env.cfg.allow_domains.is_empty() {
        "there is no network".to_string()
    } else {
        format!(
            "the network reaches only {} (through a proxy)",
            env.cfg
                .allow_domains
                .iter()
                .map(|d| d.value.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mode = match env.cfg.mode.value {
        Mode::ReadOnly => "nothing is writable".to_string(),
        Mode::WorkspaceWrite => format!("only {roots} (and a private /tmp) are writable"),
        Mode::DangerFullAccess => "there is no sandbox (danger-full-access)".to_string(),
    };
    format!(
        "cordon guards this session: your shell commands run in cordon's sandbox, where {mode}, {net}, \
         and secrets (~/.ssh, ~/.aws, .env files, keys, tokens in the environment) are hidden. \
         Protected paths (.git/hooks, .git/config, .claude/, .codex/, .vscode/, .cordon/) are read-only. \
         A refusal says which rule refused and why: do not retry it in another form. \
         To ask the user for more, run `cordon run --escalate write:PATH -- CMD` \
         (or domain:HOST, secret:PATH, env:NAME): the user is asked before it runs."
    )
}

/// Under the approval mode, what an "ask" becomes: `Allow` (runs in the sandbox) or `Ask`.
fn sandbox_answers(approval: Approval) -> bool {
    !matches!(approval, Approval::Untrusted)
}

fn pre_tool(agent: Agent, env: &Env, input: &Input, call: &ToolCall) -> Result<Verdict, String> {
    Ok(match &call.what {
        What::Shell {
            command,
            unsandboxed,
        } => shell(agent, env, input, command, unsandboxed.as_deref())?,
        What::Read { path } => match targets(env, path).find_map(|p| env.rules.read(&p)) {
            Some(r) => Verdict::deny("secret-path", r),
            None => Verdict::defer("file-read", "not a secret path"),
        },
        What::Search { paths, contents } => {
            let here = [String::from(".")];
            let paths = if paths.is_empty() {
                &here[..]
            } else {
                &paths[..]
            };
            let refused = paths
                .iter()
                .flat_map(|p| targets(env, p))
                .find_map(|dir| env.rules.search(&dir, *contents));
            match refused {
                Some(r) => Verdict::deny("secret-path", r),
                None => Verdict::defer("file-search", "no secret path below"),
            }
        }
        What::Write { paths } => writes(env, paths.iter().map(String::as_str)),
        What::Patch { text } => match super::patch::paths(text) {
            Ok(ps) => writes(env, ps.iter().map(String::as_str)),
            Err(e) => Verdict::deny(
                "patch",
                format!("cannot tell which files the patch touches: {e}"),
            ),
        },
        What::Fetch { url } => fetch(env, url),
        // The `[[tool]]` rules of the policy (the MCP gateway's schema: server, tool, args);
        // no matching rule: `[hook] unknown_tool` (default ask).
        What::Mcp { server, tool } => {
            let home = env.home.to_string_lossy();
            let args = &input.tool_input;
            let arg = |k: &str| crate::mcp::wrap::arg_values(args, k);
            let hit = env.policy.as_ref().and_then(|p| {
                p.check_tool(&cordon_policy::ToolCall {
                    server,
                    tool,
                    arg: &arg,
                    home: &home,
                })
            });
            match hit {
                Some(h) => match h.decision {
                    cordon_policy::Decision::Allow => Verdict {
                        decision: Decision::Allow,
                        rule: h.rule,
                        reason: h.reason,
                        rewrite: None,
                        explicit: true,
                    },
                    cordon_policy::Decision::Ask => {
                        unattended(env, Verdict::ask(&h.rule, h.reason))
                    }
                    cordon_policy::Decision::Deny => Verdict::deny(&h.rule, h.reason),
                },
                None => default_for(
                    env,
                    "mcp-default",
                    format!("no tool rule matches the MCP tool {server}/{tool}"),
                ),
            }
        }
        What::Inert => Verdict::defer("inert", "acts only inside the agent"),
        // `[hook] unknown_tool` (default ask).
        What::Unknown => default_for(
            env,
            "unknown-tool",
            format!("cordon does not know the tool {}", call.tool),
        ),
    })
}

/// A call no rule decides: `[hook] unknown_tool` (default ask).
fn default_for(env: &Env, rule: &str, what: String) -> Verdict {
    match env.cfg.hook_unknown_tool.value {
        cordon_policy::Decision::Allow => {
            Verdict::defer(rule, format!("{what}; hook.unknown_tool = \"allow\""))
        }
        cordon_policy::Decision::Deny => {
            Verdict::deny(rule, format!("{what}; hook.unknown_tool = \"deny\""))
        }
        cordon_policy::Decision::Ask => {
            unattended(env, Verdict::ask(rule, format!("{what}: a person decides")))
        }
    }
}

/// An ask with nobody to answer (approval `never`) is a refusal.
fn unattended(env: &Env, v: Verdict) -> Verdict {
    if v.decision == Decision::Ask && env.approval == Approval::Never {
        Verdict::deny(
            &v.rule,
            format!("{}; approval mode is never, so nobody is asked", v.reason),
        )
    } else {
        v
    }
}

fn writes<'a>(env: &Env, paths: impl Iterator<Item = &'a str>) -> Verdict {
    for p in paths {
        if let Some(r) = targets(env, p).find_map(|t| env.rules.write(&t)) {
            return Verdict::deny("file-write", r);
        }
    }
    Verdict::defer("file-write", "inside the writable roots, not protected")
}

fn fetch(env: &Env, urls: &str) -> Verdict {
    for url in urls.split_whitespace() {
        let hostport = url
            .split_once("://")
            .map(|(_, r)| r)
            .unwrap_or(url)
            .split(['/', '?', '#'])
            .next()
            .unwrap_or("");
        let hostport = hostport.rsplit('@').next().unwrap_or(hostport);
        let https = url.starts_with("https://");
        let (host, port) = match cordon_net::host::split_host_port(hostport) {
            Ok((h, p)) => (h, p.unwrap_or(if https { 443 } else { 80 })),
            Err(e) => return Verdict::deny("fetch", format!("cannot read the URL {url:?}: {e}")),
        };
        let h = match cordon_net::canonical_host(host) {
            Ok(h) => h,
            Err(e) => return Verdict::deny("fetch", format!("{url:?}: refused host: {e:?}")),
        };
        let denied = env
            .cfg
            .deny_domains
            .iter()
            .any(|d| d.value.denies(&h, port));
        let allowed = env.cfg.network.value == cordon_config::NetMode::Full
            || env
                .cfg
                .allow_domains
                .iter()
                .any(|d| d.value.allows(&h, port));
        if denied {
            return Verdict::deny("network", format!("{host}:{port} is a denied domain"));
        }
        if !allowed {
            return unattended(
                env,
                Verdict::ask(
                    "network",
                    format!(
                        "{host}:{port} is not in the allowed domains (escalation domain:{host}; allow it with network.allow in cordon's config)"
                    ),
                ),
            );
        }
    }
    Verdict::defer("network", "an allowed domain")
}

/// A model's own `cordon run [--escalate K:V]... -- CMD` (or `-c STR`): the escalations it asks
/// for and the command inside. Other loosening flags are refused (the sandbox's options are
/// the hook's, not the model's). `None` when the command is not one such call.
struct OwnRun {
    escalations: Vec<String>,
    inner: Vec<String>,
    shell: Option<String>,
}

fn own_cordon_run(env: &Env, command: &str) -> Option<Result<OwnRun, String>> {
    let policy = env
        .policy
        .as_ref()
        .map_or_else(Policy::builtin, |p| p.clone());
    let ev = policy.check_shell(command, &env.ctx);
    // The top-level simple commands (what a wrapper runs is listed too, with its `via`).
    let cmds: Vec<&cordon_policy::CommandEval> = ev
        .commands
        .iter()
        .filter(|c| c.kind == "command" && c.via.is_empty())
        .collect();
    let [one] = cmds.as_slice() else { return None };
    let argv = &one.argv;
    let prog = argv.first()?;
    if !(prog == "cordon" || prog.ends_with("/cordon"))
        || argv.get(1).map(String::as_str) != Some("run")
        || !one.via.is_empty()
    {
        return None;
    }
    let mut escalations = Vec::new();
    let mut shell = None;
    let mut it = argv[2..].iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--" => {
                return Some(Ok(OwnRun {
                    escalations,
                    inner: it.cloned().collect(),
                    shell,
                }))
            }
            "--escalate" => match it.next() {
                Some(v) => escalations.push(v.clone()),
                None => return Some(Err("--escalate needs KIND:VALUE".into())),
            },
            "-c" => shell = it.next().cloned(),
            "--explain" | "--agent" => {
                if a == "--agent" {
                    it.next();
                }
            }
            s if s.starts_with("--escalate=") => escalations.push(s["--escalate=".len()..].to_string()),
            other => {
                return Some(Err(format!(
                    "cordon run {other}: the sandbox's options are the user's config, not the command's; ask with --escalate KIND:VALUE"
                )))
            }
        }
    }
    Some(Ok(OwnRun {
        escalations,
        inner: Vec::new(),
        shell,
    }))
}

/// The flags an escalation grants to the inner `cordon run`.
fn grant_flags(esc: &str) -> Result<Vec<String>, String> {
    let (k, v) = esc
        .split_once(':')
        .ok_or_else(|| format!("--escalate {esc}: expected KIND:VALUE"))?;
    Ok(match k {
        "write" => vec!["--writable".into(), v.into()],
        "domain" => vec!["--allow-domain".into(), v.into()],
        "secret" => vec!["--read-secret".into(), v.into()],
        "env" => vec!["--env".into(), v.into(), "--secret-env".into(), v.into()],
        _ => {
            return Err(format!(
                "--escalate {esc}: unknown kind {k} (write, domain, secret, env)"
            ))
        }
    })
}

/// What the hook decides for a shell command: the command itself, or the inner command of a
/// model's own `cordon run` (its escalations become questions, granted as flags).
struct ShellTarget {
    to_decide: String,
    grants: Vec<String>,
    escalations: Vec<String>,
    /// The inner command of a model's `cordon run`.
    run_inner: Option<String>,
}

/// Reads a model's own `cordon run` in `command` (see [`ShellTarget`]); `Err`: the refusal.
fn own_run(env: &Env, command: &str) -> Result<ShellTarget, Verdict> {
    let mut grants: Vec<String> = Vec::new();
    let mut to_decide = command.to_string();
    let mut escalations: Vec<String> = Vec::new();
    let mut run_inner: Option<String> = None;
    if let Some(r) = own_cordon_run(env, command) {
        let r = match r {
            Ok(r) => r,
            Err(e) => return Err(Verdict::deny("cordon-run", e)),
        };
        for e in &r.escalations {
            match grant_flags(e) {
                Ok(f) => grants.extend(f),
                Err(e) => return Err(Verdict::deny("cordon-run", e)),
            }
        }
        escalations = r.escalations;
        to_decide = match (&r.shell, r.inner.is_empty()) {
            (Some(s), true) => s.clone(),
            (None, false) => r
                .inner
                .iter()
                .map(|w| rewrite::sq(w).unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" "),
            _ => {
                return Err(Verdict::deny(
                    "cordon-run",
                    "cordon run needs either -- CMD or -c STRING",
                ))
            }
        };
        run_inner = Some(to_decide.clone());
    }
    Ok(ShellTarget {
        to_decide,
        grants,
        escalations,
        run_inner,
    })
}

/// `cmd` rewritten to run inside `cordon run` (`own_run`: it is the inner command of the
/// model's own `cordon run`, whose escalations `grants` carries).
fn sandboxed(
    agent: Agent,
    env: &Env,
    input: &Input,
    cmd: &str,
    own_run: bool,
    grants: &[String],
) -> Result<String, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find cordon's own binary: {e}"))?;
    let no_policy = env.cfg.managed.require_policy.is_none();
    let inner = rewrite::Inner {
        exe: &exe,
        workspace: &env.ctx.workspace,
        agent: agent.name(),
        no_policy,
        grants,
    };
    // Claude Code and Copilot CLI keep one shell across calls (its cwd, aliases, functions).
    let r = if matches!(agent, Agent::Claude | Agent::Copilot) && !own_run {
        let (dir, file) = cwd_channel(agent, input)?;
        rewrite::stateful(&inner, cmd, &dir, &file)
    } else {
        rewrite::plain(&inner, cmd)
    };
    r.ok_or_else(|| "the command or a path cannot be quoted for the shell".to_string())
}

fn shell(
    agent: Agent,
    env: &Env,
    input: &Input,
    command: &str,
    unsandboxed: Option<&str>,
) -> Result<Verdict, String> {
    if command.contains('\0') {
        return Ok(Verdict::deny("nul", "the command holds a NUL byte"));
    }
    // A model's own `cordon run`: its inner command is what is decided; its escalations are
    // questions; its loosening flags are refused.
    let ShellTarget {
        to_decide,
        grants,
        escalations,
        run_inner,
    } = match own_run(env, command) {
        Ok(r) => r,
        Err(v) => return Ok(v),
    };
    let ev = match &env.policy {
        Some(p) => p.check_shell(&to_decide, &env.ctx),
        None => Policy::builtin().check_shell("true", &env.ctx),
    };
    let (pd, rule, reason) = if env.policy.is_some() {
        (ev.decision, ev.rule.clone(), ev.reason.clone())
    } else {
        (
            cordon_policy::Decision::Allow,
            "no-policy".into(),
            "the config turns the policy off".into(),
        )
    };
    if pd == cordon_policy::Decision::Deny {
        return Ok(Verdict::deny(&rule, reason));
    }
    // The workspace would hold the home directory: cordon run refuses that, so does the hook.
    if env.cfg.mode.value == Mode::WorkspaceWrite && env.home.starts_with(&env.ctx.workspace) {
        return Ok(Verdict::deny(
            "workspace",
            format!(
                "the workspace would be {}, which holds your home directory; start the agent in a project (a git repository)",
                env.ctx.workspace.display()
            ),
        ));
    }
    let asked = pd == cordon_policy::Decision::Ask;
    // Leaving the sandbox: the exact escalation is the question; on a yes it runs as asked.
    if let Some(why) = unsandboxed {
        let v = Verdict::ask(
            "escalation",
            format!(
                "the command asks to run outside any sandbox ({why}); policy: {} ({rule})",
                pd.as_str()
            ),
        );
        return Ok(unattended(env, v));
    }
    let sandboxable =
        rewrites(agent) && !env.nested && env.cfg.mode.value != Mode::DangerFullAccess;
    let rewrite = if sandboxable {
        Some(sandboxed(
            agent,
            env,
            input,
            run_inner.as_deref().unwrap_or(command),
            run_inner.is_some(),
            &grants,
        )?)
    } else {
        None
    };
    let mut v = if !escalations.is_empty() {
        Verdict::ask(
            "escalation",
            format!(
                "the command asks for {} beyond the sandbox; policy: {} ({rule}: {reason})",
                escalations.join(", "),
                pd.as_str()
            ),
        )
    } else if !asked {
        Verdict {
            decision: Decision::Allow,
            rule: rule.clone(),
            reason: if rewrite.is_some() {
                format!("{reason}; runs in cordon's sandbox")
            } else {
                reason.clone()
            },
            rewrite: None,
            explicit: rewrite.is_some(),
        }
    } else if rewrite.is_some() && sandbox_answers(env.approval) {
        Verdict {
            decision: Decision::Allow,
            rule: rule.clone(),
            reason: format!(
                "{reason}; approval {}: runs in cordon's sandbox without a question",
                env.approval.as_str()
            ),
            rewrite: None,
            explicit: true,
        }
    } else {
        Verdict::ask(&rule, reason.clone())
    };
    v.rewrite = rewrite;
    Ok(unattended(env, v))
}

/// Where the inner shell leaves its final working directory for Claude Code's shell
/// (`rewrite::stateful`): a per-session directory under `$XDG_CACHE_HOME/cordon/hook/` (made
/// writable for the run), and a fresh file name in it for this call.
fn cwd_channel(agent: Agent, input: &Input) -> Result<(PathBuf, PathBuf), String> {
    let base = match std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from) {
        Some(x) if x.is_absolute() => x,
        _ => PathBuf::from(std::env::var_os("HOME").ok_or("HOME is not set")?).join(".cache"),
    };
    let id = cordon_audit::sha256_hex(format!("{}\0{}", agent.name(), input.session).as_bytes());
    let dir = base.join("cordon/hook").join(&id[..16]);
    // Files go one level down: in the fallback (no namespaces) nothing can be created at the
    // top of a writable root that holds protected placeholders.
    let sub = dir.join("cwd");
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&sub)
            .map_err(|e| format!("cannot create {}: {e}", sub.display()))?;
    }
    let dir = std::fs::canonicalize(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let file = dir
        .join("cwd")
        .join(format!("{}.txt", cordon_audit::new_session_id()));
    Ok((dir, file))
}
