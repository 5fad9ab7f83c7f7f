//! Network egress through cordon's proxy, end to end: real servers on loopback started by the
//! test, real clients (curl, python, git) inside the sandbox. Each test checks what the server
//! received. Runs as the invoking user and as an unprivileged user.

mod harness;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::{code, text, Case, Who};

/// A tiny HTTP server on 127.0.0.1 that records each request head and answers "hello <path>".
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start() -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                let s3 = s2.clone();
                std::thread::spawn(move || {
                    c.set_read_timeout(Some(Duration::from_secs(5))).ok();
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match c.read(&mut chunk) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let path = head.split(' ').nth(1).unwrap_or("").to_string();
                    s3.lock().unwrap().push(head);
                    let body = format!("hello {path}\n");
                    let _ = c.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes());
                });
            }
        });
        Server { port, seen }
    }
    fn requests(&self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(100));
        self.seen.lock().unwrap().clone()
    }
}

/// `python3 -m http.server` on a free loopback port, serving `dir`; waits until it accepts.
fn serve_dir(dir: &std::path::Path) -> (std::process::Child, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    drop(l);
    let child = Command::new("python3")
        .args(["-m", "http.server", &p.to_string(), "--bind", "127.0.0.1"])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..50 {
        if TcpStream::connect(("127.0.0.1", p)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, p)
}

/// Flags allowing NAME:PORT, pinned to 127.0.0.1, local addresses allowed (the test servers).
fn local_net(name: &str, port: u16) -> Vec<String> {
    vec![
        format!("--allow-domain={name}:{port}"),
        format!("--resolve={name}:127.0.0.1"),
        "--allow-local".into(),
    ]
}

fn run(c: &Case, net: &[String], script: &str) -> std::process::Output {
    let mut args: Vec<&str> = vec!["run"];
    args.extend(net.iter().map(|s| s.as_str()));
    args.extend(["--", "sh", "-c", script]);
    c.cordon(&args)
}

fn allowed_name_is_reached(c: &Case) {
    let s = Server::start();
    let p = s.port;
    let net = local_net("api.test", p);
    let o = run(c, &net, &format!("curl -sS http://api.test:{p}/hello && curl -sS --socks5-hostname 127.0.0.1:3128 http://API.test.:{p}/socks"));
    assert_eq!(code(&o), 0, "[{}] {}", c.label(), text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("hello /hello") && out.contains("hello /socks"),
        "[{}] {out}",
        c.label()
    );
    let reqs = s.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert!(
        reqs[0].starts_with("GET /hello HTTP/1.1")
            && reqs[0].to_lowercase().contains("host: api.test"),
        "{}",
        reqs[0]
    );
}

fn denied_name_server_sees_nothing(c: &Case) {
    let s = Server::start();
    let p = s.port;
    let log = c.ws.join("out/net.jsonl");
    let net = vec![
        format!("--allow-domain=*.test:{p}"),
        format!("--deny-domain=bad.test"),
        "--resolve=other.example:127.0.0.1".into(),
        "--resolve=bad.test:127.0.0.1".into(),
        "--resolve=api.test:127.0.0.1".into(),
        "--allow-local".into(),
        format!("--net-log={}", log.display()),
    ];
    let o = run(
        c,
        &net,
        &format!(
            "curl -sS http://other.example:{p}/a; curl -sS http://bad.test:{p}/b; curl -sS http://test:{p}/c; \
             curl -sS -x http://127.0.0.1:3128 -H 'Host: api.test' http://other.example:{p}/d; \
             curl -sS http://api.test/e; curl -sS --socks5-hostname 127.0.0.1:3128 http://bad.test:{p}/f; echo done"
        ),
    );
    let out = text(&o);
    assert!(out.contains("done"), "[{}] {out}", c.label());
    assert!(
        out.contains("not in the allowed domains (allow with --allow-domain other.example:"),
        "[{}] {out}",
        c.label()
    );
    assert!(
        out.contains("denied by --deny-domain bad.test"),
        "[{}] {out}",
        c.label()
    );
    assert!(
        s.requests().is_empty(),
        "[{}] the server received {:?}",
        c.label(),
        s.requests()
    );
    // Every refusal is in the log, as JSON lines.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 5, "{lines:?}");
    assert!(lines.iter().all(|l| l["decision"] == "deny"));
}

fn no_route_around_the_proxy(c: &Case) {
    let s = Server::start();
    let p = s.port;
    let net = local_net("api.test", p);
    let o = run(
        c,
        &net,
        &format!(
            "curl -sS --max-time 3 --noproxy '*' http://127.0.0.1:{p}/noproxy; \
             curl -sS --max-time 3 --noproxy '*' http://api.test:{p}/noproxy2; \
             python3 -c \"import socket; s=socket.create_connection(('127.0.0.1',{p}),2); s.send(b'GET /raw HTTP/1.0\\r\\n\\r\\n'); print(s.recv(100))\"; \
             python3 -c \"import socket; u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.sendto(b'x',('8.8.8.8',53)); print('udp sent')\"; \
             python3 -c \"import socket; socket.getaddrinfo('api.test',80); print('DNS RESOLVED')\"; echo done"
        ),
    );
    let out = text(&o);
    assert!(
        out.contains("done") && !out.contains("DNS RESOLVED") && !out.contains("hello"),
        "[{}] {out}",
        c.label()
    );
    assert!(
        s.requests().is_empty(),
        "[{}] reached without the proxy: {:?}",
        c.label(),
        s.requests()
    );
}

fn local_needs_allow_local(c: &Case) {
    let s = Server::start();
    let p = s.port;
    let net = vec![
        format!("--allow-domain=api.test:{p}"),
        format!("--allow-domain=127.0.0.1:{p}"),
        "--resolve=api.test:127.0.0.1".into(),
    ];
    let o = run(c, &net, &format!("curl -sS http://api.test:{p}/x; curl -sS http://2130706433:{p}/y; curl -sS http://[::ffff:127.0.0.1]:{p}/z; echo done"));
    let out = text(&o);
    assert!(
        out.contains("resolves to the local address 127.0.0.1 (allow with --allow-local)"),
        "[{}] {out}",
        c.label()
    );
    assert!(
        s.requests().is_empty(),
        "[{}] {:?}",
        c.label(),
        s.requests()
    );
    // With --allow-local the same address notations reach it.
    let mut net2 = net.clone();
    net2.push("--allow-local".into());
    let o = run(c, &net2, &format!("curl -sS http://2130706433:{p}/y"));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("hello /y"),
        "[{}] {}",
        c.label(),
        text(&o)
    );
}

