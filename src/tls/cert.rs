//! A TLS identity: a certificate chain and its private key, loaded from PEM files or made
//! (self-signed, by `rcgen`) and kept in a directory so its fingerprint survives restarts.

use super::TlsError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

/// The file names inside a `load_or_create` directory (DATA_DIR/tls/).
pub const CERT_FILE: &str = "cert.pem";
pub const KEY_FILE: &str = "key.pem";

/// A certificate chain (leaf first) and the leaf's private key.
#[derive(Debug)]
pub struct Identity {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// `SHA256:` and the 64 lowercase hex digits of the SHA-256 of a DER certificate, the form
/// the server prints, `--fingerprint` takes and known_servers holds.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("SHA256:{hex}")
}

impl Identity {
    /// A fresh self-signed certificate for `names` (DNS names or IP addresses).
    pub fn generate(names: &[&str]) -> Result<Identity, TlsError> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let made = rcgen::generate_simple_self_signed(names)
            .map_err(|e| TlsError::new(format!("cannot make a certificate: {e}")))?;
        let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
            .map_err(|e| TlsError::new(format!("cannot use the new key: {e}")))?;
        Ok(Identity {
            certs: vec![made.cert.der().clone()],
            key,
        })
    }

    /// The chain and key of two PEM files (`--tls-cert`, `--tls-key`).
    pub fn load(cert: &Path, key: &Path) -> Result<Identity, TlsError> {
        let certs = CertificateDer::pem_file_iter(cert)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| TlsError::new(format!("{}: {e}", cert.display())))?;
        if certs.is_empty() {
            return Err(TlsError::new(format!(
                "{}: no certificate in it",
                cert.display()
            )));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| TlsError::new(format!("{}: {e}", key.display())))?;
        Ok(Identity { certs, key })
    }

    /// The identity kept in `dir`, made there on first use: the key is written owner-only
    /// (0600) and both files by rename, so a crash never leaves half a key.
    pub fn load_or_create(dir: &Path) -> Result<Identity, TlsError> {
        let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        if cert.exists() && key.exists() {
            return Identity::load(&cert, &key);
        }
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .map_err(|e| TlsError::new(format!("cannot make a certificate: {e}")))?;
        let io = |e: std::io::Error| TlsError::new(format!("{}: {e}", dir.display()));
        fs::create_dir_all(dir).map_err(io)?;
        write_private(&key, made.signing_key.serialize_pem().as_bytes()).map_err(io)?;
        write_private(&cert, made.cert.pem().as_bytes()).map_err(io)?;
        Identity::load(&cert, &key)
    }

    /// The leaf certificate's fingerprint.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.certs[0].as_ref())
    }

    /// A server configuration presenting this identity (TLS 1.3 and 1.2).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let config = rustls::ServerConfig::builder_with_provider(super::provider())
            .with_safe_default_protocol_versions()
            .and_then(|b| {
                b.with_no_client_auth()
                    .with_single_cert(self.certs.clone(), self.key.clone_key())
            })
            .map_err(|e| TlsError::new(format!("cannot use the certificate: {e}")))?;
        Ok(Arc::new(config))
    }
}

/// Writes `bytes` to `path` through a 0600 temporary file, fsynced and renamed into place.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
