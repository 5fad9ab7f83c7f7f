//! Host names and addresses as the proxy sees them: canonical form, allow/deny patterns, and
//! the address classes that count as "local".

use crate::error::Error;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A requested destination host, canonicalized.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// Lower-case ASCII (punycode) name without a trailing dot.
    Name(String),
    /// An address, in whatever notation it was written (IPv4-mapped IPv6 becomes IPv4).
    Ip(IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
            Host::Ip(a) => write!(f, "{a}"),
        }
    }
}

/// Parses an IPv4 address the way `inet_aton` (and so curl, browsers, libc) does: 1 to 4 parts,
/// each decimal, octal (leading 0) or hex (0x); the last part fills the remaining bytes.
/// `2130706433`, `0177.0.0.1`, `0x7f.1` and `127.1` are all 127.0.0.1.
pub fn parse_ipv4_loose(s: &str) -> Option<Ipv4Addr> {
    if s.is_empty() || s.ends_with('.') && s.len() > 1 && s[..s.len() - 1].ends_with('.') {
        return None;
    }
    let s = s.strip_suffix('.').unwrap_or(s);
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::with_capacity(4);
    for p in &parts {
        let v = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            if h.is_empty() {
                0
            } else {
                u64::from_str_radix(h, 16).ok()?
            }
        } else if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(&p[1..], 8).ok()?
        } else {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse::<u64>().ok()?
        };
        nums.push(v);
    }
    let (last, head) = nums.split_last()?;
    let mut out: u64 = 0;
    for (i, v) in head.iter().enumerate() {
        if *v > 255 {
            return None;
        }
        out |= v << (24 - 8 * i);
    }
    let rest_bits = 8 * (4 - head.len()) as u32;
    if rest_bits < 64 && *last >= (1u64 << rest_bits) {
        return None;
    }
    Some(Ipv4Addr::from((out | last) as u32))
}

/// Why a host name was refused before any matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHost(pub String);

impl fmt::Display for BadHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Canonicalizes a host as written in a request: lower case, one trailing dot removed, IDNA to
/// punycode, every IP notation recognised as an address. Control characters, NUL, spaces,
/// percent-escapes and anything that is not a host name are refused, never "cleaned".
pub fn canonical_host(raw: &str) -> Result<Host, BadHost> {
    if raw.is_empty() || raw.len() > 255 {
        return Err(BadHost("empty or over-long host".into()));
    }
    if raw.chars().any(|c| {
        c.is_control() || c.is_whitespace() || matches!(c, '%' | '/' | '\\' | '@' | '?' | '#')
    }) {
        return Err(BadHost(format!(
            "host {:?} contains a forbidden character",
            raw.escape_debug().to_string()
        )));
    }
    if let Some(inner) = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return match inner.parse::<Ipv6Addr>() {
            Ok(a) => Ok(Host::Ip(unmap(IpAddr::V6(a)))),
            Err(_) => Err(BadHost(format!("bad IPv6 literal {raw:?}"))),
        };
    }
    if let Ok(a) = raw.parse::<Ipv6Addr>() {
        return Ok(Host::Ip(unmap(IpAddr::V6(a))));
    }
    let lower = raw.to_lowercase();
    let name = lower.strip_suffix('.').unwrap_or(&lower);
    if name.is_empty() || name.contains("..") {
        return Err(BadHost(format!("bad host name {raw:?}")));
    }
    if let Some(a) = parse_ipv4_loose(name) {
        return Ok(Host::Ip(IpAddr::V4(a)));
    }
    let ascii = idna::domain_to_ascii(name)
        .map_err(|_| BadHost(format!("host {raw:?} is not a valid international name")))?;
    if ascii.is_empty()
        || ascii.len() > 253
        || !ascii.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    {
        return Err(BadHost(format!("bad host name {raw:?}")));
    }
    // A name whose last label is all digits (or 0x…) would be read as an address by some
    // resolvers: refuse the ambiguity.
    if ascii
        .rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()) || l.starts_with("0x"))
    {
        return Err(BadHost(format!(
            "host {raw:?} looks like a malformed address"
        )));
    }
    Ok(Host::Name(ascii))
}

/// IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address.
pub fn unmap(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Loopback, private, link-local (cloud metadata 169.254.169.254), CGNAT, unique-local,
/// unspecified, multicast, broadcast, documentation and "this network" addresses.
pub fn is_local(a: IpAddr) -> bool {
    match unmap(a) {
        IpAddr::V4(v) => {
            let o = v.octets();
            v.is_loopback()
                || v.is_private()
                || v.is_link_local()
                || v.is_unspecified()
                || v.is_broadcast()
                || v.is_multicast()
                || v.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || o[0] >= 240
        }
        IpAddr::V6(v) => {
            let s = v.segments();
            v.is_loopback()
                || v.is_unspecified()
                || v.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x64 && s[1] == 0xff9b)
                || s[0] == 0x2001 && s[1] == 0xdb8
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPat {
    Exact(String),
    /// `*.suffix`: any name ending in `.suffix`, never `suffix` itself nor `evilsuffix`.
    Suffix(String),
    Ip(IpAddr),
}

/// An allow or deny pattern: `example.com`, `*.github.com`, `10.0.0.5`, each with an optional
/// `:PORT`. Without a port, an allow pattern covers ports 80 and 443 and a deny pattern every
/// port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainPattern {
    host: HostPat,
    pub port: Option<u16>,
    text: String,
}

impl fmt::Display for DomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Splits `host[:port]`, `[v6]:port`.
pub fn split_host_port(s: &str) -> Result<(&str, Option<u16>), Error> {
    let parse_port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| Error::BadPort {
                input: s.to_string(),
            })
    };
    if s.starts_with('[') {
        let end = s.find(']').ok_or_else(|| Error::UnclosedBracket {
            input: s.to_string(),
        })?;
        let (h, rest) = s.split_at(end + 1);
        return match rest.strip_prefix(':') {
            Some(p) => Ok((h, Some(parse_port(p)?))),
            None if rest.is_empty() => Ok((h, None)),
            None => Err(Error::BadAddress {
                input: s.to_string(),
            }),
        };
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Ok((h, Some(parse_port(p)?))),
        Some(_) => Ok((s, None)), // a bare IPv6 literal
        None => Ok((s, None)),
    }
}

impl FromStr for DomainPattern {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let (h, port) = split_host_port(s.trim())?;
        let host = if let Some(suffix) = h.strip_prefix("*.") {
            match canonical_host(suffix) {
                Ok(Host::Name(n)) if n.contains('.') || !n.is_empty() => HostPat::Suffix(n),
                Ok(_) => return Err(Error::EmptyWildcard { input: s.into() }),
                Err(reason) => {
                    return Err(Error::PatternHost {
                        input: s.into(),
                        reason,
                    })
                }
            }
        } else if h.contains('*') {
            return Err(Error::InnerWildcard { input: s.into() });
        } else {
            match canonical_host(h) {
                Ok(Host::Name(n)) => HostPat::Exact(n),
                Ok(Host::Ip(a)) => HostPat::Ip(a),
                Err(reason) => {
                    return Err(Error::PatternHost {
                        input: s.into(),
                        reason,
                    })
                }
            }
        };
        Ok(DomainPattern {
            host,
            port,
            text: s.trim().to_string(),
        })
    }
}

impl DomainPattern {
    fn host_matches(&self, h: &Host) -> bool {
        match (&self.host, h) {
            (HostPat::Exact(p), Host::Name(n)) => p == n,
            (HostPat::Suffix(p), Host::Name(n)) => {
                n.len() > p.len() + 1
                    && n.ends_with(p.as_str())
                    && n.as_bytes()[n.len() - p.len() - 1] == b'.'
            }
            (HostPat::Ip(p), Host::Ip(a)) => p == a,
            _ => false,
        }
    }

    /// As an allow rule: the host matches and the port is the named one (or 80/443).
    pub fn allows(&self, h: &Host, port: u16) -> bool {
        self.host_matches(h) && self.port.map_or(port == 80 || port == 443, |p| p == port)
    }

    /// As a deny rule: the host matches on the named port, or on any port.
    pub fn denies(&self, h: &Host, port: u16) -> bool {
        self.host_matches(h) && self.port.is_none_or(|p| p == port)
    }
}

