//! Processes and signals: what the supervisor, the sandbox's init and the command's process do
//! to create, watch and end each other.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::check;

/// Which side of a fork or clone this is.
pub enum Forked {
    Child,
    Parent(libc::pid_t),
}

fn forked(r: libc::c_long) -> io::Result<Forked> {
    match r {
        r if r < 0 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as libc::pid_t)),
    }
}

/// fork(2).
///
/// # Safety
/// The calling process must be single-threaded, or the child must make only
/// async-signal-safe calls until it execs or exits (another thread may have held a lock, of the
/// allocator for one, at the fork).
pub unsafe fn fork() -> io::Result<Forked> {
    // SAFETY: fork takes no arguments; the caller upholds the threading contract above.
    forked(unsafe { libc::fork() } as libc::c_long)
}

/// clone(2) with `flags` (namespace flags) and no new stack: like fork, the child continues on a
/// copy of the caller's stack; it is PID 1 of a new PID namespace if asked for.
///
/// # Safety
/// As [`fork`].
pub unsafe fn clone(flags: libc::c_int) -> io::Result<Forked> {
    // SAFETY: a null stack makes clone behave as fork; no pointer is passed (parent_tid,
    // child_tid and tls are unused without the flags that read them). The caller upholds the
    // threading contract.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    forked(r)
}

/// [`clone`] for a process that may have other threads. A raw clone runs none of glibc's fork
/// handlers: had another thread held a lock of the allocator at that moment, the child (a copy
/// of this thread, which allocates) would wait on it forever. So fork(3) first (glibc takes the
/// allocator's locks around it and resets them in the child), and that child, which has one
/// thread, clones with `flags | CLONE_PARENT`: the new process is this process's own child, as
/// with [`clone`] (waitpid, pidfd, PR_SET_PDEATHSIG on this thread), and the intermediate child
/// reports its pid (or the clone's errno) on a pipe and exits at once.
///
/// Locks of other threads that are not the allocator's (Rust's stderr, say) stay as they were at
/// the fork: the child must not take them (init only prints on rare setup notes).
///
/// # Safety
/// As [`fork`], for the child's side; the parent may be multi-threaded.
pub unsafe fn clone_via_fork(flags: libc::c_int) -> io::Result<Forked> {
    let (r, w) = super::pipe()?;
    // SAFETY: fork(3) through glibc; the intermediate child below only calls clone, write and
    // _exit (async-signal-safe), and its clone child has a consistent allocator (see above).
    match unsafe { fork() }? {
        Forked::Child => {
            drop(r);
            // SAFETY: this process has one thread (fork copied only the caller's).
            match unsafe { clone(flags | libc::CLONE_PARENT) } {
                Ok(Forked::Child) => {
                    drop(w);
                    Ok(Forked::Child)
                }
                Ok(Forked::Parent(pid)) => {
                    super::write_all(w.as_raw_fd(), &pid.to_ne_bytes());
                    exit_now(0)
                }
                Err(e) => {
                    let errno = e.raw_os_error().unwrap_or(libc::EINVAL);
                    super::write_all(w.as_raw_fd(), &(-errno).to_ne_bytes());
                    exit_now(0)
                }
            }
        }
        Forked::Parent(mid) => {
            drop(w);
            let msg = super::read_to_end(&r);
            wait_blocking(mid)?;
            match <[u8; 4]>::try_from(msg.as_slice()).map(i32::from_ne_bytes) {
                Ok(pid) if pid > 0 => Ok(Forked::Parent(pid)),
                Ok(errno) if errno < 0 => Err(io::Error::from_raw_os_error(-errno)),
                _ => Err(io::Error::other(
                    "the intermediate process died before cloning the sandbox",
                )),
            }
        }
    }
}

/// The number of threads of this process (/proc/self/stat, field 20); None if unreadable.
pub fn thread_count() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (in parentheses, which may contain anything) start at
    // field 3, the state.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(17)?.parse().ok()
}

/// pidfd_send_signal(2): signals the process `pidfd` refers to (never another that took its
/// pid); an error once it is gone.
pub fn pidfd_signal(pidfd: &OwnedFd, sig: i32) -> io::Result<()> {
    // SAFETY: pidfd_send_signal with a descriptor, a signal number, no siginfo, no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    check(r, || format!("pidfd_send_signal {sig}")).map(|_| ())
}

/// _exit(2): ends the process now (no atexit handlers, no flushing: safe after fork).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions and does not return.
    unsafe { libc::_exit(code) }
}

pub fn kill(pid: libc::pid_t, sig: i32) {
    // SAFETY: kill takes plain integers; a process that is gone gives ESRCH, ignored.
    unsafe { libc::kill(pid, sig) };
}

/// waitpid(2). `Ok(None)`: with WNOHANG, nothing has changed state yet.
pub fn waitpid(pid: libc::pid_t, flags: i32) -> io::Result<Option<(libc::pid_t, i32)>> {
    let mut status = 0;
    // SAFETY: `status` is a valid, writable int.
    let r = unsafe { libc::waitpid(pid, &mut status, flags) };
    match r {
        r if r < 0 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        r => Ok(Some((r, status))),
    }
}

