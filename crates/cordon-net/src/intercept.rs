//! The `Intercept` arm of a CONNECT tunnel (docs/design.md, "Built: the Intercept arm"): the
//! client's TLS is terminated with a leaf for the CONNECT host from the run's CA, the request
//! inside is read and decided like a plain-HTTP one, the host's credential is added to the head
//! sent to the server, over the proxy's own TLS connection verified for the CONNECT host.
//!
//! One request per tunnel: the server is sent `Connection: close`, its response is relayed
//! until it closes, then the client's TLS connection is closed; the client opens a new tunnel
//! for its next request (correct, slower; keep-alive needs a response parser).

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use rustls_pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::stream::{Prefixed, Stream};
use crate::{
    check_hello, check_host_header, decide, exchange, gate, http, origin_form, parse_target,
    refuse, reply_status, request_head_for, Host, Req, RequestView, Shared, Step, CONNECT_TIMEOUT,
    HEAD_TIMEOUT,
};

/// The protocol of an intercepted request's record.
const PROTOCOL: &str = "https-intercepted";

/// Records a refusal and says it once (nothing was sent to the server).
fn deny(sh: &Shared, r: &Req, addr: SocketAddr, why: String) {
    sh.event(r, Some(addr), "deny", why.clone(), 0, 0);
    let (h, port) = (&r.host, r.port);
    sh.say_refused(
        &format!("cordon: network: closed intercepted tunnel to {h}:{port}: {why}"),
        format!("intercept:{h}:{port}:{why}"),
    );
}

/// After `200` to a CONNECT to the name `h` decided `Intercept`, with `up` the TCP connection
/// opened to its checked address: checks the ClientHello (as a plain tunnel does), terminates
/// the client's TLS, and serves one request inside.
#[allow(clippy::too_many_arguments)] // as `tunnel`: the request's parts, named
pub(crate) async fn intercept<S: Stream>(
    mut s: S,
    up: TcpStream,
    sh: &Shared,
    r: &Req,
    h: &Host,
    addr: SocketAddr,
    rule: String,
    rest: Vec<u8>,
) -> io::Result<()> {
    let r = Req {
        protocol: PROTOCOL,
        ..r.clone()
    };
    let Host::Name(name) = h else {
        // `decide_connect` intercepts names only.
        deny(sh, &r, addr, "an address is never intercepted".into());
        return Ok(());
    };
    let (Some(ca), Some(client)) = (&sh.policy.intercept_ca, &sh.upstream_tls) else {
        deny(sh, &r, addr, "interception is not set up".into());
        return Ok(());
    };
    // The ClientHello, read and checked as in a plain tunnel; nothing goes to the server (the
    // gate's writer is a sink: an intercepted tunnel sends the server only what cordon writes).
    let mut early = rest;
    let deadline = Some(Instant::now() + HEAD_TIMEOUT);
    let checked = match gate(&mut s, &mut tokio::io::sink(), &mut early, r.port, deadline).await {
        Ok((Step::Tls, _)) => check_hello(&early, h, name, sh.policy.allow_ech),
        Ok(_) => Err(format!(
            "an intercepted tunnel carries TLS only (the tunnel is to {name})"
        )),
        // Closed or silent before its first bytes: no request, no record.
        Err(_) => return Ok(()),
    };
    if let Err(why) = checked {
        deny(sh, &r, addr, why);
        return Ok(());
    }
    let config = match ca.server_config(name) {
        Ok(c) => c,
        Err(e) => {
            deny(sh, &r, addr, e.to_string());
            return Ok(());
        }
    };
    // The handshake reads the ClientHello already taken from the stream first.
    let accept = TlsAcceptor::from(config).accept(Prefixed::new(early, s));
    let mut c = match tokio::time::timeout(HEAD_TIMEOUT, accept).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            let why = format!(
                "TLS with the client failed: {e} (a client that does not trust the run's CA, or pins its server's certificate, cannot be intercepted)"
            );
            deny(sh, &r, addr, why);
            return Ok(());
        }
        Err(_) => {
            deny(sh, &r, addr, "TLS with the client timed out".into());
            return Ok(());
        }
    };
    let served = request(&mut c, up, sh, r, h, name, addr, rule, client.clone()).await;
    let _ = c.shutdown().await;
    served
}

