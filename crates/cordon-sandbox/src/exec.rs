//! Spawning and supervising the sandboxed command.
//!
//! Namespaces mode, three processes:
//!
//! ```text
//! cordon (supervisor, outside)          forwards signals, enforces --timeout, serves the proxy
//!   └─ init (PID 1 of the new namespaces)  builds the mounts, then reaps and forwards signals
//!        └─ the command                     rlimits, capabilities dropped, Landlock, seccomp, execve
//! ```
//!
//! init exists because PID 1 ignores every signal it has no handler for (Ctrl-C would not stop
//! a command running as PID 1), and because when PID 1 exits the kernel kills everything else in
//! the PID namespace: daemons and `setsid` children die with the command.
//!
//! The supervisor clones init with every namespace flag in one `clone` call (no extra fork),
//! before any thread is started, so the child may allocate freely. Setup failures travel back
//! on a close-on-exec pipe: empty at EOF means the command was executed.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::fence::Fence;
use crate::seccomp::{self, Filter};
use crate::spec::{Isolation, Network, SandboxSpec};
use crate::sys;
use crate::Error;

/// Exit status for setup failures, and the commands' "not executable" / "not found"
/// (defined in `exit.rs`).
pub const EXIT_SETUP: i32 = crate::exit::CORDON_FAILED as i32;
pub const EXIT_NOEXEC: i32 = crate::exit::REFUSED as i32;
pub const EXIT_NOTFOUND: i32 = crate::exit::NOT_FOUND as i32;
/// Exit status when --timeout killed the sandbox (as timeout(1)).
pub const EXIT_TIMEOUT: i32 = crate::exit::TIMEOUT as i32;
/// Setup failed because the user namespace has no power here (e.g. an AppArmor restriction):
/// the supervisor falls back to Landlock + seccomp.
const CODE_USERNS_DENIED: u8 = b'U';

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
}

/// getrusage(RUSAGE_CHILDREN) of the sandbox's init once everything is reaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub user_us: u64,
    pub sys_us: u64,
    pub max_rss_kib: u64,
}

fn sigset(sigs: &[i32]) -> libc::sigset_t {
    unsafe {
        let mut s: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut s);
        for &g in sigs {
            libc::sigaddset(&mut s, g);
        }
        s
    }
}

/// Reports a failure to the supervisor and exits. Only used in children.
fn die(err_fd: RawFd, code: u8, msg: &str) -> ! {
    let mut b = vec![code];
    b.extend_from_slice(msg.as_bytes());
    sys::write_all(err_fd, &b);
    unsafe { libc::_exit(EXIT_SETUP) }
}

/// Everything prepared in the supervisor before any process is created.
struct Prepared {
    filter: Filter,
    fence: Option<Fence>,
    argv: Vec<CString>,
    envp: Vec<CString>,
    path_dirs: Vec<PathBuf>,
}

fn prepare(spec: &SandboxSpec, fallback: bool) -> Result<Prepared, Error> {
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
    })
    .map_err(setup)?;
    let fence = if spec.isolation == Isolation::None {
        None
    } else {
        Some(build_fence(spec, fallback).map_err(setup)?)
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
    })
}

fn build_fence(spec: &SandboxSpec, fallback: bool) -> io::Result<Fence> {
    let mut f = Fence::new()?;
    let outside: Vec<PathBuf> = spec
        .secrets
        .iter()
        .filter(|s| fallback || !spec.writable.iter().any(|w| s.starts_with(w)))
        .cloned()
        .collect();
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
            "/dev/pts",
        ] {
            f.grant_read_write_files(Path::new(d))?;
        }
        f.grant_proc(Path::new("/proc"))?;
    }
    Ok(f)
}

