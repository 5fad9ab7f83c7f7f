//! What TLS interception costs, against its baselines in the same run (bench/intercept.sh runs
//! it in release). Loopback only: a rustls upstream with a test CA made here (rcgen), names
//! pinned with `NetPolicy::resolve`, `allow_local`.
//!
//! Sequential HTTPS requests, each on a NEW connection (as curl does per invocation, and as
//! interception forces: one request per tunnel), interleaved:
//!   (a) direct to the upstream;
//!   (b) through the proxy as a plain CONNECT tunnel (TLS end to end);
//!   (c) through the proxy intercepted (the client trusts the run's CA; a credential injected).
//! The client does the same work in all three: one rustls client configuration (ring, TLS 1.3,
//! ALPN http/1.1, both CAs trusted, session resumption off), a fresh connection each time.
//! Also a POST with a 64-byte body, tunnelled and intercepted, and per case the requests over
//! 20 ms (a Nagle / delayed-ACK stall shows there). Then the two handshakes' CPU in memory, and
//! the one-time costs: `RunCa::new` for 1 host, the first `leaf()` and `server_config()`, and
//! `tls::system_roots()`. Figures: docs/benchmarks.md, "TLS interception".
//!
//! usage: interceptbench [REQUESTS]   (default 1000)

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cordon_net::tls::{self, RunCa};
use cordon_net::{Credential, NetPolicy, Secret};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
};
use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig, StreamOwned,
};

/// Intercepted (the credential's host, listed by the run's CA).
const API: &str = "api.bench.test";
/// Tunnelled end to end (allowed, no credential).
const PLAIN: &str = "plain.bench.test";
const TOKEN: &str = "Bearer bench-token";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The upstream's test CA (ECDSA P-256, as the run's CA) and its leaf for `API` and `PLAIN`.
fn upstream_certs() -> (CertificateDer<'static>, Arc<ServerConfig>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "cordon bench upstream CA");
    let ca = params.self_signed(&key).unwrap();
    let issuer = Issuer::new(params, key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec![API.to_string(), PLAIN.to_string()]).unwrap();
    leaf.distinguished_name = DistinguishedName::new();
    leaf.distinguished_name.push(DnType::CommonName, API);
    let leaf = leaf.signed_by(&leaf_key, &issuer).unwrap();
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone(), ca.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    (ca.der().clone(), Arc::new(config))
}

/// A TLS server on 127.0.0.1:0, one thread per connection: reads one request head, answers
/// `ok` with `Connection: close`, closes. Counts the heads that carried the credential, and the
/// resumed handshakes (the bench's client never resumes: those are the proxy's).
fn upstream(config: Arc<ServerConfig>) -> (u16, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let injected = Arc::new(AtomicUsize::new(0));
    let resumed = Arc::new(AtomicUsize::new(0));
    let (seen, resumed2) = (injected.clone(), resumed.clone());
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let _ = s.set_nodelay(true);
            let (config, seen, resumed) = (config.clone(), seen.clone(), resumed2.clone());
            std::thread::spawn(move || {
                let Ok(mut conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::Stream::new(&mut conn, &mut s);
                let mut head = Vec::new();
                let mut b = [0u8; 4096];
                // The head, then a Content-Length body whole, before the answer.
                while !complete(&head) {
                    match tls.read(&mut b) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&b[..n]),
                    }
                }
                if conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                    resumed.fetch_add(1, Ordering::Relaxed);
                }
                let mut tls = rustls::Stream::new(&mut conn, &mut s);
                let needle = format!("Authorization: {TOKEN}\r\n");
                if head.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    seen.fetch_add(1, Ordering::Relaxed);
                }
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
                conn.send_close_notify();
                let _ = conn.complete_io(&mut s);
            });
        }
    });
    (port, injected, resumed)
}

/// Whether `req` holds a whole request: its head and its `Content-Length` body.
fn complete(req: &[u8]) -> bool {
    let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
    let len: usize = head
        .split("\r\n")
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap_or(0));
    req.len() >= end + 4 + len
}

/// The one client configuration of all three cases: both CAs trusted, no session resumption
/// (every connection pays a full handshake, as a fresh curl does).
fn client_config(upstream_ca: CertificateDer<'static>, run_ca_pem: &str) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(upstream_ca).unwrap();
    roots
        .add(CertificateDer::from_pem_slice(run_ca_pem.as_bytes()).unwrap())
        .unwrap();
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = Resumption::disabled();
    Arc::new(config)
}

/// One HTTPS request over `tcp` (direct, or a tunnel already open) for `host`: handshake,
/// request, response read to the server's close. Returns the response.
fn https_get(
    config: &Arc<ClientConfig>,
    tcp: TcpStream,
    host: &'static str,
    port: u16,
    body: &str,
) -> Vec<u8> {
    let conn = ClientConnection::new(config.clone(), ServerName::try_from(host).unwrap()).unwrap();
    tcp.set_nodelay(true).unwrap();
    let mut tls = StreamOwned::new(conn, tcp);
    // One write: one TLS record, as curl sends it.
    let req = if body.is_empty() {
        format!("GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n")
    } else {
        let n = body.len();
        format!("POST / HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {n}\r\n\r\n{body}")
    };
    tls.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        match tls.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&b[..n]),
        }
    }
    assert!(
        out.starts_with(b"HTTP/1.1 200") && out.ends_with(b"ok"),
        "{host}: {}",
        String::from_utf8_lossy(&out)
    );
    out
}

