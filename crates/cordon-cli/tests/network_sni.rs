//! Tunnels to port 443 through SOCKS5 carry TLS for their host only, end to end: a real server
//! on 127.0.0.1:443 counts the bytes each tunnel delivers to it. Its own test binary, because a
//! port can have one listener per process at a time: `network.rs`'s CONNECT variant of this test
//! keeps its listener on 443 for the rest of its process (two tests binding it in one binary
//! made one of them skip). Runs as the invoking user and as an unprivileged user, one after the
//! other on one listener.

mod harness;

use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::{text, Case, Who};

/// What the server at 127.0.0.1:443 received on each connection (bytes of its first read).
type Received = Arc<Mutex<Vec<usize>>>;

fn server_on_443() -> Option<Received> {
    let Ok(l) = TcpListener::bind("127.0.0.1:443") else {
        eprintln!("skipping: cannot listen on 127.0.0.1:443 (needs root)");
        return None;
    };
    let got: Received = Arc::default();
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
    Some(got)
}

/// Through SOCKS5 (`socks5h://`, the `ALL_PROXY` the command gets): a SOCKS5 CONNECT
/// to api.test:443 carrying a ClientHello for another name (domain fronting) is closed before
/// the server receives a byte of it.
fn socks_sni_must_match(c: &Case, got: &Received) {
    got.lock().unwrap().clear();
    let script = r#"
import socket, ssl, struct
def hello(sni):
    s = socket.create_connection(('127.0.0.1', 3128), 3)
    s.sendall(b'\x05\x01\x00')
    s.recv(2)
    s.sendall(b'\x05\x01\x00\x03\x08api.test' + struct.pack('>H', 443))
    print('socks reply', s.recv(10)[1])
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
    let o = c.cordon(&[
        "run",
        "--allow-domain=api.test",
        "--resolve=api.test:127.0.0.1",
        "--allow-local",
        "--",
        "python3",
        "sni.py",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let got = got.lock().unwrap().clone();
    assert!(
        text(&o).contains("socks reply 0"),
        "[{}] the SOCKS5 CONNECT was refused: {}",
        c.label(),
        text(&o)
    );
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
        text(&o).contains("TLS server name \"evil.example\" does not match"),
        "{}",
        text(&o)
    );
}

#[test]
fn socks_sni_mismatch_closes_the_tunnel() {
    let Some(got) = server_on_443() else { return };
    for who in [Who::Invoker, Who::Unprivileged] {
        socks_sni_must_match(&Case::new(who, false), &got);
    }
}