/// Runs the sandbox. `on_listener` receives the proxy's listening socket (created inside the
/// sandbox's network namespace) when `spec.network` is `Proxy`.
pub fn run(spec: &SandboxSpec, on_listener: Option<ListenerHook<'_>>) -> Result<Outcome, Error> {
    match &spec.isolation {
        Isolation::None => {
            crate::spec::verify_pinned(spec).map_err(Error::Refused)?;
            run_plain(spec, None, false)
        }
        Isolation::LandlockOnly { reason } => {
            crate::spec::verify_pinned(spec).map_err(Error::Refused)?;
            let mut o = run_plain(spec, None, true)?;
            o.fell_back = Some(reason.clone());
            Ok(o)
        }
        Isolation::Namespaces => match run_namespaces(spec, on_listener)? {
            Ok(o) => Ok(o),
            Err(reason) => {
                // No copies could be mounted: the pinned files must still be what was approved.
                crate::spec::verify_pinned(spec).map_err(Error::Refused)?;
                let mut fb = spec.clone();
                fb.isolation = Isolation::LandlockOnly {
                    reason: reason.clone(),
                };
                let mut o = run_plain(&fb, None, true)?;
                o.fell_back = Some(reason);
                Ok(o)
            }
        },
    }
}

/// Blocks the forwarded signals (and SIGCHLD) and returns a signalfd for them plus the old mask.
fn block_signals(extra: &[i32]) -> io::Result<(OwnedFd, libc::sigset_t)> {
    let mut all: Vec<i32> = FORWARDED.to_vec();
    all.extend_from_slice(extra);
    let set = sigset(&all);
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old) };
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((unsafe { OwnedFd::from_raw_fd(fd) }, old))
}

fn read_siginfo(fd: &OwnedFd) -> Option<libc::signalfd_siginfo> {
    let mut si: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let n = unsafe {
        libc::read(
            fd.as_raw_fd(),
            &mut si as *mut _ as *mut libc::c_void,
            std::mem::size_of::<libc::signalfd_siginfo>(),
        )
    };
    (n == std::mem::size_of::<libc::signalfd_siginfo>() as isize).then_some(si)
}

/// Whether a caught signal should be passed on. SIGINT/SIGQUIT sent by the terminal (si_code
/// SI_KERNEL) already reached the command, which is in the terminal's foreground process group:
/// forwarding would deliver them twice.
fn should_forward(si: &libc::signalfd_siginfo) -> bool {
    let sig = si.ssi_signo as i32;
    !((sig == libc::SIGINT || sig == libc::SIGQUIT) && si.ssi_code == libc::SI_KERNEL)
}

fn status_to_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        crate::exit::signal(libc::WTERMSIG(status))
    } else {
        EXIT_SETUP
    }
}

/// Waits for `pid`, forwarding signals to it and enforcing the timeout.
fn supervise(
    pid: libc::pid_t,
    sfd: &OwnedFd,
    done_r: Option<&OwnedFd>,
    timeout: Option<Duration>,
) -> io::Result<(Ended, bool)> {
    // poll ignores a negative fd: without a report pipe only init's exit counts.
    let done_fd = done_r.map_or(-1, |f| f.as_raw_fd());
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        return Err(io::Error::last_os_error());
    }
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
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
        let mut fds = [
            libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: done_fd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 3, wait_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 && deadline.is_some() && !timed_out {
            // The whole sandbox: killing PID 1 of the namespace kills every process in it.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            timed_out = true;
            continue;
        }
        if fds[1].revents & libc::POLLIN != 0 {
            if let Some(si) = read_siginfo(sfd) {
                if should_forward(&si) {
                    unsafe { libc::kill(pid, si.ssi_signo as i32) };
                }
            }
        }
        if fds[2].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
            // init's report: every process of the sandbox is gone (see `finish`). Without the
            // four bytes (init was killed, or died), fall through to waiting for it.
            let mut buf = [0u8; 28];
            let n = unsafe { libc::read(done_fd, buf.as_mut_ptr().cast(), 28) };
            if n >= 4 {
                // Reap init if it is already gone; if not, it is a zombie-to-be that exits on
                // its own (it has nothing left to do) and is collected when cordon exits.
                unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
                let code = i32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
                let word = |i: usize| {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(&buf[4 + 8 * i..12 + 8 * i]);
                    u64::from_ne_bytes(w)
                };
                let usage = (n == 28).then(|| Usage {
                    user_us: word(0),
                    sys_us: word(1),
                    max_rss_kib: word(2),
                });
                return Ok((Ended::Reported(code, usage), timed_out));
            }
            // EOF without a report: init was killed or died; collect its status.
            return wait_blocking(pid).map(|st| (Ended::Waited(st), timed_out));
        }
        if fds[0].revents & libc::POLLIN != 0 {
            return wait_blocking(pid).map(|st| (Ended::Waited(st), timed_out));
        }
    }
}

