//! cordon's own output into a pipe whose reader is gone (`cordon policy show | head -1`,
//! `cordon run -- make 2>&1 | head`). cordon ignores SIGPIPE, so every such write fails with
//! EPIPE: no command may panic on it (101 in a debug build, SIGABRT/134 with `panic = "abort"`
//! in release), and each exits with the status it has when its output is read in full (a
//! listing 0, a denied `check` its deny status). A hook whose answer cannot be written refuses
//! (fail closed); `mcp serve`/`mcp wrap` end when their client's end of stdout is closed, even
//! with stdin still open. The reader is closed before cordon starts, so that every write fails.
//! Run as the invoking user and as an unprivileged user, with namespaces and in the fallback.

mod harness;

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use harness::Case;

/// The write end of a pipe whose read end is already closed.
fn closed_pipe() -> OwnedFd {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: pipe2 returned two descriptors that nothing else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    write
}

/// Waits for `child` at most `limit` (kills it and fails the test when it takes longer); its
/// stderr, when piped.
fn wait(mut child: Child, limit: Duration, what: &str) -> (ExitStatus, String) {
    let reader = child.stderr.take().map(|mut err| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?} with its stdout closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let err = reader.map(|r| r.join().unwrap()).unwrap_or_default();
    (status, err)
}

/// The exit code; a death by signal (SIGABRT of a release build's panic) fails the test.
fn code_of(s: ExitStatus, what: &str, err: &str) -> i32 {
    s.code()
        .unwrap_or_else(|| panic!("{what}: killed by a signal ({s}); stderr:\n{err}"))
}

/// `args` with stdout to /dev/null, then with stdout (and, when `stderr_too`, stderr) a pipe
/// whose reader is closed: no panic, and the same status.
fn same_status_when_closed(c: &Case, args: &[&str], stdin: &[u8], stderr_too: bool) {
    let what = format!("cordon {} [{}]", args.join(" "), c.label());
    let spawn = |out: Stdio, err: Stdio| {
        let mut child = c
            .command(args)
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap();
        let mut i = child.stdin.take().unwrap();
        let _ = i.write_all(stdin);
        drop(i);
        child
    };
    let (s, err) = wait(
        spawn(Stdio::null(), Stdio::piped()),
        Duration::from_secs(120),
        &what,
    );
    let want = code_of(s, &what, &err);
    let pipe = closed_pipe();
    let err = if stderr_too {
        // `2>&1 | head`: what cordon says on stderr is lost too; the status is what is left.
        Stdio::from(pipe.try_clone().unwrap())
    } else {
        Stdio::piped()
    };
    let (s, err) = wait(
        spawn(Stdio::from(pipe), err),
        Duration::from_secs(120),
        &what,
    );
    let got = code_of(s, &what, &err);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{what}: stdout into a closed pipe:\n{err}"
    );
    assert_eq!(
        got, want,
        "{what}: output into a closed pipe (stderr too: {stderr_too}): status; stderr:\n{err}"
    );
}

