//! What a tunnel to an allowed name may carry, end to end. A "front" server on 127.0.0.1 (like a
//! CDN edge, which routes each request by its `Host` header or TLS server name) records every
//! byte each connection delivers to it; the sandboxed command opens tunnels to the allowed
//! `front.test:PORT` (HTTP CONNECT and SOCKS5, the proxies the command is given) and asks, inside
//! them, for `evil.test`: plain HTTP with `Host: evil.test` (also after a first, legitimate
//! request on the same connection, after a leading CRLF, as an absolute-form target, and with
//! its request line sent in two pieces), and TLS whose ClientHello names
//! evil.test. The front must never receive the name evil.test; the legitimate request and the
//! ClientHello for front.test itself still reach it. The same for the plain-HTTP proxy: a second
//! request or a CONNECT after a first one, a `Host` or userinfo naming evil.test, a smuggled
//! request, an `Upgrade`, SOCKS4/4a. Runs as the invoking user and as an
//! unprivileged user (the fallback refuses `--allow-domain` altogether: network.rs
//! `fallback_refuses_allow_domain`).

mod harness;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::{each, text, Case, Who};

/// Every connection the front accepted: the bytes it received on it.
type Received = Arc<Mutex<Vec<Vec<u8>>>>;

/// A server that reads each connection until the client stops sending, answers the first
/// request head it sees with a keep-alive response (inviting a second request), and records
/// everything it received.
fn front() -> (u16, Received) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got: Received = Arc::default();
    let g = got.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let g = g.clone();
            std::thread::spawn(move || {
                let i = {
                    let mut v = g.lock().unwrap();
                    v.push(Vec::new());
                    v.len() - 1
                };
                conn.set_read_timeout(Some(Duration::from_secs(1))).ok();
                let mut answered = false;
                let mut buf = [0u8; 4096];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut v = g.lock().unwrap();
                    v[i].extend_from_slice(&buf[..n]);
                    if !answered && v[i].windows(4).any(|w| w == b"\r\n\r\n") {
                        answered = true;
                        let _ = conn
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfront says");
                    }
                }
            });
        }
    });
    (port, got)
}

const SCRIPT: &str = r#"
import socket, ssl, struct, sys, time
P = int(sys.argv[1])
def via_connect():
    s = socket.create_connection(('127.0.0.1', 3128), 3)
    s.sendall(b'CONNECT front.test:%d HTTP/1.1\r\nHost: front.test:%d\r\n\r\n' % (P, P))
    head = b''
    while b'\r\n\r\n' not in head:
        b = s.recv(1)
        if not b: break
        head += b
    print('connect:', head.split(b'\r\n')[0].decode(), flush=True)
    return s
def via_socks():
    s = socket.create_connection(('127.0.0.1', 3128), 3)
    s.sendall(b'\x05\x01\x00'); s.recv(2)
    s.sendall(b'\x05\x01\x00\x03\x0afront.test' + struct.pack('>H', P))
    print('socks reply:', s.recv(10)[1], flush=True)
    return s
def send(name, tunnel, *parts):
    # The parts 0.3 s apart; then everything the tunnel answers, until it closes.
    try:
        s = tunnel(); s.settimeout(4)
        for i, p in enumerate(parts):
            if i: time.sleep(0.3)
            s.sendall(p)
        got = b''
        while True:
            b = s.recv(4096)
            if not b: break
            got += b
        print(name, '->', got[:80], flush=True)
    except Exception as e:
        print(name, 'ended:', type(e).__name__, flush=True)
def http(name, tunnel, payload):
    send(name, tunnel, payload)
def split(name, tunnel, first, rest):
    send(name, tunnel, first, rest)
def tls(name, tunnel, sni):
    try:
        s = tunnel(); s.settimeout(4)
        ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
        ctx.wrap_socket(s, server_hostname=sni).close()
    except Exception as e:
        print(name, 'ended:', type(e).__name__, flush=True)
def direct():
    s = socket.create_connection(('127.0.0.1', 3128), 3)
    return s
