//! Strict HTTP/1.x request parsing (RFC 9112): the request head, the body's framing, and the
//! body itself, forwarded in a canonical form. Anything ambiguous is refused, so that the server
//! behind the proxy can never read a request differently from how cordon checked it (request
//! smuggling, RFC 9112 §11.2).
//!
//! Refused (`BadRequest`, answered 400): a line ending in a bare LF or holding a bare CR; a
//! header line starting with whitespace (obs-fold); a field name that is not a token or is
//! followed by whitespace before the colon; a control character or NUL in a field value or in
//! the request target; more than one `Host`, `Content-Length` or `Transfer-Encoding`; a
//! `Content-Length` that is not digits; `Transfer-Encoding` with `Content-Length`, in an
//! HTTP/1.0 request, or other than exactly `chunked`; names that differ from `Host`,
//! `Content-Length`, `Transfer-Encoding` only by `_` for `-` (servers that fold them).
//!
//! The body is forwarded by its framing only: exactly `Content-Length` bytes, or the chunked
//! body decoded and re-encoded (sizes in plain hex, chunk extensions and trailers dropped), or
//! nothing. What follows it on the connection is returned to the caller, never forwarded by this
//! module: a second request on the connection is the caller's to parse and check, or to drop.
//!
//! No I/O in the head parser: it is shared by every path that reads a request (the plain-HTTP
//! proxy today; requests inside intercepted TLS next).

use std::fmt;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Why a request is refused with 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(pub String);

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad<T>(why: impl Into<String>) -> Result<T, BadRequest> {
    Err(BadRequest(why.into()))
}

/// How the request's body is delimited (RFC 9112 §6.3, for requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Neither `Content-Length` nor `Transfer-Encoding`: no body.
    None,
    Length(u64),
    Chunked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    pub target: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    /// In order, names as sent, values without surrounding whitespace.
    pub headers: Vec<(String, String)>,
    pub framing: Framing,
}

impl Head {
    /// The value of the one header named `name` (case-insensitive), if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request target (RFC 9112 §3.2), split without decoding anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// `/path?query`: the form of requests to an origin server (inside a tunnel).
    Origin(&'a str),
    /// `http://[userinfo@]host[:port][/path][?query]`, the form sent to a proxy. `hostport`
    /// follows the authority's last `@` (userinfo never names the host); `path` is the rest
    /// (starting with `/` or `?`), `/` when there is none.
    AbsoluteHttp { hostport: &'a str, path: &'a str },
    /// Anything else: `https://` or another scheme in plain text, `*`, an authority form.
    Other,
}

/// The form of a request target as [`parse_head`] accepted it (ASCII, no spaces or controls).
pub fn target(t: &str) -> Target<'_> {
    if let Some(after) = t
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("http://"))
        .and_then(|_| t.get(7..))
    {
        let (authority, path) = match after.find(['/', '?']) {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, "/"),
        };
        let hostport = authority
            .rsplit_once('@')
            .map(|(_, h)| h)
            .unwrap_or(authority);
        return Target::AbsoluteHttp { hostport, path };
    }
    if t.starts_with('/') {
        return Target::Origin(t);
    }
    Target::Other
}

/// Where the head ends in `buf` (the index after its blank line), `None` while it is incomplete.
/// A bare LF seen before the end is refused at once, without waiting for more.
pub fn head_end(buf: &[u8]) -> Result<Option<usize>, BadRequest> {
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            if i == 0 || buf[i - 1] != b'\r' {
                return bad("a line ends in a bare LF (lines end in CRLF)");
            }
            if i >= 3 && &buf[i - 3..=i] == b"\r\n\r\n" {
                return Ok(Some(i + 1));
            }
        }
    }
    Ok(None)
}

/// RFC 9110 §5.6.2: `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A field value's bytes: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5). No CTL, no NUL, no DEL.
fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80
}

