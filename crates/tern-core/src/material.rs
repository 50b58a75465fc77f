//! Key material by key spec, and what each kind of key does with it:
//! RSA (OAEP encryption, PSS and PKCS#1 v1.5 signatures), ECC (ECDSA, ECDH),
//! HMAC, and the RSA wrapping keys of imported material.
//!
//! Every primitive is aws-lc-rs (AWS-LC): constant-time, FIPS-validated
//! code, and it signs caller-supplied digests (MessageType DIGEST). See
//! docs/architecture.md, "Asymmetric and HMAC keys", for why not RustCrypto.
//!
//! Material forms (what [`Material`] holds, wrapped at rest and sealed
//! between regions like symmetric material):
//! - `SYMMETRIC_DEFAULT`: 32 random bytes;
//! - `HMAC_*`: the raw HMAC key;
//! - `RSA_*`, `ECC_*`: the private key as PKCS#8 DER.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_128, AES_256};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use aws_lc_rs::{agreement, digest, hmac, rsa};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::crypto::{DataCipher, Material, KEY_LEN};
use crate::ids::{KeyId, KeyMaterialId};
use crate::key::{EncryptionAlgorithm, KeySpec, KeyUsage, MessageType, SigningAlgorithm, WrappingAlgorithm};

/// Why an operation on key material failed. The service maps each to the
/// AWS exception.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaterialError {
    /// tern does not implement this key spec.
    #[error("key spec {0} is not supported by tern")]
    UnsupportedSpec(KeySpec),
    /// The material is not a key of the spec (imports, corrupted records).
    #[error("{0}")]
    WrongMaterial(String),
    /// A DIGEST message of the wrong length for the algorithm.
    #[error("Digest is {got} bytes; {alg} needs a {want}-byte digest.")]
    DigestLength {
        alg: SigningAlgorithm,
        got: usize,
        want: usize,
    },
    /// The algorithm does not fit the key (the service checks first).
    #[error("algorithm not supported by this key")]
    Algorithm,
    /// Plaintext over the RSA OAEP limit.
    #[error("Plaintext is {got} bytes; the limit for this key and algorithm is {max} bytes.")]
    TooLong { got: usize, max: usize },
    /// A peer public key that is not a DER SubjectPublicKeyInfo on the key's curve.
    #[error("PublicKey is not a DER-encoded SubjectPublicKeyInfo of a point on the key's curve.")]
    BadPublicKey,
    /// Decryption or unwrapping failed: wrong key, wrong algorithm, tampered bytes.
    #[error("decryption failed")]
    Decrypt,
    /// Anything else the library refused.
    #[error("cryptographic operation failed")]
    Failed,
}

type R<T> = Result<T, MaterialError>;

fn failed<E>(_: E) -> MaterialError {
    MaterialError::Failed
}

fn rsa_size(spec: KeySpec) -> Option<(rsa::KeySize, usize)> {
    match spec {
        KeySpec::Rsa2048 => Some((rsa::KeySize::Rsa2048, 2048)),
        KeySpec::Rsa3072 => Some((rsa::KeySize::Rsa3072, 3072)),
        KeySpec::Rsa4096 => Some((rsa::KeySize::Rsa4096, 4096)),
        _ => None,
    }
}

fn ecdsa_alg(spec: KeySpec) -> Option<&'static signature::EcdsaSigningAlgorithm> {
    match spec {
        KeySpec::EccNistP256 => Some(&signature::ECDSA_P256_SHA256_ASN1_SIGNING),
        KeySpec::EccNistP384 => Some(&signature::ECDSA_P384_SHA384_ASN1_SIGNING),
        KeySpec::EccNistP521 => Some(&signature::ECDSA_P521_SHA512_ASN1_SIGNING),
        KeySpec::EccSecgP256k1 => Some(&signature::ECDSA_P256K1_SHA256_ASN1_SIGNING),
        _ => None,
    }
}

fn ecdh_alg(spec: KeySpec) -> Option<&'static agreement::Algorithm> {
    match spec {
        KeySpec::EccNistP256 => Some(&agreement::ECDH_P256),
        KeySpec::EccNistP384 => Some(&agreement::ECDH_P384),
        KeySpec::EccNistP521 => Some(&agreement::ECDH_P521),
        _ => None,
    }
}

