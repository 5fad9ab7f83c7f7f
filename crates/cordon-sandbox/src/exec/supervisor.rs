//! The supervisor: cordon's own process, outside the sandbox. It creates the sandbox's first
//! process (init with namespaces, the command itself without), forwards signals, enforces the
//! timeout, and turns what the processes reported into an [`Outcome`].

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::message::{Exit, Failure, Usage};
use super::{
    init, prepare, should_forward, ListenerHook, Outcome, Running, StartHook, EXIT_NOEXEC,
    EXIT_NOTFOUND, EXIT_SETUP, EXIT_TIMEOUT, FORWARDED,
};
use crate::spec::{Network, SandboxSpec};
use crate::sys;
use crate::sys::process::Forked;
use crate::Error;

fn setup(e: io::Error) -> Error {
    Error::Setup(e.to_string())
}

/// Namespaces mode. Returns Ok(Err(reason)) when user namespaces turned out to be powerless here
/// and the caller should fall back.
pub(super) fn run_namespaces(
    spec: &SandboxSpec,
    on_listener: Option<ListenerHook<'_>>,
    stdio: [Option<RawFd>; 3],
    on_start: &mut Option<StartHook<'_>>,
) -> Result<Result<Outcome, String>, Error> {
    crate::timing("prepare");
    // Tool caches: directories, the workspace's lock (held until the sandbox is gone).
    let mut spec_caches = spec.clone();
    let mut caches = crate::caches::Session::start(&mut spec_caches.caches, &spec.workspace);
    let spec = &spec_caches;
    crate::timing("caches");
    let prepared = prepare(spec, false, stdio)?;
    crate::timing("placeholders");
    let _placeholders = crate::placeholders::Placeholders::create(&spec.protected, &spec.writable)
        .map_err(setup)?;
    let (err_r, err_w) = sys::pipe().map_err(setup)?;
    let (alive_r, alive_w) = sys::pipe().map_err(setup)?;
    let (done_r, done_w) = sys::pipe().map_err(setup)?;
    // Held until the whole run has returned (`run_with`, after the check): init's clean-up
    // after its report waits for its end (see `super::end_of_run`).
    let (tail_r, tail_w) = sys::pipe().map_err(setup)?;
    let proxy_pair = match spec.network {
        Network::Proxy { .. } => Some(sys::net::socketpair().map_err(setup)?),
        _ => None,
    };
    let (sfd, old_mask) = sys::process::block_signals(FORWARDED).map_err(setup)?;
    let ids = (crate::host::euid(), sys::process::egid());

    crate::timing("clone");
    let flags = libc::CLONE_NEWUSER
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS
        | if spec.network == Network::Full {
            0
        } else {
            libc::CLONE_NEWNET
        };
    // `cordon run` has no other thread here (the spec's socket search ran on one, joined before
    // `spec::build` returned; the proxy's starts after, from `on_listener`): one clone. A caller with other threads (a gateway running a
    // server in-process) goes through fork(3) first.
    let threaded = sys::process::thread_count().is_none_or(|n| n > 1);
    #[allow(unsafe_code)]
    // SAFETY: single-threaded, the child may allocate; with other threads, clone_via_fork makes
    // the allocator consistent in the child first.
    let pid = match unsafe {
        if threaded {
            sys::process::clone_via_fork(flags)
        } else {
            sys::process::clone(flags)
        }
    } {
        Ok(Forked::Child) => {
            drop(err_r);
            drop(alive_w);
            drop(done_r);
            drop(tail_w);
            let ends = init::Ends {
                report: err_w.as_raw_fd(),
                alive: alive_r,
                done: done_w,
                proxy: proxy_pair.map(|(parent, child)| {
                    drop(parent);
                    child
                }),
                mounts_lock: caches.mounts_lock(),
                caches_dir: caches.dir_fd(),
                tail: tail_r,
            };
            // init owns the report pipe's descriptor from here (it closes it after forking).
            std::mem::forget(err_w);
            init::main(spec, prepared, ends, ids, &old_mask)
        }
        Ok(Forked::Parent(pid)) => pid,
        Err(e) => {
            old_mask.restore();
            return match e.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EINVAL) | Some(libc::ENOSPC)
                | Some(libc::EUSERS) | Some(libc::ENOSYS) => {
                    Ok(Err(format!("user namespaces are unavailable (clone: {e})")))
                }
                _ => Err(Error::Setup(format!("clone: {e}"))),
            };
        }
    };
    drop(err_w);
    drop(alive_r);
    drop(done_w);
    drop(tail_r);
    super::end_of_run(tail_w);
    drop(prepared);
    caches.handed_over();
    if let (Some((parent_sock, child_sock)), Some(hook)) = (proxy_pair, on_listener) {
        drop(child_sock);
        if let Ok(l) = sys::net::recv_listener(&parent_sock) {
            hook(l);
        }
    }
    started(pid, on_start);
    let res = supervise(
        pid,
        &sfd,
        Some(&done_r),
        spec.timeout_ms.map(Duration::from_millis),
    );
    crate::timing("sandbox exited");
    drop(alive_w);
    old_mask.restore();
    let (ended, timed_out) =
        res.map_err(|e| Error::Setup(format!("waiting for the sandbox: {e}")))?;
    outcome(&err_r, ended, timed_out, &spec.argv[0])
}