/// waitpid(pid) until it returns, through EINTR; the wait status.
fn wait_blocking(pid: libc::pid_t) -> io::Result<libc::c_int> {
    let mut status = 0;
    loop {
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return Ok(status);
        }
        if r < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return Err(io::Error::last_os_error());
        }
    }
}

/// How the supervisor learnt that the sandbox ended.
#[derive(Clone, Copy)]
enum Ended {
    /// init's wait status (init was killed, or exited without reporting).
    Waited(libc::c_int),
    /// init's report: the command's exit code, every other process already gone, and what
    /// they used.
    Reported(i32, Option<Usage>),
}

/// Reads the report pipe after the child is gone: empty means the command ran.
fn report(
    err_r: &OwnedFd,
    ended: Ended,
    timed_out: bool,
    argv0: &str,
) -> Result<Result<Outcome, String>, Error> {
    let msg = sys::read_to_end(err_r);
    if timed_out {
        return Ok(Ok(Outcome {
            code: EXIT_TIMEOUT,
            timed_out: true,
            fell_back: None,
            usage: None,
        }));
    }
    match msg.first() {
        None => Ok(Ok(Outcome {
            code: match ended {
                Ended::Waited(status) => status_to_code(status),
                Ended::Reported(code, _) => code,
            },
            timed_out: false,
            fell_back: None,
            usage: match ended {
                Ended::Reported(_, u) => u,
                Ended::Waited(_) => None,
            },
        })),
        Some(&CODE_USERNS_DENIED) => Ok(Err(String::from_utf8_lossy(&msg[1..]).into_owned())),
        Some(b'N') => {
            eprintln!("cordon: {argv0}: command not found");
            Ok(Ok(Outcome {
                code: EXIT_NOTFOUND,
                timed_out: false,
                fell_back: None,
                usage: None,
            }))
        }
        Some(b'X') => {
            eprintln!("cordon: {argv0}: {}", String::from_utf8_lossy(&msg[1..]));
            Ok(Ok(Outcome {
                code: EXIT_NOEXEC,
                timed_out: false,
                fell_back: None,
                usage: None,
            }))
        }
        Some(_) => Err(Error::Setup(
            String::from_utf8_lossy(&msg[1..]).into_owned(),
        )),
    }
}

