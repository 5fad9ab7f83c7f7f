//! The launch API's stdio: the command reads and writes the descriptors it is given instead of
//! cordon's own 0, 1, 2 (what the MCP gateway needs to speak to a server run inside the
//! sandbox through pipes), with namespaces and in the fallback.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use cordon_sandbox::spec::{self, Limits, Mode, Request};
use cordon_sandbox::{run_with, Launch, Network, Probe, Stdio};

fn pipe() -> (std::fs::File, std::fs::File) {
    let (r, w) = std::io::pipe().expect("pipe");
    (OwnedFd::from(r).into(), OwnedFd::from(w).into())
}

/// A workspace outside /tmp (private inside the sandbox), owned by whoever runs the test.
fn workspace(tag: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cordon-stdio-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    std::fs::canonicalize(&p).unwrap()
}

fn request(ws: &PathBuf, script: &str, fallback: bool) -> Request {
    Request {
        mode: Mode::WorkspaceWrite,
        argv: vec!["sh".into(), "-c".into(), script.into()],
        cwd: Some(ws.clone()),
        workspace: Some(ws.clone()),
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
    }
}

fn env() -> Vec<(String, String)> {
    let mut e = vec![(
        "PATH".to_string(),
        "/usr/local/bin:/usr/bin:/bin".to_string(),
    )];
    e.extend(std::env::vars().filter(|(k, _)| k == "HOME"));
    e
}

fn each_mode(f: fn(bool)) {
    f(false);
    f(true);
}

#[test]
fn the_command_uses_the_descriptors_given() {
    each_mode(|fallback| {
        let ws = workspace(if fallback { "fb" } else { "ns" });
        let spec = spec::build(
            &request(&ws, "tr a-z A-Z; echo to-stderr >&2; exit 3", fallback),
            &env(),
            &Probe::quick(),
        )
        .unwrap();
        let (in_r, mut in_w) = pipe();
        let (mut out_r, out_w) = pipe();
        let (mut err_r, err_w) = pipe();
        in_w.write_all(b"hello through a pipe\n").unwrap();
        drop(in_w);
        let o = run_with(
            &spec,
            Launch {
                on_listener: None,
                stdio: Stdio {
                    stdin: Some(in_r.into()),
                    stdout: Some(out_w.into()),
                    stderr: Some(err_w.into()),
                },
            },
        )
        .unwrap();
        assert_eq!(o.code, 3, "fallback={fallback}");
        // run_with closed its copies: the reads end.
        let mut out = String::new();
        out_r.read_to_string(&mut out).unwrap();
        let mut err = String::new();
        err_r.read_to_string(&mut err).unwrap();
        assert_eq!(out, "HELLO THROUGH A PIPE\n", "fallback={fallback}");
        assert_eq!(err, "to-stderr\n", "fallback={fallback}");
        let _ = std::fs::remove_dir_all(&ws);
    });
}

#[test]
fn concurrent_launches_do_not_hold_each_others_pipes() {
    // A gateway runs several servers from one process, each with its own pipes. A long-running
    // sandbox (B) started while another launch's pipes (A's) exist must not keep them open: A's
    // reader sees EOF when A's run ends, while B still runs. Namespaces only: in the fallback a
    // run ends by killing and reaping every descendant of the process (see `run_with`).
    [false].into_iter().for_each(|fallback| {
        let tag = if fallback { "fb" } else { "ns" };
        let ws_a = workspace(&format!("a-{tag}"));
        let ws_b = workspace(&format!("b-{tag}"));
        let (a_in_r, a_in_w) = pipe();
        let (mut a_out_r, a_out_w) = pipe();
        let (b_in_r, mut b_in_w) = pipe();
        let (mut b_out_r, b_out_w) = pipe();
        let spec_b = spec::build(
            &request(&ws_b, "echo ready; read line; echo \"$line\"", fallback),
            &env(),
            &Probe::quick(),
        )
        .unwrap();
        let b = std::thread::spawn(move || {
            run_with(
                &spec_b,
                Launch {
                    on_listener: None,
                    stdio: Stdio {
                        stdin: Some(b_in_r.into()),
                        stdout: Some(b_out_w.into()),
                        stderr: None,
                    },
                },
            )
            .unwrap()
        });
        let mut ready = [0u8; 6];
        b_out_r.read_exact(&mut ready).unwrap();
        assert_eq!(&ready, b"ready\n");
        // B runs, and was created while A's pipes were open in this process.
        let spec_a = spec::build(
            &request(&ws_a, "echo from-a", fallback),
            &env(),
            &Probe::quick(),
        )
        .unwrap();
        drop(a_in_w);
        let o = run_with(
            &spec_a,
            Launch {
                on_listener: None,
                stdio: Stdio {
                    stdin: Some(a_in_r.into()),
                    stdout: Some(a_out_w.into()),
                    stderr: None,
                },
            },
        )
        .unwrap();
        assert_eq!(o.code, 0);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut out = String::new();
            let _ = a_out_r.read_to_string(&mut out);
            let _ = tx.send(out);
        });
        let a_out = rx.recv_timeout(std::time::Duration::from_secs(20));
        // Let B finish either way.
        b_in_w.write_all(b"bye\n").unwrap();
        drop(b_in_w);
        let ob = b.join().unwrap();
        assert_eq!(ob.code, 0, "fallback={fallback}");
        let mut rest = String::new();
        b_out_r.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "bye\n", "fallback={fallback}");
        assert_eq!(
            a_out.as_deref(),
            Ok("from-a\n"),
            "fallback={fallback}: A's output did not end while B ran (B holds A's pipe)"
        );
        let _ = std::fs::remove_dir_all(&ws_a);
        let _ = std::fs::remove_dir_all(&ws_b);
    });
}