# The plain-HTTP proxy itself (evil.test is pinned to the front's address and port: a request
# the proxy sent there would show in the front's record).
F = b'front.test:%d' % P
E = b'evil.test:%d' % P
http('plain keep-alive', direct, b'GET http://' + F + b'/first HTTP/1.1\r\nHost: ' + F + b'\r\n\r\nGET http://' + E + b'/second HTTP/1.1\r\nHost: ' + E + b'\r\n\r\n')
http('plain connect after', direct, b'GET http://' + F + b'/first HTTP/1.1\r\n\r\nCONNECT ' + E + b' HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHost: evil.test\r\n\r\n')
http('plain host header', direct, b'GET http://' + F + b'/ HTTP/1.1\r\nHost: evil.test\r\n\r\n')
http('plain userinfo', direct, b'GET http://' + F + b'@' + E + b'/ HTTP/1.1\r\n\r\n')
http('plain smuggled', direct, b'POST http://' + F + b'/ HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET http://' + E + b'/ HTTP/1.1\r\n\r\n')
http('plain upgrade', direct, b'GET http://' + F + b'/ HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET / HTTP/1.1\r\nHost: evil.test\r\n\r\n')
http('plain http/1.0', direct, b'GET http://' + E + b'/ HTTP/1.0\r\n\r\n')
http('socks4a', direct, b'\x04\x01' + struct.pack('>H', P) + b'\x00\x00\x00\x01\x00evil.test\x00')
http('socks4', direct, b'\x04\x01' + struct.pack('>H', P) + b'\x7f\x00\x00\x01\x00')
for tunnel in (via_connect, via_socks):
    t = tunnel.__name__
    http(t + ' fronted', tunnel, b'GET /fronted HTTP/1.1\r\nHost: evil.test\r\n\r\n')
    http(t + ' keep-alive', tunnel, b'GET /first HTTP/1.1\r\nHost: front.test\r\n\r\nGET /second HTTP/1.1\r\nHost: evil.test\r\n\r\n')
    http(t + ' crlf', tunnel, b'\r\nGET /crlf HTTP/1.1\r\nHost: evil.test\r\n\r\n')
    http(t + ' absolute', tunnel, b'GET http://evil.test/abs HTTP/1.1\r\nHost: front.test\r\n\r\n')
    split(t + ' split', tunnel, b'GET /split HT', b'TP/1.1\r\nHost: evil.test\r\n\r\n')
    tls(t + ' tls', tunnel, 'evil.test')
    http(t + ' ok', tunnel, b'GET /ok HTTP/1.1\r\nHost: front.test\r\n\r\n')
    tls(t + ' tls ok', tunnel, 'front.test')
print('done')
"#;