fn connect_tunnel(proxy: u16, host: &str, port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", proxy)).unwrap();
    write!(
        s,
        "CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200"));
    s
}

/// Median and p90, in µs.
fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    (us(v[v.len() / 2]), us(v[v.len() * 9 / 10]))
}

/// Prints one case's median, p90 (µs) and how many took over 20 ms; returns the median.
fn row(what: &str, v: Vec<Duration>) -> f64 {
    let slow = v.iter().filter(|d| **d > Duration::from_millis(20)).count();
    let (median, p90) = stats(v);
    println!("  {what:<48} {median:>9.0}  {p90:>9.0}  {slow:>8}");
    median
}

/// Moves every pending TLS record from `from` to `to`; returns the time each side spent.
fn pump(from: &mut Connection, to: &mut Connection) -> (Duration, Duration) {
    let t = Instant::now();
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).unwrap();
    }
    let spent_from = t.elapsed();
    let t = Instant::now();
    let mut r = &buf[..];
    while !r.is_empty() {
        to.read_tls(&mut r).unwrap();
        to.process_new_packets().unwrap();
    }
    (spent_from, t.elapsed())
}

/// One handshake in memory (no socket): the CPU each side spends, in µs, and whether it
/// resumed a session. The server's session tickets are delivered too (the next one may resume).
fn handshake(client: &Arc<ClientConfig>, server: &Arc<ServerConfig>) -> (f64, f64, bool) {
    let t = Instant::now();
    let mut c = Connection::Client(
        ClientConnection::new(client.clone(), ServerName::try_from(API).unwrap()).unwrap(),
    );
    let (mut tc, mut ts) = (t.elapsed(), Duration::ZERO);
    let t = Instant::now();
    let mut s = Connection::Server(rustls::ServerConnection::new(server.clone()).unwrap());
    ts += t.elapsed();
    loop {
        let (x, y) = pump(&mut c, &mut s);
        tc += x;
        ts += y;
        let (x, y) = pump(&mut s, &mut c);
        ts += x;
        tc += y;
        if !c.is_handshaking() && !s.is_handshaking() && !c.wants_write() && !s.wants_write() {
            break;
        }
    }
    let resumed = c.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    (us(tc), us(ts), resumed)
}

