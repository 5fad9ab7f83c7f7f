//! Thin wrappers over the system calls the sandbox uses. Each returns io::Error with the path or
//! the operation named, so a failed setup says exactly what failed.
//!
//! The crate's only `unsafe` code lives here (lib.rs denies it elsewhere): each block says why it
//! is sound in a `// SAFETY:` comment.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub mod fs;
pub mod net;
pub mod process;

pub fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: path contains a NUL byte", p.display()),
        )
    })
}

pub fn check(r: libc::c_long, what: impl FnOnce() -> String) -> io::Result<libc::c_long> {
    if r < 0 {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("{}: {e}", what())))
    } else {
        Ok(r)
    }
}

// Mount API constants (include/uapi/linux/mount.h); not all are in the libc crate.
pub const OPEN_TREE_CLONE: u32 = 1;
pub const OPEN_TREE_CLOEXEC: u32 = libc::O_CLOEXEC as u32;
pub const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A detached copy of the mount (tree) at `path`: later mounts over `path` do not affect it.
pub fn open_tree_clone(path: &Path, recursive: bool) -> io::Result<OwnedFd> {
    let c = cstr(path)?;
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    let fd = check(
        // SAFETY: `c` is a NUL-terminated path alive for the call; the rest are integers.
        unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) },
        || format!("open_tree {}", path.display()),
    )?;
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Sets mount attributes on the mount(s) at `fd` (a detached tree) or at `path`.
pub fn mount_setattr(
    fd: Option<&OwnedFd>,
    path: &Path,
    set: u64,
    recursive: bool,
) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let (dirfd, c, mut flags) = match fd {
        Some(f) => (
            f.as_raw_fd(),
            CString::default(),
            libc::AT_EMPTY_PATH as u32,
        ),
        None => (libc::AT_FDCWD, cstr(path)?, 0u32),
    };
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    check(
        // SAFETY: `attr` is a valid mount_attr of the size passed, `c` a NUL-terminated path
        // (empty with AT_EMPTY_PATH), both alive for the call.
        unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                dirfd,
                c.as_ptr(),
                flags,
                &attr as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            )
        },
        || format!("mount_setattr {}", path.display()),
    )?;
    Ok(())
}

/// Attaches the detached tree `fd` at `target`.
pub fn move_mount(fd: &OwnedFd, target: &Path) -> io::Result<()> {
    let c = cstr(target)?;
    let empty: &CStr = c"";
    check(
        // SAFETY: `empty` and `c` are NUL-terminated strings alive for the call.
        unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                fd.as_raw_fd(),
                empty.as_ptr(),
                libc::AT_FDCWD,
                c.as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH,
            )
        },
        || format!("mount on {}", target.display()),
    )?;
    Ok(())
}

/// Whether the running kernel's release is at least `major.minor` (uname(2)).
pub fn kernel_at_least(major: u32, minor: u32) -> bool {
    // SAFETY: uname fills the zeroed struct we own.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return false;
    }
    let rel: Vec<u8> = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    release_version(&String::from_utf8_lossy(&rel)) >= (major, minor)
}

/// (major, minor) of a kernel release string (`6.18.0-1-amd64`); 0 for what is missing.
pub fn release_version(rel: &str) -> (u32, u32) {
    let mut it = rel
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// Moves the calling process into a new mount namespace, a copy of its current one, and
/// returns a descriptor of the namespace it left (the "spare"): while the descriptor is open, the
/// spare lives on with its mounts as they were. The caller must be single-threaded (unshare
/// refuses to split a shared file system context) and hold CAP_SYS_ADMIN in the user namespace
/// that owns the mount namespace (init of the sandbox does).
pub fn spare_mount_namespace() -> io::Result<OwnedFd> {
    let spare = std::fs::File::open("/proc/self/ns/mnt")
        .map(OwnedFd::from)
        .map_err(|e| io::Error::new(e.kind(), format!("open /proc/self/ns/mnt: {e}")))?;
    check(
        // SAFETY: unshare takes flags only.
        unsafe { libc::unshare(libc::CLONE_NEWNS) } as libc::c_long,
        || "unshare(CLONE_NEWNS)".to_string(),
    )?;
    Ok(spare)
}

/// Moves the calling process into the mount namespace `ns` (a descriptor of
/// [`spare_mount_namespace`]). When the caller was the last process of the namespace it leaves,
/// the kernel takes that namespace's whole mount tree down in this call: one unmount of the
/// tree (one RCU grace period for all its mounts), and the last reference of each mount is
/// dropped as task work that runs before the call returns to user space, so every file system
/// only that namespace held (its superblock) is gone when this returns.
pub fn enter_mount_namespace(ns: &OwnedFd) -> io::Result<()> {
    check(
        // SAFETY: setns on a descriptor we own, with a namespace type flag.
        unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNS) } as libc::c_long,
        || "setns(CLONE_NEWNS)".to_string(),
    )?;
    Ok(())
}

