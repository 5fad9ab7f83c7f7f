//! Interpreters (python, perl, ruby, node, php, lua): which options carry program text, which
//! name the program, which load more code, and whether the program comes from stdin.

use super::{is_stdin_path, Call, Program};
use crate::options::{self, Arg, Spec};
use crate::unwrap::{Code, Unwrapped};
use crate::Word;

pub(crate) static INTERPRETERS: Program = Program {
    names: &[
        "python", "pypy", "perl", "ruby", "node", "nodejs", "php", "lua", "luajit",
    ],
    versioned: true,
    runs: Some(runs),
    ..Program::NONE
};

fn runs(c: &Call) -> Unwrapped {
    match interpreter(c.program, c.args, c.tail_unknown) {
        Some(code) => Unwrapped::Code(code, false),
        None => Unwrapped::None,
    }
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
fn interpreter(program: &str, args: &[Word], tail_unknown: bool) -> Option<Code> {
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