/// waitpid(pid) until it returns, through EINTR; the wait status.
pub fn wait_blocking(pid: libc::pid_t) -> io::Result<i32> {
    loop {
        match waitpid(pid, 0) {
            Ok(Some((r, status))) if r == pid => return Ok(status),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A wait status as a shell reports it: the exit code, or 128+N for signal N (`other` when it
/// is neither, which waitpid without WUNTRACED never returns).
pub fn status_code(status: i32, other: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        crate::exit::signal(libc::WTERMSIG(status))
    } else {
        other
    }
}

/// pidfd_open(2): a descriptor that polls readable once `pid` has exited.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes plain integers.
    let fd = check(
        unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) },
        || format!("pidfd_open {pid}"),
    )?;
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// poll(2) on `fds` (a negative fd is ignored by the kernel); the number of ready descriptors.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a valid, writable slice of pollfd of the length given.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// read(2) once into `buf`, through EINTR.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is a valid, writable buffer of `buf.len()` bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// dup(2) above the standard descriptors, close-on-exec (fcntl F_DUPFD_CLOEXEC, 3).
pub fn dup_high(fd: RawFd) -> io::Result<RawFd> {
    // SAFETY: fcntl with an integer argument.
    let r = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    check(r as libc::c_long, || format!("dup {fd}")).map(|r| r as RawFd)
}

/// dup2(2); the new descriptor is not close-on-exec.
pub fn dup2(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: dup2 with integers; `to` is replaced atomically.
    let r = unsafe { libc::dup2(from, to) };
    check(r as libc::c_long, || format!("dup2 {from} to {to}")).map(|_| ())
}

/// Closes descriptors 0, 1 and 2 (close_range(2)).
pub fn close_stdio() {
    // SAFETY: close_range with integers; the caller no longer uses its stdio.
    unsafe { libc::syscall(libc::SYS_close_range, 0u32, 2u32, 0u32) };
}

/// Closes every descriptor from 3 up but those in `keep` (close_range(2) over the gaps).
/// The caller must own nothing else above 2: whatever it held there is gone.
pub fn close_all_except(keep: &[RawFd]) {
    let mut keep: Vec<u32> = keep.iter().filter(|&&f| f > 2).map(|&f| f as u32).collect();
    keep.sort_unstable();
    let mut first = 3u32;
    for k in keep {
        if k > first {
            // SAFETY: close_range with integers; the caller owns nothing in this range.
            unsafe { libc::syscall(libc::SYS_close_range, first, k - 1, 0u32) };
        }
        first = first.max(k + 1);
    }
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0u32) };
}

/// Marks every descriptor from `first` up close-on-exec (close_range(2) with
/// CLOSE_RANGE_CLOEXEC): only those below reach what is executed next.
pub fn cloexec_from(first: u32) {
    // SAFETY: close_range with integers only changes descriptor flags.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
}

/// The signal mask as it was before [`block_signals`]; restored by [`SigMask::restore`].
#[derive(Clone, Copy)]
pub struct SigMask(libc::sigset_t);

impl SigMask {
    pub fn restore(&self) {
        // SAFETY: `self.0` is a mask sigprocmask returned; the old mask is not asked for.
        unsafe { libc::sigprocmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }
}

fn sigset(sigs: &[i32]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before use.
    let mut s: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `s` is a valid sigset_t; sigemptyset/sigaddset only write it.
    unsafe {
        libc::sigemptyset(&mut s);
        for &g in sigs {
            libc::sigaddset(&mut s, g);
        }
    }
    s
}

/// Blocks `sigs` and returns a signalfd that reads them, with the mask from before.
pub fn block_signals(sigs: &[i32]) -> io::Result<(OwnedFd, SigMask)> {
    let set = sigset(sigs);
    // SAFETY: sigset_t is plain data; sigprocmask fills it.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: both masks are valid sigset_t values.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old) };
    // SAFETY: `set` is a valid mask; -1 asks for a new descriptor.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok((unsafe { OwnedFd::from_raw_fd(fd) }, SigMask(old)))
}

/// A signal read from a signalfd.
#[derive(Clone, Copy, Debug)]
pub struct SigInfo {
    pub signo: i32,
    /// `si_code`: SI_KERNEL when the terminal sent it, SI_USER for kill(2), ...
    pub code: i32,
}

/// Reads one signal from the signalfd `fd` (None on a short read or an error).
pub fn read_siginfo(fd: &OwnedFd) -> Option<SigInfo> {
    // SAFETY: signalfd_siginfo is plain data.
    let mut si: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: `si` is a valid, writable buffer of `size` bytes.
    let n = unsafe {
        libc::read(
            fd.as_raw_fd(),
            (&mut si as *mut libc::signalfd_siginfo).cast(),
            size,
        )
    };
    (n == size as isize).then_some(SigInfo {
        signo: si.ssi_signo as i32,
        code: si.ssi_code,
    })
}

/// The default action for SIGPIPE (Rust ignores it in its own processes; a command gets it back).
pub fn default_sigpipe() {
    // SAFETY: SIG_DFL is a valid disposition for SIGPIPE.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// PR_SET_PDEATHSIG: SIGKILL when the parent dies.
pub fn die_with_parent() {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
}

/// Undoes [`die_with_parent`]: init, once it has reported, finishes its teardown even when the
/// supervisor has ended.
pub fn outlive_parent() {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0) };
}

