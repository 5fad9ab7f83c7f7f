//! `cordon run`: run a command inside the sandbox.

use std::path::PathBuf;
use std::process::ExitCode;

use cordon_config::Approval;
use cordon_pipeline::approval::Escalation;
use cordon_pipeline::{Command, Plan, Request};
use cordon_sandbox::spec::Mode;

#[derive(clap::Args)]
#[command(
    after_help = "Exit status: the command's own; 128+N if it died of signal N; 124 if --timeout \
killed it; 125 if cordon itself failed; 126 not executable; 127 not found.\n\n\
CORDON_NO_USERNS=1 makes cordon skip user namespaces and use its fallback (Landlock + seccomp)."
)]
pub struct Args {
    /// read-only | workspace-write | danger-full-access (default: the config's `mode`, else
    /// workspace-write)
    #[arg(long, value_parser = parse_mode)]
    pub mode: Option<Mode>,
    /// The writable workspace (default: the git top-level of the working directory, else the
    /// working directory). The command's --cwd never widens it.
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// The command's working directory (default: the current one).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// An extra writable root (repeatable).
    #[arg(long, value_name = "DIR")]
    pub writable: Vec<PathBuf>,
    /// Let one secret path through on purpose (repeatable).
    #[arg(long, value_name = "PATH")]
    pub read_secret: Vec<PathBuf>,
    /// Pass NAME through from the environment, or set NAME=VALUE (repeatable).
    #[arg(long, value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,
    /// Pass NAME through even though its value looks like a secret (repeatable).
    #[arg(long, value_name = "NAME")]
    pub secret_env: Vec<String>,
    /// Wall-clock limit (e.g. 30s, 500ms, 5m); then the whole sandbox is killed.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
    pub timeout: Option<u64>,
    /// Maximum number of processes of the user (RLIMIT_NPROC).
    #[arg(long, value_name = "N")]
    pub limit_nproc: Option<u64>,
    /// Maximum data memory per process (RLIMIT_DATA), e.g. 4G, 512M.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub limit_memory: Option<u64>,
    /// Maximum open files per process (RLIMIT_NOFILE).
    #[arg(long, value_name = "N")]
    pub limit_nofile: Option<u64>,
    /// Let the command reach this domain through cordon's proxy (repeatable): `example.com`,
    /// `*.github.com` (subdomains only), `host:PORT`. Without a port: 80 and 443.
    #[arg(long, value_name = "PATTERN[:PORT]", value_parser = parse_domain)]
    pub allow_domain: Vec<cordon_net::DomainPattern>,
    /// Refuse this domain even if an --allow-domain matches it (repeatable; any port without one).
    #[arg(long, value_name = "PATTERN[:PORT]", value_parser = parse_domain)]
    pub deny_domain: Vec<cordon_net::DomainPattern>,
    /// Allow destinations that resolve to loopback, private, link-local, CGNAT or ULA addresses.
    #[arg(long)]
    pub allow_local: bool,
    /// Let TLS tunnels carry an encrypted ClientHello (ECH), whose real server name the proxy
    /// cannot check (Chromium sends a placeholder one by default).
    #[arg(long)]
    pub allow_ech: bool,
    /// Pin NAME to ADDR for the proxy's resolution (repeatable), like curl's --resolve.
    #[arg(long, value_name = "NAME:ADDR", value_parser = cordon_net::parse_resolve)]
    pub resolve: Vec<(String, std::net::IpAddr)>,
    /// `none` (default: loopback only, or the proxy when --allow-domain is given) or `full`
    /// (the host network, unfiltered: danger).
    #[arg(long, value_name = "none|full", value_parser = ["none", "full"])]
    pub network: Option<String>,
    /// Write every connection (allowed or refused) as a JSON line to FILE.
    #[arg(long, value_name = "FILE")]
    pub net_log: Option<PathBuf>,
    /// A policy file (repeatable), on top of the built-in rules.
    #[arg(long, value_name = "FILE")]
    pub policy: Vec<PathBuf>,
    /// Do not consult the command policy (the sandbox still applies).
    #[arg(long, conflicts_with = "policy")]
    pub no_policy: bool,
    /// Apply a profile: built-in `claude-code`, `codex`, `gemini`, `copilot` (a whole agent
    /// inside the sandbox), or a `[profile.NAME]` of your config (`cordon config show` lists them).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Print the policy decision (rule and reason) on stderr before running.
    #[arg(long)]
    pub explain: bool,
    /// Print the resolved sandbox spec as JSON and run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// When to ask: untrusted | on-request (default) | on-failure | never (see README "Approvals").
    #[arg(long, value_name = "MODE", value_parser = approval_modes())]
    pub approval: Option<Approval>,
    /// Ask for more than the sandbox gives, granted only on a yes (repeatable): write:PATH,
    /// domain:PATTERN, secret:PATH, env:NAME.
    #[arg(long, value_name = "KIND:VALUE")]
    pub escalate: Vec<Escalation>,
    #[command(flatten)]
    pub audit: crate::cmd_audit::LogArgs,
    /// Run this string with /bin/sh -c.
    #[arg(short = 'c', value_name = "SHELL STRING", conflicts_with = "argv")]
    pub shell: Option<String>,
    /// The command and its arguments (after --).
    #[arg(last = true, value_name = "CMD")]
    pub argv: Vec<String>,
}