/// Fallback (Landlock + seccomp only) and danger-full-access: one child, no namespaces.
pub(super) fn run_plain(
    spec: &SandboxSpec,
    fallback: bool,
    stdio: [Option<RawFd>; 3],
    on_start: &mut Option<StartHook<'_>>,
) -> Result<Outcome, Error> {
    let mut spec = spec.clone();
    // A private temporary directory stands in for the private /tmp.
    let tmp = if fallback {
        Some(PrivateTmp::new().map_err(setup)?)
    } else {
        None
    };
    // Tool caches: private directories instead of overlays (said once by the caller); the
    // workspace's caches lock, shared, held until the run has ended (`cordon cache clean`).
    let _caches_lock = if fallback {
        crate::caches::fallback(&mut spec)
    } else {
        None
    };
    if let Some(t) = &tmp {
        spec.writable.push(t.path.clone());
        spec.env.retain(|(k, _)| k != "TMPDIR");
        spec.env
            .push(("TMPDIR".into(), t.path.display().to_string()));
    }
    let prepared = prepare(&spec, fallback, stdio)?;
    let (err_r, err_w) = sys::pipe().map_err(setup)?;
    let (sfd, old_mask) = sys::process::block_signals(FORWARDED).map_err(setup)?;
    // Orphans of the command (daemons) are re-parented to us, so that we can kill them at the end.
    sys::process::become_subreaper();
    #[allow(unsafe_code)]
    // SAFETY: fork(3) through glibc, which keeps the allocator usable in the child even when
    // this process has other threads; the child takes no other lock before execve.
    let pid = match unsafe { sys::process::fork() } {
        Ok(Forked::Child) => {
            sys::process::die_with_parent();
            drop(err_r);
            let fd = err_w.as_raw_fd();
            if let Err(e) = std::env::set_current_dir(&spec.cwd) {
                super::die(
                    fd,
                    Failure::Setup(format!("cannot enter {}: {e}", spec.cwd.display())),
                );
            }
            std::mem::forget(err_w);
            super::command::main(&spec, prepared, fd, &old_mask)
        }
        Ok(Forked::Parent(pid)) => pid,
        Err(e) => return Err(Error::Setup(format!("fork: {e}"))),
    };
    drop(err_w);
    drop(prepared);
    started(pid, on_start);
    let (ended, timed_out) = supervise(pid, &sfd, None, spec.timeout_ms.map(Duration::from_millis))
        .map_err(|e| Error::Setup(format!("waiting for the command: {e}")))?;
    kill_descendants();
    old_mask.restore();
    drop(tmp);
    outcome(&err_r, ended, timed_out, &spec.argv[0]).map(|r| r.unwrap_or(Outcome::code(EXIT_SETUP)))
}

