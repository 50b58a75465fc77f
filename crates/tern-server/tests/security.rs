//! The security boundary, end to end: AWS's cross-account rule, the
//! condition keys AWS sets from each request (AWS's documented guardrail
//! policies, over gRPC, AWS JSON and TLS), RetireGrant by the grant's
//! account, and GetParametersForImport authorizing before it pays for an
//! RSA key generation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use serde_json::json;
use tern_client::json::JsonClient;
use tern_client::{Credentials, KmsClient};
use tern_proto::pb;

fn key_policy(extra_statements: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
  {{"Sid":"Admin","Effect":"Allow","Principal":{{"AWS":"{ADMIN_ARN}"}},"Action":"kms:*","Resource":"*"}}{extra_statements}
]}}"#
    )
}

async fn key_with(c: &mut KmsClient, req: pb::CreateKeyRequest) -> pb::KeyMetadata {
    create_key_with(c, req).await
}

async fn json_call(c: &mut JsonClient, op: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = c
        .call(op, Bytes::from(serde_json::to_vec(&body).unwrap()))
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
    (r.status.as_u16(), v)
}

#[track_caller]
fn json_denied((status, v): (u16, serde_json::Value)) {
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["__type"], "AccessDeniedException", "{v}");
}

#[track_caller]
fn json_ok((status, v): (u16, serde_json::Value)) -> serde_json::Value {
    assert_eq!(status, 200, "{v}");
    v
}

