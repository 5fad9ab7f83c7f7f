//! The per-run CA, proven with real verifiers: rustls (webpki), `openssl verify` and curl.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::*;

const HOST: &str = "api.example.com";

fn ca() -> RunCa {
    RunCa::new(&[HOST.to_string()]).expect("CA")
}

/// A fresh directory for this test's files.
fn tmpdir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "cordon-tls-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

/// A client trusting only `ca_pem`, offering `alpn`.
fn client(ca_pem: &str, alpn: &[&[u8]]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

/// A server presenting `leaf` (any chain), as `server_config` would.
fn server_with(leaf: Arc<CertifiedKey>) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(leaf)));
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Arc::new(config)
}

/// A leaf for `name` (a host name or an IP address) signed by `ca` without the list check
/// (what `leaf` refuses to do).
fn forged_leaf(ca: &RunCa, name: &str) -> Arc<CertifiedKey> {
    let san = match name.parse() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(name.try_into().expect("dns")),
    };
    let (cert, key) = ca.issue(san, name).expect("issue");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Arc::new(
        CertifiedKey::from_der(vec![cert, ca.cert_der.clone()], key, &provider()).expect("key"),
    )
}

/// Handshakes `client` (verifying `name`) with `server` over an in-memory pipe, then sends
/// a line each way. The client's and the server's outcome (the server's error, if any, is the
/// alert it sent).
async fn handshake(
    client: TlsConnector,
    server: Arc<ServerConfig>,
    name: &str,
) -> (Result<String, rustls::Error>, Result<(), rustls::Error>) {
    let (c, s) = tokio::io::duplex(64 * 1024);
    let name = ServerName::try_from(name.to_string()).expect("name");
    let tls_err = |e: std::io::Error| {
        e.into_inner()
            .and_then(|e| e.downcast::<rustls::Error>().ok())
            .map_or(rustls::Error::HandshakeNotComplete, |e| *e)
    };
    let server_side = async move {
        let mut tls = TlsAcceptor::from(server).accept(s).await.map_err(tls_err)?;
        let mut buf = [0u8; 5];
        tls.read_exact(&mut buf).await.expect("server read");
        assert_eq!(&buf, b"ping\n");
        tls.write_all(b"pong\n").await.expect("server write");
        tls.shutdown().await.expect("server shutdown");
        Ok(())
    };
    let client_side = async move {
        let mut tls = client.connect(name, c).await.map_err(tls_err)?;
        let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        tls.write_all(b"ping\n").await.expect("client write");
        let mut got = String::new();
        tls.read_to_string(&mut got).await.expect("client read");
        assert_eq!(got, "pong\n");
        Ok(String::from_utf8_lossy(&alpn.unwrap_or_default()).into_owned())
    };
    tokio::join!(client_side, server_side)
}

#[tokio::test]
async fn handshake_with_the_run_ca_and_bytes_both_ways() {
    let t0 = Instant::now();
    let ca = ca();
    let leaf = ca.leaf(HOST).expect("leaf");
    errln!("RunCa::new + first leaf: {:?}", t0.elapsed());
    assert_eq!(leaf.cert.len(), 2, "chain is [leaf, CA]");
    let config = ca.server_config(HOST).expect("config");
    assert_eq!(config.max_early_data_size, 0, "no 0-RTT from the sandbox");
    // A client offering h2 and http/1.1 gets http/1.1; one offering none gets no ALPN.
    let both: &[&[u8]] = &[b"h2", b"http/1.1"];
    let (c, s) = handshake(client(&ca.cert_pem(), both), config.clone(), HOST).await;
    assert_eq!(c.expect("client"), "http/1.1");
    s.expect("server");
    let (c, s) = handshake(client(&ca.cert_pem(), &[]), config, HOST).await;
    assert_eq!(c.expect("client"), "");
    s.expect("server");
}

#[tokio::test]
async fn a_client_offering_only_h2_fails_the_handshake() {
    let ca = ca();
    let config = ca.server_config(HOST).expect("config");
    let (c, s) = handshake(client(&ca.cert_pem(), &[b"h2"]), config, HOST).await;
    assert_eq!(s.unwrap_err(), rustls::Error::NoApplicationProtocol);
    assert!(
        matches!(
            c,
            Err(rustls::Error::AlertReceived(
                rustls::AlertDescription::NoApplicationProtocol
            ))
        ),
        "{c:?}"
    );
}

