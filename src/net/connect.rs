//! Opening a node connection: TCP, then the TLS handshake when `node-tls` is on,
//! both within the connect timeout. The one place node connections are opened (data
//! connections, subscriptions, topology queries).

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::stream::Stream;
use super::tls::{NodeTls, TlsError};

/// Why a node could not be reached; the text ends up in logs and error replies.
#[derive(Debug, Error)]
pub enum ConnectError {
    #[error("connect timed out")]
    Timeout,
    #[error("connect and TLS handshake timed out")]
    TlsTimeout,
    #[error("{0}")]
    Tcp(std::io::Error),
    #[error("TLS handshake with the node failed: {0}")]
    Handshake(std::io::Error),
    #[error("no TLS server name in node address {0}: set node-tls-server-name")]
    NoServerName(String),
    #[error("node TLS is not usable: {0}")]
    Unusable(Arc<str>),
}

/// How to reach nodes: plain TCP or TLS. Cheap to clone (one `Arc`).
#[derive(Clone, Debug, Default)]
pub struct NodeConnector {
    mode: Mode,
}

#[derive(Clone, Debug, Default)]
enum Mode {
    #[default]
    Plain,
    Tls(Arc<NodeTls>),
    /// The TLS settings could not be loaded: every connection fails saying why.
    Unusable(Arc<str>),
}

impl NodeConnector {
    pub fn new(tls: Option<NodeTls>) -> Self {
        let mode = match tls {
            None => Mode::Plain,
            Some(t) => Mode::Tls(Arc::new(t)),
        };
        NodeConnector { mode }
    }

    /// From the configuration; on bad TLS settings, a connector that fails every
    /// connection with the reason (start-up checks them first: see `serve`).
    pub fn from_config(config: &crate::Config) -> Self {
        match super::tls::node_config(config) {
            Ok(tls) => Self::new(tls),
            Err(e) => Self::unusable(&e),
        }
    }

    fn unusable(e: &TlsError) -> Self {
        NodeConnector { mode: Mode::Unusable(e.to_string().into()) }
    }

    pub fn is_tls(&self) -> bool {
        !matches!(self.mode, Mode::Plain)
    }

    /// TCP (with `TCP_NODELAY`), then TLS if configured, all within `wait`.
    pub async fn connect(&self, addr: &str, wait: Duration) -> Result<Stream, ConnectError> {
        let timed_out = if self.is_tls() { ConnectError::TlsTimeout } else { ConnectError::Timeout };
        tokio::time::timeout(wait, self.open(addr)).await.map_err(|_| timed_out)?
    }

    async fn open(&self, addr: &str) -> Result<Stream, ConnectError> {
        if let Mode::Unusable(why) = &self.mode {
            return Err(ConnectError::Unusable(why.clone()));
        }
        let tcp = TcpStream::connect(addr).await.map_err(ConnectError::Tcp)?;
        let _ = tcp.set_nodelay(true);
        let Mode::Tls(tls) = &self.mode else { return Ok(Stream::Plain(tcp)) };
        let name = match &tls.server_name {
            Some(name) => name.clone(),
            None => host_name(addr).ok_or_else(|| ConnectError::NoServerName(addr.to_string()))?,
        };
        let stream = TlsConnector::from(tls.config.clone()).connect(name, tcp).await.map_err(ConnectError::Handshake)?;
        Ok(Stream::Tls(Box::new(stream.into())))
    }
}

/// The host part of "host:port" or "[v6]:port" as a TLS server name (an IP address
/// is checked against the certificate's IP SANs).
fn host_name(addr: &str) -> Option<ServerName<'static>> {
    let (host, _port) = addr.rsplit_once(':')?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    ServerName::try_from(host.to_string()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_name_is_the_host_part() {
        assert_eq!(host_name("127.0.0.1:7000"), Some(ServerName::try_from("127.0.0.1").unwrap()));
        assert_eq!(host_name("[::1]:7000"), Some(ServerName::try_from("::1").unwrap()));
        assert_eq!(host_name("redis-0.example:6379"), Some(ServerName::try_from("redis-0.example").unwrap()));
        assert_eq!(host_name("no-port"), None);
    }
}
