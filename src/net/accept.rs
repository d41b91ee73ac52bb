//! The TLS handshake with a new client, bounded in time: a client that connects
//! and says nothing (or speaks plain RESP to the TLS port) is dropped, not kept.

use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::stream::Stream;

/// Longest a client may take to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a client's TLS handshake did not complete.
#[derive(Debug, Error)]
pub enum HandshakeError {
    /// rustls's reason (a bad certificate, plain RESP on the TLS port, ...).
    #[error("{0}")]
    Failed(#[from] std::io::Error),
    #[error("no TLS handshake within {} s", .0.as_secs())]
    Timeout(Duration),
}

/// The client's connection once its handshake is done, or why there is none.
pub async fn handshake(acceptor: &TlsAcceptor, tcp: TcpStream, wait: Duration) -> Result<Stream, HandshakeError> {
    match tokio::time::timeout(wait, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => Ok(Stream::Tls(Box::new(tls.into()))),
        Ok(Err(e)) => Err(HandshakeError::Failed(e)),
        Err(_) => Err(HandshakeError::Timeout(wait)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_handshake_timeout_says_how_long_was_waited() {
        let e = super::HandshakeError::Timeout(super::HANDSHAKE_TIMEOUT);
        assert_eq!(e.to_string(), "no TLS handshake within 10 s");
    }
}