fn hmac_alg(spec: KeySpec) -> Option<(hmac::Algorithm, usize, std::ops::RangeInclusive<usize>)> {
    // (algorithm, generated length, importable lengths) — AWS: HMAC_224
    // 28–64 bytes, HMAC_256 32–64, HMAC_384 48–128, HMAC_512 64–128.
    match spec {
        KeySpec::Hmac224 => Some((hmac::HMAC_SHA224, 28, 28..=64)),
        KeySpec::Hmac256 => Some((hmac::HMAC_SHA256, 32, 32..=64)),
        KeySpec::Hmac384 => Some((hmac::HMAC_SHA384, 48, 48..=128)),
        KeySpec::Hmac512 => Some((hmac::HMAC_SHA512, 64, 64..=128)),
        _ => None,
    }
}

fn random(n: usize) -> R<Material> {
    let mut b = Zeroizing::new(vec![0u8; n]);
    aws_lc_rs::rand::fill(b.as_mut_slice()).map_err(failed)?;
    Ok(Material::from_bytes(b.as_slice()))
}

/// Fresh material for a key of `spec`.
pub fn generate(spec: KeySpec) -> R<Material> {
    if spec == KeySpec::SymmetricDefault {
        return random(KEY_LEN);
    }
    if let Some((_, len, _)) = hmac_alg(spec) {
        return random(len);
    }
    if let Some((size, _)) = rsa_size(spec) {
        let kp = RsaKeyPair::generate(size).map_err(failed)?;
        let der = kp.as_der().map_err(failed)?;
        return Ok(Material::from_bytes(der.as_ref()));
    }
    if let Some(alg) = ecdsa_alg(spec) {
        let kp = EcdsaKeyPair::generate(alg).map_err(failed)?;
        let der = kp.to_pkcs8v1().map_err(failed)?;
        return Ok(Material::from_bytes(der.as_ref()));
    }
    Err(MaterialError::UnsupportedSpec(spec))
}

/// Material ready to use, parsed once (the service caches it per material).
pub enum KeyHandle {
    Symmetric(Box<DataCipher>),
    Rsa(RsaHandle),
    Ecdsa {
        pair: EcdsaKeyPair,
        spec: KeySpec,
        public_der: Vec<u8>,
    },
    Ecdh {
        key: agreement::PrivateKey,
        spec: KeySpec,
        public_der: Vec<u8>,
    },
    Hmac(Box<hmac::Key>),
}

/// An RSA key: signing or OAEP, as its usage says.
#[allow(missing_debug_implementations)] // KeyHandle's Debug redacts it
pub struct RsaHandle {
    signing: Option<RsaKeyPair>,
    decrypting: Option<rsa::OaepPrivateDecryptingKey>,
    encrypting: Option<rsa::OaepPublicEncryptingKey>,
    public_der: Vec<u8>,
}

impl fmt::Debug for KeyHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            KeyHandle::Symmetric(_) => "Symmetric",
            KeyHandle::Rsa(_) => "Rsa",
            KeyHandle::Ecdsa { .. } => "Ecdsa",
            KeyHandle::Ecdh { .. } => "Ecdh",
            KeyHandle::Hmac(_) => "Hmac",
        };
        write!(f, "KeyHandle::{kind}(<redacted>)")
    }
}

fn wrong(spec: KeySpec) -> MaterialError {
    MaterialError::WrongMaterial(format!("The key material is not a valid {spec} private key."))
}

