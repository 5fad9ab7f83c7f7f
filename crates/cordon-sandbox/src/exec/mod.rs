//! Spawning and supervising the sandboxed command.
//!
//! Namespaces mode, three processes, one file each:
//!
//! ```text
//! cordon (supervisor.rs, outside)        forwards signals, enforces --timeout, serves the proxy
//!   └─ init (init.rs, PID 1 of the new namespaces)  builds the mounts, then reaps and forwards signals
//!        └─ the command (command.rs)      rlimits, capabilities dropped, seccomp, Landlock, execve
//! ```
//!
//! init exists because PID 1 ignores every signal it has no handler for (Ctrl-C would not stop
//! a command running as PID 1), and because when PID 1 exits the kernel kills everything else in
//! the PID namespace: daemons and `setsid` children die with the command. Without namespaces
//! (the fallback, and `danger-full-access`) the supervisor forks the command itself.
//!
//! The supervisor clones init with every namespace flag in one `clone` call (no extra fork),
//! while no other thread runs (the spec's socket search thread is joined before `spec::build`
//! returns), so the child may allocate freely. What the processes tell the
//! supervisor is typed ([`message`]): a [`message::Failure`] on a close-on-exec report pipe
//! (empty at EOF: the command was executed), init's [`message::Exit`] on the done pipe.
//! Everything that runs in the children is prepared here first ([`Prepared`]).

mod command;
mod init;
pub mod message;
mod supervisor;

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::fence::Fence;
use crate::seccomp::{self, Filter};
use crate::spec::{Isolation, Network, SandboxSpec};
use crate::sys;
use crate::Error;

pub use message::Usage;

/// Exit status for setup failures, and the commands' "not executable" / "not found"
/// (defined in `exit.rs`).
pub const EXIT_SETUP: i32 = crate::exit::CORDON_FAILED as i32;
pub const EXIT_NOEXEC: i32 = crate::exit::REFUSED as i32;
pub const EXIT_NOTFOUND: i32 = crate::exit::NOT_FOUND as i32;
/// Exit status when --timeout killed the sandbox (as timeout(1)).
pub const EXIT_TIMEOUT: i32 = crate::exit::TIMEOUT as i32;

/// Signals the supervisor and init catch and forward to the command.
const FORWARDED: &[i32] = &[
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
];

/// What the caller gets back when the sandbox has a proxy listener to serve.
pub type ListenerHook<'a> = Box<dyn FnOnce(std::net::TcpListener) + 'a>;

/// The result of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: i32,
    pub timed_out: bool,
    /// Set when the namespaces could not be used and the run fell back to Landlock + seccomp.
    pub fell_back: Option<String>,
    /// What the sandbox's processes used, as init measured it (namespaces: the supervisor
    /// returns before init is reaped, so its own RUSAGE_CHILDREN does not have it yet).
    pub usage: Option<Usage>,
    /// What the check after the run neutralised (neutralise.rs).
    pub findings: Vec<crate::neutralise::Finding>,
}

impl Outcome {
    fn code(code: i32) -> Outcome {
        Outcome {
            code,
            timed_out: false,
            fell_back: None,
            usage: None,
            findings: Vec::new(),
        }
    }
}

/// The command's standard input, output and error, when they are not cordon's own 0, 1 and 2:
/// e.g. the ends of pipes, for a server run inside the sandbox and spoken to through them.
/// cordon keeps these descriptors until the run ends (then closes them); inside, only the
/// command holds them.
#[derive(Debug, Default)]
pub struct Stdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

impl Stdio {
    fn raw(&self) -> [Option<RawFd>; 3] {
        [&self.stdin, &self.stdout, &self.stderr].map(|f| f.as_ref().map(|f| f.as_raw_fd()))
    }
}

/// Called once the sandbox's first process exists (again if the namespaces turned out to be
/// powerless and the run falls back), with a handle to stop it from another thread.
pub type StartHook<'a> = Box<dyn FnMut(Running) + 'a>;

/// How to launch a spec, besides the spec itself.
#[derive(Default)]
pub struct Launch<'a> {
    /// Receives the proxy's listening socket (created inside the sandbox's network namespace)
    /// when `spec.network` is `Proxy`.
    pub on_listener: Option<ListenerHook<'a>>,
    pub stdio: Stdio,
    pub on_start: Option<StartHook<'a>>,
}

/// The sandbox while it runs (see [`StartHook`]): its first process, by pidfd, so that a
/// signal never reaches another process that took its pid after it was reaped.
#[derive(Debug)]
pub struct Running {
    pidfd: OwnedFd,
}

impl Running {
    /// SIGTERM for the command: init forwards it (namespaces), as `cordon run` does with its
    /// own SIGTERM. Nothing once the sandbox is gone.
    pub fn terminate(&self) {
        let _ = sys::process::pidfd_signal(&self.pidfd, libc::SIGTERM);
    }

    /// SIGKILL: with namespaces the whole sandbox at once (init is its PID 1); in the fallback
    /// the command, and whatever it left when the run ends.
    pub fn kill(&self) {
        let _ = sys::process::pidfd_signal(&self.pidfd, libc::SIGKILL);
    }
}

