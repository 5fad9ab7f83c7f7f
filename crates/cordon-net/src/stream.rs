//! The byte streams the proxy serves, and the relay between two of them.
//!
//! Everything after the first byte of a connection (the request head, the 400/403 answers, the
//! ClientHello's server name, the body forwarding, the tunnel) is written against [`Stream`],
//! not against a TCP socket: the client side can then be the sandbox's TCP connection today and
//! the decrypted side of an intercepted TLS connection later (docs/design.md, "The proxy and TLS
//! interception"), and the tests can drive it over a socketpair or an in-memory pipe.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// A bidirectional byte stream that can be used from two tasks at once: one reading, one
/// writing. `halves` borrows it (no lock, no allocation for sockets).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {
    type Reader<'a>: AsyncRead + Unpin + Send
    where
        Self: 'a;
    type Writer<'a>: AsyncWrite + Unpin + Send
    where
        Self: 'a;
    /// The reading and the writing half, usable concurrently.
    fn halves(&mut self) -> (Self::Reader<'_>, Self::Writer<'_>);
}

impl Stream for TcpStream {
    type Reader<'a> = tokio::net::tcp::ReadHalf<'a>;
    type Writer<'a> = tokio::net::tcp::WriteHalf<'a>;
    fn halves(&mut self) -> (Self::Reader<'_>, Self::Writer<'_>) {
        self.split()
    }
}

impl Stream for UnixStream {
    type Reader<'a> = tokio::net::unix::ReadHalf<'a>;
    type Writer<'a> = tokio::net::unix::WriteHalf<'a>;
    fn halves(&mut self) -> (Self::Reader<'_>, Self::Writer<'_>) {
        self.split()
    }
}

/// An in-memory pipe (tests). A stream without a borrowing split of its own (a TLS stream) is
/// served the same way: `tokio::io::split` of a `&mut` to it.
impl Stream for tokio::io::DuplexStream {
    type Reader<'a> = tokio::io::ReadHalf<&'a mut tokio::io::DuplexStream>;
    type Writer<'a> = tokio::io::WriteHalf<&'a mut tokio::io::DuplexStream>;
    fn halves(&mut self) -> (Self::Reader<'_>, Self::Writer<'_>) {
        tokio::io::split(self)
    }
}

/// The client's side of an intercepted tunnel, decrypted (the TLS stream has no borrowing split
/// of its own; `tokio::io::split` of a `&mut` to it serves, as for the pipe).
impl<IO: AsyncRead + AsyncWrite + Unpin + Send> Stream for tokio_rustls::server::TlsStream<IO> {
    type Reader<'a>
        = tokio::io::ReadHalf<&'a mut Self>
    where
        Self: 'a;
    type Writer<'a>
        = tokio::io::WriteHalf<&'a mut Self>
    where
        Self: 'a;
    fn halves(&mut self) -> (Self::Reader<'_>, Self::Writer<'_>) {
        tokio::io::split(self)
    }
}

/// The proxy's own TLS connection to an intercepted host's server.
impl<IO: AsyncRead + AsyncWrite + Unpin + Send> Stream for tokio_rustls::client::TlsStream<IO> {
    type Reader<'a>
        = tokio::io::ReadHalf<&'a mut Self>
    where
        Self: 'a;
    type Writer<'a>
        = tokio::io::WriteHalf<&'a mut Self>
    where
        Self: 'a;
    fn halves(&mut self) -> (Self::Reader<'_>, Self::Writer<'_>) {
        tokio::io::split(self)
    }
}

