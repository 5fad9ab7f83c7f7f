//! Attacks through what the host shares with a sandbox that has no namespaces of its own (the
//! fallback) — devices, the user's other terminals, System V IPC and POSIX message queues, and
//! the resource controls of processes outside — run four ways like sandbox_attacks.rs (with
//! namespaces each of these is private to the sandbox). Each checks the effect outside: the
//! secret's bytes not in the output, the other terminal's output, the segment's bytes, the
//! process's limits.

mod harness;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use harness::{is_root, text, Case, Who};

/// A new pseudo-terminal: (master, non-blocking; the slave's path). The slave belongs to the
/// case's user, as a terminal the user opened outside the sandbox.
fn open_pty(c: &Case) -> (OwnedFd, String) {
    // SAFETY: posix_openpt returns a new descriptor or -1.
    let m = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK) };
    assert!(m >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
    // SAFETY: `m` is a new descriptor that nothing else owns.
    let master = unsafe { OwnedFd::from_raw_fd(m) };
    // SAFETY: `m` is an open pty master.
    assert_eq!(unsafe { libc::grantpt(m) }, 0);
    // SAFETY: `m` is an open pty master.
    assert_eq!(unsafe { libc::unlockpt(m) }, 0);
    let mut buf = [0u8; 128];
    // SAFETY: `buf` is writable for the length passed.
    let r = unsafe { libc::ptsname_r(m, buf.as_mut_ptr().cast(), buf.len()) };
    assert_eq!(r, 0);
    let end = buf.iter().position(|&b| b == 0).unwrap();
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    if is_root() {
        std::os::unix::fs::chown(&name, Some(c.uid), Some(c.gid)).unwrap();
    }
    (master, name)
}

fn drain(master: &OwnedFd) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: `buf` is writable for its length; the master is non-blocking.
        let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        all.extend_from_slice(&buf[..n as usize]);
    }
    String::from_utf8_lossy(&all).into_owned()
}

/// Another terminal of the user, where the user types a password while the command runs: the
/// command can neither read what is typed there nor write to it (a fake prompt).
fn other_terminals(c: &Case) {
    let (master, slave) = open_pty(c);
    let typing = Arc::new(AtomicBool::new(true));
    let t = {
        let typing = typing.clone();
        let m = master.as_raw_fd();
        std::thread::spawn(move || {
            while typing.load(Ordering::SeqCst) {
                let line = b"hunter2-TYPED-SECRET\n";
                // SAFETY: `line` is readable for its length; the master outlives this thread
                // (joined below) and is non-blocking (a full input queue is EAGAIN).
                unsafe { libc::write(m, line.as_ptr().cast(), line.len()) };
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let o = c.sh(&format!(
        "timeout 2 cat {slave}; echo fake-$((40+2)) > {slave}; \
         dd if={slave} bs=1 count=64 iflag=nonblock 2>/dev/null"
    ));
    typing.store(false, Ordering::SeqCst);
    t.join().unwrap();
    let seen = drain(&master);
    assert!(
        !text(&o).contains("TYPED-SECRET"),
        "[{}] read what was typed in another terminal: {}",
        c.label(),
        text(&o)
    );
    assert!(
        !seen.contains("fake-42"),
        "[{}] wrote to another terminal: {seen:?}",
        c.label()
    );
}

/// The command's own terminal still works by its name (ttyname, /dev/stdin) in the fallback.
fn own_terminal(c: &Case) {
    let (master, slave) = open_pty(c);
    let tty = |_: ()| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&slave)
            .unwrap()
    };
    let o = c
        .command(&[
            "run",
            "--",
            "sh",
            "-c",
            "t=$(tty) && echo own-$((40+2)) > $t",
        ])
        .stdin(Stdio::from(tty(())))
        .stdout(Stdio::from(tty(())))
        .stderr(Stdio::from(tty(())))
        .output()
        .unwrap();
    let seen = drain(&master);
    if c.fallback {
        assert!(
            seen.contains("own-42"),
            "[{}] could not write to its own terminal by name: {seen:?} {:?}",
            c.label(),
            o.status
        );
    }
}

/// Runs `cmd` as the case's user (the unprivileged one when the tests run as root).
fn as_case_user(c: &Case, cmd: &mut Command) {
    if is_root() && c.who == Who::Unprivileged {
        use std::os::unix::process::CommandExt;
        cmd.uid(c.uid).gid(c.gid);
    }
}

struct Loop(String);

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

/// A block device holds the bytes of every file on it, secrets included: here a loop device
/// over a secret (as /dev/sda over the home), readable by the case's user (as a disk is by
/// root). The command cannot read it.
fn block_devices(c: &Case) {
    if !is_root() {
        eprintln!("skipped: loop devices need root");
        return;
    }
    let mut key = String::from("SECRET-BLOCK-MARKER\n");
    key.push_str(&"x".repeat(8192));
    let secret = c.write(".ssh/id_ed25519", &key);
    c.chown_all();
    let out = Command::new("losetup")
        .args(["-f", "--show", "-r"])
        .arg(&secret)
        .output();
    let dev = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        other => {
            eprintln!("skipped: no loop device here: {other:?}");
            return;
        }
    };
    let _guard = Loop(dev.clone());
    std::os::unix::fs::chown(&dev, Some(c.uid), Some(c.gid)).unwrap();
    let o = c.sh(&format!("head -c 64 {dev}"));
    assert!(
        !text(&o).contains("SECRET-BLOCK-MARKER"),
        "[{}] read a secret's bytes through a block device: {}",
        c.label(),
        text(&o)
    );
}

struct Segment(i32);

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID takes no buffer.
        unsafe { libc::shmctl(self.0, libc::IPC_RMID, std::ptr::null_mut()) };
    }
}