thread_local! {
    /// The write end of this thread's last namespaces run's "tail" pipe: the sandbox's init
    /// reads EOF on it once the run has returned. It then empties the tool caches' trash
    /// (removing directories: on a file system mounted `discard`, each freed block waits for the
    /// disk), which would otherwise compete with this run's own end: the placeholders' removal,
    /// the check after the run. One per thread: concurrent runs of one process (a gateway) run
    /// on threads of their own.
    static END_OF_RUN: std::cell::RefCell<Option<OwnedFd>> = const { std::cell::RefCell::new(None) };
}

/// Keeps `tail` (the write end of the run's tail pipe) until [`run_with`] returns.
pub(super) fn end_of_run(tail: OwnedFd) {
    END_OF_RUN.with(|t| *t.borrow_mut() = Some(tail));
}

/// Runs the sandbox with cordon's own standard descriptors. See [`run_with`].
pub fn run(spec: &SandboxSpec, on_listener: Option<ListenerHook<'_>>) -> Result<Outcome, Error> {
    run_with(
        spec,
        Launch {
            on_listener,
            ..Launch::default()
        },
    )
}

/// Runs the sandbox. The check after the run (neutralise.rs) is part of it, so that no entry
/// point can skip it.
///
/// The command gets `launch.stdio` at 0, 1, 2 (cordon's own where none is given) and no other
/// descriptor: the processes cordon creates close or mark close-on-exec everything else they
/// inherit (init keeps only its own pipes; see init.rs and command.rs).
///
/// It may be called from a process with other threads (the sandbox's first process is then
/// made through fork(3): see `sys::process::clone_via_fork`), and several runs may go on at
/// once in one process with namespaces (each sandbox holds only its own descriptors). Not in
/// the fallback: there a run ends by killing and reaping every descendant of the process
/// (cordon is their sub-reaper), other runs' commands included.
pub fn run_with(spec: &SandboxSpec, launch: Launch<'_>) -> Result<Outcome, Error> {
    let watch = crate::neutralise::Watch::begin(spec);
    let stdio = launch.stdio.raw();
    let mut on_start = launch.on_start;
    let r = run_sandbox(spec, launch.on_listener, stdio, &mut on_start);
    crate::timing("sandbox done");
    // The descriptors given are closed only now: a fallback after a failed namespace attempt
    // needs them again.
    drop(launch.stdio);
    let mut o = match r {
        Ok(o) => o,
        Err(e) => {
            END_OF_RUN.with(|t| t.borrow_mut().take());
            return Err(e);
        }
    };
    o.findings = watch.end();
    crate::timing("checked");
    // The run's work is done: the sandbox's init may clean up now (see `end_of_run`).
    END_OF_RUN.with(|t| t.borrow_mut().take());
    Ok(o)
}

fn run_sandbox(
    spec: &SandboxSpec,
    on_listener: Option<ListenerHook<'_>>,
    stdio: [Option<RawFd>; 3],
    on_start: &mut Option<StartHook<'_>>,
) -> Result<Outcome, Error> {
    match &spec.isolation {
        Isolation::None => {
            crate::spec::verify_pinned(spec)?;
            supervisor::run_plain(spec, false, stdio, on_start)
        }
        Isolation::LandlockOnly { reason } => {
            crate::spec::verify_pinned(spec)?;
            let mut o = supervisor::run_plain(spec, true, stdio, on_start)?;
            o.fell_back = Some(reason.clone());
            Ok(o)
        }
        Isolation::Namespaces => {
            match supervisor::run_namespaces(spec, on_listener, stdio, on_start)? {
                Ok(o) => Ok(o),
                Err(reason) => {
                    // No copies could be mounted: the pinned files must still be what was approved.
                    crate::spec::verify_pinned(spec)?;
                    let mut fb = spec.clone();
                    fb.isolation = Isolation::LandlockOnly {
                        reason: reason.clone(),
                    };
                    let mut o = supervisor::run_plain(&fb, true, stdio, on_start)?;
                    o.fell_back = Some(reason);
                    Ok(o)
                }
            }
        }
    }
}

/// Everything prepared in the supervisor before any process is created: the children only
/// apply it.
struct Prepared {
    filter: Filter,
    fence: Option<Fence>,
    argv: Vec<CString>,
    envp: Vec<CString>,
    path_dirs: Vec<PathBuf>,
    /// Descriptors for the command's 0, 1, 2 (see [`Stdio`]), inherited at these numbers.
    stdio: [Option<RawFd>; 3],
    /// Namespaces mode, when init makes the tool caches' overlays after the fork
    /// (`caches::mount::late`): the read end of init's "go" pipe. The command waits for a byte
    /// on it before it applies Landlock.
    go: Option<OwnedFd>,
}