/// The command's process, after fork, in either mode: the last steps before execve, in this
/// order: limits (need no privilege), file descriptors, capabilities, Landlock (sets
/// no_new_privs), seccomp (last, so that nothing above is filtered), signal state, execve.
fn exec_command(spec: &SandboxSpec, p: Prepared, err_w: RawFd, old_mask: &libc::sigset_t) -> ! {
    let l = &spec.limits;
    for (res, v) in [
        (libc::RLIMIT_NPROC, l.nproc),
        (libc::RLIMIT_DATA, l.data_bytes),
        (libc::RLIMIT_NOFILE, l.nofile),
        (libc::RLIMIT_CORE, l.core_bytes),
    ] {
        if let Err(e) = sys::set_rlimit(res, v) {
            die(err_w, b'E', &e.to_string());
        }
    }
    // Every descriptor but 0, 1, 2 is closed at execve (our report pipe included, which is how
    // the supervisor learns that execve succeeded).
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if let Err(e) = sys::drop_capabilities() {
        die(err_w, b'E', &e.to_string());
    }
    if let Some(fence) = p.fence {
        match fence.restrict_self() {
            Ok(landlock::RulesetStatus::NotEnforced) => die(
                err_w,
                b'E',
                "Landlock is not enforced by this kernel; run 'cordon doctor'",
            ),
            Ok(_) => {}
            Err(e) => die(err_w, b'E', &e.to_string()),
        }
    } else if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        die(err_w, b'E', "cannot set no_new_privs");
    }
    if spec.isolation != Isolation::None {
        if let Err(e) = p.filter.install() {
            die(err_w, b'E', &format!("seccomp: {e}"));
        }
    }
    unsafe {
        // Rust ignores SIGPIPE in its own processes; the command gets the default back.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::sigprocmask(libc::SIG_SETMASK, old_mask, std::ptr::null_mut());
    }
    crate::timing("command: execve");
    let mut argv_ptrs: Vec<*const libc::c_char> = p.argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = p.envp.iter().map(|a| a.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
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
    let mut saw_eacces = None;
    for c in &candidates {
        unsafe { libc::execve(c.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr()) };
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => continue,
            _ => {
                saw_eacces.get_or_insert(e);
            }
        }
    }
    match saw_eacces {
        Some(e) => {
            let mut b = vec![b'X'];
            b.extend_from_slice(e.to_string().as_bytes());
            sys::write_all(err_w, &b);
            unsafe { libc::_exit(EXIT_NOEXEC) }
        }
        None => {
            sys::write_all(err_w, b"N");
            unsafe { libc::_exit(EXIT_NOTFOUND) }
        }
    }
}

/// Fallback (Landlock + seccomp only) and danger-full-access: one child, no namespaces.
fn run_plain(
    spec: &SandboxSpec,
    _on_listener: Option<ListenerHook<'_>>,
    fallback: bool,
) -> Result<Outcome, Error> {
    let mut spec = spec.clone();
    // A private temporary directory stands in for the private /tmp.
    let tmp = if fallback {
        Some(PrivateTmp::new().map_err(|e| Error::Setup(e.to_string()))?)
    } else {
        None
    };
    if let Some(t) = &tmp {
        spec.writable.push(t.path.clone());
        spec.env.retain(|(k, _)| k != "TMPDIR");
        spec.env
            .push(("TMPDIR".into(), t.path.display().to_string()));
    }
    let prepared = prepare(&spec, fallback)?;
    let (err_r, err_w) = sys::pipe().map_err(|e| Error::Setup(e.to_string()))?;
    let (sfd, old_mask) = block_signals(&[]).map_err(|e| Error::Setup(e.to_string()))?;
    // Orphans of the command (daemons) are re-parented to us, so that we can kill them at the end.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::Setup(format!(
            "fork: {}",
            io::Error::last_os_error()
        )));
    }
    if pid == 0 {
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
        drop(err_r);
        if let Err(e) = std::env::set_current_dir(&spec.cwd) {
            die(
                err_w.as_raw_fd(),
                b'E',
                &format!("cannot enter {}: {e}", spec.cwd.display()),
            );
        }
        let fd = err_w.as_raw_fd();
        std::mem::forget(err_w);
        exec_command(&spec, prepared, fd, &old_mask);
    }
    drop(err_w);
    drop(prepared);
    let (status, timed_out) =
        supervise(pid, &sfd, None, spec.timeout_ms.map(Duration::from_millis))
            .map_err(|e| Error::Setup(format!("waiting for the command: {e}")))?;
    kill_descendants();
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut()) };
    drop(tmp);
    report(&err_r, status, timed_out, &spec.argv[0]).map(|r| {
        r.unwrap_or(Outcome {
            code: EXIT_SETUP,
            timed_out: false,
            fell_back: None,
            usage: None,
        })
    })
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
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            }
        }
        let mut st = 0;
        while unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) } > 0 {}
        if !any {
            return;
        }
        let mut st = 0;
        unsafe { libc::waitpid(-1, &mut st, 0) };
    }
}