/// The CPU of the two handshakes an intercepted request adds to a tunnel's one, in memory:
/// the client's full handshake with the proxy (the run's leaf: P-256), and the proxy's own with
/// the upstream (`tls::upstream_config`, which resumes its session, as it does in the proxy).
fn handshake_cpu(
    reps: usize,
    client: &Arc<ClientConfig>,
    ca: &RunCa,
    upstream: (CertificateDer<'static>, Arc<ServerConfig>),
) {
    let leg = |c: &Arc<ClientConfig>, s: &Arc<ServerConfig>| {
        handshake(c, s); // the first one: a full handshake that leaves a ticket (if kept)
        let (mut cs, mut ss, mut resumed) = (Vec::new(), Vec::new(), 0);
        for _ in 0..reps {
            let (c, s, r) = handshake(c, s);
            cs.push(Duration::from_secs_f64(c / 1e6));
            ss.push(Duration::from_secs_f64(s / 1e6));
            resumed += usize::from(r);
        }
        (stats(cs).0, stats(ss).0, resumed)
    };
    let (c1, s1, r1) = leg(client, &ca.server_config(API).unwrap());
    let mut roots = RootCertStore::empty();
    roots.add(upstream.0).unwrap();
    let proxy_client = tls::upstream_config(roots).unwrap();
    let (c2, s2, r2) = leg(&proxy_client, &upstream.1);
    println!("handshake CPU in memory ({reps} each, median µs; client side / server side):");
    println!(
        "  client <-> proxy, full (X25519; leaf P-256: the proxy signs, the client verifies 2 signatures) {c1:>5.0} / {s1:>5.0}  (resumed: {r1})"
    );
    println!(
        "  proxy <-> upstream, tls::upstream_config (its session resumed)                            {c2:>5.0} / {s2:>5.0}  (resumed: {r2})"
    );
    println!(
        "  the proxy's share of an intercepted request: {:.0} µs of handshake CPU (server side of the first, client side of the second)",
        s1 + c2
    );
}

/// The one-time costs, each measured on fresh objects `reps` times: median and max, in µs.
fn one_time(reps: usize) {
    let mut new = Vec::new();
    let mut leaf = Vec::new();
    let mut config = Vec::new();
    let mut cached = Vec::new();
    let mut roots = Vec::new();
    let hosts = [API.to_string()];
    for _ in 0..reps {
        let t = Instant::now();
        let ca = RunCa::new(&hosts).unwrap();
        new.push(t.elapsed());
        let t = Instant::now();
        ca.leaf(API).unwrap();
        leaf.push(t.elapsed());
        let t = Instant::now();
        ca.server_config(API).unwrap();
        config.push(t.elapsed());
        let t = Instant::now();
        ca.server_config(API).unwrap();
        cached.push(t.elapsed());
        let t = Instant::now();
        let r = tls::system_roots().unwrap();
        roots.push(t.elapsed());
        assert!(!r.is_empty());
    }
    let n_roots = tls::system_roots().map(|r| r.len()).unwrap_or(0);
    println!("one-time costs ({reps} fresh instances each; median / max, µs):");
    let line = |what: &str, v: Vec<Duration>| {
        let max = v.iter().max().copied().unwrap_or_default().as_secs_f64() * 1e6;
        println!("  {what:<58} {:>8.0} / {max:>8.0}", stats(v).0);
    };
    line("RunCa::new (1 host: P-256 key, self-signed CA)", new);
    line("first leaf() (P-256 key, signed by the CA)", leaf);
    line(
        "first server_config() (leaf cached by the call above)",
        config,
    );
    line("server_config() again (cached)", cached);
    line(
        &format!("tls::system_roots() ({n_roots} roots: the proxy's start)"),
        roots,
    );
}

fn main() {
    let reqs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let (upstream_ca, server) = upstream_certs();
    let (up, injected, resumed) = upstream(server.clone());
    let run_ca = Arc::new(RunCa::new(&[API.to_string()]).unwrap());
    let client = client_config(upstream_ca.clone(), &run_ca.cert_pem());
    let mut upstream_roots = RootCertStore::empty();
    upstream_roots.add(upstream_ca.clone()).unwrap();
    let cred =
        Credential::new(API, up, "Authorization", Secret::new(TOKEN), vec![], vec![]).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = l.local_addr().unwrap().port();
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
        intercept_ca: Some(run_ca.clone()),
        upstream_roots: Some(Arc::new(upstream_roots)),
        ..NetPolicy::default()
    };
    let handle = cordon_net::start(l, policy, Box::new(|_| {})).unwrap();

    let direct = || {
        let s = TcpStream::connect(("127.0.0.1", up)).unwrap();
        https_get(&client, s, API, up, "")
    };
    let tunnel = || https_get(&client, connect_tunnel(proxy, PLAIN, up), PLAIN, up, "");
    let intercepted = || https_get(&client, connect_tunnel(proxy, API, up), API, up, "");
    // A POST whose head and body the client sends in one write (one TLS record).
    let body = "x".repeat(64);
    let tunnel_post = || https_get(&client, connect_tunnel(proxy, PLAIN, up), PLAIN, up, &body);
    let intercepted_post = || https_get(&client, connect_tunnel(proxy, API, up), API, up, &body);
    // Warm-up (the first intercepted tunnel makes the host's leaf and server configuration).
    for _ in 0..20 {
        direct();
        tunnel();
        intercepted();
        tunnel_post();
        intercepted_post();
    }
    let before = injected.load(Ordering::Relaxed);
    let resumed_before = resumed.load(Ordering::Relaxed);
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    let (mut bp, mut cp) = (Vec::new(), Vec::new());
    for _ in 0..reqs {
        for (v, f) in [
            (&mut a, &direct as &dyn Fn() -> Vec<u8>),
            (&mut b, &tunnel),
            (&mut c, &intercepted),
            (&mut bp, &tunnel_post),
            (&mut cp, &intercepted_post),
        ] {
            let t = Instant::now();
            f();
            v.push(t.elapsed());
        }
    }
    let got = injected.load(Ordering::Relaxed) - before;
    assert_eq!(
        got,
        2 * reqs,
        "every intercepted request carries the credential"
    );
    println!(
        "{reqs} sequential HTTPS requests each, a new connection per request, interleaved; the client is the same in all \
         (rustls, ring, TLS 1.3, ALPN http/1.1, session resumption off: a full handshake every time)"
    );
    println!("                                                   median µs     p90 µs   > 20 ms");
    let a = row("(a) GET direct", a);
    let b = row("(b) GET, CONNECT tunnel (TLS end to end)", b);
    let c = row("(c) GET intercepted, credential added", c);
    row("    POST 64-byte body (one client write), tunnel", bp);
    row("    POST 64-byte body, intercepted", cp);
    println!(
        "  ratios of the GET medians: b/a {:.2}x, c/a {:.2}x, c/b {:.2}x; interception adds {:.0} µs per request over a tunnel",
        b / a,
        c / a,
        c / b,
        c - b
    );
    let resumed = resumed.load(Ordering::Relaxed) - resumed_before;
    println!(
        "  (the credential reached the upstream in all {got} intercepted requests; the proxy's own TLS to the upstream \
         resumed its session in {resumed} of them: rustls's default client session cache)"
    );
    handshake_cpu(200, &client, &run_ca, (upstream_ca, server));
    one_time(20);
    handle.shutdown();
}
