//! TLS on the client port. tonic's own TLS offers only `h2` by ALPN, which
//! HTTP/1.1 clients (aws-cli, boto3 and the SDKs speaking AWS JSON) are
//! refused with; here the port offers `h2` and `http/1.1`, and the server
//! behind it serves both. Connections reach the acceptor through the
//! node's edge ([`crate::edge`]), which bounds the handshake in time.

use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;
use zeroize::Zeroizing;

/// The client port's certificate chain and private key (PEM).
#[derive(Clone)]
pub struct ClientTls {
    pub cert_pem: String,
    pub key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// A TLS acceptor offering `h2` and `http/1.1`.
    pub fn acceptor(&self) -> Result<TlsAcceptor, String> {
        let certs = rustls_pemfile::certs(&mut self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("client-port certificate: {e}"))?;
        if certs.is_empty() {
            return Err("client-port certificate: no PEM certificate found".into());
        }
        let key = rustls_pemfile::private_key(&mut self.key_pem.as_bytes())
            .map_err(|e| format!("client-port key: {e}"))?
            .ok_or("client-port key: no PEM private key found")?;
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("client-port TLS: {e}"))?
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .map_err(|e| format!("client-port TLS: {e}"))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}
