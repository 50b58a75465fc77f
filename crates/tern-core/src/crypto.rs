//! Crypto primitives: AES-256-GCM for data (the ciphertext blob) and for
//! wrapping key material under the region root key. Randomness is passed in
//! (nonces, fresh material) so every rule here is deterministic and testable.
//!
//! Key material never prints: `Debug` shows a redaction, and buffers are
//! zeroized on drop.

use std::fmt;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::blob::{self, Blob, NONCE_LEN, TAG_LEN};
use crate::context::EncryptionContext;
use crate::ids::{KeyId, KeyMaterialId};

/// Bytes of a symmetric key material and of the root key.
pub const KEY_LEN: usize = 32;
/// Largest plaintext Encrypt accepts for a symmetric key.
pub const MAX_PLAINTEXT_BYTES: usize = 4096;
/// Domain separation for wrapped material's AAD.
const WRAP_AAD_LABEL: &[u8] = b"tern/material-wrap/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Authentication failed: wrong key, wrong context, or tampered bytes.
    #[error("authentication failed")]
    Authentication,
    #[error("malformed wrapped material")]
    MalformedWrapped,
    /// AES-GCM refused to encrypt (only for inputs over ~64 GiB).
    #[error("the input is too large to encrypt")]
    TooLarge,
}

/// Key material, zeroized on drop: 32 bytes for a symmetric key, the raw
/// key for an HMAC key, PKCS#8 DER for an RSA or ECC key (see
/// [`crate::material`]).
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct Material(Vec<u8>);

impl Material {
    pub fn from_bytes(b: impl AsRef<[u8]>) -> Self {
        Material(b.as_ref().to_vec())
    }
    pub fn from_vec(b: Vec<u8>) -> Self {
        Material(b)
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Material(<redacted>)")
    }
}

/// The region root key: wraps every key material at rest.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RootKey([u8; KEY_LEN]);

impl RootKey {
    pub fn from_bytes(b: [u8; KEY_LEN]) -> Self {
        RootKey(b)
    }
    /// Parses 64 hex digits (the root key file's and env var's format).
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut b = Zeroizing::new([0u8; KEY_LEN]);
        hex::decode_to_slice(s.trim(), b.as_mut()).ok()?;
        Some(RootKey(*b))
    }
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0))
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

/// A ready AES-256-GCM cipher for one key material (the key schedule is
/// computed once and cached by the service).
#[derive(Clone)]
pub struct DataCipher(Aes256Gcm);

impl fmt::Debug for DataCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataCipher(<redacted>)")
    }
}

impl DataCipher {
    /// A cipher for 32-byte symmetric material.
    pub fn new(material: &Material) -> Result<Self, CryptoError> {
        Aes256Gcm::new_from_slice(material.expose())
            .map(DataCipher)
            .map_err(|_| CryptoError::MalformedWrapped)
    }

    /// Encrypts `plaintext` into a complete ciphertext blob.
    pub fn seal_blob(
        &self,
        key_id: &KeyId,
        material_id: &KeyMaterialId,
        context: &EncryptionContext,
        nonce: [u8; NONCE_LEN],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(blob::OVERHEAD_BYTES + plaintext.len());
        blob::write_header(&mut out, key_id, material_id);
        let mut aad = Vec::with_capacity(blob::HEADER_LEN + 64);
        aad.extend_from_slice(&out);
        context.write_canonical(&mut aad);
        out.extend_from_slice(&nonce);
        let body_start = out.len();
        out.extend_from_slice(plaintext);
        // encrypt_in_place_detached only fails for inputs over ~64 GiB.
        let tag = self
            .0
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), &aad, &mut out[body_start..])
            .map_err(|_| CryptoError::TooLarge)?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Decrypts a parsed blob under `context`.
    pub fn open_blob(&self, b: &Blob<'_>, context: &EncryptionContext) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let mut aad = Vec::with_capacity(blob::HEADER_LEN + 64);
        aad.extend_from_slice(b.header);
        context.write_canonical(&mut aad);
        let split = b.sealed.len().checked_sub(TAG_LEN).ok_or(CryptoError::Authentication)?;
        let (ct, tag) = b.sealed.split_at(split);
        let mut buf = Zeroizing::new(ct.to_vec());
        self.0
            .decrypt_in_place_detached(
                Nonce::from_slice(b.nonce),
                &aad,
                buf.as_mut_slice(),
                Tag::from_slice(tag),
            )
            .map_err(|_| CryptoError::Authentication)?;
        Ok(buf)
    }
}

