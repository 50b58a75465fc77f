//! Asymmetric, HMAC and imported keys over real gRPC with SigV4: every key
//! spec's operations, their AWS errors, and imported material's life
//! (wrapping, ValidTo expiry, re-import checks), with the fake clock.
//! Signatures and wrapped material are checked or made with aws-lc-rs
//! directly, independently of tern's own code paths.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair as _;
use aws_lc_rs::{digest, rsa, signature};
use common::*;
use tern_client::KmsClient;
use tern_core::time::MILLIS_PER_DAY;
use tern_proto::pb;

async fn key(c: &mut KmsClient, spec: &str, usage: &str) -> pb::KeyMetadata {
    create_key_with(
        c,
        pb::CreateKeyRequest {
            key_spec: Some(spec.into()),
            key_usage: Some(usage.into()),
            ..Default::default()
        },
    )
    .await
}

async fn public_key(c: &mut KmsClient, key_id: &str) -> pb::GetPublicKeyResponse {
    ok(c.get_public_key(pb::GetPublicKeyRequest {
        key_id: key_id.into(),
        ..Default::default()
    })
    .await)
}

fn sign_req(key_id: &str, alg: &str, mt: Option<&str>, msg: &[u8]) -> pb::SignRequest {
    pb::SignRequest {
        key_id: key_id.into(),
        message: msg.to_vec(),
        message_type: mt.map(str::to_string),
        signing_algorithm: alg.into(),
        ..Default::default()
    }
}

fn verify_req(key_id: &str, alg: &str, mt: Option<&str>, msg: &[u8], sig: &[u8]) -> pb::VerifyRequest {
    pb::VerifyRequest {
        key_id: key_id.into(),
        message: msg.to_vec(),
        message_type: mt.map(str::to_string),
        signature: sig.to_vec(),
        signing_algorithm: alg.into(),
        ..Default::default()
    }
}

/// The verification parameters aws-lc-rs uses for an AWS signing algorithm
/// on a key spec, and the digest it hashes with.
fn params(
    spec: &str,
    alg: &str,
) -> (
    &'static dyn signature::VerificationAlgorithm,
    &'static digest::Algorithm,
) {
    match (spec, alg) {
        (_, "RSASSA_PSS_SHA_256") => (&signature::RSA_PSS_2048_8192_SHA256, &digest::SHA256),
        (_, "RSASSA_PSS_SHA_384") => (&signature::RSA_PSS_2048_8192_SHA384, &digest::SHA384),
        (_, "RSASSA_PSS_SHA_512") => (&signature::RSA_PSS_2048_8192_SHA512, &digest::SHA512),
        (_, "RSASSA_PKCS1_V1_5_SHA_256") => (&signature::RSA_PKCS1_2048_8192_SHA256, &digest::SHA256),
        (_, "RSASSA_PKCS1_V1_5_SHA_384") => (&signature::RSA_PKCS1_2048_8192_SHA384, &digest::SHA384),
        (_, "RSASSA_PKCS1_V1_5_SHA_512") => (&signature::RSA_PKCS1_2048_8192_SHA512, &digest::SHA512),
        ("ECC_NIST_P256", _) => (&signature::ECDSA_P256_SHA256_ASN1, &digest::SHA256),
        ("ECC_SECG_P256K1", _) => (&signature::ECDSA_P256K1_SHA256_ASN1, &digest::SHA256),
        ("ECC_NIST_P384", _) => (&signature::ECDSA_P384_SHA384_ASN1, &digest::SHA384),
        ("ECC_NIST_P521", _) => (&signature::ECDSA_P521_SHA512_ASN1, &digest::SHA512),
        other => panic!("no parameters for {other:?}"),
    }
}

/// aws-lc-rs verifies with the SubjectPublicKeyInfo tern hands out.
fn independently_valid(spec: &str, alg: &str, spki: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let (p, _) = params(spec, alg);
    signature::ParsedPublicKey::new(p, spki)
        .map(|k| k.verify_sig(msg, sig).is_ok())
        .unwrap_or(false)
}

