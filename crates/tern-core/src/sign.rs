//! A region's command-signing key: Ed25519 (aws-lc-rs), derived from the
//! region's sealing seed by HKDF-SHA256 with its own salt and info, so it
//! needs no new secret file. The public half travels in the cluster
//! membership beside the sealing public key; every replicated command a
//! region makes carries its signature, and every region checks it on apply.

use std::fmt;

use aws_lc_rs::hkdf;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::seal::SealingKey;

const SALT: &[u8] = b"tern command signing key v1";
const INFO: &[u8] = b"ed25519 seed";
/// Signed bytes start with this tag (no other message can collide).
const DOMAIN: &[u8] = b"tern replicated command v1\0";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("a command-signing public key is 64 hex digits")]
    BadPublicKey,
    #[error("the command-signing key could not be derived")]
    Derive,
}

/// A region's command-signing key pair.
pub struct CommandSigningKey(Ed25519KeyPair);

impl fmt::Debug for CommandSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandSigningKey")
            .field("public", &self.public().to_hex())
            .finish_non_exhaustive()
    }
}

struct SeedLen;

impl hkdf::KeyType for SeedLen {
    fn len(&self) -> usize {
        32
    }
}

impl CommandSigningKey {
    /// The signing key derived from `sealing`'s seed.
    pub fn derive(sealing: &SealingKey) -> Result<Self, SignError> {
        let seed_hex = sealing.to_hex();
        let mut ikm = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(seed_hex.as_str(), ikm.as_mut()).map_err(|_| SignError::Derive)?;
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(ikm.as_ref());
        let okm = prk.expand(&[INFO], SeedLen).map_err(|_| SignError::Derive)?;
        let mut seed = Zeroizing::new([0u8; 32]);
        okm.fill(seed.as_mut()).map_err(|_| SignError::Derive)?;
        Ed25519KeyPair::from_seed_unchecked(seed.as_ref())
            .map(CommandSigningKey)
            .map_err(|_| SignError::Derive)
    }

    pub fn public(&self) -> CommandPublicKey {
        let mut b = [0u8; 32];
        b.copy_from_slice(self.0.public_key().as_ref());
        CommandPublicKey(b)
    }

    /// Signs `message` (the domain tag is added here).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let mut m = Vec::with_capacity(DOMAIN.len() + message.len());
        m.extend_from_slice(DOMAIN);
        m.extend_from_slice(message);
        self.0.sign(&m).as_ref().to_vec()
    }
}

/// A region's command-signing public key (32 bytes; 64 hex digits).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommandPublicKey([u8; 32]);

impl fmt::Debug for CommandPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommandPublicKey({})", self.to_hex())
    }
}

impl CommandPublicKey {
    pub fn from_hex(s: &str) -> Result<Self, SignError> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut b).map_err(|_| SignError::BadPublicKey)?;
        Ok(CommandPublicKey(b))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let mut m = Vec::with_capacity(DOMAIN.len() + message.len());
        m.extend_from_slice(DOMAIN);
        m.extend_from_slice(message);
        UnparsedPublicKey::new(&signature::ED25519, self.0)
            .verify(&m, signature)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn signatures_verify_only_under_their_own_key_and_message() {
        let a = CommandSigningKey::derive(&SealingKey::from_seed([1; 32])).unwrap();
        let b = CommandSigningKey::derive(&SealingKey::from_seed([2; 32])).unwrap();
        // Deterministic: the same seed gives the same key.
        let a2 = CommandSigningKey::derive(&SealingKey::from_seed([1; 32])).unwrap();
        assert_eq!(a.public(), a2.public());
        assert_ne!(a.public(), b.public());
        let sig = a.sign(b"command");
        assert!(a.public().verify(b"command", &sig));
        assert!(!a.public().verify(b"commanD", &sig));
        assert!(!b.public().verify(b"command", &sig));
        assert!(!a.public().verify(b"command", &sig[..63]));
        let hex = a.public().to_hex();
        assert_eq!(CommandPublicKey::from_hex(&hex).unwrap(), a.public());
        assert_eq!(CommandPublicKey::from_hex("zz"), Err(SignError::BadPublicKey));
        // Not the sealing public key: the two keys are separate.
        assert_ne!(hex, SealingKey::from_seed([1; 32]).public().to_hex());
    }
}
