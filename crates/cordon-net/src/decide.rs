//! The proxy's decisions, without I/O: one for a destination (host, port), one for a tunnel
//! (CONNECT, SOCKS5 CONNECT), one for an HTTP request. Each returns `Ok(rule)`: the text naming
//! the pattern that allowed it, or `Err(reason)`: why it is refused and the flag that would
//! allow it (the 403 body, the stderr line and the audit record all carry these texts).
//!
//! The tunnel and request decisions are where policy beyond the domain list plugs in
//! (docs/design.md, "The proxy and TLS interception"): today both allow or refuse as the
//! destination's decision does; the tunnel decision also says whether to intercept (a
//! credential's host, listed by the run's CA).

use std::net::IpAddr;

use crate::host::Host;
use crate::NetPolicy;

/// What the proxy does with an allowed tunnel request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectAction {
    /// Relay the bytes both ways without reading them (after the ClientHello's server name is
    /// checked, for TLS to port 443 of a name).
    Tunnel,
    /// Terminate the client's TLS with a leaf for the host from the run's CA (which the
    /// sandbox trusts), open TLS to the server with the real roots, and serve the request
    /// inside (`intercept.rs`): decided by [`NetPolicy::decide_request`], with the host's
    /// credential added. Only for a credential's host:port that the run's CA lists; never for
    /// SOCKS5 (which tunnels it, without the credential).
    Intercept,
}

/// An HTTP request as the policy sees it: for plain HTTP today, for each request inside an
/// intercepted tunnel later.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a str,
    pub host: &'a Host,
    pub port: u16,
    /// The path as sent (percent-encoded, never decoded here), without the query; `/` at least.
    pub path: &'a str,
    /// What follows `?`, if anything.
    pub query: Option<&'a str>,
    /// The request's headers as parsed by `http::parse_head` (the client's, before cordon drops
    /// or adds any).
    pub headers: &'a [(String, String)],
}

impl NetPolicy {
    /// The decision for a destination: a deny pattern wins, then the first allow pattern.
    pub fn decide_host(&self, h: &Host, port: u16) -> Result<String, String> {
        if let Some(why) = self.denied(h, port) {
            return Err(why);
        }
        match self
            .allow
            .iter()
            .enumerate()
            .find(|(_, a)| a.allows(h, port))
        {
            Some((i, a)) => Ok(match self.allow_origin.get(i).filter(|o| !o.is_empty()) {
                Some(o) => format!("{a} (allowed by {o})"),
                None => format!("--allow-domain {a}"),
            }),
            None => {
                let hint = match h {
                    Host::Name(n) if port == 80 || port == 443 => format!("--allow-domain {n}"),
                    _ => format!("--allow-domain {h}:{port}"),
                };
                Err(format!("not in the allowed domains (allow with {hint})"))
            }
        }
    }

    /// The first deny pattern matching `h` on `port`, as the refusal's text.
    fn denied(&self, h: &Host, port: u16) -> Option<String> {
        let (i, d) = self
            .deny
            .iter()
            .enumerate()
            .find(|(_, d)| d.denies(h, port))?;
        Some(match self.deny_origin.get(i).filter(|o| !o.is_empty()) {
            Some(o) => format!("denied by {d} (set in {o}; no flag allows it)"),
            None => format!("denied by --deny-domain {d}"),
        })
    }

    /// A deny pattern naming the address a name resolved to: an address that is denied stays
    /// denied whatever name leads there (`--deny-domain 10.0.0.5`, a managed file's
    /// `never_allow_domains`), checked on the address connected to.
    pub fn denied_address(&self, a: IpAddr, port: u16) -> Option<String> {
        self.denied(&Host::Ip(a), port)
    }