struct PrivateTmp {
    path: PathBuf,
}

impl PrivateTmp {
    fn new() -> io::Result<PrivateTmp> {
        let base = std::env::temp_dir();
        let mut template = base.join("cordon-tmp-XXXXXX").into_os_string().into_vec();
        template.push(0);
        let p = unsafe { libc::mkdtemp(template.as_mut_ptr() as *mut libc::c_char) };
        if p.is_null() {
            return Err(io::Error::last_os_error());
        }
        template.pop();
        Ok(PrivateTmp {
            path: PathBuf::from(std::ffi::OsString::from_vec(template)),
        })
    }
}

use std::os::unix::ffi::OsStringExt;

impl Drop for PrivateTmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Namespaces mode. Returns Ok(Err(reason)) when user namespaces turned out to be powerless here
/// and the caller should fall back.
fn run_namespaces(
    spec: &SandboxSpec,
    on_listener: Option<ListenerHook<'_>>,
) -> Result<Result<Outcome, String>, Error> {
    let setup = |e: io::Error| Error::Setup(e.to_string());
    crate::timing("prepare");
    let prepared = prepare(spec, false)?;
    crate::timing("placeholders");
    let _placeholders =
        crate::placeholders::Placeholders::create(&spec.protected).map_err(setup)?;
    let (err_r, err_w) = sys::pipe().map_err(setup)?;
    let (alive_r, alive_w) = sys::pipe().map_err(setup)?;
    let (done_r, done_w) = sys::pipe().map_err(setup)?;
    let proxy_pair = match spec.network {
        Network::Proxy { .. } => Some(socketpair().map_err(setup)?),
        _ => None,
    };
    let (sfd, old_mask) = block_signals(&[]).map_err(setup)?;
    let uid = unsafe { libc::geteuid() };
    let gid = unsafe { libc::getegid() };

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
    // clone() without a new stack behaves like fork(); the child is PID 1 of the new namespace.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    } as libc::pid_t;
    if pid < 0 {
        let e = io::Error::last_os_error();
        unsafe { libc::sigprocmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut()) };
        return match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EINVAL) | Some(libc::ENOSPC) | Some(libc::EUSERS)
            | Some(libc::ENOSYS) => {
                Ok(Err(format!("user namespaces are unavailable (clone: {e})")))
            }
            _ => Err(Error::Setup(format!("clone: {e}"))),
        };
    }
    if pid == 0 {
        drop(err_r);
        drop(alive_w);
        drop(done_r);
        let err_fd = err_w.as_raw_fd();
        std::mem::forget(err_w);
        let child_sock = proxy_pair.map(|(a, b)| {
            drop(a);
            b
        });
        init_main(
            spec, prepared, err_fd, alive_r, done_w, child_sock, uid, gid, &old_mask,
        );
    }
    drop(err_w);
    drop(alive_r);
    drop(done_w);
    drop(prepared);
    if let (Some((parent_sock, child_sock)), Some(hook)) = (proxy_pair, on_listener) {
        drop(child_sock);
        if let Ok(l) = recv_fd(&parent_sock) {
            hook(l);
        }
    }
    let res = supervise(
        pid,
        &sfd,
        Some(&done_r),
        spec.timeout_ms.map(Duration::from_millis),
    );
    crate::timing("sandbox exited");
    drop(alive_w);
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut()) };
    let (status, timed_out) =
        res.map_err(|e| Error::Setup(format!("waiting for the sandbox: {e}")))?;
    report(&err_r, status, timed_out, &spec.argv[0])
}

