//! System calls the trusted supervisor makes outside the sandbox, behind safe functions (the
//! other crates forbid `unsafe`): who the user is, what the children used, locks, the terminal.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// The real user id.
pub fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// The effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The login name of `uid` (getpwuid_r), else `$USER`, else the number.
pub fn user_name(uid: u32) -> String {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: passwd is plain data; zeroed is a valid "empty" value for getpwuid_r to fill.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut res: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is to live local storage of the sizes given.
    let r = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut res) };
    if r == 0 && !res.is_null() && !pw.pw_name.is_null() {
        // SAFETY: on success pw_name points to a NUL-terminated string inside `buf`, alive here.
        let s = unsafe { std::ffi::CStr::from_ptr(pw.pw_name) };
        return s.to_string_lossy().into_owned();
    }
    std::env::var("USER").unwrap_or_else(|_| uid.to_string())
}

/// getrusage(RUSAGE_CHILDREN) of this process: (user ms, sys ms, max RSS KiB).
pub fn rusage_children() -> (u64, u64, u64) {
    // SAFETY: rusage is plain data; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) } != 0 {
        return (0, 0, 0);
    }
    let ms = |t: libc::timeval| (t.tv_sec as u64) * 1000 + (t.tv_usec as u64) / 1000;
    (ms(ru.ru_utime), ms(ru.ru_stime), ru.ru_maxrss.max(0) as u64)
}

/// SIGKILL to the process group `pgid` (a child started with `process_group(0)` and its own
/// children).
pub fn kill_process_group(pgid: u32) {
    // SAFETY: kill takes plain integers; a group that is gone gives ESRCH, ignored.
    unsafe { libc::kill(-(pgid as libc::pid_t), libc::SIGKILL) };
}

/// SIGTERM to the process `pid` (a child that forwards it and ends: `cordon run`).
pub fn terminate(pid: u32) {
    // SAFETY: kill takes plain integers; a process that is gone gives ESRCH, ignored.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
}

/// Takes an exclusive `flock` on `f`, waiting for it (through EINTR).
pub fn lock_exclusive(f: &File) -> io::Result<()> {
    loop {
        // SAFETY: flock on a descriptor `f` owns; no memory is passed.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The controlling terminal, `/dev/tty`, for reading and writing (never the command's stdin or
/// stdout); it does not become the controlling terminal of cordon if it is not already.
pub fn open_tty() -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open("/dev/tty")
}

/// A terminal put in line mode with echo (for typing an answer); its settings are restored when
/// this is dropped.
pub struct LineMode<'a> {
    tty: &'a File,
    saved: Option<libc::termios>,
}

impl<'a> LineMode<'a> {
    /// Canonical input, echo, signals from keys, CR read as NL. A terminal whose settings
    /// cannot be read is left as it is.
    pub fn new(tty: &'a File) -> LineMode<'a> {
        let fd = tty.as_raw_fd();
        // SAFETY: termios is plain data; tcgetattr fills it.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is open for the life of `tty`; `saved` is writable.
        let have = unsafe { libc::tcgetattr(fd, &mut saved) } == 0;
        if have {
            let mut t = saved;
            t.c_lflag |= libc::ICANON | libc::ECHO | libc::ISIG;
            t.c_iflag |= libc::ICRNL;
            // SAFETY: `t` is a valid termios derived from the terminal's own.
            unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) };
        }
        LineMode {
            tty,
            saved: have.then_some(saved),
        }
    }

    /// Discards what was typed and not read yet (type-ahead cannot answer a question).
    pub fn discard_input(&self) {
        // SAFETY: tcflush on an open descriptor; no memory is passed.
        unsafe { libc::tcflush(self.tty.as_raw_fd(), libc::TCIFLUSH) };
    }
}

impl Drop for LineMode<'_> {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            // SAFETY: restores the settings read from this terminal in `new`.
            unsafe { libc::tcsetattr(self.tty.as_raw_fd(), libc::TCSANOW, saved) };
        }
    }
}