#[tokio::test]
async fn every_signing_spec_signs_raw_and_digest_and_verifies() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let msg = b"the message to sign";
    for spec in [
        "RSA_2048",
        "ECC_NIST_P256",
        "ECC_NIST_P384",
        "ECC_NIST_P521",
        "ECC_SECG_P256K1",
    ] {
        let md = key(&mut c, spec, "SIGN_VERIFY").await;
        assert_eq!(md.key_state, "Enabled");
        assert!(md.encryption_algorithms.is_empty());
        assert!(md.mac_algorithms.is_empty());
        assert!(!md.signing_algorithms.is_empty(), "{spec}");
        let pk = public_key(&mut c, &md.key_id).await;
        assert_eq!(pk.key_spec, spec);
        assert_eq!(pk.key_usage, "SIGN_VERIFY");
        assert_eq!(pk.signing_algorithms, md.signing_algorithms);
        for alg in &md.signing_algorithms {
            let s = ok(c.sign(sign_req(&md.key_id, alg, None, msg)).await);
            assert_eq!(s.key_id, md.arn);
            assert_eq!(&s.signing_algorithm, alg);
            assert!(
                independently_valid(spec, alg, &pk.public_key, msg, &s.signature),
                "{spec} {alg}"
            );
            let v = ok(c.verify(verify_req(&md.key_id, alg, None, msg, &s.signature)).await);
            assert!(v.signature_valid);
            // DIGEST: the caller hashed; the signature verifies as over the message.
            let d = digest::digest(params(spec, alg).1, msg);
            let ds = ok(c.sign(sign_req(&md.key_id, alg, Some("DIGEST"), d.as_ref())).await);
            assert!(independently_valid(spec, alg, &pk.public_key, msg, &ds.signature));
            ok(
                c.verify(verify_req(&md.key_id, alg, Some("DIGEST"), d.as_ref(), &ds.signature))
                    .await,
            );
            // A tampered signature: KMSInvalidSignatureException.
            let mut bad = s.signature.clone();
            let i = bad.len() / 2;
            bad[i] ^= 0x40;
            assert_err(
                c.verify(verify_req(&md.key_id, alg, None, msg, &bad)).await,
                "KMSInvalidSignatureException",
                "",
            );
            // A digest of the wrong length.
            assert_kind(
                c.sign(sign_req(&md.key_id, alg, Some("DIGEST"), &d.as_ref()[1..]))
                    .await,
                "ValidationException",
            );
        }
    }
    n.shutdown().await;
}

#[tokio::test]
async fn signing_errors_are_aws_errors() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let p256 = key(&mut c, "ECC_NIST_P256", "SIGN_VERIFY").await;
    let rsa_enc = key(&mut c, "RSA_2048", "ENCRYPT_DECRYPT").await;
    // Wrong algorithm for the key.
    let m = assert_kind(
        c.sign(sign_req(&p256.key_id, "ECDSA_SHA_384", None, b"x")).await,
        "InvalidKeyUsageException",
    );
    assert!(m.contains("ECDSA_SHA_384"), "{m}");
    assert_kind(
        c.sign(sign_req(&p256.key_id, "RSASSA_PSS_SHA_256", None, b"x")).await,
        "InvalidKeyUsageException",
    );
    // Wrong usage: an encryption key cannot sign, a signing key cannot encrypt.
    assert_err(
        c.sign(sign_req(&rsa_enc.key_id, "RSASSA_PSS_SHA_256", None, b"x"))
            .await,
        "InvalidKeyUsageException",
        &format!(
            "{} key usage is ENCRYPT_DECRYPT which is not valid for Sign.",
            rsa_enc.arn
        ),
    );
    assert_kind(
        c.encrypt(pb::EncryptRequest {
            key_id: p256.key_id.clone(),
            plaintext: b"x".to_vec(),
            ..Default::default()
        })
        .await,
        "InvalidKeyUsageException",
    );
    // Oversized message, unknown algorithm, missing algorithm.
    assert_kind(
        c.sign(sign_req(&p256.key_id, "ECDSA_SHA_256", None, &[0u8; 4097]))
            .await,
        "ValidationException",
    );
    assert_kind(
        c.sign(sign_req(&p256.key_id, "ECDSA_SHA_999", None, b"x")).await,
        "ValidationException",
    );
    assert_kind(
        c.sign(sign_req(&p256.key_id, "", None, b"x")).await,
        "ValidationException",
    );
    // Symmetric keys have no public key; HMAC keys neither.
    let sym = create_key(&mut c).await;
    assert_kind(
        c.get_public_key(pb::GetPublicKeyRequest {
            key_id: sym.key_id.clone(),
            ..Default::default()
        })
        .await,
        "UnsupportedOperationException",
    );
    // Disabled keys do not sign.
    disable(&mut c, &p256.key_id).await;
    assert_kind(
        c.sign(sign_req(&p256.key_id, "ECDSA_SHA_256", None, b"x")).await,
        "DisabledException",
    );
    // DryRun.
    ok(c.enable_key(pb::EnableKeyRequest {
        key_id: p256.key_id.clone(),
    })
    .await);
    let mut r = sign_req(&p256.key_id, "ECDSA_SHA_256", None, b"x");
    r.dry_run = Some(true);
    assert_kind(c.sign(r).await, "DryRunOperationException");
    n.shutdown().await;
}

async fn disable(c: &mut KmsClient, key_id: &str) {
    ok(c.disable_key(pb::DisableKeyRequest { key_id: key_id.into() }).await);
}

