//! The proxy under hostile or heavy clients, served directly (no sandbox): garbage, slow loris,
//! half-closed sockets, 1,000 concurrent tunnels. Each checks that real traffic still flows.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cordon_net::{start, ConnEvent, NetPolicy, ProxyHandle};

/// An echo server on loopback: echoes until the client half-closes, then closes.
fn echo_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                loop {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if c.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = c.shutdown(Shutdown::Write);
            });
        }
    });
    port
}

fn proxy(allow: &[&str]) -> (ProxyHandle, u16, Arc<Mutex<Vec<ConnEvent>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let events = Arc::new(Mutex::new(Vec::new()));
    let e2 = events.clone();
    let policy = NetPolicy {
        allow: allow.iter().map(|a| a.parse().unwrap()).collect(),
        deny: vec![],
        allow_local: true,
        allow_ech: false,
        resolve: vec![("echo.test".into(), "127.0.0.1".parse().unwrap())],
        deny_origin: vec![],
        allow_origin: vec![],
        ..NetPolicy::default()
    };
    let h = start(l, policy, Box::new(move |ev| e2.lock().unwrap().push(ev))).unwrap();
    (h, port, events)
}

/// Opens a CONNECT tunnel to echo.test:port through the proxy.
fn tunnel(proxy_port: u16, echo_port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", proxy_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "CONNECT echo.test:{echo_port} HTTP/1.1\r\nHost: echo.test:{echo_port}\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

fn roundtrip(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).unwrap();
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, msg);
}

#[test]
fn garbage_and_slow_clients_do_not_block_others() {
    let echo = echo_server();
    let (h, p, _) = proxy(&[&format!("echo.test:{echo}")]);
    // Garbage: answered 400 or closed, never a crash.
    for junk in [
        &b"\x00\x01\x02garbage\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"CONNECT nohostport HTTP/1.1\r\n\r\n",
        &[0x05, 0x01, 0x02][..],
        &[b'A'; 40_000][..],
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", p)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let _ = s.write_all(junk);
        let _ = s.shutdown(Shutdown::Write);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        assert!(
            out.is_empty() || out.starts_with(b"HTTP/1.1 4") || out.starts_with(&[5]),
            "{:?}",
            String::from_utf8_lossy(&out)
        );
    }
    // 200 slow-loris connections that never finish their request head...
    let loris: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", p)).unwrap();
            s.write_all(b"CONNECT echo.test:1 HTTP/1.1\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    // ...and a real tunnel still works.
    let mut t = tunnel(p, echo);
    roundtrip(&mut t, b"still served");
    drop(loris);
    drop(t);
    h.shutdown();
}

#[test]
fn half_close_is_passed_on() {
    let echo = echo_server();
    let (h, p, events) = proxy(&[&format!("echo.test:{echo}")]);
    let mut t = tunnel(p, echo);
    t.write_all(b"last words").unwrap();
    t.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    t.read_to_end(&mut out).unwrap();
    assert_eq!(
        out, b"last words",
        "the server's reply after our half-close must arrive"
    );
    drop(t);
    std::thread::sleep(Duration::from_millis(200));
    let ev = events.lock().unwrap();
    assert!(
        ev.iter()
            .any(|e| e.decision == "allow" && e.bytes_up == 10 && e.bytes_down == 10),
        "{ev:?}"
    );
    drop(ev);
    h.shutdown();
}

#[test]
fn a_thousand_concurrent_tunnels() {
    let echo = echo_server();
    let (h, p, _) = proxy(&[&format!("echo.test:{echo}")]);
    // Four descriptors per tunnel live in this one process (client, proxy's two, echo server's).
    // SAFETY: getrlimit/setrlimit(2) on a local rlimit struct: raises this test process's own
    // soft limit to its hard one.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
    }
    // Open all first (they are concurrent), then use each.
    let mut tunnels: Vec<TcpStream> = (0..1000).map(|_| tunnel(p, echo)).collect();
    for (i, t) in tunnels.iter_mut().enumerate() {
        roundtrip(t, format!("tunnel {i}").as_bytes());
    }
    drop(tunnels);
    h.shutdown();
}

