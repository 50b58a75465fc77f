//! Sealing Multi-Region key material to a region (HPKE, RFC 9180:
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, base mode).
//!
//! Every region has a long-term X25519 key pair. Material that travels in
//! the Raft log or in a snapshot is sealed to the public key of each replica
//! region of its key, so only those regions can read it. The AAD binds the
//! sealed bytes to the key, the material id and the region, so a sealed copy
//! cannot be replayed under another key, version or region.

use std::fmt;

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto::{Material, KEY_LEN};
use crate::ids::{KeyId, KeyMaterialId, Region};

type K = X25519HkdfSha256;
const INFO: &[u8] = b"tern/mrk-material-seal/v1";
/// Bytes of the encapsulated key that precede the AEAD output.
const ENC_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("malformed sealing public key")]
    BadPublicKey,
    #[error("sealed material could not be opened")]
    Open,
    #[error("sealing failed")]
    Seal,
}

/// A region's sealing key pair, derived from a 32-byte seed (kept like the
/// root key: a 0600 file or an environment variable).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SealingKey {
    seed: [u8; KEY_LEN],
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKey")
            .field("public", &self.public().to_hex())
            .finish_non_exhaustive()
    }
}

/// A region's sealing public key (32 bytes; 64 hex digits in config).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SealingPublicKey([u8; 32]);

impl fmt::Debug for SealingPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealingPublicKey({})", self.to_hex())
    }
}

impl SealingPublicKey {
    pub fn from_hex(s: &str) -> Result<Self, SealError> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut b).map_err(|_| SealError::BadPublicKey)?;
        <K as Kem>::PublicKey::from_bytes(&b).map_err(|_| SealError::BadPublicKey)?;
        Ok(SealingPublicKey(b))
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl SealingKey {
    pub fn from_seed(seed: [u8; KEY_LEN]) -> Self {
        SealingKey { seed }
    }
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut b = Zeroizing::new([0u8; KEY_LEN]);
        hex::decode_to_slice(s.trim(), b.as_mut()).ok()?;
        Some(SealingKey::from_seed(*b))
    }
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.seed))
    }
    fn pair(&self) -> (<K as Kem>::PrivateKey, <K as Kem>::PublicKey) {
        K::derive_keypair(&self.seed)
    }
    pub fn public(&self) -> SealingPublicKey {
        let (_, pk) = self.pair();
        let mut b = [0u8; 32];
        b.copy_from_slice(&pk.to_bytes());
        SealingPublicKey(b)
    }
}

fn aad(key: &KeyId, material: &KeyMaterialId, region: &Region) -> Vec<u8> {
    let key = key.to_string();
    let material = material.to_string();
    let mut a = Vec::with_capacity(8 + key.len() + material.len() + region.as_str().len());
    for part in [key.as_bytes(), material.as_bytes(), region.as_str().as_bytes()] {
        a.extend_from_slice(&(part.len() as u16).to_be_bytes());
        a.extend_from_slice(part);
    }
    a
}

/// Seals `material` of `key` to `region`'s public key: `enc (32) || ct || tag`.
pub fn seal_material<R: CryptoRng + RngCore>(
    to: &SealingPublicKey,
    region: &Region,
    key: &KeyId,
    id: &KeyMaterialId,
    material: &Material,
    rng: &mut R,
) -> Result<Vec<u8>, SealError> {
    let pk = <K as Kem>::PublicKey::from_bytes(&to.0).map_err(|_| SealError::BadPublicKey)?;
    let (enc, ct) = hpke::single_shot_seal::<AesGcm256, HkdfSha256, K, R>(
        &OpModeS::Base,
        &pk,
        INFO,
        material.expose(),
        &aad(key, id, region),
        rng,
    )
    .map_err(|_| SealError::Seal)?;
    let mut out = enc.to_bytes().to_vec();
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens material sealed to this region by [`seal_material`].
pub fn open_material(
    me: &SealingKey,
    region: &Region,
    key: &KeyId,
    id: &KeyMaterialId,
    sealed: &[u8],
) -> Result<Material, SealError> {
    if sealed.len() < ENC_LEN {
        return Err(SealError::Open);
    }
    let (enc, ct) = sealed.split_at(ENC_LEN);
    let enc = <K as Kem>::EncappedKey::from_bytes(enc).map_err(|_| SealError::Open)?;
    let (sk, _) = me.pair();
    let pt = Zeroizing::new(
        hpke::single_shot_open::<AesGcm256, HkdfSha256, K>(&OpModeR::Base, &sk, &enc, INFO, ct, &aad(key, id, region))
            .map_err(|_| SealError::Open)?,
    );
    Ok(Material::from_bytes(pt.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    fn ids() -> (KeyId, KeyMaterialId, Region) {
        (
            KeyId::parse("mrk-1234abcd12ab34cd56ef1234567890ab").unwrap(),
            KeyMaterialId::from_bytes([7; 32]),
            Region::parse("eu-west-1").unwrap(),
        )
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let (key, id, region) = ids();
        let sk = SealingKey::from_seed([1; 32]);
        let other = SealingKey::from_seed([2; 32]);
        let m = Material::from_bytes([9; 32]);
        let sealed = seal_material(&sk.public(), &region, &key, &id, &m, &mut OsRng).unwrap();
        assert_eq!(open_material(&sk, &region, &key, &id, &sealed).unwrap(), m);
        // Another region's private key, another region name, another
        // material id, a tampered byte, a truncation: all refuse.
        assert_eq!(open_material(&other, &region, &key, &id, &sealed), Err(SealError::Open));
        let us = Region::parse("us-east-1").unwrap();
        assert_eq!(open_material(&sk, &us, &key, &id, &sealed), Err(SealError::Open));
        let id2 = KeyMaterialId::from_bytes([8; 32]);
        assert_eq!(open_material(&sk, &region, &key, &id2, &sealed), Err(SealError::Open));
        let mut bad = sealed.clone();
        bad[40] ^= 1;
        assert_eq!(open_material(&sk, &region, &key, &id, &bad), Err(SealError::Open));
        assert_eq!(
            open_material(&sk, &region, &key, &id, &sealed[..10]),
            Err(SealError::Open)
        );
    }

    #[test]
    fn public_key_hex_round_trip_and_redacted_debug() {
        let sk = SealingKey::from_seed([3; 32]);
        let pk = sk.public();
        assert_eq!(SealingPublicKey::from_hex(&pk.to_hex()).unwrap(), pk);
        assert!(SealingPublicKey::from_hex("zz").is_err());
        let d = format!("{sk:?}");
        assert!(!d.contains(&hex::encode([3u8; 32])), "{d}");
    }
}
