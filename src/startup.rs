//! Errors that stop slotway from starting or serving: what `serve` returns and
//! `main` prints. (The errors a client can see are `error::CommandError`.)

use thiserror::Error;

/// Errors that stop slotway from starting or serving.
#[derive(Debug, Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("TLS: {0}")]
    Tls(#[from] crate::net::tls::TlsError),
    #[error("no cluster seed answered CLUSTER SLOTS: {0}")]
    NoSeed(String),
    #[error("cannot start the worker threads (--threads): {0}")]
    Runtime(std::io::Error),
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
}
