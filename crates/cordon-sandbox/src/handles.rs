//! Directory handles: what the supervisor does to paths a sandboxed command could have touched
//! (read, create, rename, remove) goes through these, never by re-resolving a path string.
//!
//! A path is opened once from a trusted directory with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)`: no component may be a symlink and nothing may escape the directory,
//! whatever the command left there. What was inspected is then acted on by name *relative to
//! that handle*, after checking that the name still refers to the same device and inode.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A timestamp as the kernel stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Ts {
    pub sec: i64,
    pub nsec: u32,
}

impl Ts {
    pub fn now() -> Ts {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: t is a valid timespec to write into.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut t) };
        Ts {
            sec: t.tv_sec,
            nsec: t.tv_nsec as u32,
        }
    }

    /// Whether a ctime may have been set at or after `t0`: the kernel stamps files from a
    /// coarse clock (a tick behind real time at most), and file systems with coarse timestamps
    /// (no sub-second part) round down to the second or two.
    pub fn maybe_after(self, t0: Ts) -> bool {
        let slack_ms = if self.nsec == 0 {
            2_000
        } else {
            coarse_tick_ms()
        };
        self >= t0.minus_ms(slack_ms)
    }

    /// `self` minus `ms` milliseconds.
    pub fn minus_ms(self, ms: i64) -> Ts {
        let total = self.sec as i128 * 1_000_000_000 + self.nsec as i128 - ms as i128 * 1_000_000;
        Ts {
            sec: total.div_euclid(1_000_000_000) as i64,
            nsec: total.rem_euclid(1_000_000_000) as u32,
        }
    }
}

/// The resolution of the coarse clock that stamps ctimes (one tick: 1 to 10 ms), rounded up.
pub fn coarse_tick_ms() -> i64 {
    static T: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *T.get_or_init(|| {
        let mut r = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: r is a valid timespec to write into.
        if unsafe { libc::clock_getres(libc::CLOCK_REALTIME_COARSE, &mut r) } != 0 {
            return 10;
        }
        (r.tv_sec * 1000 + (r.tv_nsec + 999_999) / 1_000_000).clamp(1, 1000)
    })
}

/// What `statx` says about an entry (the fields cordon uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    /// `S_IFMT` bits and permissions.
    pub mode: u32,
    pub nlink: u32,
    pub size: u64,
    pub ctime: Ts,
}

impl Stat {
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }
    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }
    pub fn is_symlink(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFLNK
    }
    /// Same device and inode.
    pub fn same(&self, o: &Stat) -> bool {
        self.dev == o.dev && self.ino == o.ino
    }
}

fn cname(name: &[u8]) -> io::Result<CString> {
    CString::new(name).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a file name contains a NUL byte",
        )
    })
}

/// `statx(dir, name)`; `follow`: follow a symlink in the last component. `name` is one
/// component (or empty with `dir` itself meant).
pub fn statx_at(dir: BorrowedFd<'_>, name: &[u8], follow: bool) -> io::Result<Stat> {
    let c = cname(name)?;
    let mut flags = libc::AT_STATX_SYNC_AS_STAT;
    if !follow {
        flags |= libc::AT_SYMLINK_NOFOLLOW;
    }
    if name.is_empty() {
        flags |= libc::AT_EMPTY_PATH;
    }
    // SAFETY: statx is plain data; zeroed is a valid value.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: c is NUL-terminated, st is ours to write, dir is an open descriptor.
    let r = unsafe {
        libc::statx(
            dir.as_raw_fd(),
            c.as_ptr(),
            flags,
            libc::STATX_TYPE
                | libc::STATX_MODE
                | libc::STATX_INO
                | libc::STATX_NLINK
                | libc::STATX_SIZE
                | libc::STATX_CTIME,
            &mut st,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Stat {
        dev: libc::makedev(st.stx_dev_major, st.stx_dev_minor),
        ino: st.stx_ino,
        mode: st.stx_mode as u32,
        nlink: st.stx_nlink,
        size: st.stx_size,
        ctime: Ts {
            sec: st.stx_ctime.tv_sec,
            nsec: st.stx_ctime.tv_nsec,
        },
    })
}

/// `fstat` of an open descriptor.
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<Stat> {
    statx_at(fd, b"", false)
}

/// `openat2(dir, rel, flags, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`: `rel` stays below `dir`
/// and crosses no symlink (nor magic link). With `O_PATH | O_NOFOLLOW`, a symlink as the last
/// component is opened itself.
pub fn open_beneath(dir: BorrowedFd<'_>, rel: &Path, flags: i32) -> io::Result<OwnedFd> {
    let rel_bytes = rel.as_os_str().as_bytes();
    let c = cname(if rel_bytes.is_empty() {
        b"."
    } else {
        rel_bytes
    })?;
    openat2(
        dir.as_raw_fd(),
        &c,
        flags,
        libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS,
    )
}

/// Opens an absolute path crossing no symlink at all (`RESOLVE_NO_SYMLINKS`).
pub fn open_no_symlinks(path: &Path, flags: i32) -> io::Result<OwnedFd> {
    let c = cname(path.as_os_str().as_bytes())?;
    openat2(libc::AT_FDCWD, &c, flags, libc::RESOLVE_NO_SYMLINKS)
}

fn openat2(dirfd: i32, c: &CString, flags: i32, resolve: u64) -> io::Result<OwnedFd> {
    // SAFETY: open_how is plain data; zeroed is valid (and required for its padding).
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    // SAFETY: c is NUL-terminated; how is a valid open_how of the size passed.
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
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOSYS) {
            return Err(io::Error::other(
                "openat2 is not available (Linux 5.6 or newer is needed)",
            ));
        }
        return Err(e);
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Opens the single entry `name` of `dir` (no slash), never following a symlink.
pub fn open_entry(dir: BorrowedFd<'_>, name: &[u8], flags: i32) -> io::Result<OwnedFd> {
    if name.contains(&b'/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a single name",
        ));
    }
    let c = cname(name)?;
    // SAFETY: c is NUL-terminated; dir is open.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One directory entry as `getdents64` gives it: no `stat` per entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: Vec<u8>,
    pub ino: u64,
    /// `DT_*`; `DT_UNKNOWN` on file systems that do not fill it in.
    pub dtype: u8,
}

