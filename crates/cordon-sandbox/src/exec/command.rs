//! The command's process, after fork, in every mode: the last steps before execve.

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;

use super::message::Failure;
use super::{die, Prepared, EXIT_NOEXEC, EXIT_NOTFOUND};
use crate::spec::{Isolation, SandboxSpec};
use crate::sys;
use crate::sys::process::SigMask;

/// In this order: limits (need no privilege), file descriptors, capabilities, no_new_privs,
/// seccomp, Landlock (last but execve: with namespaces, init may still be adding the tool
/// caches' rules to its ruleset, and the command waits for them; seccomp, the longer step,
/// is done meanwhile; it lets Landlock's own calls through), signal state, execve.
/// `report` is the report pipe, close-on-exec: its EOF tells the supervisor execve succeeded.
pub(super) fn main(spec: &SandboxSpec, mut p: Prepared, report: RawFd, old_mask: &SigMask) -> ! {
    let l = &spec.limits;
    for (res, v) in [
        (libc::RLIMIT_NPROC, l.nproc),
        (libc::RLIMIT_DATA, l.data_bytes),
        (libc::RLIMIT_NOFILE, l.nofile),
        (libc::RLIMIT_CORE, l.core_bytes),
    ] {
        if let Err(e) = sys::set_rlimit(res, v) {
            die(report, Failure::Setup(e.to_string()));
        }
    }
    if let Err(e) = redirect(&p.stdio) {
        die(report, Failure::Setup(format!("the command's stdio: {e}")));
    }
    // Every descriptor but 0, 1, 2 is closed at execve (the report pipe included).
    sys::process::cloexec_from(3);
    if let Err(e) = sys::drop_capabilities() {
        die(report, Failure::Setup(e.to_string()));
    }
    // seccomp needs no_new_privs (no capability is left); Landlock sets it again.
    if sys::process::set_no_new_privs().is_err() {
        die(report, Failure::Setup("cannot set no_new_privs".into()));
    }
    if spec.isolation != Isolation::None {
        if let Err(e) = p.filter.install() {
            die(report, Failure::Setup(format!("seccomp: {e}")));
        }
    }
    if let Some(go) = p.go.take() {
        // init makes the tool caches' overlays meanwhile and adds their rules to this ruleset
        // (`caches::mount::finish_late`); EOF without the byte: init is gone.
        if sys::read_byte(&go).is_none() {
            die(
                report,
                Failure::Setup("the sandbox's init ended before the command started".into()),
            );
        }
    }
    if let Some(fence) = p.fence.take() {
        match fence.restrict_self() {
            Ok(landlock::RulesetStatus::NotEnforced) => die(
                report,
                Failure::Setup(
                    "Landlock is not enforced by this kernel; run 'cordon doctor'".into(),
                ),
            ),
            Ok(_) => {}
            Err(e) => die(report, Failure::Setup(e.to_string())),
        }
    }
    // Rust ignores SIGPIPE in its own processes; the command gets the default back.
    sys::process::default_sigpipe();
    old_mask.restore();
    crate::timing("command: execve");
    let failure = execute(&p);
    sys::write_all(report, &failure.encode());
    sys::process::exit_now(match failure {
        Failure::NotFound => EXIT_NOTFOUND,
        _ => EXIT_NOEXEC,
    })
}

/// execve of argv[0], searched in PATH when it has no `/` (as execvp, without its shell
/// fallback); returns why nothing could be executed.
fn execute(p: &Prepared) -> Failure {
    let prog = p.argv[0].as_bytes();
    let candidates: Vec<CString> = if prog.contains(&b'/') {
        vec![p.argv[0].clone()]
    } else {
        p.path_dirs
            .iter()
            .filter_map(|d| {
                let mut b = d.as_os_str().as_bytes().to_vec();
                b.push(b'/');
                b.extend_from_slice(prog);
                CString::new(b).ok()
            })
            .collect()
    };
    let mut refused: Option<io::Error> = None;
    for c in &candidates {
        let e = sys::process::execve(c, &p.argv, &p.envp);
        match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => continue,
            _ => {
                refused.get_or_insert(e);
            }
        }
    }
    match refused {
        Some(e) => Failure::NotExecutable(e.to_string()),
        None => Failure::NotFound,
    }
}

/// Puts the given descriptors at 0, 1, 2. Each is first copied above 2 (close-on-exec), so that
/// one given as, say, 1 for stderr is not overwritten by another before it is placed.
fn redirect(stdio: &[Option<RawFd>; 3]) -> io::Result<()> {
    let mut high = [None; 3];
    for (i, fd) in stdio.iter().enumerate() {
        if let Some(fd) = fd {
            high[i] = Some(sys::process::dup_high(*fd)?);
        }
    }
    for (i, fd) in high.iter().enumerate() {
        if let Some(fd) = fd {
            sys::process::dup2(*fd, i as RawFd)?;
        }
    }
    Ok(())
}