fn tunnels_carry_their_host_only(c: &Case) {
    let (port, got) = front();
    std::fs::write(c.ws.join("tunnels.py"), SCRIPT).unwrap();
    c.chown_all();
    let log = c.base.join("net.jsonl");
    let o = c.cordon(&[
        "run",
        &format!("--allow-domain=front.test:{port}"),
        "--resolve=front.test:127.0.0.1",
        "--resolve=evil.test:127.0.0.1",
        "--allow-local",
        &format!("--net-log={}", log.display()),
        "--",
        "python3",
        "tunnels.py",
        &port.to_string(),
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let out = text(&o);
    assert!(out.contains("done"), "[{}] {out}", c.label());
    let got = got.lock().unwrap().clone();
    for (i, bytes) in got.iter().enumerate() {
        let s = String::from_utf8_lossy(bytes).to_lowercase();
        assert!(
            !s.contains("evil.test"),
            "[{}] connection {i} carried evil.test to the front: {s:?}\n{out}",
            c.label()
        );
    }
    // What was allowed still works: the request for front.test (answered, through both
    // tunnels), and a ClientHello naming front.test.
    let all: Vec<String> = got
        .iter()
        .map(|b| String::from_utf8_lossy(b).to_string())
        .collect();
    assert_eq!(
        all.iter()
            .filter(|s| s.starts_with("GET /ok HTTP/1.1\r\nHost: front.test"))
            .count(),
        2,
        "[{}] {all:?}\n{out}",
        c.label()
    );
    assert!(
        out.contains("via_connect ok -> b'HTTP/1.1 200 OK")
            && out.contains("via_socks ok -> b'HTTP/1.1 200 OK"),
        "[{}] {out}",
        c.label()
    );
    assert_eq!(
        got.iter()
            .filter(
                |b| b.first() == Some(&0x16) && String::from_utf8_lossy(b).contains("front.test")
            )
            .count(),
        2,
        "[{}] {all:?}\n{out}",
        c.label()
    );
    // Each refusal is recorded, naming what the tunnel tried to reach.
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    let denied = log
        .lines()
        .filter(|l| l.contains("\"decision\":\"deny\"") && l.contains("evil.test"))
        .count();
    assert!(denied >= 6, "[{}] {log}", c.label());
}

mod tunnels_carry_their_host_only {
    use super::*;
    #[test]
    fn invoker() {
        each(super::tunnels_carry_their_host_only, Who::Invoker, false)
    }
    #[test]
    fn unprivileged() {
        each(
            super::tunnels_carry_their_host_only,
            Who::Unprivileged,
            false,
        )
    }
}

/// A ClientHello for front.test that also carries an encrypted ClientHello extension (ECH,
/// 0xfe0d): an ECH-capable front would route by the encrypted inner name, so the tunnel is
/// closed before the front gets a byte, unless `--allow-ech`.
const ECH_SCRIPT: &str = r#"
import socket, struct, sys
P = int(sys.argv[1])
def ext(t, body): return struct.pack('>HH', t, len(body)) + body
name = b'front.test'
sni = ext(0, struct.pack('>HBH', len(name) + 3, 0, len(name)) + name)
ech = ext(0xfe0d, b'\x00' + b'\x01' * 40)
exts = sni + ech
body = b'\x03\x03' + b'\x07' * 32 + b'\x00' + b'\x00\x02\x13\x01' + b'\x01\x00' + struct.pack('>H', len(exts)) + exts
hs = b'\x01' + struct.pack('>I', len(body))[1:] + body
rec = b'\x16\x03\x01' + struct.pack('>H', len(hs)) + hs
s = socket.create_connection(('127.0.0.1', 3128), 3)
s.sendall(b'CONNECT front.test:%d HTTP/1.1\r\n\r\n' % P)
print(s.recv(39))
s.sendall(rec)
s.settimeout(3)
try:
    print('closed' if s.recv(100) == b'' else 'open')
except Exception as e:
    print('ended', type(e).__name__)
"#;

fn ech_is_refused_unless_allowed(c: &Case) {
    std::fs::write(c.ws.join("ech.py"), ECH_SCRIPT).unwrap();
    c.chown_all();
    for allow in [false, true] {
        let (port, got) = front();
        let allow_domain = format!("--allow-domain=front.test:{port}");
        let mut args = vec![
            "run",
            &allow_domain,
            "--resolve=front.test:127.0.0.1",
            "--allow-local",
        ];
        if allow {
            args.push("--allow-ech");
        }
        let p = port.to_string();
        args.extend(["--", "python3", "ech.py", &p]);
        let o = c.cordon(&args);
        std::thread::sleep(Duration::from_millis(300));
        let got = got.lock().unwrap().clone();
        let out = text(&o);
        assert_eq!(got.len(), 1, "[{}] {out}", c.label());
        if allow {
            assert!(got[0].first() == Some(&0x16), "[{}] {out}", c.label());
        } else {
            assert!(
                got[0].is_empty(),
                "[{}] the front got {:?}",
                c.label(),
                got[0]
            );
            assert!(
                out.contains("the ClientHello is encrypted (ECH)") && out.contains("--allow-ech"),
                "[{}] {out}",
                c.label()
            );
        }
    }
}

mod ech_is_refused_unless_allowed {
    use super::*;
    #[test]
    fn invoker() {
        each(super::ech_is_refused_unless_allowed, Who::Invoker, false)
    }
    #[test]
    fn unprivileged() {
        each(
            super::ech_is_refused_unless_allowed,
            Who::Unprivileged,
            false,
        )
    }
}

/// Around the proxy: every socket family a command could use to reach the host directly. A UDP
/// socket and a TCP listener on the host's 127.0.0.1 must receive nothing; vsock (to the host,
/// CID 2), packet and raw sockets must not open. Namespaces: the sandbox's loopback is its
/// own, its only interface; no capability for packet or raw sockets; seccomp refuses AF_VSOCK.
/// Fallback: seccomp refuses socket() altogether. Abstract unix sockets and io_uring:
/// sandbox_attacks.rs (abstract_socket, kernel_surface).
fn no_socket_reaches_the_host(c: &Case) {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(true).unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let (u, t) = (
        udp.local_addr().unwrap().port(),
        tcp.local_addr().unwrap().port(),
    );
    let script = format!(
        r#"
import socket, errno
def t(name, f):
    try:
        f(); print(name, 'OPEN')
    except OSError as e:
        print(name, 'refused', errno.errorcode.get(e.errno, e.errno))
t('vsock', lambda: socket.socket(40, socket.SOCK_STREAM).connect((2, 1234)))
t('packet', lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0x0300))
t('raw', lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
t('raw6', lambda: socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6))
t('udp', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', {u})))
t('udp6', lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).sendto(b'x', ('::ffff:127.0.0.1', {u})))
t('tcp', lambda: socket.create_connection(('127.0.0.1', {t}), 2).send(b'x'))
t('tcp0', lambda: socket.create_connection(('0.0.0.0', {t}), 2).send(b'x'))
print('done')
"#
    );
    std::fs::write(c.ws.join("socks.py"), script).unwrap();
    c.chown_all();
    let o = c.cordon(&["run", "--", "python3", "socks.py"]);
    std::thread::sleep(Duration::from_millis(200));
    let out = text(&o);
    assert!(out.contains("done"), "[{}] {out}", c.label());
    let mut b = [0u8; 16];
    assert!(
        udp.recv_from(&mut b).is_err(),
        "[{}] UDP reached the host: {out}",
        c.label()
    );
    assert!(
        tcp.accept().is_err(),
        "[{}] TCP reached the host: {out}",
        c.label()
    );
    for fam in ["vsock", "packet", "raw", "raw6"] {
        assert!(
            out.contains(&format!("{fam} refused")),
            "[{}] {fam}: {out}",
            c.label()
        );
    }
}

mod no_socket_reaches_the_host {
    use super::*;
    #[test]
    fn invoker() {
        each(super::no_socket_reaches_the_host, Who::Invoker, false)
    }
    #[test]
    fn unprivileged() {
        each(super::no_socket_reaches_the_host, Who::Unprivileged, false)
    }
    #[test]
    fn invoker_fallback() {
        each(super::no_socket_reaches_the_host, Who::Invoker, true)
    }
    #[test]
    fn unprivileged_fallback() {
        each(super::no_socket_reaches_the_host, Who::Unprivileged, true)
    }
}

/// A denied address stays denied whatever allowed name resolves to it (`--deny-domain
/// 127.0.0.1`, or a managed file's `never_allow_domains`): checked on the address the proxy
/// connects to, for plain HTTP, CONNECT and SOCKS5 alike.
fn denied_address_behind_an_allowed_name(c: &Case) {
    let (port, got) = front();
    let o = c.cordon(&[
        "run",
        &format!("--allow-domain=front.test:{port}"),
        "--resolve=front.test:127.0.0.1",
        "--allow-local",
        "--deny-domain=127.0.0.1",
        "--",
        "sh",
        "-c",
        &format!(
            "curl -sS http://front.test:{port}/plain; \
             curl -sS -p http://front.test:{port}/connect; \
             curl -sS --socks5-hostname 127.0.0.1:3128 http://front.test:{port}/socks; echo done"
        ),
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let out = text(&o);
    assert!(out.contains("done"), "[{}] {out}", c.label());
    let got = got.lock().unwrap().clone();
    assert!(
        got.is_empty(),
        "[{}] the denied address was reached: {:?}\n{out}",
        c.label(),
        got.iter()
            .map(|b| String::from_utf8_lossy(b))
            .collect::<Vec<_>>()
    );
    assert!(
        out.contains("front.test resolves to 127.0.0.1, denied by --deny-domain 127.0.0.1"),
        "[{}] {out}",
        c.label()
    );
}

mod denied_address_behind_an_allowed_name {
    use super::*;
    #[test]
    fn invoker() {
        each(
            super::denied_address_behind_an_allowed_name,
            Who::Invoker,
            false,
        )
    }
    #[test]
    fn unprivileged() {
        each(
            super::denied_address_behind_an_allowed_name,
            Who::Unprivileged,
            false,
        )
    }
}
