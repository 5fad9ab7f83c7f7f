//! A test CA and a server certificate signed by it, made by openssl: for the TLS servers the
//! credential tests stand in for a real API with (credentials.rs, agent_in_cordon.rs).

use std::path::Path;
use std::process::Command;

/// Writes `ca.crt` (and its key) and `leaf.crt`/`leaf.key` into `dir`.
/// The leaf is for api.example.test and other.example.test.
pub fn make_certs(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let d = |f: &str| dir.join(f).display().to_string();
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:api.example.test,DNS:other.example.test\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    for args in [
        [
            &["req", "-x509"][..],
            &ec,
            &["-days", "1", "-subj", "/CN=cordon test CA"],
        ]
        .concat(),
        [&["req"][..], &ec, &["-subj", "/CN=api.example.test"]].concat(),
    ] {
        let is_ca = args.contains(&"-x509");
        let (key, out) = if is_ca {
            (d("ca.key"), d("ca.crt"))
        } else {
            (d("leaf.key"), d("leaf.csr"))
        };
        let o = Command::new("openssl")
            .args(&args)
            .args(["-keyout", &key, "-out", &out])
            .output()
            .expect("openssl is needed (installed by .ci/run)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let o = Command::new("openssl")
        .args(["x509", "-req", "-days", "1", "-in", &d("leaf.csr")])
        .args([
            "-CA",
            &d("ca.crt"),
            "-CAkey",
            &d("ca.key"),
            "-CAcreateserial",
        ])
        .args(["-extfile", &d("ext.cnf"), "-out", &d("leaf.crt")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
