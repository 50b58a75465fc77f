//! The ciphertext blob: versioned, self-describing, fixed forever.
//!
//! ```text
//! version (1, 0x01) | flags (1; bit 0 = multi-Region key) | key id (16)
//! | material id (32) | nonce (12) | ciphertext | tag (16)
//! ```
//! The first 50 bytes are the header; the AAD is the header followed by the
//! canonical encryption context. [`parse`] never panics on any input.

use crate::ids::{KeyId, KeyMaterialId};

pub const VERSION_1: u8 = 0x01;
pub const FLAG_MULTI_REGION: u8 = 0x01;
pub const HEADER_LEN: usize = 1 + 1 + 16 + 32;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
/// Bytes a blob adds to its plaintext.
pub const OVERHEAD_BYTES: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;
/// Largest `CiphertextBlob` accepted (AWS's limit).
pub const MAX_CIPHERTEXT_BLOB_BYTES: usize = 6144;

/// A parsed blob, borrowing the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blob<'a> {
    pub key_id: KeyId,
    pub material_id: KeyMaterialId,
    pub header: &'a [u8],
    pub nonce: &'a [u8; NONCE_LEN],
    /// Ciphertext followed by the 16-byte tag.
    pub sealed: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    #[error("ciphertext blob too short")]
    TooShort,
    #[error("ciphertext blob too long")]
    TooLong,
    #[error("unknown ciphertext blob version {0}")]
    Version(u8),
    #[error("unknown ciphertext blob flags {0:#04x}")]
    Flags(u8),
}

/// Writes the 50-byte header.
pub fn write_header(out: &mut Vec<u8>, key_id: &KeyId, material_id: &KeyMaterialId) {
    out.push(VERSION_1);
    out.push(if key_id.is_multi_region() { FLAG_MULTI_REGION } else { 0 });
    out.extend_from_slice(key_id.raw());
    out.extend_from_slice(material_id.as_bytes());
}

/// Parses a blob. Never panics.
pub fn parse(b: &[u8]) -> Result<Blob<'_>, BlobError> {
    if b.len() > MAX_CIPHERTEXT_BLOB_BYTES {
        return Err(BlobError::TooLong);
    }
    if b.len() < OVERHEAD_BYTES {
        return Err(BlobError::TooShort);
    }
    let (header, rest) = b.split_at(HEADER_LEN);
    let version = header[0];
    if version != VERSION_1 {
        return Err(BlobError::Version(version));
    }
    let flags = header[1];
    if flags & !FLAG_MULTI_REGION != 0 {
        return Err(BlobError::Flags(flags));
    }
    let mut key = [0u8; 16];
    key.copy_from_slice(&header[2..18]);
    let mut material = [0u8; 32];
    material.copy_from_slice(&header[18..50]);
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let nonce: &[u8; NONCE_LEN] = nonce.try_into().map_err(|_| BlobError::TooShort)?;
    Ok(Blob {
        key_id: KeyId::from_raw(key, flags & FLAG_MULTI_REGION != 0),
        material_id: KeyMaterialId::from_bytes(material),
        header,
        nonce,
        sealed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(multi: bool) -> Vec<u8> {
        let key = if multi {
            KeyId::new_multi_region([1; 16])
        } else {
            KeyId::new_single_region([1; 16])
        };
        let mut v = Vec::new();
        write_header(&mut v, &key, &KeyMaterialId::from_bytes([2; 32]));
        v.extend_from_slice(&[3; NONCE_LEN]);
        v.extend_from_slice(&[4; 5 + TAG_LEN]);
        v
    }

    #[test]
    fn parses_what_it_writes() {
        for multi in [false, true] {
            let v = sample(multi);
            let b = parse(&v).unwrap();
            assert_eq!(b.key_id.is_multi_region(), multi);
            assert_eq!(b.material_id, KeyMaterialId::from_bytes([2; 32]));
            assert_eq!(b.nonce, &[3; NONCE_LEN]);
            assert_eq!(b.sealed.len(), 5 + TAG_LEN);
            assert_eq!(b.header.len(), HEADER_LEN);
        }
        assert_eq!(OVERHEAD_BYTES, 78);
    }

    #[test]
    fn rejects_bad_blobs() {
        let mut v = sample(false);
        v[0] = 2;
        assert_eq!(parse(&v), Err(BlobError::Version(2)));
        let mut v = sample(false);
        v[1] = 0x80;
        assert_eq!(parse(&v), Err(BlobError::Flags(0x80)));
        assert_eq!(parse(&[]), Err(BlobError::TooShort));
        assert_eq!(parse(&[1; 77]), Err(BlobError::TooShort));
        assert_eq!(parse(&vec![1; 6145]), Err(BlobError::TooLong));
        // Every prefix of a valid blob parses or errors, never panics.
        let v = sample(true);
        for i in 0..v.len() {
            let _ = parse(&v[..i]);
        }
    }
}
