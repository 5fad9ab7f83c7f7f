//! Shells: where their program text comes from: a `-c` string cordon parses and evaluates,
//! a script file, standard input, or something only known at run time.

use super::{Call, Program};
use crate::options::{self, Arg, Spec};
use crate::unwrap::{Code, Unwrapped};
use crate::Word;

/// Shells whose `-c` string is bash-compatible enough to parse.
pub(crate) static SHELLS: Program = Program {
    names: &[
        "bash", "sh", "zsh", "dash", "ksh", "mksh", "ash", "fish", "yash", "tcsh", "csh", "rbash",
        "posh", "oksh", "loksh",
    ],
    runs: Some(runs),
    ..Program::NONE
};

fn runs(c: &Call) -> Unwrapped {
    Unwrapped::Code(shell(c.program, c.args, c.tail_unknown), true)
}

/// `bash`/`sh`/... arguments: `-c STRING` (the first operand after all options, which may
/// follow `-c`: `bash -c -e 'ls'`), `-o`/`-O`/`+o`/`+O` take the next word (each occurrence,
/// also inside a cluster: `bash -co posix 'ls'`), `-s`, `-` or no operand read stdin.
/// `tail_unknown`: more arguments arrive at run time (`xargs bash`).
fn shell(program: &str, args: &[Word], tail_unknown: bool) -> Code {
    if program == "fish" {
        return fish(args, tail_unknown);
    }
    let mut i = 0;
    let mut dash_c = false;
    let mut stdin = false;
    let mut query = false;
    while i < args.len() {
        let w = &args[i];
        let t = w.text.as_str();
        if !w.known && (t.starts_with('-') || t.starts_with('+')) {
            return Code::Dynamic(
                format!("{program} is given options only known at run time: {t}"),
                w.fetch,
            );
        }
        if t == "--" || t == "-" {
            i += 1;
            stdin |= t == "-";
            break;
        }
        if let Some(long) = t.strip_prefix("--") {
            match long {
                "rcfile" | "init-file" => i += 1,
                "help" | "version" => query = true,
                _ => {}
            }
            i += 1;
            continue;
        }
        let Some(letters) = t.strip_prefix('-').or_else(|| t.strip_prefix('+')) else {
            break;
        };
        if letters.is_empty() {
            break;
        }
        for c in letters.chars() {
            match c {
                'c' => dash_c = true,
                's' => stdin = true,
                'o' | 'O' => i += 1, // takes the next word
                _ => {}
            }
        }
        i += 1;
    }
    let operand = args.get(i);
    if dash_c {
        return match operand {
            Some(w) if w.known => Code::Shell(w.text.clone()),
            Some(w) => Code::Dynamic(
                format!("runs a shell string only known at run time: {}", w.text),
                w.fetch,
            ),
            None => Code::Dynamic(
                if tail_unknown {
                    format!("{program} -c runs a string that arrives at run time")
                } else {
                    "a shell -c without a command string".into()
                },
                false,
            ),
        };
    }
    if query && operand.is_none() {
        return Code::None;
    }
    match operand {
        Some(w) if !stdin && !is_stdin_path(w) => Code::File(w.clone()),
        None if tail_unknown && !stdin => Code::Dynamic(
            format!("{program} runs a script named by input that arrives at run time"),
            false,
        ),
        _ => Code::Stdin,
    }
}

/// fish: `-c/--command CMD` and `-C/--init-command CMD` run code (GNU getopt, with
/// abbreviations); otherwise the first operand is a script, or stdin.
fn fish(args: &[Word], tail_unknown: bool) -> Code {
    static FISH: Spec = Spec {
        short: "c:C:d:D:f:hilNno:p:PvV",
        long: &[
            ("command", Arg::Req),
            ("debug", Arg::Req),
            ("debug-output", Arg::Req),
            ("debug-stack-frames", Arg::Req),
            ("features", Arg::Req),
            ("help", Arg::No),
            ("init-command", Arg::Req),
            ("interactive", Arg::No),
            ("login", Arg::No),
            ("no-config", Arg::No),
            ("no-execute", Arg::No),
            ("print-rusage-self", Arg::No),
            ("private", Arg::No),
            ("profile", Arg::Req),
            ("profile-startup", Arg::Req),
            ("version", Arg::No),
        ],
        abbrev: true,
        permute: false,
        attached: true,
        strict: true,
    };
    let p = options::parse(&FISH, args);
    if p.uncertain {
        return Code::Dynamic("fish is given options cordon cannot read".into(), false);
    }
    let code: Vec<&Word> = p
        .values('c', "command")
        .chain(p.values('C', "init-command"))
        .collect();
    if !code.is_empty() {
        if let Some(w) = code.iter().find(|w| !w.known) {
            return Code::Dynamic(
                format!("runs a shell string only known at run time: {}", w.text),
                w.fetch,
            );
        }
        let joined: Vec<&str> = code.iter().map(|w| w.text.as_str()).collect();
        return Code::Shell(joined.join("\n"));
    }
    if p.has('v', "version") || p.has('h', "help") {
        return Code::None;
    }
    let first = p.operands().next().map(|k| &args[k]);
    match first {
        Some(w) if !is_stdin_path(w) => Code::File(w.clone()),
        None if tail_unknown => Code::Dynamic(
            "fish runs a script named by input that arrives at run time".into(),
            false,
        ),
        _ => Code::Stdin,
    }
}

/// `-`, `/dev/stdin`, `/dev/fd/0`, `/proc/self/fd/0`: the program is standard input.
pub(crate) fn is_stdin_path(w: &Word) -> bool {
    w.known
        && matches!(
            w.text.as_str(),
            "-" | "/dev/stdin" | "/dev/fd/0" | "/proc/self/fd/0"
        )
}
