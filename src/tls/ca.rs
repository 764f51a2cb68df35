//! `--ca FILE`: verification as a web browser does it (webpki: the chain to a root in the
//! file, the name or IP, validity), plus one case browsers differ on: a server whose
//! certificate *is* one in the file (`openssl req -x509` makes a self-signed CA
//! certificate, which webpki will not take as a leaf) is trusted as itself, its name or
//! IP still checked.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// The verifier for `--ca`.
#[derive(Debug)]
pub(super) struct CaVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    /// The certificates of the file, as DER.
    anchors: Vec<CertificateDer<'static>>,
}

impl CaVerifier {
    pub(super) fn new(
        roots: RootCertStore,
        anchors: Vec<CertificateDer<'static>>,
    ) -> Result<CaVerifier, super::TlsError> {
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), super::provider())
                .build()
                .map_err(|e| super::TlsError::new(e.to_string()))?;
        Ok(CaVerifier { webpki, anchors })
    }
}

impl ServerCertVerifier for CaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .anchors
            .iter()
            .any(|a| a.as_ref() == end_entity.as_ref())
        {
            verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
