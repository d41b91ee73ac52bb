//! TLS for tests: certificates made at test time with rcgen (a CA, a node
//! certificate for 127.0.0.1 and localhost, a client certificate, and a second,
//! unrelated CA with its own client certificate), and a blocking rustls client that
//! gives a [`RawConn`].

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tempfile::TempDir;
use tokio_rustls::rustls::{self, ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::resp::RawConn;

/// Files in one temp dir: `ca.crt`, `node.crt`/`node.key` (server and client use,
/// what testbed.sh --tls wants), `client.crt`/`client.key`, and `other-ca.crt`,
/// `other-client.crt`/`other-client.key` signed by an unrelated CA.
pub struct Certs {
    dir: TempDir,
}

impl Certs {
    pub fn generate() -> Certs {
        let dir = tempfile::Builder::new().prefix("slotway-certs-").tempdir().expect("temp dir");
        let ca = write_ca(dir.path(), "ca", "slotway test CA");
        let both = [ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        write_leaf(dir.path(), "node", &["127.0.0.1", "localhost"], &both, &ca);
        write_leaf(dir.path(), "client", &[], &[ExtendedKeyUsagePurpose::ClientAuth], &ca);
        let other = write_ca(dir.path(), "other-ca", "some other CA");
        write_leaf(dir.path(), "other-client", &[], &[ExtendedKeyUsagePurpose::ClientAuth], &other);
        // A certificate for 127.0.0.1 that slotway's CA did not sign.
        write_leaf(dir.path(), "other-node", &["127.0.0.1", "localhost"], &both, &other);
        Certs { dir }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `<name>.crt` or `<name>.key` in the dir.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn write_ca(dir: &Path, name: &str, cn: &str) -> Issuer<'static, KeyPair> {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, cn);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).unwrap();
    Issuer::new(params, key)
}

fn write_leaf(dir: &Path, name: &str, sans: &[&str], usages: &[ExtendedKeyUsagePurpose], ca: &Issuer<'_, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = usages.to_vec();
    let cert = params.signed_by(&key, ca).unwrap();
    std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

/// A TLS connection to `addr` trusting `ca` (a file), showing `client` ("client"
/// for `client.crt`/`client.key`) if given. The handshake is completed here, so a
/// server that refuses the client is seen either here or at the first read.
pub fn tls_connect(addr: &str, ca: &Path, client: Option<(&Path, &Path)>) -> std::io::Result<RawConn> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => {
            let certs = CertificateDer::pem_file_iter(cert).unwrap().map(|c| c.unwrap()).collect();
            builder.with_client_auth_cert(certs, PrivateKeyDer::from_pem_file(key).unwrap()).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = ClientConnection::new(Arc::new(config), name).map_err(std::io::Error::other)?;
    let mut tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    tcp.set_nodelay(true)?;
    while tls.is_handshaking() {
        tls.complete_io(&mut tcp)?;
    }
    let local = tcp.local_addr()?;
    Ok(RawConn::over(Box::new(StreamOwned::new(tls, tcp)), local))
}

/// [`tls_connect`] with the test CA, as a client holding `client.crt`.
pub fn tls_client(addr: &str, certs: &Certs) -> RawConn {
    let (cert, key) = (certs.file("client.crt"), certs.file("client.key"));
    tls_connect(addr, &certs.file("ca.crt"), Some((&cert, &key)))
        .unwrap_or_else(|e| panic!("TLS connect to {addr}: {e}"))
}
