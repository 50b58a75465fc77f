//! Client-supplied key material and public keys never panic tern: imported
//! material (`check_import`, for every key spec and usage), a peer public
//! key for DeriveSharedSecret, a signature or MAC to verify, and wrapped
//! material for ImportKeyMaterial are refused with an error, whatever the
//! bytes.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tern_core::key::{KeySpec, KeyUsage, MessageType, SigningAlgorithm, WrappingAlgorithm};
use tern_core::material::{self, KeyHandle, WrappingKey};

/// Keys made once (generation is slow): a P-256 ECDH key, a P-256 signing
/// key, an HMAC key, and a 2048-bit wrapping key.
fn fixtures() -> &'static (KeyHandle, KeyHandle, KeyHandle, WrappingKey) {
    static F: OnceLock<(KeyHandle, KeyHandle, KeyHandle, WrappingKey)> = OnceLock::new();
    F.get_or_init(|| {
        let ecc = material::generate(KeySpec::EccNistP256).expect("generate");
        let hmac = material::generate(KeySpec::Hmac256).expect("generate");
        let (wrapping, _) = WrappingKey::generate(2048).expect("generate");
        (
            KeyHandle::load(KeySpec::EccNistP256, KeyUsage::KeyAgreement, &ecc).expect("load"),
            KeyHandle::load(KeySpec::EccNistP256, KeyUsage::SignVerify, &ecc).expect("load"),
            KeyHandle::load(KeySpec::Hmac256, KeyUsage::GenerateVerifyMac, &hmac).expect("load"),
            WrappingKey::from_pkcs8(&wrapping).expect("load"),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let specs: Vec<(KeySpec, KeyUsage)> = KeySpec::ALL
        .iter()
        .flat_map(|s| s.usages().unwrap_or(&[]).iter().map(move |u| (*s, *u)))
        .collect();
    let (spec, usage) = specs[usize::from(selector) % specs.len()];
    // Imported material of any spec: accepted only if it is a key of it.
    if let Ok(m) = material::check_import(spec, usage, rest) {
        assert!(KeyHandle::load(spec, usage, &m).is_ok());
    }
    let (ecdh, ecdsa, hmac, wrapping) = fixtures();
    let _ = ecdh.derive_shared_secret(rest);
    let mt = if selector & 1 == 0 { MessageType::Raw } else { MessageType::Digest };
    assert!(!matches!(ecdsa.verify(SigningAlgorithm::EcdsaSha256, mt, b"message", rest), Ok(true)));
    let _ = ecdsa.verify(SigningAlgorithm::EcdsaSha256, MessageType::Digest, rest, rest);
    assert!(!matches!(hmac.verify_mac(b"message", rest), Ok(true)));
    for alg in [WrappingAlgorithm::RsaesOaepSha256, WrappingAlgorithm::RsaAesKeyWrapSha256] {
        let _ = wrapping.unwrap(alg, rest);
    }
});