#[tokio::test]
async fn create_key_spec_and_usage_rules() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    for (spec, usage) in [
        ("ECC_NIST_P256", "ENCRYPT_DECRYPT"),
        ("ECC_SECG_P256K1", "KEY_AGREEMENT"),
        ("HMAC_256", "SIGN_VERIFY"),
        ("RSA_2048", "GENERATE_VERIFY_MAC"),
        ("RSA_2048", "KEY_AGREEMENT"),
        ("SYMMETRIC_DEFAULT", "SIGN_VERIFY"),
    ] {
        assert_err(
            c.create_key(pb::CreateKeyRequest {
                key_spec: Some(spec.into()),
                key_usage: Some(usage.into()),
                ..Default::default()
            })
            .await,
            "ValidationException",
            &format!("KeyUsage {usage} is not compatible with KeySpec {spec}"),
        );
    }
    assert_kind(
        c.create_key(pb::CreateKeyRequest {
            key_spec: Some("SM2".into()),
            key_usage: Some("SIGN_VERIFY".into()),
            ..Default::default()
        })
        .await,
        "UnsupportedOperationException",
    );
    for (spec, mac) in [
        ("HMAC_224", "HMAC_SHA_224"),
        ("HMAC_256", "HMAC_SHA_256"),
        ("HMAC_384", "HMAC_SHA_384"),
        ("HMAC_512", "HMAC_SHA_512"),
    ] {
        let md = key(&mut c, spec, "GENERATE_VERIFY_MAC").await;
        assert_eq!(md.mac_algorithms, vec![mac.to_string()]);
    }
    let md = key(&mut c, "ECC_NIST_P384", "KEY_AGREEMENT").await;
    assert_eq!(md.key_agreement_algorithms, vec!["ECDH".to_string()]);
    let md = key(&mut c, "RSA_3072", "ENCRYPT_DECRYPT").await;
    assert_eq!(md.encryption_algorithms, vec!["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]);
    // Asymmetric keys do not rotate.
    assert_kind(
        c.enable_key_rotation(pb::EnableKeyRotationRequest {
            key_id: md.key_id.clone(),
            ..Default::default()
        })
        .await,
        "UnsupportedOperationException",
    );
    n.shutdown().await;
}

#[tokio::test]
async fn rsa_oaep_encrypts_with_the_public_key_and_decrypts_in_tern() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = key(&mut c, "RSA_2048", "ENCRYPT_DECRYPT").await;
    let pk = public_key(&mut c, &md.key_id).await;
    let public = rsa::PublicEncryptingKey::from_der(&pk.public_key).unwrap();
    let enc = rsa::OaepPublicEncryptingKey::new(public).unwrap();
    for (alg, oaep, max) in [
        ("RSAES_OAEP_SHA_1", &rsa::OAEP_SHA1_MGF1SHA1, 214),
        ("RSAES_OAEP_SHA_256", &rsa::OAEP_SHA256_MGF1SHA256, 190),
    ] {
        // Encrypted outside tern with the public key, decrypted in tern.
        let pt = vec![0x5a; max];
        let mut out = vec![0u8; enc.ciphertext_size()];
        let ct = enc.encrypt(oaep, &pt, &mut out, None).unwrap().to_vec();
        let d = ok(c
            .decrypt(pb::DecryptRequest {
                ciphertext_blob: ct.clone(),
                key_id: Some(md.key_id.clone()),
                encryption_algorithm: Some(alg.into()),
                ..Default::default()
            })
            .await);
        assert_eq!(d.plaintext, pt);
        assert_eq!(d.encryption_algorithm, alg);
        assert_eq!(d.key_id, md.arn);
        // tern's own Encrypt round-trips; one byte over the limit does not.
        let e = ok(c
            .encrypt(pb::EncryptRequest {
                key_id: md.key_id.clone(),
                plaintext: pt.clone(),
                encryption_algorithm: Some(alg.into()),
                ..Default::default()
            })
            .await);
        assert_eq!(e.ciphertext_blob.len(), 256);
        assert_eq!(e.encryption_algorithm, alg);
        let mut over = pb::EncryptRequest {
            key_id: md.key_id.clone(),
            plaintext: vec![1; max + 1],
            encryption_algorithm: Some(alg.into()),
            ..Default::default()
        };
        assert_kind(c.encrypt(over.clone()).await, "ValidationException");
        // Wrong algorithm for an RSA key, and an encryption context.
        over.plaintext = vec![1];
        over.encryption_algorithm = None;
        assert_kind(c.encrypt(over.clone()).await, "InvalidKeyUsageException");
        over.encryption_algorithm = Some(alg.into());
        over.encryption_context = [("a".to_string(), "b".to_string())].into();
        assert_kind(c.encrypt(over).await, "ValidationException");
        // Without the KeyId, the raw RSA ciphertext names no key.
        assert_err(
            c.decrypt(pb::DecryptRequest {
                ciphertext_blob: ct.clone(),
                encryption_algorithm: Some(alg.into()),
                ..Default::default()
            })
            .await,
            "InvalidCiphertextException",
            "",
        );
        let mut bad = ct.clone();
        bad[7] ^= 1;
        assert_err(
            c.decrypt(pb::DecryptRequest {
                ciphertext_blob: bad,
                key_id: Some(md.key_id.clone()),
                encryption_algorithm: Some(alg.into()),
                ..Default::default()
            })
            .await,
            "InvalidCiphertextException",
            "",
        );
    }
    // GenerateDataKey needs a symmetric key.
    assert_kind(
        c.generate_data_key(pb::GenerateDataKeyRequest {
            key_id: md.key_id.clone(),
            key_spec: Some("AES_256".into()),
            ..Default::default()
        })
        .await,
        "InvalidKeyUsageException",
    );
    n.shutdown().await;
}

