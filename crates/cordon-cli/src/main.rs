//! The `cordon` binary: thin clap front-end that wires the crates together.
//! Each subcommand lives in its own module with its own `Args` and `run`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod approval;
mod cmd_audit;
mod cmd_check;
mod cmd_config;
mod cmd_doctor;
mod cmd_grants;
mod cmd_policy;
mod cmd_run;
mod cmd_trust;
mod grants;
mod mcp;

/// Exit status when cordon itself fails (bad option, sandbox could not be set up).
pub const EXIT_CORDON_FAILED: u8 = 125;

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
    /// MCP: sandbox and pin MCP servers (`wrap`), a sandboxed shell server (`serve`),
    /// `pins`, `approve`, `install`/`uninstall` for clients.
    Mcp(mcp::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version with exit 0; usage errors get cordon's own status.
            let code = if e.use_stderr() {
                EXIT_CORDON_FAILED
            } else {
                0
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Run(a) => cmd_run::run(*a),
        Command::Doctor(a) => cmd_doctor::run(a),
        Command::Check(a) => cmd_check::run(a),
        Command::Policy(a) => cmd_policy::run(a),
        Command::Audit(a) => cmd_audit::run(a),
        Command::Config(a) => cmd_config::run(a),
        Command::Trust(a) => cmd_trust::run(a),
        Command::Grants(a) => cmd_grants::run(a),
        Command::Mcp(a) => mcp::run(a),
    }
}
