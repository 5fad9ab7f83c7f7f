//! Placeholder: filled in by its own issue.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> ExitCode {
    eprintln!("cordon: this command is not implemented yet");
    ExitCode::from(crate::EXIT_CORDON_FAILED)
}