/// `stdio`: the descriptors the command gets at 0, 1, 2 (`None`: cordon's own), whose terminal,
/// if any, the fallback's fence grants.
fn prepare(
    spec: &SandboxSpec,
    fallback: bool,
    stdio: [Option<RawFd>; 3],
) -> Result<Prepared, Error> {
    let setup = |e: io::Error| Error::Setup(e.to_string());
    let filter = Filter::compile(seccomp::Options {
        socket_families: if fallback && spec.network != Network::Full {
            // No network namespace: seccomp is the network fence. Unix sockets stay only when
            // Landlock can fence named ones (ABI 9, LANDLOCK_ACCESS_FS_RESOLVE_UNIX).
            if crate::fence::kernel_abi() >= 9 {
                Some(&[libc::AF_UNIX])
            } else {
                Some(&[])
            }
        } else {
            None
        },
        fallback,
    })
    .map_err(setup)?;
    let fence = if spec.isolation == Isolation::None {
        None
    } else {
        Some(build_fence(spec, fallback, stdio).map_err(setup)?)
    };
    let argv = spec
        .argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| Error::Usage("an argument contains a NUL byte".into()))?;
    if argv.is_empty() {
        return Err(Error::Usage("no command given".into()));
    }
    let mut envp = Vec::new();
    for (k, v) in &spec.env {
        if let Ok(c) = CString::new(format!("{k}={v}")) {
            envp.push(c);
        }
    }
    let path = spec
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let path_dirs = std::env::split_paths(&path)
        .filter(|p| p.is_absolute())
        .collect();
    Ok(Prepared {
        filter,
        fence,
        argv,
        envp,
        path_dirs,
        stdio,
        go: None,
    })
}

fn build_fence(spec: &SandboxSpec, fallback: bool, stdio: [Option<RawFd>; 3]) -> io::Result<Fence> {
    let mut f = Fence::new()?;
    let mut outside: Vec<PathBuf> = spec
        .secrets
        .iter()
        .filter(|s| fallback || !spec.writable.iter().any(|w| s.starts_with(w)))
        .cloned()
        .collect();
    if fallback {
        // The host's /dev: not readable as a whole (block devices hold every file's bytes, the
        // user's other terminals their keystrokes, /dev/shm other programs' memory); the
        // devices below are granted one by one, as the minimal /dev of the namespaces mode.
        outside.push(PathBuf::from("/dev"));
    } else {
        // The socket-proof views: inside, every path there leads to the view's overlay inodes,
        // whose rules init adds (carved around the secrets there: `Fence::grant_view`); rules
        // on the real directory's entries would never be consulted (Landlock's walk up skips
        // the mount point), and carving them around a secret costs a rule per entry.
        outside.extend(spec.socket_views.iter().cloned());
    }
    f.grant_machine_read(&outside)?;
    for w in &spec.writable {
        if fallback {
            // Without mounts, Landlock alone keeps secrets and protected paths closed: the
            // directories holding them get no rule of their own (see README: fallback).
            let mut holes: Vec<PathBuf> = spec
                .secrets
                .iter()
                .filter(|s| s.starts_with(w))
                .cloned()
                .collect();
            holes.extend(
                spec.protected
                    .iter()
                    .filter(|p| p.path.starts_with(w))
                    .map(|p| p.path.clone()),
            );
            holes.extend(
                spec.pinned_elsewhere
                    .iter()
                    .filter(|p| p.starts_with(w))
                    .cloned(),
            );
            f.grant_writable(w, &holes)?;
        } else if spec.pinned_elsewhere.iter().any(|p| p.starts_with(w)) {
            // Files another run has pinned: besides their read-only mounts, the directories on
            // the way to them get no right of their own, so that none of them can be renamed
            // (a renamed directory would take the mounts below it along).
            let holes: Vec<PathBuf> = spec
                .pinned_elsewhere
                .iter()
                .filter(|p| p.starts_with(w))
                .cloned()
                .collect();
            f.grant_writable(w, &holes)?;
        } else {
            f.grant_all(w)?;
        }
    }
    if fallback {
        for d in [
            "/dev/null",
            "/dev/zero",
            "/dev/full",
            "/dev/random",
            "/dev/urandom",
            "/dev/tty",
        ] {
            f.grant_read_write_files(Path::new(d))?;
        }
        // The terminal the command runs on, by its own node (`/dev/pts/N`), for programs that
        // reopen it by name (ttyname, /dev/stdin); not the other terminals of /dev/pts.
        for (i, fd) in stdio.iter().enumerate() {
            f.grant_terminal(fd.unwrap_or(i as RawFd))?;
        }
        f.grant_proc(Path::new("/proc"))?;
    }
    Ok(f)
}

/// Whether a caught signal should be passed on. SIGINT/SIGQUIT sent by the terminal (si_code
/// SI_KERNEL) already reached the command, which is in the terminal's foreground process group:
/// forwarding would deliver them twice.
fn should_forward(si: &sys::process::SigInfo) -> bool {
    !((si.signo == libc::SIGINT || si.signo == libc::SIGQUIT) && si.code == libc::SI_KERNEL)
}

/// Reports a failure to the supervisor on the report pipe and exits. Only used in children.
fn die(report: RawFd, f: message::Failure) -> ! {
    sys::write_all(report, &f.encode());
    sys::process::exit_now(EXIT_SETUP)
}