/// A stream whose first bytes were already read (`prefix`: the ClientHello the proxy checked
/// before the TLS handshake): reads give them back first, then what the stream reads; writes go
/// to the stream.
pub struct Prefixed<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Prefixed {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let left = this.prefix.len() - this.pos;
        if left > 0 {
            let n = left.min(buf.remaining());
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Copies both ways until both sides are done (a half-close is passed on as a half-close);
/// returns bytes (a→b, b→a).
pub async fn relay<A: Stream, B: Stream>(a: &mut A, b: &mut B) -> (u64, u64) {
    let (ar, aw) = a.halves();
    let (br, bw) = b.halves();
    tokio::join!(copy_one(ar, bw), copy_one(br, aw))
}

/// One direction. The buffer starts small (an idle tunnel costs 16 KiB) and doubles, up to
/// 1 MiB, while reads keep filling it: bulk transfers then move in large chunks (fewer
/// syscalls per byte) without every one of thousands of tunnels holding megabytes.
pub async fn copy_one<R, W>(r: R, w: W) -> u64
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    copy_counted(r, w, &AtomicU64::new(0)).await
}

/// [`copy_one`], adding each chunk to `count` as it goes (readable while the copy runs, and
/// after it was dropped midway).
pub async fn copy_counted<R, W>(mut r: R, mut w: W, count: &AtomicU64) -> u64
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if w.write_all(&buf[..n]).await.is_err() {
            break;
        }
        total += n as u64;
        count.fetch_add(n as u64, Ordering::Relaxed);
        if n == buf.len() && buf.len() < (1 << 20) {
            buf.resize(buf.len() * 2, 0);
        }
    }
    let _ = w.shutdown().await;
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `msg`, half-closes, and reads everything until the other side closes.
    async fn talk<S: Stream>(mut s: S, msg: &'static [u8]) -> Vec<u8> {
        s.write_all(msg).await.unwrap();
        s.shutdown().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        got
    }

    /// The relay between a socketpair (the client's side) and an in-memory pipe (the server's
    /// side): both directions arrive whole, each half-close is passed on, the counts are right.
    #[tokio::test]
    async fn relay_between_a_socketpair_and_a_pipe() {
        let (client, mut near) = UnixStream::pair().unwrap();
        let (mut far, server) = tokio::io::duplex(7); // smaller than the messages: many writes
        let big: &'static [u8] = Box::leak(vec![b'x'; 300 * 1024].into_boxed_slice());
        let relay = tokio::spawn(async move { relay(&mut near, &mut far).await });
        let (to_client, to_server) =
            tokio::join!(talk(client, b"hello, server"), talk(server, big));
        assert_eq!(to_server, b"hello, server");
        assert_eq!(to_client.len(), big.len());
        assert_eq!(relay.await.unwrap(), (13, big.len() as u64));
    }

    /// The prefix is read first, in pieces when the reader's buffer is small, then the stream.
    #[tokio::test]
    async fn a_prefixed_stream_gives_its_prefix_back_first() {
        let (mut far, near) = tokio::io::duplex(64);
        let mut p = Prefixed::new(b"hello, ".to_vec(), near);
        far.write_all(b"world").await.unwrap();
        far.shutdown().await.unwrap();
        let mut small = [0u8; 3];
        assert_eq!(p.read(&mut small).await.unwrap(), 3);
        assert_eq!(&small, b"hel");
        let mut rest = Vec::new();
        p.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"lo, world");
        p.write_all(b"back").await.unwrap();
        drop(p);
        let mut got = Vec::new();
        far.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"back");
    }

    /// A half-close one way leaves the other way open: the server answers after the client
    /// has finished sending.
    #[tokio::test]
    async fn half_close_keeps_the_other_way_open() {
        let (mut client, mut near) = tokio::io::duplex(1024);
        let (mut far, mut server) = UnixStream::pair().unwrap();
        let relay = tokio::spawn(async move { relay(&mut near, &mut far).await });
        client.write_all(b"question").await.unwrap();
        client.shutdown().await.unwrap();
        let mut q = Vec::new();
        server.read_to_end(&mut q).await.unwrap();
        assert_eq!(q, b"question");
        server.write_all(b"answer, after the EOF").await.unwrap();
        drop(server);
        let mut a = Vec::new();
        client.read_to_end(&mut a).await.unwrap();
        assert_eq!(a, b"answer, after the EOF");
        assert_eq!(relay.await.unwrap(), (8, 21));
    }
}
