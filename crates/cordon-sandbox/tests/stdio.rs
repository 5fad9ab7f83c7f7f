//! The launch API's stdio: the command reads and writes the descriptors it is given instead of
//! cordon's own 0, 1, 2 (what the MCP gateway needs to speak to a server run inside the
//! sandbox through pipes), and holds no other descriptor of cordon's; several launches in one
//! process do not hold each other's pipes; a running sandbox can be stopped from another thread.
//!
//! Each test runs with namespaces and in the fallback, as the invoking user and (when that is
//! root) as the unprivileged `cordontest`: this test binary runs itself again as that user, on
//! the one test, with CORDON_STDIO_CHILD set.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cordon_sandbox::spec::{self, Limits, Mode, Request};
use cordon_sandbox::{run_with, Launch, Network, Probe, Running, Stdio};

const TEST_USER: &str = "cordontest";

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// (uid, gid) of `cordontest`, created when missing (as the CLI tests' harness does).
fn test_user() -> (u32, u32) {
    let id = |flag: &str| {
        Command::new("id")
            .args([flag, TEST_USER])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<u32>()
                    .ok()
            })
    };
    if id("-u").is_none() {
        let _ = Command::new("useradd")
            .args([
                "--no-create-home",
                "--shell",
                "/bin/sh",
                "--home-dir",
                "/nonexistent",
            ])
            .arg(TEST_USER)
            .status();
    }
    (
        id("-u").expect("useradd cordontest"),
        id("-g").expect("cordontest's group"),
    )
}

/// Where this process's workspaces go: outside /tmp (private inside the sandbox), owned by
/// whoever runs the test. The unprivileged child is told its own.
fn base() -> PathBuf {
    if let Some(b) = std::env::var_os("CORDON_STDIO_BASE") {
        return PathBuf::from(b);
    }
    let root = if is_root() {
        PathBuf::from("/var/lib/cordon-tests")
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
    };
    root.join(format!("stdio-{}", std::process::id()))
}

/// A fresh workspace under [`base`].
fn workspace(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let p = base().join(format!("{tag}-{n}"));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    std::fs::canonicalize(&p).unwrap()
}

fn request(ws: &Path, argv: &[&str], fallback: bool) -> Request {
    Request {
        mode: Mode::WorkspaceWrite,
        argv: argv.iter().map(|a| a.to_string()).collect(),
        cwd: Some(ws.to_path_buf()),
        workspace: Some(ws.to_path_buf()),
        writable: vec![],
        read_secret: vec![],
        env: Default::default(),
        network: Network::None,
        limits: Limits::defaults(),
        timeout_ms: Some(60_000),
        force_no_userns: fallback,
        paths: Default::default(),
        state_dir: None,
        scan_limit: None,
        caches: Default::default(),
        pinned: vec![],
        own_dirs: vec![],
        proxy_env: vec![],
        trust: None,
    }
}

fn sh(ws: &Path, script: &str, fallback: bool) -> cordon_sandbox::SandboxSpec {
    let env = vec![
        (
            "PATH".to_string(),
            "/usr/local/bin:/usr/bin:/bin".to_string(),
        ),
        ("HOME".to_string(), base().display().to_string()),
    ];
    spec::build(
        &request(ws, &["sh", "-c", script], fallback),
        &env,
        &Probe::quick(),
    )
    .unwrap()
}

fn pipe() -> (std::fs::File, std::fs::File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a writable array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 made these two descriptors; nothing else owns them.
    let [r, w] = fds.map(|fd| unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    (r.into(), w.into())
}

fn stdio(
    stdin: Option<std::fs::File>,
    stdout: Option<std::fs::File>,
    stderr: Option<std::fs::File>,
) -> Stdio {
    Stdio {
        stdin: stdin.map(Into::into),
        stdout: stdout.map(Into::into),
        stderr: stderr.map(Into::into),
    }
}

/// Reads `r` to its end in a thread; None if it does not end within `limit`.
fn read_within(mut r: std::fs::File, limit: Duration) -> Option<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = String::new();
        let _ = r.read_to_string(&mut out);
        let _ = tx.send(out);
    });
    rx.recv_timeout(limit).ok()
}