impl KeyHandle {
    /// Parses `material` as a key of `spec` used for `usage`, checking that
    /// it really is one (RSA modulus size, ECC curve, lengths).
    pub fn load(spec: KeySpec, usage: KeyUsage, material: &Material) -> R<KeyHandle> {
        let bytes = material.expose();
        if spec == KeySpec::SymmetricDefault {
            return DataCipher::new(material)
                .map(|c| KeyHandle::Symmetric(Box::new(c)))
                .map_err(|_| MaterialError::WrongMaterial("Symmetric key material must be 32 bytes.".into()));
        }
        if let Some((alg, _, lens)) = hmac_alg(spec) {
            if !lens.contains(&bytes.len()) {
                return Err(MaterialError::WrongMaterial(format!(
                    "{spec} key material must be {} to {} bytes.",
                    lens.start(),
                    lens.end()
                )));
            }
            return Ok(KeyHandle::Hmac(Box::new(hmac::Key::new(alg, bytes))));
        }
        if let Some((_, bits)) = rsa_size(spec) {
            let pair = RsaKeyPair::from_pkcs8(bytes).map_err(|_| wrong(spec))?;
            if pair.public_modulus_len() * 8 != bits {
                return Err(wrong(spec));
            }
            let public_der = pair.public_key().as_der().map_err(failed)?.as_ref().to_vec();
            let mut h = RsaHandle {
                signing: None,
                decrypting: None,
                encrypting: None,
                public_der,
            };
            if usage == KeyUsage::EncryptDecrypt {
                let private = rsa::PrivateDecryptingKey::from_pkcs8(bytes).map_err(|_| wrong(spec))?;
                let public = private.public_key();
                h.encrypting = Some(rsa::OaepPublicEncryptingKey::new(public).map_err(failed)?);
                h.decrypting = Some(rsa::OaepPrivateDecryptingKey::new(private).map_err(failed)?);
            } else {
                h.signing = Some(pair);
            }
            return Ok(KeyHandle::Rsa(h));
        }
        if usage == KeyUsage::KeyAgreement {
            let alg = ecdh_alg(spec).ok_or(MaterialError::UnsupportedSpec(spec))?;
            let key = agreement::PrivateKey::from_private_key_der(alg, bytes).map_err(|_| wrong(spec))?;
            let public_der = key
                .compute_public_key()
                .map_err(failed)?
                .as_der()
                .map_err(failed)?
                .as_ref()
                .to_vec();
            return Ok(KeyHandle::Ecdh { key, spec, public_der });
        }
        if let Some(alg) = ecdsa_alg(spec) {
            let pair = EcdsaKeyPair::from_pkcs8(alg, bytes).map_err(|_| wrong(spec))?;
            let public_der = pair.public_key().as_der().map_err(failed)?.as_ref().to_vec();
            return Ok(KeyHandle::Ecdsa { pair, spec, public_der });
        }
        Err(MaterialError::UnsupportedSpec(spec))
    }

    /// The public key as DER SubjectPublicKeyInfo (asymmetric keys).
    pub fn public_key_der(&self) -> Option<&[u8]> {
        match self {
            KeyHandle::Rsa(h) => Some(&h.public_der),
            KeyHandle::Ecdsa { public_der, .. } | KeyHandle::Ecdh { public_der, .. } => Some(public_der),
            KeyHandle::Symmetric(_) | KeyHandle::Hmac(_) => None,
        }
    }

    pub fn symmetric(&self) -> Option<&DataCipher> {
        match self {
            KeyHandle::Symmetric(c) => Some(c),
            _ => None,
        }
    }

    /// Signs `message` (RAW: hashed here; DIGEST: already hashed).
    pub fn sign(&self, alg: SigningAlgorithm, message_type: MessageType, message: &[u8]) -> R<Vec<u8>> {
        match self {
            KeyHandle::Rsa(RsaHandle {
                signing: Some(pair), ..
            }) => {
                let enc = rsa_encoding(alg)?;
                let mut sig = vec![0u8; pair.public_modulus_len()];
                match message_type {
                    MessageType::Raw => pair
                        .sign(enc, &aws_lc_rs::rand::SystemRandom::new(), message, &mut sig)
                        .map_err(failed)?,
                    MessageType::Digest => pair
                        .sign_digest(enc, &import_digest(alg, message)?, &mut sig)
                        .map_err(failed)?,
                    MessageType::ExternalMu => return Err(MaterialError::Algorithm),
                }
                Ok(sig)
            }
            KeyHandle::Ecdsa { pair, spec, .. } => {
                ecdsa_params(alg, *spec)?;
                let sig = match message_type {
                    MessageType::Raw => pair
                        .sign(&aws_lc_rs::rand::SystemRandom::new(), message)
                        .map_err(failed)?,
                    MessageType::Digest => pair.sign_digest(&import_digest(alg, message)?).map_err(failed)?,
                    MessageType::ExternalMu => return Err(MaterialError::Algorithm),
                };
                Ok(sig.as_ref().to_vec())
            }
            _ => Err(MaterialError::Algorithm),
        }
    }

