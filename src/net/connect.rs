//! Opening a node connection: TCP, then the TLS handshake when `node-tls` is on,
//! then the login (`AUTH`) when the nodes want one, all within the connect timeout.
//! The one place node connections are opened and logged in (data, leased and
//! READONLY connections, subscriptions, topology queries): a refused login fails the
//! connection like a refused TCP connect, saying Redis's reason.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncReadExt;

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
    /// The node's own error reply to `AUTH`, e.g. `WRONGPASS ...`.
    #[error("login refused: {0}")]
    LoginRefused(String),
    #[error("login failed: {0}")]
    Login(std::io::Error),
    #[error("login timed out")]
    LoginTimeout,
}

/// The Redis ACL user and password slotway logs in to the nodes with.
#[derive(Debug, Clone)]
pub struct NodeLogin {
    /// `None`: `AUTH <password>` (a `requirepass` node, or the `default` user).
    pub user: Option<String>,
    pub password: String,
}

impl NodeLogin {
    /// The `AUTH` command, as RESP.
    pub fn auth_command(&self) -> bytes::Bytes {
        let mut args: Vec<&[u8]> = vec![b"AUTH"];
        if let Some(user) = &self.user {
            args.push(user.as_bytes());
        }
        args.push(self.password.as_bytes());
        crate::protocol::encode::command(&args)
    }
}

/// Longest `AUTH` reply read: `+OK` or one error line.
const MAX_LOGIN_REPLY: usize = 4096;

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

    /// TCP (with `TCP_NODELAY`), then TLS if configured, then `AUTH` with `login`,
    /// all within `wait`. The stream is handed over with nothing left to read.
    pub async fn connect(&self, addr: &str, wait: Duration, login: Option<&NodeLogin>) -> Result<Stream, ConnectError> {
        let deadline = tokio::time::Instant::now() + wait;
        let timed_out = if self.is_tls() { ConnectError::TlsTimeout } else { ConnectError::Timeout };
        let mut stream = tokio::time::timeout_at(deadline, self.open(addr)).await.map_err(|_| timed_out)??;
        if let Some(login) = login {
            tokio::time::timeout_at(deadline, log_in(&mut stream, login))
                .await
                .map_err(|_| ConnectError::LoginTimeout)??;
        }
        Ok(stream)
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
        let stream =
            TlsConnector::from(tls.config.clone()).connect(name, tcp).await.map_err(ConnectError::Handshake)?;
        Ok(Stream::Tls(Box::new(stream.into())))
    }
}

/// Sends `AUTH` alone and reads its one-line reply: nothing else is in flight, so
/// nothing after it is read.
async fn log_in(stream: &mut Stream, login: &NodeLogin) -> Result<(), ConnectError> {
    stream.send(&login.auth_command()).await.map_err(ConnectError::Login)?;
    let mut buf = BytesMut::with_capacity(128);
    loop {
        if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(buf.get(..end).unwrap_or_default());
            return match line.split_at_checked(1) {
                Some(("+", _)) => Ok(()),
                Some(("-", error)) => Err(ConnectError::LoginRefused(error.to_string())),
                _ => Err(ConnectError::LoginRefused(format!("unexpected reply to AUTH: {line}"))),
            };
        }
        if buf.len() > MAX_LOGIN_REPLY {
            return Err(ConnectError::LoginRefused("reply to AUTH too long".into()));
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) => return Err(ConnectError::Login(std::io::ErrorKind::UnexpectedEof.into())),
            Ok(_) => {}
            Err(e) => return Err(ConnectError::Login(e)),
        }
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

    #[test]
    fn auth_carries_the_user_only_when_there_is_one() {
        let password_only = NodeLogin { user: None, password: "pw".into() };
        assert_eq!(&password_only.auth_command()[..], b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n");
        let acl_user = NodeLogin { user: Some("u".into()), password: "pw".into() };
        assert_eq!(&acl_user.auth_command()[..], b"*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$2\r\npw\r\n");
    }
}
