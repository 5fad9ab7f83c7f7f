//! Unwrapping: what a wrapper, a shell or an interpreter runs, as cordon can know it: a
//! command line (`env X=1 cmd`, `timeout 5 cmd`), a shell string (`bash -c`, `eval`), a
//! program text from a file, stdin or nowhere known, or commands per item (`find -exec`).
//! Which programs unwrap how is the table in `crate::programs`.

use crate::options::{self, Spec};
use crate::Word;

pub(crate) enum Unwrapped {
    None,
    /// A command line run as it is (`env X=1 cmd`, `timeout 5 cmd`), in `chdir` if set
    /// (`env -C DIR`).
    Argv {
        argv: Vec<Word>,
        assigns: Vec<String>,
        tail_unknown: bool,
        chdir: Option<Word>,
    },
    /// A shell string (`eval`, `watch`, `trap`, `su -c`).
    Source(String),
    /// Runs something cordon cannot know: why, and whether a substitution downloads.
    Dynamic(String, bool),
    /// A shell or an interpreter: its program text, and whether it is shell code (what a
    /// here-doc feeds it is then evaluated).
    Code(Code, bool),
    /// Commands run for each item (`find -exec ... ;`), named `via` in the evaluation.
    Each {
        via: &'static str,
        commands: Vec<Vec<Word>>,
    },
}

/// The program text of a shell or interpreter invocation.
#[derive(Debug)]
pub(crate) enum Code {
    /// Not running a program (`--version`), or not an interpreter cordon knows.
    None,
    /// Shell code cordon parses and evaluates.
    Shell(String),
    /// A literal in a language cordon does not read (`python3 -c '...'`, `-m module`): the
    /// rules decide.
    Opaque,
    /// A script file (`bash x.sh`, `python3 x.py`).
    File(Word),
    /// The program is read from standard input.
    Stdin,
    /// The program text is only known at run time; `bool`: a substitution in it downloads.
    Dynamic(String, bool),
}

/// Skip options of a wrapper: `with_arg` lists options that take a separate argument.
/// Returns the index of the first non-option word. (Only for the privilege wrappers, which
/// are deny whatever they run.)
pub(crate) fn skip_opts(args: &[Word], with_arg: &[&str]) -> usize {
    let mut i = 0;
    while i < args.len() {
        let t = &args[i].text;
        if t == "--" {
            return i + 1;
        }
        if !t.starts_with('-') || t == "-" {
            break;
        }
        if with_arg.contains(&t.as_str()) {
            i += 1;
        }
        i += 1;
    }
    i
}

/// The command line from `args[from..]`, leading `NAME=value` words being assignments.
pub(crate) fn argv_from(
    args: &[Word],
    from: usize,
    tail_unknown: bool,
    chdir: Option<Word>,
) -> Unwrapped {
    let mut assigns = Vec::new();
    let mut i = from.min(args.len());
    while i < args.len() && args[i].known && is_assignment(&args[i].text) {
        assigns.push(args[i].text.split('=').next().unwrap_or("").to_string());
        i += 1;
    }
    Unwrapped::Argv {
        argv: args[i..].to_vec(),
        assigns,
        tail_unknown,
        chdir,
    }
}

/// A wrapper whose command starts at its operand number `skip` (0: the first; `timeout`: 1,
/// after the duration), its options read as the program reads them.
pub(crate) fn wrapped(program: &str, spec: &Spec, args: &[Word], skip: usize) -> Unwrapped {
    let p = options::parse(spec, args);
    if p.uncertain {
        return uncertain(program, args);
    }
    let first = p.operands().nth(skip);
    match first {
        Some(k) => argv_from(args, k, false, None),
        None => Unwrapped::None,
    }
}

/// Options cordon cannot read: which word is the command is not known.
pub(crate) fn uncertain(program: &str, args: &[Word]) -> Unwrapped {
    Unwrapped::Dynamic(
        format!("{program} is given options cordon cannot read (unknown, or only known at run time): which word is the command is not known"),
        args.iter().any(|a| a.fetch),
    )
}

pub(crate) fn shell_string(w: &Word) -> Unwrapped {
    if w.known {
        Unwrapped::Source(w.text.clone())
    } else {
        Unwrapped::Dynamic(
            format!("runs a shell string only known at run time: {}", w.text),
            w.fetch,
        )
    }
}

pub(crate) fn join_source(args: &[Word], why: &str) -> Unwrapped {
    if args.iter().all(|a| a.known) {
        Unwrapped::Source(
            args.iter()
                .map(|a| a.text.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        )
    } else {
        Unwrapped::Dynamic(why.to_string(), args.iter().any(|a| a.fetch))
    }
}

fn is_assignment(t: &str) -> bool {
    match t.find('=') {
        Some(i) if i > 0 => t[..i]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        _ => false,
    }
}
