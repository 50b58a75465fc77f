//! Mutual TLS between regions.
//!
//! Every region's peer port serves TLS with a certificate issued by the
//! cluster's own CA and accepts only clients that present one too: a Raft
//! message, a forwarded write or a snapshot (which carries sealed key
//! material) crosses regions only between holders of a cluster certificate.
//! A region dials a peer by address and checks that the peer's certificate
//! names that peer's region (`<region>.peer.tern.internal`), so a region
//! cannot be impersonated by another address.
//!
//! `tern init` (and `tern dev`) make the CA and one certificate per region
//! ([`ClusterCa`]); a node reads its [`PeerTls`] from the files its config
//! names.

use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};
use zeroize::Zeroizing;

/// The DNS name a region's peer certificate is issued for, and the name a
/// peer checks when it dials that region.
pub fn peer_dns_name(region: &str) -> String {
    format!("{region}.peer.tern.internal")
}

/// How long `tern init`'s certificates are valid.
const CA_VALIDITY_DAYS: i64 = 3650;
const PEER_VALIDITY_DAYS: i64 = 825;
const CA_COMMON_NAME: &str = "tern cluster CA";

/// One region's TLS material: the cluster CA it trusts, its certificate
/// and its private key (PEM).
#[derive(Clone)]
pub struct PeerTls {
    ca_pem: String,
    cert_pem: String,
    key_pem: Zeroizing<String>,
}

impl fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerTls")
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Why TLS material could not be made or used.
#[derive(Debug, thiserror::Error)]
#[error("peer TLS: {0}")]
pub struct TlsError(String);

impl TlsError {
    fn new(e: impl fmt::Display) -> Self {
        TlsError(e.to_string())
    }
}

impl PeerTls {
    /// From PEM text: the CA certificate, this region's certificate chain
    /// and its private key. Checks that each parses.
    pub fn from_pem(ca_pem: String, cert_pem: String, key_pem: Zeroizing<String>) -> Result<PeerTls, TlsError> {
        KeyPair::from_pem(&key_pem).map_err(|e| TlsError(format!("private key: {e}")))?;
        for (what, pem) in [("CA certificate", &ca_pem), ("certificate", &cert_pem)] {
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(TlsError(format!("{what} is not a PEM certificate")));
            }
        }
        Ok(PeerTls {
            ca_pem,
            cert_pem,
            key_pem,
        })
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert_pem, self.key_pem.as_bytes())
    }

    /// The peer port's server side: this region's certificate, and a client
    /// certificate from the cluster CA required of every caller.
    pub fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity())
            .client_ca_root(Certificate::from_pem(&self.ca_pem))
    }

    /// Dialing `region`: trust only the cluster CA, expect that region's
    /// name in its certificate, present this region's certificate.
    pub fn client_config(&self, region: &str) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(self.identity())
            .domain_name(peer_dns_name(region))
    }
}

/// The cluster's certificate authority: signs one certificate per region.
pub struct ClusterCa {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterCa").finish_non_exhaustive()
    }
}

fn ca_params(now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.distinguished_name.push(DnType::CommonName, CA_COMMON_NAME);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(CA_VALIDITY_DAYS);
    params
}

impl ClusterCa {
    /// A new CA with a fresh P-256 key.
    pub fn generate() -> Result<ClusterCa, TlsError> {
        let key = KeyPair::generate().map_err(TlsError::new)?;
        let params = ca_params(OffsetDateTime::now_utc());
        let cert_pem = params.self_signed(&key).map_err(TlsError::new)?.pem();
        Ok(ClusterCa {
            cert_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA `tern init` wrote earlier: its certificate and private key.
    /// (Issuing needs only the CA's name and key, which are fixed.)
    pub fn from_pem(cert_pem: String, key_pem: &str) -> Result<ClusterCa, TlsError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| TlsError(format!("CA private key: {e}")))?;
        if !cert_pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(TlsError("CA certificate is not a PEM certificate".into()));
        }
        Ok(ClusterCa {
            cert_pem,
            issuer: Issuer::new(ca_params(OffsetDateTime::now_utc()), key),
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key, PEM (for `tern init` to store, mode 0600).
    pub fn key_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(self.issuer.key().serialize_pem())
    }

    /// A certificate for `region`'s peer port, good as server and client.
    pub fn issue(&self, region: &str) -> Result<PeerTls, TlsError> {
        let usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let (cert_pem, key_pem) = self.leaf(vec![peer_dns_name(region)], usages)?;
        Ok(PeerTls {
            ca_pem: self.cert_pem.clone(),
            cert_pem,
            key_pem,
        })
    }

    /// A server certificate for a region's client port, for `names` (DNS
    /// names or IP addresses; the first is the common name): clients verify
    /// it with the cluster CA (`--ca-bundle cluster-ca.pem`). Returns the
    /// certificate and its private key (PEM).
    pub fn issue_endpoint(&self, names: Vec<String>) -> Result<(String, Zeroizing<String>), TlsError> {
        self.leaf(names, vec![ExtendedKeyUsagePurpose::ServerAuth])
    }

    fn leaf(
        &self,
        names: Vec<String>,
        usages: Vec<ExtendedKeyUsagePurpose>,
    ) -> Result<(String, Zeroizing<String>), TlsError> {
        let common_name = names.first().cloned().unwrap_or_default();
        let mut params = CertificateParams::new(names).map_err(TlsError::new)?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = usages;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(PEER_VALIDITY_DAYS);
        let key = KeyPair::generate().map_err(TlsError::new)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(TlsError::new)?;
        Ok((cert.pem(), Zeroizing::new(key.serialize_pem())))
    }
}
