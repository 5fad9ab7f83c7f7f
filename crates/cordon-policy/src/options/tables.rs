//! Option tables of the programs cordon reads options for (other than git's, which are
//! generated: see `git.rs`). Each is the program's own getopt string and long-option list, from
//! its `--help` and source of the version named; a newer version's extra options read as
//! unknown words (fail closed), never as operands.

use super::Arg::{self, No, Opt, Req};
use super::Spec;

const fn gnu(short: &'static str, long: &'static [(&'static str, Arg)]) -> Spec {
    Spec {
        short,
        long,
        abbrev: true,
        permute: true,
        attached: true,
        strict: true,
    }
}

/// A wrapper: GNU getopt with `+` (the first operand, the command, ends the options).
const fn wrapper(short: &'static str, long: &'static [(&'static str, Arg)]) -> Spec {
    Spec {
        short,
        long,
        abbrev: true,
        permute: false,
        attached: true,
        strict: true,
    }
}

const VERSION_HELP: [(&str, Arg); 2] = [("help", No), ("version", No)];

/// GNU coreutils 9.1 `sort` (`short_options` in sort.c).
pub(crate) static SORT: Spec = gnu(
    "bcCdfghik:mMno:rRsS:t:T:uVy:z",
    &[
        ("batch-size", Req),
        ("buffer-size", Req),
        ("check", Opt),
        ("compress-program", Req),
        ("debug", No),
        ("dictionary-order", No),
        ("field-separator", Req),
        ("files0-from", Req),
        ("general-numeric-sort", No),
        ("human-numeric-sort", No),
        ("ignore-case", No),
        ("ignore-leading-blanks", No),
        ("ignore-nonprinting", No),
        ("key", Req),
        ("merge", No),
        ("month-sort", No),
        ("numeric-sort", No),
        ("output", Req),
        ("parallel", Req),
        ("random-sort", No),
        ("random-source", Req),
        ("reverse", No),
        ("sort", Req),
        ("stable", No),
        ("temporary-directory", Req),
        ("unique", No),
        ("version-sort", No),
        ("zero-terminated", No),
        VERSION_HELP[0],
        VERSION_HELP[1],
    ],
);

/// GNU sed 4.9 (`SHORTOPTS` and `longopts` in sed.c).
pub(crate) static SED: Spec = gnu(
    "bsnrzuEe:f:l:i::",
    &[
        ("binary", No),
        ("debug", No),
        ("expression", Req),
        ("file", Req),
        ("follow-symlinks", No),
        ("in-place", Opt),
        ("line-length", Req),
        ("null-data", No),
        ("zero-terminated", No),
        ("posix", No),
        ("quiet", No),
        ("silent", No),
        ("regexp-extended", No),
        ("sandbox", No),
        ("separate", No),
        ("unbuffered", No),
        VERSION_HELP[0],
        VERSION_HELP[1],
    ],
);

/// awk: gawk 5.3's options (the superset; mawk's `-W` takes an argument here too). Options
/// end at the program text, the first operand.
pub(crate) static AWK: Spec = Spec {
    short: "F:f:v:W:bcCd::D::e:E:ghi:kl:L::nNo::Op::MPrsStVYZ:",
    long: &[
        ("assign", Req),
        ("bignum", No),
        ("characters-as-bytes", No),
        ("copyright", No),
        ("csv", No),
        ("debug", Opt),
        ("dump-variables", Opt),
        ("exec", Req),
        ("field-separator", Req),
        ("file", Req),
        ("gen-pot", No),
        ("include", Req),
        ("lint", Opt),
        ("load", Req),
        ("locale", Req),
        ("no-optimize", No),
        ("non-decimal-data", No),
        ("optimize", No),
        ("persist", Opt),
        ("posix", No),
        ("pretty-print", Opt),
        ("profile", Opt),
        ("re-interval", No),
        ("sandbox", No),
        ("source", Req),
        ("trace", No),
        ("traditional", No),
        ("use-lc-numeric", No),
        VERSION_HELP[0],
        VERSION_HELP[1],
    ],
    abbrev: true,
    permute: false,
    attached: true,
    strict: true,
};

/// tree 2.1: its own parser, exact long names, and a short option's argument is always the
/// next word (`-o FILE`; `-ao FILE` too).
pub(crate) static TREE: Spec = Spec {
    short: "aAcCdDfFghH:iI:JlL:nNo:pP:qQrRsStT:uUvxX",
    long: &[
        ("charset", Req),
        ("condense", No),
        ("device", No),
        ("dirsfirst", No),
        ("du", No),
        ("fflinks", No),
        ("filelimit", Req),
        ("filesfirst", No),
        ("fromfile", No),
        ("fromtabfile", No),
        ("gitfile", Req),
        ("gitignore", No),
        ("hintro", Req),
        ("houtro", Req),
        ("ignore-case", No),
        ("info", No),
        ("infofile", Req),
        ("inodes", No),
        ("matchdirs", No),
        ("metafirst", No),
        ("noreport", No),
        ("nolinks", No),
        ("opt-toggle", No),
        ("prune", No),
        ("si", No),
        ("sort", Req),
        ("timefmt", Req),
        VERSION_HELP[0],
        VERSION_HELP[1],
    ],
    abbrev: false,
    permute: true,
    attached: false,
    strict: true,
};

/// GNU coreutils 9.1 `chmod`: modes such as `-w` or `-rwx` are read as options too, so the
/// mode letters are listed as flags.
pub(crate) static CHMOD: Spec = gnu(
    "RcfvrwxXstugoa01234567",
    &[
        ("changes", No),
        ("no-preserve-root", No),
        ("preserve-root", No),
        ("quiet", No),
        ("silent", No),
        ("recursive", No),
        ("reference", Req),
        ("verbose", No),
        VERSION_HELP[0],
        VERSION_HELP[1],
    ],
);

/// GNU coreutils 9.1 `chown` and `chgrp`.
pub(crate) static CHOWN: Spec = gnu(
    "HLPRcfhv",
    &[
        ("changes", No),
        ("dereference", No),
        ("from", Req),
        ("no-dereference", No),
        ("no-preserve-root", No),
        ("preserve-root", No),
        ("quiet", No),
        ("silent", No),
        ("recursive", No),
        ("reference", Req),
        ("verbose", No),
        VERSION_HELP[0],
        VERSION_HELP[1],
    ],
);

/// GNU coreutils `env` (9.1, plus `-a/--argv0` of 9.5).
pub(crate) static ENV: Spec = wrapper(
    "a:iC:S:u:v0",
    &[
        ("argv0", Req),
        ("block-signal", Opt),
        ("chdir", Req),
        ("debug", No),
        ("default-signal", Opt),
        ("ignore-environment", No),
        ("ignore-signal", Opt),
        ("list-signal-handling", No),
        ("null", No),
        ("split-string", Req),
        ("unset", Req),
        VERSION_HELP[0],
        VERSION_HELP[1],
    ],
);

/// GNU coreutils 9.1 `timeout`.
pub(crate) static TIMEOUT: Spec = wrapper(
    "k:s:v",
    &[
        ("foreground", No),
        ("kill-after", Req),
        ("preserve-status", No),
        ("signal", Req),
        ("verbose", No),
        VERSION_HELP[0],
        VERSION_HELP[1],
    ],
);

/// GNU coreutils 9.1 `nice` (`-N` is the old spelling of `-n N`).
pub(crate) static NICE: Spec = wrapper(
    "n:0123456789",
    &[("adjustment", Req), VERSION_HELP[0], VERSION_HELP[1]],
);

/// GNU findutils 4.9 `xargs`.
pub(crate) static XARGS: Spec = wrapper(
    "0a:d:E:e::i::I:l::L:n:oprP:s:tx",
    &[
        ("arg-file", Req),
        ("delimiter", Req),
        ("eof", Opt),
        ("exit", No),
        ("interactive", No),
        ("max-args", Req),
        ("max-chars", Req),
        ("max-lines", Opt),
        ("max-procs", Req),
        ("no-run-if-empty", No),
        ("null", No),
        ("open-tty", No),
        ("process-slot-var", Req),
        ("replace", Opt),
        ("show-limits", No),
        ("verbose", No),
        VERSION_HELP[0],
        VERSION_HELP[1],
    ],
);

/// GNU coreutils 9.1 `stdbuf`.
pub(crate) static STDBUF: Spec = wrapper(
    "i:o:e:",
    &[
        ("error", Req),
        ("input", Req),
        ("output", Req),
        VERSION_HELP[0],
        VERSION_HELP[1],
    ],
);

/// util-linux 2.38 `ionice`.
pub(crate) static IONICE: Spec = wrapper(
    "c:n:p:P:u:thV",
    &[
        ("class", Req),
        ("classdata", Req),
        ("ignore", No),
        ("pgid", Req),
        ("pid", Req),
        ("uid", Req),
        VERSION_HELP[0],
        VERSION_HELP[1],
    ],
);

/// util-linux 2.38 `setsid`.
pub(crate) static SETSID: Spec = wrapper(
    "cfwhV",
    &[
        ("ctty", No),
        ("fork", No),
        ("wait", No),
        VERSION_HELP[0],
        VERSION_HELP[1],
    ],
);

/// GNU time 1.9 (`/usr/bin/time`; the bash keyword only knows `-p`).
pub(crate) static TIME: Spec = wrapper(
    "af:o:pqvhV",
    &[
        ("append", No),
        ("format", Req),
        ("output", Req),
        ("portability", No),
        ("quiet", No),
        ("verbose", No),
        VERSION_HELP[0],
        VERSION_HELP[1],
    ],
);

/// procps-ng 4 `watch`.
pub(crate) static WATCH: Spec = wrapper(
    "bcCd::egq:n:prtwxhv",
    &[
        ("beep", No),
        ("chgexit", No),
        ("color", No),
        ("differences", Opt),
        ("equexit", Req),
        ("errexit", No),
        ("exec", No),
        ("interval", Req),
        ("no-color", No),
        ("no-rerun", No),
        ("no-title", No),
        ("no-wrap", No),
        ("precise", No),
        VERSION_HELP[0],
        VERSION_HELP[1],
    ],
);

/// bash builtins that run a command: `exec [-cl] [-a NAME]`, `command [-pVv]`.
pub(crate) static EXEC: Spec = Spec {
    short: "cla:",
    long: &[],
    abbrev: false,
    permute: false,
    attached: true,
    strict: true,
};
pub(crate) static COMMAND: Spec = Spec {
    short: "pvV",
    long: &[],
    abbrev: false,
    permute: false,
    attached: true,
    strict: true,
};

/// moreutils `chronic`; `nohup` (only --help/--version).
pub(crate) static CHRONIC: Spec = wrapper("ev", &[]);
pub(crate) static NOHUP: Spec = wrapper("", &VERSION_HELP);

/// GNU wget 1.21 (the options that decide where a download is saved, plus every short option
/// so that clusters read right; other long options are left alone).
pub(crate) static WGET: Spec = Spec {
    short: "a:A:bB:cdD:e:EFhHi:I:kKl:LmnN:o:O:pP:qQ:rR:St:T:U:vVw:x:X:46",
    long: &[
        ("directory-prefix", Req),
        ("output-document", Req),
        ("output-file", Req),
        ("append-output", Req),
        ("input-file", Req),
        ("execute", Req),
    ],
    abbrev: true,
    permute: true,
    attached: true,
    strict: false,
};

/// curl 7.88 short options (curl has no abbreviations; its long options are matched exactly).
pub(crate) static CURL: Spec = Spec {
    short:
        "aA:b:B:c:C:d:D:e:E:fF:gGh::H:iIjJkK:lLm:M:nNo:OpP:qQ:r:RsStT:u:U:vVw:x:X:y:Y:z:Z0123456:#",
    long: &[
        ("output", Req),
        ("output-dir", Req),
        ("remote-name", No),
        ("remote-name-all", No),
        ("url", Req),
        ("config", Req),
    ],
    abbrev: false,
    permute: true,
    attached: true,
    strict: false,
};

/// cordon's own `cordon run` (clap: exact long names; `-c STRING`; the command after `--`).
pub(crate) static CORDON_RUN: Spec = Spec {
    short: "c:h",
    long: &[
        ("agent", Req),
        ("allow-domain", Req),
        ("allow-local", No),
        ("approval", Req),
        ("audit-dir", Req),
        ("cwd", Req),
        ("deny-domain", Req),
        ("dry-run", No),
        ("env", Req),
        ("escalate", Req),
        ("explain", No),
        ("limit-memory", Req),
        ("limit-nofile", Req),
        ("limit-nproc", Req),
        ("mode", Req),
        ("net-log", Req),
        ("network", Req),
        ("no-audit", No),
        ("no-policy", No),
        ("policy", Req),
        ("read-secret", Req),
        ("resolve", Req),
        ("secret-env", Req),
        ("timeout", Req),
        ("workspace", Req),
        ("writable", Req),
        ("help", No),
    ],
    abbrev: false,
    permute: true,
    attached: true,
    strict: true,
};

/// The table for a program other than git.
pub(super) fn spec(program: &str) -> Option<&'static Spec> {
    Some(match program {
        "sort" => &SORT,
        "sed" | "gsed" => &SED,
        "tree" => &TREE,
        "chmod" => &CHMOD,
        "chown" | "chgrp" => &CHOWN,
        _ => return None,
    })
}