    /// Whether `sig` is a valid signature of `message` under this key.
    pub fn verify(&self, alg: SigningAlgorithm, message_type: MessageType, message: &[u8], sig: &[u8]) -> R<bool> {
        let (params, public): (&'static dyn signature::VerificationAlgorithm, Vec<u8>) = match self {
            KeyHandle::Rsa(RsaHandle {
                signing: Some(pair), ..
            }) => (rsa_params(alg)?, pair.public_key().as_ref().to_vec()),
            KeyHandle::Ecdsa { pair, spec, .. } => (ecdsa_params(alg, *spec)?, pair.public_key().as_ref().to_vec()),
            _ => return Err(MaterialError::Algorithm),
        };
        let key = signature::UnparsedPublicKey::new(params, public);
        Ok(match message_type {
            MessageType::Raw => key.verify(message, sig).is_ok(),
            MessageType::Digest => key.verify_digest(&import_digest(alg, message)?, sig).is_ok(),
            MessageType::ExternalMu => return Err(MaterialError::Algorithm),
        })
    }

    /// The largest plaintext RSA OAEP encrypts with `alg` under this key.
    pub fn oaep_max_plaintext(&self, alg: EncryptionAlgorithm) -> R<usize> {
        match self {
            KeyHandle::Rsa(RsaHandle {
                encrypting: Some(k), ..
            }) => Ok(k.max_plaintext_size(oaep(alg)?)),
            _ => Err(MaterialError::Algorithm),
        }
    }

    /// RSA OAEP encryption (the ciphertext is the raw RSA ciphertext, as
    /// AWS KMS and `openssl pkeyutl` produce it).
    pub fn oaep_encrypt(&self, alg: EncryptionAlgorithm, plaintext: &[u8]) -> R<Vec<u8>> {
        let KeyHandle::Rsa(RsaHandle {
            encrypting: Some(k), ..
        }) = self
        else {
            return Err(MaterialError::Algorithm);
        };
        let a = oaep(alg)?;
        let max = k.max_plaintext_size(a);
        if plaintext.len() > max {
            return Err(MaterialError::TooLong {
                got: plaintext.len(),
                max,
            });
        }
        let mut out = vec![0u8; k.ciphertext_size()];
        let n = k.encrypt(a, plaintext, &mut out, None).map_err(failed)?.len();
        out.truncate(n);
        Ok(out)
    }

    pub fn oaep_decrypt(&self, alg: EncryptionAlgorithm, ciphertext: &[u8]) -> R<Zeroizing<Vec<u8>>> {
        let KeyHandle::Rsa(RsaHandle {
            decrypting: Some(k), ..
        }) = self
        else {
            return Err(MaterialError::Algorithm);
        };
        let a = oaep(alg)?;
        let mut out = Zeroizing::new(vec![0u8; k.min_output_size()]);
        let n = k
            .decrypt(a, ciphertext, &mut out, None)
            .map_err(|_| MaterialError::Decrypt)?
            .len();
        out.truncate(n);
        Ok(out)
    }

    /// HMAC of `message` (the algorithm is the key's one; the service checks it).
    pub fn mac(&self, message: &[u8]) -> R<Vec<u8>> {
        match self {
            KeyHandle::Hmac(k) => Ok(hmac::sign(k, message).as_ref().to_vec()),
            _ => Err(MaterialError::Algorithm),
        }
    }

    /// Constant-time HMAC check.
    pub fn verify_mac(&self, message: &[u8], mac: &[u8]) -> R<bool> {
        match self {
            KeyHandle::Hmac(k) => Ok(hmac::verify(k, message, mac).is_ok()),
            _ => Err(MaterialError::Algorithm),
        }
    }

    /// ECDH with a peer's DER SubjectPublicKeyInfo: the raw shared secret
    /// (the x coordinate), as AWS's DeriveSharedSecret returns it.
    pub fn derive_shared_secret(&self, peer_spki: &[u8]) -> R<Zeroizing<Vec<u8>>> {
        let KeyHandle::Ecdh { key, spec, .. } = self else {
            return Err(MaterialError::Algorithm);
        };
        let alg = ecdh_alg(*spec).ok_or(MaterialError::Algorithm)?;
        // Only X.509 SubjectPublicKeyInfo is accepted, as AWS documents.
        if peer_spki.first() != Some(&0x30) {
            return Err(MaterialError::BadPublicKey);
        }
        let peer = agreement::UnparsedPublicKey::new(alg, peer_spki);
        agreement::agree(key, peer, MaterialError::BadPublicKey, |s| {
            Ok(Zeroizing::new(s.to_vec()))
        })
    }
}

