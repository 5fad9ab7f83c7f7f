//! System calls the trusted supervisor makes outside the sandbox, behind safe functions (the
//! other crates forbid `unsafe`): who the user is, what the children used, locks, the terminal,
//! the audit log's shared counter and random bytes. Implemented in `sys`.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;

/// The real user id.
pub fn uid() -> u32 {
    crate::sys::fs::uid()
}

/// The effective user id.
pub fn euid() -> u32 {
    crate::sys::fs::euid()
}

/// The login name of `uid` (getpwuid_r), else `$USER`, else the number.
pub fn user_name(uid: u32) -> String {
    crate::sys::fs::user_name(uid)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| uid.to_string())
}

/// getrusage(RUSAGE_CHILDREN) of this process: (user ms, sys ms, max RSS KiB).
pub fn rusage_children() -> (u64, u64, u64) {
    let (user, sys, rss) = crate::sys::process::rusage_children_us();
    (user / 1000, sys / 1000, rss)
}

/// SIGKILL to the process group `pgid` (a child started with `process_group(0)` and its own
/// children).
pub fn kill_process_group(pgid: u32) {
    crate::sys::process::kill(-(pgid as libc::pid_t), libc::SIGKILL);
}

/// SIGTERM to the process `pid` (a child that forwards it and ends: `cordon run`).
pub fn terminate(pid: u32) {
    crate::sys::process::kill(pid as libc::pid_t, libc::SIGTERM);
}

/// A pipe (read end, write end), both close-on-exec: e.g. for a command's stdio given to
/// [`crate::run_with`].
pub fn pipe() -> io::Result<(File, File)> {
    crate::sys::pipe().map(|(r, w)| (File::from(r), File::from(w)))
}

/// Takes an exclusive `flock` on `f`, waiting for it (through EINTR).
pub fn lock_exclusive(f: &File) -> io::Result<()> {
    crate::sys::fs::flock(f.as_fd(), libc::LOCK_EX)
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
        let saved = crate::sys::fs::tty_settings(tty.as_fd());
        if let Some(saved) = saved {
            let mut t = saved;
            t.c_lflag |= libc::ICANON | libc::ECHO | libc::ISIG;
            t.c_iflag |= libc::ICRNL;
            crate::sys::fs::set_tty_settings(tty.as_fd(), &t);
        }
        LineMode { tty, saved }
    }

    /// Discards what was typed and not read yet (type-ahead cannot answer a question).
    pub fn discard_input(&self) {
        crate::sys::fs::flush_tty_input(self.tty.as_fd());
    }
}

impl Drop for LineMode<'_> {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            crate::sys::fs::set_tty_settings(self.tty.as_fd(), saved);
        }
    }
}

/// A shared, process-wide u64 counter at `offset` in the first page of a file (the audit log's
/// generation counter). See [`crate::sys::fs::SharedCounter::map`] for the contract.
pub use crate::sys::fs::SharedCounter;

/// An advisory lock (`flock`) on `f`: `LOCK_SH`, `LOCK_EX` or `LOCK_UN`, waiting through EINTR.
pub fn flock(f: &File, op: libc::c_int) -> io::Result<()> {
    crate::sys::fs::flock(f.as_fd(), op)
}

/// fstat(2) of `f`: (mode, size). One system call, cheaper than `metadata()` (statx).
pub fn fstat(f: &File) -> io::Result<(u32, u64)> {
    crate::sys::fs::fstat(f.as_fd())
}

/// Fills `buf` from the kernel's random generator; false if it is unavailable.
pub fn random_bytes(buf: &mut [u8]) -> bool {
    crate::sys::fs::getrandom(buf)
}
