//! Wrappers that run the rest of their command line, their options read as they read them
//! (`nice --adj 5 cmd`, `timeout -vk 1 5 cmd`): the command is evaluated on its own.

use super::{Call, Program};
use crate::options;
use crate::unwrap::{argv_from, skip_opts, wrapped, Unwrapped};

/// `timeout [OPTIONS] DURATION COMMAND`.
pub(crate) static TIMEOUT: Program = Program {
    names: &["timeout"],
    runs: Some(timeout),
    ..Program::NONE
};
fn timeout(c: &Call) -> Unwrapped {
    wrapped(c.program, &options::TIMEOUT, c.args, 1)
}

pub(crate) static NICE: Program = Program {
    names: &["nice"],
    runs: Some(nice),
    ..Program::NONE
};
fn nice(c: &Call) -> Unwrapped {
    wrapped(c.program, &options::NICE, c.args, 0)
}

/// `ionice [OPTIONS] COMMAND`; with `-p/-P/-u` it changes running processes and runs nothing.
pub(crate) static IONICE: Program = Program {
    names: &["ionice"],
    runs: Some(ionice),
    ..Program::NONE
};
fn ionice(c: &Call) -> Unwrapped {
    let p = options::parse(&options::IONICE, c.args);
    if p.has('p', "pid") || p.has('P', "pgid") || p.has('u', "uid") {
        Unwrapped::None
    } else {
        wrapped(c.program, &options::IONICE, c.args, 0)
    }
}

pub(crate) static STDBUF: Program = Program {
    names: &["stdbuf"],
    runs: Some(stdbuf),
    ..Program::NONE
};
fn stdbuf(c: &Call) -> Unwrapped {
    wrapped(c.program, &options::STDBUF, c.args, 0)
}

pub(crate) static SETSID: Program = Program {
    names: &["setsid"],
    runs: Some(setsid),
    ..Program::NONE
};
fn setsid(c: &Call) -> Unwrapped {
    wrapped(c.program, &options::SETSID, c.args, 0)
}

pub(crate) static NOHUP: Program = Program {
    names: &["nohup"],
    runs: Some(nohup),
    ..Program::NONE
};
fn nohup(c: &Call) -> Unwrapped {
    wrapped(c.program, &options::NOHUP, c.args, 0)
}

pub(crate) static CHRONIC: Program = Program {
    names: &["chronic"],
    runs: Some(chronic),
    ..Program::NONE
};
fn chronic(c: &Call) -> Unwrapped {
    wrapped(c.program, &options::CHRONIC, c.args, 0)
}

/// bash's `exec [-cl] [-a NAME] COMMAND`.
pub(crate) static EXEC: Program = Program {
    names: &["exec"],
    runs: Some(exec),
    ..Program::NONE
};
fn exec(c: &Call) -> Unwrapped {
    wrapped(c.program, &options::EXEC, c.args, 0)
}

/// bash's `command [-p] COMMAND` (with `-v`/`-V` it only looks the name up).
pub(crate) static COMMAND: Program = Program {
    names: &["command"],
    runs: Some(command),
    ..Program::NONE
};
fn command(c: &Call) -> Unwrapped {
    let p = options::parse(&options::COMMAND, c.args);
    if p.has('v', "") || p.has('V', "") {
        Unwrapped::None
    } else {
        wrapped(c.program, &options::COMMAND, c.args, 0)
    }
}

/// bash's `builtin NAME`, `coproc COMMAND`.
pub(crate) static BUILTIN: Program = Program {
    names: &["builtin", "coproc"],
    runs: Some(builtin),
    ..Program::NONE
};
fn builtin(c: &Call) -> Unwrapped {
    argv_from(c.args, skip_opts(c.args, &[]), false, None)
}

/// `sudo`, `doas`, `pkexec`, `run0` (deny by a rule whatever they run; what they run is
/// evaluated for the reasons).
pub(crate) static PRIVILEGE: Program = Program {
    names: &["sudo", "doas", "pkexec", "run0"],
    runs: Some(privilege),
    ..Program::NONE
};
fn privilege(c: &Call) -> Unwrapped {
    let with_arg = [
        "-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "--user", "--group",
    ];
    argv_from(c.args, skip_opts(c.args, &with_arg), false, None)
}