#[test]
fn leaves_and_configs_are_made_once_per_host_and_only_for_listed_hosts() {
    let ca = RunCa::new(&[
        "API.Example.COM.".into(),
        "b.example.net".into(),
        HOST.into(),
    ])
    .expect("CA");
    assert_eq!(ca.hosts(), ["api.example.com", "b.example.net"]);
    let a = ca.leaf(HOST).expect("leaf");
    assert!(Arc::ptr_eq(&a, &ca.leaf("API.EXAMPLE.COM").expect("leaf")));
    assert!(!Arc::ptr_eq(&a, &ca.leaf("b.example.net").expect("leaf")));
    let c = ca.server_config(HOST).expect("config");
    assert!(Arc::ptr_eq(&c, &ca.server_config(HOST).expect("config")));
    for other in [
        "evil.example.org",
        "a.api.example.com", // under a listed host: the constraint permits it, leaf does not
        "example.com",
        "127.0.0.1",
        "*.example.com",
        "",
    ] {
        assert!(
            matches!(ca.leaf(other), Err(Error::NotIntercepted { .. })),
            "{other}"
        );
        assert!(ca.server_config(other).is_err(), "{other}");
    }
}

#[test]
fn hosts_refused_by_new() {
    assert!(matches!(RunCa::new(&[]), Err(Error::NoHosts)));
    for ip in ["127.0.0.1", "[::1]", "::1", "0x7f.1", "10.0.0.1."] {
        assert!(
            matches!(RunCa::new(&[ip.into()]), Err(Error::IpHost { .. })),
            "{ip}"
        );
    }
    for wild in ["*.example.com", "*", "a.*.example.com"] {
        assert!(
            matches!(RunCa::new(&[wild.into()]), Err(Error::Wildcard { .. })),
            "{wild}"
        );
    }
    for bad in ["", "a b.com", "a/b.com", "example.123"] {
        assert!(
            matches!(RunCa::new(&[bad.into()]), Err(Error::BadHost { .. })),
            "{bad}"
        );
    }
    // One bad host refuses the whole list.
    assert!(RunCa::new(&[HOST.into(), "*.x.com".into()]).is_err());
    // International names are listed in punycode.
    let ca = RunCa::new(&["bücher.example".into()]).expect("CA");
    assert_eq!(ca.hosts(), ["xn--bcher-kva.example"]);
    ca.leaf("bücher.example").expect("leaf");
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run program")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A DER certificate as a PEM file, through openssl.
fn write_pem(dir: &Path, name: &str, der: &CertificateDer<'_>) -> PathBuf {
    let der_path = dir.join(format!("{name}.der"));
    let pem_path = dir.join(format!("{name}.pem"));
    std::fs::write(&der_path, der.as_ref()).expect("write");
    let out = run(Command::new("openssl")
        .args(["x509", "-inform", "DER", "-in"])
        .arg(&der_path)
        .arg("-out")
        .arg(&pem_path));
    assert!(out.status.success(), "{}", text(&out));
    pem_path
}

#[test]
fn the_ca_certificate_says_what_it_may_sign() {
    let ca = RunCa::new(&[HOST.into(), "b.example.net".into()]).expect("CA");
    let dir = tmpdir("text");
    let ca_pem = dir.join("ca.pem");
    std::fs::write(&ca_pem, ca.cert_pem()).expect("write");
    let out = run(Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&ca_pem));
    assert!(out.status.success(), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    for want in [
        "cordon run CA ",
        "CA:TRUE, pathlen:0",
        "Certificate Sign, CRL Sign",
        "X509v3 Name Constraints: critical",
        "DNS:api.example.com",
        "DNS:b.example.net",
        "IP:0.0.0.0/0.0.0.0",
        "ASN1 OID: prime256v1",
    ] {
        assert!(t.contains(want), "{want:?} not in\n{t}");
    }
    // ::/0, as this openssl prints it.
    assert!(
        t.contains("IP:0:0:0:0:0:0:0:0/0:0:0:0:0:0:0:0") || t.contains("IP:::/::"),
        "{t}"
    );
    let permitted = t.find("Permitted:").expect("permitted");
    let excluded = t.find("Excluded:").expect("excluded");
    assert!(permitted < t.find("DNS:api.example.com").expect("dns"));
    assert!(excluded < t.find("IP:0.0.0.0").expect("ip") && permitted < excluded);
    // Valid for 30 days and an hour, from an hour ago.
    let out = run(Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-checkend",
            &(30 * 24 * 3600 - 60).to_string(),
            "-in",
        ])
        .arg(&ca_pem));
    assert!(out.status.success(), "{}", text(&out));
    let out = run(Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-checkend",
            &(30 * 24 * 3600 + 60).to_string(),
            "-in",
        ])
        .arg(&ca_pem));
    assert!(!out.status.success(), "{}", text(&out));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn name_constraints_are_enforced_by_rustls_and_openssl() {
    let ca = ca();
    let evil = forged_leaf(&ca, "evil.example.org");
    // rustls/webpki: the forged leaf is refused, the real one accepted.
    let (c, _) = handshake(
        client(&ca.cert_pem(), &[]),
        server_with(evil.clone()),
        "evil.example.org",
    )
    .await;
    let err = c.unwrap_err();
    errln!("rustls on a leaf outside the constraints: {err}");
    assert!(
        matches!(err, rustls::Error::InvalidCertificate(_))
            && format!("{err:?}").contains("NameConstraintViolation"),
        "{err:?}"
    );
    let real = ca.leaf(HOST).expect("leaf");
    let (c, s) = handshake(client(&ca.cert_pem(), &[]), server_with(real.clone()), HOST).await;
    c.expect("client");
    s.expect("server");

    // openssl verify: the same.
    let dir = tmpdir("verify");
    let ca_pem = dir.join("ca.pem");
    std::fs::write(&ca_pem, ca.cert_pem()).expect("write");
    let verify = |leaf: &Path, name: &str| {
        run(Command::new("openssl")
            .args([
                "verify",
                "-purpose",
                "sslserver",
                "-verify_hostname",
                name,
                "-CAfile",
            ])
            .arg(&ca_pem)
            .arg(leaf))
    };
    let evil_pem = write_pem(&dir, "evil", &evil.cert[0]);
    let out = verify(&evil_pem, "evil.example.org");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("permitted subtree violation"),
        "{}",
        text(&out)
    );
    let real_pem = write_pem(&dir, "real", &real.cert[0]);
    let out = verify(&real_pem, HOST);
    assert!(out.status.success(), "{}", text(&out));
    // The leaf is for exactly its host.
    let out = verify(&real_pem, "other.example.com");
    assert!(!out.status.success(), "{}", text(&out));
    // A subtree permits the names under it (RFC 5280): a forged leaf for a subdomain passes
    // the constraint, which is why `leaf` itself never issues one.
    let sub_pem = write_pem(&dir, "sub", &forged_leaf(&ca, "a.api.example.com").cert[0]);
    let out = verify(&sub_pem, "a.api.example.com");
    assert!(out.status.success(), "{}", text(&out));
    // Addresses are excluded: a forged leaf for an IP is refused by both.
    for ip in ["127.0.0.1", "::1"] {
        let forged = forged_leaf(&ca, ip);
        let pem = write_pem(&dir, "ip", &forged.cert[0]);
        let out = run(Command::new("openssl")
            .args([
                "verify",
                "-purpose",
                "sslserver",
                "-verify_ip",
                ip,
                "-CAfile",
            ])
            .arg(&ca_pem)
            .arg(&pem));
        assert!(!out.status.success(), "{}", text(&out));
        assert!(
            text(&out).contains("excluded subtree violation"),
            "{}",
            text(&out)
        );
        let (c, _) = handshake(client(&ca.cert_pem(), &[]), server_with(forged), ip).await;
        assert!(
            format!("{c:?}").contains("NameConstraintViolation"),
            "{c:?}"
        );
    }
    // The leaf's own extensions.
    let out = run(Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&real_pem));
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    for want in [
        "DNS:api.example.com",
        "TLS Web Server Authentication",
        "Digital Signature",
        "CA:FALSE",
        "ASN1 OID: prime256v1",
    ] {
        assert!(t.contains(want), "{want:?} not in\n{t}");
    }
    assert!(!t.contains("Certificate Sign"), "{t}");
    assert!(ca.leaf("evil.example.org").is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_name_too_long_for_a_common_name_gets_a_leaf_with_an_empty_subject() {
    let long = format!("{}.{}.example.com", "a".repeat(63), "b".repeat(40));
    let ca = RunCa::new(std::slice::from_ref(&long)).expect("CA");
    let leaf = ca.leaf(&long).expect("leaf");
    let (c, s) = handshake(
        client(&ca.cert_pem(), &[]),
        ca.server_config(&long).expect("config"),
        &long,
    )
    .await;
    c.expect("client");
    s.expect("server");
    let dir = tmpdir("long");
    let ca_pem = dir.join("ca.pem");
    std::fs::write(&ca_pem, ca.cert_pem()).expect("write");
    let pem = write_pem(&dir, "leaf", &leaf.cert[0]);
    let out = run(Command::new("openssl")
        .args([
            "verify",
            "-purpose",
            "sslserver",
            "-verify_hostname",
            &long,
            "-CAfile",
        ])
        .arg(&ca_pem)
        .arg(&pem));
    assert!(out.status.success(), "{}", text(&out));
    let out = run(Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&pem));
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        t.contains("X509v3 Subject Alternative Name: critical"),
        "{t}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn two_runs_are_two_cas() {
    let (one, two) = (ca(), ca());
    assert_ne!(one.cert_pem(), two.cert_pem());
    let (c, _) = handshake(
        client(&two.cert_pem(), &[]),
        one.server_config(HOST).expect("config"),
        HOST,
    )
    .await;
    assert!(
        matches!(c, Err(rustls::Error::InvalidCertificate(_))),
        "{c:?}"
    );
}

