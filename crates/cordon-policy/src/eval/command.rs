//! One simple command: its program (as rules name it), what it runs (`crate::unwrap`, through
//! the table in `crate::programs`), the program's own checks, then the rules. Hits are kept in
//! that order: the first of the strictest decides the command.

use super::{Ev, Stdin};
use crate::options;
use crate::paths::program_name;
use crate::programs::{self, Call};
use crate::rules::Subject;
use crate::unwrap::{Code, Unwrapped};
use crate::vars::dangerous_env;
use crate::words::FETCHERS;
use crate::{hit, truncate, unicode, Decision, Hit, Word, MAX_COMMANDS};

impl Ev<'_> {
    /// Evaluate one simple command (and what it wraps).
    pub(crate) fn command(
        &mut self,
        argv: Vec<Word>,
        assigns: Vec<String>,
        stdin: Stdin,
        depth: usize,
        via: &str,
        tail_unknown: bool,
    ) {
        if !self.count_command() {
            return;
        }
        let mut hits = assign_hits(&assigns);
        let shown: Vec<String> = argv.iter().map(|w| w.text.clone()).collect();
        if argv.is_empty() {
            if !hits.is_empty() {
                self.push_entry("command", assigns, via, hits);
            }
            return;
        }
        invisible_hits(&argv, &mut hits);
        let Some((program, mut args)) = self.program(argv, &mut hits) else {
            self.push_entry("command", shown, via, hits);
            return;
        };
        let entry = programs::lookup(&program);
        if let Some(prepare) = entry.and_then(|e| e.prepare) {
            args = prepare(args, &mut hits);
        }
        let call = Call {
            program: &program,
            args: &args,
            stdin: &stdin,
            tail_unknown,
        };
        let mut transparent = false;
        if let Some(e) = entry {
            if let Some(runs) = e.runs {
                transparent = self.run_inner(runs(&call), &call, depth, via, &mut hits);
            }
            if let Some(check) = e.check {
                check(self, &call, &mut hits);
            }
        }
        let values = options::rule_view(&program, &args);
        let subject = Subject {
            program: &program,
            args: &values,
            tail_unknown,
        };
        self.policy.rule_hits(&subject, &mut hits);
        if hits.is_empty() {
            hits.push(fallback(&program, transparent));
        }
        self.push_entry("command", shown, via, hits);
        if let Some(last) = self.out.last_mut() {
            last.program = program;
            last.args = values;
            last.tail_unknown = tail_unknown;
        }
    }

    /// Count a simple command; past the limit, report it once and evaluate no more.
    fn count_command(&mut self) -> bool {
        self.commands_seen += 1;
        if self.commands_seen > MAX_COMMANDS {
            if self.commands_seen == MAX_COMMANDS + 1 {
                self.finding(hit(
                    Decision::Ask,
                    "limit-commands",
                    format!("more than {MAX_COMMANDS} simple commands; the rest are not evaluated"),
                ));
            }
            return false;
        }
        true
    }

    /// The program's name as rules see it and its arguments, or None when the program is only
    /// known at run time (then asked). Running a file downloaded earlier is deny; a
    /// non-ASCII name asks.
    fn program(&mut self, mut argv: Vec<Word>, hits: &mut Vec<Hit>) -> Option<(String, Vec<Word>)> {
        let prog = &argv[0];
        if !prog.known || prog.glob {
            hits.push(hit(
                Decision::Ask,
                "dynamic-program",
                format!(
                    "the program {} is computed at run time; cordon cannot see what runs",
                    prog.text
                ),
            ));
            return None;
        }
        // A file downloaded earlier in this input, run by path (`./install.sh`).
        if prog.text.contains('/') && self.is_download(&prog.text) {
            hits.push(download_exec(&prog.text));
        }
        let mut program = program_name(&prog.text);
        if program == "busybox" && argv.len() > 1 && argv[1].known {
            argv.remove(0);
            program = program_name(&argv[0].text);
        }
        if FETCHERS.contains(&program.rsplit('/').next().unwrap_or(&program)) {
            self.fetches += 1;
        }
        if !program.is_ascii() {
            hits.push(hit(
                Decision::Ask,
                "confusable-name",
                format!(
                    "the program name has non-ASCII characters (homoglyphs?): {}",
                    unicode::escape(&program)
                ),
            ));
        }
        argv.remove(0);
        Some((program, argv))
    }

    /// Evaluate what a program runs. Returns whether it was evaluated on its own (the program
    /// is then a transparent wrapper).
    fn run_inner(
        &mut self,
        u: Unwrapped,
        call: &Call,
        depth: usize,
        via: &str,
        hits: &mut Vec<Hit>,
    ) -> bool {
        let inner_via = |name: &str| {
            if via.is_empty() {
                name.to_string()
            } else {
                format!("{via} > {name}")
            }
        };
        let stdin = call.stdin;
        match u {
            Unwrapped::None => false,
            Unwrapped::Argv {
                argv,
                assigns,
                tail_unknown,
                chdir,
            } => {
                hits.extend(assign_hits(&assigns));
                if argv.is_empty() {
                    return false;
                }
                let saved = self.cwd.clone();
                if let Some(d) = chdir {
                    self.cwd = d.value().and_then(|d| self.resolve(&d));
                }
                let tail_unknown = tail_unknown || call.tail_unknown;
                let via = inner_via(call.program);
                self.command(
                    argv,
                    Vec::new(),
                    stdin.clone(),
                    depth + 1,
                    &via,
                    tail_unknown,
                );
                self.cwd = saved;
                true
            }
            Unwrapped::Source(s) => {
                self.source_with(&s, stdin, depth + 1, &inner_via(call.program));
                true
            }
            Unwrapped::Dynamic(why, fetch) => {
                dynamic(hits, why, fetch || stdin.fetch);
                false
            }
            Unwrapped::Code(c, is_shell) => {
                let via = inner_via(call.program);
                self.code(c, is_shell, call.program, stdin, depth, &via, hits)
            }
            Unwrapped::Each {
                via: name,
                commands,
            } => {
                for inner in commands {
                    let via = inner_via(name);
                    self.command(inner, Vec::new(), stdin.clone(), depth + 1, &via, true);
                }
                false
            }
        }
    }

    /// Evaluate a shell string as `bash -c` would, its commands reading `stdin`.
    pub(crate) fn source_with(&mut self, s: &str, stdin: &Stdin, depth: usize, via: &str) {
        let saved = std::mem::replace(
            &mut self.stdin,
            Stdin {
                fetch: stdin.fetch,
                script: None,
            },
        );
        self.source(s, depth, via);
        self.stdin = saved;
    }

    /// What a shell or interpreter runs (see `unwrap::Code`). Returns whether it was evaluated
    /// (the program is then a transparent wrapper).
    #[allow(clippy::too_many_arguments)]
    fn code(
        &mut self,
        c: Code,
        is_shell: bool,
        program: &str,
        stdin: &Stdin,
        depth: usize,
        via: &str,
        hits: &mut Vec<Hit>,
    ) -> bool {
        match c {
            Code::None | Code::Opaque => {}
            Code::Shell(s) => {
                self.source_with(&s, stdin, depth + 1, via);
                return true;
            }
            Code::Dynamic(why, fetch) => dynamic(hits, why, fetch || stdin.fetch),
            Code::File(w) if w.fetch => hits.push(fed_download(program, is_shell)),
            Code::File(w) if w.value().is_none() => dynamic(
                hits,
                format!("{program} runs a script whose name is only known at run time: {}", w.text),
                stdin.fetch,
            ),
            Code::File(w) => {
                if self.is_download(&w.text) {
                    hits.push(download_exec(&w.text));
                }
            }
            Code::Stdin if stdin.fetch => hits.push(fed_download(program, is_shell)),
            Code::Stdin => match &stdin.script {
                Some(s) if is_shell => {
                    let s = s.clone();
                    self.source_with(&s, &Stdin::default(), depth + 1, via);
                    return true;
                }
                Some(_) => {} // a literal program in another language: the rules decide
                None => hits.push(hit(
                    Decision::Ask,
                    "code-from-input",
                    format!("{program} reads its program from standard input (a pipe, a file, the terminal), which cordon cannot see"),
                )),
            },
        }
        false
    }
}

