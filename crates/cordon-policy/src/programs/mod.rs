//! What cordon knows about particular programs beyond the rules: what they run (wrappers,
//! shells, interpreters, `find -exec`) and the checks rules cannot express (`rm -r` of a
//! critical path, sed and awk programs, downloads, ...). One file per program or family, each
//! exporting a `Program`; the table below lists them. Adding a program is a file and a line
//! here, never a new arm in the evaluator.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::eval::{Ev, Stdin};
use crate::unwrap::Unwrapped;
use crate::{Hit, Word};

mod awk;
mod cd;
mod cordon;
mod dd;
mod downloads;
mod env;
mod eval;
mod find;
mod git;
mod interpreters;
mod parallel;
mod printf;
mod publish;
mod rm;
mod sed;
mod shells;
mod source;
mod su;
mod tee;
mod time;
mod trap;
mod uniq;
mod watch;
mod wrappers;
mod xargs;

pub(crate) use shells::is_stdin_path;

/// One simple command as a program sees it.
pub(crate) struct Call<'c> {
    /// The name rules see (a basename, or the path as written).
    pub program: &'c str,
    pub args: &'c [Word],
    /// What it reads on stdin.
    pub stdin: &'c Stdin,
    /// More arguments arrive at run time (`xargs`, `find -exec ... {}`).
    pub tail_unknown: bool,
}

/// Rewrites a program's arguments before anything looks at them.
pub(crate) type Prepare = fn(Vec<Word>, &mut Vec<Hit>) -> Vec<Word>;

/// What cordon knows about a program.
pub(crate) struct Program {
    /// The names it answers to.
    pub names: &'static [&'static str],
    /// It also answers to those names followed by a version (`python3.12`, `php8.2`).
    pub versioned: bool,
    /// Rewrites the arguments before anything looks at them (git's global options).
    pub prepare: Option<Prepare>,
    /// What it runs.
    pub runs: Option<fn(&Call) -> Unwrapped>,
    /// Checks rules cannot express; their hits join the rules'.
    pub check: Option<fn(&mut Ev, &Call, &mut Vec<Hit>)>,
}

impl Program {
    /// A program with no behaviour yet (fill in with struct update syntax).
    pub(crate) const NONE: Program = Program {
        names: &[],
        versioned: false,
        prepare: None,
        runs: None,
        check: None,
    };
}

/// Every program cordon knows.
static PROGRAMS: &[&Program] = &[
    &awk::AWK,
    &cd::CD,
    &cordon::CORDON,
    &dd::DD,
    &downloads::CURL_WGET,
    &env::ENV,
    &eval::EVAL,
    &find::FIND,
    &git::GIT,
    &interpreters::INTERPRETERS,
    &parallel::PARALLEL,
    &printf::PRINTF,
    &publish::PUBLISH,
    &rm::RM,
    &sed::SED,
    &shells::SHELLS,
    &source::SOURCE,
    &su::SU,
    &tee::TEE,
    &time::TIME,
    &trap::TRAP,
    &uniq::UNIQ,
    &watch::WATCH,
    &wrappers::BUILTIN,
    &wrappers::CHRONIC,
    &wrappers::COMMAND,
    &wrappers::EXEC,
    &wrappers::IONICE,
    &wrappers::NICE,
    &wrappers::NOHUP,
    &wrappers::PRIVILEGE,
    &wrappers::SETSID,
    &wrappers::STDBUF,
    &wrappers::TIMEOUT,
    &xargs::XARGS,
];

fn table() -> &'static HashMap<&'static str, &'static Program> {
    static TABLE: OnceLock<HashMap<&'static str, &'static Program>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = HashMap::new();
        for p in PROGRAMS {
            for n in p.names {
                let prev = t.insert(*n, *p);
                debug_assert!(prev.is_none(), "{n} is in two entries");
            }
        }
        t
    })
}

/// What cordon knows about `program` (a name as rules see it).
pub(crate) fn lookup(program: &str) -> Option<&'static Program> {
    let t = table();
    if let Some(p) = t.get(program) {
        return Some(p);
    }
    let base = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    t.get(base)
        .copied()
        .filter(|p| p.versioned && base != program)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_in_one_entry() {
        let mut seen = std::collections::HashSet::new();
        for p in PROGRAMS {
            for n in p.names {
                assert!(seen.insert(*n), "{n} is in two entries");
            }
        }
        assert!(lookup("python3.12").is_some() && lookup("bash5").is_none());
    }
}