fn rsa_encoding(alg: SigningAlgorithm) -> R<&'static dyn signature::RsaEncoding> {
    use SigningAlgorithm as S;
    Ok(match alg {
        S::RsassaPssSha256 => &signature::RSA_PSS_SHA256,
        S::RsassaPssSha384 => &signature::RSA_PSS_SHA384,
        S::RsassaPssSha512 => &signature::RSA_PSS_SHA512,
        S::RsassaPkcs1V15Sha256 => &signature::RSA_PKCS1_SHA256,
        S::RsassaPkcs1V15Sha384 => &signature::RSA_PKCS1_SHA384,
        S::RsassaPkcs1V15Sha512 => &signature::RSA_PKCS1_SHA512,
        _ => return Err(MaterialError::Algorithm),
    })
}

fn rsa_params(alg: SigningAlgorithm) -> R<&'static dyn signature::VerificationAlgorithm> {
    use SigningAlgorithm as S;
    Ok(match alg {
        S::RsassaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
        S::RsassaPssSha384 => &signature::RSA_PSS_2048_8192_SHA384,
        S::RsassaPssSha512 => &signature::RSA_PSS_2048_8192_SHA512,
        S::RsassaPkcs1V15Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        S::RsassaPkcs1V15Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        S::RsassaPkcs1V15Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        _ => return Err(MaterialError::Algorithm),
    })
}

/// The ECDSA verification parameters for `alg` on a key of `spec` (the
/// signing algorithm must be the curve's one). Chosen by key spec: the
/// library's algorithm values are `const`s, so their addresses are not
/// stable enough to compare.
fn ecdsa_params(alg: SigningAlgorithm, spec: KeySpec) -> R<&'static dyn signature::VerificationAlgorithm> {
    use SigningAlgorithm as S;
    Ok(match (spec, alg) {
        (KeySpec::EccNistP256, S::EcdsaSha256) => &signature::ECDSA_P256_SHA256_ASN1,
        (KeySpec::EccNistP384, S::EcdsaSha384) => &signature::ECDSA_P384_SHA384_ASN1,
        (KeySpec::EccNistP521, S::EcdsaSha512) => &signature::ECDSA_P521_SHA512_ASN1,
        (KeySpec::EccSecgP256k1, S::EcdsaSha256) => &signature::ECDSA_P256K1_SHA256_ASN1,
        _ => return Err(MaterialError::Algorithm),
    })
}

fn digest_alg(alg: SigningAlgorithm) -> R<&'static digest::Algorithm> {
    match alg.digest_len() {
        Some(32) => Ok(&digest::SHA256),
        Some(48) => Ok(&digest::SHA384),
        Some(64) => Ok(&digest::SHA512),
        _ => Err(MaterialError::Algorithm),
    }
}

fn import_digest(alg: SigningAlgorithm, message: &[u8]) -> R<digest::Digest> {
    let d = digest_alg(alg)?;
    digest::Digest::import_less_safe(message, d).map_err(|_| MaterialError::DigestLength {
        alg,
        got: message.len(),
        want: d.output_len(),
    })
}

fn oaep(alg: EncryptionAlgorithm) -> R<&'static rsa::OaepAlgorithm> {
    match alg {
        EncryptionAlgorithm::RsaesOaepSha1 => Ok(&rsa::OAEP_SHA1_MGF1SHA1),
        EncryptionAlgorithm::RsaesOaepSha256 => Ok(&rsa::OAEP_SHA256_MGF1SHA256),
        _ => Err(MaterialError::Algorithm),
    }
}

/// Checks imported material for a key of `spec` and `usage`.
pub fn check_import(spec: KeySpec, usage: KeyUsage, bytes: &[u8]) -> R<Material> {
    let m = Material::from_bytes(bytes);
    KeyHandle::load(spec, usage, &m)?;
    Ok(m)
}

/// The material id of imported material: a commitment to the key and the
/// material, so every region that imports the same material into the same
/// (Multi-Region) key derives the same id, and a different material a
/// different one. Imported material is a full-strength key (≥ 224 bits),
/// so the hash reveals nothing usable about it.
pub fn imported_material_id(key: &KeyId, material: &Material) -> KeyMaterialId {
    let mut h = Sha256::new();
    h.update(b"tern/imported-material-id/v1");
    h.update([u8::from(key.is_multi_region())]);
    h.update(key.raw());
    h.update(material.expose());
    KeyMaterialId::from_bytes(h.finalize().into())
}

