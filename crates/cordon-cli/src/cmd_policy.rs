//! `cordon policy test [FILE]...` and `cordon policy show [--policy FILE]...`.

use std::path::PathBuf;
use std::process::ExitCode;

use cordon_pipeline::Error;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Check policy files: syntax, and every rule's examples and counter-examples
    /// (the built-in rules are always checked too). Exit 0 if all hold, 1 if not.
    Test {
        /// Policy files (TOML).
        files: Vec<PathBuf>,
    },
    /// Print the rules in evaluation order: built-in, then the config layers' (system, user,
    /// the project's if trusted, managed), then --policy files.
    Show {
        /// A policy file evaluated after the config's rules; repeatable.
        #[arg(long = "policy", value_name = "FILE")]
        policy: Vec<PathBuf>,
        /// The workspace whose config applies (default: the git top-level of the working
        /// directory, else the working directory).
        #[arg(long, value_name = "DIR")]
        workspace: Option<PathBuf>,
    },
}

pub fn run(args: Args) -> Result<ExitCode, Error> {
    match args.command {
        Sub::Test { files } => test(&files),
        Sub::Show { policy, workspace } => show(&policy, workspace.as_deref()),
    }
}

fn test(files: &[PathBuf]) -> Result<ExitCode, Error> {
    let mut ok = true;
    match cordon_policy::check_builtin_examples() {
        Ok(n) => outln!("ok    built-in rules ({n} examples)")?,
        Err(e) => {
            ok = false;
            outln!("FAIL  {e}")?;
        }
    }
    for f in files {
        match cordon_policy::test_file(f) {
            Ok((rules, n)) => outln!("ok    {} ({rules} rules, {n} examples)", f.display())?,
            Err(e) => {
                ok = false;
                outln!("FAIL  {e}")?;
            }
        }
    }
    Ok(ExitCode::from(if ok {
        0
    } else {
        cordon_sandbox::exit::CHECK_FAILED
    }))
}

fn show(files: &[PathBuf], workspace: Option<&std::path::Path>) -> Result<ExitCode, Error> {
    let root = cordon_pipeline::plan::workspace_root(workspace, None)?;
    let (policy, _) = cordon_pipeline::check::policy_for(&root, files)?;
    outln!("# rules in evaluation order; for each command the strictest match wins (deny > ask > allow)")?;
    for r in policy.rules() {
        outln!("{}", r.show())?;
    }
    outln!("\n# checks in code (always on):")?;
    for (name, what) in cordon_policy::CHECKS {
        outln!("builtin:{name:<22} {what}")?;
    }
    outln!("builtin:{:<22} ask: a command no rule matches", "default")?;
    Ok(ExitCode::SUCCESS)
}