/// A System V shared memory segment of another program of the user (as an X11 client's, or a
/// database's): the command can neither read nor change it. Likewise a POSIX message queue.
fn sysv_ipc(c: &Case) {
    // SAFETY: shmget with IPC_PRIVATE creates a new segment or fails.
    let id = unsafe { libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o600) };
    assert!(id >= 0, "shmget: {}", std::io::Error::last_os_error());
    let _seg = Segment(id);
    // SAFETY: attaching the new segment at an address the kernel picks.
    let addr = unsafe { libc::shmat(id, std::ptr::null(), 0) };
    assert_ne!(addr as isize, -1);
    let marker = b"SHM-SECRET-MARKER";
    // SAFETY: the segment is 4096 bytes long and attached at `addr`.
    unsafe { std::ptr::copy_nonoverlapping(marker.as_ptr(), addr.cast::<u8>(), marker.len()) };
    if is_root() {
        // SAFETY: shmid_ds is plain data; IPC_STAT fills it, IPC_SET reads it back.
        let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: `ds` is writable.
        assert_eq!(unsafe { libc::shmctl(id, libc::IPC_STAT, &mut ds) }, 0);
        ds.shm_perm.uid = c.uid;
        ds.shm_perm.gid = c.gid;
        // SAFETY: `ds` is a valid shmid_ds.
        assert_eq!(unsafe { libc::shmctl(id, libc::IPC_SET, &mut ds) }, 0);
    }
    let o = c.sh(&format!(
        "python3 -c '
import ctypes
l = ctypes.CDLL(None, use_errno=True)
l.shmat.restype = ctypes.c_void_p
a = l.shmat({id}, None, 0)
if a is None or a == ctypes.c_void_p(-1).value:
    print(\"shmat refused\", ctypes.get_errno())
else:
    print(\"READ\", ctypes.string_at(a, 17))
    ctypes.memmove(a, b\"PWNED\", 5)
'"
    ));
    // SAFETY: the segment is attached at `addr` for 4096 bytes.
    let now = unsafe { std::slice::from_raw_parts(addr.cast::<u8>(), marker.len()) }.to_vec();
    // SAFETY: detaching what was attached above.
    unsafe { libc::shmdt(addr) };
    assert!(
        !text(&o).contains("SHM-SECRET-MARKER"),
        "[{}] read another program's shared memory: {}",
        c.label(),
        text(&o)
    );
    assert_eq!(
        now,
        marker,
        "[{}] changed another program's shared memory: {}",
        c.label(),
        text(&o)
    );
}

fn field(stat: &str, n: usize) -> String {
    // /proc/PID/stat: fields after the command name in parentheses, numbered from 3.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(n - 3).unwrap().to_string()
}

/// The resource limits, priority and scheduling of a process outside (the user's shell, or
/// cordon itself, whose check after the run then fails for want of descriptors): unchanged.
fn processes_outside(c: &Case) {
    let mut cmd = Command::new("sleep");
    cmd.arg("60").stdout(Stdio::null());
    as_case_user(c, &mut cmd);
    let mut victim = cmd.spawn().unwrap();
    let pid = victim.id();
    let limits = || std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let stat = || std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (limits0, stat0) = (limits(), stat());
    let o = c.sh(&format!(
        "python3 -c '
import os, resource
for what, f in [
    (\"prlimit\", lambda: resource.prlimit({pid}, resource.RLIMIT_NOFILE, (5, 5))),
    (\"cpu\", lambda: resource.prlimit({pid}, resource.RLIMIT_CPU, (1, 1))),
    (\"nice\", lambda: os.setpriority(os.PRIO_PROCESS, {pid}, 19)),
    (\"idle\", lambda: os.sched_setscheduler({pid}, os.SCHED_IDLE, os.sched_param(0))),
]:
    try:
        f(); print(what, \"done\")
    except OSError as e:
        print(what, e)
'"
    ));
    let (limits1, stat1) = (limits(), stat());
    victim.kill().unwrap();
    victim.wait().unwrap();
    assert_eq!(
        limits0,
        limits1,
        "[{}] limits changed: {}",
        c.label(),
        text(&o)
    );
    for (n, what) in [(19, "nice"), (41, "scheduling policy")] {
        assert_eq!(
            field(&stat0, n),
            field(&stat1, n),
            "[{}] {what} changed: {}",
            c.label(),
            text(&o)
        );
    }
}

variants!(
    other_terminals,
    own_terminal,
    block_devices,
    sysv_ipc,
    processes_outside
);