/// The id under which an import's wrapping private key is wrapped at rest
/// (binds it to its import token).
pub fn wrapping_key_material_id(token: &[u8]) -> KeyMaterialId {
    let mut h = Sha256::new();
    h.update(b"tern/import-wrapping-key/v1");
    h.update(token);
    KeyMaterialId::from_bytes(h.finalize().into())
}

/// A data key pair: PKCS#8 private key and DER SubjectPublicKeyInfo.
pub fn generate_pair(spec: KeySpec) -> R<(Material, Vec<u8>)> {
    let private = generate(spec)?;
    let usage = if rsa_size(spec).is_some() {
        KeyUsage::EncryptDecrypt
    } else {
        KeyUsage::SignVerify
    };
    let public = KeyHandle::load(spec, usage, &private)?
        .public_key_der()
        .ok_or(MaterialError::UnsupportedSpec(spec))?
        .to_vec();
    Ok((private, public))
}

/// The RSA key pair GetParametersForImport hands out: its public half wraps
/// the material the caller imports.
pub struct WrappingKey(rsa::OaepPrivateDecryptingKey);

impl fmt::Debug for WrappingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WrappingKey(<redacted>)")
    }
}

impl WrappingKey {
    /// A fresh wrapping key of `bits`: its PKCS#8 (to keep, wrapped) and its
    /// public key as DER SubjectPublicKeyInfo (to hand out).
    pub fn generate(bits: usize) -> R<(Material, Vec<u8>)> {
        let size = match bits {
            2048 => rsa::KeySize::Rsa2048,
            3072 => rsa::KeySize::Rsa3072,
            4096 => rsa::KeySize::Rsa4096,
            _ => return Err(MaterialError::Failed),
        };
        let k = rsa::PrivateDecryptingKey::generate(size).map_err(failed)?;
        let public = k.public_key().as_der().map_err(failed)?.as_ref().to_vec();
        let private = Material::from_bytes(k.as_der().map_err(failed)?.as_ref());
        Ok((private, public))
    }

    pub fn from_pkcs8(private: &Material) -> R<WrappingKey> {
        let k = rsa::PrivateDecryptingKey::from_pkcs8(private.expose()).map_err(failed)?;
        Ok(WrappingKey(rsa::OaepPrivateDecryptingKey::new(k).map_err(failed)?))
    }

    fn oaep_open(&self, a: &'static rsa::OaepAlgorithm, ct: &[u8]) -> R<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(vec![0u8; self.0.min_output_size()]);
        let n = self
            .0
            .decrypt(a, ct, &mut out, None)
            .map_err(|_| MaterialError::Decrypt)?
            .len();
        out.truncate(n);
        Ok(out)
    }