fn parse_domain(s: &str) -> Result<cordon_net::DomainPattern, cordon_net::Error> {
    s.parse()
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse()
}

/// `--approval`'s values, each with its help line.
fn approval_modes() -> impl clap::builder::TypedValueParser<Value = Approval> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new([
        PossibleValue::new("untrusted")
            .help("Only what the policy allows runs; ask prompts; deny is refused"),
        PossibleValue::new("on-request")
            .help("Allow and ask run in the sandbox; only --escalate prompts (default)"),
        PossibleValue::new("on-failure").help(
            "Run in the sandbox; if it fails, offer to rerun with the escalations (or unsandboxed)",
        ),
        PossibleValue::new("never").help("Never prompt: escalations are refused"),
    ])
    .try_map(|s| s.parse::<Approval>())
}

pub use cordon_config::units::{parse_bytes, parse_duration_ms};

/// What the flags say, for the config layers (flags override config; managed overrides flags).
pub fn flags(a: &Args) -> cordon_config::Flags {
    cordon_config::Flags {
        mode: a.mode,
        approval: a.approval,
        writable: a.writable.clone(),
        read_secret: a.read_secret.clone(),
        env: a.env.clone(),
        secret_env: a.secret_env.clone(),
        timeout_ms: a.timeout,
        nproc: a.limit_nproc,
        memory: a.limit_memory,
        nofile: a.limit_nofile,
        allow_domain: a.allow_domain.clone(),
        deny_domain: a.deny_domain.clone(),
        allow_local: a.allow_local,
        allow_ech: a.allow_ech,
        resolve: a.resolve.clone(),
        network: match a.network.as_deref() {
            Some("full") => Some(cordon_config::NetMode::Full),
            Some(_) => Some(cordon_config::NetMode::None),
            None => None,
        },
        policy: a.policy.clone(),
        no_policy: a.no_policy,
        profile: a.profile.clone(),
    }
}

/// The pipeline's request for these options.
pub fn request(a: Args) -> Request {
    let flags = flags(&a);
    Request {
        command: match a.shell {
            Some(s) => Command::Shell(s),
            None => Command::Argv(a.argv),
        },
        cwd: a.cwd,
        workspace: a.workspace,
        flags,
        escalations: a.escalate,
        audit: a.audit.options(),
        explain: a.explain,
        dry_run: a.dry_run,
        net_log: a.net_log,
        stdio: Default::default(),
        on_start: None,
    }
}

/// Removes this run's record among the user's live runs when `run` returns (runs.rs).
struct LiveRecord;

impl Drop for LiveRecord {
    fn drop(&mut self) {
        cordon_sandbox::runs::withdraw();
    }
}

/// `cordon run`: the pipeline's stages in order (see `cordon_pipeline`).
pub fn run(a: Args) -> Result<ExitCode, cordon_pipeline::Error> {
    let _record = LiveRecord;
    let code = Plan::new(request(a))?.decide()?.approve()?.launch()?;
    Ok(ExitCode::from(code))
}
