//! Credentials injected on egress: a header the proxy adds to the requests of one intercepted
//! host (docs/design.md, "Built: the Intercept arm"). The sandbox never holds the value: it
//! lives in the supervisor, in a [`Secret`] that never prints, and goes only into the head sent
//! to the server, over TLS verified for the credential's exact host.

use std::fmt;

use crate::host::Host;

/// A credential's value. Its `Debug` and `Display` print `<redacted>`, so that a log line, an
/// error, an audit record or a `{:?}` of the policy never carries it; [`Secret::expose`] is the
/// one way to the text (used where the head for the server is written, and nowhere else).
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself: for the head sent to the server only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why a credential was refused at construction. No variant carries the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("credential host {host:?}: {reason}")]
    Host { host: String, reason: String },
    #[error("credential header {header:?}: {reason}")]
    Header { header: String, reason: String },
    #[error("credential value for header {header:?}: {reason}")]
    Value { header: String, reason: String },
    #[error("credential method {method:?} is not an HTTP method token")]
    Method { method: String },
    #[error("credential path prefix {prefix:?}: {reason}")]
    PathPrefix { prefix: String, reason: String },
}

/// Headers a credential may not set: hop-by-hop and proxy headers (the proxy drops or writes
/// them itself), and those that decide where a request goes or how its body is framed.
const FORBIDDEN_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
    "transfer-encoding",
    "expect",
];

/// A header added to the requests to one intercepted host:port, when the request's method and
/// path match. Made only by [`Credential::new`], which validates every part.
#[derive(Clone, Debug)]
pub struct Credential {
    host: String,
    port: u16,
    header: String,
    value: Secret,
    methods: Vec<String>,
    path_prefixes: Vec<String>,
}

/// RFC 9110 §5.6.2 `token`: what a header name and a method are made of.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Credential {
    /// A credential for `host` (a host name, canonicalised; not an IP address nor a wildcard)
    /// on `port` (443 for HTTPS on its usual port), adding `header: value` to the requests
    /// whose method is one of `methods` (exactly as sent, e.g. `GET`; empty: any method) and
    /// whose path starts with one of `path_prefixes` at a `/` boundary (empty: any path).
    pub fn new(
        host: &str,
        port: u16,
        header: &str,
        value: Secret,
        methods: Vec<String>,
        path_prefixes: Vec<String>,
    ) -> Result<Credential, CredentialError> {
        let host = crate::tls::intercept_name(host).map_err(|e| CredentialError::Host {
            host: host.into(),
            reason: e.to_string(),
        })?;
        if port == 0 {
            return Err(CredentialError::Host {
                host,
                reason: "port 0".into(),
            });
        }
        let bad_header = |reason: &str| CredentialError::Header {
            header: header.into(),
            reason: reason.into(),
        };
        if !is_token(header) {
            return Err(bad_header("not a header name (RFC 9110 token)"));
        }
        let lower = header.to_ascii_lowercase();
        if FORBIDDEN_HEADERS.contains(&lower.as_str()) || lower.starts_with("proxy-") {
            return Err(bad_header(
                "a hop-by-hop, proxy, Host or framing header cannot be a credential",
            ));
        }
        // RFC 9110 §5.5 field-value: visible characters, spaces and tabs (and obs-text). CR, LF
        // and NUL would split the head; every other control is refused with them.
        let v = value.expose();
        let reason = if v.trim().is_empty() {
            Some("empty")
        } else if v.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            Some("contains a control character (CR, LF, NUL, ...)")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(CredentialError::Value {
                header: header.into(),
                reason: reason.into(),
            });
        }
        if let Some(m) = methods.iter().find(|m| !is_token(m)) {
            return Err(CredentialError::Method { method: m.clone() });
        }
        for p in &path_prefixes {
            let reason = if !p.starts_with('/') {
                Some("must start with /")
            } else if p
                .bytes()
                .any(|b| !b.is_ascii_graphic() || b == b'?' || b == b'#')
            {
                Some("must be visible ASCII without ? or #")
            } else if ambiguous_path(p) {
                Some("must have no dot segments, backslash or encoded ., / or \\")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(CredentialError::PathPrefix {
                    prefix: p.clone(),
                    reason: reason.into(),
                });
            }
        }
        Ok(Credential {
            host,
            port,
            header: header.to_string(),
            value,
            methods,
            path_prefixes,
        })
    }

    /// The canonical host name.
    pub fn host(&self) -> &str {
        &self.host
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    /// The header's name, as given.
    pub fn header(&self) -> &str {
        &self.header
    }
    pub fn value(&self) -> &Secret {
        &self.value
    }
    pub fn methods(&self) -> &[String] {
        &self.methods
    }
    pub fn path_prefixes(&self) -> &[String] {
        &self.path_prefixes
    }

    /// Whether this credential is for `h` on `port`.
    pub fn is_for(&self, h: &Host, port: u16) -> bool {
        matches!(h, Host::Name(n) if *n == self.host) && port == self.port
    }

    /// Whether a request with `method` and `path` (as sent, without the query, never decoded)
    /// gets this credential. Never for `TRACE` (its response echoes the request's headers).
    /// With path prefixes, a path with dot segments or encoded `.`, `/` or `\` matches none:
    /// the server may normalise it to somewhere outside the prefix.
    pub fn applies(&self, method: &str, path: &str) -> bool {
        if method.eq_ignore_ascii_case("TRACE") {
            return false;
        }
        if !self.methods.is_empty() && !self.methods.iter().any(|m| m == method) {
            return false;
        }
        if self.path_prefixes.is_empty() {
            return true;
        }
        !ambiguous_path(path) && self.path_prefixes.iter().any(|p| prefix_matches(p, path))
    }
}