/// Reads every entry of the directory open at `fd` (O_RDONLY | O_DIRECTORY), without `.` and
/// `..`. `budget` is decreased by the number of entries; reading stops (Err) when it reaches 0.
pub fn read_dir(fd: BorrowedFd<'_>, budget: &mut u64) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // SAFETY: buf is ours, of the length passed; fd is an open directory.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            return Ok(out);
        }
        let n = n as usize;
        let mut off = 0;
        // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
        while off + 19 <= n {
            let ino = u64::from_ne_bytes(buf[off..off + 8].try_into().unwrap_or([0; 8]));
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            let dtype = buf[off + 18];
            if reclen < 19 || off + reclen > n {
                return Err(io::Error::other("getdents64: malformed record"));
            }
            let name_area = &buf[off + 19..off + reclen];
            let len = name_area
                .iter()
                .position(|b| *b == 0)
                .unwrap_or(name_area.len());
            let name = &name_area[..len];
            off += reclen;
            if name == b"." || name == b".." {
                continue;
            }
            if *budget == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    "the entry limit was reached",
                ));
            }
            *budget -= 1;
            out.push(Entry {
                name: name.to_vec(),
                ino,
                dtype,
            });
        }
    }
}

/// Reads at most `max` bytes of the regular file `name` in `dir` (never through a symlink);
/// returns what it read and the file's stat (taken on the open file).
pub fn read_file_at(dir: BorrowedFd<'_>, name: &[u8], max: usize) -> io::Result<(Stat, Vec<u8>)> {
    let fd = open_entry(dir, name, libc::O_RDONLY | libc::O_NONBLOCK)?;
    let st = fstat(fd.as_fd())?;
    if !st.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while out.len() < max {
        let want = buf.len().min(max - out.len());
        // SAFETY: buf is ours, at least `want` long; fd is open.
        let r = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), want) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            break;
        }
        out.extend_from_slice(&buf[..r as usize]);
    }
    Ok((st, out))
}

