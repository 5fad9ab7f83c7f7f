//! `cordon check`: decide a shell command (or every line of a file) against the policy.
//! Exit status: 0 allow, 1 ask, 2 deny, 125 error.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cordon_pipeline::check;
use cordon_pipeline::record::{self, Session};
use cordon_pipeline::Error;
use cordon_policy::{Context, Decision, Policy};
use cordon_sandbox::exit;

#[derive(clap::Args)]
pub struct Args {
    /// Print the evaluation as JSON (one object; with --each-line, one per line).
    #[arg(long)]
    json: bool,
    /// A policy file (TOML) evaluated after the built-in rules; repeatable.
    #[arg(long = "policy", value_name = "FILE")]
    policy: Vec<PathBuf>,
    /// Decide every line of FILE (e.g. a shell history); the exit status is the strictest.
    #[arg(long, value_name = "FILE")]
    each_line: Option<PathBuf>,
    /// Directory the command runs in (default: the current directory).
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// Workspace root (default: the git top-level of --cwd, else --cwd).
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
    #[command(flatten)]
    audit: crate::cmd_audit::LogArgs,
    /// The shell command to decide: one argument (`cordon check 'rm -rf ~'`) or several
    /// words, joined with spaces. `--` before it is optional; everything after the first
    /// word of the command belongs to the command (`cordon check ls --json` checks
    /// `ls --json`).
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    command: Vec<std::ffi::OsString>,
}

fn exit_for(d: Decision) -> Result<ExitCode, Error> {
    Ok(exit_status(d))
}

fn exit_status(d: Decision) -> ExitCode {
    ExitCode::from(match d {
        Decision::Allow => 0,
        Decision::Ask => exit::CHECK_ASK,
        Decision::Deny => exit::CHECK_DENY,
    })
}

pub fn run(args: Args) -> Result<ExitCode, Error> {
    let ctx = check::context(args.cwd, args.workspace)?;
    // The rules: built-in, then the config layers' (system, user, project by trust, managed),
    // then --policy files.
    let root = std::fs::canonicalize(&ctx.workspace).unwrap_or_else(|_| ctx.workspace.clone());
    let (policy, cfg) = check::policy_for(&root, &args.policy)?;
    if args.each_line.is_some() && !args.command.is_empty() {
        return Err(Error::usage(
            "give either --each-line FILE or a command, not both",
        ));
    }
    if args.each_line.is_none() && args.command.is_empty() {
        return Err(Error::usage(
            "no command to check; usage: cordon check [--json] 'shell command'",
        ));
    }
    let audit = check::start_session(&args.audit.options(), "check", &args.policy, &cfg, &ctx)?;
    if let Some(file) = args.each_line {
        return each_line(&policy, &ctx, &file, args.json, &audit);
    }
    // The command's bytes as given (recorded losslessly); the policy reads them as UTF-8, any
    // invalid byte becoming U+FFFD (which the policy treats as suspicious).
    let raw: Vec<u8> = args
        .command
        .iter()
        .map(|w| w.as_encoded_bytes())
        .collect::<Vec<_>>()
        .join(&b' ');
    let src = String::from_utf8_lossy(&raw).into_owned();
    let ev = policy.check_shell(&src, &ctx);
    audit.require(&record::decision(&ev, &raw))?;
    if args.json {
        match serde_json::to_string_pretty(&ev) {
            Ok(s) => outln!("{s}")?,
            Err(e) => {
                return Err(Error::usage(format!(
                    "cannot encode the evaluation as JSON: {e}"
                )))
            }
        }
    } else {
        outln!("{}", ev.decision.as_str())?;
        errln!("{}", ev.summary());
    }
    exit_for(ev.decision)
}

/// `Ok(true)` when stdout's reader is gone (the rest of the output is dropped); any other write
/// error fails the command (the output is incomplete).
fn write_result(r: std::io::Result<()>) -> Result<bool, Error> {
    match r {
        Ok(()) => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(true),
        Err(e) => Err(Error::failed(format!(
            "cannot write the output to stdout: {e}; the output is incomplete"
        ))),
    }
}

#[derive(serde::Serialize)]
struct Line<'a> {
    line: usize,
    input: &'a str,
    #[serde(flatten)]
    ev: &'a cordon_policy::Evaluation,
}

fn each_line(
    policy: &Policy,
    ctx: &Context,
    file: &Path,
    json: bool,
    audit: &Session,
) -> Result<ExitCode, Error> {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => return Err(Error::usage(format!("cannot read {}: {e}", file.display()))),
    };
    // History files are not always UTF-8: decode lossily; U+FFFD then shows up as suspicious.
    let text = String::from_utf8_lossy(&bytes);
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    // A reader that stopped early (`| head`) ends the output, not the check: every line is still
    // decided, counted and recorded, and the exit status is the strictest decision of the file.
    let mut closed = false;
    let mut worst = Decision::Allow;
    let mut counts = [0usize; 3];
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let ev = policy.check_shell(line, ctx);
        worst = worst.max(ev.decision);
        counts[ev.decision as usize] += 1;
        if closed {
            continue;
        }
        let r = if json {
            serde_json::to_writer(
                &mut out,
                &Line {
                    line: i + 1,
                    input: line,
                    ev: &ev,
                },
            )
            // `From` keeps the I/O error's kind (a closed pipe stays `BrokenPipe`).
            .map_err(std::io::Error::from)
            .and_then(|_| out.write_all(b"\n"))
        } else {
            writeln!(
                out,
                "{}:{}\t{}\t{}",
                i + 1,
                ev.decision.as_str(),
                ev.rule,
                line
            )
        };
        closed = write_result(r)?;
    }
    if !closed {
        write_result(out.flush())?;
    }
    // A scan of a file (a history) is one audit record: the strictest decision and the counts,
    // not one record (and one fsync per deny) for each line.
    let summary = cordon_audit::Event::Decision {
        decision: worst.as_str().into(),
        rule: "each-line".into(),
        reason: format!(
            "{} lines: {} allow, {} ask, {} deny",
            counts.iter().sum::<usize>(),
            counts[Decision::Allow as usize],
            counts[Decision::Ask as usize],
            counts[Decision::Deny as usize]
        ),
        command: cordon_audit::Text(
            [
                b"--each-line ".as_slice(),
                file.as_os_str().as_encoded_bytes(),
            ]
            .concat(),
        ),
    };
    audit.require(&summary)?;
    exit_for(worst)
}
