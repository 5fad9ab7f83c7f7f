//! The Intercept arm end to end: real curl through the real proxy (`start` on 127.0.0.1:0) to a
//! real TLS server (rustls, with a test CA made here) that records every request head it gets.
//! The credential is added by the proxy, never seen by the client, and goes nowhere else.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cordon_net::tls::RunCa;
use cordon_net::{start, ConnEvent, Credential, NetPolicy, ProxyHandle, Secret};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::RootCertStore;

const TOKEN: &str = "Bearer real-token-s3cr3t-XYZ";
const API: &str = "api.example.test";
const PLAIN: &str = "plain.example.test";
const BODY: &str = "hello from upstream";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A test CA and a server leaf it signed for `API` and `PLAIN`.
struct TestCa {
    pem: String,
    der: CertificateDer<'static>,
    leaf: Vec<CertificateDer<'static>>,
    leaf_key: Vec<u8>,
}

fn test_ca() -> TestCa {
    static N: AtomicUsize = AtomicUsize::new(0);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct names: a leaf named as its issuer looks self-signed to OpenSSL.
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(
        DnType::CommonName,
        format!(
            "cordon test upstream CA {}",
            N.fetch_add(1, Ordering::Relaxed)
        ),
    );
    let cert = params.self_signed(&key).unwrap();
    let issuer = Issuer::new(params, key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec![API.to_string(), PLAIN.to_string()]).unwrap();
    leaf.distinguished_name = DistinguishedName::new();
    leaf.distinguished_name.push(DnType::CommonName, API);
    let leaf = leaf.signed_by(&leaf_key, &issuer).unwrap();
    TestCa {
        pem: cert.pem(),
        der: cert.der().clone(),
        leaf: vec![leaf.der().clone(), cert.der().clone()],
        leaf_key: leaf_key.serialize_der(),
    }
}

impl TestCa {
    fn roots(&self) -> RootCertStore {
        let mut r = RootCertStore::empty();
        r.add(self.der.clone()).unwrap();
        r
    }
}

/// What the upstream server saw on one connection.
#[derive(Debug, Default, Clone)]
struct Seen {
    /// Bytes received on the socket (encrypted).
    raw_in: usize,
    handshake_done: bool,
    /// The decrypted request head.
    head: String,
}

impl Seen {
    fn headers(&self, name: &str) -> Vec<String> {
        self.head
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }
}

struct Counting {
    inner: TcpStream,
    n: usize,
}

impl Read for Counting {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(b)?;
        self.n += n;
        Ok(n)
    }
}

impl Write for Counting {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.inner.write(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

type Record = Arc<Mutex<Vec<Seen>>>;

/// A TLS server on 127.0.0.1:0 presenting `ca`'s leaf, answering `BODY` to each request and
/// recording every connection.
fn upstream(ca: &TestCa) -> (u16, Record) {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            ca.leaf.clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ca.leaf_key.clone())),
        )
        .unwrap();
    let config = Arc::new(config);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let record: Record = Arc::default();
    let rec = record.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let (config, rec) = (config.clone(), rec.clone());
            std::thread::spawn(move || {
                let seen = serve_one(s, config);
                rec.lock().unwrap().push(seen);
            });
        }
    });
    (port, record)
}

fn serve_one(s: TcpStream, config: Arc<rustls::ServerConfig>) -> Seen {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut sock = Counting { inner: s, n: 0 };
    let mut conn = rustls::ServerConnection::new(config).unwrap();
    let mut head = Vec::new();
    loop {
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        let mut b = [0u8; 4096];
        match tls.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&b[..n]),
        }
        let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        // A Content-Length body is read whole before the answer.
        let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
        let len: usize = text
            .split("\r\n")
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        if head.len() >= end + 4 + len {
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
                BODY.len()
            );
            let _ = tls.write_all(reply.as_bytes());
            conn.send_close_notify();
            let _ = conn.complete_io(&mut sock);
            break;
        }
    }
    let _ = sock.inner.shutdown(std::net::Shutdown::Both);
    Seen {
        raw_in: sock.n,
        handshake_done: !conn.is_handshaking(),
        head: String::from_utf8_lossy(&head).into_owned(),
    }
}