/// Runs `body` for namespaces and the fallback (`modes`) as this process's user; when that is
/// root, then this test again in a child process as `cordontest`.
///
/// One test at a time in a process: a fallback run ends by killing and reaping every child of
/// the process (the other tests' runs and child processes included; see `run_with`).
fn each_way(name: &str, modes: &[bool], body: fn(bool)) {
    static SERIAL: Mutex<()> = Mutex::new(());
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _clean = Cleanup;
    for &fallback in modes {
        body(fallback);
        // SAFETY: geteuid has no preconditions.
        eprintln!("{name}: done as uid {} (fallback={fallback})", unsafe {
            libc::geteuid()
        });
    }
    if std::env::var_os("CORDON_STDIO_CHILD").is_some() || !is_root() {
        return;
    }
    let (uid, gid) = test_user();
    let dir = base();
    let child_base = dir.join("unprivileged");
    let bin = dir.join("stdio-test");
    std::fs::create_dir_all(&child_base).unwrap();
    for d in [Path::new("/var/lib/cordon-tests"), &dir] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::os::unix::fs::chown(&child_base, Some(uid), Some(gid)).unwrap();
    if !bin.exists() {
        let tmp = dir.join(format!("stdio-test.{name}"));
        std::fs::copy(std::env::current_exe().unwrap(), &tmp).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
        let _ = std::fs::rename(&tmp, &bin);
    }
    let out = Command::new(&bin)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("CORDON_STDIO_CHILD", "1")
        .env("CORDON_STDIO_BASE", &child_base)
        .current_dir(&child_base)
        .uid(uid)
        .gid(gid)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let done = modes
        .iter()
        .all(|f| text.contains(&format!("done as uid {uid} (fallback={f})")));
    assert!(
        out.status.success() && text.contains("1 passed") && done,
        "{name} as {TEST_USER}:\n{text}"
    );
}

/// Removes this process's base directory (workspaces, the unprivileged copy) when a test ends,
/// passed or not; the next test makes it again.
struct Cleanup;
impl Drop for Cleanup {
    fn drop(&mut self) {
        if std::env::var_os("CORDON_STDIO_CHILD").is_none() {
            let _ = std::fs::remove_dir_all(base());
        }
    }
}

#[test]
fn the_command_uses_the_descriptors_given() {
    each_way(
        "the_command_uses_the_descriptors_given",
        &[false, true],
        |fallback| {
            let ws = workspace(if fallback { "fb" } else { "ns" });
            let spec = sh(&ws, "tr a-z A-Z; echo to-stderr >&2; exit 3", fallback);
            let (in_r, mut in_w) = pipe();
            let (out_r, out_w) = pipe();
            let (err_r, err_w) = pipe();
            in_w.write_all(b"hello through a pipe\n").unwrap();
            drop(in_w);
            let o = run_with(
                &spec,
                Launch {
                    stdio: stdio(Some(in_r), Some(out_w), Some(err_w)),
                    ..Launch::default()
                },
            )
            .unwrap();
            assert_eq!(o.code, 3, "fallback={fallback}");
            assert_eq!(o.fell_back.is_some(), fallback, "{:?}", o.fell_back);
            // run_with closed its copies: the reads end.
            let out = read_within(out_r, Duration::from_secs(20));
            let err = read_within(err_r, Duration::from_secs(20));
            assert_eq!(
                out.as_deref(),
                Some("HELLO THROUGH A PIPE\n"),
                "fallback={fallback}"
            );
            assert_eq!(err.as_deref(), Some("to-stderr\n"), "fallback={fallback}");
        },
    );
}

#[test]
fn the_command_holds_no_other_descriptor() {
    // cordon's process holds a descriptor that is not close-on-exec (a file and a pipe, as a
    // library in the same process might leave them): the command must see only 0, 1, 2 (and
    // the directory `ls` opens), with namespaces and in the fallback.
    each_way(
        "the_command_holds_no_other_descriptor",
        &[false, true],
        |fallback| {
            let ws = workspace(if fallback { "fb" } else { "ns" });
            let marker = ws.join("leak-marker");
            std::fs::write(&marker, "x").unwrap();
            let file = std::fs::File::open(&marker).unwrap();
            let (leak_r, leak_w) = pipe();
            // Copies without close-on-exec, above any number the launch will use.
            let inherit = |f: &std::fs::File| {
                // SAFETY: fcntl F_DUPFD with an integer argument.
                let fd = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_DUPFD, 200) };
                assert!(fd >= 200);
                // SAFETY: the descriptor was just made and nothing else owns it.
                unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }
            };
            let held = [inherit(&file), inherit(&leak_r), inherit(&leak_w)];
            // Nor can it open those of its parent (init, or cordon in the fallback: its copies
            // of cordon's 0/1/2, init's report pipe) through /proc (Landlock's ptrace scope).
            let spec = sh(
                &ws,
                "ls -l /proc/self/fd/; for f in /proc/$PPID/fd/*; do \
                 (exec 9<\"$f\") 2>/dev/null && echo OPENED $f; done; true",
                fallback,
            );
            let (out_r, out_w) = pipe();
            let o = run_with(
                &spec,
                Launch {
                    stdio: stdio(None, Some(out_w), None),
                    ..Launch::default()
                },
            )
            .unwrap();
            assert_eq!(o.code, 0, "fallback={fallback}");
            let out = read_within(out_r, Duration::from_secs(20)).unwrap();
            let fds: Vec<&str> = out
                .lines()
                .filter_map(|l| l.split_once(" -> ")?.0.split_whitespace().last())
                .collect();
            assert_eq!(fds, ["0", "1", "2", "3"], "fallback={fallback}:\n{out}");
            // 3 is the directory `ls` reads; the marker file and the pipes are nowhere.
            assert!(
                out.lines()
                    .any(|l| l.ends_with(" 3 -> /proc") || l.contains(" 3 -> /proc/")),
                "fallback={fallback}:\n{out}"
            );
            assert!(!out.contains("leak-marker"), "fallback={fallback}:\n{out}");
            assert!(!out.contains("OPENED"), "fallback={fallback}:\n{out}");
            drop(held);
        },
    );
}

