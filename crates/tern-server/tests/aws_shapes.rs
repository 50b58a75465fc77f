//! Every AWS JSON operation tern serves, called as an SDK would, with each
//! answer checked against AWS's output shape (botocore's model, through
//! `tern_server::aws_shape::check_output`): no member outside the shape, no
//! empty list or string where AWS leaves the member out, errors as
//! `{"__type"}` plus a message only when it has one. Whole responses of the
//! kinds AWS has recorded are compared with ids, ARNs, dates and blobs
//! normalized.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use common::*;
use serde_json::{json, Value};
use tern_client::json::JsonClient;
use tern_client::Credentials;

/// Calls `op` and checks the answer's shape; records which operations
/// answered success and which answered an error.
struct Tour {
    json: JsonClient,
    ok: BTreeSet<String>,
    errors: BTreeMap<String, BTreeSet<String>>,
}

impl Tour {
    async fn call(&mut self, op: &str, body: Value) -> Result<Value, (String, Option<String>)> {
        let r = self
            .json
            .call(op, bytes::Bytes::from(serde_json::to_vec(&body).unwrap()))
            .await
            .unwrap();
        let v: Value = if r.body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(&r.body).unwrap()
        };
        if r.status.is_success() {
            let f = tern_server::aws_shape::check_output(op, &v);
            assert!(f.is_clean(), "{op} {body}: answer {v} does not fit AWS's shape: {f:?}");
            if v.as_object().is_some_and(|o| o.is_empty()) {
                assert!(r.body.is_empty(), "{op}: an answer without members has an empty body");
            }
            self.ok.insert(op.to_string());
            Ok(v)
        } else {
            let obj = v.as_object().unwrap_or_else(|| panic!("{op}: error body {v}"));
            let kind = obj["__type"].as_str().unwrap().to_string();
            for k in obj.keys() {
                assert!(k == "__type" || k == "message", "{op}: error member {k} in {v}");
            }
            let message = obj.get("message").map(|m| m.as_str().unwrap().to_string());
            assert_ne!(
                message.as_deref(),
                Some(""),
                "{op}: an empty message is absent in AWS's answers"
            );
            self.errors.entry(op.to_string()).or_default().insert(kind.clone());
            Err((kind, message))
        }
    }

    async fn ok(&mut self, op: &str, body: Value) -> Value {
        match self.call(op, body.clone()).await {
            Ok(v) => v,
            Err(e) => panic!("{op} {body}: {e:?}"),
        }
    }

    async fn err(&mut self, op: &str, body: Value, kind: &str) -> Option<String> {
        match self.call(op, body.clone()).await {
            Ok(v) => panic!("{op} {body}: expected {kind}, got {v}"),
            Err((k, m)) => {
                assert_eq!(k, kind, "{op} {body}: {m:?}");
                m
            }
        }
    }
}

const DATE_MEMBERS: &[&str] = &[
    "CreationDate",
    "DeletionDate",
    "ValidTo",
    "NextRotationDate",
    "RotationDate",
    "ParametersValidTo",
    "OnDemandRotationStartDate",
];
const BLOB_MEMBERS: &[&str] = &[
    "CiphertextBlob",
    "Plaintext",
    "PublicKey",
    "Signature",
    "Mac",
    "SharedSecret",
    "PrivateKeyCiphertextBlob",
    "PrivateKeyPlaintext",
    "ImportToken",
    "GrantToken",
    "GrantId",
    "Policy",
    "ReplicaPolicy",
];