    /// The decision for a tunnel to host:port (HTTP CONNECT or SOCKS5 CONNECT), and what to do
    /// with it when allowed: the destination's decision; `Intercept` for a credential's
    /// host:port when the run's CA lists the host, `Tunnel` otherwise. A credential whose host
    /// the CA does not list (or with no CA) is not injected: its tunnels stay plain and
    /// end-to-end, and the sandbox simply lacks the credential (never a man in the middle
    /// the sandbox cannot verify).
    pub fn decide_connect(&self, h: &Host, port: u16) -> Result<(String, ConnectAction), String> {
        let rule = self.decide_host(h, port)?;
        Ok((rule, self.connect_action(h, port)))
    }

    /// What an allowed tunnel to `h`:`port` is (see [`NetPolicy::decide_connect`]).
    fn connect_action(&self, h: &Host, port: u16) -> ConnectAction {
        let Host::Name(name) = h else {
            return ConnectAction::Tunnel;
        };
        let listed = self
            .intercept_ca
            .as_ref()
            .is_some_and(|ca| ca.hosts().iter().any(|x| x == name));
        if listed && self.credentials.iter().any(|c| c.is_for(h, port)) {
            ConnectAction::Intercept
        } else {
            ConnectAction::Tunnel
        }
    }

    /// The decision for one HTTP request. Today: the destination's decision (method, path,
    /// query and headers are not looked at); HTTP-level rules (methods, paths, headers) and a
    /// package-registry check go here, after the destination's decision and never instead of
    /// it.
    pub fn decide_request(&self, req: &RequestView<'_>) -> Result<String, String> {
        self.decide_host(req.host, req.port)
    }
}