/// The one request inside the client's TLS (`c`): read, checked for the CONNECT host, decided,
/// then sent on by [`forward`].
#[allow(clippy::too_many_arguments)]
async fn request<C: Stream>(
    c: &mut C,
    up: TcpStream,
    sh: &Shared,
    mut r: Req,
    h: &Host,
    name: &str,
    addr: SocketAddr,
    rule: String,
    client: std::sync::Arc<rustls::ClientConfig>,
) -> io::Result<()> {
    let port = r.port;
    // Same bounds and strictness as every request head; a malformed one is answered 400.
    let Some((head, rest)) = request_head_for(c, sh, &r).await? else {
        return Ok(());
    };
    r.method = Some(head.method.clone());
    // The target: origin form, or an absolute URI naming the CONNECT host and port (a server
    // takes the URI's host over the Host header, RFC 9112 §3.2.2).
    let path = match http::target(&head.target) {
        http::Target::Origin(p) => Some(p),
        http::Target::AbsoluteHttp { hostport, path } => {
            matches!(parse_target(hostport, port), Ok((hh, pp)) if hh == *h && pp == port)
                .then_some(path)
        }
        http::Target::Other => None,
    };
    let Some(path) = path else {
        let why = format!(
            "request target {:?} is not on the tunnel's host {name}:{port}",
            head.target
        );
        refuse(sh, &r, c, why).await;
        return Ok(());
    };
    let (path_only, query) = decide::split_query(path);
    r.path = Some(path_only.to_string());
    let inside = if head.method.eq_ignore_ascii_case("CONNECT") {
        Err("a CONNECT inside an intercepted tunnel".to_string())
    } else if head.get("upgrade").is_some() {
        Err("an Upgrade inside an intercepted tunnel (HTTP/1.1 requests only)".to_string())
    } else {
        check_host_header(&head, h, port)
    };
    let decided = inside.and_then(|()| {
        sh.policy.decide_request(&RequestView {
            method: &head.method,
            host: h,
            port,
            path: path_only,
            query,
            headers: &head.headers,
        })
    });
    if let Err(why) = decided {
        sh.say_refused(
            &format!("cordon: network: refused a request to {name}:{port}: {why}"),
            format!("intercept:{name}:{port}:{why}"),
        );
        refuse(sh, &r, c, why).await;
        return Ok(());
    }
    let hostport = match port {
        443 => name.to_string(),
        p => format!("{name}:{p}"),
    };
    let (out, injected) = head_for(sh, &head, path, path_only, &hostport, h, port);
    r.injected = injected;
    forward(
        c,
        up,
        sh,
        &r,
        name,
        addr,
        rule,
        client,
        out,
        head.framing,
        rest,
    )
    .await
}

/// The head the server gets: [`origin_form`] of the request without any header the host's
/// credentials name (the sandbox cannot send its own value for them), plus each credential
/// whose method and path rules match (the first one per header name). Returns the head and the
/// names added.
fn head_for(
    sh: &Shared,
    head: &http::Head,
    path: &str,
    path_only: &str,
    hostport: &str,
    h: &Host,
    port: u16,
) -> (String, Option<String>) {
    let creds: Vec<_> = sh
        .policy
        .credentials
        .iter()
        .filter(|c| c.is_for(h, port))
        .collect();
    let mut sent = head.clone();
    sent.headers
        .retain(|(k, _)| !creds.iter().any(|c| k.eq_ignore_ascii_case(c.header())));
    let mut added: Vec<&str> = Vec::new();
    for c in creds {
        let header = c.header();
        if c.applies(&head.method, path_only)
            && !added.iter().any(|a| a.eq_ignore_ascii_case(header))
        {
            sent.headers
                .push((header.to_string(), c.value().expose().to_string()));
            added.push(header);
        }
    }
    let out = origin_form(&sent, path, hostport);
    (out, (!added.is_empty()).then(|| added.join(", ")))
}

/// TLS to the server over `up`, verified for the CONNECT host (`name`); then the head `out`,
/// the body, and the response back to the client `c`. A server that fails verification gets
/// nothing (the head, and the credential in it, is written only after the handshake), and the
/// client a 502 naming why.
#[allow(clippy::too_many_arguments)]
async fn forward<C: Stream>(
    c: &mut C,
    up: TcpStream,
    sh: &Shared,
    r: &Req,
    name: &str,
    addr: SocketAddr,
    rule: String,
    client: std::sync::Arc<rustls::ClientConfig>,
    out: String,
    framing: http::Framing,
    rest: Vec<u8>,
) -> io::Result<()> {
    let port = r.port;
    let failed = |why: String| format!("TLS to {name}:{port} failed: {why}");
    let connected = match ServerName::try_from(name.to_string()) {
        Ok(sn) => {
            let connect = TlsConnector::from(client).connect(sn, up);
            match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
                Ok(Ok(u)) => Ok(u),
                Ok(Err(e)) => Err(failed(e.to_string())),
                Err(_) => Err(failed("timed out".into())),
            }
        }
        Err(e) => Err(failed(e.to_string())),
    };
    let mut u = match connected {
        Ok(u) => u,
        Err(why) => {
            reply_status(c, "502 Bad Gateway", &why).await;
            deny(sh, r, addr, why);
            return Ok(());
        }
    };
    u.write_all(out.as_bytes()).await?;
    let up_bytes = out.len() as u64;
    drop(out);
    let (sent, down) = exchange(c, &mut u, framing, rest).await;
    match sent {
        Some(Err(e)) => {
            let why = format!("malformed request body: {e}");
            sh.event(r, Some(addr), "deny", why, up_bytes, down);
        }
        Some(Ok(n)) => sh.event(r, Some(addr), "allow", rule, up_bytes + n, down),
        None => sh.event(r, Some(addr), "allow", rule, up_bytes, down),
    }
    let _ = u.shutdown().await;
    Ok(())
}
