//! Key policies and identity policies, enforced end to end over the API with
//! several principals: alice may Encrypt but not Decrypt, bob is denied by a
//! condition on the encryption context, carol reaches across accounts only
//! when both sides allow it, a lockout is refused, and every denial is
//! audited as AccessDeniedException.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tern_client::Credentials;
use tern_proto::pb;

fn key_policy(extra_statements: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
  {{"Sid":"Admin","Effect":"Allow","Principal":{{"AWS":"{ADMIN_ARN}"}},"Action":"kms:*","Resource":"*"}}{extra_statements}
]}}"#
    )
}

async fn key_with_policy(n: &TestNode, policy: &str) -> String {
    let mut admin = n.admin().await;
    admin
        .create_key(pb::CreateKeyRequest {
            policy: Some(policy.to_string()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .key_metadata
        .unwrap()
        .arn
}

#[tokio::test]
async fn alice_may_encrypt_but_not_decrypt() {
    let n = TestNode::start(REGION).await;
    let policy = key_policy(&format!(
        r#",{{"Sid":"AliceEncrypts","Effect":"Allow","Principal":{{"AWS":"{ALICE_ARN}"}},"Action":["kms:Encrypt","kms:DescribeKey"],"Resource":"*"}}"#
    ));
    let key = key_with_policy(&n, &policy).await;
    let mut alice = n.client(Credentials::new(ALICE_AKID, ALICE_SECRET)).await;
    let blob = alice
        .encrypt(pb::EncryptRequest {
            key_id: key.clone(),
            plaintext: b"for alice".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ciphertext_blob;
    let (kind, msg) = err(alice
        .decrypt(pb::DecryptRequest {
            ciphertext_blob: blob.clone(),
            ..Default::default()
        })
        .await);
    assert_eq!(kind, "AccessDeniedException");
    assert_eq!(
        msg,
        format!("User: {ALICE_ARN} is not authorized to perform: kms:Decrypt on resource: {key} because no resource-based policy allows the kms:Decrypt action")
    );
    // The key's owner still decrypts it.
    let mut admin = n.admin().await;
    assert_eq!(
        admin
            .decrypt(pb::DecryptRequest {
                ciphertext_blob: blob,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .plaintext,
        b"for alice"
    );
    // Alice may not manage the key either.
    assert_kind(
        alice.disable_key(pb::DisableKeyRequest { key_id: key.clone() }).await,
        "AccessDeniedException",
    );
    // Every denial is audited with errorCode AccessDeniedException.
    let denied: Vec<_> = n
        .audit_records()
        .into_iter()
        .filter(|r| r["errorCode"] == "AccessDeniedException")
        .map(|r| r["eventName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(denied, vec!["Decrypt", "DisableKey"]);
    n.shutdown().await;
}

#[tokio::test]
async fn bob_is_denied_by_a_condition_on_the_encryption_context() {
    let n = TestNode::start(REGION).await;
    let policy = key_policy(&format!(
        r#",{{"Sid":"BobForPayroll","Effect":"Allow","Principal":{{"AWS":"{BOB_ARN}"}},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*",
          "Condition":{{"StringEquals":{{"kms:EncryptionContext:dept":"payroll"}}}}}},
        {{"Sid":"NeverTest","Effect":"Deny","Principal":{{"AWS":"*"}},"Action":"kms:*","Resource":"*",
          "Condition":{{"StringEquals":{{"kms:EncryptionContext:stage":"test"}}}}}}"#
    ));
    let key = key_with_policy(&n, &policy).await;
    let mut bob = n.client(Credentials::new(BOB_AKID, BOB_SECRET)).await;
    let enc = |dept: &str| pb::EncryptRequest {
        key_id: key.clone(),
        plaintext: b"salary".to_vec(),
        encryption_context: context(&[("dept", dept)]),
        ..Default::default()
    };
    let blob = bob.encrypt(enc("payroll")).await.unwrap().into_inner().ciphertext_blob;
    assert_kind(bob.encrypt(enc("sales")).await, "AccessDeniedException");
    assert_kind(
        bob.encrypt(pb::EncryptRequest {
            key_id: key.clone(),
            plaintext: b"x".to_vec(),
            ..Default::default()
        })
        .await,
        "AccessDeniedException",
    );
    let d = bob
        .decrypt(pb::DecryptRequest {
            ciphertext_blob: blob,
            encryption_context: context(&[("dept", "payroll")]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(d.plaintext, b"salary");
    // The explicit Deny beats the admin's Allow.
    let mut admin = n.admin().await;
    let (kind, msg) = err(admin
        .encrypt(pb::EncryptRequest {
            key_id: key.clone(),
            plaintext: b"x".to_vec(),
            encryption_context: context(&[("stage", "test")]),
            ..Default::default()
        })
        .await);
    assert_eq!(kind, "AccessDeniedException");
    assert!(
        msg.ends_with("with an explicit deny in a resource-based policy"),
        "{msg}"
    );
    n.shutdown().await;
}

#[tokio::test]
async fn carol_crosses_accounts_only_when_the_key_policy_names_her_account() {
    let n = TestNode::start(REGION).await;
    // Default policy: only account 111122223333.
    let mut admin = n.admin().await;
    let private = admin
        .create_key(pb::CreateKeyRequest::default())
        .await
        .unwrap()
        .into_inner()
        .key_metadata
        .unwrap()
        .arn;
    let shared = key_with_policy(
        &n,
        &key_policy(&format!(
            r#",{{"Sid":"CarolsAccount","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{CAROL_ACCOUNT}:root"}},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}}"#
        )),
    )
    .await;
    let mut carol = n.carol().await;
    let enc = |key: &str| pb::EncryptRequest {
        key_id: key.to_string(),
        plaintext: b"shared".to_vec(),
        ..Default::default()
    };
    assert_kind(carol.encrypt(enc(&private)).await, "AccessDeniedException");
    let blob = carol.encrypt(enc(&shared)).await.unwrap().into_inner().ciphertext_blob;
    let d = carol
        .decrypt(pb::DecryptRequest {
            ciphertext_blob: blob,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(d.into_inner().plaintext, b"shared");
    // Not granted in the key policy: DescribeKey.
    assert_kind(
        carol
            .describe_key(pb::DescribeKeyRequest {
                key_id: shared.clone(),
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
    );
    n.shutdown().await;
}

#[tokio::test]
async fn identity_side_is_required_when_the_key_policy_delegates_to_the_account() {
    let n = TestNode::start(REGION).await;
    let mut admin = n.admin().await;
    let key = admin
        .create_key(pb::CreateKeyRequest::default())
        .await
        .unwrap()
        .into_inner()
        .key_metadata
        .unwrap()
        .arn;
    // "nobody" has no identity policy: the default policy delegates to the
    // account, so nobody is refused.
    let mut nobody = n.client(Credentials::new(NOBODY_AKID, NOBODY_SECRET)).await;
    let (kind, msg) = err(nobody
        .describe_key(pb::DescribeKeyRequest {
            key_id: key.clone(),
            ..Default::default()
        })
        .await);
    assert_eq!(kind, "AccessDeniedException");
    assert!(
        msg.contains("because no identity-based policy allows the kms:DescribeKey action"),
        "{msg}"
    );
    assert_kind(
        nobody.create_key(pb::CreateKeyRequest::default()).await,
        "AccessDeniedException",
    );
    assert_kind(
        nobody.list_keys(pb::ListKeysRequest::default()).await,
        "AccessDeniedException",
    );
    n.shutdown().await;
}

#[tokio::test]
async fn a_policy_that_would_lock_the_caller_out_is_refused() {
    let n = TestNode::start(REGION).await;
    let mut admin = n.admin().await;
    let key = admin
        .create_key(pb::CreateKeyRequest::default())
        .await
        .unwrap()
        .into_inner()
        .key_metadata
        .unwrap()
        .arn;
    let lockout = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ALICE_ARN}"}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    let put = |bypass: Option<bool>| pb::PutKeyPolicyRequest {
        key_id: key.clone(),
        policy: lockout.clone(),
        bypass_policy_lockout_safety_check: bypass,
        ..Default::default()
    };
    let (kind, msg) = err(admin.put_key_policy(put(None)).await);
    assert_eq!(kind, "MalformedPolicyDocumentException");
    assert_eq!(
        msg,
        "The new key policy will not allow you to update the key policy in the future."
    );
    assert_kind(
        admin
            .create_key(pb::CreateKeyRequest {
                policy: Some(lockout.clone()),
                ..Default::default()
            })
            .await,
        "MalformedPolicyDocumentException",
    );
    // With the bypass flag the policy is accepted, and the admin is locked out.
    admin.put_key_policy(put(Some(true))).await.unwrap();
    assert_kind(
        admin
            .get_key_policy(pb::GetKeyPolicyRequest {
                key_id: key.clone(),
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
    );
    let mut alice = n.client(Credentials::new(ALICE_AKID, ALICE_SECRET)).await;
    let got = alice
        .get_key_policy(pb::GetKeyPolicyRequest {
            key_id: key.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(got.into_inner().policy, lockout);
    // A malformed policy points at the problem.
    let (kind, msg) = err(
        alice
            .put_key_policy(pb::PutKeyPolicyRequest {
                key_id: key,
                policy: r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEqualz":{"a":"b"}}}]}"#.into(),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(kind, "MalformedPolicyDocumentException");
    assert!(msg.contains("StringEqualz"), "{msg}");
    n.shutdown().await;
}

#[tokio::test]
async fn grants_give_scoped_access_until_retired_or_revoked() {
    let n = TestNode::start(REGION).await;
    // A key only the admin may use; alice gets in through a grant.
    let key = key_with_policy(&n, &key_policy("")).await;
    let mut admin = n.admin().await;
    let mut alice = n.client(Credentials::new(ALICE_AKID, ALICE_SECRET)).await;
    let blob = |ctx: &[(&str, &str)]| pb::EncryptRequest {
        key_id: key.clone(),
        plaintext: b"granted".to_vec(),
        encryption_context: context(ctx),
        ..Default::default()
    };
    let ct = admin
        .encrypt(blob(&[("app", "billing"), ("env", "prod")]))
        .await
        .unwrap()
        .into_inner()
        .ciphertext_blob;
    let other = admin
        .encrypt(blob(&[("app", "search")]))
        .await
        .unwrap()
        .into_inner()
        .ciphertext_blob;
    let dec = |ct: &Vec<u8>, ctx: &[(&str, &str)]| pb::DecryptRequest {
        ciphertext_blob: ct.clone(),
        encryption_context: context(ctx),
        ..Default::default()
    };
    assert_kind(
        alice.decrypt(dec(&ct, &[("app", "billing"), ("env", "prod")])).await,
        "AccessDeniedException",
    );

    let create = |name: &str| pb::CreateGrantRequest {
        key_id: key.clone(),
        grantee_principal: ALICE_ARN.into(),
        retiring_principal: Some(BOB_ARN.into()),
        operations: vec!["Decrypt".into(), "RetireGrant".into()],
        constraints: Some(pb::GrantConstraints {
            encryption_context_subset: context(&[("app", "billing")]),
            ..Default::default()
        }),
        name: Some(name.into()),
        ..Default::default()
    };
    let g = admin.create_grant(create("billing-reader")).await.unwrap().into_inner();
    assert_eq!(g.grant_id.len(), 64);
    // Name idempotency: the same request answers the same grant.
    let again = admin.create_grant(create("billing-reader")).await.unwrap().into_inner();
    assert_eq!(again.grant_id, g.grant_id);

    // The grant token is usable at once; the subset constraint holds.
    let ok = alice
        .decrypt(pb::DecryptRequest {
            grant_tokens: vec![g.grant_token.clone()],
            ..dec(&ct, &[("app", "billing"), ("env", "prod")])
        })
        .await
        .unwrap();
    assert_eq!(ok.into_inner().plaintext, b"granted");
    assert_kind(
        alice.decrypt(dec(&other, &[("app", "search")])).await,
        "AccessDeniedException",
    );
    // A grant gives no more than its operations.
    assert_kind(
        alice.encrypt(blob(&[("app", "billing")])).await,
        "AccessDeniedException",
    );
    // Bad input gets the AWS errors.
    assert_kind(
        alice
            .decrypt(pb::DecryptRequest {
                grant_tokens: vec!["not-a-token".into()],
                ..dec(&ct, &[])
            })
            .await,
        "InvalidGrantTokenException",
    );
    assert_kind(
        admin
            .create_grant(pb::CreateGrantRequest {
                operations: vec!["Fly".into()],
                ..create("x")
            })
            .await,
        "ValidationException",
    );
    assert_kind(
        admin
            .create_grant(pb::CreateGrantRequest {
                operations: vec!["DescribeKey".into()],
                ..create("y")
            })
            .await,
        "ValidationException",
    );
    assert_kind(
        admin
            .create_grant(pb::CreateGrantRequest {
                grantee_principal: "alice".into(),
                ..create("z")
            })
            .await,
        "InvalidArnException",
    );

    let listed = admin
        .list_grants(pb::ListGrantsRequest {
            key_id: key.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.grants.len(), 1);
    assert_eq!(listed.grants[0].grantee_principal, ALICE_ARN);
    assert_eq!(listed.grants[0].operations, vec!["Decrypt", "RetireGrant"]);
    let retirable = admin
        .list_retirable_grants(pb::ListRetirableGrantsRequest {
            retiring_principal: BOB_ARN.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retirable.grants.len(), 1);

    // carol may not retire it; alice (grantee with RetireGrant) may.
    let mut carol = n.carol().await;
    assert_kind(
        carol
            .retire_grant(pb::RetireGrantRequest {
                grant_token: Some(g.grant_token.clone()),
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
    );
    alice
        .retire_grant(pb::RetireGrantRequest {
            grant_token: Some(g.grant_token.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_kind(
        alice.decrypt(dec(&ct, &[("app", "billing"), ("env", "prod")])).await,
        "AccessDeniedException",
    );

    // A revoked grant stops working too.
    let g2 = admin.create_grant(create("second")).await.unwrap().into_inner();
    alice
        .decrypt(dec(&ct, &[("app", "billing"), ("env", "prod")]))
        .await
        .unwrap();
    admin
        .revoke_grant(pb::RevokeGrantRequest {
            key_id: key.clone(),
            grant_id: g2.grant_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_kind(
        alice.decrypt(dec(&ct, &[("app", "billing"), ("env", "prod")])).await,
        "AccessDeniedException",
    );
    assert_kind(
        admin
            .revoke_grant(pb::RevokeGrantRequest {
                key_id: key.clone(),
                grant_id: g2.grant_id,
                ..Default::default()
            })
            .await,
        "NotFoundException",
    );
    n.shutdown().await;
}

#[tokio::test]
async fn conditions_on_rotation_period_deletion_window_and_request_tags() {
    let n = TestNode::start(REGION).await;
    let key = key_with_policy(
        &n,
        &key_policy(
            r#",{"Sid":"ShortRotation","Effect":"Deny","Principal":{"AWS":"*"},"Action":"kms:EnableKeyRotation","Resource":"*",
                 "Condition":{"NumericGreaterThan":{"kms:RotationPeriodInDays":"180"}}},
               {"Sid":"LongWindow","Effect":"Deny","Principal":{"AWS":"*"},"Action":"kms:ScheduleKeyDeletion","Resource":"*",
                 "Condition":{"NumericLessThan":{"kms:ScheduleKeyDeletionPendingWindowInDays":"14"}}},
               {"Sid":"NoProdTags","Effect":"Deny","Principal":{"AWS":"*"},"Action":"kms:TagResource","Resource":"*",
                 "Condition":{"StringEquals":{"aws:RequestTag/env":"prod"}}}"#,
        ),
    )
    .await;
    let mut admin = n.admin().await;
    let rot = |days| pb::EnableKeyRotationRequest {
        key_id: key.clone(),
        rotation_period_in_days: Some(days),
    };
    assert_kind(admin.enable_key_rotation(rot(365)).await, "AccessDeniedException");
    admin.enable_key_rotation(rot(90)).await.unwrap();
    let tag = |v: &str| pb::TagResourceRequest {
        key_id: key.clone(),
        tags: vec![tag("env", v)],
    };
    assert_kind(admin.tag_resource(tag("prod")).await, "AccessDeniedException");
    admin.tag_resource(tag("dev")).await.unwrap();
    let del = |d| pb::ScheduleKeyDeletionRequest {
        key_id: key.clone(),
        pending_window_in_days: Some(d),
    };
    assert_kind(admin.schedule_key_deletion(del(7)).await, "AccessDeniedException");
    admin.schedule_key_deletion(del(30)).await.unwrap();
    n.shutdown().await;
}

#[tokio::test]
async fn resource_aliases_and_request_alias_conditions() {
    let n = TestNode::start(REGION).await;
    // Alice may use a key only while it carries the alias alias/finance-*,
    // and only when she names it through that alias.
    let key = key_with_policy(
        &n,
        &key_policy(&format!(
            r#",{{"Sid":"FinanceKeys","Effect":"Allow","Principal":{{"AWS":"{ALICE_ARN}"}},"Action":"kms:Encrypt","Resource":"*",
                 "Condition":{{"ForAnyValue:StringLike":{{"kms:ResourceAliases":"alias/finance-*"}},"StringLike":{{"kms:RequestAlias":"alias/finance-*"}}}}}}"#
        )),
    )
    .await;
    let mut admin = n.admin().await;
    let mut alice = n.client(Credentials::new(ALICE_AKID, ALICE_SECRET)).await;
    let enc = |id: &str| pb::EncryptRequest {
        key_id: id.to_string(),
        plaintext: b"x".to_vec(),
        ..Default::default()
    };
    admin
        .create_alias(pb::CreateAliasRequest {
            alias_name: "alias/finance-ledger".into(),
            target_key_id: key.clone(),
        })
        .await
        .unwrap();
    alice.encrypt(enc("alias/finance-ledger")).await.unwrap();
    assert_kind(alice.encrypt(enc(&key)).await, "AccessDeniedException");
    admin
        .delete_alias(pb::DeleteAliasRequest {
            alias_name: "alias/finance-ledger".into(),
        })
        .await
        .unwrap();
    admin
        .create_alias(pb::CreateAliasRequest {
            alias_name: "alias/other".into(),
            target_key_id: key.clone(),
        })
        .await
        .unwrap();
    assert_kind(alice.encrypt(enc("alias/other")).await, "AccessDeniedException");
    n.shutdown().await;
}

#[tokio::test]
async fn a_grant_holder_can_only_create_narrower_grants_and_aliases_stay_in_their_account() {
    let n = TestNode::start(REGION).await;
    let key = key_with_policy(&n, &key_policy("")).await;
    let mut admin = n.admin().await;
    let mut alice = n.client(Credentials::new(ALICE_AKID, ALICE_SECRET)).await;
    let grant = |grantee: &str, ops: &[&str], subset: &[(&str, &str)]| pb::CreateGrantRequest {
        key_id: key.clone(),
        grantee_principal: grantee.into(),
        operations: ops.iter().map(|o| o.to_string()).collect(),
        constraints: Some(pb::GrantConstraints {
            encryption_context_subset: context(subset),
            ..Default::default()
        }),
        ..Default::default()
    };
    admin
        .create_grant(grant(ALICE_ARN, &["Decrypt", "CreateGrant"], &[("app", "billing")]))
        .await
        .unwrap();
    // Wider operations or looser constraints are refused; a narrower grant is fine.
    assert_kind(
        alice
            .create_grant(grant(BOB_ARN, &["Decrypt", "Encrypt"], &[("app", "billing")]))
            .await,
        "AccessDeniedException",
    );
    assert_kind(
        alice.create_grant(grant(BOB_ARN, &["Decrypt"], &[])).await,
        "AccessDeniedException",
    );
    assert_kind(
        alice
            .create_grant(grant(BOB_ARN, &["Decrypt"], &[("app", "search")]))
            .await,
        "AccessDeniedException",
    );
    alice
        .create_grant(grant(BOB_ARN, &["Decrypt"], &[("app", "billing"), ("env", "prod")]))
        .await
        .unwrap();

    // Listing retirable grants is limited to the caller's own account.
    let mut carol = n.carol().await;
    assert_kind(
        carol
            .list_retirable_grants(pb::ListRetirableGrantsRequest {
                retiring_principal: ALICE_ARN.into(),
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
    );

    // An alias cannot point at another account's key, even one it may use.
    let shared = key_with_policy(
        &n,
        &key_policy(&format!(
            r#",{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{CAROL_ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}}"#
        )),
    )
    .await;
    assert_kind(
        carol
            .create_alias(pb::CreateAliasRequest {
                alias_name: "alias/borrowed".into(),
                target_key_id: shared,
            })
            .await,
        "AccessDeniedException",
    );
    n.shutdown().await;
}

#[tokio::test]
async fn roles_are_assumed_role_sessions_matched_by_their_role_arn() {
    // The role is configured in the last account of the harness's
    // principals (carol's, 444455556666), so its use of the admin's key is
    // cross-account: key policy and identity policy must both allow it.
    let n = TestNode::start_with_principals(
        REGION,
        &format!(
            r#"{}
[[accounts.users]]
name = "role/Auditor"
access_key_id = "AKIAROLEAUDITOR00001"
secret_access_key = "auditor-secret"
policies = ['{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*"}}]}}']
"#,
            principals_toml()
        ),
    )
    .await;
    let role_arn = "arn:aws:iam::444455556666:role/Auditor";
    let key = key_with_policy(
        &n,
        &key_policy(&format!(
            r#",{{"Effect":"Allow","Principal":{{"AWS":"{role_arn}"}},"Action":"kms:DescribeKey","Resource":"*","Condition":{{"ArnEquals":{{"aws:PrincipalArn":"{role_arn}"}}}}}}"#
        )),
    )
    .await;
    let mut auditor = n
        .client(Credentials::new("AKIAROLEAUDITOR00001", "auditor-secret"))
        .await;
    auditor
        .describe_key(pb::DescribeKeyRequest {
            key_id: key.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_kind(
        auditor
            .encrypt(pb::EncryptRequest {
                key_id: key,
                plaintext: b"x".to_vec(),
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
    );
    let rec = n
        .audit_records()
        .into_iter()
        .find(|r| r["eventName"] == "DescribeKey")
        .unwrap();
    assert_eq!(rec["userIdentity"]["type"], "AssumedRole");
    assert_eq!(
        rec["userIdentity"]["arn"],
        "arn:aws:sts::444455556666:assumed-role/Auditor/tern"
    );
    n.shutdown().await;
}

/// AWS's quota of 500 grants per grantee per key: the 501st grant for one
/// grantee is refused (LimitExceededException), other grantees still get
/// theirs, and a grant retired frees its room. Authorization reads only
/// the caller's own grants: Bob's grants give Alice nothing.
#[tokio::test]
async fn grants_per_grantee_per_key_are_bounded_and_only_the_callers_count() {
    let node = TestNode::start(REGION).await;
    let mut admin = node.admin().await;
    let key = create_key(&mut admin).await.key_id;
    let grant = |grantee: &str, n: usize| pb::CreateGrantRequest {
        key_id: key.clone(),
        grantee_principal: grantee.into(),
        operations: vec!["Encrypt".into()],
        name: Some(format!("g{n}")),
        ..Default::default()
    };
    let mut first = None;
    for n in 0..500 {
        let g = admin.create_grant(grant(BOB_ARN, n)).await.unwrap().into_inner();
        first.get_or_insert(g.grant_id);
    }
    let m = assert_kind(admin.create_grant(grant(BOB_ARN, 500)).await, "LimitExceededException");
    assert!(m.contains("(500) for the grantee principal"), "{m}");
    // Name idempotency still answers an existing grant at the quota.
    assert!(admin.create_grant(grant(BOB_ARN, 7)).await.is_ok());
    // Another grantee is not affected; Bob's 500 grants give Nobody (who
    // has no identity policy) nothing until Nobody has a grant of its own.
    const NOBODY_ARN: &str = "arn:aws:iam::111122223333:user/nobody";
    let mut nobody = node.client(Credentials::new(NOBODY_AKID, NOBODY_SECRET)).await;
    let enc = pb::EncryptRequest {
        key_id: key.clone(),
        plaintext: b"x".to_vec(),
        ..Default::default()
    };
    assert_kind(nobody.encrypt(enc.clone()).await, "AccessDeniedException");
    admin.create_grant(grant(NOBODY_ARN, 0)).await.unwrap();
    nobody.encrypt(enc).await.unwrap();
    // Retiring one makes room for one more.
    admin
        .revoke_grant(pb::RevokeGrantRequest {
            key_id: key.clone(),
            grant_id: first.unwrap(),
            ..Default::default()
        })
        .await
        .unwrap();
    admin.create_grant(grant(BOB_ARN, 501)).await.unwrap();
    assert_kind(admin.create_grant(grant(BOB_ARN, 502)).await, "LimitExceededException");
}
