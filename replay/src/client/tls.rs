//! TLS for targets: the rustls configuration (webpki roots, or any
//! certificate with `--insecure`), and how a failure is named.

use std::io;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::stats::{ErrorKind, TlsReason};

pub(super) fn tls_config(insecure: bool) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth()
    } else {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `--insecure`: accepts any certificate, still checks handshake signatures.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Maps an I/O error to an [`ErrorKind`].
pub fn classify(e: &io::Error) -> ErrorKind {
    use io::ErrorKind as K;
    if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
        return ErrorKind::Tls;
    }
    match e.kind() {
        K::ConnectionRefused => ErrorKind::Refused,
        K::ConnectionReset
        | K::ConnectionAborted
        | K::BrokenPipe
        | K::UnexpectedEof
        | K::NotConnected => ErrorKind::Reset,
        K::TimedOut => ErrorKind::Timeout,
        _ => ErrorKind::Other,
    }
}

/// Why a TLS error happened, when `e` carries a rustls error.
pub fn tls_reason(e: &io::Error) -> Option<TlsReason> {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    let err = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match err {
        E::InvalidCertificate(c) => match c {
            C::UnknownIssuer => TlsReason::UnknownIssuer,
            C::NotValidForName | C::NotValidForNameContext { .. } => TlsReason::NameMismatch,
            C::Expired | C::ExpiredContext { .. } => TlsReason::Expired,
            C::NotValidYet | C::NotValidYetContext { .. } => TlsReason::NotYetValid,
            _ => TlsReason::BadCertificate,
        },
        E::PeerIncompatible(_) | E::AlertReceived(A::ProtocolVersion) => TlsReason::ProtocolVersion,
        E::AlertReceived(_) => TlsReason::Alert,
        // A plain-HTTP answer read as a TLS record: an unknown content
        // type, or "HT" read as a record length far past the limit.
        E::InvalidMessage(_) | E::PeerSentOversizedRecord => TlsReason::NotTls,
        _ => TlsReason::Other,
    })
}