#[test]
fn refused_tunnel_answers_403_and_reaches_nothing() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = l.local_addr().unwrap().port();
    l.set_nonblocking(true).unwrap();
    let (h, p, events) = proxy(&["allowed.test:1"]);
    for req in [
        format!("CONNECT echo.test:{target} HTTP/1.1\r\n\r\n"),
        format!("CONNECT 127.0.0.1:{target} HTTP/1.1\r\n\r\n"),
        format!("GET http://echo.test:{target}/ HTTP/1.1\r\nHost: echo.test\r\n\r\n"),
        format!(
            "GET http://allowed.test:1@echo.test:{target}/ HTTP/1.1\r\nHost: echo.test\r\n\r\n"
        ),
        format!("GET http://allowed.test:1/ HTTP/1.1\r\nHost: echo.test:{target}\r\n\r\n"),
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", p)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.1 403"), "{req:?} → {out:?}");
        assert!(out.contains("cordon: "), "{out}");
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(l.accept().is_err(), "a refused request reached the target");
    assert!(events.lock().unwrap().iter().all(|e| e.decision == "deny"));
    h.shutdown();
}

/// An HTTP server on loopback that records every byte of every connection. It answers the first
/// request head of a connection with a small 200 and then, like a server ignoring
/// `Connection: close`, keeps reading until the client side closes: whatever the proxy lets
/// through after the first request is recorded.
fn recording_server() -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let seen = s2.clone();
            std::thread::spawn(move || {
                let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
                let mut got = Vec::new();
                let mut answered = false;
                let mut buf = [0u8; 4096];
                loop {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                    if !answered && got.windows(4).any(|w| w == b"\r\n\r\n") {
                        answered = true;
                        let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                    }
                }
                seen.lock().unwrap().push(got);
            });
        }
    });
    (port, seen)
}

