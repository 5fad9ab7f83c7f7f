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
        resolve: vec![("echo.test".into(), "127.0.0.1".parse().unwrap())],
        deny_origin: vec![],
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
