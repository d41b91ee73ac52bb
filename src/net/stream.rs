//! A connection that is plain TCP or TLS over TCP, and its read and write halves.
//!
//! An enum, not `Box<dyn AsyncRead>`: the plain path stays a direct call on the
//! socket (one `match` per poll, no allocation, no virtual call), and the plain read
//! half keeps `readable()`, which the client session's zero-copy read relies on.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::TlsStream;

/// Boxed: a TLS session is kilobytes, and most streams are plain.
type Tls = Box<TlsStream<TcpStream>>;

pub enum Stream {
    Plain(TcpStream),
    Tls(Tls),
}

pub enum ReadHalf {
    Plain(OwnedReadHalf),
    /// `tokio::io::split`: TLS reads and writes share one session state.
    Tls(tokio::io::ReadHalf<Tls>),
}

pub enum WriteHalf {
    Plain(OwnedWriteHalf),
    Tls(tokio::io::WriteHalf<Tls>),
}

impl Stream {
    /// The TCP socket underneath (addresses, `TCP_NODELAY`).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }

    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Stream::Plain(s) => {
                let (rd, wr) = s.into_split();
                (ReadHalf::Plain(rd), WriteHalf::Plain(wr))
            }
            Stream::Tls(s) => {
                let (rd, wr) = tokio::io::split(s);
                (ReadHalf::Tls(rd), WriteHalf::Tls(wr))
            }
        }
    }
}

impl WriteHalf {
    /// Writes all of `buf`. TLS also flushes: rustls may keep encrypted bytes back
    /// when the socket is full, and they must leave before anyone waits for a reply.
    pub async fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        send(self, buf, matches!(self, WriteHalf::Tls(_))).await
    }
}

impl Stream {
    /// [`WriteHalf::send`] on a whole stream.
    pub async fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        let tls = matches!(self, Stream::Tls(_));
        send(self, buf, tls).await
    }
}

async fn send<W: AsyncWrite + Unpin>(w: &mut W, buf: &[u8], flush: bool) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    w.write_all(buf).await?;
    if flush {
        w.flush().await?;
    }
    Ok(())
}

impl ReadHalf {
    /// Waits for input and appends it to `input`; `Ok(0)` at the end of the stream.
    /// Cancel-safe (a `select!` branch): nothing is consumed unless it completes.
    ///
    /// Plain: waits for readiness, then reads through a per-thread buffer, so an idle
    /// client holds no read buffer of its own. TLS: the same through `poll_read`
    /// (rustls keeps decrypted bytes that do not fit until the next read).
    pub async fn read_some(&mut self, input: &mut BytesMut) -> io::Result<usize> {
        match self {
            ReadHalf::Plain(rd) => loop {
                rd.readable().await?;
                match read_now(rd, input) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    done => return done,
                }
            },
            ReadHalf::Tls(rd) => std::future::poll_fn(|cx| poll_read_into(Pin::new(&mut *rd), cx, input)).await,
        }
    }
}

thread_local! {
    /// Each worker thread's read buffer: a client's bytes land here and only what
    /// came is copied into its own buffer, so a read costs no allocation.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; READ_SCRATCH]);
}

const READ_SCRATCH: usize = 64 * 1024;

/// One `poll_read` through the per-thread buffer, appending what came to `input`.
fn poll_read_into<R: AsyncRead>(
    rd: Pin<&mut R>,
    cx: &mut Context<'_>,
    input: &mut BytesMut,
) -> Poll<io::Result<usize>> {
    SCRATCH.with_borrow_mut(|scratch| {
        let mut buf = ReadBuf::new(scratch);
        match rd.poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) => {
                input.extend_from_slice(buf.filled());
                Poll::Ready(Ok(buf.filled().len()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    })
}

/// Reads what the socket has now into `input`, without waiting (`WouldBlock` if
/// nothing). Through `AsyncRead::poll_read`, which clears the readiness after a
/// short read, so the next loop waits in epoll instead of trying a read that fails.
fn read_now(rd: &mut OwnedReadHalf, input: &mut BytesMut) -> io::Result<usize> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match poll_read_into(Pin::new(rd), &mut cx, input) {
        Poll::Ready(done) => done,
        Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
    }
}

/// Forwards each `AsyncRead`/`AsyncWrite` method to the variant inside.
macro_rules! forward {
    ($self:ident, $inner:ident => $call:expr) => {
        match $self.get_mut() {
            Self::Plain($inner) => $call,
            Self::Tls($inner) => $call,
        }
    };
}

impl AsyncRead for ReadHalf {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        forward!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        forward!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

macro_rules! impl_write {
    ($t:ty) => {
        impl AsyncWrite for $t {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                forward!(self, s => Pin::new(s).poll_write(cx, buf))
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                forward!(self, s => Pin::new(s).poll_flush(cx))
            }
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                forward!(self, s => Pin::new(s).poll_shutdown(cx))
            }
            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                forward!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
            }
            fn is_write_vectored(&self) -> bool {
                match self {
                    Self::Plain(s) => s.is_write_vectored(),
                    Self::Tls(s) => s.is_write_vectored(),
                }
            }
        }
    };
}

impl_write!(WriteHalf);
impl_write!(Stream);
