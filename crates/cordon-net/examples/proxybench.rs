//! The proxy's throughput and per-connection overhead against direct connections, measured in
//! the same run (bench/proxy.sh runs it in release). Loopback only.
//!
//! usage: proxybench [MIB] [REQUESTS]   (defaults: 1024 MiB, 1000 requests)

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn bulk_server(total: u64) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let buf = vec![0x5au8; 256 * 1024];
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let buf = buf.clone();
            std::thread::spawn(move || {
                let mut one = [0u8; 1];
                if c.read_exact(&mut one).is_err() {
                    return;
                }
                let mut left = total;
                while left > 0 {
                    let n = left.min(buf.len() as u64) as usize;
                    if c.write_all(&buf[..n]).is_err() {
                        return;
                    }
                    left -= n as u64;
                }
            });
        }
    });
    port
}

fn http_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = c.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            });
        }
    });
    port
}

fn read_all(mut s: TcpStream) -> u64 {
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return n,
            Ok(k) => n += k as u64,
        }
    }
}

/// The floor any relay pays on this machine: a bare relay with no policy, no parsing, one
/// blocking thread per direction and 1 MiB buffers (the same copy the proxy does, without tokio).
fn bare_relay(target: u16) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { continue };
            let Ok(up) = TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            let (c2, up2) = (c.try_clone().unwrap(), up.try_clone().unwrap());
            for (mut from, mut to) in [(c, up), (up2, c2)] {
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 1 << 20];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
    port
}

fn connect_tunnel(proxy: u16, host: &str, port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", proxy)).unwrap();
    write!(s, "CONNECT {host}:{port} HTTP/1.1\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200"));
    s
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mib: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let reqs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let total = mib << 20;
    let bulk = bulk_server(total);
    let http = http_server();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = l.local_addr().unwrap().port();
    let policy = cordon_net::NetPolicy {
        allow: vec![
            format!("bulk.test:{bulk}").parse().unwrap(),
            format!("web.test:{http}").parse().unwrap(),
        ],
        deny: vec![],
        allow_local: true,
        allow_ech: false,
        resolve: vec![
            ("bulk.test".into(), "127.0.0.1".parse().unwrap()),
            ("web.test".into(), "127.0.0.1".parse().unwrap()),
        ],
        deny_origin: vec![],
        allow_origin: vec![],
        ..cordon_net::NetPolicy::default()
    };
    let handle = cordon_net::start(l, policy, Box::new(|_| {})).unwrap();

    // Throughput: direct, through a bare relay, then through a CONNECT tunnel (alternated,
    // best of 3 each).
    let relay = bare_relay(bulk);
    let mut direct = Duration::MAX;
    let mut relayed = Duration::MAX;
    let mut tunneled = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let mut s = TcpStream::connect(("127.0.0.1", relay)).unwrap();
        s.write_all(b"g").unwrap();
        assert_eq!(read_all(s), total);
        relayed = relayed.min(t.elapsed());
        let t = Instant::now();
        let mut s = TcpStream::connect(("127.0.0.1", bulk)).unwrap();
        s.write_all(b"g").unwrap();
        assert_eq!(read_all(s), total);
        direct = direct.min(t.elapsed());
        let t = Instant::now();
        let mut s = connect_tunnel(proxy, "bulk.test", bulk);
        s.write_all(b"g").unwrap();
        assert_eq!(read_all(s), total);
        tunneled = tunneled.min(t.elapsed());
    }
    let mbps = |d: Duration| (total as f64 / (1 << 20) as f64) / d.as_secs_f64();
    println!("transfer {mib} MiB: direct {:.0} MiB/s, CONNECT tunnel {:.0} MiB/s, ratio {:.2}x (target >= 0.8x)", mbps(direct), mbps(tunneled), mbps(tunneled) / mbps(direct));
    println!(
        "  bare relay (threads, 1 MiB buffers, no policy) {:.0} MiB/s = {:.2}x direct: the floor of any user-space relay here; the proxy = {:.2}x the bare relay",
        mbps(relayed),
        mbps(relayed) / mbps(direct),
        mbps(tunneled) / mbps(relayed)
    );

    // Per-connection cost: sequential short HTTP requests, direct and through the proxy.
    let mut d = Vec::with_capacity(reqs);
    let mut p = Vec::with_capacity(reqs);
    for _ in 0..reqs {
        let t = Instant::now();
        let mut s = TcpStream::connect(("127.0.0.1", http)).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: web.test\r\n\r\n")
            .unwrap();
        assert!(read_all(s) > 0);
        d.push(t.elapsed());
        let t = Instant::now();
        let mut s = TcpStream::connect(("127.0.0.1", proxy)).unwrap();
        write!(
            s,
            "GET http://web.test:{http}/ HTTP/1.1\r\nHost: web.test:{http}\r\n\r\n"
        )
        .unwrap();
        assert!(read_all(s) > 0);
        p.push(t.elapsed());
    }
    let (md, mp) = (median(d), median(p));
    println!(
        "{reqs} sequential requests: median direct {:.3} ms, through the proxy {:.3} ms, overhead {:.3} ms per connection (target < 0.3 ms)",
        md.as_secs_f64() * 1e3,
        mp.as_secs_f64() * 1e3,
        (mp.saturating_sub(md)).as_secs_f64() * 1e3
    );
    handle.shutdown();
}