fn wrap_aad(key_id: &KeyId, material_id: &KeyMaterialId) -> Vec<u8> {
    let mut aad = Vec::with_capacity(WRAP_AAD_LABEL.len() + 1 + 16 + 32);
    aad.extend_from_slice(WRAP_AAD_LABEL);
    aad.push(u8::from(key_id.is_multi_region()));
    aad.extend_from_slice(key_id.raw());
    aad.extend_from_slice(material_id.as_bytes());
    aad
}

/// Wraps material under the root key: `nonce | ciphertext | tag`, the AAD
/// binding the key id and the material id (a wrapped material moved to
/// another key or version no longer unwraps).
pub fn wrap_material(
    root: &RootKey,
    key_id: &KeyId,
    material_id: &KeyMaterialId,
    material: &Material,
    nonce: [u8; NONCE_LEN],
) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256Gcm::new((&root.0).into());
    let mut out = Vec::with_capacity(NONCE_LEN + material.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(material.expose());
    let tag = cipher
        .encrypt_in_place_detached(
            Nonce::from_slice(&nonce),
            &wrap_aad(key_id, material_id),
            &mut out[NONCE_LEN..],
        )
        .map_err(|_| CryptoError::TooLarge)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Unwraps material wrapped by [`wrap_material`].
pub fn unwrap_material(
    root: &RootKey,
    key_id: &KeyId,
    material_id: &KeyMaterialId,
    wrapped: &[u8],
) -> Result<Material, CryptoError> {
    if wrapped.len() <= NONCE_LEN + TAG_LEN {
        return Err(CryptoError::MalformedWrapped);
    }
    let cipher = Aes256Gcm::new((&root.0).into());
    let (nonce, rest) = wrapped.split_at(NONCE_LEN);
    let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
    let mut buf = Zeroizing::new(ct.to_vec());
    cipher
        .decrypt_in_place_detached(
            Nonce::from_slice(nonce),
            &wrap_aad(key_id, material_id),
            buf.as_mut_slice(),
            Tag::from_slice(tag),
        )
        .map_err(|_| CryptoError::Authentication)?;
    Ok(Material(std::mem::take(&mut *buf)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        EncryptionContext::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        )
        .unwrap()
    }

    #[test]
    fn seal_open_round_trip_and_context_binding() {
        let m = Material::from_bytes([9; 32]);
        let c = DataCipher::new(&m).unwrap();
        let key = KeyId::new_single_region([1; 16]);
        let mid = KeyMaterialId::from_bytes([2; 32]);
        let blob_bytes = c.seal_blob(&key, &mid, &ctx(&[("a", "1")]), [5; 12], b"hello").unwrap();
        assert_eq!(blob_bytes.len(), 5 + blob::OVERHEAD_BYTES);
        let b = blob::parse(&blob_bytes).unwrap();
        assert_eq!(&c.open_blob(&b, &ctx(&[("a", "1")])).unwrap()[..], b"hello");
        assert_eq!(c.open_blob(&b, &ctx(&[("a", "2")])), Err(CryptoError::Authentication));
        assert_eq!(c.open_blob(&b, &ctx(&[])), Err(CryptoError::Authentication));
        // Tampering with any byte fails authentication.
        for i in 0..blob_bytes.len() {
            let mut t = blob_bytes.clone();
            t[i] ^= 1;
            if let Ok(b) = blob::parse(&t) {
                assert!(c.open_blob(&b, &ctx(&[("a", "1")])).is_err(), "byte {i}");
            }
        }
    }

    #[test]
    fn wrap_binds_key_and_material() {
        let root = RootKey::from_bytes([3; 32]);
        let key = KeyId::new_single_region([1; 16]);
        let mid = KeyMaterialId::from_bytes([2; 32]);
        let m = Material::from_bytes([7; 32]);
        let w = wrap_material(&root, &key, &mid, &m, [0; 12]).unwrap();
        assert_eq!(unwrap_material(&root, &key, &mid, &w).unwrap(), m);
        let other = KeyMaterialId::from_bytes([4; 32]);
        assert!(unwrap_material(&root, &key, &other, &w).is_err());
        assert!(unwrap_material(&RootKey::from_bytes([4; 32]), &key, &mid, &w).is_err());
        assert!(!w.windows(32).any(|x| x == m.expose()));
        assert_eq!(format!("{m:?}"), "Material(<redacted>)");
    }
}