/// PR_SET_CHILD_SUBREAPER: orphaned descendants are re-parented to this process.
pub fn become_subreaper() {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

/// PR_SET_NO_NEW_PRIVS.
pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    check(r as libc::c_long, || "no_new_privs".into()).map(|_| ())
}

pub fn sethostname(name: &[u8]) -> io::Result<()> {
    // SAFETY: `name` is a valid buffer of `name.len()` bytes, only read.
    let r = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
    check(r as libc::c_long, || "sethostname".into()).map(|_| ())
}

/// execve(2); returns only on failure, with the error.
pub fn execve(path: &CStr, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: `path`, and every string `a` and `e` point to, are NUL-terminated and live across
    // the call; both arrays end with a null pointer.
    unsafe { libc::execve(path.as_ptr(), a.as_ptr(), e.as_ptr()) };
    io::Error::last_os_error()
}

/// getrusage(RUSAGE_CHILDREN) in microseconds: (user, system, max RSS in KiB).
pub fn rusage_children_us() -> (u64, u64, u64) {
    // SAFETY: rusage is plain data; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let us = |t: libc::timeval| (t.tv_sec as u64) * 1_000_000 + t.tv_usec as u64;
    (us(ru.ru_utime), us(ru.ru_stime), ru.ru_maxrss.max(0) as u64)
}

pub fn egid() -> u32 {
    // SAFETY: getegid has no preconditions and cannot fail.
    unsafe { libc::getegid() }
}

/// mkdtemp(3) on `prefix` followed by six random characters.
pub fn mkdtemp(prefix: &std::path::Path) -> io::Result<std::path::PathBuf> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let mut template = prefix.as_os_str().as_bytes().to_vec();
    template.extend_from_slice(b"XXXXXX\0");
    // SAFETY: `template` is a writable, NUL-terminated buffer that mkdtemp fills in place.
    let p = unsafe { libc::mkdtemp(template.as_mut_ptr().cast()) };
    if p.is_null() {
        return Err(io::Error::last_os_error());
    }
    template.pop();
    Ok(std::path::PathBuf::from(std::ffi::OsString::from_vec(
        template,
    )))
}

/// Whether this kernel has seccomp (PR_GET_SECCOMP answers).
pub fn seccomp_available() -> bool {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 }
}

/// Installs the seccomp filter `prog` on the calling thread (no_new_privs must be set).
pub fn install_seccomp(prog: &[libc::sock_filter]) -> io::Result<()> {
    let len = u16::try_from(prog.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seccomp filter too long"))?;
    let fprog = libc::sock_fprog {
        len,
        filter: prog.as_ptr() as *mut _,
    };
    // SAFETY: `fprog` points at `prog`, initialised instructions alive for the call; the kernel
    // copies them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0u64,
            &fprog as *const libc::sock_fprog,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Tries, in a child process, what the sandbox needs of a user namespace: unshare a user and a
/// mount namespace, deny setgroups, make a mount private.
pub fn try_userns() -> io::Result<()> {
    // SAFETY: the child calls only unshare, open/write/close (through std::fs::write, which
    // allocates: the callers, `doctor` and `Probe::full`, run single-threaded) and mount, then
    // _exit.
    match unsafe { fork() }? {
        Forked::Child => {
            // SAFETY: unshare with flags only.
            let ok = unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) } == 0
                && std::fs::write("/proc/self/setgroups", "deny").is_ok()
                && super::mount(
                    "none",
                    std::path::Path::new("/"),
                    "",
                    libc::MS_REC | libc::MS_PRIVATE,
                    "",
                )
                .is_ok();
            exit_now(if ok { 0 } else { 1 })
        }
        Forked::Parent(pid) => {
            let st = wait_blocking(pid)?;
            if libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0 {
                Ok(())
            } else {
                Err(io::Error::other(
                    "unshare(CLONE_NEWUSER|CLONE_NEWNS) or a mount inside it was refused",
                ))
            }
        }
    }
}

/// Signals blocked for this thread until dropped (then the previous mask is back).
pub struct HeldSignals(libc::sigset_t);

impl HeldSignals {
    pub fn new(sigs: &[i32]) -> HeldSignals {
        let set = sigset(sigs);
        // SAFETY: sigset_t is plain data; pthread_sigmask fills it.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: both masks are valid sigset_t values alive for the call.
        unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
        HeldSignals(old)
    }
}

impl Drop for HeldSignals {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in new(), a valid sigset_t.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }
}