fn port_not_allowed(c: &Case) {
    let s = Server::start();
    let p = s.port;
    let net = vec![
        "--allow-domain=api.test".into(),
        "--resolve=api.test:127.0.0.1".into(),
        "--allow-local".into(),
    ];
    let o = run(
        c,
        &net,
        &format!("curl -sS http://api.test:{p}/x; echo done"),
    );
    assert!(
        text(&o).contains(&format!("allow with --allow-domain api.test:{p}")),
        "[{}] {}",
        c.label(),
        text(&o)
    );
    assert!(s.requests().is_empty());
}

fn git_clone_through_proxy(c: &Case) {
    // A bare repository served over dumb HTTP by python's http.server.
    let srv = c.base.join("srv");
    std::fs::create_dir_all(&srv).unwrap();
    let g = |args: &[&str], dir: &std::path::Path| {
        let o = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("HOME", &c.home)
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}: {}", text(&o));
    };
    g(&["init", "-q", "--bare", "repo.git"], &srv);
    let work = c.base.join("src");
    std::fs::create_dir_all(&work).unwrap();
    g(&["init", "-q"], &work);
    std::fs::write(work.join("f.txt"), "through the proxy\n").unwrap();
    g(&["add", "f.txt"], &work);
    g(
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "one",
        ],
        &work,
    );
    g(
        &[
            "push",
            "-q",
            srv.join("repo.git").to_str().unwrap(),
            "HEAD:refs/heads/main",
        ],
        &work,
    );
    g(&["--git-dir", "repo.git", "update-server-info"], &srv);
    let (mut http, p) = serve_dir(&srv);
    let net = local_net("git.test", p);
    let o = run(
        c,
        &net,
        &format!(
            "git clone -q -b main http://git.test:{p}/repo.git out/cloned && cat out/cloned/f.txt"
        ),
    );
    http.kill().ok();
    http.wait().ok();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("through the proxy"),
        "[{}] {}",
        c.label(),
        text(&o)
    );
}

