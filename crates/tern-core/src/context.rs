//! Encryption context: a map of non-secret strings bound to a ciphertext as
//! AAD. Its canonical form (pairs sorted by key, each length-prefixed) is what
//! the blob's AAD carries, so the map's order never matters.

use std::collections::BTreeMap;

/// Largest canonical encryption context accepted, bytes.
pub const MAX_ENCRYPTION_CONTEXT_BYTES: usize = 8192;

/// A validated encryption context (sorted by key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptionContext(BTreeMap<String, String>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    #[error("encryption context is larger than {MAX_ENCRYPTION_CONTEXT_BYTES} bytes")]
    TooLarge,
    #[error("encryption context keys must not be empty")]
    EmptyKey,
}

impl EncryptionContext {
    pub fn new(map: BTreeMap<String, String>) -> Result<Self, ContextError> {
        if map.keys().any(|k| k.is_empty()) {
            return Err(ContextError::EmptyKey);
        }
        let size: usize = map.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > MAX_ENCRYPTION_CONTEXT_BYTES {
            return Err(ContextError::TooLarge);
        }
        Ok(EncryptionContext(map))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// Appends the canonical encoding: a u32 pair count, then for each pair
    /// in key order a u32 length and the bytes of the key, then of the value
    /// (all big-endian).
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.0.len() as u32).to_be_bytes());
        for (k, v) in &self.0 {
            out.extend_from_slice(&(k.len() as u32).to_be_bytes());
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(&(v.len() as u32).to_be_bytes());
            out.extend_from_slice(v.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_is_order_free_and_unambiguous() {
        let a = EncryptionContext::new([("b".into(), "1".into()), ("a".into(), "2".into())].into()).unwrap();
        let b = EncryptionContext::new([("a".into(), "2".into()), ("b".into(), "1".into())].into()).unwrap();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        a.write_canonical(&mut x);
        b.write_canonical(&mut y);
        assert_eq!(x, y);
        // "ab"="" vs "a"="b" must differ.
        let c = EncryptionContext::new([("ab".into(), "".into())].into()).unwrap();
        let d = EncryptionContext::new([("a".into(), "b".into())].into()).unwrap();
        let (mut p, mut q) = (Vec::new(), Vec::new());
        c.write_canonical(&mut p);
        d.write_canonical(&mut q);
        assert_ne!(p, q);
    }

    #[test]
    fn limits() {
        assert_eq!(
            EncryptionContext::new([("".into(), "x".into())].into()),
            Err(ContextError::EmptyKey)
        );
        let big = "v".repeat(MAX_ENCRYPTION_CONTEXT_BYTES);
        assert_eq!(
            EncryptionContext::new([("k".into(), big)].into()),
            Err(ContextError::TooLarge)
        );
    }
}
