//! How a client decides to trust a server (BEHAVIOUR §8): a CA file, an exact
//! fingerprint, or trust on first use with `known_servers`, as SSH does.
//!
//! Pinning checks the certificate's fingerprint *and* the handshake signature made with
//! its key, so a recorded certificate replayed by someone without the key is refused.

use super::ca::CaVerifier;
use super::known::{KnownServers, Lookup};
use super::{fingerprint, provider, TlsError};
use parking_lot::Mutex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Asked when a server is not in known_servers yet: its fingerprint in, yes or no out.
pub type AskFirstUse = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Where a client's trust in the server comes from.
#[derive(Clone)]
pub enum Trust {
    /// `--ca FILE`: the chain must lead to one of these and name the server.
    Ca(PathBuf),
    /// `--fingerprint SHA256:HEX`: exactly this certificate.
    Fingerprint(String),
    /// Trust on first use: `known_servers` remembers each `host:port`.
    FirstUse { known: PathBuf, ask: AskFirstUse },
}

/// Why a pinned handshake was refused, in the words the user sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// First use, and the user (or scripted mode without `--trust-new`) said no.
    Unknown { got: String },
    /// known_servers holds another fingerprint for this server.
    Changed {
        was: String,
        got: String,
        path: PathBuf,
        line: usize,
    },
    /// `--fingerprint` named another certificate.
    Mismatch { want: String, got: String },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Unknown { got } => f.write_str(&crate::text::tls_unknown_server(got)),
            Refusal::Changed {
                was,
                got,
                path,
                line,
            } => f.write_str(&crate::text::tls_changed_server(was, got, path, *line)),
            Refusal::Mismatch { want, got } => {
                f.write_str(&crate::text::tls_fingerprint_mismatch(want, got))
            }
        }
    }
}

/// Where a pinned handshake leaves its [`Refusal`], read after the handshake failed.
pub type RefusalSlot = Arc<Mutex<Option<Refusal>>>;

/// A client configuration for `server` (`host:port`) under `trust`, and the slot where a
/// pinned handshake leaves its [`Refusal`] (read it after a failed handshake).
pub fn client_config(
    trust: &Trust,
    server: &str,
) -> Result<(Arc<ClientConfig>, RefusalSlot), TlsError> {
    let refusal = Arc::new(Mutex::new(None));
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::new(e.to_string()))?;
    let config = match trust {
        Trust::Ca(path) => {
            let (roots, anchors) = roots(path)?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(CaVerifier::new(roots, anchors)?))
                .with_no_client_auth()
        }
        _ => {
            let pin = Pin {
                rule: trust.clone(),
                server: server.to_string(),
                refusal: refusal.clone(),
                provider: provider(),
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(pin))
                .with_no_client_auth()
        }
    };
    Ok((Arc::new(config), refusal))
}

/// The roots of a CA file, and its certificates as they are.
fn roots(path: &PathBuf) -> Result<(RootCertStore, Vec<CertificateDer<'static>>), TlsError> {
    let bad = |e: &dyn fmt::Display| TlsError::new(format!("{}: {e}", path.display()));
    let mut roots = RootCertStore::empty();
    let mut anchors = Vec::new();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
        let cert = cert.map_err(|e| bad(&e))?;
        roots.add(cert.clone()).map_err(|e| bad(&e))?;
        anchors.push(cert);
    }
    if roots.is_empty() {
        return Err(bad(&"no certificate in it"));
    }
    Ok((roots, anchors))
}

/// The verifier for `--fingerprint` and trust on first use.
struct Pin {
    rule: Trust,
    server: String,
    refusal: RefusalSlot,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pin({})", self.server)
    }
}

impl Pin {
    /// Accepts `got` or says why not.
    fn decide(&self, got: String) -> Result<(), Refusal> {
        match &self.rule {
            Trust::Fingerprint(want) if want.eq_ignore_ascii_case(&got) => Ok(()),
            Trust::Fingerprint(want) => Err(Refusal::Mismatch {
                want: want.clone(),
                got,
            }),
            Trust::FirstUse { known, ask } => {
                let file = KnownServers::new(known.clone());
                match file.lookup(&self.server, &got) {
                    Lookup::Same => Ok(()),
                    Lookup::Changed { was, line } => Err(Refusal::Changed {
                        was,
                        got,
                        path: known.clone(),
                        line,
                    }),
                    Lookup::Unknown if ask(&got) => {
                        // Remembering is best effort: a read-only home still connects.
                        if let Err(e) = file.add(&self.server, &got) {
                            log::warn!("cannot remember {}: {e}", self.server);
                        }
                        Ok(())
                    }
                    Lookup::Unknown => Err(Refusal::Unknown { got }),
                }
            }
            Trust::Ca(_) => unreachable!("a CA is checked by webpki, not pinned"),
        }
    }
}

impl ServerCertVerifier for Pin {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = fingerprint(end_entity.as_ref());
        match self.decide(got) {
            Ok(()) => Ok(ServerCertVerified::assertion()),
            Err(refusal) => {
                let text = refusal.to_string();
                *self.refusal.lock() = Some(refusal);
                Err(rustls::Error::General(text))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