fn pip_download_through_proxy(c: &Case) {
    // A PEP 503 "simple" index with one hand-made wheel, served by python's http.server.
    let idx = c.base.join("index/simple/hello-cordon");
    std::fs::create_dir_all(&idx).unwrap();
    let whl = "hello_cordon-1.0-py3-none-any.whl";
    let mk = format!(
        "import zipfile\nz=zipfile.ZipFile('{}','w')\nz.writestr('hello_cordon/__init__.py','')\nz.writestr('hello_cordon-1.0.dist-info/METADATA','Metadata-Version: 2.1\\nName: hello-cordon\\nVersion: 1.0\\n')\nz.writestr('hello_cordon-1.0.dist-info/WHEEL','Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')\nz.writestr('hello_cordon-1.0.dist-info/RECORD','')\nz.close()",
        idx.join(whl).display()
    );
    assert!(Command::new("python3")
        .args(["-c", &mk])
        .status()
        .unwrap()
        .success());
    std::fs::write(
        idx.join("index.html"),
        format!("<html><body><a href=\"{whl}\">{whl}</a></body></html>"),
    )
    .unwrap();
    let (mut http, p) = serve_dir(&c.base.join("index"));
    let net = local_net("pypi.test", p);
    let o = run(
        c,
        &net,
        &format!("python3 -m pip download -q --no-deps --no-cache-dir --disable-pip-version-check --trusted-host pypi.test --index-url http://pypi.test:{p}/simple -d out/dl hello-cordon && ls out/dl"),
    );
    http.kill().ok();
    http.wait().ok();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(whl),
        "[{}] {}",
        c.label(),
        text(&o)
    );
}

/// HTTPS end to end through a CONNECT tunnel, to a TLS server with a self-signed certificate.
fn https_through_tunnel(c: &Case) {
    let dir = c.base.join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=tls.test",
            "-addext",
            "subjectAltName=DNS:tls.test",
        ])
        .args([
            "-keyout",
            dir.join("key.pem").to_str().unwrap(),
            "-out",
            dir.join("cert.pem").to_str().unwrap(),
        ])
        .output()
        .expect("openssl is needed (installed by .ci/run)");
    assert!(st.status.success(), "{}", text(&st));
    let server = format!(
        "import http.server, ssl\nclass H(http.server.BaseHTTPRequestHandler):\n  def do_GET(self):\n    b=b'secure hello'; self.send_response(200); self.send_header('Content-Length',str(len(b))); self.end_headers(); self.wfile.write(b)\n  def log_message(self,*a): pass\n\
         s=http.server.HTTPServer(('127.0.0.1',0),H)\nctx=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain('{d}/cert.pem','{d}/key.pem')\n\
         s.socket=ctx.wrap_socket(s.socket,server_side=True)\nprint(s.server_address[1],flush=True)\ns.serve_forever()",
        d = dir.display()
    );
    let mut srv = Command::new("python3")
        .args(["-c", &server])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(srv.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let p: u16 = line.trim().parse().unwrap();
    // The certificate, where the sandboxed curl can read it.
    std::fs::copy(dir.join("cert.pem"), c.ws.join("ca.crt")).unwrap(); // (a *.pem in the workspace would be hidden as a secret)
    c.chown_all();
    let net = local_net("tls.test", p);
    let o = run(
        c,
        &net,
        &format!("curl -sS --cacert ca.crt https://tls.test:{p}/"),
    );
    srv.kill().ok();
    srv.wait().ok();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("secure hello"),
        "[{}] {}",
        c.label(),
        text(&o)
    );
}

