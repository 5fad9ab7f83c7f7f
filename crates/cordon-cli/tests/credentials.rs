//! Credentials injected on egress (README "Credentials injected on egress"), end to end: a real
//! TLS server on 127.0.0.1 (Python's http.server + ssl, with a test CA made by openssl) records
//! every request head to a file outside the sandbox; the user config in the case's fake home
//! sets `[[network.credentials]]` and `network.upstream_ca_file`; curl and Python's urllib
//! inside the sandbox send a fake token, the server must receive the real one, once per request.
//! Each attack-style test runs four ways (invoker and unprivileged, namespaces and fallback): the
//! fallback has no proxy network at all (it refuses `--allow-domain`), so there it checks that
//! the run is refused and that nothing reaches the server.

mod certs;
mod harness;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use certs::make_certs;
use harness::{code, is_root, text, Case, Who};

/// The secret, in cordon's environment only. Split in the scripts below, so that no command
/// line inside the sandbox carries it whole.
const TOKEN: &str = "s3cr3t-T0KEN-4f9a2c1e";
const VAR: &str = "CORDON_TEST_TOKEN";

/// The TLS server's process, killed when dropped (a failed assertion included).
struct Upstream(Child);

impl Drop for Upstream {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// The TLS server: answers every GET with "ok <path>" and appends the request line and headers
/// to `heads` (outside the sandbox). Returns it and its port.
fn serve(dir: &Path, heads: &Path) -> (Upstream, u16) {
    let server = format!(
        "import http.server, ssl\n\
         class H(http.server.BaseHTTPRequestHandler):\n  def do_GET(self):\n    \
         open('{h}','a').write(self.requestline+'\\n'+str(self.headers)+'--\\n')\n    \
         b=('ok '+self.path).encode(); self.send_response(200); self.send_header('Content-Length',str(len(b))); self.end_headers(); self.wfile.write(b)\n  \
         def log_message(self,*a): pass\n\
         s=http.server.ThreadingHTTPServer(('127.0.0.1',0),H)\n\
         ctx=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain('{d}/leaf.crt','{d}/leaf.key')\n\
         s.socket=ctx.wrap_socket(s.socket,server_side=True)\nprint(s.server_address[1],flush=True)\ns.serve_forever()",
        d = dir.display(),
        h = heads.display()
    );
    let mut srv = Command::new("python3")
        .args(["-c", &server])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(srv.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Upstream(srv), line.trim().parse().unwrap())
}

/// A case with the server running and the user config naming the credential for
/// api.example.test:PORT. Returns (server, port, the heads file).
fn setup(c: &Case) -> (Upstream, u16, PathBuf) {
    let dir = c.base.join("tls");
    make_certs(&dir);
    let heads = dir.join("heads.log");
    let (srv, port) = serve(&dir, &heads);
    c.write(
        ".config/cordon/config.toml",
        &format!(
            "[network]\nupstream_ca_file = \"{}\"\n\n[[network.credentials]]\nhost = \"api.example.test\"\n\
             port = {port}\nenv = \"{VAR}\"\nformat = \"Bearer {{}}\"\nmethods = [\"GET\"]\n",
            dir.join("ca.crt").display()
        ),
    );
    c.chown_all();
    (srv, port, heads)
}

/// `cordon run` with the credential's variable set (or not), the names pinned to 127.0.0.1 and
/// another domain allowed (the credential allows its own host).
fn run(c: &Case, port: u16, token: Option<&str>, extra: &[&str], script: &str) -> Output {
    let mut args = vec![
        "run".to_string(),
        "--allow-domain=unrelated.test".into(),
        "--resolve=api.example.test:127.0.0.1".into(),
        "--resolve=other.example.test:127.0.0.1".into(),
        "--allow-local".into(),
    ];
    args.extend(extra.iter().map(|s| s.replace("PORT", &port.to_string())));
    args.extend([
        "--".into(),
        "sh".into(),
        "-c".into(),
        script.replace("PORT", &port.to_string()),
    ]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = c.command(&a);
    if let Some(t) = token {
        cmd.env(VAR, t);
    }
    cmd.output().expect("run cordon")
}

fn heads_of(heads: &Path) -> String {
    std::fs::read_to_string(heads).unwrap_or_default()
}

/// The fallback has no proxy network: the run is refused, nothing reaches the server.
fn refused_in_fallback(c: &Case, o: &Output, heads: &Path) -> bool {
    if !c.fallback {
        return false;
    }
    assert_eq!(code(o), 125, "[{}] {}", c.label(), text(o));
    assert!(
        text(o).contains("cannot be enforced"),
        "[{}] {}",
        c.label(),
        text(o)
    );
    assert_eq!(heads_of(heads), "", "[{}]", c.label());
    true
}

/// curl and urllib send a fake token; the server gets the real one, once per request; inside,
/// the variable is the placeholder and no process's environment holds the value; the CA files
/// are read-only; the audit log says which header was added.
fn token_is_injected_and_never_inside(c: &Case) {
    let (srv, port, heads) = setup(c);
    let script = "curl -sS https://api.example.test:PORT/x -H 'Authorization: fake'; echo\n\
        python3 -c \"import urllib.request as u; print(u.urlopen(u.Request('https://api.example.test:PORT/py', headers={'Authorization': 'fake2'})).read().decode())\"\n\
        echo \"VAR=$CORDON_TEST_TOKEN\"; echo \"NODE=$NODE_EXTRA_CA_CERTS SSL=$SSL_CERT_FILE\"\n\
        T='s3cr3t''-T0KEN'; env | grep -q \"$T\" && echo LEAK-ENV\n\
        cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -q \"$T\" && echo LEAK-PROC\n\
        (echo x > /tmp/.cordon-ca/ca-bundle.pem) 2>/dev/null && echo WROTE-CA\n\
        rm -f /tmp/.cordon-ca/run-ca.pem 2>/dev/null; test -s /tmp/.cordon-ca/run-ca.pem && echo CA-KEPT\n\
        grep -c 'BEGIN CERTIFICATE' /tmp/.cordon-ca/run-ca.pem";
    // Even asked for by name (`--secret-env`), the variable inside is the placeholder.
    let o = run(
        c,
        port,
        Some(TOKEN),
        &["--secret-env=CORDON_TEST_TOKEN"],
        script,
    );
    if refused_in_fallback(c, &o, &heads) {
        return;
    }
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let got = heads_of(&heads);
    drop(srv);
    let l = c.label();
    assert_eq!(code(&o), 0, "[{l}] {}", text(&o));
    assert!(
        out.contains("ok /x") && out.contains("ok /py"),
        "[{l}] {}",
        text(&o)
    );
    assert!(
        out.contains(&format!("VAR=cordon-credential:{VAR}")),
        "[{l}] {out}"
    );
    assert!(
        out.contains("NODE=/tmp/.cordon-ca/run-ca.pem SSL=/tmp/.cordon-ca/ca-bundle.pem"),
        "[{l}] {out}"
    );
    assert!(out.contains("CA-KEPT\n1\n"), "[{l}] {out}");
    for bad in ["LEAK", "WROTE-CA", TOKEN] {
        assert!(!text(&o).contains(bad), "[{l}] {bad}: {}", text(&o));
    }
    // The server: two requests, each with exactly one Authorization, the real one.
    assert_eq!(got.matches("GET /").count(), 2, "[{l}] {got}");
    assert_eq!(got.matches("Authorization:").count(), 2, "[{l}] {got}");
    assert_eq!(
        got.matches(&format!("Authorization: Bearer {TOKEN}\n"))
            .count(),
        2,
        "[{l}] {got}"
    );
    assert!(!got.contains("fake"), "[{l}] {got}");
    // The CA files lived in the sandbox's private /tmp only.
    assert!(!Path::new("/tmp/.cordon-ca").exists());
    // The audit log names the header, never the value.
    let shown = text(&c.cordon(&["audit", "show", "--event", "connection"]));
    assert!(
        shown.contains(&format!(
            "api.example.test:{port} GET /x injected=Authorization"
        )),
        "[{l}] {shown}"
    );
    let log = audit_text(c);
    assert!(
        log.contains("\"injected\":\"Authorization\""),
        "[{l}] {log}"
    );
    assert!(!log.contains(TOKEN), "[{l}]");
    // The rule that allowed it is the credential (with its config line), not a flag nobody gave.
    assert!(
        log.contains("(allowed by [[network.credentials]] at ")
            && log.contains("config.toml:4)")
            && !log.contains(&format!("--allow-domain api.example.test:{port}")),
        "[{l}] {log}"
    );
}

fn audit_text(c: &Case) -> String {
    let mut all = String::new();
    for e in std::fs::read_dir(c.audit_dir()).unwrap().flatten() {
        all.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
    }
    all
}

/// A project's config adding a credential (for another host, from the same variable) is
/// ignored: that host's server sees no token.
fn project_credential_is_ignored(c: &Case) {
    let (srv, port, heads) = setup(c);
    c.write(
        "proj/.cordon/config.toml",
        &format!("[[network.credentials]]\nhost = \"other.example.test\"\nport = {port}\nenv = \"{VAR}\"\n"),
    );
    c.chown_all();
    // Not intercepted: end-to-end TLS to a server the sandbox cannot verify (-k).
    let o = run(
        c,
        port,
        Some(TOKEN),
        &["--allow-domain=other.example.test:PORT"],
        "curl -sSk https://other.example.test:PORT/other -H 'Authorization: fake'",
    );
    if refused_in_fallback(c, &o, &heads) {
        return;
    }
    let got = heads_of(&heads);
    drop(srv);
    let l = c.label();
    assert_eq!(code(&o), 0, "[{l}] {}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("ok /other"),
        "[{l}] {}",
        text(&o)
    );
    assert!(got.contains("Authorization: fake\n"), "[{l}] {got}");
    assert!(!got.contains(TOKEN), "[{l}] {got}");
    let shown = text(&c.cordon(&["config", "show"]));
    assert!(shown.contains("network.credentials"), "[{l}] {shown}");
}

/// Without the variable the run is refused before anything runs, naming the variable and the
/// config line; the dry run shows the credential and the CA files, never a value.
fn missing_variable_refuses_the_run(c: &Case) {
    let (srv, port, heads) = setup(c);
    let o = run(
        c,
        port,
        None,
        &[],
        "touch ran; curl -sS https://api.example.test:PORT/x",
    );
    let dry = run(c, port, Some(TOKEN), &["--dry-run"], "true");
    drop(srv);
    let l = c.label();
    assert_eq!(code(&o), 125, "[{l}] {}", text(&o));
    let msg = text(&o);
    assert!(
        msg.contains(VAR) && msg.contains("config.toml:4") && msg.contains("refusing to run"),
        "[{l}] {msg}"
    );
    assert!(!c.ws.join("ran").exists(), "[{l}]");
    assert_eq!(heads_of(&heads), "", "[{l}]");
    assert_eq!(code(&dry), 0, "[{l}] {}", text(&dry));
    let spec = String::from_utf8_lossy(&dry.stdout);
    for want in [
        "\"bundle\": \"/tmp/.cordon-ca/ca-bundle.pem\"",
        "\"header\": \"Authorization\"",
        &format!("\"env\": \"{VAR}\""),
        "\"host\": \"api.example.test\"",
    ] {
        assert!(spec.contains(want), "[{l}] {want}: {spec}");
    }
    assert!(!spec.contains(TOKEN), "[{l}]");
}

/// `--writable /tmp` mounts the host's /tmp over the private one, where the run's CA files go:
/// the run is refused before anything is written there (they would land in the host's /tmp and
/// outlive the run), and before the command runs.
fn writable_tmp_is_refused(c: &Case) {
    let (srv, port, heads) = setup(c);
    let o = run(
        c,
        port,
        Some(TOKEN),
        &["--writable=/tmp"],
        "touch ran; curl -sS https://api.example.test:PORT/x",
    );
    drop(srv);
    let l = c.label();
    assert!(
        !std::path::Path::new("/tmp/.cordon-ca").exists(),
        "[{l}] the CA files were written in the host's /tmp: {}",
        text(&o)
    );
    assert!(!c.ws.join("ran").exists(), "[{l}] {}", text(&o));
    assert_eq!(heads_of(&heads), "", "[{l}]");
    assert_eq!(code(&o), 125, "[{l}] {}", text(&o));
    // As the unprivileged user, the index of /tmp as a writable root stops first: root's
    // directories there cannot be read (a refusal of its own, before anything runs).
    if c.who == Who::Unprivileged && is_root() {
        assert!(
            text(&o).contains("cannot read the workspace"),
            "[{l}] {}",
            text(&o)
        );
        return;
    }
    if refused_in_fallback(c, &o, &heads) {
        return;
    }
    assert!(
        text(&o).contains("do not make /tmp itself writable"),
        "[{l}] {}",
        text(&o)
    );
}

variants!(
    token_is_injected_and_never_inside,
    project_credential_is_ignored,
    missing_variable_refuses_the_run,
    writable_tmp_is_refused,
);

/// Without credentials nothing changes: no CA variables, no CA files.
#[test]
fn without_credentials_nothing_changes() {
    let c = Case::new(Who::Invoker, false);
    let o = c.cordon(&[
        "run",
        "--allow-domain=unrelated.test",
        "--",
        "sh",
        "-c",
        "echo \"SSL=$SSL_CERT_FILE\"; test -e /tmp/.cordon-ca && echo CA-DIR; true",
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("SSL=\n") && !out.contains("CA-DIR"), "{out}");
}