/// `v` with ids, ARNs, dates and blobs replaced by placeholders.
fn norm(v: &Value) -> Value {
    fn string(s: &str) -> Value {
        let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
        let key_id = |s: &str| {
            s.strip_prefix("mrk-").is_some_and(|h| h.len() == 32 && hex(h))
                || (s.len() == 36 && s.split('-').map(str::len).eq([8, 4, 4, 4, 12]))
        };
        let out = if s.starts_with("arn:aws:kms:") && s.contains(":key/") {
            "<key-arn>"
        } else if key_id(s) {
            "<key-id>"
        } else if s.len() == 64 && hex(s) {
            "<material-id>"
        } else {
            return Value::String(s.to_string());
        };
        Value::String(out.to_string())
    }
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let v = if DATE_MEMBERS.contains(&k.as_str()) && v.is_number() {
                        json!("<date>")
                    } else if BLOB_MEMBERS.contains(&k.as_str()) && v.is_string() {
                        json!("<blob>")
                    } else {
                        norm(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(norm).collect()),
        Value::String(s) => string(s),
        other => other.clone(),
    }
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

/// The KeyMetadata AWS records for a new key of each kind (CreateKey and
/// AWS's API reference examples), normalized.
fn expected_metadata(spec: &str, usage: &str, extra: Value) -> Value {
    let mut m = json!({
        "AWSAccountId": ADMIN_ACCOUNT, "Arn": "<key-arn>", "CreationDate": "<date>",
        "CustomerMasterKeySpec": spec, "Description": "", "Enabled": true, "KeyId": "<key-id>",
        "KeyManager": "CUSTOMER", "KeySpec": spec, "KeyState": "Enabled", "KeyUsage": usage,
        "MultiRegion": false, "Origin": "AWS_KMS",
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            m.as_object_mut().unwrap().remove(k);
        } else {
            m[k] = v.clone();
        }
    }
    json!({ "KeyMetadata": m })
}

#[tokio::test]
async fn every_operation_answers_in_aws_shape() {
    let n = TestNode::start(REGION).await;
    let mut t = Tour {
        json: n.json_client(Credentials::new(ADMIN_AKID, ADMIN_SECRET)).await,
        ok: BTreeSet::new(),
        errors: BTreeMap::new(),
    };

    // --- Keys of every kind: whole KeyMetadata as AWS records it.
    let sym = t.ok("CreateKey", json!({})).await;
    assert_eq!(
        norm(&sym),
        expected_metadata(
            "SYMMETRIC_DEFAULT",
            "ENCRYPT_DECRYPT",
            json!({"CurrentKeyMaterialId": "<material-id>", "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]})
        )
    );
    let key = sym["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    let arn = sym["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    let hmac = t
        .ok(
            "CreateKey",
            json!({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC", "Description": "mac"}),
        )
        .await;
    assert_eq!(
        norm(&hmac),
        expected_metadata(
            "HMAC_256",
            "GENERATE_VERIFY_MAC",
            json!({"Description": "mac", "MacAlgorithms": ["HMAC_SHA_256"]})
        )
    );
    let hmac = hmac["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    let ecc = t
        .ok(
            "CreateKey",
            json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}),
        )
        .await;
    assert_eq!(
        norm(&ecc),
        expected_metadata(
            "ECC_NIST_P256",
            "SIGN_VERIFY",
            json!({"SigningAlgorithms": ["ECDSA_SHA_256"]})
        )
    );
    let ecc = ecc["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    let rsa = t
        .ok(
            "CreateKey",
            json!({"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}),
        )
        .await;
    assert_eq!(
        norm(&rsa),
        expected_metadata(
            "RSA_2048",
            "ENCRYPT_DECRYPT",
            json!({"EncryptionAlgorithms": ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]})
        )
    );
    let rsa = rsa["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    let agree = t
        .ok(
            "CreateKey",
            json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT"}),
        )
        .await;
    assert_eq!(
        norm(&agree),
        expected_metadata(
            "ECC_NIST_P256",
            "KEY_AGREEMENT",
            json!({"KeyAgreementAlgorithms": ["ECDH"]})
        )
    );
    let agree = agree["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    let external = t.ok("CreateKey", json!({"Origin": "EXTERNAL"})).await;
    assert_eq!(
        norm(&external),
        expected_metadata(
            "SYMMETRIC_DEFAULT",
            "ENCRYPT_DECRYPT",
            json!({"Enabled": false, "KeyState": "PendingImport", "Origin": "EXTERNAL", "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]})
        )
    );
    let external = external["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    t.err("CreateKey", json!({"KeySpec": "HMAC_random"}), "ValidationException")
        .await;

    let d = t.ok("DescribeKey", json!({"KeyId": key})).await;
    assert_eq!(d, sym);
    t.err("DescribeKey", json!({"KeyId": "nope"}), "NotFoundException")
        .await;
    let list = t.ok("ListKeys", json!({"Limit": 2})).await;
    assert_eq!(
        norm(&list),
        json!({"Keys": [{"KeyArn": "<key-arn>", "KeyId": "<key-id>"}, {"KeyArn": "<key-arn>", "KeyId": "<key-id>"}],
               "NextMarker": list["NextMarker"], "Truncated": true})
    );
    t.err("ListKeys", json!({"Limit": 0}), "ValidationException").await;
    t.ok("UpdateKeyDescription", json!({"KeyId": key, "Description": "d"}))
        .await;
    t.err(
        "UpdateKeyDescription",
        json!({"KeyId": "nope", "Description": "d"}),
        "NotFoundException",
    )
    .await;
    t.ok("DisableKey", json!({"KeyId": key})).await;
    t.err("DisableKey", json!({"KeyId": "nope"}), "NotFoundException").await;
    t.ok("EnableKey", json!({"KeyId": key})).await;
    t.err("EnableKey", json!({"KeyId": "nope"}), "NotFoundException").await;

    // --- Aliases, tags, policies.
    t.ok("CreateAlias", json!({"AliasName": "alias/shape", "TargetKeyId": key}))
        .await;
    t.err(
        "CreateAlias",
        json!({"AliasName": "shape", "TargetKeyId": key}),
        "ValidationException",
    )
    .await;
    t.ok("UpdateAlias", json!({"AliasName": "alias/shape", "TargetKeyId": key}))
        .await;
    t.err(
        "UpdateAlias",
        json!({"AliasName": "alias/none", "TargetKeyId": key}),
        "NotFoundException",
    )
    .await;
    let aliases = t.ok("ListAliases", json!({"KeyId": key})).await;
    assert_eq!(
        norm(&aliases),
        json!({"Aliases": [{"AliasArn": format!("arn:aws:kms:{REGION}:{ADMIN_ACCOUNT}:alias/shape"), "AliasName": "alias/shape",
               "CreationDate": "<date>", "LastUpdatedDate": aliases["Aliases"][0]["LastUpdatedDate"], "TargetKeyId": "<key-id>"}],
               "Truncated": false})
    );
    assert_eq!(
        t.ok("ListAliases", json!({"KeyId": hmac})).await,
        json!({"Aliases": [], "Truncated": false})
    );
    t.err("ListAliases", json!({"Limit": 0}), "ValidationException").await;
    t.ok("DeleteAlias", json!({"AliasName": "alias/shape"})).await;
    t.err("DeleteAlias", json!({"AliasName": "alias/shape"}), "NotFoundException")
        .await;
    t.ok(
        "TagResource",
        json!({"KeyId": key, "Tags": [{"TagKey": "a", "TagValue": ""}]}),
    )
    .await;
    t.err(
        "TagResource",
        json!({"KeyId": key, "Tags": [{"TagKey": "aws:x", "TagValue": "v"}]}),
        "TagException",
    )
    .await;
    assert_eq!(
        t.ok("ListResourceTags", json!({"KeyId": key})).await,
        json!({"Tags": [{"TagKey": "a", "TagValue": ""}], "Truncated": false})
    );
    t.ok("UntagResource", json!({"KeyId": key, "TagKeys": ["a"]})).await;
    t.err(
        "UntagResource",
        json!({"KeyId": "nope", "TagKeys": ["a"]}),
        "NotFoundException",
    )
    .await;
    assert_eq!(
        t.ok("ListResourceTags", json!({"KeyId": key})).await,
        json!({"Tags": [], "Truncated": false})
    );
    t.err("ListResourceTags", json!({"KeyId": "nope"}), "NotFoundException")
        .await;
    let policy = t.ok("GetKeyPolicy", json!({"KeyId": key})).await;
    assert_eq!(policy["PolicyName"], "default");
    t.err("GetKeyPolicy", json!({"KeyId": "nope"}), "NotFoundException")
        .await;
    t.ok("PutKeyPolicy", json!({"KeyId": key, "Policy": policy["Policy"]}))
        .await;
    t.err(
        "PutKeyPolicy",
        json!({"KeyId": key, "Policy": "{"}),
        "MalformedPolicyDocumentException",
    )
    .await;
    assert_eq!(
        t.ok("ListKeyPolicies", json!({"KeyId": key})).await,
        json!({"PolicyNames": ["default"], "Truncated": false})
    );
    t.err("ListKeyPolicies", json!({"KeyId": "nope"}), "NotFoundException")
        .await;

    // --- Symmetric cryptography.
    let enc = t.ok("Encrypt", json!({"KeyId": key, "Plaintext": b64(b"shape")})).await;
    assert_eq!(
        norm(&enc),
        json!({"CiphertextBlob": "<blob>", "EncryptionAlgorithm": "SYMMETRIC_DEFAULT", "KeyId": "<key-arn>"})
    );
    t.err(
        "Encrypt",
        json!({"KeyId": ecc, "Plaintext": b64(b"x")}),
        "InvalidKeyUsageException",
    )
    .await;
    let dec = t.ok("Decrypt", json!({"CiphertextBlob": enc["CiphertextBlob"]})).await;
    assert_eq!(
        norm(&dec),
        json!({"EncryptionAlgorithm": "SYMMETRIC_DEFAULT", "KeyId": "<key-arn>", "KeyMaterialId": "<material-id>", "Plaintext": "<blob>"})
    );
    assert_eq!(dec["KeyId"], json!(arn));
    let m = t
        .err(
            "Decrypt",
            json!({"CiphertextBlob": b64(&[7u8; 80])}),
            "InvalidCiphertextException",
        )
        .await;
    assert_eq!(m, None, "InvalidCiphertextException has no message");
    let re = t
        .ok(
            "ReEncrypt",
            json!({"CiphertextBlob": enc["CiphertextBlob"], "DestinationKeyId": key}),
        )
        .await;
    assert_eq!(
        norm(&re),
        json!({"CiphertextBlob": "<blob>", "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT", "DestinationKeyMaterialId": "<material-id>",
               "KeyId": "<key-arn>", "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT", "SourceKeyId": "<key-arn>", "SourceKeyMaterialId": "<material-id>"})
    );
    t.err(
        "ReEncrypt",
        json!({"CiphertextBlob": b64(&[7u8; 80]), "DestinationKeyId": key}),
        "InvalidCiphertextException",
    )
    .await;
    let dk = t
        .ok("GenerateDataKey", json!({"KeyId": key, "KeySpec": "AES_256"}))
        .await;
    assert_eq!(
        norm(&dk),
        json!({"CiphertextBlob": "<blob>", "KeyId": "<key-arn>", "KeyMaterialId": "<material-id>", "Plaintext": "<blob>"})
    );
    t.err("GenerateDataKey", json!({"KeyId": key}), "ValidationException")
        .await;
    let dk = t
        .ok(
            "GenerateDataKeyWithoutPlaintext",
            json!({"KeyId": key, "NumberOfBytes": 32}),
        )
        .await;
    assert_eq!(
        norm(&dk),
        json!({"CiphertextBlob": "<blob>", "KeyId": "<key-arn>", "KeyMaterialId": "<material-id>"})
    );
    t.err(
        "GenerateDataKeyWithoutPlaintext",
        json!({"KeyId": "nope", "NumberOfBytes": 32}),
        "NotFoundException",
    )
    .await;
    assert_eq!(
        norm(&t.ok("GenerateRandom", json!({"NumberOfBytes": 16})).await),
        json!({"Plaintext": "<blob>"})
    );
    t.err("GenerateRandom", json!({"NumberOfBytes": 0}), "ValidationException")
        .await;

    // --- Rotation.
    t.ok("EnableKeyRotation", json!({"KeyId": key})).await;
    t.err(
        "EnableKeyRotation",
        json!({"KeyId": ecc}),
        "UnsupportedOperationException",
    )
    .await;
    let st = t.ok("GetKeyRotationStatus", json!({"KeyId": arn})).await;
    assert_eq!(
        norm(&st),
        json!({"KeyId": "<key-id>", "KeyRotationEnabled": true, "NextRotationDate": "<date>", "RotationPeriodInDays": 365})
    );
    assert_eq!(st["KeyId"], json!(key), "GetKeyRotationStatus answers the bare key id");
    t.err("GetKeyRotationStatus", json!({"KeyId": "nope"}), "NotFoundException")
        .await;
    t.ok("DisableKeyRotation", json!({"KeyId": key})).await;
    t.err("DisableKeyRotation", json!({"KeyId": "nope"}), "NotFoundException")
        .await;
    assert_eq!(
        t.ok("GetKeyRotationStatus", json!({"KeyId": key})).await,
        json!({"KeyId": key, "KeyRotationEnabled": false})
    );
    let rot = t.ok("RotateKeyOnDemand", json!({"KeyId": key})).await;
    assert_eq!(rot, json!({"KeyId": arn}), "RotateKeyOnDemand answers the key ARN");
    let m = t
        .err(
            "RotateKeyOnDemand",
            json!({"KeyId": ecc}),
            "UnsupportedOperationException",
        )
        .await;
    assert_eq!(m, None, "AWS answers a key that cannot rotate with no message");
    let rots = t.ok("ListKeyRotations", json!({"KeyId": key})).await;
    assert_eq!(
        norm(&rots),
        json!({"Rotations": [{"KeyId": "<key-id>", "KeyMaterialId": "<material-id>", "KeyMaterialState": "CURRENT",
               "RotationDate": "<date>", "RotationType": "ON_DEMAND"}], "Truncated": false})
    );
    t.err(
        "ListKeyRotations",
        json!({"KeyId": key, "IncludeKeyMaterial": "X"}),
        "ValidationException",
    )
    .await;

    // --- Grants.
    let g = t
        .ok(
            "CreateGrant",
            json!({"KeyId": key, "GranteePrincipal": ALICE_ARN, "RetiringPrincipal": ADMIN_ARN,
                                  "Operations": ["Decrypt"], "Constraints": {"EncryptionContextSubset": {"a": "b"}}}),
        )
        .await;
    assert_eq!(norm(&g), json!({"GrantId": "<blob>", "GrantToken": "<blob>"}));
    t.err(
        "CreateGrant",
        json!({"KeyId": key, "GranteePrincipal": ALICE_ARN, "Operations": ["Fly"]}),
        "ValidationException",
    )
    .await;
    let grants = t.ok("ListGrants", json!({"KeyId": key})).await;
    assert_eq!(
        norm(&grants),
        json!({"Grants": [{"Constraints": {"EncryptionContextSubset": {"a": "b"}}, "CreationDate": "<date>", "GrantId": "<blob>",
               "GranteePrincipal": ALICE_ARN, "IssuingAccount": format!("arn:aws:iam::{ADMIN_ACCOUNT}:root"), "KeyId": "<key-arn>",
               "Operations": ["Decrypt"], "RetiringPrincipal": ADMIN_ARN}], "Truncated": false})
    );
    t.err("ListGrants", json!({"KeyId": "nope"}), "NotFoundException").await;
    let retirable = t
        .ok("ListRetirableGrants", json!({"RetiringPrincipal": ADMIN_ARN}))
        .await;
    assert_eq!(retirable, grants);
    t.err("ListRetirableGrants", json!({}), "ValidationException").await;
    t.ok("RetireGrant", json!({"GrantToken": g["GrantToken"]})).await;
    t.err(
        "RetireGrant",
        json!({"KeyId": arn, "GrantId": "0".repeat(64)}),
        "NotFoundException",
    )
    .await;
    let g2 = t
        .ok(
            "CreateGrant",
            json!({"KeyId": key, "GranteePrincipal": ALICE_ARN, "Operations": ["Encrypt"]}),
        )
        .await;
    t.ok("RevokeGrant", json!({"KeyId": key, "GrantId": g2["GrantId"]}))
        .await;
    t.err(
        "RevokeGrant",
        json!({"KeyId": key, "GrantId": g2["GrantId"]}),
        "NotFoundException",
    )
    .await;

    // --- Asymmetric keys and HMAC.
    let pk = t.ok("GetPublicKey", json!({"KeyId": ecc})).await;
    assert_eq!(
        norm(&pk),
        json!({"CustomerMasterKeySpec": "ECC_NIST_P256", "KeyId": "<key-arn>", "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY",
               "PublicKey": "<blob>", "SigningAlgorithms": ["ECDSA_SHA_256"]})
    );
    t.err("GetPublicKey", json!({"KeyId": key}), "UnsupportedOperationException")
        .await;
    let sig = t
        .ok(
            "Sign",
            json!({"KeyId": ecc, "Message": b64(b"m"), "SigningAlgorithm": "ECDSA_SHA_256"}),
        )
        .await;
    assert_eq!(
        norm(&sig),
        json!({"KeyId": "<key-arn>", "Signature": "<blob>", "SigningAlgorithm": "ECDSA_SHA_256"})
    );
    t.err(
        "Sign",
        json!({"KeyId": ecc, "Message": b64(b"m"), "SigningAlgorithm": "RSASSA_PSS_SHA_256"}),
        "InvalidKeyUsageException",
    )
    .await;
    let v = t
        .ok("Verify", json!({"KeyId": ecc, "Message": b64(b"m"), "Signature": sig["Signature"], "SigningAlgorithm": "ECDSA_SHA_256"}))
        .await;
    assert_eq!(
        norm(&v),
        json!({"KeyId": "<key-arn>", "SignatureValid": true, "SigningAlgorithm": "ECDSA_SHA_256"})
    );
    let m = t
        .err("Verify", json!({"KeyId": ecc, "Message": b64(b"other"), "Signature": sig["Signature"], "SigningAlgorithm": "ECDSA_SHA_256"}),
             "KMSInvalidSignatureException")
        .await;
    assert_eq!(m, None, "KMSInvalidSignatureException has no message");
    let mac = t
        .ok(
            "GenerateMac",
            json!({"KeyId": hmac, "Message": b64(b"m"), "MacAlgorithm": "HMAC_SHA_256"}),
        )
        .await;
    assert_eq!(
        norm(&mac),
        json!({"KeyId": "<key-arn>", "Mac": "<blob>", "MacAlgorithm": "HMAC_SHA_256"})
    );
    let m = t
        .err(
            "GenerateMac",
            json!({"KeyId": hmac, "Message": b64(b"m"), "MacAlgorithm": "HMAC_SHA_512"}),
            "InvalidKeyUsageException",
        )
        .await;
    assert_eq!(
        m.as_deref(),
        Some("Algorithm HMAC_SHA_512 is incompatible with key spec HMAC_256.")
    );
    let vm = t
        .ok(
            "VerifyMac",
            json!({"KeyId": hmac, "Message": b64(b"m"), "Mac": mac["Mac"], "MacAlgorithm": "HMAC_SHA_256"}),
        )
        .await;
    assert_eq!(
        norm(&vm),
        json!({"KeyId": "<key-arn>", "MacAlgorithm": "HMAC_SHA_256", "MacValid": true})
    );
    let m = t
        .err(
            "VerifyMac",
            json!({"KeyId": hmac, "Message": b64(b"x"), "Mac": mac["Mac"], "MacAlgorithm": "HMAC_SHA_256"}),
            "KMSInvalidMacException",
        )
        .await;
    assert_eq!(m, None, "KMSInvalidMacException has no message");
    let peer = t.ok("GetPublicKey", json!({"KeyId": agree})).await;
    assert_eq!(
        norm(&peer),
        json!({"CustomerMasterKeySpec": "ECC_NIST_P256", "KeyAgreementAlgorithms": ["ECDH"], "KeyId": "<key-arn>", "KeySpec": "ECC_NIST_P256",
               "KeyUsage": "KEY_AGREEMENT", "PublicKey": "<blob>"})
    );
    let shared = t
        .ok(
            "DeriveSharedSecret",
            json!({"KeyId": agree, "KeyAgreementAlgorithm": "ECDH", "PublicKey": peer["PublicKey"]}),
        )
        .await;
    assert_eq!(
        norm(&shared),
        json!({"KeyAgreementAlgorithm": "ECDH", "KeyId": "<key-arn>", "KeyOrigin": "AWS_KMS", "SharedSecret": "<blob>"})
    );
    t.err(
        "DeriveSharedSecret",
        json!({"KeyId": ecc, "KeyAgreementAlgorithm": "ECDH", "PublicKey": peer["PublicKey"]}),
        "InvalidKeyUsageException",
    )
    .await;
    let rsa_pk = t.ok("GetPublicKey", json!({"KeyId": rsa})).await;
    assert_eq!(
        rsa_pk["EncryptionAlgorithms"],
        json!(["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"])
    );
    let m = t
        .err(
            "Encrypt",
            json!({"KeyId": rsa, "Plaintext": b64(&[1u8; 215]), "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"}),
            "ValidationException",
        )
        .await;
    assert_eq!(
        m.as_deref(),
        Some("Algorithm RSAES_OAEP_SHA_1 and key spec RSA_2048 cannot encrypt data larger than 214 bytes.")
    );
    let pair = t
        .ok(
            "GenerateDataKeyPair",
            json!({"KeyId": key, "KeyPairSpec": "ECC_NIST_P256"}),
        )
        .await;
    assert_eq!(
        norm(&pair),
        json!({"KeyId": "<key-arn>", "KeyMaterialId": "<material-id>", "KeyPairSpec": "ECC_NIST_P256", "PrivateKeyCiphertextBlob": "<blob>",
               "PrivateKeyPlaintext": "<blob>", "PublicKey": "<blob>"})
    );
    t.err(
        "GenerateDataKeyPair",
        json!({"KeyId": key, "KeyPairSpec": "RSA_1"}),
        "ValidationException",
    )
    .await;
    let pair = t
        .ok(
            "GenerateDataKeyPairWithoutPlaintext",
            json!({"KeyId": key, "KeyPairSpec": "RSA_2048"}),
        )
        .await;
    assert_eq!(
        norm(&pair),
        json!({"KeyId": "<key-arn>", "KeyMaterialId": "<material-id>", "KeyPairSpec": "RSA_2048", "PrivateKeyCiphertextBlob": "<blob>",
               "PublicKey": "<blob>"})
    );
    t.err(
        "GenerateDataKeyPairWithoutPlaintext",
        json!({"KeyId": "nope", "KeyPairSpec": "RSA_2048"}),
        "NotFoundException",
    )
    .await;

    // --- Imported key material.
    let params = t
        .ok(
            "GetParametersForImport",
            json!({"KeyId": external, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"}),
        )
        .await;
    assert_eq!(
        norm(&params),
        json!({"ImportToken": "<blob>", "KeyId": "<key-arn>", "ParametersValidTo": "<date>", "PublicKey": "<blob>"})
    );
    t.err(
        "GetParametersForImport",
        json!({"KeyId": key, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"}),
        "UnsupportedOperationException",
    )
    .await;
    let wrapped = wrap_for_import(&unb64(&params["PublicKey"]), "RSAES_OAEP_SHA_256", &[9u8; 32]);
    let imported = t
        .ok(
            "ImportKeyMaterial",
            json!({"KeyId": external, "ImportToken": params["ImportToken"], "EncryptedKeyMaterial": b64(&wrapped),
                                         "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}),
        )
        .await;
    assert_eq!(
        norm(&imported),
        json!({"KeyId": "<key-arn>", "KeyMaterialId": "<material-id>"})
    );
    t.err(
        "ImportKeyMaterial",
        json!({"KeyId": external, "ImportToken": b64(b"bad"), "EncryptedKeyMaterial": b64(&wrapped),
                                       "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}),
        "InvalidImportTokenException",
    )
    .await;
    let deleted = t.ok("DeleteImportedKeyMaterial", json!({"KeyId": external})).await;
    assert_eq!(
        norm(&deleted),
        json!({"KeyId": "<key-arn>", "KeyMaterialId": "<material-id>"})
    );
    t.err(
        "DeleteImportedKeyMaterial",
        json!({"KeyId": key}),
        "UnsupportedOperationException",
    )
    .await;

    // --- Deletion, and Multi-Region operations on a single-Region node.
    let del = t
        .ok("ScheduleKeyDeletion", json!({"KeyId": hmac, "PendingWindowInDays": 7}))
        .await;
    assert_eq!(
        norm(&del),
        json!({"DeletionDate": "<date>", "KeyId": "<key-arn>", "KeyState": "PendingDeletion", "PendingWindowInDays": 7})
    );
    t.err(
        "ScheduleKeyDeletion",
        json!({"KeyId": key, "PendingWindowInDays": 1}),
        "ValidationException",
    )
    .await;
    let cancel = t.ok("CancelKeyDeletion", json!({"KeyId": hmac})).await;
    assert_eq!(norm(&cancel), json!({"KeyId": "<key-arn>"}));
    t.err("CancelKeyDeletion", json!({"KeyId": hmac}), "KMSInvalidStateException")
        .await;
    t.err(
        "ReplicateKey",
        json!({"KeyId": key, "ReplicaRegion": OTHER_REGION}),
        "UnsupportedOperationException",
    )
    .await;
    t.err(
        "UpdatePrimaryRegion",
        json!({"KeyId": key, "PrimaryRegion": OTHER_REGION}),
        "UnsupportedOperationException",
    )
    .await;

    // Every operation tern serves answered; every one but the two
    // Multi-Region ones (tests/multi_region.rs) succeeded here.
    for op in tern_server::json_api::OPERATIONS {
        assert!(t.errors.contains_key(*op), "{op}: no error answer checked");
        if !["ReplicateKey", "UpdatePrimaryRegion"].contains(op) {
            assert!(t.ok.contains(*op), "{op}: no success answer checked");
        }
    }
    n.shutdown().await;
}
