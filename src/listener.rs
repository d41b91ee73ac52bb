//! The accept loop: one session task per client, up to `maxclients`, from the plain
//! listener and the TLS listener alike (a TLS client's session starts once its
//! handshake is done).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument, debug_span, info, warn};

use crate::client::session::Session;
use crate::error::CommandError;
use crate::metrics::Metrics;
use crate::net::accept::{HANDSHAKE_TIMEOUT, handshake};
use crate::net::stream::Stream;
use crate::proxy::Proxy;

/// What clients connect to: a plain listener, a TLS one, or both.
pub struct ClientListeners {
    pub plain: Option<TcpListener>,
    pub tls: Option<(TcpListener, TlsAcceptor)>,
}

/// Accepts clients until `shutdown` completes.
pub async fn accept_loop(listeners: ClientListeners, proxy: Arc<Proxy>, shutdown: impl Future<Output = ()>) {
    let next_id = AtomicU64::new(1);
    let connected = Arc::new(AtomicUsize::new(0));
    let mut shutdown = std::pin::pin!(shutdown);
    let (tls_listener, acceptor) = listeners.tls.unzip();
    loop {
        let (accepted, tls) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = accept(listeners.plain.as_ref()) => (accepted, None),
            accepted = accept(tls_listener.as_ref()) => (accepted, acceptor.clone()),
        };
        let (mut stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        // Read per client: a reload (SIGHUP) changes the limits for new clients.
        let config = proxy.live.load_full();
        if connected.load(Ordering::Relaxed) >= config.maxclients {
            Metrics::add(&proxy.metrics.rejected_connections, 1);
            // A TLS client could not read a plain error: it is just closed.
            if tls.is_none() {
                tokio::spawn(async move {
                    let _ = stream.write_all(&CommandError::MaxClients.to_reply()).await;
                });
            }
            continue;
        }
        // A handshake in progress holds a client slot: maxclients bounds those too.
        connected.fetch_add(1, Ordering::Relaxed);
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let session = Session::new(proxy.clone(), &config, id);
        let connected = connected.clone();
        let proxy = proxy.clone();
        let worker = proxy.workers.of_client(id);
        // A socket belongs to the runtime it was registered with: one served by
        // another worker leaves this runtime as a plain socket and joins that one.
        let socket = match worker {
            0 => Socket::Registered(stream),
            _ => match stream.into_std() {
                Ok(std) => Socket::Moving(std),
                Err(e) => {
                    warn!(error = %e, "cannot hand a client to its worker; dropped");
                    connected.fetch_sub(1, Ordering::Relaxed);
                    continue;
                }
            },
        };
        let workers = proxy.workers.clone();
        workers.spawn(
            worker,
            async move {
                if let Some(stream) = secure(socket, tls, peer).await {
                    // As Redis's total_connections_received: clients refused at
                    // maxclients, or whose handshake failed, are not counted.
                    Metrics::add(&proxy.metrics.total_connections, 1);
                    Metrics::add(&proxy.metrics.connected_clients, 1);
                    session.run(stream).await;
                    proxy.metrics.connected_clients.fetch_sub(1, Ordering::Relaxed);
                }
                connected.fetch_sub(1, Ordering::Relaxed);
            }
            // A span per client; at debug level, so at the default `info` it costs no
            // enter/exit on every poll of the hot path (it showed in profiles).
            .instrument(debug_span!("client", id, %peer)),
        );
    }
}

/// An accepted client socket on its way to its worker.
enum Socket {
    /// Served on the accepting runtime.
    Registered(TcpStream),
    /// To be registered with the worker's runtime.
    Moving(std::net::TcpStream),
}

impl Socket {
    fn register(self) -> std::io::Result<TcpStream> {
        match self {
            Socket::Registered(tcp) => Ok(tcp),
            Socket::Moving(std) => TcpStream::from_std(std),
        }
    }
}

/// The next client of `listener`; never, without one.
async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// The client's stream: as it is, or after a TLS handshake (`None` when that failed;
/// logged, and the connection dropped).
async fn secure(socket: Socket, tls: Option<TlsAcceptor>, peer: SocketAddr) -> Option<Stream> {
    let tcp = match socket.register() {
        Ok(tcp) => tcp,
        Err(e) => {
            warn!(%peer, error = %e, "cannot register a client with its worker; dropped");
            return None;
        }
    };
    let Some(acceptor) = tls else { return Some(Stream::Plain(tcp)) };
    match handshake(&acceptor, tcp, HANDSHAKE_TIMEOUT).await {
        Ok(stream) => Some(stream),
        Err(e) => {
            info!(%peer, error = %e, "TLS handshake with a client failed; connection dropped");
            None
        }
    }
}