/// AWS honours cross-account permissions only for the cryptographic
/// operations, DescribeKey, GetKeyRotationStatus and the grant operations;
/// anything else on another account's key is refused whatever the key
/// policy says, and changes nothing.
#[tokio::test]
async fn another_account_gets_only_the_cross_account_operations() {
    let n = TestNode::start(REGION).await;
    let mut admin = n.admin().await;
    let everything_to_carol = key_policy(&format!(
        r#",{{"Sid":"CarolsAccount","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{CAROL_ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}}"#
    ));
    let key = key_with(
        &mut admin,
        pb::CreateKeyRequest {
            policy: Some(everything_to_carol.clone()),
            ..Default::default()
        },
    )
    .await
    .arn;
    let external = key_with(
        &mut admin,
        pb::CreateKeyRequest {
            policy: Some(everything_to_carol.clone()),
            origin: Some("EXTERNAL".into()),
            ..Default::default()
        },
    )
    .await
    .arn;
    let mut carol = n.carol().await;

    // Allowed across accounts.
    describe(&mut carol, &key).await;
    let blob = ok(carol
        .encrypt(pb::EncryptRequest {
            key_id: key.clone(),
            plaintext: b"x".to_vec(),
            ..Default::default()
        })
        .await)
    .ciphertext_blob;
    ok(carol.decrypt(decrypt_req(&blob)).await);
    ok(carol
        .generate_data_key(pb::GenerateDataKeyRequest {
            key_id: key.clone(),
            key_spec: Some("AES_256".into()),
            ..Default::default()
        })
        .await);
    ok(carol
        .get_key_rotation_status(pb::GetKeyRotationStatusRequest { key_id: key.clone() })
        .await);
    let grant = ok(carol
        .create_grant(pb::CreateGrantRequest {
            key_id: key.clone(),
            grantee_principal: CAROL_ARN.into(),
            operations: vec!["Decrypt".into()],
            ..Default::default()
        })
        .await);
    ok(carol
        .list_grants(pb::ListGrantsRequest {
            key_id: key.clone(),
            ..Default::default()
        })
        .await);
    ok(carol
        .revoke_grant(pb::RevokeGrantRequest {
            key_id: key.clone(),
            grant_id: grant.grant_id,
            ..Default::default()
        })
        .await);

    // Refused across accounts, although the key policy allows kms:*.
    let k = || key.clone();
    assert_kind(
        carol
            .schedule_key_deletion(pb::ScheduleKeyDeletionRequest {
                key_id: k(),
                pending_window_in_days: Some(7),
            })
            .await,
        "AccessDeniedException",
    );
    assert_kind(
        carol
            .put_key_policy(pb::PutKeyPolicyRequest {
                key_id: k(),
                policy: key_policy(""),
                bypass_policy_lockout_safety_check: Some(true),
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
    );
    let m = assert_kind(
        carol.disable_key(pb::DisableKeyRequest { key_id: k() }).await,
        "AccessDeniedException",
    );
    assert_eq!(
        m,
        format!(
            "User: {CAROL_ARN} is not authorized to perform: kms:DisableKey on resource: {key} \
             because kms:DisableKey is not allowed on a KMS key in another AWS account"
        )
    );
    assert_kind(
        carol
            .enable_key_rotation(pb::EnableKeyRotationRequest {
                key_id: k(),
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
    );
    assert_kind(
        carol
            .get_key_policy(pb::GetKeyPolicyRequest {
                key_id: k(),
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
    );
    assert_kind(
        carol
            .tag_resource(pb::TagResourceRequest {
                key_id: k(),
                tags: vec![tag("a", "b")],
            })
            .await,
        "AccessDeniedException",
    );
    assert_kind(
        carol
            .update_key_description(pb::UpdateKeyDescriptionRequest {
                key_id: k(),
                description: "mine now".into(),
            })
            .await,
        "AccessDeniedException",
    );
    assert_kind(
        carol
            .list_resource_tags(pb::ListResourceTagsRequest {
                key_id: k(),
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
    );
    assert_kind(
        carol
            .get_parameters_for_import(pb::GetParametersForImportRequest {
                key_id: external.clone(),
                wrapping_algorithm: "RSAES_OAEP_SHA_256".into(),
                wrapping_key_spec: "RSA_2048".into(),
            })
            .await,
        "AccessDeniedException",
    );
    assert_kind(
        carol
            .delete_imported_key_material(pb::DeleteImportedKeyMaterialRequest {
                key_id: external.clone(),
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
    );
    assert_kind(
        carol
            .import_key_material(pb::ImportKeyMaterialRequest {
                key_id: external.clone(),
                import_token: vec![1; 32],
                encrypted_key_material: vec![1; 256],
                expiration_model: Some("KEY_MATERIAL_DOES_NOT_EXPIRE".into()),
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
    );

    // Nothing changed.
    let md = describe(&mut admin, &key).await;
    assert_eq!(md.key_state, "Enabled");
    assert_eq!(md.description, "");
    let policy = ok(admin
        .get_key_policy(pb::GetKeyPolicyRequest {
            key_id: key.clone(),
            ..Default::default()
        })
        .await)
    .policy;
    assert_eq!(policy, everything_to_carol);
    n.shutdown().await;
}

/// GetParametersForImport finds and authorizes the key before it makes an
/// RSA-4096 wrapping key: a refused caller costs no key generation.
#[tokio::test]
async fn get_parameters_for_import_authorizes_before_generating() {
    let n = TestNode::start(REGION).await;
    let mut admin = n.admin().await;
    let key = key_with(
        &mut admin,
        pb::CreateKeyRequest {
            origin: Some("EXTERNAL".into()),
            ..Default::default()
        },
    )
    .await
    .arn;
    let mut nobody = n.client(Credentials::new(NOBODY_AKID, NOBODY_SECRET)).await;
    let req = |key_id: &str| pb::GetParametersForImportRequest {
        key_id: key_id.to_string(),
        wrapping_algorithm: "RSAES_OAEP_SHA_256".into(),
        wrapping_key_spec: "RSA_4096".into(),
    };
    // One RSA-4096 generation takes hundreds of milliseconds; ten refused
    // requests that each paid for one would take seconds.
    const REFUSED: usize = 10;
    let start = Instant::now();
    for _ in 0..REFUSED {
        assert_kind(
            nobody.get_parameters_for_import(req(&key)).await,
            "AccessDeniedException",
        );
        assert_kind(
            admin
                .get_parameters_for_import(req(&format!(
                    "arn:aws:kms:{REGION}:{ADMIN_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                )))
                .await,
            "NotFoundException",
        );
    }
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "{} refused GetParametersForImport calls took {took:?}: a wrapping key was generated before authorization",
        2 * REFUSED
    );
    // The authorized call still works.
    let p = ok(admin.get_parameters_for_import(req(&key)).await);
    assert!(!p.public_key.is_empty());
    n.shutdown().await;
}

/// AWS: "the AWS account in which the grant was created" may retire it —
/// its root, and its principals whose policies allow kms:RetireGrant.
#[tokio::test]
async fn principals_of_the_grants_account_may_retire_it() {
    let n = TestNode::start(REGION).await;
    let mut admin = n.admin().await;
    let key = create_key(&mut admin).await.arn;
    let grant = |admin: &mut KmsClient| {
        let key = key.clone();
        let mut admin = admin.clone();
        async move {
            ok(admin
                .create_grant(pb::CreateGrantRequest {
                    key_id: key,
                    grantee_principal: BOB_ARN.into(),
                    operations: vec!["Decrypt".into()],
                    ..Default::default()
                })
                .await)
            .grant_id
        }
    };
    let retire = |grant_id: &str| pb::RetireGrantRequest {
        key_id: Some(key.clone()),
        grant_id: Some(grant_id.to_string()),
        ..Default::default()
    };
    // alice: account 111122223333, identity policy kms:*, and the default
    // key policy delegates to the account.
    let g = grant(&mut admin).await;
    let mut alice = n.client(Credentials::new(ALICE_AKID, ALICE_SECRET)).await;
    ok(alice.retire_grant(retire(&g)).await);
    // nobody: same account, no identity policy.
    let g = grant(&mut admin).await;
    let mut nobody = n.client(Credentials::new(NOBODY_AKID, NOBODY_SECRET)).await;
    assert_kind(nobody.retire_grant(retire(&g)).await, "AccessDeniedException");
    // carol: another account, whatever her own policies say.
    assert_kind(n.carol().await.retire_grant(retire(&g)).await, "AccessDeniedException");
    n.shutdown().await;
}

/// AWS's guardrail: deny PutKeyPolicy when the lockout safety check is
/// bypassed (kms:BypassPolicyLockoutSafetyCheck), over gRPC and AWS JSON.
#[tokio::test]
async fn guardrail_deny_bypassing_the_lockout_check() {
    let n = TestNode::start(REGION).await;
    let policy = key_policy(
        r#",{"Sid":"NoBypass","Effect":"Deny","Principal":"*","Action":["kms:PutKeyPolicy","kms:CreateKey"],"Resource":"*","Condition":{"Bool":{"kms:BypassPolicyLockoutSafetyCheck":"true"}}}"#,
    );
    let mut admin = n.admin().await;
    let key = key_with(
        &mut admin,
        pb::CreateKeyRequest {
            policy: Some(policy.clone()),
            ..Default::default()
        },
    )
    .await
    .arn;
    let put = |bypass: bool| pb::PutKeyPolicyRequest {
        key_id: key.clone(),
        policy: policy.clone(),
        bypass_policy_lockout_safety_check: Some(bypass),
        ..Default::default()
    };
    assert_kind(admin.put_key_policy(put(true)).await, "AccessDeniedException");
    ok(admin.put_key_policy(put(false)).await);

    let mut json = n.json_client(Credentials::new(ADMIN_AKID, ADMIN_SECRET)).await;
    let body = |bypass: bool| json!({"KeyId": key, "Policy": policy, "BypassPolicyLockoutSafetyCheck": bypass});
    json_denied(json_call(&mut json, "PutKeyPolicy", body(true)).await);
    json_ok(json_call(&mut json, "PutKeyPolicy", body(false)).await);
    n.shutdown().await;
}

/// AWS's guardrail: deny Decrypt unless the request came over TLS
/// (aws:SecureTransport): refused over plaintext gRPC and AWS JSON,
/// allowed over TLS.
#[tokio::test]
async fn guardrail_deny_decrypt_without_tls() {
    let (n, ca) = TestNode::start_tls(REGION).await;
    let policy = key_policy(
        r#",{"Sid":"TlsOnly","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#,
    );
    let mut tls = n.tls_client(Credentials::new(ADMIN_AKID, ADMIN_SECRET), &ca).await;
    let key = key_with(
        &mut tls,
        pb::CreateKeyRequest {
            policy: Some(policy),
            ..Default::default()
        },
    )
    .await
    .arn;
    let blob = encrypt(&mut tls, &key, b"over tls only").await.ciphertext_blob;
    assert_eq!(ok(tls.decrypt(decrypt_req(&blob)).await).plaintext, b"over tls only");
    // The AWS JSON protocol over TLS too.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&blob);
    let creds = Credentials::new(ADMIN_AKID, ADMIN_SECRET);
    let v = json_ok(
        n.tls_json_call(creds, &ca, "Decrypt", json!({"CiphertextBlob": b64}))
            .await,
    );
    assert_eq!(
        v["Plaintext"],
        base64::engine::general_purpose::STANDARD.encode(b"over tls only")
    );
    // A TLS port refuses plaintext: the other half runs on a plaintext node
    // with the same policy.
    n.shutdown().await;

    let n = TestNode::start(REGION).await;
    let policy = key_policy(
        r#",{"Sid":"TlsOnly","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#,
    );
    let mut admin = n.admin().await;
    let key = key_with(
        &mut admin,
        pb::CreateKeyRequest {
            policy: Some(policy),
            ..Default::default()
        },
    )
    .await
    .arn;
    let blob = encrypt(&mut admin, &key, b"plain").await.ciphertext_blob;
    assert_kind(admin.decrypt(decrypt_req(&blob)).await, "AccessDeniedException");
    let mut json = n.json_client(Credentials::new(ADMIN_AKID, ADMIN_SECRET)).await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&blob);
    json_denied(json_call(&mut json, "Decrypt", json!({"CiphertextBlob": b64})).await);
    n.shutdown().await;
}

/// AWS's guardrail: allow Sign only with the listed signing algorithms
/// (kms:SigningAlgorithm), over gRPC and AWS JSON.
#[tokio::test]
async fn guardrail_allow_sign_only_with_listed_algorithms() {
    let n = TestNode::start(REGION).await;
    let policy = key_policy(&format!(
        r#",{{"Sid":"AlicePss","Effect":"Allow","Principal":{{"AWS":"{ALICE_ARN}"}},"Action":"kms:Sign","Resource":"*","Condition":{{"StringEquals":{{"kms:SigningAlgorithm":["RSASSA_PSS_SHA_256","RSASSA_PSS_SHA_384"]}}}}}}"#
    ));
    let mut admin = n.admin().await;
    let key = key_with(
        &mut admin,
        pb::CreateKeyRequest {
            policy: Some(policy),
            key_spec: Some("RSA_2048".into()),
            key_usage: Some("SIGN_VERIFY".into()),
            ..Default::default()
        },
    )
    .await
    .arn;
    let sign = |alg: &str| pb::SignRequest {
        key_id: key.clone(),
        message: b"to sign".to_vec(),
        signing_algorithm: alg.into(),
        ..Default::default()
    };
    let mut alice = n.client(Credentials::new(ALICE_AKID, ALICE_SECRET)).await;
    ok(alice.sign(sign("RSASSA_PSS_SHA_256")).await);
    assert_kind(
        alice.sign(sign("RSASSA_PKCS1_V1_5_SHA_256")).await,
        "AccessDeniedException",
    );

    let mut json = n.json_client(Credentials::new(ALICE_AKID, ALICE_SECRET)).await;
    let body = |alg: &str| json!({"KeyId": key, "Message": "dG8gc2lnbg==", "SigningAlgorithm": alg});
    json_ok(json_call(&mut json, "Sign", body("RSASSA_PSS_SHA_384")).await);
    json_denied(json_call(&mut json, "Sign", body("RSASSA_PKCS1_V1_5_SHA_256")).await);
    n.shutdown().await;
}

/// AWS's guardrail: deny CreateKey unless it carries a required tag
/// (aws:RequestTag/<key> in an identity policy), over gRPC and AWS JSON.
#[tokio::test]
async fn guardrail_deny_create_key_without_a_required_tag() {
    const TAGGER_AKID: &str = "AKIATAGGEREXAMPLE001";
    const TAGGER_SECRET: &str = "tagger/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let principals = format!(
        r#"
[[accounts]]
id = "{ADMIN_ACCOUNT}"
[[accounts.users]]
name = "tagger"
access_key_id = "{TAGGER_AKID}"
secret_access_key = "{TAGGER_SECRET}"
policies = ['{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*"}},{{"Effect":"Deny","Action":"kms:CreateKey","Resource":"*","Condition":{{"Null":{{"aws:RequestTag/project":"true"}}}}}},{{"Effect":"Deny","Action":"kms:CreateKey","Resource":"*","Condition":{{"StringLike":{{"kms:KeySpec":"HMAC_*"}}}}}}]}}']
"#
    );
    let n = TestNode::start_with_principals(REGION, &principals).await;
    let mut tagger = n.client(Credentials::new(TAGGER_AKID, TAGGER_SECRET)).await;
    assert_kind(
        tagger.create_key(pb::CreateKeyRequest::default()).await,
        "AccessDeniedException",
    );
    assert_kind(
        tagger
            .create_key(pb::CreateKeyRequest {
                tags: vec![tag("team", "x")],
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
    );
    ok(tagger
        .create_key(pb::CreateKeyRequest {
            tags: vec![tag("project", "apollo")],
            ..Default::default()
        })
        .await);
    // kms:KeySpec on CreateKey: the same identity policy refuses HMAC keys.
    assert_kind(
        tagger
            .create_key(pb::CreateKeyRequest {
                tags: vec![tag("project", "apollo")],
                key_spec: Some("HMAC_256".into()),
                key_usage: Some("GENERATE_VERIFY_MAC".into()),
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
    );

    let mut json = n.json_client(Credentials::new(TAGGER_AKID, TAGGER_SECRET)).await;
    json_denied(json_call(&mut json, "CreateKey", json!({})).await);
    json_ok(
        json_call(
            &mut json,
            "CreateKey",
            json!({"Tags": [{"TagKey": "project", "TagValue": "apollo"}]}),
        )
        .await,
    );
    n.shutdown().await;
}

/// Condition keys AWS sets on the cryptographic operations: a Deny on each
/// must bite (a Deny on a key that is never set fails open).
#[tokio::test]
async fn request_condition_keys_are_set() {
    let n = TestNode::start(REGION).await;
    let deny = |key: &str, value: &str| {
        format!(
            r#",{{"Sid":"D","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{{"StringEquals":{{"{key}":"{value}"}}}}}}"#
        )
    };
    let mut admin = n.admin().await;

    // kms:EncryptionAlgorithm on Encrypt.
    let k = key_with(
        &mut admin,
        pb::CreateKeyRequest {
            policy: Some(key_policy(&deny("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT"))),
            ..Default::default()
        },
    )
    .await
    .arn;
    assert_kind(
        admin
            .encrypt(pb::EncryptRequest {
                key_id: k,
                plaintext: b"x".to_vec(),
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
    );

    // kms:MacAlgorithm on GenerateMac.
    let k = key_with(
        &mut admin,
        pb::CreateKeyRequest {
            policy: Some(key_policy(&deny("kms:MacAlgorithm", "HMAC_SHA_256"))),
            key_spec: Some("HMAC_256".into()),
            key_usage: Some("GENERATE_VERIFY_MAC".into()),
            ..Default::default()
        },
    )
    .await
    .arn;
    assert_kind(
        admin
            .generate_mac(pb::GenerateMacRequest {
                key_id: k,
                message: b"m".to_vec(),
                mac_algorithm: "HMAC_SHA_256".into(),
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
    );

    // kms:MessageType on Sign.
    let k = key_with(
        &mut admin,
        pb::CreateKeyRequest {
            policy: Some(key_policy(&deny("kms:MessageType", "DIGEST"))),
            key_spec: Some("ECC_NIST_P256".into()),
            key_usage: Some("SIGN_VERIFY".into()),
            ..Default::default()
        },
    )
    .await
    .arn;
    let sign = |mt: &str, msg: Vec<u8>| pb::SignRequest {
        key_id: k.clone(),
        message: msg,
        message_type: Some(mt.into()),
        signing_algorithm: "ECDSA_SHA_256".into(),
        ..Default::default()
    };
    ok(admin.sign(sign("RAW", b"m".to_vec())).await);
    assert_kind(admin.sign(sign("DIGEST", vec![7; 32])).await, "AccessDeniedException");

    // kms:DataKeyPairSpec on GenerateDataKeyPair.
    let k = key_with(
        &mut admin,
        pb::CreateKeyRequest {
            policy: Some(key_policy(&deny("kms:DataKeyPairSpec", "ECC_NIST_P256"))),
            ..Default::default()
        },
    )
    .await
    .arn;
    assert_kind(
        admin
            .generate_data_key_pair(pb::GenerateDataKeyPairRequest {
                key_id: k,
                key_pair_spec: "ECC_NIST_P256".into(),
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
    );

    // kms:KeyAgreementAlgorithm on DeriveSharedSecret.
    let k = key_with(
        &mut admin,
        pb::CreateKeyRequest {
            policy: Some(key_policy(&deny("kms:KeyAgreementAlgorithm", "ECDH"))),
            key_spec: Some("ECC_NIST_P256".into()),
            key_usage: Some("KEY_AGREEMENT".into()),
            ..Default::default()
        },
    )
    .await
    .arn;
    let peer = ok(admin
        .get_public_key(pb::GetPublicKeyRequest {
            key_id: k.clone(),
            ..Default::default()
        })
        .await)
    .public_key;
    assert_kind(
        admin
            .derive_shared_secret(pb::DeriveSharedSecretRequest {
                key_id: k,
                key_agreement_algorithm: "ECDH".into(),
                public_key: peer,
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
    );

    // kms:GrantConstraintType and kms:GrantIsForAWSResource on CreateGrant.
    let k = key_with(
        &mut admin,
        pb::CreateKeyRequest {
            policy: Some(key_policy(&deny("kms:GrantConstraintType", "EncryptionContextEquals"))),
            ..Default::default()
        },
    )
    .await
    .arn;
    let grant = |constraints: Option<pb::GrantConstraints>| pb::CreateGrantRequest {
        key_id: k.clone(),
        grantee_principal: BOB_ARN.into(),
        operations: vec!["Decrypt".into()],
        constraints,
        ..Default::default()
    };
    ok(admin.create_grant(grant(None)).await);
    let equals = pb::GrantConstraints {
        encryption_context_equals: context(&[("a", "b")]),
        ..Default::default()
    };
    assert_kind(admin.create_grant(grant(Some(equals))).await, "AccessDeniedException");
    let k = key_with(
        &mut admin,
        pb::CreateKeyRequest {
            policy: Some(key_policy(&deny("kms:GrantIsForAWSResource", "false"))),
            ..Default::default()
        },
    )
    .await
    .arn;
    assert_kind(
        admin
            .create_grant(pb::CreateGrantRequest {
                key_id: k,
                grantee_principal: BOB_ARN.into(),
                operations: vec!["Decrypt".into()],
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
    );

    // kms:WrappingAlgorithm on GetParametersForImport, kms:ExpirationModel
    // on ImportKeyMaterial.
    let k = key_with(
        &mut admin,
        pb::CreateKeyRequest {
            policy: Some(key_policy(&deny("kms:WrappingAlgorithm", "RSAES_OAEP_SHA_1"))),
            origin: Some("EXTERNAL".into()),
            ..Default::default()
        },
    )
    .await
    .arn;
    let params = |alg: &str| pb::GetParametersForImportRequest {
        key_id: k.clone(),
        wrapping_algorithm: alg.into(),
        wrapping_key_spec: "RSA_2048".into(),
    };
    ok(admin.get_parameters_for_import(params("RSAES_OAEP_SHA_256")).await);
    assert_kind(
        admin.get_parameters_for_import(params("RSAES_OAEP_SHA_1")).await,
        "AccessDeniedException",
    );
    let k = key_with(
        &mut admin,
        pb::CreateKeyRequest {
            policy: Some(key_policy(&deny("kms:ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE"))),
            origin: Some("EXTERNAL".into()),
            ..Default::default()
        },
    )
    .await
    .arn;
    assert_kind(
        admin
            .import_key_material(pb::ImportKeyMaterialRequest {
                key_id: k,
                import_token: vec![1; 32],
                encrypted_key_material: vec![1; 256],
                expiration_model: Some("KEY_MATERIAL_DOES_NOT_EXPIRE".into()),
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
    );

    n.shutdown().await;
}

/// A policy may name a condition key tern never sets, as in AWS: it is
/// accepted (and logged once); a condition on it sees the key absent.
#[tokio::test]
async fn a_condition_key_tern_does_not_know_is_accepted() {
    let n = TestNode::start(REGION).await;
    let mut admin = n.admin().await;
    let policy = key_policy(
        r#",{"Sid":"Vpc","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}}"#,
    );
    let key = key_with(
        &mut admin,
        pb::CreateKeyRequest {
            policy: Some(policy),
            ..Default::default()
        },
    )
    .await
    .arn;
    let blob = encrypt(&mut admin, &key, b"x").await.ciphertext_blob;
    // Absent key: StringEquals does not match, the Deny does not apply.
    ok(admin.decrypt(decrypt_req(&blob)).await);
    n.shutdown().await;
}