/// An HTTPS server on 127.0.0.1 with `config`, answering every request with `hello`.
async fn https_server(config: Arc<ServerConfig>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer =
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
                let _ = tls.write_all(answer).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_trusts_the_run_ca_for_its_host_only() {
    let ca = ca();
    let port = https_server(ca.server_config(HOST).expect("config")).await;
    let dir = tmpdir("curl");
    let ca_pem = dir.join("ca.pem");
    std::fs::write(&ca_pem, ca.cert_pem()).expect("write");
    let curl = move |cafile: PathBuf, host: &'static str| {
        tokio::task::spawn_blocking(move || {
            run(Command::new("curl")
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .args(["-sS", "--noproxy", "*", "--max-time", "20", "--cacert"])
                .arg(cafile)
                .arg("--resolve")
                .arg(format!("{host}:{port}:127.0.0.1"))
                .arg(format!("https://{host}:{port}/")))
        })
    };
    let out = curl(ca_pem.clone(), HOST).await.expect("curl");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello");
    // The system's roots alone do not trust the run's CA.
    let system = PathBuf::from(SYSTEM_BUNDLES[0]);
    if system.exists() {
        let out = curl(system, HOST).await.expect("curl");
        assert_eq!(out.status.code(), Some(60), "{}", text(&out));
    }
    // Another name on the same server: the leaf is not for it.
    let out = curl(ca_pem, "other.example.com").await.expect("curl");
    assert_eq!(out.status.code(), Some(60), "{}", text(&out));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn system_roots_and_bundle_files() {
    let roots = system_roots().expect("system roots");
    assert!(!roots.is_empty());
    let dir = tmpdir("bundle");
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").expect("write");
    let err = roots_from_pem_file(&empty).unwrap_err();
    assert!(matches!(err, Error::BundleEmpty { .. }), "{err:?}");
    assert!(err.to_string().contains(&*empty.to_string_lossy()), "{err}");
    let missing = dir.join("missing.pem");
    let err = roots_from_pem_file(&missing).unwrap_err();
    assert!(matches!(err, Error::BundleRead { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.pem"), "{err}");
    // A PEM "certificate" that is not one is not a root.
    let junk = dir.join("junk.pem");
    std::fs::write(
        &junk,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    assert!(matches!(
        roots_from_pem_file(&junk),
        Err(Error::BundleEmpty { .. })
    ));
    // An extra CA file: the run CA itself, as a corporate root would be.
    let ca = ca();
    let extra = dir.join("extra.pem");
    std::fs::write(&extra, ca.cert_pem()).expect("write");
    assert_eq!(roots_from_pem_file(&extra).expect("roots").len(), 1);
    upstream_config(roots).expect("config");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn upstream_config_verifies_with_the_given_roots_and_offers_http11() {
    let ca = ca();
    let dir = tmpdir("upstream");
    let extra = dir.join("extra.pem");
    std::fs::write(&extra, ca.cert_pem()).expect("write");
    let config = upstream_config(roots_from_pem_file(&extra).expect("roots")).expect("config");
    assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    let (c, s) = handshake(
        TlsConnector::from(config),
        ca.server_config(HOST).expect("config"),
        HOST,
    )
    .await;
    assert_eq!(c.expect("client"), "http/1.1");
    s.expect("server");
    // The system roots alone refuse the same server.
    let config = upstream_config(system_roots().expect("roots")).expect("config");
    let (c, _) = handshake(
        TlsConnector::from(config),
        ca.server_config(HOST).expect("config"),
        HOST,
    )
    .await;
    assert!(
        matches!(c, Err(rustls::Error::InvalidCertificate(_))),
        "{c:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
