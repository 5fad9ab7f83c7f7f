//! Where a shell or an interpreter takes its program text from: a literal cordon can read
//! (`bash -c 'ls'`), a literal in another language (`python3 -c '...'`), a script file,
//! standard input, or something only known at run time (`-c "$x"`, `-c "$(curl ..)"`).

use crate::options::{self, Arg, Spec};
use crate::Word;

/// Shells whose `-c` string is bash-compatible enough to parse.
pub(crate) const SHELLS: &[&str] = &[
    "bash", "sh", "zsh", "dash", "ksh", "mksh", "ash", "fish", "yash", "tcsh", "csh", "rbash",
    "posh", "oksh", "loksh",
];

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

/// `bash`/`sh`/... arguments: `-c STRING` (the first operand after all options, which may
/// follow `-c`: `bash -c -e 'ls'`), `-o`/`-O`/`+o`/`+O` take the next word (each occurrence,
/// also inside a cluster: `bash -co posix 'ls'`), `-s`, `-` or no operand read stdin.
/// `tail_unknown`: more arguments arrive at run time (`xargs bash`).
pub(crate) fn shell(program: &str, args: &[Word], tail_unknown: bool) -> Code {
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

/// An interpreter: how it reads options, which options carry program text, which name the
/// program (a module or file, replacing the script operand), which load more code first, and
/// which only print something.
struct Interp {
    spec: Spec,
    /// Short options whose value is program text (`-c`, `-e`).
    code: &'static str,
    /// Long options whose value is program text.
    code_long: &'static [&'static str],
    /// Options naming the program instead of a script operand (`python -m`, `php -f`).
    program: &'static str,
    /// Options loading more code before the program (`perl -M`, `node -r/--require`).
    preload: &'static str,
    preload_long: &'static [&'static str],
    /// Options after which nothing runs (`-V`, `-h`; `--help`/`--version` always).
    query: &'static str,
}

struct InterpStrs {
    code: &'static str,
    code_long: &'static [&'static str],
    program: &'static str,
    preload: &'static str,
    preload_long: &'static [&'static str],
    query: &'static str,
}

const fn interp(
    short: &'static str,
    long: &'static [(&'static str, Arg)],
    s: InterpStrs,
) -> Interp {
    Interp {
        spec: Spec {
            short,
            long,
            abbrev: false,
            permute: false,
            attached: true,
            strict: false,
        },
        code: s.code,
        code_long: s.code_long,
        program: s.program,
        preload: s.preload,
        preload_long: s.preload_long,
        query: s.query,
    }
}

/// CPython 3.12 (`python3 --help`).
static PYTHON: Interp = interp(
    "bBc:dEhiIm:OPqsSuvVW:xX:?",
    &[
        ("check-hash-based-pycs", Arg::Req),
        ("help", Arg::No),
        ("help-all", Arg::No),
        ("help-env", Arg::No),
        ("help-xoptions", Arg::No),
        ("version", Arg::No),
    ],
    InterpStrs {
        code: "c",
        code_long: &[],
        program: "m",
        preload: "",
        preload_long: &[],
        query: "hV?",
    },
);

/// perl 5.36 (`perl -h`).
static PERL: Interp = interp(
    "0::aC::cd::D::e:E:fF::hi::I:l::m:M:npsStTuUvV::wWx::X",
    &[],
    InterpStrs {
        code: "eE",
        code_long: &[],
        program: "",
        preload: "mMI",
        preload_long: &[],
        query: "hvV",
    },
);

/// ruby 3.1 (`ruby -h`).
static RUBY: Interp = interp(
    "0::aC:cdE:e:F::hi::I:K::lnpr:sST::UvwW::x::y",
    &[
        ("copyright", Arg::No),
        ("help", Arg::No),
        ("version", Arg::No),
        ("verbose", Arg::No),
    ],
    InterpStrs {
        code: "e",
        code_long: &[],
        program: "",
        preload: "rI",
        preload_long: &[],
        query: "hv",
    },
);

