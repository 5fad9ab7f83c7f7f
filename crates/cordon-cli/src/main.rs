#![forbid(unsafe_code)]
//! The `cordon` binary: a thin clap front-end. Each subcommand lives in its own module with its
//! own `Args` and `fn run(Args) -> Result<ExitCode, Error>`; `main` prints an error once. A run
//! goes through `cordon_pipeline` (see its module doc for the stages, from `main` to `execve` and
//! back to the audit record); exit statuses are `cordon_sandbox::exit`.
// cordon's output goes through `out!`/`outln!`/`errln!` (cordon_pipeline::out): `print!`,
// `println!` and `eprintln!` panic when the pipe's reader is gone (`cordon ... | head`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

// `outln!`, `out!`, `errln!`: cordon's output without `println!`'s panic on a closed pipe.
#[macro_use]
extern crate cordon_pipeline;

use clap::{Parser, Subcommand};
use cordon_pipeline::Error;
use cordon_sandbox::exit::CORDON_FAILED;

mod agents;
mod cmd_audit;
mod cmd_cache;
mod cmd_check;
mod cmd_config;
mod cmd_doctor;
mod cmd_grants;
mod cmd_install;
mod cmd_policy;
mod cmd_repair;
mod cmd_run;
mod cmd_setup;
mod cmd_trust;
mod hook;
mod hook_entries;
mod installed;
mod mcp;
mod selftest;
mod settings_edit;

#[derive(Parser)]
#[command(
    name = "cordon",
    version,
    about = "A security runtime for AI coding agents: decide, confine, record."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a command inside the sandbox.
    Run(Box<cmd_run::Args>),
    /// Report what this kernel supports and what cordon will use.
    Doctor(cmd_doctor::Args),
    /// Decide a shell command against the policy: allow / ask / deny.
    Check(cmd_check::Args),
    /// Inspect and test policy files.
    Policy(cmd_policy::Args),
    /// Read, verify and export the audit log.
    Audit(cmd_audit::Args),
    /// Show the effective configuration (`config show [--origin] [--json]`).
    Config(cmd_config::Args),
    /// Trust a project's .cordon/ config (`trust [DIR]`, `--revoke [DIR]`, `--list`).
    Trust(cmd_trust::Args),
    /// List and revoke remembered approvals ("allow for this project").
    Grants(cmd_grants::Args),
    /// What cordon moved aside after runs in this workspace (git hooks and configs, agent
    /// configs), and putting it back once reviewed; what makes cordon refuse here, and the fix.
    Repair(cmd_repair::Args),
    /// Tool caches overlaid in the sandbox (`cache list`, `cache clean`).
    Cache(cmd_cache::Args),
    /// MCP: sandbox and pin MCP servers (`wrap`), a sandboxed shell server (`serve`),
    /// `pins`, `approve`, `install`/`uninstall` for clients.
    Mcp(mcp::Args),
    /// An agent's hook: reads its event JSON on stdin, answers in its format (fail closed).
    Hook(hook::Args),
    /// Install cordon's hook into an agent's settings (claude, codex, gemini, cursor, copilot, goose).
    Install(cmd_install::Args),
    /// Remove exactly the hook `cordon install` added.
    Uninstall(cmd_install::UninstallArgs),
    /// Install (root, once) the AppArmor profile that lets cordon use user namespaces where
    /// AppArmor restricts them (Ubuntu 23.10+); `--undo` removes it.
    Setup(cmd_setup::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print cordon's man page (roff): `cordon man | man -l -`.
    Man,
}

#[derive(clap::Args)]
struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

fn completions(a: CompletionsArgs) -> Result<ExitCode, Error> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "cordon", &mut out);
    cordon_pipeline::out::write_stdout(&out)
}

fn man() -> Result<ExitCode, Error> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let mut out = Vec::new();
    // One page: the top-level command, then each subcommand's own synopsis and options.
    let page = clap_mangen::Man::new(cmd.clone());
    let mut r = page.render(&mut out);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if r.is_err() {
            break;
        }
        let name = sub.get_name().to_string();
        let sub = sub.clone().bin_name(format!("cordon {name}"));
        out.extend_from_slice(format!(".SH \"CORDON {}\"\n", name.to_uppercase()).as_bytes());
        let m = clap_mangen::Man::new(sub);
        r = m
            .render_description_section(&mut out)
            .and_then(|_| m.render_synopsis_section(&mut out))
            .and_then(|_| m.render_options_section(&mut out))
            .and_then(|_| m.render_subcommands_section(&mut out));
    }
    match r {
        Ok(()) => cordon_pipeline::out::write_stdout(&out),
        Err(e) => Err(Error::failed(format!("cannot render the man page: {e}"))),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version with exit 0; usage errors get cordon's own status.
            let code = if e.use_stderr() { CORDON_FAILED } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // SIGPIPE stays ignored (Rust's default; the proxy needs it) for every command: a closed
    // stdout is handled where cordon writes (`cordon_pipeline::out`), so that a command still
    // finishes what it does (a setup, a restore, a revoke) and exits with its own status.
    let done: Result<ExitCode, Error> = match cli.command {
        Command::Run(a) => cmd_run::run(*a),
        Command::Doctor(a) => cmd_doctor::run(a),
        Command::Check(a) => cmd_check::run(a),
        Command::Policy(a) => cmd_policy::run(a),
        Command::Audit(a) => cmd_audit::run(a),
        Command::Config(a) => cmd_config::run(a),
        Command::Trust(a) => cmd_trust::run(a),
        Command::Grants(a) => cmd_grants::run(a),
        Command::Repair(a) => cmd_repair::run(a),
        Command::Cache(a) => cmd_cache::run(a),
        Command::Mcp(a) => mcp::run(a),
        Command::Hook(a) => hook::run(a),
        Command::Install(a) => cmd_install::run_install(a),
        Command::Uninstall(a) => cmd_install::run_uninstall(a),
        Command::Setup(a) => cmd_setup::run(a),
        Command::Completions(a) => completions(a),
        Command::Man => man(),
    };
    // What stdout still buffers is written now, so that a failure is reported (125) rather than
    // lost at exit; a reader that closed the pipe early is a quiet end (`cordon_pipeline::out`).
    let done = done.and_then(|code| cordon_pipeline::out::flush().map(|()| code));
    cordon_sandbox::timing("exit");
    match done {
        Ok(code) => code,
        Err(e) => {
            if !e.is_silent() {
                errln!("cordon: {e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