/// Parses a complete request head (as delimited by [`head_end`], blank line included).
pub fn parse_head(head: &[u8]) -> Result<Head, BadRequest> {
    let Some(body) = head.strip_suffix(b"\r\n\r\n") else {
        return bad("the request head does not end in a blank line");
    };
    let mut lines = body
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let line = lines.next().unwrap_or_default();
    if line.contains(&b'\r') || lines.clone().any(|l| l.contains(&b'\r')) {
        return bad("a bare CR in the request head");
    }
    let Ok(line) = std::str::from_utf8(line) else {
        return bad("the request line is not UTF-8");
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return bad(format!("malformed request line {line:?}"));
    };
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return bad(format!("malformed method {method:?}"));
    }
    // The request target is ASCII without controls or spaces, and no fragment.
    if target.is_empty()
        || !target.bytes().all(|b| (0x21..0x7f).contains(&b))
        || target.contains('#')
    {
        return bad(format!("malformed request target {target:?}"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return bad(format!(
            "unsupported version {version:?} (HTTP/1.0 and HTTP/1.1 only)"
        ));
    }
    let mut headers = Vec::new();
    for l in lines {
        if l.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            return bad("a header line starts with whitespace (obs-fold)");
        }
        let Some(colon) = l.iter().position(|&b| b == b':') else {
            return bad("a header line has no colon");
        };
        let (name, value) = (&l[..colon], &l[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return bad(format!(
                "malformed header name {:?}",
                String::from_utf8_lossy(name)
            ));
        }
        if !value.iter().all(|&b| is_value_byte(b)) {
            return bad(format!(
                "a control character in the value of {}",
                String::from_utf8_lossy(name)
            ));
        }
        let (Ok(name), Ok(value)) = (std::str::from_utf8(name), std::str::from_utf8(value)) else {
            return bad("a header is not UTF-8");
        };
        headers.push((
            name.to_string(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    let count = |n: &str| {
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(n))
            .count()
    };
    for n in ["host", "content-length", "transfer-encoding"] {
        if count(n) > 1 {
            return bad(format!("more than one {n} header"));
        }
        if headers
            .iter()
            .any(|(k, _)| !k.eq_ignore_ascii_case(n) && k.replace('_', "-").eq_ignore_ascii_case(n))
        {
            return bad(format!("a header named like {n} with '_' for '-'"));
        }
    }
    let find = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    };
    let framing = match (find("transfer-encoding"), find("content-length")) {
        (Some(_), Some(_)) => return bad("both Transfer-Encoding and Content-Length"),
        (Some(_), None) if version == "HTTP/1.0" => {
            return bad("Transfer-Encoding in an HTTP/1.0 request")
        }
        (Some(te), None) if te.eq_ignore_ascii_case("chunked") => Framing::Chunked,
        (Some(te), None) => {
            return bad(format!(
                "Transfer-Encoding {te:?} (only \"chunked\" is accepted)"
            ))
        }
        (None, Some(cl)) => {
            if cl.is_empty() || cl.len() > 19 || !cl.bytes().all(|b| b.is_ascii_digit()) {
                return bad(format!("malformed Content-Length {cl:?}"));
            }
            Framing::Length(
                cl.parse()
                    .map_err(|_| BadRequest(format!("malformed Content-Length {cl:?}")))?,
            )
        }
        (None, None) => Framing::None,
    };
    Ok(Head {
        method: method.to_string(),
        target: target.to_string(),
        version: version.to_string(),
        headers,
        framing,
    })
}

/// A reader with bytes already read ahead (the part of the first read past the head).
pub struct Buffered<R> {
    buf: Vec<u8>,
    pos: usize,
    inner: R,
}

/// A chunk-size line or the trailer section longer than this is refused.
const MAX_CHUNK_LINE: usize = 4096;
const MAX_TRAILERS: usize = 32 * 1024;

impl<R: AsyncRead + Unpin> Buffered<R> {
    pub fn new(ahead: Vec<u8>, inner: R) -> Self {
        Buffered {
            buf: ahead,
            pos: 0,
            inner,
        }
    }

    /// What was read and not consumed, and the reader.
    pub fn into_parts(mut self) -> (Vec<u8>, R) {
        self.buf.drain(..self.pos);
        (self.buf, self.inner)
    }

    fn ahead(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Reads more; false at the end of the stream.
    async fn fill(&mut self) -> std::io::Result<bool> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = self.inner.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// One CRLF-terminated line (without the CRLF), at most `max` bytes.
    async fn line(&mut self, max: usize) -> Result<Vec<u8>, BodyError> {
        loop {
            if let Some(i) = self.ahead().iter().position(|&b| b == b'\n') {
                let l = &self.ahead()[..i];
                let Some(l) = l.strip_suffix(b"\r") else {
                    return Err(BodyError::Bad(
                        "a chunked-body line ends in a bare LF".into(),
                    ));
                };
                if l.contains(&b'\r') {
                    return Err(BodyError::Bad("a bare CR in the chunked body".into()));
                }
                let l = l.to_vec();
                self.pos += i + 1;
                return Ok(l);
            }
            if self.ahead().len() > max {
                return Err(BodyError::Bad("a chunked-body line is too long".into()));
            }
            if !self.fill().await? {
                return Err(BodyError::Truncated);
            }
        }
    }

    /// Copies exactly `n` bytes to `w`.
    async fn copy_exact<W: AsyncWrite + Unpin>(
        &mut self,
        mut n: u64,
        w: &mut W,
    ) -> Result<(), BodyError> {
        while n > 0 {
            if self.ahead().is_empty() && !self.fill().await? {
                return Err(BodyError::Truncated);
            }
            let take = self
                .ahead()
                .len()
                .min(usize::try_from(n).unwrap_or(usize::MAX));
            w.write_all(&self.ahead()[..take]).await?;
            self.pos += take;
            n -= take as u64;
        }
        Ok(())
    }
}

#[derive(Debug)]
pub enum BodyError {
    /// Malformed framing: the exchange is abandoned.
    Bad(String),
    /// The client closed before the end of the body.
    Truncated,
    Io(std::io::Error),
}

impl From<std::io::Error> for BodyError {
    fn from(e: std::io::Error) -> Self {
        BodyError::Io(e)
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Bad(why) => f.write_str(why),
            BodyError::Truncated => f.write_str("the client closed before the end of the body"),
            BodyError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Forwards the body delimited by `framing` from `r` to `w`; returns the bytes written. A chunked
/// body is re-encoded: each chunk as `<hex size>\r\n<data>\r\n`, then `0\r\n\r\n`; extensions
/// and trailers are checked and dropped. On an error, part of the body may have been written:
/// the caller must abandon the connection to the server.
pub async fn forward_body<R, W>(
    framing: Framing,
    r: &mut Buffered<R>,
    w: &mut W,
) -> Result<u64, BodyError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    match framing {
        Framing::None => Ok(0),
        Framing::Length(n) => {
            r.copy_exact(n, w).await?;
            Ok(n)
        }
        Framing::Chunked => {
            let mut total = 0u64;
            loop {
                let line = r.line(MAX_CHUNK_LINE).await?;
                let size = chunk_size(&line).map_err(|e| BodyError::Bad(e.0))?;
                if size == 0 {
                    trailers(r).await?;
                    w.write_all(b"0\r\n\r\n").await?;
                    return Ok(total + 5);
                }
                let head = format!("{size:x}\r\n");
                w.write_all(head.as_bytes()).await?;
                r.copy_exact(size, w).await?;
                if !r.line(2).await?.is_empty() {
                    return Err(BodyError::Bad("chunk data longer than its size".into()));
                }
                w.write_all(b"\r\n").await?;
                total += head.len() as u64 + size + 2;
            }
        }
    }
}

/// The trailer section after the last chunk, up to its blank line: each line a valid field.
async fn trailers<R: AsyncRead + Unpin>(r: &mut Buffered<R>) -> Result<(), BodyError> {
    let mut seen = 0usize;
    loop {
        let l = r.line(MAX_TRAILERS).await?;
        if l.is_empty() {
            return Ok(());
        }
        seen += l.len() + 2;
        if seen > MAX_TRAILERS {
            return Err(BodyError::Bad("the trailer section is too long".into()));
        }
        let ok = !l.starts_with(b" ")
            && !l.starts_with(b"\t")
            && l.iter().position(|&b| b == b':').is_some_and(|c| {
                c > 0
                    && l[..c].iter().all(|&b| is_tchar(b))
                    && l[c + 1..].iter().all(|&b| is_value_byte(b))
            });
        if !ok {
            return Err(BodyError::Bad("a malformed trailer field".into()));
        }
    }
}

/// `chunk-size [ chunk-ext ]` (RFC 9112 §7.1): hex digits (at most 15: under 2^60), then
/// optional `;`-introduced extensions of visible characters.
pub fn chunk_size(line: &[u8]) -> Result<u64, BadRequest> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 15 {
        return bad("malformed chunk size");
    }
    let ext = &line[digits..];
    let ext_start = ext
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(ext.len());
    let ext = &ext[ext_start..];
    if !ext.is_empty() && (ext[0] != b';' || !ext.iter().all(|&b| is_value_byte(b))) {
        return bad("malformed chunk extension");
    }
    let s = std::str::from_utf8(&line[..digits])
        .map_err(|_| BadRequest("malformed chunk size".into()))?;
    u64::from_str_radix(s, 16).map_err(|_| BadRequest("malformed chunk size".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &str) -> Result<Head, BadRequest> {
        let b = s.as_bytes();
        match head_end(b)? {
            Some(n) => parse_head(&b[..n]),
            None => bad("incomplete"),
        }
    }

    const OK: &str = "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n";

    #[test]
    fn accepts_ordinary_requests() {
        let h = head(&format!(
            "{OK}Accept: */*\r\nX-Empty:\r\nX-Tab:\tv \t\r\n\r\n"
        ))
        .unwrap();
        assert_eq!(h.framing, Framing::None);
        assert_eq!(h.get("x-tab"), Some("v"));
        assert_eq!(h.get("X-EMPTY"), Some(""));
        let h = head(&format!("{OK}Content-Length: 5\r\n\r\n")).unwrap();
        assert_eq!(h.framing, Framing::Length(5));
        let h = head(&format!("{OK}Transfer-Encoding: Chunked\r\n\r\n")).unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        let h = head("GET http://a.test/ HTTP/1.0\r\nUser-Agent: caf\u{e9}\r\n\r\n").unwrap();
        assert_eq!(h.version, "HTTP/1.0");
    }

    #[test]
    fn refuses_ambiguous_requests() {
        for (req, why) in [
            (format!("{OK}Host: b.test\r\n\r\n"), "more than one host"),
            (format!("{OK}host: a.test\r\n\r\n"), "more than one host"),
            (
                format!("{OK}Content-Length: 5\r\nContent-Length: 5\r\n\r\n"),
                "more than one content-length",
            ),
            (
                format!("{OK}Content-Length: 5\r\nContent-Length: 6\r\n\r\n"),
                "more than one content-length",
            ),
            (
                format!("{OK}Content-Length: 5, 5\r\n\r\n"),
                "malformed Content-Length",
            ),
            (
                format!("{OK}Content-Length: +5\r\n\r\n"),
                "malformed Content-Length",
            ),
            (
                format!("{OK}Content-Length: 0x5\r\n\r\n"),
                "malformed Content-Length",
            ),
            (
                format!("{OK}Content-Length:\r\n\r\n"),
                "malformed Content-Length",
            ),
            (
                format!("{OK}Content-Length: 99999999999999999999\r\n\r\n"),
                "malformed Content-Length",
            ),
            (
                format!("{OK}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
                "both",
            ),
            (
                format!("{OK}Transfer-Encoding: gzip, chunked\r\n\r\n"),
                "only \"chunked\"",
            ),
            (
                format!("{OK}Transfer-Encoding: chunked, identity\r\n\r\n"),
                "only \"chunked\"",
            ),
            (
                format!("{OK}Transfer-Encoding: xchunked\r\n\r\n"),
                "only \"chunked\"",
            ),
            (
                format!("{OK}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
                "more than one transfer-encoding",
            ),
            (
                "GET http://a.test/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n".into(),
                "HTTP/1.0",
            ),
            (format!("{OK}Content_Length: 5\r\n\r\n"), "'_'"),
            (format!("{OK}Transfer_Encoding: chunked\r\n\r\n"), "'_'"),
            (format!("{OK}X-A: 1\r\n folded\r\n\r\n"), "obs-fold"),
            (format!("{OK}X-A: 1\r\n\tfolded\r\n\r\n"), "obs-fold"),
            (
                format!("{OK}Transfer-Encoding : chunked\r\n\r\n"),
                "header name",
            ),
            (format!("{OK}X A: 1\r\n\r\n"), "header name"),
            (format!("{OK}: 1\r\n\r\n"), "header name"),
            (format!("{OK}X-A\r\n\r\n"), "no colon"),
            (format!("{OK}X-A: a\0b\r\n\r\n"), "control character"),
            (format!("{OK}X-A: a\x0bb\r\n\r\n"), "control character"),
            (format!("{OK}X-A: a\x7fb\r\n\r\n"), "control character"),
            (format!("{OK}X-A: a\rb\r\n\r\n"), "bare CR"),
            (format!("{OK}X-A: 1\nX-B: 2\r\n\r\n"), "bare LF"),
            (
                "GET http://a.test/ HTTP/1.1\nHost: a.test\n\n".into(),
                "bare LF",
            ),
            (
                "GET  http://a.test/ HTTP/1.1\r\n\r\n".into(),
                "request line",
            ),
            (
                "GET http://a.test/ HTTP/1.1 \r\n\r\n".into(),
                "request line",
            ),
            (
                "GET http://a.test/\x01 HTTP/1.1\r\n\r\n".into(),
                "request target",
            ),
            (
                "GET http://a.test/#frag HTTP/1.1\r\n\r\n".into(),
                "request target",
            ),
            ("GET http://a.test/ HTTP/2.0\r\n\r\n".into(), "version"),
            ("G(T http://a.test/ HTTP/1.1\r\n\r\n".into(), "method"),
            (
                "\r\nGET http://a.test/ HTTP/1.1\r\n\r\n".into(),
                "request line",
            ),
        ] {
            let e = head(&req).expect_err(&req);
            assert!(e.0.contains(why), "{req:?}: {e} (expected {why:?})");
        }
    }

    #[test]
    fn request_targets() {
        let abs = |hostport, path| Target::AbsoluteHttp { hostport, path };
        for (t, want) in [
            ("http://a.test/x?y", abs("a.test", "/x?y")),
            ("HTTP://a.test:8080", abs("a.test:8080", "/")),
            ("http://a.test?q", abs("a.test", "?q")),
            ("http://user:pw@evil.test@a.test/x", abs("a.test", "/x")),
            ("http://a.test@evil.test/x", abs("evil.test", "/x")),
            ("http://[::1]:80/", abs("[::1]:80", "/")),
            ("http://", abs("", "/")),
            ("/x?y", Target::Origin("/x?y")),
            ("https://a.test/", Target::Other),
            ("a.test:443", Target::Other),
            ("*", Target::Other),
            ("http:/a.test/", Target::Other),
        ] {
            assert_eq!(target(t), want, "{t}");
        }
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size(b"a").unwrap(), 10);
        assert_eq!(chunk_size(b"A;name=value").unwrap(), 10);
        assert_eq!(chunk_size(b"0 ;x").unwrap(), 0);
        for l in [
            &b""[..],
            b"g",
            b"-1",
            b"0x5",
            b"5 x",
            b"1234567890abcdef",
            b"5;\x01",
        ] {
            assert!(chunk_size(l).is_err(), "{:?}", String::from_utf8_lossy(l));
        }
    }

    async fn fwd(framing: Framing, input: &[u8]) -> (Result<u64, String>, Vec<u8>, Vec<u8>) {
        let mut r = Buffered::new(input.to_vec(), &b""[..]);
        let mut out = Vec::new();
        let res = forward_body(framing, &mut r, &mut out)
            .await
            .map_err(|e| e.to_string());
        let (rest, _) = r.into_parts();
        (res, out, rest)
    }

    #[tokio::test]
    async fn bodies_stop_at_their_end() {
        let next = b"GET http://other.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n";
        let (res, out, rest) = fwd(Framing::Length(5), &[b"hello".as_slice(), next].concat()).await;
        assert_eq!(
            (res.unwrap(), out.as_slice(), rest.as_slice()),
            (5, &b"hello"[..], &next[..])
        );
        let (_, out, rest) = fwd(Framing::None, next).await;
        assert!(out.is_empty());
        assert_eq!(rest, next);
        let body = b"5;ext=1\r\nhello\r\n000\r\nX-T: 1\r\n\r\n";
        let (res, out, rest) = fwd(Framing::Chunked, &[body.as_slice(), next].concat()).await;
        assert_eq!(out, b"5\r\nhello\r\n0\r\n\r\n");
        assert_eq!(res.unwrap(), out.len() as u64);
        assert_eq!(rest, next);
    }

    #[tokio::test]
    async fn malformed_chunked_bodies_are_refused() {
        for body in [
            &b"5\nhello\r\n0\r\n\r\n"[..],
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"5\r\nhello\r\n0\r\nbad trailer\r\n\r\n",
            b"5\r\nhello\r\n0\r\n\r",
            b"zz\r\n",
            b"5\r\nhel",
        ] {
            let (res, _, _) = fwd(Framing::Chunked, body).await;
            assert!(res.is_err(), "{:?}", String::from_utf8_lossy(body));
        }
        let (res, _, _) = fwd(Framing::Length(10), b"short").await;
        assert!(res.is_err());
    }
}
