//! Secrets that tools keep in their own directories of the home (~/.config, ~/.cache, tool
//! dot-directories), and the socket-proof views of those directories when they hold one. Each
//! test checks the effect outside the sandbox (the secret's bytes absent from everything the
//! command could write or print, the listener outside never reached) and runs four ways.

mod harness;

use std::os::unix::net::UnixListener;
use std::process::Stdio;
use std::time::Duration;

use harness::{text, Case};

/// Connects (stream) to each path given, printing what happened.
const CONNECT_EACH: &str = r#"import socket, sys
for p in sys.argv[1:]:
  try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(p); s.send(b'x')
    print('CONNECTED', p)
  except Exception as e: print('refused', p, e)
"#;

fn listen_at(c: &Case, rel: &str) -> UnixListener {
    let p = c.home.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&p);
    let l = UnixListener::bind(&p).unwrap();
    l.set_nonblocking(true).unwrap();
    l
}

/// ~/.config, ~/.local/share and ~/.local/state each hold a secret (gcloud's directory, uv's
/// credentials, cordon's own state directory): their
/// socket-proof views must stay, so that a daemon that starts during the run and binds a socket
/// there is out of reach, while the secrets stay covered and the rest reads as before. (Views
/// were once dropped for a directory holding a secret: with ~/.config/gcloud present, a socket
/// created in ~/.config during the run could be connected to.)
fn views_holding_secrets_stay_socket_proof(c: &Case) {
    c.write(".config/gcloud/credentials.db", "SECRET-GCLOUD-MARKER\n");
    c.write(
        ".local/share/uv/credentials/credentials.toml",
        "SECRET-UV-MARKER\n",
    );
    c.write(".cache/readme", "cached\n");
    c.write(".config/app/settings", "plain settings\n");
    c.write(".local/state/app/history", "plain history\n");
    c.chown_all();
    let started = c.ws.join("out/started");
    let go = c.outside.join("go");
    let later = [
        ".config/newapp/s.sock",
        ".config/app/s.sock",
        ".cache/later.sock",
        ".local/share/newapp/sock",
        ".local/state/newapp/sock",
    ];
    let paths: Vec<String> = later
        .iter()
        .map(|r| c.home.join(r).display().to_string())
        .collect();
    let wait = format!(
        "touch {}; i=0; while [ ! -e {} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; \
         cat ~/.config/gcloud/credentials.db \
             ~/.local/share/uv/credentials/credentials.toml ~/.config/app/settings \
             ~/.local/state/app/history; \
         exec python3 \"$@\"",
        started.display(),
        go.display()
    );
    let mut args = vec![
        "run",
        "--timeout",
        "60s",
        "--",
        "sh",
        "-c",
        &wait,
        "sh",
        "-c",
        CONNECT_EACH,
    ];
    args.extend(paths.iter().map(String::as_str));
    let child = c
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if started.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        started.exists(),
        "[{}] the sandbox did not start",
        c.label()
    );
    let ls: Vec<(&str, UnixListener)> = later.iter().map(|r| (*r, listen_at(c, r))).collect();
    c.chown_all();
    std::fs::write(&go, "").unwrap();
    let o = child.wait_with_output().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let out = text(&o);
    assert!(
        out.contains("refused"),
        "[{}] the command did not try: {out}",
        c.label()
    );
    for (rel, l) in &ls {
        assert!(
            matches!(l.accept(), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "[{}] the unix socket ~/{rel}, bound outside during the run, was reached: {out}",
            c.label()
        );
    }
    assert!(!out.contains("CONNECTED"), "[{}] {out}", c.label());
    for m in ["SECRET-GCLOUD-MARKER", "SECRET-UV-MARKER"] {
        assert!(!out.contains(m), "[{}] {m} read: {out}", c.label());
    }
    assert!(
        out.contains("plain settings") && out.contains("plain history"),
        "[{}] the views must still read as before: {out}",
        c.label()
    );
}

variants!(views_holding_secrets_stay_socket_proof);
