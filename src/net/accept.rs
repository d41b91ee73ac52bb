//! The TLS handshake with a new client, bounded in time: a client that connects
//! and says nothing (or speaks plain RESP to the TLS port) is dropped, not kept.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::stream::Stream;

/// Longest a client may take to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The client's connection once its handshake is done, or why there is none.
pub async fn handshake(acceptor: &TlsAcceptor, tcp: TcpStream, wait: Duration) -> Result<Stream, String> {
    match tokio::time::timeout(wait, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => Ok(Stream::Tls(Box::new(tls.into()))),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no TLS handshake within {} s", wait.as_secs())),
    }
}