/// PID 1 of the sandbox.
#[allow(clippy::too_many_arguments)]
fn init_main(
    spec: &SandboxSpec,
    mut p: Prepared,
    err: RawFd,
    alive_r: OwnedFd,
    done_w: OwnedFd,
    proxy_sock: Option<OwnedFd>,
    uid: libc::uid_t,
    gid: libc::gid_t,
    old_mask: &libc::sigset_t,
) -> ! {
    crate::timing("init: started");
    // If the supervisor dies, so does the sandbox. Checked once after setting it, in case the
    // supervisor died before: its end of the "alive" pipe is then closed.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    let mut pfd = libc::pollfd {
        fd: alive_r.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    if unsafe { libc::poll(&mut pfd, 1, 0) } > 0 && pfd.revents & libc::POLLHUP != 0 {
        unsafe { libc::_exit(EXIT_SETUP) };
    }

    // Identity: our own uid/gid mapped to themselves. setgroups must be denied before an
    // unprivileged process may write gid_map.
    let maps = sys::write_file("/proc/self/setgroups", b"deny")
        .and_then(|_| sys::write_file("/proc/self/uid_map", format!("{uid} {uid} 1\n").as_bytes()))
        .and_then(|_| sys::write_file("/proc/self/gid_map", format!("{gid} {gid} 1\n").as_bytes()));
    if let Err(e) = maps {
        die(
            err,
            CODE_USERNS_DENIED,
            &format!("user namespaces are restricted here ({e})"),
        );
    }

    crate::timing("init: maps done");
    let clones = match crate::mounts::take_clones(spec) {
        Ok(c) => c,
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => die(
            err,
            CODE_USERNS_DENIED,
            &format!("mounts are not permitted in a user namespace here ({e})"),
        ),
        Err(e) => die(
            err,
            b'E',
            &format!("cannot set up the file system view: {e}"),
        ),
    };
    let views = match crate::mounts::build_root(spec, clones) {
        Ok(v) => v,
        Err(e) => die(
            err,
            b'E',
            &format!("cannot set up the file system view: {e}"),
        ),
    };
    crate::timing("init: mounts done");
    if let Err(e) = std::env::set_current_dir(&spec.cwd) {
        die(
            err,
            b'E',
            &format!(
                "cannot enter {} inside the sandbox: {e}",
                spec.cwd.display()
            ),
        );
    }
    if spec.network != Network::Full {
        if let Err(e) = loopback_up() {
            die(err, b'E', &format!("cannot bring up loopback: {e}"));
        }
    }
    if let (Network::Proxy { port }, Some(sock)) = (&spec.network, proxy_sock) {
        match std::net::TcpListener::bind(("127.0.0.1", *port)) {
            Ok(l) => {
                if let Err(e) = send_fd(&sock, l.as_raw_fd()) {
                    die(err, b'E', &format!("cannot hand the proxy socket out: {e}"));
                }
            }
            Err(e) => die(
                err,
                b'E',
                &format!("cannot listen on 127.0.0.1:{port} for the proxy: {e}"),
            ),
        }
    }
    let _ = nix_sethostname(b"cordon");
    // The sandbox's own tmpfs, devices and procfs are new inodes: Landlock rules for them can
    // only be added now.
    if let Some(f) = p.fence.as_mut() {
        let r = f
            .grant_all(Path::new("/tmp"))
            .and_then(|_| f.grant_all(Path::new("/var/tmp")))
            .and_then(|_| f.grant_all(Path::new("/dev/shm")))
            .and_then(|_| f.grant_read_write_files(Path::new("/dev")))
            .and_then(|_| f.grant_proc(Path::new("/proc")))
            .and_then(|_| views.iter().try_for_each(|v| f.grant_read(v)));
        if let Err(e) = r {
            die(err, b'E', &e.to_string());
        }
    }

    let (sfd, _) = match block_signals(&[libc::SIGCHLD]) {
        Ok(s) => s,
        Err(e) => die(err, b'E', &format!("signalfd: {e}")),
    };
    crate::timing("init: fork command");
    let cmd = unsafe { libc::fork() };
    if cmd < 0 {
        die(err, b'E', &format!("fork: {}", io::Error::last_os_error()));
    }
    if cmd == 0 {
        drop(sfd);
        drop(alive_r);
        drop(done_w);
        exec_command(spec, p, err, old_mask);
    }
    drop(p);
    // init reports nothing more on the error pipe: only the command (until its execve) holds
    // it now, so the supervisor sees EOF once the command has started or failed to.
    unsafe { libc::close(err) };
    // Reap everything; forward signals to the command; leave with its status. Leaving kills
    // every other process of the namespace.
    loop {
        let Some(si) = read_siginfo(&sfd) else {
            continue;
        };
        let sig = si.ssi_signo as i32;
        if sig == libc::SIGCHLD {
            loop {
                let mut status = 0;
                let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
                if r <= 0 {
                    break;
                }
                if r == cmd {
                    let code = status_to_code(status);
                    finish(&done_w, code);
                }
            }
        } else if should_forward(&si) {
            unsafe { libc::kill(cmd, sig) };
        }
    }
}

