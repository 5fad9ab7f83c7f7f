//! Sockets: the socket table, the loopback interface of a new network namespace, and passing
//! a descriptor between processes.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::check;

/// `ip link set lo up` in the current network namespace (SIOCSIFFLAGS on a throwaway socket).
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: socket(2) takes no pointers.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    check(s as libc::c_long, || "socket".into())?;
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    let s = unsafe { OwnedFd::from_raw_fd(s) };
    // SAFETY: ifreq is plain data; zeroed is a valid empty request.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo".iter().enumerate() {
        ifr.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name from and writes the flags into `ifr`, a valid ifreq.
    if unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    unsafe { ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
    // SAFETY: SIOCSIFFLAGS only reads `ifr`.
    if unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCSIFFLAGS as _, &ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A connected pair of unix stream sockets, close-on-exec.
pub fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a writable array of two ints.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    check(r as libc::c_long, || "socketpair".into())?;
    // SAFETY: the kernel just returned both descriptors; nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sends the descriptor `fd` over the unix socket `sock` (SCM_RIGHTS, with one data byte).
pub fn send_fd(sock: &OwnedFd, fd: RawFd) -> io::Result<()> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // u64 elements: aligned for cmsghdr.
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is arithmetic.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as _;
    // SAFETY: `msg` points to `cbuf` (64 bytes, aligned), larger than one cmsghdr holding one
    // int: CMSG_FIRSTHDR is non-null and every write below stays inside `cbuf`.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd);
    }
    // SAFETY: `msg` and everything it points to (iov, byte, cbuf) live across the call.
    let r = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, 0) };
    check(r as libc::c_long, || "sendmsg".into()).map(|_| ())
}

/// Receives a descriptor sent by [`send_fd`] as a TCP listener (close-on-exec).
pub fn recv_listener(sock: &OwnedFd) -> io::Result<std::net::TcpListener> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    // SAFETY: `msg` points to live, writable buffers of the sizes it states.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n <= 0 {
        return Err(io::Error::other(
            "the sandbox did not hand out the proxy socket",
        ));
    }
    // SAFETY: recvmsg set msg_controllen to what it wrote into `cbuf`: CMSG_FIRSTHDR returns
    // null or a header inside it.
    let c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    // SAFETY: `c` is non-null and points into `cbuf` (checked first).
    if c.is_null() || unsafe { (*c).cmsg_type } != libc::SCM_RIGHTS {
        return Err(io::Error::other("no descriptor received"));
    }
    // SAFETY: an SCM_RIGHTS message carries at least one int after its header, inside `cbuf`.
    let fd = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const RawFd) };
    // SAFETY: the kernel installed this descriptor in our table for us; nothing else owns it.
    Ok(unsafe { std::net::TcpListener::from_raw_fd(fd) })
}

// sock_diag for unix sockets (include/uapi/linux/sock_diag.h, unix_diag.h, netlink.h).
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_HDRLEN: usize = 16;

/// Dumps the unix sockets of this network namespace whose state is in `states` (a bit per
/// `TCP_*` state) through the sock_diag netlink interface, asking for the attributes in `show`
/// (`UDIAG_SHOW_*`). `each` gets every `unix_diag_msg` with its attributes, and returns false to
/// stop early. Works unprivileged; fails where the kernel lacks `CONFIG_UNIX_DIAG`.
pub fn unix_diag_dump(
    states: u32,
    show: u32,
    mut each: impl FnMut(&[u8]) -> bool,
) -> io::Result<()> {
    // SAFETY: socket(2) takes no pointers; the returned descriptor is checked and owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    check(fd as libc::c_long, || "sock_diag socket".into())?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // nlmsghdr (16 bytes) + unix_diag_req (24 bytes), native endianness.
    let mut req = Vec::with_capacity(40);
    req.extend_from_slice(&40u32.to_ne_bytes());
    req.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    req.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
    req.extend_from_slice(&[libc::AF_UNIX as u8, 0, 0, 0]); // family, protocol, pad
    req.extend_from_slice(&states.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes()); // inode: any
    req.extend_from_slice(&show.to_ne_bytes());
    req.extend_from_slice(&[0xff; 8]); // cookie: none
                                       // SAFETY: `req` is a live buffer of `req.len()` bytes, only read by send(2).
    let r = unsafe {
        libc::send(
            fd.as_raw_fd(),
            req.as_ptr() as *const libc::c_void,
            req.len(),
            0,
        )
    };
    check(r as libc::c_long, || "sock_diag request".into())?;
    // Dump replies come in datagrams of at most 32 KiB; a larger buffer never truncates one.
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: `buf` is a live, writable buffer of `buf.len()` bytes; recv(2) writes at most
        // that many.
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
            )
        };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        let n = check(n as libc::c_long, || "sock_diag reply".into())? as usize;
        if n == 0 {
            return Err(io::Error::other("sock_diag: the reply ended early"));
        }
        let mut off = 0;
        while off + NLMSG_HDRLEN <= n {
            let h = &buf[off..n];
            let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
            let ty = u16::from_ne_bytes([h[4], h[5]]);
            if len < NLMSG_HDRLEN || len > h.len() {
                return Err(io::Error::other("sock_diag: malformed reply"));
            }
            let payload = &h[NLMSG_HDRLEN..len];
            match ty {
                NLMSG_DONE => return Ok(()),
                NLMSG_ERROR => {
                    let code = payload
                        .get(..4)
                        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        .unwrap_or(-libc::EIO);
                    if code != 0 {
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                }
                _ => {
                    if !each(payload) {
                        return Ok(());
                    }
                }
            }
            off += (len + 3) & !3;
        }
    }
}