/// Hands the caller a handle on the sandbox's first process.
fn started(pid: libc::pid_t, on_start: &mut Option<StartHook<'_>>) {
    if let Some(f) = on_start.as_mut() {
        // Not reaped before `supervise`: the pid is still this process's child.
        if let Ok(pidfd) = sys::process::pidfd_open(pid) {
            f(Running { pidfd });
        }
    }
}

/// How the supervisor learnt that the sandbox ended.
#[derive(Clone, Copy)]
enum Ended {
    /// The wait status of its first process (killed, or exited without reporting).
    Waited(i32),
    /// init's report: every process of the sandbox is gone already.
    Reported(Exit),
}

/// Waits for `pid`, forwarding signals to it and enforcing the timeout. With `done`, init's
/// report on it ends the wait (init itself may still be tearing the namespaces down).
fn supervise(
    pid: libc::pid_t,
    sfd: &OwnedFd,
    done: Option<&OwnedFd>,
    timeout: Option<Duration>,
) -> io::Result<(Ended, bool)> {
    // poll ignores a negative fd: without a report pipe only the process's exit counts.
    let done_fd = done.map_or(-1, |f| f.as_raw_fd());
    let pidfd = sys::process::pidfd_open(pid)?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut timed_out = false;
    loop {
        let wait_ms = match deadline {
            Some(d) if !timed_out => {
                let left = d.saturating_duration_since(Instant::now());
                left.as_millis().min(i32::MAX as u128) as i32
            }
            _ => -1,
        };
        let mut fds = [pidfd.as_raw_fd(), sfd.as_raw_fd(), done_fd].map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
        let n = match sys::process::poll(&mut fds, wait_ms) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 && deadline.is_some() && !timed_out {
            // The whole sandbox: killing PID 1 of the namespace kills every process in it.
            sys::process::kill(pid, libc::SIGKILL);
            timed_out = true;
            continue;
        }
        if fds[1].revents & libc::POLLIN != 0 {
            if let Some(si) = sys::process::read_siginfo(sfd) {
                if should_forward(&si) {
                    sys::process::kill(pid, si.signo);
                }
            }
        }
        if fds[2].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
            // init's report: every process of the sandbox is gone (see init::finish). Without
            // it (init was killed, or died), fall through to waiting for init.
            let mut buf = [0u8; Exit::LEN];
            let n = sys::process::read(done_fd, &mut buf).unwrap_or(0);
            if let Some(exit) = Exit::decode(&buf[..n]) {
                // Reap init if it is already gone; if not, it is a zombie-to-be that exits on
                // its own (it has nothing left to do) and is collected when cordon exits.
                let _ = sys::process::waitpid(pid, libc::WNOHANG);
                return Ok((Ended::Reported(exit), timed_out));
            }
            return sys::process::wait_blocking(pid).map(|st| (Ended::Waited(st), timed_out));
        }
        if fds[0].revents & libc::POLLIN != 0 {
            return sys::process::wait_blocking(pid).map(|st| (Ended::Waited(st), timed_out));
        }
    }
}

/// The outcome from the report pipe (read after the sandbox ended) and how it ended.
/// Ok(Err(reason)): the user namespace was powerless, fall back.
fn outcome(
    err_r: &OwnedFd,
    ended: Ended,
    timed_out: bool,
    argv0: &str,
) -> Result<Result<Outcome, String>, Error> {
    let msg = sys::read_to_end(err_r);
    if timed_out {
        return Ok(Ok(Outcome {
            timed_out: true,
            ..Outcome::code(EXIT_TIMEOUT)
        }));
    }
    match Failure::decode(&msg) {
        None => {
            let (code, usage): (i32, Option<Usage>) = match ended {
                Ended::Waited(status) => (sys::process::status_code(status, EXIT_SETUP), None),
                Ended::Reported(e) => (e.code, e.usage),
            };
            Ok(Ok(Outcome {
                usage,
                ..Outcome::code(code)
            }))
        }
        Some(Failure::UsernsDenied(why)) => Ok(Err(why)),
        Some(Failure::NotFound) => {
            errln!("cordon: {argv0}: command not found");
            Ok(Ok(Outcome::code(EXIT_NOTFOUND)))
        }
        Some(Failure::NotExecutable(why)) => {
            errln!("cordon: {argv0}: {why}");
            Ok(Ok(Outcome::code(EXIT_NOEXEC)))
        }
        Some(Failure::Setup(why)) => Err(Error::Setup(why)),
    }
}