/// `prefix` covers `path` whole or up to a `/` boundary: `/repos` covers `/repos` and
/// `/repos/x`, not `/reposX`; `/repos/` covers `/repos/x`.
pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

/// A path a server may read as another one: a `.` or `..` segment, a backslash, or an encoded
/// `.`, `/` or `\` (`%2e`, `%2f`, `%5c`, any case).
fn ambiguous_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    path.contains('\\')
        || ["%2e", "%2f", "%5c"].iter().any(|e| lower.contains(e))
        || path.split('/').any(|seg| seg == "." || seg == "..")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::canonical_host;

    fn cred(header: &str, value: &str) -> Result<Credential, CredentialError> {
        Credential::new(
            "api.example.test",
            443,
            header,
            Secret::new(value),
            vec![],
            vec![],
        )
    }

    #[test]
    fn headers_values_and_hosts_are_validated() {
        assert!(cred("Authorization", "Bearer t0k").is_ok());
        assert!(cred("X-Api-Key", "k\tv ü").is_ok());
        for bad in [
            "",
            "Bad Header",
            "X:y",
            "Host",
            "content-length",
            "Transfer-Encoding",
            "Connection",
            "Proxy-Authorization",
            "proxy-anything",
            "Upgrade",
            "TE",
            "Keep-Alive",
            "Trailer",
            "Expect",
            "Ä",
        ] {
            assert!(
                matches!(cred(bad, "v"), Err(CredentialError::Header { .. })),
                "{bad:?}"
            );
        }
        for bad in [
            "",
            "  ",
            "a\r\nX-Evil: 1",
            "a\nb",
            "a\0b",
            "a\x7fb",
            "a\x01",
        ] {
            let e = cred("Authorization", bad).unwrap_err();
            assert!(matches!(e, CredentialError::Value { .. }), "{bad:?}");
            // The error never carries the value.
            if bad.len() > 2 {
                assert!(!e.to_string().contains(bad), "{e}");
                assert!(!format!("{e:?}").contains(bad), "{e:?}");
            }
        }
        for bad in ["10.0.0.1", "[::1]", "*.example.test", "", "a b"] {
            let e = Credential::new(bad, 443, "Authorization", Secret::new("v"), vec![], vec![]);
            assert!(matches!(e, Err(CredentialError::Host { .. })), "{bad:?}");
        }
        let c = Credential::new(
            "API.Example.Test.",
            443,
            "Authorization",
            Secret::new("v"),
            vec![],
            vec![],
        )
        .unwrap();
        assert_eq!(c.host(), "api.example.test");
        assert!(c.is_for(&canonical_host("api.example.test").unwrap(), 443));
        assert!(!c.is_for(&canonical_host("api.example.test").unwrap(), 8443));
        assert!(!c.is_for(&canonical_host("x.api.example.test").unwrap(), 443));
        let m = Credential::new(
            "a.test",
            443,
            "A",
            Secret::new("v"),
            vec!["G T".into()],
            vec![],
        );
        assert!(matches!(m, Err(CredentialError::Method { .. })));
        for bad in [
            "repos",
            "/a?b",
            "/a b",
            "/a/../b",
            "/a/%2e%2e",
            "/a\\b",
            "/a#x",
        ] {
            let e = Credential::new(
                "a.test",
                443,
                "A",
                Secret::new("v"),
                vec![],
                vec![bad.into()],
            );
            assert!(
                matches!(e, Err(CredentialError::PathPrefix { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_value_never_prints() {
        let c = cred("Authorization", "Bearer s3cret-value").unwrap();
        let shown = format!("{c:?} {} {:?}", c.value(), c.value());
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        let p = crate::NetPolicy {
            credentials: vec![c],
            ..crate::NetPolicy::default()
        };
        let shown = format!("{p:?} {p:#?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    #[test]
    fn prefixes_match_at_a_slash_boundary_or_whole() {
        assert!(prefix_matches("/repos", "/repos"));
        assert!(prefix_matches("/repos", "/repos/x"));
        assert!(!prefix_matches("/repos", "/reposX"));
        assert!(!prefix_matches("/repos", "/repo"));
        assert!(!prefix_matches("/repos", "/x/repos"));
        assert!(prefix_matches("/repos/", "/repos/x"));
        assert!(!prefix_matches("/repos/", "/repos"));
        assert!(prefix_matches("/", "/anything"));
    }

    #[test]
    fn methods_and_paths_decide_where_it_applies() {
        let c = Credential::new(
            "api.example.test",
            443,
            "Authorization",
            Secret::new("v"),
            vec!["GET".into(), "HEAD".into()],
            vec!["/repos".into(), "/user/".into()],
        )
        .unwrap();
        for (m, p) in [
            ("GET", "/repos"),
            ("GET", "/repos/a/b"),
            ("HEAD", "/user/x"),
        ] {
            assert!(c.applies(m, p), "{m} {p}");
        }
        for (m, p) in [
            ("POST", "/repos"),
            ("get", "/repos"),
            ("GET", "/reposX"),
            ("GET", "/user"),
            ("GET", "/"),
            ("GET", "/repos/../admin"),
            ("GET", "/repos/%2e%2e/admin"),
            ("GET", "/repos%2F..%2Fadmin"),
            ("GET", "/repos/.."),
            ("GET", "/repos\\..\\admin"),
        ] {
            assert!(!c.applies(m, p), "{m} {p}");
        }
        let any = cred("Authorization", "v").unwrap();
        assert!(any.applies("POST", "/x/../y"));
        assert!(!any.applies("TRACE", "/"));
        assert!(!any.applies("trace", "/"));
    }
}