#[tokio::test]
async fn hmac_keys_generate_and_verify_macs() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    for (spec, alg, len) in [
        ("HMAC_224", "HMAC_SHA_224", 28),
        ("HMAC_256", "HMAC_SHA_256", 32),
        ("HMAC_384", "HMAC_SHA_384", 48),
        ("HMAC_512", "HMAC_SHA_512", 64),
    ] {
        let md = key(&mut c, spec, "GENERATE_VERIFY_MAC").await;
        let m = ok(c
            .generate_mac(pb::GenerateMacRequest {
                key_id: md.key_id.clone(),
                message: b"mac me".to_vec(),
                mac_algorithm: alg.into(),
                ..Default::default()
            })
            .await);
        assert_eq!(m.mac.len(), len);
        assert_eq!(m.mac_algorithm, alg);
        let mut v = pb::VerifyMacRequest {
            key_id: md.key_id.clone(),
            message: b"mac me".to_vec(),
            mac_algorithm: alg.into(),
            mac: m.mac.clone(),
            ..Default::default()
        };
        assert!(ok(c.verify_mac(v.clone()).await).mac_valid);
        v.mac[0] ^= 1;
        assert_err(c.verify_mac(v.clone()).await, "KMSInvalidMacException", "");
        v.mac_algorithm = if alg == "HMAC_SHA_256" {
            "HMAC_SHA_384"
        } else {
            "HMAC_SHA_256"
        }
        .into();
        assert_kind(c.verify_mac(v).await, "InvalidKeyUsageException");
    }
    n.shutdown().await;
}

#[tokio::test]
async fn ecdh_keys_agree_on_a_shared_secret() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    for spec in ["ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521"] {
        let a = key(&mut c, spec, "KEY_AGREEMENT").await;
        let b = key(&mut c, spec, "KEY_AGREEMENT").await;
        let pa = public_key(&mut c, &a.key_id).await.public_key;
        let pb_ = public_key(&mut c, &b.key_id).await.public_key;
        let derive = |key_id: &str, public: &[u8]| pb::DeriveSharedSecretRequest {
            key_id: key_id.into(),
            key_agreement_algorithm: "ECDH".into(),
            public_key: public.to_vec(),
            ..Default::default()
        };
        let s1 = ok(c.derive_shared_secret(derive(&a.key_id, &pb_)).await);
        let s2 = ok(c.derive_shared_secret(derive(&b.key_id, &pa)).await);
        assert_eq!(s1.shared_secret, s2.shared_secret);
        assert_eq!(s1.key_origin, "AWS_KMS");
        assert_eq!(s1.key_agreement_algorithm, "ECDH");
        assert_kind(
            c.derive_shared_secret(derive(&a.key_id, b"not a key")).await,
            "ValidationException",
        );
    }
    let sign = key(&mut c, "ECC_NIST_P256", "SIGN_VERIFY").await;
    let other = key(&mut c, "ECC_NIST_P256", "KEY_AGREEMENT").await;
    let pk = public_key(&mut c, &other.key_id).await.public_key;
    assert_kind(
        c.derive_shared_secret(pb::DeriveSharedSecretRequest {
            key_id: sign.key_id.clone(),
            key_agreement_algorithm: "ECDH".into(),
            public_key: pk,
            ..Default::default()
        })
        .await,
        "InvalidKeyUsageException",
    );
    n.shutdown().await;
}

#[tokio::test]
async fn data_key_pairs_are_encrypted_under_a_symmetric_key() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let sym = create_key(&mut c).await;
    for spec in [
        "RSA_2048",
        "ECC_NIST_P256",
        "ECC_NIST_P384",
        "ECC_NIST_P521",
        "ECC_SECG_P256K1",
    ] {
        let p = ok(c
            .generate_data_key_pair(pb::GenerateDataKeyPairRequest {
                key_id: sym.key_id.clone(),
                key_pair_spec: spec.into(),
                encryption_context: [("purpose".to_string(), "test".to_string())].into(),
                ..Default::default()
            })
            .await);
        assert_eq!(p.key_pair_spec, spec);
        assert_eq!(p.key_id, sym.arn);
        assert!(p.public_key.starts_with(&[0x30]));
        let d = ok(c
            .decrypt(pb::DecryptRequest {
                ciphertext_blob: p.private_key_ciphertext_blob.clone(),
                encryption_context: [("purpose".to_string(), "test".to_string())].into(),
                ..Default::default()
            })
            .await);
        assert_eq!(d.plaintext, p.private_key_plaintext);
        // The private key is the public key's pair.
        let public_of_private = if spec.starts_with("RSA") {
            rsa::KeyPair::from_pkcs8(&p.private_key_plaintext)
                .unwrap()
                .public_key()
                .as_der()
                .unwrap()
                .as_ref()
                .to_vec()
        } else {
            let alg = match spec {
                "ECC_NIST_P256" => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                "ECC_NIST_P384" => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                "ECC_NIST_P521" => &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
                _ => &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
            };
            signature::EcdsaKeyPair::from_pkcs8(alg, &p.private_key_plaintext)
                .unwrap()
                .public_key()
                .as_der()
                .unwrap()
                .as_ref()
                .to_vec()
        };
        assert_eq!(public_of_private, p.public_key, "{spec}");
    }
    let w = ok(c
        .generate_data_key_pair_without_plaintext(pb::GenerateDataKeyPairWithoutPlaintextRequest {
            key_id: sym.key_id.clone(),
            key_pair_spec: "ECC_NIST_P256".into(),
            ..Default::default()
        })
        .await);
    assert!(!w.private_key_ciphertext_blob.is_empty());
    let asym = key(&mut c, "RSA_2048", "ENCRYPT_DECRYPT").await;
    assert_kind(
        c.generate_data_key_pair(pb::GenerateDataKeyPairRequest {
            key_id: asym.key_id.clone(),
            key_pair_spec: "ECC_NIST_P256".into(),
            ..Default::default()
        })
        .await,
        "InvalidKeyUsageException",
    );
    assert_kind(
        c.generate_data_key_pair(pb::GenerateDataKeyPairRequest {
            key_id: sym.key_id.clone(),
            key_pair_spec: "RSA_1024".into(),
            ..Default::default()
        })
        .await,
        "ValidationException",
    );
    n.shutdown().await;
}