    /// Unwraps `EncryptedKeyMaterial`:
    /// - `RSAES_OAEP_SHA_*`: RSA-OAEP of the material;
    /// - `RSA_AES_KEY_WRAP_SHA_*`: RSA-OAEP of an ephemeral AES key (the
    ///   first modulus-length bytes), then the material under AES key wrap
    ///   with padding (RFC 5649), as `openssl enc -id-aes256-wrap-pad` makes it.
    pub fn unwrap(&self, alg: WrappingAlgorithm, wrapped: &[u8]) -> R<Material> {
        let sha = |sha1: bool| {
            if sha1 {
                &rsa::OAEP_SHA1_MGF1SHA1
            } else {
                &rsa::OAEP_SHA256_MGF1SHA256
            }
        };
        match alg {
            WrappingAlgorithm::RsaesOaepSha1 | WrappingAlgorithm::RsaesOaepSha256 => {
                let pt = self.oaep_open(sha(alg == WrappingAlgorithm::RsaesOaepSha1), wrapped)?;
                Ok(Material::from_bytes(pt.as_slice()))
            }
            WrappingAlgorithm::RsaAesKeyWrapSha1 | WrappingAlgorithm::RsaAesKeyWrapSha256 => {
                let n = self.0.key_size_bytes();
                if wrapped.len() <= n {
                    return Err(MaterialError::Decrypt);
                }
                let (rsa_part, kwp) = wrapped.split_at(n);
                let aes = self.oaep_open(sha(alg == WrappingAlgorithm::RsaAesKeyWrapSha1), rsa_part)?;
                let cipher = match aes.len() {
                    16 => &AES_128,
                    32 => &AES_256,
                    _ => return Err(MaterialError::Decrypt),
                };
                let kek = AesKek::new(cipher, &aes).map_err(|_| MaterialError::Decrypt)?;
                let mut out = Zeroizing::new(vec![0u8; kwp.len()]);
                let len = kek
                    .unwrap_with_padding(kwp, &mut out)
                    .map_err(|_| MaterialError::Decrypt)?
                    .len();
                out.truncate(len);
                Ok(Material::from_bytes(out.as_slice()))
            }
            WrappingAlgorithm::RsaesPkcs1V15 | WrappingAlgorithm::Sm2Pke => Err(MaterialError::Algorithm),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign_verify(spec: KeySpec) {
        let m = generate(spec).unwrap();
        let h = KeyHandle::load(spec, KeyUsage::SignVerify, &m).unwrap();
        assert!(h.public_key_der().unwrap().starts_with(&[0x30]));
        for alg in spec.signing_algorithms(KeyUsage::SignVerify) {
            let sig = h.sign(alg, MessageType::Raw, b"hello").unwrap();
            assert!(h.verify(alg, MessageType::Raw, b"hello", &sig).unwrap(), "{spec} {alg}");
            assert!(!h.verify(alg, MessageType::Raw, b"hellp", &sig).unwrap());
            let mut bad = sig.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert!(!h.verify(alg, MessageType::Raw, b"hello", &bad).unwrap());
            // DIGEST of the same message verifies as RAW and back.
            let d = digest::digest(digest_alg(alg).unwrap(), b"hello");
            let dsig = h.sign(alg, MessageType::Digest, d.as_ref()).unwrap();
            assert!(h.verify(alg, MessageType::Raw, b"hello", &dsig).unwrap());
            assert!(h.verify(alg, MessageType::Digest, d.as_ref(), &sig).unwrap());
            assert!(matches!(
                h.sign(alg, MessageType::Digest, b"short"),
                Err(MaterialError::DigestLength { got: 5, .. })
            ));
        }
    }

    #[test]
    fn ecc_sign_verify() {
        for spec in [
            KeySpec::EccNistP256,
            KeySpec::EccNistP384,
            KeySpec::EccNistP521,
            KeySpec::EccSecgP256k1,
        ] {
            sign_verify(spec);
        }
        // A P-384 key refuses ECDSA_SHA_256.
        let m = generate(KeySpec::EccNistP384).unwrap();
        let h = KeyHandle::load(KeySpec::EccNistP384, KeyUsage::SignVerify, &m).unwrap();
        assert_eq!(
            h.sign(SigningAlgorithm::EcdsaSha256, MessageType::Raw, b"x"),
            Err(MaterialError::Algorithm)
        );
        // P-384 material is not a P-256 key.
        assert!(KeyHandle::load(KeySpec::EccNistP256, KeyUsage::SignVerify, &m).is_err());
    }

    #[test]
    fn rsa_sign_and_oaep() {
        sign_verify(KeySpec::Rsa2048);
        let m = generate(KeySpec::Rsa2048).unwrap();
        assert!(KeyHandle::load(KeySpec::Rsa3072, KeyUsage::SignVerify, &m).is_err());
        let h = KeyHandle::load(KeySpec::Rsa2048, KeyUsage::EncryptDecrypt, &m).unwrap();
        for (alg, max) in [
            (EncryptionAlgorithm::RsaesOaepSha1, 214),
            (EncryptionAlgorithm::RsaesOaepSha256, 190),
        ] {
            assert_eq!(h.oaep_max_plaintext(alg).unwrap(), max);
            let ct = h.oaep_encrypt(alg, &vec![7u8; max]).unwrap();
            assert_eq!(ct.len(), 256);
            assert_eq!(h.oaep_decrypt(alg, &ct).unwrap().as_slice(), &vec![7u8; max][..]);
            assert!(matches!(
                h.oaep_encrypt(alg, &vec![7u8; max + 1]),
                Err(MaterialError::TooLong { .. })
            ));
            let mut bad = ct.clone();
            bad[10] ^= 1;
            assert_eq!(h.oaep_decrypt(alg, &bad).err(), Some(MaterialError::Decrypt));
        }
    }

    #[test]
    fn hmac_and_ecdh() {
        let m = generate(KeySpec::Hmac256).unwrap();
        assert_eq!(m.len(), 32);
        let h = KeyHandle::load(KeySpec::Hmac256, KeyUsage::GenerateVerifyMac, &m).unwrap();
        let tag = h.mac(b"msg").unwrap();
        assert!(h.verify_mac(b"msg", &tag).unwrap());
        assert!(!h.verify_mac(b"msh", &tag).unwrap());
        assert!(check_import(KeySpec::Hmac256, KeyUsage::GenerateVerifyMac, &[1; 31]).is_err());

        let a = generate(KeySpec::EccNistP256).unwrap();
        let b = generate(KeySpec::EccNistP256).unwrap();
        let ha = KeyHandle::load(KeySpec::EccNistP256, KeyUsage::KeyAgreement, &a).unwrap();
        let hb = KeyHandle::load(KeySpec::EccNistP256, KeyUsage::KeyAgreement, &b).unwrap();
        let s1 = ha.derive_shared_secret(hb.public_key_der().unwrap()).unwrap();
        let s2 = hb.derive_shared_secret(ha.public_key_der().unwrap()).unwrap();
        assert_eq!(s1.as_slice(), s2.as_slice());
        assert_eq!(s1.len(), 32);
        let other = generate(KeySpec::EccNistP384).unwrap();
        let ho = KeyHandle::load(KeySpec::EccNistP384, KeyUsage::KeyAgreement, &other).unwrap();
        assert_eq!(
            ha.derive_shared_secret(ho.public_key_der().unwrap()).err(),
            Some(MaterialError::BadPublicKey)
        );
        assert_eq!(
            ha.derive_shared_secret(b"junk").err(),
            Some(MaterialError::BadPublicKey)
        );
    }

    #[test]
    fn wrapping_key_unwraps_oaep() {
        let (private, public) = WrappingKey::generate(2048).unwrap();
        let wk = WrappingKey::from_pkcs8(&private).unwrap();
        let pk = rsa::PublicEncryptingKey::from_der(&public).unwrap();
        let enc = rsa::OaepPublicEncryptingKey::new(pk).unwrap();
        let mut out = vec![0u8; enc.ciphertext_size()];
        let ct = enc
            .encrypt(&rsa::OAEP_SHA256_MGF1SHA256, &[5u8; 32], &mut out, None)
            .unwrap()
            .to_vec();
        let m = wk.unwrap(WrappingAlgorithm::RsaesOaepSha256, &ct).unwrap();
        assert_eq!(m.expose(), &[5u8; 32]);
        assert!(wk.unwrap(WrappingAlgorithm::RsaesOaepSha1, &ct).is_err());
        // AES key wrap with padding behind RSA.
        let aes = [9u8; 32];
        let mut out = vec![0u8; enc.ciphertext_size()];
        let mut wrapped = enc
            .encrypt(&rsa::OAEP_SHA256_MGF1SHA256, &aes, &mut out, None)
            .unwrap()
            .to_vec();
        let kek = AesKek::new(&AES_256, &aes).unwrap();
        let material = generate(KeySpec::EccNistP256).unwrap();
        let mut kwp = vec![0u8; material.len() + 16];
        let n = kek.wrap_with_padding(material.expose(), &mut kwp).unwrap().len();
        wrapped.extend_from_slice(&kwp[..n]);
        let got = wk.unwrap(WrappingAlgorithm::RsaAesKeyWrapSha256, &wrapped).unwrap();
        assert_eq!(got, material);
    }

    #[test]
    fn imported_ids_bind_key_and_material() {
        let k1 = KeyId::new_single_region([1; 16]);
        let k2 = KeyId::new_single_region([2; 16]);
        let m = Material::from_bytes([3u8; 32]);
        assert_eq!(imported_material_id(&k1, &m), imported_material_id(&k1, &m));
        assert_ne!(imported_material_id(&k1, &m), imported_material_id(&k2, &m));
        assert_ne!(
            imported_material_id(&k1, &m),
            imported_material_id(&k1, &Material::from_bytes([4u8; 32]))
        );
    }
}