/// Sends `req` through the proxy, half-closes, and returns everything the proxy answered.
fn exchange(proxy_port: u16, req: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", proxy_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(req).unwrap();
    // Read the answer before closing our side: a proxy may legitimately close when we do.
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.ends_with(b"ok") && !out.ends_with(b"\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    let _ = s.shutdown(Shutdown::Write);
    let _ = s.read_to_end(&mut out);
    out
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

#[test]
fn ambiguous_requests_get_400_and_reach_nothing() {
    let (port, seen) = recording_server();
    let (h, p, events) = proxy(&[&format!("echo.test:{port}")]);
    let line = format!("POST http://echo.test:{port}/x HTTP/1.1\r\n");
    let host = format!("Host: echo.test:{port}\r\n");
    let cases: Vec<(&str, String)> = vec![
        ("duplicate Host", format!("{line}{host}Host: other.test\r\n\r\n")),
        ("duplicate Host, same value", format!("{line}{host}{host}\r\n")),
        ("bare LF line endings", format!("GET http://echo.test:{port}/ HTTP/1.1\nHost: echo.test:{port}\n\n")),
        ("a bare LF in a header", format!("{line}{host}X-A: 1\nX-B: 2\r\n\r\n")),
        ("a bare CR in a header", format!("{line}{host}X-A: 1\rX-B: 2\r\n\r\n")),
        ("obs-fold", format!("{line}{host}X-A: 1\r\n continued\r\n\r\n")),
        ("duplicate Content-Length", format!("{line}{host}Content-Length: 1\r\nContent-Length: 1\r\n\r\nx")),
        ("conflicting Content-Length", format!("{line}{host}Content-Length: 1\r\nContent-Length: 20\r\n\r\nx")),
        ("Content-Length list", format!("{line}{host}Content-Length: 1, 1\r\n\r\nx")),
        ("Content-Length not digits", format!("{line}{host}Content-Length: 0x1\r\n\r\nx")),
        ("TE with CL", format!("{line}{host}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n")),
        ("TE not chunked", format!("{line}{host}Transfer-Encoding: gzip\r\n\r\n")),
        ("TE chunked not final", format!("{line}{host}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n")),
        ("TE twice", format!("{line}{host}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")),
        ("TE in HTTP/1.0", format!("POST http://echo.test:{port}/x HTTP/1.0\r\n{host}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")),
        ("TE with a vertical tab", format!("{line}{host}Transfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n")),
        ("space before the colon", format!("{line}{host}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n")),
        ("underscore framing header", format!("{line}{host}Content_Length: 5\r\n\r\nhello")),
        ("NUL in a value", format!("{line}{host}X-A: a\0b\r\n\r\n")),
        ("control character in a name", format!("{line}{host}X\x01A: 1\r\n\r\n")),
        ("control character in the target", format!("GET http://echo.test:{port}/\x7f HTTP/1.1\r\n{host}\r\n")),
        ("HTTP/2 version", format!("GET http://echo.test:{port}/ HTTP/2.0\r\n{host}\r\n")),
        ("CONNECT with a body", format!("CONNECT echo.test:{port} HTTP/1.1\r\n{host}Content-Length: 5\r\n\r\nhello")),
    ];
    for (what, req) in &cases {
        let out = exchange(p, req.as_bytes());
        let out = String::from_utf8_lossy(&out);
        assert!(out.starts_with("HTTP/1.1 400"), "{what}: {req:?} → {out:?}");
        assert!(out.contains("cordon: bad request: "), "{what}: {out}");
    }
    std::thread::sleep(Duration::from_millis(200));
    let seen = seen.lock().unwrap();
    assert!(
        seen.is_empty(),
        "a refused request reached the server: {:?}",
        seen.iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect::<Vec<_>>()
    );
    let ev = events.lock().unwrap();
    assert_eq!(
        ev.iter().filter(|e| e.decision == "deny").count(),
        cases.len(),
        "{ev:?}"
    );
    drop(ev);
    h.shutdown();
}

#[test]
fn nothing_after_the_first_body_reaches_the_server() {
    let (port, seen) = recording_server();
    let (h, p, events) = proxy(&[&format!("echo.test:{port}")]);
    let host = format!("Host: echo.test:{port}\r\n");
    // A second request on the same connection, for a host the policy would refuse, and one in
    // origin form that only the server would read.
    let smuggled = "GET http://forbidden.test/ HTTP/1.1\r\nHost: forbidden.test\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: internal\r\n\r\n";
    let cases: Vec<(String, &str)> = vec![
        (format!("GET http://echo.test:{port}/a HTTP/1.1\r\n{host}\r\n{smuggled}"), ""),
        (format!("POST http://echo.test:{port}/a HTTP/1.1\r\n{host}Content-Length: 5\r\n\r\nhello{smuggled}"), "hello"),
        (
            format!("POST http://echo.test:{port}/a HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n{smuggled}"),
            "5\r\nhello\r\n0\r\n\r\n",
        ),
        // The chunked body ends at its zero chunk, whatever follows looks like.
        (
            format!("POST http://echo.test:{port}/a HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n5\r\nhello\r\n{smuggled}"),
            "0\r\n\r\n",
        ),
        (format!("GET http://echo.test:{port}/a HTTP/1.0\r\n\r\n{smuggled}"), ""),
    ];
    for (req, body) in &cases {
        let out = exchange(p, req.as_bytes());
        let out = String::from_utf8_lossy(&out);
        assert!(out.starts_with("HTTP/1.1 200"), "{req:?} → {out:?}");
        std::thread::sleep(Duration::from_millis(100));
        let got = seen
            .lock()
            .unwrap()
            .pop()
            .expect("the allowed request reached nothing");
        let text = String::from_utf8_lossy(&got);
        assert_eq!(
            count(&got, b"HTTP/1."),
            1,
            "more than one request reached the server: {text:?}"
        );
        assert!(
            !text.contains("smuggled") && !text.contains("forbidden"),
            "{text:?}"
        );
        assert!(
            text.starts_with("GET /a HTTP/1.") || text.starts_with("POST /a HTTP/1.1"),
            "{text:?}"
        );
        assert!(
            text.contains(&format!("Host: echo.test:{port}\r\n")),
            "{text:?}"
        );
        assert!(text.contains("Connection: close\r\n"), "{text:?}");
        let after_head = &text[text.find("\r\n\r\n").unwrap() + 4..];
        assert_eq!(after_head, *body, "the body as forwarded");
    }
    // A malformed chunk: the head went out, then the proxy gave up; nothing after reached it.
    let req = format!("POST http://echo.test:{port}/a HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n{smuggled}");
    let _ = exchange(p, req.as_bytes());
    std::thread::sleep(Duration::from_millis(200));
    let got = seen
        .lock()
        .unwrap()
        .pop()
        .expect("the head reached the server");
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.ends_with("\r\n\r\n") && !text.contains("hello") && !text.contains("smuggled"),
        "{text:?}"
    );
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .any(|e| e.rule.contains("malformed request body")));
    h.shutdown();
}