/// init's last act once the command has exited: kill and reap every other process of the
/// namespace, then hand the status to the supervisor before exiting.
///
/// Why not just exit: PID 1's exit kills the namespace too, but the supervisor would then wait
/// for the kernel to tear down the mount, IPC and user namespaces (synchronous in exit(2)) before
/// it hears anything. After `kill(-1, SIGKILL)` from PID 1 (every process of the namespace but
/// itself) and reaping to ECHILD, nothing of the sandbox runs any more: a fork racing the kill
/// fails, as the kernel re-checks for a pending fatal signal under the tasklist lock. The
/// supervisor may return on the status alone; the teardown happens off its critical path.
fn finish(done_w: &OwnedFd, code: i32) -> ! {
    unsafe { libc::kill(-1, libc::SIGKILL) };
    loop {
        let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) };
        if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break; // ECHILD: nothing left.
        }
    }
    // The code, then what every process of the sandbox used (for the audit log): 28 bytes,
    // one write (atomic on a pipe).
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let us = |t: libc::timeval| (t.tv_sec as u64) * 1_000_000 + t.tv_usec as u64;
    let mut msg = [0u8; 28];
    msg[..4].copy_from_slice(&code.to_ne_bytes());
    msg[4..12].copy_from_slice(&us(ru.ru_utime).to_ne_bytes());
    msg[12..20].copy_from_slice(&us(ru.ru_stime).to_ne_bytes());
    msg[20..28].copy_from_slice(&(ru.ru_maxrss.max(0) as u64).to_ne_bytes());
    sys::write_all(done_w.as_raw_fd(), &msg);
    unsafe { libc::_exit(code) }
}

fn nix_sethostname(name: &[u8]) -> io::Result<()> {
    if unsafe { libc::sethostname(name.as_ptr() as *const libc::c_char, name.len()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `ip link set lo up` in the new network namespace (SIOCSIFFLAGS on a throwaway socket).
fn loopback_up() -> io::Result<()> {
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return Err(io::Error::last_os_error());
        }
        let s = OwnedFd::from_raw_fd(s);
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            ifr.ifr_name[i] = *b as libc::c_char;
        }
        if libc::ioctl(s.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut ifr) < 0 {
            return Err(io::Error::last_os_error());
        }
        ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(s.as_raw_fd(), libc::SIOCSIFFLAGS as _, &ifr) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } != 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn send_fd(sock: &OwnedFd, fd: RawFd) -> io::Result<()> {
    unsafe {
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr() as *mut libc::c_void,
            iov_len: 1,
        };
        let mut cbuf = [0u8; 64];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd);
        if libc::sendmsg(sock.as_raw_fd(), &msg, 0) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn recv_fd(sock: &OwnedFd) -> io::Result<std::net::TcpListener> {
    unsafe {
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr() as *mut libc::c_void,
            iov_len: 1,
        };
        let mut cbuf = [0u8; 64];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = cbuf.len() as _;
        let n = libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n <= 0 {
            return Err(io::Error::other(
                "the sandbox did not hand out the proxy socket",
            ));
        }
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() || (*c).cmsg_type != libc::SCM_RIGHTS {
            return Err(io::Error::other("no descriptor received"));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const RawFd);
        Ok(std::net::TcpListener::from_raw_fd(fd))
    }
}