/// For CONNECT to 443, the ClientHello's server name must be the allowed host: with another
/// name the tunnel closes and the server receives none of the client's bytes.
fn sni_must_match(c: &Case) {
    let Ok(l) = TcpListener::bind("127.0.0.1:443") else {
        eprintln!("skipping: cannot listen on 127.0.0.1:443 (needs root)");
        return;
    };
    let got = Arc::new(Mutex::new(Vec::<usize>::new()));
    let g2 = got.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            conn.set_read_timeout(Some(Duration::from_secs(3))).ok();
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).unwrap_or(0);
            g2.lock().unwrap().push(n);
        }
    });
    let net: Vec<String> = vec![
        "--allow-domain=api.test".into(),
        "--resolve=api.test:127.0.0.1".into(),
        "--allow-local".into(),
    ];
    let script = r#"
import socket, ssl
def hello(sni):
    s = socket.create_connection(('127.0.0.1', 3128), 3)
    s.sendall(b'CONNECT api.test:443 HTTP/1.1\r\nHost: api.test:443\r\n\r\n')
    print(s.recv(200).split(b'\r\n')[0])
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.wrap_socket(s, server_hostname=sni).close()
    except Exception as e:
        print(sni, 'handshake ended:', type(e).__name__)
hello('evil.example')
hello('api.test')
"#;
    std::fs::write(c.ws.join("sni.py"), script).unwrap();
    c.chown_all();
    let mut args: Vec<&str> = vec!["run"];
    args.extend(net.iter().map(|s| s.as_str()));
    args.extend(["--", "python3", "sni.py"]);
    let o = c.cordon(&args);
    std::thread::sleep(Duration::from_millis(300));
    let got = got.lock().unwrap().clone();
    assert_eq!(
        got.len(),
        2,
        "[{}] two tunnels: {got:?} {}",
        c.label(),
        text(&o)
    );
    assert_eq!(
        got[0],
        0,
        "[{}] the mismatched ClientHello was forwarded: {}",
        c.label(),
        text(&o)
    );
    assert!(
        got[1] > 0,
        "[{}] the matching ClientHello was not forwarded: {}",
        c.label(),
        text(&o)
    );
    assert!(
        text(&o).contains("does not match the CONNECT host api.test"),
        "{}",
        text(&o)
    );
}

macro_rules! net_variants {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::harness::{each, Who};
            #[test] fn invoker() { each(super::$name, Who::Invoker, false) }
            #[test] fn unprivileged() { each(super::$name, Who::Unprivileged, false) }
        }
    )*};
}

net_variants!(
    allowed_name_is_reached,
    denied_name_server_sees_nothing,
    no_route_around_the_proxy,
    local_needs_allow_local,
    port_not_allowed,
    git_clone_through_proxy,
    pip_download_through_proxy,
    https_through_tunnel,
);

#[test]
fn sni_mismatch_closes_the_tunnel() {
    // One variant: it needs port 443.
    sni_must_match(&Case::new(Who::Invoker, false));
}

#[test]
fn fallback_refuses_allow_domain() {
    let c = Case::new(Who::Unprivileged, true);
    let o = c.cordon(&["run", "--allow-domain", "example.com", "--", "true"]);
    assert_eq!(code(&o), 125, "{}", text(&o));
    assert!(
        text(&o).contains("--allow-domain cannot be enforced"),
        "{}",
        text(&o)
    );
}
