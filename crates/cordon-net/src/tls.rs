//! TLS interception, the certificate side: the per-run CA the sandbox will trust, the leaf
//! certificates it signs for the intercepted hosts, the server configuration that presents
//! them, and the client configuration (with the system's real roots) for the proxy's own
//! connection to the server. Nothing here is wired into the proxy yet.
//!
//! Why the CA looks the way it does:
//! - **One CA per run, its key only in memory.** The ECDSA P-256 key is generated when the run
//!   starts and lives in this process only: never written to disk, gone when the run ends. There
//!   is no file for anything (in the sandbox or out of it) to steal and reuse later.
//! - **Name constraints: it can sign nothing but the intercepted hosts.** The CA certificate
//!   carries a critical X.509 name-constraints extension whose permitted DNS subtrees are exactly
//!   the hosts to intercept, and whose excluded IP ranges are `0.0.0.0/0` and `::/0` (without
//!   the exclusion, RFC 5280 leaves IP addresses unconstrained when only DNS subtrees are
//!   permitted). So the trust the sandbox is given covers those hosts and nothing else, even
//!   for a verifier that would see a leaf for another name signed by this key.
//! - **Short-lived**: valid from one hour before the run started (clock skew) to 30 days after
//!   (a run can last long). A copy of the CA certificate taken out of the sandbox is worthless
//!   elsewhere (its key is gone with the run) and after the run.
//! - **pathLen 0, keyCertSign + cRLSign**: it signs leaves, never another CA.
//!
//! Host names are taken in their canonical ASCII form (`host::canonical_host`). An IP address
//! is refused (interception is decided per name, and the CA excludes every address), and so is
//! a wildcard (`*.example.com`): the proxy intercepts a listed set of hosts, never a pattern,
//! so the CA lists them exactly. Note that a permitted DNS subtree is a subtree by definition
//! (RFC 5280 4.2.1.10): `api.example.com` also permits `a.api.example.com` in the certificate.
//! `RunCa::leaf` closes that gap on the signing side: it issues for exactly the listed names and
//! nothing under them, and the key never leaves this process.
//!
//! The server side speaks TLS 1.2 and 1.3 with ALPN exactly `http/1.1` (the request loop speaks
//! HTTP/1.1 only): a client that offers ALPN without `http/1.1` (only `h2`, as gRPC does) fails
//! the handshake with a `no_application_protocol` alert (rustls follows RFC 7301); one that
//! offers both gets `http/1.1`; one that offers none gets no ALPN. No TLS 1.3 early data is
//! accepted (rustls's default, 0 bytes: early data is replayable).
//!
//! Every configuration is built with the ring provider explicitly, never the process-global
//! default provider.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    NameConstraints, SanType,
};
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::host::{canonical_host, Host};

/// The only application protocol either side of an interception offers.
const ALPN_HTTP11: &[u8] = b"http/1.1";
/// Validity starts this long before now: a sandbox clock a little behind must still accept it.
const BACKDATE: Duration = Duration::from_secs(3600);
/// Validity ends this long after now: a run can last long, but not forever.
const LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// The system CA bundles looked for, in this order; the first that exists is used.
pub const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// Why a CA, a leaf, a configuration or a root store could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("TLS interception needs at least one host")]
    NoHosts,
    #[error("TLS interception of {host:?}: {reason}")]
    BadHost { host: String, reason: String },
    #[error("TLS interception of {host:?}: an IP address cannot be intercepted (only host names)")]
    IpHost { host: String },
    #[error(
        "TLS interception of {host:?}: wildcards are not supported; list each host to intercept"
    )]
    Wildcard { host: String },
    #[error("no certificate for {host:?}: not one of this run's intercepted hosts")]
    NotIntercepted { host: String },
    #[error("making a certificate: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("reading CA bundle {path}: {reason}")]
    BundleRead { path: PathBuf, reason: String },
    #[error("CA bundle {path} holds no usable certificate")]
    BundleEmpty { path: PathBuf },
    #[error("no system CA bundle found (looked for {})", SYSTEM_BUNDLES.join(", "))]
    NoSystemBundle,
}

/// The ring crypto provider, named explicitly for every configuration.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A host to intercept, as the CA lists it: a canonical ASCII host name.
pub(crate) fn intercept_name(raw: &str) -> Result<String, Error> {
    if raw.contains('*') {
        return Err(Error::Wildcard { host: raw.into() });
    }
    match canonical_host(raw) {
        Ok(Host::Name(name)) => Ok(name),
        Ok(Host::Ip(_)) => Err(Error::IpHost { host: raw.into() }),
        Err(e) => Err(Error::BadHost {
            host: raw.into(),
            reason: e.to_string(),
        }),
    }
}

/// The per-run certificate authority: see the module documentation.
pub struct RunCa {
    /// The CA's name, key identifier and signing key (the key exists only here).
    issuer: Issuer<'static, KeyPair>,
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    /// The intercepted hosts, canonical, sorted, no duplicates.
    hosts: Vec<String>,
    /// The CA's validity window; its leaves get the same.
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
    /// One leaf and one server configuration per host, shared by every tunnel to it (the
    /// configuration also holds the host's session cache and ticket keys).
    leaves: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    configs: Mutex<HashMap<String, Arc<ServerConfig>>>,
}

impl std::fmt::Debug for RunCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunCa")
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

