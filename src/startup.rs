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
    NoSeed(SeedErrors),
    #[error("cannot start the worker threads (--threads): {0}")]
    Runtime(std::io::Error),
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
}

/// Each seed tried, with what went wrong with it.
#[derive(Debug)]
pub struct SeedErrors(pub Vec<(String, crate::cluster::topology::TopologyError)>);

impl std::fmt::Display for SeedErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (addr, e)) in self.0.iter().enumerate() {
            write!(f, "{}{addr}: {e}", if i == 0 { "" } else { "; " })?;
        }
        Ok(())
    }
}