/// Kills every remaining descendant (they were re-parented to us as sub-reaper) and reaps them.
fn kill_descendants() {
    for _ in 0..10_000 {
        let mut any = false;
        if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
            for t in tasks.flatten() {
                if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
                    for pid in s
                        .split_whitespace()
                        .filter_map(|p| p.parse::<libc::pid_t>().ok())
                    {
                        any = true;
                        sys::process::kill(pid, libc::SIGKILL);
                    }
                }
            }
        }
        while let Ok(Some(_)) = sys::process::waitpid(-1, libc::WNOHANG) {}
        if !any {
            return;
        }
        let _ = sys::process::waitpid(-1, 0);
    }
}

/// The fallback's stand-in for a private /tmp: a fresh directory, removed at the end. Held
/// under an exclusive `flock` for the run: a cordon killed with SIGKILL cannot remove it, and
/// the next fallback run (of any user's cordon sharing the temporary directory, in any PID
/// namespace) removes every such directory of its user that no live run holds ([`sweep`]).
struct PrivateTmp {
    path: PathBuf,
    _held: std::fs::File,
}

/// The names of the private temporary directories (`cordon-tmp-` before: not swept, as a run
/// of an earlier version holds no lock on its own).
const PRIVATE_TMP: &str = "cordon-run-tmp-";

impl PrivateTmp {
    fn new() -> io::Result<PrivateTmp> {
        let dir = std::env::temp_dir();
        sweep(&dir);
        let path = sys::process::mkdtemp(&dir.join(PRIVATE_TMP))?;
        let held = std::fs::File::open(&path)?;
        sys::fs::flock(held.as_fd(), libc::LOCK_EX)?;
        Ok(PrivateTmp { path, _held: held })
    }
}

/// Removes the private temporary directories that killed runs left in `dir`: those of this
/// user that no run holds any more (a `flock` taken at once). By descriptors: `dir` opened
/// once, each entry opened without following a link and checked to be this user's own (in a
/// sticky directory such as /tmp, only its owner can rename it: the name then stays the
/// directory checked), removed through handles (`caches::store::remove_at`). At most 4096
/// entries of `dir` are looked at; a larger one is left alone for this run.
fn sweep(dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(d) = crate::handles::open_no_symlinks(dir, libc::O_RDONLY | libc::O_DIRECTORY) else {
        return;
    };
    let mut budget = 4096;
    let Ok(entries) = crate::handles::read_dir(d.as_fd(), &mut budget) else {
        return;
    };
    let me = crate::host::euid();
    for e in entries {
        if !e.name.starts_with(PRIVATE_TMP.as_bytes()) {
            continue;
        }
        let Ok(fd) = crate::handles::open_entry(
            d.as_fd(),
            &e.name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        ) else {
            continue;
        };
        let f = std::fs::File::from(fd);
        let ours = f.metadata().is_ok_and(|m| m.is_dir() && m.uid() == me);
        if !ours || sys::fs::flock(f.as_fd(), libc::LOCK_EX | libc::LOCK_NB).is_err() {
            continue; // another user's, or a live run's
        }
        if let Ok(name) = std::ffi::CString::new(e.name) {
            let _ = crate::caches::store::remove_at(&d, &name);
        }
    }
}

impl Drop for PrivateTmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