/// `path[?query]` of an origin-form target → (path, query). An empty path is `/`.
pub fn split_query(target: &str) -> (&str, Option<&str>) {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    (if path.is_empty() { "/" } else { path }, query)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::canonical_host;

    fn policy(allow: &[&str], deny: &[&str]) -> NetPolicy {
        NetPolicy {
            allow: allow.iter().map(|a| a.parse().unwrap()).collect(),
            deny: deny.iter().map(|d| d.parse().unwrap()).collect(),
            ..NetPolicy::default()
        }
    }

    fn view<'a>(method: &'a str, h: &'a Host, port: u16, target: &'a str) -> RequestView<'a> {
        let (path, query) = split_query(target);
        RequestView {
            method,
            host: h,
            port,
            path,
            query,
            headers: &[],
        }
    }

    #[test]
    fn request_decision_is_the_destination_decision() {
        let p = policy(
            &["registry.npmjs.org", "*.github.com:8443"],
            &["bad.github.com"],
        );
        let npm = canonical_host("registry.npmjs.org").unwrap();
        for (method, target) in [
            ("GET", "/left-pad"),
            ("PUT", "/left-pad"),
            ("DELETE", "/-/user/token/x?y=1"),
            ("POST", "/"),
        ] {
            assert_eq!(
                p.decide_request(&view(method, &npm, 80, target)),
                Ok("--allow-domain registry.npmjs.org".to_string()),
                "{method} {target}"
            );
        }
        assert_eq!(
            p.decide_request(&view("GET", &npm, 8080, "/left-pad")),
            Err(
                "not in the allowed domains (allow with --allow-domain registry.npmjs.org:8080)"
                    .into()
            )
        );
        let bad = canonical_host("bad.github.com").unwrap();
        assert_eq!(
            p.decide_request(&view("GET", &bad, 8443, "/")),
            Err("denied by --deny-domain bad.github.com".into())
        );
        let api = canonical_host("api.github.com").unwrap();
        assert_eq!(
            p.decide_request(&view("GET", &api, 8443, "/")),
            Ok("--allow-domain *.github.com:8443".into())
        );
        let other = canonical_host("other.test").unwrap();
        assert_eq!(
            p.decide_request(&view("GET", &other, 80, "/")),
            Err("not in the allowed domains (allow with --allow-domain other.test)".into())
        );
    }

    #[test]
    fn connect_decision_tunnels_what_the_destination_allows() {
        let mut p = policy(&["*.test"], &["bad.test"]);
        p.deny_origin = vec!["/etc/cordon/managed.toml:4".into()];
        let ok = canonical_host("api.test").unwrap();
        assert_eq!(
            p.decide_connect(&ok, 443),
            Ok(("--allow-domain *.test".to_string(), ConnectAction::Tunnel))
        );
        let bad = canonical_host("bad.test").unwrap();
        assert_eq!(
            p.decide_connect(&bad, 443),
            Err("denied by bad.test (set in /etc/cordon/managed.toml:4; no flag allows it)".into())
        );
        let ip = canonical_host("10.0.0.1").unwrap();
        assert_eq!(
            p.decide_connect(&ip, 443),
            Err("not in the allowed domains (allow with --allow-domain 10.0.0.1:443)".into())
        );
    }

    #[test]
    fn credential_hosts_the_ca_lists_are_intercepted_and_no_other() {
        use crate::credential::{Credential, Secret};
        let cred = |host: &str, port| {
            Credential::new(
                host,
                port,
                "Authorization",
                Secret::new("t"),
                vec![],
                vec![],
            )
            .unwrap()
        };
        let mut p = policy(&["*.test", "api.test:8443"], &["bad.test"]);
        p.credentials = vec![
            cred("api.test", 443),
            cred("noca.test", 443),
            cred("bad.test", 443),
        ];
        let h = |s: &str| canonical_host(s).unwrap();
        // No CA: nothing is intercepted, the credential hosts are tunnelled.
        assert_eq!(
            p.decide_connect(&h("api.test"), 443).unwrap().1,
            ConnectAction::Tunnel
        );
        let ca = crate::tls::RunCa::new(&["api.test".into(), "bad.test".into()]).unwrap();
        p.intercept_ca = Some(std::sync::Arc::new(ca));
        assert_eq!(
            p.decide_connect(&h("api.test"), 443).unwrap().1,
            ConnectAction::Intercept
        );
        assert_eq!(
            p.decide_connect(&h("API.test."), 443).unwrap().1,
            ConnectAction::Intercept
        );
        // Another port, another host, a host the CA does not list: tunnels.
        assert_eq!(
            p.decide_connect(&h("api.test"), 8443).unwrap().1,
            ConnectAction::Tunnel
        );
        assert_eq!(
            p.decide_connect(&h("x.api.test"), 443).unwrap().1,
            ConnectAction::Tunnel
        );
        assert_eq!(
            p.decide_connect(&h("noca.test"), 443).unwrap().1,
            ConnectAction::Tunnel
        );
        // A denied host stays denied.
        assert!(p.decide_connect(&h("bad.test"), 443).is_err());
    }

    #[test]
    fn a_denied_address_is_denied_whatever_name_leads_there() {
        let mut p = policy(&["*.test"], &["10.0.0.5", "10.0.0.6:22", "bad.test"]);
        p.deny_origin = vec!["/etc/cordon/managed.toml:2".into()];
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            p.denied_address(a("10.0.0.5"), 443),
            Some(
                "denied by 10.0.0.5 (set in /etc/cordon/managed.toml:2; no flag allows it)".into()
            )
        );
        assert_eq!(
            p.denied_address(a("10.0.0.6"), 22),
            Some("denied by --deny-domain 10.0.0.6:22".into())
        );
        assert_eq!(p.denied_address(a("10.0.0.6"), 443), None);
        assert_eq!(p.denied_address(a("10.0.0.7"), 443), None);
    }

    #[test]
    fn queries_are_split_off() {
        assert_eq!(split_query("/a/b?c=d?e"), ("/a/b", Some("c=d?e")));
        assert_eq!(split_query("/a"), ("/a", None));
        assert_eq!(split_query("?x"), ("/", Some("x")));
        assert_eq!(split_query("/?"), ("/", Some("")));
    }
}