async fn params_for_import(c: &mut KmsClient, key_id: &str, alg: &str) -> pb::GetParametersForImportResponse {
    ok(c.get_parameters_for_import(pb::GetParametersForImportRequest {
        key_id: key_id.into(),
        wrapping_algorithm: alg.into(),
        wrapping_key_spec: "RSA_2048".into(),
    })
    .await)
}

fn import_req(key_id: &str, p: &pb::GetParametersForImportResponse, wrapped: Vec<u8>) -> pb::ImportKeyMaterialRequest {
    pb::ImportKeyMaterialRequest {
        key_id: key_id.into(),
        import_token: p.import_token.clone(),
        encrypted_key_material: wrapped,
        expiration_model: Some("KEY_MATERIAL_DOES_NOT_EXPIRE".into()),
        ..Default::default()
    }
}

async fn external_key(c: &mut KmsClient, spec: &str, usage: Option<&str>) -> pb::KeyMetadata {
    create_key_with(
        c,
        pb::CreateKeyRequest {
            key_spec: Some(spec.into()),
            key_usage: usage.map(str::to_string),
            origin: Some("EXTERNAL".into()),
            ..Default::default()
        },
    )
    .await
}

#[tokio::test]
async fn imported_symmetric_material_lives_until_valid_to_and_reimports_only_itself() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = external_key(&mut c, "SYMMETRIC_DEFAULT", None).await;
    assert_eq!(md.key_state, "PendingImport");
    assert_eq!(md.origin, "EXTERNAL");
    assert_eq!(md.current_key_material_id, None);
    assert_kind(
        c.encrypt(pb::EncryptRequest {
            key_id: md.key_id.clone(),
            plaintext: b"x".to_vec(),
            ..Default::default()
        })
        .await,
        "KMSInvalidStateException",
    );
    let material = [7u8; 32];
    let p = params_for_import(&mut c, &md.key_id, "RSAES_OAEP_SHA_256").await;
    assert_eq!(
        p.parameters_valid_to,
        Some(START.plus_millis(MILLIS_PER_DAY).as_epoch_seconds())
    );
    // Expiring material: ValidTo required, then honoured.
    let mut r = import_req(
        &md.key_id,
        &p,
        wrap_for_import(&p.public_key, "RSAES_OAEP_SHA_256", &material),
    );
    r.expiration_model = None;
    assert_kind(c.import_key_material(r.clone()).await, "ValidationException");
    let valid_to = START.plus_millis(10 * MILLIS_PER_DAY);
    r.valid_to = Some(valid_to.as_epoch_seconds());
    let imported = ok(c.import_key_material(r.clone()).await);
    let material_id = imported.key_material_id.clone().unwrap();
    let d = describe(&mut c, &md.key_id).await;
    assert_eq!(d.key_state, "Enabled");
    assert_eq!(d.valid_to, Some(valid_to.as_epoch_seconds()));
    assert_eq!(d.expiration_model.as_deref(), Some("KEY_MATERIAL_EXPIRES"));
    assert_eq!(d.current_key_material_id.as_deref(), Some(material_id.as_str()));
    let blob = encrypt(&mut c, &md.key_id, b"before expiry").await.ciphertext_blob;
    assert_eq!(decrypt(&mut c, &blob).await.plaintext, b"before expiry");

    // At ValidTo the key is PendingImport at once; the sweep records it.
    n.advance_days(10);
    assert_kind(
        c.decrypt(pb::DecryptRequest {
            ciphertext_blob: blob.clone(),
            ..Default::default()
        })
        .await,
        "KMSInvalidStateException",
    );
    assert_eq!(n.run_due_tasks().await.expired, 1);
    let d = describe(&mut c, &md.key_id).await;
    assert_eq!(d.key_state, "PendingImport");
    // AWS still shows the (expired, deleted) current material's id.
    assert_eq!(d.current_key_material_id.as_deref(), Some(material_id.as_str()));
    assert_eq!(d.expiration_model, None);
    assert!(n
        .audit_records()
        .iter()
        .any(|r| r["eventName"] == "DeleteExpiredKeyMaterial"));

    // The old token has expired (24 h); fresh parameters are needed.
    r.valid_to = Some(n.now().plus_millis(MILLIS_PER_DAY).as_epoch_seconds());
    assert_kind(c.import_key_material(r).await, "ExpiredImportTokenException");
    let p2 = params_for_import(&mut c, &md.key_id, "RSA_AES_KEY_WRAP_SHA_256").await;
    // Different material is refused; the same material comes back with the same id.
    let other = import_req(
        &md.key_id,
        &p2,
        wrap_for_import(&p2.public_key, "RSA_AES_KEY_WRAP_SHA_256", &[8u8; 32]),
    );
    assert_kind(c.import_key_material(other).await, "IncorrectKeyMaterialException");
    let same = import_req(
        &md.key_id,
        &p2,
        wrap_for_import(&p2.public_key, "RSA_AES_KEY_WRAP_SHA_256", &material),
    );
    let again = ok(c.import_key_material(same).await);
    assert_eq!(again.key_material_id.as_deref(), Some(material_id.as_str()));
    assert_eq!(decrypt(&mut c, &blob).await.plaintext, b"before expiry");
    // A superseded token no longer works; neither does another key's.
    let p3 = params_for_import(&mut c, &md.key_id, "RSAES_OAEP_SHA_256").await;
    let stale = import_req(
        &md.key_id,
        &p2,
        wrap_for_import(&p2.public_key, "RSA_AES_KEY_WRAP_SHA_256", &material),
    );
    assert_kind(c.import_key_material(stale).await, "InvalidImportTokenException");
    let md2 = external_key(&mut c, "SYMMETRIC_DEFAULT", None).await;
    let foreign = import_req(
        &md2.key_id,
        &p3,
        wrap_for_import(&p3.public_key, "RSAES_OAEP_SHA_256", &material),
    );
    assert_kind(c.import_key_material(foreign).await, "InvalidImportTokenException");
    // Garbage wrapped material.
    assert_kind(
        c.import_key_material(import_req(&md.key_id, &p3, vec![1u8; 256])).await,
        "InvalidCiphertextException",
    );

    // DeleteImportedKeyMaterial: back to PendingImport.
    let del = ok(c
        .delete_imported_key_material(pb::DeleteImportedKeyMaterialRequest {
            key_id: md.key_id.clone(),
            ..Default::default()
        })
        .await);
    assert_eq!(del.key_material_id.as_deref(), Some(material_id.as_str()));
    assert_eq!(describe(&mut c, &md.key_id).await.key_state, "PendingImport");
    // A key pending import does not rotate (its state refuses it).
    assert_kind(
        c.rotate_key_on_demand(pb::RotateKeyOnDemandRequest {
            key_id: md.key_id.clone(),
        })
        .await,
        "KMSInvalidStateException",
    );
    // Import operations need an EXTERNAL key.
    let native = create_key(&mut c).await;
    assert_err(
        c.get_parameters_for_import(pb::GetParametersForImportRequest {
            key_id: native.key_id.clone(),
            wrapping_algorithm: "RSAES_OAEP_SHA_256".into(),
            wrapping_key_spec: "RSA_2048".into(),
        })
        .await,
        "UnsupportedOperationException",
        &format!(
            "{} origin is AWS_KMS which is not valid for this operation.",
            native.arn
        ),
    );
    n.shutdown().await;
}

