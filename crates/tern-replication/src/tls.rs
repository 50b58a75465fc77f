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

/// The DNS name naming one node of a region (`node-<id>.<region>.peer.tern.internal`),
/// beside the region's own name in that node's certificate: the form still
/// works when a region has several nodes.
pub fn node_dns_name(region: &str, node_id: u64) -> String {
    format!("node-{node_id}.{}", peer_dns_name(region))
}

const PEER_SUFFIX: &str = ".peer.tern.internal";

/// The region a peer certificate (DER) names: the label before
/// `.peer.tern.internal` in its DNS subject alternative names. `None` when
/// it names none, or more than one region. The certificate is one the
/// cluster CA issued (the TLS handshake verified it), so reading its
/// dNSName entries (context tag 2) is enough; no general X.509 parser.
pub fn peer_region_of(der: &[u8]) -> Option<String> {
    let mut found: Option<String> = None;
    let mut i = 0;
    while i + 2 <= der.len() {
        let (tag, len) = (der[i], der[i + 1] as usize);
        if tag == 0x82 && len < 0x80 && i + 2 + len <= der.len() {
            if let Ok(name) = std::str::from_utf8(&der[i + 2..i + 2 + len]) {
                if let Some(rest) = name.strip_suffix(PEER_SUFFIX) {
                    let region = rest.rsplit('.').next().unwrap_or(rest);
                    if !region.is_empty() {
                        match &found {
                            Some(r) if r != region => return None,
                            _ => found = Some(region.to_string()),
                        }
                    }
                    i += 2 + len;
                    continue;
                }
            }
        }
        i += 1;
    }
    found
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

    /// A certificate for node `node_id` of `region`: it names the region
    /// (what peers check when they dial it) and the node.
    pub fn issue_node(&self, region: &str, node_id: u64) -> Result<PeerTls, TlsError> {
        let usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let names = vec![peer_dns_name(region), node_dns_name(region, node_id)];
        let (cert_pem, key_pem) = self.leaf(names, usages)?;
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

/// The DER of the first certificate in `pem`.
pub fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body.trim()).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_certificate_names_its_region_and_node() {
        let ca = ClusterCa::generate().unwrap();
        let der = |t: &PeerTls| pem_to_der(t.cert_pem()).unwrap();
        let node = ca.issue_node("ap-northeast-2", 7).unwrap();
        assert_eq!(peer_region_of(&der(&node)).as_deref(), Some("ap-northeast-2"));
        assert!(node.cert_pem().contains("CERTIFICATE"));
        let region = ca.issue("eu-west-1").unwrap();
        assert_eq!(peer_region_of(&der(&region)).as_deref(), Some("eu-west-1"));
        // A client-port certificate names no region.
        let (endpoint, _) = ca.issue_endpoint(vec!["localhost".into()]).unwrap();
        assert_eq!(peer_region_of(&pem_to_der(&endpoint).unwrap()), None);
        // Two regions in one certificate: ambiguous, so none.
        let (both, _) = ca
            .leaf(
                vec![peer_dns_name("us-east-1"), peer_dns_name("eu-west-1")],
                vec![ExtendedKeyUsagePurpose::ClientAuth],
            )
            .unwrap();
        assert_eq!(peer_region_of(&pem_to_der(&both).unwrap()), None);
    }
}