impl RunCa {
    /// A new CA, with a fresh key, for exactly `hosts` (host names; no IP, no wildcard, at
    /// least one).
    pub fn new(hosts: &[String]) -> Result<RunCa, Error> {
        let mut names = hosts
            .iter()
            .map(|h| intercept_name(h))
            .collect::<Result<Vec<_>, _>>()?;
        names.sort();
        names.dedup();
        if names.is_empty() {
            return Err(Error::NoHosts);
        }
        let now = time::OffsetDateTime::now_utc();
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.not_before = now - BACKDATE;
        params.not_after = now + LIFETIME;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: names
                .iter()
                .map(|n| GeneralSubtree::DnsName(n.clone()))
                .collect(),
            excluded_subtrees: vec![
                GeneralSubtree::IpAddress(CidrSubnet::from_v4_prefix([0; 4], 0)),
                GeneralSubtree::IpAddress(CidrSubnet::from_v6_prefix([0; 16], 0)),
            ],
        });
        // The CN names the run by its key: two runs' CAs never share a name.
        let id: String = params
            .key_identifier(&key)
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "cordon");
        dn.push(DnType::CommonName, format!("cordon run CA {id}"));
        params.distinguished_name = dn;
        let cert = params.self_signed(&key)?;
        Ok(RunCa {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params.clone(), key),
            hosts: names,
            not_before: params.not_before,
            not_after: params.not_after,
            leaves: Mutex::new(HashMap::new()),
            configs: Mutex::new(HashMap::new()),
        })
    }

    /// The CA certificate, PEM: what the sandbox trusts.
    pub fn cert_pem(&self) -> String {
        self.cert_pem.clone()
    }

    /// The intercepted hosts, canonical and sorted.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// The canonical name of `host` if it is one of this CA's hosts.
    fn listed(&self, host: &str) -> Result<String, Error> {
        let not_listed = || Error::NotIntercepted { host: host.into() };
        let name = intercept_name(host).map_err(|_| not_listed())?;
        if self.hosts.binary_search(&name).is_ok() {
            Ok(name)
        } else {
            Err(not_listed())
        }
    }

    /// The leaf for exactly `host` (one of the CA's hosts), chain [leaf, CA]; made once per
    /// host, then shared.
    pub fn leaf(&self, host: &str) -> Result<Arc<CertifiedKey>, Error> {
        let name = self.listed(host)?;
        let mut leaves = self.leaves.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(leaf) = leaves.get(&name) {
            return Ok(leaf.clone());
        }
        let (cert, key) = self.issue(SanType::DnsName(name.as_str().try_into()?), &name)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let leaf = Arc::new(CertifiedKey::from_der(
            vec![cert, self.cert_der.clone()],
            key,
            &provider(),
        )?);
        leaves.insert(name, leaf.clone());
        Ok(leaf)
    }

    /// Signs a leaf for `san` (and `cn`) with a fresh key, without checking that the CA lists
    /// it: `leaf` checks, and the tests use this to prove that the name constraints hold.
    fn issue(&self, san: SanType, cn: &str) -> Result<(CertificateDer<'static>, KeyPair), Error> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.not_before = self.not_before;
        params.not_after = self.not_after;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.subject_alt_names = vec![san];
        params.use_authority_key_identifier_extension = true;
        // The SAN is what verifiers check; the CN is for people reading the certificate, and
        // X.509 caps it at 64 characters: a longer name leaves the subject empty (rcgen then
        // marks the SAN critical, as RFC 5280 requires).
        let mut dn = DistinguishedName::new();
        if cn.len() <= 64 {
            dn.push(DnType::CommonName, cn);
        }
        params.distinguished_name = dn;
        // The serial number is rcgen's default: a hash of the leaf's fresh public key.
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.der().clone(), key))
    }

    /// The TLS server configuration for `host` (one of the CA's hosts): TLS 1.2 and 1.3, ALPN
    /// exactly `http/1.1`, presenting `leaf(host)`; made once per host, then shared.
    pub fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, Error> {
        let name = self.listed(host)?;
        if let Some(config) = self
            .configs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&name)
        {
            return Ok(config.clone());
        }
        let leaf = self.leaf(&name)?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(leaf)));
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        config.max_early_data_size = 0;
        let config = Arc::new(config);
        // Two tunnels may have raced here: keep the first, so that every tunnel shares one.
        Ok(self
            .configs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name)
            .or_insert(config)
            .clone())
    }
}

/// The TLS client configuration for the proxy's own connection to the server: `roots` (the
/// real ones: `system_roots`, plus any extra CA), TLS 1.2 and 1.3, ALPN exactly `http/1.1`.
/// The caller verifies the CONNECT host as the server name.
pub fn upstream_config(roots: RootCertStore) -> Result<Arc<ClientConfig>, Error> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

/// The system's roots: the first of `SYSTEM_BUNDLES` that exists (a corporate root installed
/// there is trusted as the system trusts it).
pub fn system_roots() -> Result<RootCertStore, Error> {
    roots_from_pem_file(system_bundle_path()?)
}

/// The system's CA bundle: the first of `SYSTEM_BUNDLES` that exists.
pub fn system_bundle_path() -> Result<&'static Path, Error> {
    SYSTEM_BUNDLES
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .ok_or(Error::NoSystemBundle)
}

/// The certificates of a PEM file (a CA bundle, or one extra CA such as a TLS-inspecting
/// corporate proxy's). Entries that do not parse as certificates are skipped; a file with none
/// that does is an error naming it.
pub fn roots_from_pem_file(path: &Path) -> Result<RootCertStore, Error> {
    let data = std::fs::read(path).map_err(|e| Error::BundleRead {
        path: path.into(),
        reason: e.to_string(),
    })?;
    let mut roots = RootCertStore::empty();
    // A malformed PEM section ends the iteration (there is no resynchronising after it): what
    // came before it is kept, and an empty result is the error below.
    let certs = CertificateDer::pem_slice_iter(&data).map_while(Result::ok);
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(Error::BundleEmpty { path: path.into() });
    }
    Ok(roots)
}

#[cfg(test)]
mod tests;