async fn rotations_of(c: &mut KmsClient, key_id: &str, all: bool) -> Vec<pb::RotationsListEntry> {
    ok(c.list_key_rotations(pb::ListKeyRotationsRequest {
        key_id: key_id.into(),
        include_key_material: all.then(|| "ALL_KEY_MATERIAL".to_string()),
        ..Default::default()
    })
    .await)
    .rotations
}

/// Imports `material` into `key` with `import_type`; the new material's id.
async fn import_material(
    c: &mut KmsClient,
    key: &str,
    material: &[u8],
    import_type: Option<&str>,
) -> Result<String, String> {
    let p = params_for_import(c, key, "RSAES_OAEP_SHA_256").await;
    let mut r = import_req(key, &p, wrap_for_import(&p.public_key, "RSAES_OAEP_SHA_256", material));
    r.import_type = import_type.map(str::to_string);
    c.import_key_material(r)
        .await
        .map(|r| r.into_inner().key_material_id.unwrap())
        .map_err(|s| format!("{} {}", tern_client::error_kind(&s).unwrap_or("?"), s.message()))
}

/// AWS 2025: imported key material rotates. NEW_KEY_MATERIAL imports a
/// material pending rotation; RotateKeyOnDemand makes it current; older
/// materials keep decrypting; ListKeyRotations shows each with its import
/// state; DeleteImportedKeyMaterial deletes one material (its ciphertexts
/// fail, the others work) and the same material imported again brings them
/// back.
#[tokio::test]
async fn imported_key_material_rotates_with_new_key_material() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = external_key(&mut c, "SYMMETRIC_DEFAULT", None).await;
    let arn = md.arn.clone();
    // Nothing imported: the key is pending import, whatever the request.
    assert_err(
        c.rotate_key_on_demand(pb::RotateKeyOnDemandRequest {
            key_id: md.key_id.clone(),
        })
        .await,
        "KMSInvalidStateException",
        &format!("{arn} is pending import."),
    );
    // The first import (NEW_KEY_MATERIAL by default for an empty key).
    let first = import_material(&mut c, &md.key_id, &[1u8; 32], None).await.unwrap();
    let blob1 = encrypt(&mut c, &md.key_id, b"under the first").await.ciphertext_blob;
    assert_err(
        c.rotate_key_on_demand(pb::RotateKeyOnDemandRequest {
            key_id: md.key_id.clone(),
        })
        .await,
        "KMSInvalidStateException",
        &format!("No available key material pending rotation for the key: {arn}."),
    );
    // Without ImportType, a key with material takes EXISTING: other
    // material is refused.
    let e = import_material(&mut c, &md.key_id, &[2u8; 32], None).await.unwrap_err();
    assert!(e.starts_with("IncorrectKeyMaterialException"), "{e}");

    // A new material, pending rotation: the first still encrypts.
    let second = import_material(&mut c, &md.key_id, &[2u8; 32], Some("NEW_KEY_MATERIAL"))
        .await
        .unwrap();
    assert_ne!(second, first);
    assert_eq!(
        describe(&mut c, &md.key_id).await.current_key_material_id.as_deref(),
        Some(first.as_str())
    );
    let e = import_material(&mut c, &md.key_id, &[3u8; 32], Some("NEW_KEY_MATERIAL"))
        .await
        .unwrap_err();
    let third_id = tern_core::material::imported_material_id(
        &tern_core::ids::KeyId::parse(&md.key_id).unwrap(),
        &tern_core::crypto::Material::from_bytes([3u8; 32]),
    );
    assert_eq!(
        e,
        format!("KMSInvalidStateException New key material (id: {third_id}) cannot be imported into KMS key {}, because another key material (id: {second}) is pending rotation.", md.key_id)
    );
    let all = rotations_of(&mut c, &md.key_id, true).await;
    let states: Vec<_> = all
        .iter()
        .map(|r| {
            (
                r.key_material_id.clone().unwrap(),
                r.key_material_state.clone().unwrap(),
                r.import_state.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            (first.clone(), "CURRENT".to_string(), "IMPORTED".to_string()),
            (second.clone(), "PENDING_ROTATION".to_string(), "IMPORTED".to_string()),
        ]
    );
    assert_eq!(all[0].expiration_model.as_deref(), Some("KEY_MATERIAL_DOES_NOT_EXPIRE"));
    assert!(rotations_of(&mut c, &md.key_id, false).await.is_empty());

    // Rotate: the second becomes current; the first keeps decrypting.
    let r = ok(c
        .rotate_key_on_demand(pb::RotateKeyOnDemandRequest {
            key_id: md.key_id.clone(),
        })
        .await);
    assert_eq!(r.key_id, arn);
    assert_eq!(
        describe(&mut c, &md.key_id).await.current_key_material_id.as_deref(),
        Some(second.as_str())
    );
    let blob2 = encrypt(&mut c, &md.key_id, b"under the second").await.ciphertext_blob;
    assert_eq!(
        decrypt(&mut c, &blob2).await.key_material_id.as_deref(),
        Some(second.as_str())
    );
    assert_eq!(decrypt(&mut c, &blob1).await.plaintext, b"under the first");
    let rotated = rotations_of(&mut c, &md.key_id, false).await;
    assert_eq!(rotated.len(), 1);
    assert_eq!(rotated[0].key_material_id.as_deref(), Some(second.as_str()));
    assert_eq!(rotated[0].rotation_type.as_deref(), Some("ON_DEMAND"));
    assert_eq!(rotated[0].key_material_state.as_deref(), Some("CURRENT"));

    // Delete the first material: its ciphertexts fail, the others work,
    // the key stays Enabled.
    let del = ok(c
        .delete_imported_key_material(pb::DeleteImportedKeyMaterialRequest {
            key_id: md.key_id.clone(),
            key_material_id: Some(first.clone()),
        })
        .await);
    assert_eq!(del.key_material_id.as_deref(), Some(first.as_str()));
    assert_eq!(describe(&mut c, &md.key_id).await.key_state, "Enabled");
    assert_kind(c.decrypt(decrypt_req(&blob1)).await, "KMSInvalidStateException");
    assert_eq!(decrypt(&mut c, &blob2).await.plaintext, b"under the second");
    let all = rotations_of(&mut c, &md.key_id, true).await;
    assert_eq!(all[0].import_state.as_deref(), Some("PENDING_IMPORT"));
    assert_eq!(all[0].key_material_state.as_deref(), Some("NON_CURRENT"));
    // The same material again (EXISTING, by id) brings its ciphertexts back.
    let p = params_for_import(&mut c, &md.key_id, "RSAES_OAEP_SHA_256").await;
    let mut again = import_req(
        &md.key_id,
        &p,
        wrap_for_import(&p.public_key, "RSAES_OAEP_SHA_256", &[1u8; 32]),
    );
    again.import_type = Some("EXISTING_KEY_MATERIAL".into());
    again.key_material_id = Some(first.clone());
    ok(c.import_key_material(again).await);
    assert_eq!(decrypt(&mut c, &blob1).await.plaintext, b"under the first");
    assert_eq!(
        describe(&mut c, &md.key_id).await.current_key_material_id.as_deref(),
        Some(second.as_str())
    );
    let blob3 = encrypt(&mut c, &md.key_id, b"still the second").await.ciphertext_blob;
    assert_eq!(
        decrypt(&mut c, &blob3).await.key_material_id.as_deref(),
        Some(second.as_str())
    );
    // Deleting the current material: PendingImport, CurrentKeyMaterialId
    // still shown (as AWS does).
    ok(c.delete_imported_key_material(pb::DeleteImportedKeyMaterialRequest {
        key_id: md.key_id.clone(),
        key_material_id: None,
    })
    .await);
    let d = describe(&mut c, &md.key_id).await;
    assert_eq!(d.key_state, "PendingImport");
    assert_eq!(d.current_key_material_id.as_deref(), Some(second.as_str()));
    assert_eq!(d.expiration_model, None);

    // Only symmetric encryption keys take new material.
    let hmac = external_key(&mut c, "HMAC_256", Some("GENERATE_VERIFY_MAC")).await;
    import_material(&mut c, &hmac.key_id, &[5u8; 32], None).await.unwrap();
    let e = import_material(&mut c, &hmac.key_id, &[6u8; 32], Some("NEW_KEY_MATERIAL"))
        .await
        .unwrap_err();
    assert!(e.starts_with("UnsupportedOperationException"), "{e}");
    n.shutdown().await;
}