fn every_command_ends_quietly(c: &Case) {
    c.write("proj/history", "ls -la\nrm -rf /\ngit status\n");
    c.chown_all();
    let ws = c.ws.to_str().unwrap().to_string();
    let audit = c.audit_dir();
    let audit = audit.to_str().unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["run", "--dry-run", "--", "true"],
        vec!["run", "--dry-run", "--workspace", &ws, "--", "make", "test"],
        vec!["policy", "show"],
        vec!["policy", "test"],
        vec!["config", "show"],
        vec!["config", "show", "--origin"],
        vec!["config", "show", "--json"],
        vec!["check", "ls -la"],
        vec!["check", "rm -rf /"],
        vec!["check", "--json", "rm -rf /"],
        vec!["check", "--each-line", "history"],
        vec!["check", "--json", "--each-line", "history"],
        vec!["audit", "show"],
        vec!["audit", "show", "--json"],
        vec!["audit", "tail"],
        vec!["audit", "verify", audit],
        vec!["install", "codex", "--dry-run"],
        vec!["install", "claude", "--dry-run"],
        vec!["uninstall", "claude", "--dry-run"],
        vec!["cache", "list"],
        vec!["mcp", "pins"],
        vec!["mcp", "pins", "--json"],
        vec!["grants", "list"],
        vec!["grants", "list", "--json"],
        vec!["trust", "--list"],
        vec!["repair"],
        vec!["repair", "--json"],
        vec!["doctor"],
        vec!["doctor", "--json"],
        vec!["man"],
        vec!["completions", "bash"],
        vec!["completions", "zsh"],
        vec!["--help"],
        vec!["run", "--help"],
        vec!["--version"],
    ];
    for args in &commands {
        same_status_when_closed(c, args, b"", false);
    }
    // cordon's notices and the command's output into one closed pipe (`2>&1 | head`): the
    // supervising cordon must not die of its own messages; the command's status comes back.
    for args in [
        // Two warnings on the closed stderr, then the command's own status.
        &[
            "run",
            "--no-audit",
            "--network",
            "full",
            "--",
            "sh",
            "-c",
            "exit 3",
        ][..],
        &["run", "--dry-run", "--", "true"],
        &["check", "rm -rf /"],
        &["policy", "show"],
        &["nonsense"],
    ] {
        same_status_when_closed(c, args, b"", true);
    }
}

variants!(every_command_ends_quietly);

/// A hook's answer that cannot be written is a refusal: the agent would read the exit status
/// alone, and 0 is "allow" (without the rewrite into `cordon run` the answer carried).
fn a_hook_that_cannot_answer_refuses(c: &Case) {
    let event = serde_json::json!({"session_id": "s", "transcript_path": "/t.jsonl",
        "cwd": c.ws, "permission_mode": "default", "hook_event_name": "PreToolUse",
        "tool_name": "Bash", "tool_input": {"command": "npm test"}, "tool_use_id": "t1"})
    .to_string();
    let mut child = c
        .command(&["hook", "claude"])
        .stdin(Stdio::piped())
        .stdout(Stdio::from(closed_pipe()))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut i = child.stdin.take().unwrap();
    i.write_all(event.as_bytes()).unwrap();
    drop(i);
    let (s, err) = wait(child, Duration::from_secs(120), "cordon hook claude");
    let code = code_of(s, "cordon hook claude", &err);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        code,
        i32::from(cordon_exit::HOOK_DENY),
        "a hook whose answer is lost must refuse; stderr:\n{err}"
    );
    assert!(err.contains("cannot write the answer"), "{err}");
}

variants!(a_hook_that_cannot_answer_refuses);

/// Mirrors `cordon_sandbox::exit` (the tests do not link the sandbox crate).
mod cordon_exit {
    pub const HOOK_DENY: u8 = 2;
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"closed-pipe-test","version":"1"}}}"#;

/// An MCP server whose client closed its end of stdout (stdin still open): it ends, status 0.
fn mcp_ends_when_its_client_stops_reading(c: &Case) {
    let bin = harness::cordon_bin();
    let serve = format!("exec {} mcp serve --no-audit", bin.display());
    for args in [
        vec!["mcp", "serve", "--no-audit"],
        // The server through `sh -c` so that its pin hashes /bin/sh, not a debug build of cordon.
        vec![
            "mcp", "wrap", "--name", "echo", "--", "/bin/sh", "-c", &serve,
        ],
    ] {
        let what = format!("cordon {} [{}]", args.join(" "), c.label());
        let mut child = c
            .command(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::from(closed_pipe()))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("{INIT}\n").as_bytes()).unwrap();
        // stdin stays open until the server is gone: only the closed stdout may end it.
        let (s, err) = wait(child, Duration::from_secs(60), &what);
        drop(stdin);
        let code = code_of(s, &what, &err);
        assert!(!err.contains("panicked"), "{what}:\n{err}");
        assert_eq!(code, 0, "{what}: stderr:\n{err}");
    }
}

variants!(mcp_ends_when_its_client_stops_reading);