/// Waits (up to a generous bound, not asserted as speed) until `rec` holds `n` connections.
fn wait_for(rec: &Record, n: usize) -> Vec<Seen> {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let got = rec.lock().unwrap().clone();
        if got.len() >= n || Instant::now() > end {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

type Events = Arc<Mutex<Vec<ConnEvent>>>;

struct Setup {
    proxy: u16,
    up: u16,
    record: Record,
    events: Events,
    run_ca: PathBuf,
    test_ca: PathBuf,
    _handle: ProxyHandle,
}

fn temp_file(tag: &str, content: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let p = std::env::temp_dir().join(format!(
        "cordon-intercept-{}-{}-{tag}.pem",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&p, content).unwrap();
    p
}

/// A proxy allowing `API` and `PLAIN` on the upstream's port, with a credential for `API`
/// (`methods`, `prefixes`), `API` intercepted; `roots` verify the upstream (None: the test CA).
fn setup(methods: &[&str], prefixes: &[&str], roots: Option<RootCertStore>) -> Setup {
    let ca = test_ca();
    let (up, record) = upstream(&ca);
    let cred = Credential::new(
        API,
        up,
        "Authorization",
        Secret::new(TOKEN),
        methods.iter().map(|m| m.to_string()).collect(),
        prefixes.iter().map(|p| p.to_string()).collect(),
    )
    .unwrap();
    let run_ca = RunCa::new(&[API.to_string()]).unwrap();
    let run_ca_pem = temp_file("run", &run_ca.cert_pem());
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = l.local_addr().unwrap().port();
    let events: Events = Arc::default();
    let ev = events.clone();
    let policy = NetPolicy {
        allow: vec![
            format!("{API}:{up}").parse().unwrap(),
            format!("{PLAIN}:{up}").parse().unwrap(),
        ],
        allow_local: true,
        resolve: vec![
            (API.into(), "127.0.0.1".parse().unwrap()),
            (PLAIN.into(), "127.0.0.1".parse().unwrap()),
        ],
        credentials: vec![cred],
        intercept_ca: Some(Arc::new(run_ca)),
        upstream_roots: Some(Arc::new(roots.unwrap_or_else(|| ca.roots()))),
        ..NetPolicy::default()
    };
    let handle = start(l, policy, Box::new(move |e| ev.lock().unwrap().push(e))).unwrap();
    Setup {
        proxy,
        up,
        record,
        events,
        run_ca: run_ca_pem,
        test_ca: temp_file("test", &ca.pem),
        _handle: handle,
    }
}

/// curl through the proxy, trusting only `cacert`; returns (exit code, body, status).
fn curl(s: &Setup, cacert: &PathBuf, url: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--noproxy", "", "--max-time", "60"])
        .arg("--proxy")
        .arg(format!("http://127.0.0.1:{}", s.proxy))
        .arg("--cacert")
        .arg(cacert)
        .args(["-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .env_remove("SSL_CERT_FILE")
        .env_remove("CURL_CA_BUNDLE")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        out.status.code().unwrap_or(-1),
        body.to_string(),
        status.to_string(),
    )
}

fn api_url(s: &Setup, path: &str) -> String {
    format!("https://{API}:{}{path}", s.up)
}

/// The records, once there are `n` (a record is made as its tunnel ends, which may be just
/// after curl exits).
fn events(s: &Setup, n: usize) -> Vec<ConnEvent> {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let ev = s.events.lock().unwrap().clone();
        if ev.len() >= n || Instant::now() > end {
            return ev;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every record, as Debug and as JSON, is free of the token.
fn assert_no_token(ev: &[ConnEvent]) {
    for e in ev {
        let dbg = format!("{e:?}");
        let json = serde_json::to_string(e).unwrap();
        assert!(!dbg.contains("s3cr3t") && !json.contains("s3cr3t"), "{dbg}");
    }
}

/// (1) The upstream gets exactly one Authorization header, the real one; curl gets the body.
#[test]
fn the_credential_replaces_the_clients_header() {
    let s = setup(&[], &[], None);
    let (code, body, status) = curl(
        &s,
        &s.run_ca,
        &api_url(&s, "/repos/x?page=2"),
        &["-H", "Authorization: fake"],
    );
    assert_eq!((code, status.as_str(), body.as_str()), (0, "200", BODY));
    let seen = wait_for(&s.record, 1);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].headers("authorization"), vec![TOKEN.to_string()]);
    assert!(
        seen[0].head.starts_with("GET /repos/x?page=2 HTTP/1.1\r\n"),
        "{}",
        seen[0].head
    );
    assert_eq!(seen[0].headers("host"), vec![format!("{API}:{}", s.up)]);
    assert_eq!(seen[0].headers("connection"), vec!["close".to_string()]);
    let ev = events(&s, 1);
    assert_eq!(ev.len(), 1, "{ev:?}");
    let e = &ev[0];
    assert_eq!((e.protocol, e.decision), ("https-intercepted", "allow"));
    assert_eq!((e.host.as_str(), e.port), (API, s.up));
    assert_eq!(e.method.as_deref(), Some("GET"));
    assert_eq!(e.path.as_deref(), Some("/repos/x"));
    assert_eq!(e.injected.as_deref(), Some("Authorization"));
    assert!(e.bytes_down > BODY.len() as u64, "{e:?}");
    assert_no_token(&ev);
}

/// (2) A credential for GET under /repos: elsewhere no header at all (the client's own is still
/// dropped).
#[test]
fn the_credential_follows_its_method_and_path_rules() {
    let s = setup(&["GET"], &["/repos"], None);
    for (args, path, injected) in [
        (&["-X", "POST"][..], "/repos", false),
        (&[][..], "/reposX", false),
        (&[][..], "/repos/a", true),
        (&[][..], "/repos/../admin", false),
    ] {
        let before = s.record.lock().unwrap().len();
        let mut a = args.to_vec();
        a.extend(["-H", "Authorization: fake", "--path-as-is"]);
        let (code, body, status) = curl(&s, &s.run_ca, &api_url(&s, path), &a);
        assert_eq!(
            (code, status.as_str(), body.as_str()),
            (0, "200", BODY),
            "{path}"
        );
        let seen = wait_for(&s.record, before + 1);
        let last = &seen[before];
        let want: Vec<String> = if injected { vec![TOKEN.into()] } else { vec![] };
        assert_eq!(
            last.headers("authorization"),
            want,
            "{args:?} {path}: {}",
            last.head
        );
    }
    let ev = events(&s, 4);
    let injected: Vec<_> = ev.iter().map(|e| e.injected.is_some()).collect();
    assert_eq!(injected, [false, false, true, false], "{ev:?}");
    assert_no_token(&ev);
}

/// (3) A host without a credential is tunnelled end to end: the test CA verifies, the run's CA
/// does not (no man in the middle), and the client's own header goes through untouched.
#[test]
fn other_hosts_are_not_intercepted() {
    let s = setup(&[], &[], None);
    let url = format!("https://{PLAIN}:{}/x", s.up);
    let (code, body, status) = curl(&s, &s.test_ca, &url, &["-H", "Authorization: mine"]);
    assert_eq!((code, status.as_str(), body.as_str()), (0, "200", BODY));
    let seen = wait_for(&s.record, 1);
    assert_eq!(seen[0].headers("authorization"), vec!["mine".to_string()]);
    // curl's own head, not cordon's: no Connection: close was added.
    assert!(seen[0].headers("connection").is_empty(), "{}", seen[0].head);
    let (code, _, _) = curl(&s, &s.run_ca, &url, &[]);
    assert_eq!(
        code, 60,
        "curl must fail verification (SSL certificate problem)"
    );
    // SOCKS5 to the credential's host is a plain tunnel: end-to-end TLS, no credential.
    let out = Command::new("curl")
        .args(["-sS", "--noproxy", "", "--max-time", "60", "--proxy"])
        .arg(format!("socks5h://127.0.0.1:{}", s.proxy))
        .arg("--cacert")
        .arg(&s.test_ca)
        .args(["-H", "Authorization: mine", &api_url(&s, "/repos")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), BODY, "{out:?}");
    let seen = wait_for(&s.record, 3);
    let socks: Vec<_> = seen
        .iter()
        .filter(|x| x.head.starts_with("GET /repos "))
        .collect();
    assert_eq!(socks.len(), 1, "{seen:?}");
    assert_eq!(socks[0].headers("authorization"), vec!["mine".to_string()]);
    // And the intercepted host does not verify with the server's real CA: it is intercepted.
    let (code, _, _) = curl(&s, &s.test_ca, &api_url(&s, "/"), &[]);
    assert_eq!(code, 60);
    let ev = events(&s, 4);
    // (Sorted: a record is made as its tunnel ends.)
    let mut protocols: Vec<_> = ev.iter().map(|e| e.protocol).collect();
    protocols.sort_unstable();
    assert_eq!(
        protocols,
        ["connect", "connect", "https-intercepted", "socks5"],
        "{ev:?}"
    );
    let refused = ev.iter().find(|e| e.protocol == "https-intercepted");
    assert!(
        refused.is_some_and(|e| e.rule.contains("UnknownCA")),
        "{ev:?}"
    );
}

/// (4) A Host header inside the TLS for another host is refused, and the upstream gets nothing.
#[test]
fn an_inner_host_header_must_name_the_connect_host() {
    let s = setup(&[], &[], None);
    let (code, body, status) = curl(
        &s,
        &s.run_ca,
        &api_url(&s, "/repos"),
        &["-H", "Host: other.example.test"],
    );
    assert_eq!((code, status.as_str()), (0, "403"), "{body}");
    assert!(body.contains("does not match"), "{body}");
    let seen = wait_for(&s.record, 1);
    assert!(
        seen.iter().all(|x| x.raw_in == 0 && x.head.is_empty()),
        "{seen:?}"
    );
    let ev = events(&s, 1);
    assert_eq!(ev[0].decision, "deny", "{ev:?}");
    assert_eq!(ev[0].protocol, "https-intercepted");
}

/// (4b) A ClientHello naming another host than the CONNECT's is refused before any TLS.
#[test]
fn a_client_hello_for_another_host_is_refused() {
    let s = setup(&[], &[], None);
    let (mut sock, mut conn) = raw_tls(&s, "other.example.test");
    let mut done = Ok((0, 0));
    while conn.is_handshaking() {
        done = conn.complete_io(&mut sock);
        if done.is_err() {
            break;
        }
    }
    assert!(done.is_err(), "the handshake must fail");
    drop(sock);
    let seen = wait_for(&s.record, 1);
    assert!(seen.iter().all(|x| x.raw_in == 0), "{seen:?}");
    let ev = events(&s, 1);
    assert!(
        ev[0]
            .rule
            .contains("TLS server name \"other.example.test\" does not match"),
        "{ev:?}"
    );
}

/// A CONNECT to `API` through the proxy, and a TLS client (trusting the run's CA) naming
/// `sni`, its handshake not started.
fn raw_tls(s: &Setup, sni: &str) -> (TcpStream, rustls::ClientConnection) {
    let mut sock = TcpStream::connect(("127.0.0.1", s.proxy)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(sock, "CONNECT {API}:{} HTTP/1.1\r\n\r\n", s.up).unwrap();
    let mut rep = [0u8; 39];
    sock.read_exact(&mut rep).unwrap();
    assert!(rep.starts_with(b"HTTP/1.1 200 "), "{rep:?}");
    let mut roots = RootCertStore::empty();
    let pem = std::fs::read_to_string(&s.run_ca).unwrap();
    use rustls::pki_types::pem::PemObject;
    roots
        .add(CertificateDer::from_pem_slice(pem.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(sni.to_string()).unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    (sock, conn)
}

/// A malformed head inside the TLS is answered 400 there, and recorded for the host.
#[test]
fn a_malformed_head_inside_is_refused() {
    let s = setup(&[], &[], None);
    let (mut sock, mut conn) = raw_tls(&s, API);
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(b"GET / HTTP/1.1\r\nHost: api.example.test\nX: y\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    let seen = wait_for(&s.record, 1);
    assert!(seen.iter().all(|x| x.raw_in == 0), "{seen:?}");
    let ev = events(&s, 1);
    assert_eq!(
        (ev[0].protocol, ev[0].host.as_str(), ev[0].decision),
        ("https-intercepted", API, "deny"),
        "{ev:?}"
    );
    assert!(ev[0].rule.starts_with("bad request: "), "{ev:?}");
}

/// (5) An upstream whose certificate the proxy does not trust gets no request: curl gets 502.
#[test]
fn an_untrusted_upstream_gets_no_request() {
    let other = test_ca();
    let s = setup(&[], &[], Some(other.roots()));
    let (code, body, status) = curl(
        &s,
        &s.run_ca,
        &api_url(&s, "/repos"),
        &["-H", "Authorization: fake"],
    );
    assert_eq!((code, status.as_str()), (0, "502"), "{body}");
    assert!(body.contains("TLS to api.example.test"), "{body}");
    assert!(!body.contains("s3cr3t"));
    let seen = wait_for(&s.record, 1);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        !seen[0].handshake_done && seen[0].head.is_empty(),
        "{seen:?}"
    );
    let ev = events(&s, 1);
    assert_eq!(ev[0].decision, "deny", "{ev:?}");
    assert!(ev[0].rule.contains("TLS to api.example.test"), "{ev:?}");
    assert_no_token(&ev);
}

/// (6) The token is in no record, no stderr line, no Debug.
#[test]
fn the_token_never_shows() {
    // The proxy's stderr, captured: fd 2 goes to a file while the scenarios run.
    let path = temp_file("stderr", "");
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: dup and dup2 on file descriptors this process owns (2, and the file's, kept open
    // until after the second dup2); nothing else is affected but where stderr goes.
    let saved = unsafe { libc::dup(2) };
    assert!(saved >= 0);
    // SAFETY: as above.
    assert!(unsafe { libc::dup2(file.as_raw_fd(), 2) } >= 0);
    let mut all = Vec::new();
    {
        let s = setup(&["GET"], &["/repos"], None);
        curl(&s, &s.run_ca, &api_url(&s, "/repos/a"), &[]);
        curl(
            &s,
            &s.run_ca,
            &api_url(&s, "/x"),
            &["-H", "Host: evil.test"],
        );
        all.extend(events(&s, 1));
        let other = test_ca();
        let s = setup(&[], &[], Some(other.roots()));
        curl(&s, &s.run_ca, &api_url(&s, "/repos"), &[]);
        all.extend(events(&s, 1));
    }
    // SAFETY: restores the saved descriptor as stderr, then closes the copy.
    unsafe {
        libc::dup2(saved, 2);
        libc::close(saved);
    }
    let stderr = std::fs::read_to_string(&path).unwrap();
    assert!(stderr.contains("cordon: network:"), "{stderr}");
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
    assert!(all.len() >= 2, "{all:?}");
    assert_no_token(&all);
    let cred = Credential::new(
        API,
        443,
        "Authorization",
        Secret::new(TOKEN),
        vec![],
        vec![],
    )
    .unwrap();
    let policy = NetPolicy {
        credentials: vec![cred.clone()],
        ..NetPolicy::default()
    };
    let shown = format!("{cred:?} {policy:?} {policy:#?}");
    assert!(
        !shown.contains("s3cr3t") && shown.contains("<redacted>"),
        "{shown}"
    );
}

/// A request body goes through the intercepted tunnel whole, after the head with the credential.
#[test]
fn a_body_is_forwarded() {
    let s = setup(&["POST"], &[], None);
    let (code, body, status) = curl(
        &s,
        &s.run_ca,
        &api_url(&s, "/upload"),
        &["--data-binary", "a=1&b=2\r\nmore"],
    );
    assert_eq!((code, status.as_str(), body.as_str()), (0, "200", BODY));
    let seen = wait_for(&s.record, 1);
    assert!(
        seen[0].head.starts_with("POST /upload HTTP/1.1\r\n"),
        "{seen:?}"
    );
    assert!(
        seen[0].head.ends_with("\r\n\r\na=1&b=2\r\nmore"),
        "{seen:?}"
    );
    assert_eq!(seen[0].headers("authorization"), vec![TOKEN.to_string()]);
    let ev = events(&s, 1);
    assert_eq!(ev[0].decision, "allow", "{ev:?}");
    assert_eq!(ev[0].bytes_up as usize, seen[0].head.len(), "{ev:?}");
}

/// An Upgrade (WebSocket, h2c) inside an intercepted tunnel is refused: HTTP/1.1 requests only.
#[test]
fn an_upgrade_inside_is_refused() {
    let s = setup(&[], &[], None);
    let (code, body, status) = curl(
        &s,
        &s.run_ca,
        &api_url(&s, "/ws"),
        &["-H", "Upgrade: websocket", "-H", "Connection: Upgrade"],
    );
    assert_eq!((code, status.as_str()), (0, "403"), "{body}");
    assert!(body.contains("Upgrade"), "{body}");
    let seen = wait_for(&s.record, 1);
    assert!(seen.iter().all(|x| x.raw_in == 0), "{seen:?}");
    let ev = events(&s, 1);
    assert_eq!(
        (ev[0].decision, ev[0].path.as_deref()),
        ("deny", Some("/ws"))
    );
}