#[tokio::test]
async fn imported_asymmetric_and_hmac_material_works_and_is_checked_against_the_spec() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    // An ECC P-256 signing key from outside, imported with AES key wrap.
    let kp = signature::EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let pkcs8 = kp.to_pkcs8v1().unwrap().as_ref().to_vec();
    let md = external_key(&mut c, "ECC_NIST_P256", Some("SIGN_VERIFY")).await;
    let p = params_for_import(&mut c, &md.key_id, "RSA_AES_KEY_WRAP_SHA_256").await;
    // RSA-OAEP alone cannot carry a private key this size with the wrong
    // algorithm; the wrong spec is refused.
    let p384 = signature::EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_ASN1_SIGNING).unwrap();
    let wrong = import_req(
        &md.key_id,
        &p,
        wrap_for_import(
            &p.public_key,
            "RSA_AES_KEY_WRAP_SHA_256",
            p384.to_pkcs8v1().unwrap().as_ref(),
        ),
    );
    assert_kind(c.import_key_material(wrong).await, "IncorrectKeyMaterialException");
    ok(c.import_key_material(import_req(
        &md.key_id,
        &p,
        wrap_for_import(&p.public_key, "RSA_AES_KEY_WRAP_SHA_256", &pkcs8),
    ))
    .await);
    let spki = kp.public_key().as_der().unwrap().as_ref().to_vec();
    assert_eq!(public_key(&mut c, &md.key_id).await.public_key, spki);
    let s = ok(c.sign(sign_req(&md.key_id, "ECDSA_SHA_256", None, b"imported")).await);
    assert!(independently_valid(
        "ECC_NIST_P256",
        "ECDSA_SHA_256",
        &spki,
        b"imported",
        &s.signature
    ));

    // HMAC: the MAC equals one computed with the known key.
    let hkey = [0x11u8; 40];
    let hm = external_key(&mut c, "HMAC_256", Some("GENERATE_VERIFY_MAC")).await;
    let p = params_for_import(&mut c, &hm.key_id, "RSAES_OAEP_SHA_256").await;
    assert_kind(
        c.import_key_material(import_req(
            &hm.key_id,
            &p,
            wrap_for_import(&p.public_key, "RSAES_OAEP_SHA_256", &[1u8; 31]),
        ))
        .await,
        "IncorrectKeyMaterialException",
    );
    ok(c.import_key_material(import_req(
        &hm.key_id,
        &p,
        wrap_for_import(&p.public_key, "RSAES_OAEP_SHA_256", &hkey),
    ))
    .await);
    let mac = ok(c
        .generate_mac(pb::GenerateMacRequest {
            key_id: hm.key_id.clone(),
            message: b"m".to_vec(),
            mac_algorithm: "HMAC_SHA_256".into(),
            ..Default::default()
        })
        .await)
    .mac;
    let want = aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &hkey), b"m");
    assert_eq!(mac, want.as_ref());
    n.shutdown().await;
}