pub fn mount(
    src: &str,
    target: &Path,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> io::Result<()> {
    let s = CString::new(src).map_err(io::Error::other)?;
    let t = cstr(target)?;
    let f = CString::new(fstype).map_err(io::Error::other)?;
    let d = CString::new(data).map_err(io::Error::other)?;
    // SAFETY: every pointer is a NUL-terminated string alive for the call, or null where mount
    // accepts it (no file system type, no data).
    let r = unsafe {
        libc::mount(
            s.as_ptr(),
            t.as_ptr(),
            if fstype.is_empty() {
                std::ptr::null()
            } else {
                f.as_ptr()
            },
            flags,
            if data.is_empty() {
                std::ptr::null()
            } else {
                d.as_ptr() as *const libc::c_void
            },
        )
    };
    check(r as libc::c_long, || {
        format!("mount {fstype} on {}", target.display())
    })?;
    Ok(())
}

pub fn write_file(path: &str, data: &[u8]) -> io::Result<()> {
    std::fs::write(path, data).map_err(|e| io::Error::new(e.kind(), format!("write {path}: {e}")))
}

pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    check(
        // SAFETY: `fds` is a writable array of two ints.
        unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } as libc::c_long,
        || "pipe".into(),
    )?;
    // SAFETY: pipe2 returned two new descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Writes all of `buf` to `fd`, ignoring errors (used to report failures to the supervisor).
pub fn write_all(fd: RawFd, buf: &[u8]) {
    let mut off = 0;
    while off < buf.len() {
        // SAFETY: the pointer and length describe the unwritten rest of `buf`, only read.
        let r = unsafe {
            libc::write(
                fd,
                buf[off..].as_ptr() as *const libc::c_void,
                buf.len() - off,
            )
        };
        if r <= 0 {
            if r < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        off += r as usize;
    }
}

/// One byte from `fd` (blocking; retried when interrupted); None at EOF or on an error.
pub fn read_byte(fd: &OwnedFd) -> Option<u8> {
    let mut b = 0u8;
    loop {
        // SAFETY: reads one byte into a local.
        let r = unsafe { libc::read(fd.as_raw_fd(), (&mut b as *mut u8).cast(), 1) };
        if r < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        return (r == 1).then_some(b);
    }
}

pub fn read_to_end(fd: &OwnedFd) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: `buf` is a writable buffer of `buf.len()` bytes.
        let r = unsafe {
            libc::read(
                fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
            )
        };
        if r < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if r <= 0 {
            return out;
        }
        out.extend_from_slice(&buf[..r as usize]);
    }
}

/// Drops every capability: bounding set, ambient, inheritable, permitted, effective; and locks
/// the securebits so that uid 0 does not regain them at execve.
pub fn drop_capabilities() -> io::Result<()> {
    // SAFETY: prctl and capset with integers, and pointers to the local header and data below,
    // alive for the calls; nothing else is touched.
    unsafe {
        // The bounding set first: dropping from it needs CAP_SETPCAP, which the capset below removes.
        for cap in 0..64 {
            if libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) != 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    // The first capability this kernel does not know: the set is empty now.
                    Some(libc::EINVAL) => break,
                    // No CAP_SETPCAP (non-root in the fallback), where the bounding set cannot
                    // matter: with no_new_privs and no capabilities, execve grants nothing.
                    Some(libc::EPERM) => break,
                    _ => {
                        return Err(io::Error::new(
                            e.kind(),
                            format!("drop capability {cap}: {e}"),
                        ))
                    }
                }
            }
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        // SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | ..._LOCKED |
        // SECBIT_KEEP_CAPS_LOCKED: uid 0 gets no capabilities from execve.
        let bits: libc::c_ulong = 0x01 | 0x02 | 0x04 | 0x08 | 0x20;
        if libc::prctl(libc::PR_SET_SECUREBITS, bits, 0, 0, 0) != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EPERM) {
                return Err(io::Error::new(e.kind(), format!("set securebits: {e}")));
            }
        }
        #[repr(C)]
        struct Hdr {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        let hdr = Hdr {
            version: 0x2008_0522,
            pid: 0,
        }; // _LINUX_CAPABILITY_VERSION_3
        let data = [
            Data {
                effective: 0,
                permitted: 0,
                inheritable: 0,
            },
            Data {
                effective: 0,
                permitted: 0,
                inheritable: 0,
            },
        ];
        if libc::syscall(libc::SYS_capset, &hdr as *const Hdr, data.as_ptr()) != 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("capset: {e}")));
        }
    }
    Ok(())
}

pub fn set_rlimit(res: libc::__rlimit_resource_t, value: u64) -> io::Result<()> {
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `cur` is a valid, writable rlimit.
    unsafe { libc::getrlimit(res, &mut cur) };
    // Never raise: a limit already lower (set by the user's shell) stays.
    let max = value.min(cur.rlim_max);
    let lim = libc::rlimit {
        rlim_cur: cur.rlim_cur.min(max),
        rlim_max: max,
    };
    // SAFETY: `lim` is a valid rlimit, only read.
    if unsafe { libc::setrlimit(res, &lim) } != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("setrlimit {res}: {e}")));
    }
    Ok(())
}

/// May this process connect to the unix socket at `path`: `access(W_OK)`, which checks what
/// `connect` checks (search on every directory, write on the socket file) for the caller's
/// real ids, which are cordon's ids and the command's.
pub fn may_write(path: &Path) -> bool {
    let Ok(c) = cstr(path) else { return false };
    // SAFETY: `c` is a valid NUL-terminated string that lives across the call; access(2)
    // only reads it.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

#[cfg(test)]
mod release_tests {
    #[test]
    fn release_versions() {
        assert_eq!(super::release_version("6.18.0-1-amd64"), (6, 18));
        assert_eq!(
            super::release_version("5.15.167.4-microsoft-standard-WSL2"),
            (5, 15)
        );
        assert_eq!(super::release_version(""), (0, 0));
        assert!(super::kernel_at_least(3, 0));
    }
}