/// `NAME=value` before a command (or given to `env`) that changes what runs: ask.
fn assign_hits(assigns: &[String]) -> Vec<Hit> {
    assigns
        .iter()
        .filter(|a| dangerous_env(a))
        .map(|a| {
            hit(
                Decision::Ask,
                "env-assignment",
                format!("setting {a} changes which program runs or what it loads"),
            )
        })
        .collect()
}

/// Invisible or confusable characters in any word: ask.
fn invisible_hits(argv: &[Word], hits: &mut Vec<Hit>) {
    for w in argv {
        if let Some((c, why)) = unicode::find(&w.text) {
            hits.push(hit(
                Decision::Ask,
                "invisible-char",
                format!(
                    "an argument contains a {why} (U+{:04X}): {}",
                    c as u32,
                    unicode::escape(truncate(&w.text, 200))
                ),
            ));
        }
    }
}

/// No rule and no check spoke: a wrapper whose command was evaluated is allow, anything else
/// asks.
fn fallback(program: &str, transparent: bool) -> Hit {
    if transparent {
        hit(
            Decision::Allow,
            "wrapper",
            format!("{program} runs another command, which is evaluated on its own"),
        )
    } else {
        hit(
            Decision::Ask,
            "default",
            format!(
                "no rule knows {program}; commands not known to be read-only need a person's look"
            ),
        )
    }
}

/// Code only known at run time: ask; deny when what feeds it was downloaded.
fn dynamic(hits: &mut Vec<Hit>, why: String, fetch: bool) {
    if fetch {
        hits.push(hit(
            Decision::Deny,
            "curl-pipe-shell",
            "runs code downloaded from the network without showing it",
        ));
    }
    hits.push(hit(Decision::Ask, "dynamic-wrapper", why));
}

/// A shell or interpreter whose program is a download (`curl .. | sh`, `python3 <(curl ..)`).
fn fed_download(program: &str, is_shell: bool) -> Hit {
    let into = if is_shell {
        "a shell".to_string()
    } else {
        format!("an interpreter ({program})")
    };
    hit(
        Decision::Deny,
        "curl-pipe-shell",
        format!("pipes code downloaded from the network into {into}"),
    )
}

fn download_exec(path: &str) -> Hit {
    hit(
        Decision::Deny,
        "download-exec",
        format!("runs {path}, downloaded earlier in the same command: nobody has seen what it does (download it, read it, then run it in a separate command)"),
    )
}
