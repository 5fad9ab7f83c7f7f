//! PID 1 of the sandbox (namespaces mode): maps the user, builds the file system view, brings
//! up loopback, hands the proxy's listening socket out, adds the Landlock rules that only exist
//! inside, forks the command, then reaps and forwards signals until the command exits.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use super::message::{Exit, Failure, Usage};
use super::{die, should_forward, Prepared, EXIT_SETUP, FORWARDED};
use crate::spec::{Network, SandboxSpec};
use crate::sys;
use crate::sys::process::{Forked, SigMask};

/// The pipes and sockets init holds (the supervisor holds the other ends).
pub(super) struct Ends {
    /// The report pipe (close-on-exec): a [`Failure`], or EOF once the command executed.
    pub report: RawFd,
    /// Readable end of the supervisor's "alive" pipe: POLLHUP once the supervisor is gone.
    pub alive: OwnedFd,
    /// Where init writes its [`Exit`].
    pub done: OwnedFd,
    /// Where the proxy's listening socket goes out (namespaces with a proxy).
    pub proxy: Option<OwnedFd>,
    /// The workspace's caches mounts lock (`caches::store::MOUNTS_LOCK`), held until init has
    /// taken the overlays down and exits.
    pub mounts_lock: Option<RawFd>,
    /// The workspace's caches directory, opened by the supervisor (`caches::Session::dir_fd`):
    /// init clears the overlays' work directories through it after its unmounts.
    pub caches_dir: Option<RawFd>,
    /// Read end of the run's tail pipe: EOF once the run has returned in the supervisor
    /// (`exec::end_of_run`); init's slow clean-up waits for it.
    pub tail: OwnedFd,
}