/// `--resolve NAME:ADDR` (like curl's, without the port): pins NAME to ADDR.
pub fn parse_resolve(s: &str) -> Result<(String, IpAddr), Error> {
    let (name, addr) = s
        .split_once(':')
        .ok_or_else(|| Error::ResolveSyntax { input: s.into() })?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let a: IpAddr = addr.parse().map_err(|_| Error::ResolveAddress {
        input: s.into(),
        addr: addr.into(),
    })?;
    match canonical_host(name) {
        Ok(Host::Name(n)) => Ok((n, a)),
        _ => Err(Error::ResolveName {
            input: s.into(),
            name: name.into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Host {
        Host::Ip(s.parse().unwrap())
    }

    #[test]
    fn every_ipv4_notation_is_an_address() {
        for s in [
            "127.0.0.1",
            "2130706433",
            "0177.0.0.1",
            "0x7f.0.0.1",
            "0x7f000001",
            "127.1",
            "127.0.1",
            "0177.1",
            "127.0.0.1.",
        ] {
            assert_eq!(canonical_host(s), Ok(ip("127.0.0.1")), "{s}");
        }
        assert_eq!(canonical_host("[::ffff:127.0.0.1]"), Ok(ip("127.0.0.1")));
        assert_eq!(canonical_host("::ffff:7f00:1"), Ok(ip("127.0.0.1")));
        assert_eq!(canonical_host("[::1]"), Ok(ip("::1")));
        assert!(canonical_host("256.0.0.1").is_err());
        assert!(canonical_host("1.2.3.4.5").is_err());
    }

    #[test]
    fn names_are_canonical() {
        assert_eq!(
            canonical_host("GitHub.COM."),
            Ok(Host::Name("github.com".into()))
        );
        assert_eq!(
            canonical_host("bücher.example"),
            Ok(Host::Name("xn--bcher-kva.example".into()))
        );
        for bad in [
            "exa mple.com",
            "example.com\0.evil",
            "exa%6dple.com",
            "a..b",
            "evil.com/x",
            "user@host",
            "\u{7}bell.com",
            "x.123",
            "",
        ] {
            assert!(canonical_host(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn wildcards_never_match_lookalikes() {
        let p: DomainPattern = "*.github.com".parse().unwrap();
        let n = |s: &str| canonical_host(s).unwrap();
        assert!(p.allows(&n("api.github.com"), 443));
        assert!(p.allows(&n("a.b.GITHUB.com."), 80));
        assert!(!p.allows(&n("github.com"), 443));
        assert!(!p.allows(&n("evilgithub.com"), 443));
        assert!(!p.allows(&n("github.com.evil.com"), 443));
        assert!(
            !p.allows(&n("api.github.com"), 22),
            "no port: 80 and 443 only"
        );
        let q: DomainPattern = "example.com:8443".parse().unwrap();
        assert!(q.allows(&n("example.com"), 8443) && !q.allows(&n("example.com"), 443));
        let d: DomainPattern = "bad.example.com".parse().unwrap();
        assert!(d.denies(&n("bad.example.com"), 22));
        assert!("*".parse::<DomainPattern>().is_err());
        assert!("a.*.com".parse::<DomainPattern>().is_err());
        // An IP pattern matches the address in any notation, names never match it.
        let i: DomainPattern = "127.0.0.1:8080".parse().unwrap();
        assert!(i.allows(&n("2130706433"), 8080));
        assert!(!i.allows(&n("localhost"), 8080));
    }

    #[test]
    fn local_addresses() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
        ] {
            assert!(is_local(s.parse().unwrap()), "{s}");
        }
        for s in ["93.184.216.34", "140.82.112.3", "2606:4700::1111"] {
            assert!(!is_local(s.parse().unwrap()), "{s}");
        }
    }

    #[test]
    fn resolve_pins() {
        assert_eq!(
            parse_resolve("Example.com:127.0.0.1"),
            Ok(("example.com".into(), "127.0.0.1".parse().unwrap()))
        );
        assert_eq!(
            parse_resolve("v6.test:[::1]").unwrap().1,
            "::1".parse::<IpAddr>().unwrap()
        );
        assert!(parse_resolve("nocolon").is_err());
    }
}