#[test]
fn concurrent_launches_do_not_hold_each_others_pipes() {
    // A gateway runs several servers from one process, each with its own pipes. A long-running
    // sandbox (B), started from another thread while another launch's pipes (A's) exist, must
    // not keep them open: A's reader sees EOF when A's run ends, while B still runs. Namespaces
    // only: in the fallback a run ends by killing and reaping every descendant of the process
    // (see `run_with`).
    each_way(
        "concurrent_launches_do_not_hold_each_others_pipes",
        &[false],
        |fallback| {
            let ws_a = workspace("a");
            let ws_b = workspace("b");
            let (a_in_r, a_in_w) = pipe();
            let (a_out_r, a_out_w) = pipe();
            let (b_in_r, mut b_in_w) = pipe();
            let (mut b_out_r, b_out_w) = pipe();
            let spec_b = sh(&ws_b, "echo ready; read line; echo \"$line\"", fallback);
            let b = std::thread::spawn(move || {
                run_with(
                    &spec_b,
                    Launch {
                        stdio: stdio(Some(b_in_r), Some(b_out_w), None),
                        ..Launch::default()
                    },
                )
                .unwrap()
            });
            let mut ready = [0u8; 6];
            b_out_r.read_exact(&mut ready).unwrap();
            assert_eq!(&ready, b"ready\n");
            // B runs, and was created while A's pipes were open in this process.
            let spec_a = sh(&ws_a, "echo from-a", fallback);
            drop(a_in_w);
            let o = run_with(
                &spec_a,
                Launch {
                    stdio: stdio(Some(a_in_r), Some(a_out_w), None),
                    ..Launch::default()
                },
            )
            .unwrap();
            assert_eq!(o.code, 0);
            let a_out = read_within(a_out_r, Duration::from_secs(20));
            // Let B finish either way.
            b_in_w.write_all(b"bye\n").unwrap();
            drop(b_in_w);
            let ob = b.join().unwrap();
            assert_eq!(ob.code, 0);
            let mut rest = String::new();
            b_out_r.read_to_string(&mut rest).unwrap();
            assert_eq!(rest, "bye\n");
            assert_eq!(
                a_out.as_deref(),
                Some("from-a\n"),
                "A's output did not end while B ran (B holds A's pipe)"
            );
        },
    );
}

#[test]
fn a_running_sandbox_is_stopped_from_another_thread() {
    // The gateway stops a server that does not exit when its stdin closes: terminate (SIGTERM
    // for the command), and kill (the whole sandbox). Nothing it started survives: a reader of
    // a pipe a background process of the command holds sees its end.
    each_way(
        "a_running_sandbox_is_stopped_from_another_thread",
        &[false, true],
        |fallback| {
            for (how, code) in [("terminate", 143), ("kill", 137)] {
                let ws = workspace(if fallback { "fb" } else { "ns" });
                // A background process that ignores SIGTERM holds stdout too.
                let spec = sh(
                    &ws,
                    "(trap '' TERM; exec sleep 1000) & echo started; exec sleep 1000",
                    fallback,
                );
                let (out_r, out_w) = pipe();
                let running: Arc<Mutex<Option<Running>>> = Arc::default();
                let r2 = running.clone();
                let t = std::thread::spawn(move || {
                    run_with(
                        &spec,
                        Launch {
                            stdio: stdio(None, Some(out_w), None),
                            on_start: Some(Box::new(move |r| {
                                *r2.lock().unwrap() = Some(r);
                            })),
                            ..Launch::default()
                        },
                    )
                    .unwrap()
                });
                let mut out_r = out_r;
                let mut started = [0u8; 8];
                out_r.read_exact(&mut started).unwrap();
                assert_eq!(&started, b"started\n");
                // on_start runs in the supervisor right after the clone, which may be scheduled
                // after the command has printed.
                let until = std::time::Instant::now() + Duration::from_secs(20);
                while running.lock().unwrap().is_none() && std::time::Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(5));
                }
                {
                    let g = running.lock().unwrap();
                    let r = g.as_ref().expect("on_start was called");
                    if how == "terminate" {
                        r.terminate();
                    } else {
                        r.kill();
                    }
                }
                let o = t.join().unwrap();
                assert_eq!(o.code, code, "{how}, fallback={fallback}");
                assert_eq!(
                    read_within(out_r, Duration::from_secs(20)).as_deref(),
                    Some(""),
                    "{how}, fallback={fallback}: the background process outlived the run"
                );
            }
        },
    );
}
