//! TLS settings turned into rustls configurations: the client-facing listener's
//! (certificate, key, optional client-certificate verification) and the one used
//! to reach the nodes (trusted CA, optional client certificate, server name).
//!
//! Files are read once, at start; every failure names the setting and the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use thiserror::Error;
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};

use crate::config::{Config, TlsAuthClients};

/// Why a TLS setting cannot be used; says which setting and which file.
#[derive(Debug, Error)]
pub enum TlsError {
    #[error("{key}: cannot read {path}: {why}")]
    Read { key: &'static str, path: PathBuf, why: String },
    #[error("{key} is required {because}")]
    Missing { key: &'static str, because: &'static str },
    #[error("{key}: {path}: {source}")]
    Rejected { key: &'static str, path: PathBuf, source: rustls::Error },
    #[error("{key}: {path}: {why}")]
    BadCa { key: &'static str, path: PathBuf, why: String },
    #[error("node-tls-server-name: `{0}` is neither a DNS name nor an IP address")]
    BadServerName(String),
    #[error("TLS setup: {0}")]
    Setup(#[from] rustls::Error),
}

/// The TLS slotway uses to reach the nodes.
#[derive(Debug)]
pub struct NodeTls {
    pub config: Arc<ClientConfig>,
    /// The name every node's certificate must carry; `None`: each node's own host
    /// (an IP address is checked against the certificate's IP SANs).
    pub server_name: Option<ServerName<'static>>,
}

/// The TLS listener's configuration.
pub fn server_config(config: &Config) -> Result<Arc<ServerConfig>, TlsError> {
    const BECAUSE: &str = "with tls-listen";
    let cert = need("tls-cert-file", config.tls_cert_file.as_deref(), BECAUSE)?;
    let key = need("tls-key-file", config.tls_key_file.as_deref(), BECAUSE)?;
    let (certs, key) = (certificates("tls-cert-file", cert)?, private_key("tls-key-file", key)?);
    let verifier = match config.tls_auth_clients {
        TlsAuthClients::No => WebPkiClientVerifier::no_client_auth(),
        auth => {
            const BECAUSE: &str = "to verify client certificates (tls-auth-clients is yes or optional; set it to no to \
                                   accept clients without one)";
            let ca_file = need("tls-ca-cert-file", config.tls_ca_cert_file.as_deref(), BECAUSE)?;
            let roots = Arc::new(roots("tls-ca-cert-file", ca_file)?);
            let builder = WebPkiClientVerifier::builder_with_provider(roots, provider());
            let builder = if auth == TlsAuthClients::Optional { builder.allow_unauthenticated() } else { builder };
            builder.build().map_err(|e| TlsError::BadCa {
                key: "tls-ca-cert-file",
                path: ca_file.to_path_buf(),
                why: e.to_string(),
            })?
        }
    };
    let server = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|source| TlsError::Rejected { key: "tls-cert-file", path: cert.to_path_buf(), source })?;
    Ok(Arc::new(server))
}

/// The nodes' TLS configuration, `None` unless `node-tls` is on.
pub fn node_config(config: &Config) -> Result<Option<NodeTls>, TlsError> {
    if !config.node_tls {
        return Ok(None);
    }
    let ca_file = need(
        "node-tls-ca-cert-file",
        config.node_tls_ca_cert_file.as_deref(),
        "with node-tls (slotway does not read the system's trust store; a bundle file works)",
    )?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots("node-tls-ca-cert-file", ca_file)?);
    let client = match (config.node_tls_cert_file.as_deref(), config.node_tls_key_file.as_deref()) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(certificates("node-tls-cert-file", cert)?, private_key("node-tls-key-file", key)?)
            .map_err(|source| TlsError::Rejected { key: "node-tls-cert-file", path: cert.to_path_buf(), source })?,
        (Some(_), None) => {
            return Err(TlsError::Missing { key: "node-tls-key-file", because: "with node-tls-cert-file" });
        }
        (None, Some(_)) => {
            return Err(TlsError::Missing { key: "node-tls-cert-file", because: "with node-tls-key-file" });
        }
    };
    let server_name = match &config.node_tls_server_name {
        Some(name) => Some(ServerName::try_from(name.clone()).map_err(|_| TlsError::BadServerName(name.clone()))?),
        None => None,
    };
    Ok(Some(NodeTls { config: Arc::new(client), server_name }))
}

/// Both sides' files, checked without starting anything (start-up and `--check-config`).
pub fn check(config: &Config) -> Result<(), TlsError> {
    if config.tls_listen.is_some() {
        server_config(config)?;
    }
    node_config(config)?;
    Ok(())
}

/// ring: it builds with a C compiler alone (aws-lc-rs wants cmake).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn need<'a>(key: &'static str, value: Option<&'a Path>, because: &'static str) -> Result<&'a Path, TlsError> {
    value.ok_or(TlsError::Missing { key, because })
}