pub(super) fn main(
    spec: &SandboxSpec,
    mut p: Prepared,
    ends: Ends,
    ids: (u32, u32),
    old_mask: &SigMask,
) -> ! {
    crate::timing("init: started");
    let err = ends.report;
    // If the supervisor dies, so does the sandbox. Checked once after setting it, in case the
    // supervisor died before: its end of the "alive" pipe is then closed.
    sys::process::die_with_parent();
    let mut pfd = [libc::pollfd {
        fd: ends.alive.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    if sys::process::poll(&mut pfd, 0).is_ok_and(|n| n > 0) && pfd[0].revents & libc::POLLHUP != 0 {
        sys::process::exit_now(EXIT_SETUP);
    }
    map_ids(err, ids);
    let (views, late) = build_view(spec, err);
    if let Err(e) = std::env::set_current_dir(&spec.cwd) {
        die(
            err,
            Failure::Setup(format!(
                "cannot enter {} inside the sandbox: {e}",
                spec.cwd.display()
            )),
        );
    }
    network(spec, err, ends.proxy);
    let _ = sys::process::sethostname(b"cordon");
    // The sandbox's own tmpfs, devices and procfs are new inodes, and the socket-proof views'
    // files are overlay inodes: Landlock rules for them can only be added now.
    if let Some(f) = p.fence.as_mut() {
        let r = f
            .grant_all(Path::new("/tmp"))
            .and_then(|_| f.grant_all(Path::new("/var/tmp")))
            .and_then(|_| f.grant_all(Path::new("/dev/shm")))
            .and_then(|_| f.grant_read_write_files(Path::new("/dev")))
            .and_then(|_| f.grant_proc(Path::new("/proc")))
            .and_then(|_| {
                views
                    .iter()
                    .try_for_each(|v| f.grant_view(v, &spec.secrets))
            })
            .and_then(|_| crate::caches::mount::grant(f, &spec.caches));
        if let Err(e) = r {
            die(err, Failure::Setup(e.to_string()));
        }
    }
    let mut caught = FORWARDED.to_vec();
    caught.push(libc::SIGCHLD);
    let (sfd, _) = match sys::process::block_signals(&caught) {
        Ok(s) => s,
        Err(e) => die(err, Failure::Setup(format!("signalfd: {e}"))),
    };
    // The tool caches' overlays made while the command's process gets ready (see
    // `caches::mount::late`): it waits on this pipe before it applies Landlock.
    let go = if late.is_empty() {
        None
    } else {
        match sys::pipe() {
            Ok((r, w)) => {
                p.go = Some(r);
                Some(w)
            }
            Err(e) => die(err, Failure::Setup(format!("pipe: {e}"))),
        }
    };
    crate::timing("init: fork command");
    #[allow(unsafe_code)]
    // SAFETY: init is single-threaded (the clone that made it copied one thread).
    let cmd = match unsafe { sys::process::fork() } {
        Ok(Forked::Child) => {
            drop(sfd);
            drop(ends.alive);
            drop(ends.done);
            drop(go);
            super::command::main(spec, p, err, old_mask)
        }
        Ok(Forked::Parent(pid)) => pid,
        Err(e) => die(err, Failure::Setup(format!("fork: {e}"))),
    };
    if let Some(go) = go {
        crate::caches::mount::finish_late(late, p.fence.as_mut());
        // The command goes on (a failure to write means it is gone: its exit is reaped below).
        sys::write_all(go.as_raw_fd(), b"g");
    }
    drop(p);
    drop(ends.alive);
    // init keeps its signalfd, the done and tail pipes, and for the tool caches the mounts
    // lock, the caches directory and the overlays' roots; nothing else it inherited: the
    // report pipe (only the command holds it now, until its execve: the supervisor sees EOF
    // once the command has started or failed to), the command's stdio (a reader sees EOF when
    // the command closes its end), and whatever else cordon's process had open (another
    // thread's pipes to another sandbox must not be held open by this one).
    crate::caches::mount::keep_for_teardown(ends.caches_dir, &spec.caches);
    let mut keep = vec![
        sfd.as_raw_fd(),
        ends.done.as_raw_fd(),
        ends.tail.as_raw_fd(),
    ];
    keep.extend(ends.mounts_lock);
    keep.extend(crate::caches::mount::held_fds());
    sys::process::close_all_except(&keep);
    reap(cmd, &sfd, &ends.done, ends.mounts_lock, &ends.tail)
}

/// Our own uid/gid mapped to themselves. setgroups must be denied before an unprivileged
/// process may write gid_map.
fn map_ids(err: RawFd, (uid, gid): (u32, u32)) {
    let maps = sys::write_file("/proc/self/setgroups", b"deny")
        .and_then(|_| sys::write_file("/proc/self/uid_map", format!("{uid} {uid} 1\n").as_bytes()))
        .and_then(|_| sys::write_file("/proc/self/gid_map", format!("{gid} {gid} 1\n").as_bytes()));
    if let Err(e) = maps {
        die(
            err,
            Failure::UsernsDenied(format!("user namespaces are restricted here ({e})")),
        );
    }
    crate::timing("init: maps done");
}

/// The mounts (mounts.rs); returns the socket-proof views mounted, and the caches' overlays
/// left for after the fork.
fn build_view(spec: &SandboxSpec, err: RawFd) -> (Vec<PathBuf>, crate::caches::mount::Late) {
    let clones = match crate::mounts::take_clones(spec) {
        Ok(c) => c,
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => die(
            err,
            Failure::UsernsDenied(format!(
                "mounts are not permitted in a user namespace here ({e})"
            )),
        ),
        Err(e) => die(
            err,
            Failure::Setup(format!("cannot set up the file system view: {e}")),
        ),
    };
    let built = match crate::mounts::build_root(spec, clones) {
        Ok(v) => v,
        Err(e) => die(
            err,
            Failure::Setup(format!("cannot set up the file system view: {e}")),
        ),
    };
    crate::timing("init: mounts done");
    built
}

/// Loopback up in the new network namespace; the proxy's listening socket made there and sent
/// to the supervisor, which serves it from outside.
fn network(spec: &SandboxSpec, err: RawFd, proxy: Option<OwnedFd>) {
    if spec.network != Network::Full {
        if let Err(e) = sys::net::loopback_up() {
            die(
                err,
                Failure::Setup(format!("cannot bring up loopback: {e}")),
            );
        }
    }
    if let (Network::Proxy { port }, Some(sock)) = (&spec.network, proxy) {
        match std::net::TcpListener::bind(("127.0.0.1", *port)) {
            Ok(l) => {
                if let Err(e) = sys::net::send_fd(&sock, l.as_raw_fd()) {
                    die(
                        err,
                        Failure::Setup(format!("cannot hand the proxy socket out: {e}")),
                    );
                }
            }
            Err(e) => die(
                err,
                Failure::Setup(format!(
                    "cannot listen on 127.0.0.1:{port} for the proxy: {e}"
                )),
            ),
        }
    }
}

/// Reaps everything; forwards signals to the command; leaves with its status. Leaving kills
/// every other process of the namespace.
fn reap(
    cmd: libc::pid_t,
    sfd: &OwnedFd,
    done: &OwnedFd,
    mounts_lock: Option<RawFd>,
    tail: &OwnedFd,
) -> ! {
    loop {
        let Some(si) = sys::process::read_siginfo(sfd) else {
            continue;
        };
        if si.signo == libc::SIGCHLD {
            while let Ok(Some((pid, status))) = sys::process::waitpid(-1, libc::WNOHANG) {
                if pid == cmd {
                    finish(
                        done,
                        sys::process::status_code(status, EXIT_SETUP),
                        mounts_lock,
                        tail,
                    );
                }
            }
        } else if should_forward(&si) {
            sys::process::kill(cmd, si.signo);
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
/// supervisor may return on the status alone; the teardown happens off its critical path. The
/// tool caches' overlays are taken down by init itself after the report (it leaves the
/// sandbox's mount namespace for the spare one it kept, `caches::mount::teardown`): it holds the
/// workspace's mounts lock, inherited from the supervisor, until then (its files are closed
/// before its namespaces go when it exits, so exiting alone would free the lock too early);
/// then it clears their work directories.
fn finish(done: &OwnedFd, code: i32, mounts_lock: Option<RawFd>, tail: &OwnedFd) -> ! {
    sys::process::kill(-1, libc::SIGKILL);
    loop {
        match sys::process::waitpid(-1, 0) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(_) => break, // ECHILD: nothing left.
        }
    }
    let (user_us, sys_us, max_rss_kib) = sys::process::rusage_children_us();
    let exit = Exit {
        code,
        usage: Some(Usage {
            user_us,
            sys_us,
            max_rss_kib,
        }),
    };
    // The report may end the supervisor at once; what init still does must not be cut short.
    sys::process::outlive_parent();
    sys::write_all(done.as_raw_fd(), &exit.encode());
    // Then the caches' overlays go, off the supervisor's path: init holds the workspace's
    // mounts lock (caches/store.rs) until they are gone and their work directories moved
    // (`teardown`). cordon's own stdio first, so that a reader of cordon's output sees its end
    // without waiting for this.
    sys::process::close_stdio();
    crate::caches::mount::teardown(mounts_lock, tail);
    sys::process::exit_now(code)
}