/// node 20 (`node --help`).
static NODE: Interp = interp(
    "e:p:r:C:chiv",
    &[
        ("check", Arg::No),
        ("conditions", Arg::Req),
        ("env-file", Arg::Req),
        ("eval", Arg::Req),
        ("experimental-loader", Arg::Req),
        ("help", Arg::No),
        ("import", Arg::Req),
        ("input-type", Arg::Req),
        ("inspect", Arg::Opt),
        ("inspect-brk", Arg::Opt),
        ("interactive", Arg::No),
        ("loader", Arg::Req),
        ("print", Arg::Req),
        ("require", Arg::Req),
        ("title", Arg::Req),
        ("version", Arg::No),
    ],
    InterpStrs {
        code: "ep",
        code_long: &["eval", "print"],
        program: "",
        preload: "r",
        preload_long: &[
            "require",
            "import",
            "loader",
            "experimental-loader",
            "env-file",
        ],
        query: "hvc",
    },
);

/// PHP 8 CLI (`php -h`): `-r`, and `-B/-R/-E` (code run per input line); `-S` serves files.
static PHP: Interp = interp(
    "aB:c:d:eE:f:F:hHilmnqR:r:sS:t:vwz:",
    &[],
    InterpStrs {
        code: "rBRE",
        code_long: &[],
        program: "fF",
        preload: "z",
        preload_long: &[],
        query: "hvilmSa",
    },
);

/// Lua 5.x (`lua -h`).
static LUA: Interp = interp(
    "e:l:iEvW",
    &[],
    InterpStrs {
        code: "e",
        code_long: &[],
        program: "",
        preload: "l",
        preload_long: &[],
        query: "vi",
    },
);

fn interp_for(program: &str) -> Option<&'static Interp> {
    let base = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    Some(match base {
        "python" | "pypy" => &PYTHON,
        "perl" => &PERL,
        "ruby" => &RUBY,
        "node" | "nodejs" => &NODE,
        "php" => &PHP,
        "lua" | "luajit" => &LUA,
        _ => return None,
    })
}

/// The program text of an interpreter invocation (`None` if `program` is not one).
pub(crate) fn interpreter(program: &str, args: &[Word], tail_unknown: bool) -> Option<Code> {
    let it = interp_for(program)?;
    let p = options::parse(&it.spec, args);
    let (mut literal, mut named, mut query) = (false, false, false);
    for item in &p.items {
        let (short, long, v) = match item {
            options::Item::Short(c, v, _) => (Some(*c), None, v.as_ref()),
            options::Item::Long(n, v) => (None, Some(*n), v.as_ref()),
            _ => continue,
        };
        let is = |s: &str, l: &[&str]| {
            short.is_some_and(|c| s.contains(c)) || long.is_some_and(|n| l.contains(&n))
        };
        let code = is(it.code, it.code_long);
        let program_opt = is(it.program, &[]);
        query |= is(it.query, &["help", "version"]);
        if code || program_opt || is(it.preload, it.preload_long) {
            if let Some(w) = v.filter(|w| !w.known) {
                let what = if code {
                    "program text"
                } else {
                    "a module or file"
                };
                return Some(Code::Dynamic(
                    format!("{program} runs {what} only known at run time: {}", w.text),
                    w.fetch,
                ));
            }
        }
        literal |= code;
        named |= program_opt;
    }
    if literal || named {
        return Some(Code::Opaque);
    }
    let operand = p.operands().next().map(|k| &args[k]);
    Some(match operand {
        Some(w) if is_stdin_path(w) => Code::Stdin,
        Some(w) => Code::File(w.clone()),
        None if query => Code::None,
        None if tail_unknown => Code::Dynamic(
            format!("{program} runs a script named by input that arrives at run time"),
            false,
        ),
        None => Code::Stdin,
    })
}