/// Reads the target of the symlink `name` in `dir`.
pub fn read_link_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Vec<u8>> {
    let c = cname(name)?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: c is NUL-terminated, buf is ours of the length passed.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            c.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// Renames `from` to `to` inside `dir`, never replacing an existing `to`, after checking that
/// `from` is still the entry `expect` describes (device and inode).
pub fn rename_checked(
    dir: BorrowedFd<'_>,
    from: &[u8],
    to: &[u8],
    expect: &Stat,
) -> io::Result<()> {
    let now = statx_at(dir, from, false)?;
    if !now.same(expect) {
        return Err(io::Error::other(
            "it changed since it was inspected (another inode is there now)",
        ));
    }
    let f = cname(from)?;
    let t = cname(to)?;
    // SAFETY: both names NUL-terminated, dir open.
    let r = unsafe {
        libc::renameat2(
            dir.as_raw_fd(),
            f.as_ptr(),
            dir.as_raw_fd(),
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Creates the directory `name` in `dir` (mode), returning its stat.
pub fn mkdir_at(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> io::Result<Stat> {
    let c = cname(name)?;
    // SAFETY: c NUL-terminated, dir open.
    if unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode) } != 0 {
        return Err(io::Error::last_os_error());
    }
    statx_at(dir, name, false)
}

/// Creates the empty regular file `name` in `dir` (O_EXCL: never an existing one, never
/// through a symlink), returning its stat.
pub fn create_file_at(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> io::Result<Stat> {
    fstat(create_file_fd(dir, name, mode)?.as_fd())
}

/// Creates the regular file `name` in `dir` (O_EXCL: never an existing one, never through a
/// symlink) and returns it open for writing.
pub fn create_file_fd(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> io::Result<OwnedFd> {
    let c = cname(name)?;
    // SAFETY: c NUL-terminated, dir open.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            mode,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Renames `from` to `to` inside `dir`, atomically replacing whatever `to` is (renameat(2):
/// a symlink named `to` is replaced itself, never followed).
pub fn replace_at(dir: BorrowedFd<'_>, from: &[u8], to: &[u8]) -> io::Result<()> {
    let f = cname(from)?;
    let t = cname(to)?;
    // SAFETY: both names NUL-terminated, dir open.
    if unsafe { libc::renameat(dir.as_raw_fd(), f.as_ptr(), dir.as_raw_fd(), t.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Removes the entry `name` (not a directory) from `dir`.
pub fn unlink_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let c = cname(name)?;
    // SAFETY: c NUL-terminated, dir open.
    if unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The file system type (`f_type`, a `*_SUPER_MAGIC` number) of the file open at `fd`
/// (fstatfs(2)); the magic numbers are 32 bits whatever the width of `f_type`.
pub fn fs_magic(fd: BorrowedFd<'_>) -> io::Result<u32> {
    // SAFETY: statfs is plain data; zeroed is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: st is ours to write, fd is open for the call.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_type as u32)
}

/// Removes `name` from `dir` if it is still the entry `expect` describes (device and inode):
/// a directory with `rmdir` semantics (fails if not empty), a file only if empty.
pub fn remove_checked(dir: BorrowedFd<'_>, name: &[u8], expect: &Stat) -> io::Result<()> {
    let now = statx_at(dir, name, false)?;
    if !now.same(expect) {
        return Err(io::Error::other("another file is there now; left alone"));
    }
    let flags = if now.is_dir() {
        libc::AT_REMOVEDIR
    } else if now.is_file() && now.size == 0 {
        0
    } else {
        return Err(io::Error::other("no longer empty; left alone"));
    };
    let c = cname(name)?;
    // SAFETY: c NUL-terminated, dir open.
    if unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The `DT_*` type of a stat's mode.
pub fn dtype_of(st: &Stat) -> u8 {
    match st.mode & libc::S_IFMT {
        libc::S_IFDIR => libc::DT_DIR,
        libc::S_IFREG => libc::DT_REG,
        libc::S_IFLNK => libc::DT_LNK,
        libc::S_IFSOCK => libc::DT_SOCK,
        libc::S_IFIFO => libc::DT_FIFO,
        libc::S_IFCHR => libc::DT_CHR,
        libc::S_IFBLK => libc::DT_BLK,
        _ => libc::DT_UNKNOWN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beneath_refuses_symlinks_and_escapes() {
        let d = std::env::temp_dir().join(format!("cordon-handles-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        std::os::unix::fs::symlink("/etc", d.join("a/link")).unwrap();
        let root = open_no_symlinks(&d, libc::O_PATH | libc::O_DIRECTORY).unwrap();
        assert!(open_beneath(root.as_fd(), Path::new("a/b"), libc::O_PATH).is_ok());
        assert!(open_beneath(root.as_fd(), Path::new("a/link"), libc::O_PATH).is_err());
        assert!(open_beneath(root.as_fd(), Path::new("a/link/passwd"), libc::O_PATH).is_err());
        assert!(open_beneath(root.as_fd(), Path::new("../x"), libc::O_PATH).is_err());
        assert!(open_no_symlinks(&d.join("a/link"), libc::O_PATH).is_err());
        let a = open_beneath(
            root.as_fd(),
            Path::new("a"),
            libc::O_RDONLY | libc::O_DIRECTORY,
        )
        .unwrap();
        let mut budget = 10;
        let mut names: Vec<Vec<u8>> = read_dir(a.as_fd(), &mut budget)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        names.sort();
        assert_eq!(names, vec![b"b".to_vec(), b"link".to_vec()]);
        assert_eq!(budget, 8);
        let st = statx_at(a.as_fd(), b"b", false).unwrap();
        rename_checked(a.as_fd(), b"b", b"c", &st).unwrap();
        assert!(d.join("a/c").is_dir());
        remove_checked(a.as_fd(), b"c", &st).unwrap();
        assert!(!d.join("a/c").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn ts_arithmetic() {
        let t = Ts { sec: 10, nsec: 5 };
        assert_eq!(
            t.minus_ms(1),
            Ts {
                sec: 9,
                nsec: 999_000_005
            }
        );
        assert_eq!(t.minus_ms(0), t);
    }
}
