//! Files, locks, ids and the few facts of the machine read with a system call.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn c_path(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the path"))
}

/// openat2(2): `path` under `dir` (or the working directory), with `flags` and `resolve`
/// (RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS, ...).
pub fn openat2(
    dir: Option<&OwnedFd>,
    path: &Path,
    flags: i32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let c = c_path(path)?;
    // SAFETY: `open_how` is plain data (three u64); zeroed is its documented "no options" value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.resolve = resolve;
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: `c` is a NUL-terminated string and `how` a valid open_how, both alive for the
    // call; the size passed is that of the struct.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat2 returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `name` under `dir` (or an absolute path) opened O_PATH, never following a final symlink.
pub fn open_path_nofollow(dir: Option<&OwnedFd>, name: &Path) -> io::Result<OwnedFd> {
    let c = c_path(name)?;
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: `c` is a NUL-terminated string alive for the call.
    let fd = unsafe {
        libc::openat(
            dirfd,
            c.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// fstat(2) of `fd`: (st_mode, st_size). One system call (std's metadata() is statx, which
/// costs more on the hot path of the audit log).
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<(u32, u64)> {
    // SAFETY: stat is plain data; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable stat; `fd` is open for the call.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((st.st_mode, st.st_size as u64))
}

/// The character device `fd` is open on (its st_rdev), None for anything else. Works on an
/// O_PATH descriptor. A descriptor that is not open is "nothing" (EBADF), never a fault.
pub fn char_device(fd: std::os::fd::RawFd) -> Option<u64> {
    // SAFETY: stat is plain data; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable stat; fstat of a closed number fails with EBADF.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    (st.st_mode & libc::S_IFMT == libc::S_IFCHR).then_some(st.st_rdev)
}

/// The path of the terminal `fd` is open on (ttyname_r: `/dev/pts/3`, `/dev/ttyS0`), None when
/// `fd` is not a terminal (or not open).
pub fn terminal_path(fd: std::os::fd::RawFd) -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let mut buf = vec![0u8; 256];
    // SAFETY: `buf` is writable for its whole length, which is the size passed; a number that
    // is not an open descriptor makes ttyname_r fail (EBADF).
    let r = unsafe { libc::ttyname_r(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0)?;
    buf.truncate(end);
    Some(std::path::PathBuf::from(std::ffi::OsString::from_vec(buf)))
}

/// flock(2) on `fd` with `op` (LOCK_SH, LOCK_EX, LOCK_UN, | LOCK_NB), through EINTR.
pub fn flock(fd: BorrowedFd<'_>, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: flock on an open descriptor; no memory is passed.
        if unsafe { libc::flock(fd.as_raw_fd(), op) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Fills `buf` from the kernel's random generator; false if getrandom(2) is unavailable.
pub fn getrandom(buf: &mut [u8]) -> bool {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: the pointer and length describe the writable rest of `buf`.
        let r = unsafe { libc::getrandom(buf[got..].as_mut_ptr().cast(), buf.len() - got, 0) };
        if r <= 0 {
            if r < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return false;
        }
        got += r as usize;
    }
    true
}

pub fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Physical memory in bytes (sysconf), if the kernel says.
pub fn physical_memory() -> Option<u64> {
    // SAFETY: sysconf takes an integer and has no other effect.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    (pages > 0 && page > 0).then(|| (pages as u64).saturating_mul(page as u64))
}

/// CLOCK_MONOTONIC in microseconds.
pub fn monotonic_us() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000 + ts.tv_nsec / 1000
}

/// The Landlock ABI version of the running kernel (0 = unavailable):
/// landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION).
pub fn landlock_abi() -> i32 {
    // SAFETY: with the VERSION flag the kernel reads no attribute (a null pointer, size 0).
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    if r < 0 {
        0
    } else {
        r as i32
    }
}

/// A page of a file mapped shared, with an atomic u64 counter at a fixed offset in it: every
/// process that maps the same file sees the same counter (the audit log's generation).
pub struct SharedCounter {
    page: std::ptr::NonNull<libc::c_void>,
    offset: usize,
}

// SAFETY: the mapping belongs to the process, not to a thread; it is only read and written
// through an AtomicU64, which is Sync.
unsafe impl Send for SharedCounter {}
// SAFETY: as above.
unsafe impl Sync for SharedCounter {}

const PAGE: usize = 4096;

impl SharedCounter {
    /// Maps the first page of `f`, which the caller has made at least `offset + 8` bytes long;
    /// `offset` must be a multiple of 8 below the page size. None if that is not so, or the
    /// mapping fails.
    pub fn map(f: BorrowedFd<'_>, offset: usize) -> Option<SharedCounter> {
        if offset % 8 != 0 || offset + 8 > PAGE {
            return None;
        }
        // SAFETY: a new shared mapping of one page of an open file; no existing memory is
        // touched.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        std::ptr::NonNull::new(p).map(|page| SharedCounter { page, offset })
    }

    pub fn get(&self) -> &std::sync::atomic::AtomicU64 {
        // SAFETY: `offset` is 8-aligned and 8 bytes fit below the end of the page-aligned
        // mapping (checked in `map`), which lives as long as `self`; the file is at least that
        // long (the caller's contract), so the access does not fault.
        unsafe {
            &*(self.page.as_ptr().cast::<u8>().add(self.offset)
                as *const std::sync::atomic::AtomicU64)
        }
    }
}

impl Drop for SharedCounter {
    fn drop(&mut self) {
        // SAFETY: unmaps the page `map` mapped; no reference from `get` outlives `self`.
        unsafe { libc::munmap(self.page.as_ptr(), PAGE) };
    }
}

/// The login name of `uid` (getpwuid_r).
pub fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: passwd is plain data; zeroed is a valid "empty" value for getpwuid_r to fill.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut res: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is to live local storage of the sizes given.
    let r = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut res) };
    if r != 0 || res.is_null() || pw.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points to a NUL-terminated string inside `buf`, alive here.
    let s = unsafe { std::ffi::CStr::from_ptr(pw.pw_name) };
    Some(s.to_string_lossy().into_owned())
}

/// A terminal's settings (tcgetattr), if `fd` is a terminal.
pub fn tty_settings(fd: BorrowedFd<'_>) -> Option<libc::termios> {
    // SAFETY: termios is plain data; tcgetattr fills it.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open for the call; `t` is writable.
    (unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) } == 0).then_some(t)
}

/// tcsetattr(TCSANOW).
pub fn set_tty_settings(fd: BorrowedFd<'_>, t: &libc::termios) {
    // SAFETY: `t` is a valid termios, only read; `fd` is open for the call.
    unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, t) };
}

/// Discards a terminal's unread input (tcflush TCIFLUSH).
pub fn flush_tty_input(fd: BorrowedFd<'_>) {
    // SAFETY: tcflush on an open descriptor; no memory is passed.
    unsafe { libc::tcflush(fd.as_raw_fd(), libc::TCIFLUSH) };
}