fn read_error(key: &'static str, path: &Path, e: rustls_pki_types::pem::Error) -> TlsError {
    let why = match e {
        rustls_pki_types::pem::Error::NoItemsFound => "no PEM item of the expected kind in it".to_string(),
        rustls_pki_types::pem::Error::Io(e) => e.to_string(),
        other => format!("bad PEM: {other}"),
    };
    TlsError::Read { key, path: path.to_path_buf(), why }
}

/// Every certificate in a PEM file (a chain: leaf first); at least one.
fn certificates(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| read_error(key, path, e))?;
    if certs.is_empty() {
        return Err(read_error(key, path, rustls_pki_types::pem::Error::NoItemsFound));
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
fn private_key(key: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| read_error(key, path, e))
}

/// The CA certificates to trust, from a PEM file (one or a bundle).
fn roots(key: &'static str, path: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in certificates(key, path)? {
        store.add(cert).map_err(|source| TlsError::Rejected { key, path: path.to_path_buf(), source })?;
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<Config, String> {
        let mut argv = vec!["slotway", "--cluster", "127.0.0.1:7000"];
        argv.extend(args);
        crate::config_file::load(argv.into_iter().map(Into::into).collect()).map_err(|e| e.to_string())
    }

    #[test]
    fn bad_tls_settings_name_the_setting_and_the_file() {
        let e = config(&["--tls-listen", "127.0.0.1:0", "--tls-cert-file", "/no/such.crt", "--tls-key-file", "/k"])
            .unwrap_err();
        assert!(e.contains("tls-cert-file: cannot read /no/such.crt"), "{e}");
        let e = config(&["--tls-listen", "127.0.0.1:0"]).unwrap_err();
        assert!(e.contains("tls-cert-file is required with tls-listen"), "{e}");
        let e = config(&["--node-tls", "yes"]).unwrap_err();
        assert!(e.contains("node-tls-ca-cert-file is required"), "{e}");
        let e = config(&["--node-tls", "yes", "--node-tls-ca-cert-file", "/no/ca.crt"]).unwrap_err();
        assert!(e.contains("node-tls-ca-cert-file: cannot read /no/ca.crt"), "{e}");
        // A file with no certificate in it.
        let empty = std::env::temp_dir().join(format!("slotway-empty-{}.crt", std::process::id()));
        std::fs::write(&empty, "not PEM\n").unwrap();
        let e = config(&["--node-tls", "on", "--node-tls-ca-cert-file", empty.to_str().unwrap()]).unwrap_err();
        let _ = std::fs::remove_file(&empty);
        assert!(e.contains("no PEM item"), "{e}");
        let e = config(&["--listen", ""]).unwrap_err();
        assert!(e.contains("nothing to listen on"), "{e}");
        // TLS settings without TLS turned on are not read.
        assert!(config(&["--tls-cert-file", "/no/such.crt", "--node-tls", "no"]).is_ok());
    }

    #[test]
    fn client_verification_needs_a_ca_unless_turned_off() {
        let dir = std::env::temp_dir().join(format!("slotway-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
        let (cert_file, key_file) = (dir.join("c.crt"), dir.join("c.key"));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        let (c, k) = (cert_file.to_str().unwrap(), key_file.to_str().unwrap());
        let base = ["--tls-listen", "127.0.0.1:0", "--tls-cert-file", c, "--tls-key-file", k];
        let e = config(&base).unwrap_err();
        assert!(e.contains("tls-ca-cert-file is required") && e.contains("tls-auth-clients"), "{e}");
        assert!(config(&[&base[..], &["--tls-auth-clients", "no"]].concat()).is_ok());
        assert!(config(&[&base[..], &["--tls-auth-clients", "optional", "--tls-ca-cert-file", c]].concat()).is_ok());
        // A key file holding a certificate only.
        let e = config(&[&base[..4], &["--tls-key-file", c, "--tls-auth-clients", "no"]].concat()).unwrap_err();
        assert!(e.contains("tls-key-file: cannot read") && e.contains("no PEM item"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
