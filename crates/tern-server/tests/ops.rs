//! Every KMS operation over real gRPC with SigV4: a node on `127.0.0.1:0`
//! per test, each in its own temporary directory, time driven by a fake
//! clock. Asserts what a user sees: the values, and for errors the AWS
//! exception name and message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use common::*;
use tern_client::KmsClient;
use tern_core::time::MILLIS_PER_DAY;
use tern_proto::pb;
use tonic::Status;

const DAY_SECONDS: f64 = 86_400.0;

fn seconds(ms: tern_core::time::UnixMillis) -> f64 {
    ms.as_epoch_seconds()
}

fn key_arn(region: &str, account: &str, key_id: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:key/{key_id}")
}

fn alias_arn(region: &str, account: &str, alias: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:{alias}")
}

fn is_material_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_key_id(s: &str) -> bool {
    s.len() == 36 && uuid_like(s)
}

fn uuid_like(s: &str) -> bool {
    s.char_indices().all(|(i, c)| {
        if [8, 13, 18, 23].contains(&i) {
            c == '-'
        } else {
            c.is_ascii_digit() || ('a'..='f').contains(&c)
        }
    })
}

async fn create_alias(c: &mut KmsClient, alias: &str, target: &str) {
    ok(c.create_alias(pb::CreateAliasRequest {
        alias_name: alias.to_string(),
        target_key_id: target.to_string(),
    })
    .await);
}

/// All aliases (one page), sorted by name: AWS promises no order.
async fn list_aliases(c: &mut KmsClient, key_id: Option<&str>) -> Vec<pb::AliasListEntry> {
    let mut all = ok(c
        .list_aliases(pb::ListAliasesRequest {
            key_id: key_id.map(str::to_string),
            ..Default::default()
        })
        .await)
    .aliases;
    all.sort_by(|a, b| a.alias_name.cmp(&b.alias_name));
    all
}

/// All tags (one page), sorted by key: AWS promises no order.
async fn list_tags(c: &mut KmsClient, key_id: &str) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = ok(c
        .list_resource_tags(pb::ListResourceTagsRequest {
            key_id: key_id.to_string(),
            ..Default::default()
        })
        .await)
    .tags
    .into_iter()
    .map(|t| (t.tag_key, t.tag_value))
    .collect();
    all.sort();
    all
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

async fn rotation_status(c: &mut KmsClient, key_id: &str) -> pb::GetKeyRotationStatusResponse {
    ok(c.get_key_rotation_status(pb::GetKeyRotationStatusRequest {
        key_id: key_id.to_string(),
    })
    .await)
}

async fn enable_rotation(c: &mut KmsClient, key_id: &str, days: Option<i32>) {
    ok(c.enable_key_rotation(pb::EnableKeyRotationRequest {
        key_id: key_id.to_string(),
        rotation_period_in_days: days,
    })
    .await);
}

async fn rotate_on_demand(
    c: &mut KmsClient,
    key_id: &str,
) -> Result<tonic::Response<pb::RotateKeyOnDemandResponse>, Status> {
    c.rotate_key_on_demand(pb::RotateKeyOnDemandRequest {
        key_id: key_id.to_string(),
    })
    .await
}

async fn list_rotations(c: &mut KmsClient, key_id: &str, include: Option<&str>) -> Vec<pb::RotationsListEntry> {
    ok(c.list_key_rotations(pb::ListKeyRotationsRequest {
        key_id: key_id.to_string(),
        include_key_material: include.map(str::to_string),
        ..Default::default()
    })
    .await)
    .rotations
}

async fn schedule_deletion(c: &mut KmsClient, key_id: &str, days: Option<i32>) -> pb::ScheduleKeyDeletionResponse {
    ok(c.schedule_key_deletion(pb::ScheduleKeyDeletionRequest {
        key_id: key_id.to_string(),
        pending_window_in_days: days,
    })
    .await)
}

async fn disable(c: &mut KmsClient, key_id: &str) {
    ok(c.disable_key(pb::DisableKeyRequest {
        key_id: key_id.to_string(),
    })
    .await);
}

// ---------------------------------------------------------------------------
// Success paths
// ---------------------------------------------------------------------------

#[tokio::test]
async fn create_key_returns_full_metadata_and_stores_description_tags_and_policy() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"all","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;
    let md = create_key_with(
        &mut c,
        pb::CreateKeyRequest {
            description: Some("payments key".into()),
            policy: Some(policy.into()),
            tags: vec![tag("team", "payments"), tag("empty", "")],
            ..Default::default()
        },
    )
    .await;

    assert!(is_key_id(&md.key_id), "{}", md.key_id);
    assert_eq!(md.arn, key_arn(REGION, ADMIN_ACCOUNT, &md.key_id));
    assert_eq!(md.aws_account_id, ADMIN_ACCOUNT);
    assert_eq!(md.key_state, "Enabled");
    assert!(md.enabled);
    assert_eq!(md.key_spec, "SYMMETRIC_DEFAULT");
    assert_eq!(md.customer_master_key_spec, "SYMMETRIC_DEFAULT");
    assert_eq!(md.key_usage, "ENCRYPT_DECRYPT");
    assert_eq!(md.origin, "AWS_KMS");
    assert_eq!(md.key_manager, "CUSTOMER");
    assert_eq!(md.encryption_algorithms, vec!["SYMMETRIC_DEFAULT".to_string()]);
    assert!(!md.multi_region);
    assert_eq!(md.description, "payments key");
    assert_eq!(md.creation_date, seconds(START));
    assert_eq!(md.deletion_date, None);
    assert_eq!(md.pending_deletion_window_in_days, None);
    let material = md.current_key_material_id.clone().unwrap();
    assert!(is_material_id(&material), "{material}");

    // DescribeKey shows the same key.
    assert_eq!(describe(&mut c, &md.key_id).await, md);

    // Tags and policy were stored as given.
    assert_eq!(
        list_tags(&mut c, &md.key_id).await,
        pairs(&[("empty", ""), ("team", "payments")])
    );
    let got = ok(c
        .get_key_policy(pb::GetKeyPolicyRequest {
            key_id: md.key_id.clone(),
            policy_name: Some("default".into()),
        })
        .await);
    assert_eq!(got.policy, policy);
    assert_eq!(got.policy_name, "default");

    // A second key is a different key with different material.
    let other = create_key(&mut c).await;
    assert_ne!(other.key_id, md.key_id);
    assert_ne!(other.current_key_material_id, md.current_key_material_id);
    assert_eq!(other.description, "");
    n.shutdown().await;
}

#[tokio::test]
async fn describe_key_accepts_key_id_key_arn_alias_name_and_alias_arn() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    create_alias(&mut c, "alias/orders", &md.key_id).await;

    for id in [
        md.key_id.clone(),
        md.arn.clone(),
        "alias/orders".to_string(),
        alias_arn(REGION, ADMIN_ACCOUNT, "alias/orders"),
    ] {
        let got = describe(&mut c, &id).await;
        assert_eq!(got.key_id, md.key_id, "{id}");
        assert_eq!(got.arn, md.arn, "{id}");
    }
    n.shutdown().await;
}

#[tokio::test]
async fn list_keys_pages_with_limit_and_marker() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let mut created = Vec::new();
    for _ in 0..7 {
        created.push(create_key(&mut c).await);
    }
    // Another account's key is never listed.
    let mut carol = n.carol().await;
    let carols = create_key(&mut carol).await;

    let mut seen = Vec::new();
    let mut marker = None;
    let mut pages = Vec::new();
    loop {
        let page = ok(c
            .list_keys(pb::ListKeysRequest {
                limit: Some(3),
                marker: marker.clone(),
            })
            .await);
        pages.push((page.keys.len(), page.truncated));
        assert_eq!(page.truncated, page.next_marker.is_some());
        for k in &page.keys {
            assert_eq!(k.key_arn, key_arn(REGION, ADMIN_ACCOUNT, &k.key_id));
            seen.push(k.key_id.clone());
        }
        match page.next_marker {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    assert_eq!(pages, vec![(3, true), (3, true), (1, false)]);
    let mut want: Vec<String> = created.iter().map(|k| k.key_id.clone()).collect();
    want.sort();
    let mut got = seen.clone();
    got.sort();
    assert_eq!(got, want, "every key exactly once");
    assert!(!seen.contains(&carols.key_id));

    // Without a limit everything fits one page.
    let all = ok(c.list_keys(pb::ListKeysRequest::default()).await);
    assert_eq!((all.keys.len(), all.truncated, all.next_marker), (7, false, None));
    // Carol sees only hers.
    let hers = ok(carol.list_keys(pb::ListKeysRequest::default()).await);
    assert_eq!(hers.keys.len(), 1);
    assert_eq!(hers.keys[0].key_arn, key_arn(REGION, CAROL_ACCOUNT, &carols.key_id));
    n.shutdown().await;
}

#[tokio::test]
async fn disable_and_enable_key() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;

    disable(&mut c, &md.key_id).await;
    let d = describe(&mut c, &md.key_id).await;
    assert_eq!((d.key_state.as_str(), d.enabled), ("Disabled", false));
    // Disabling twice is fine.
    disable(&mut c, &md.arn).await;

    ok(c.enable_key(pb::EnableKeyRequest { key_id: md.arn.clone() }).await);
    let e = describe(&mut c, &md.key_id).await;
    assert_eq!((e.key_state.as_str(), e.enabled), ("Enabled", true));
    encrypt(&mut c, &md.key_id, b"works again").await;
    n.shutdown().await;
}

#[tokio::test]
async fn schedule_and_cancel_key_deletion() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;

    // Default window: 30 days.
    let s = schedule_deletion(&mut c, &md.key_id, None).await;
    assert_eq!(s.key_id, md.arn);
    assert_eq!(s.key_state, "PendingDeletion");
    assert_eq!(s.pending_window_in_days, Some(30));
    assert_eq!(s.deletion_date, Some(seconds(START) + 30.0 * DAY_SECONDS));
    let d = describe(&mut c, &md.key_id).await;
    assert_eq!((d.key_state.as_str(), d.enabled), ("PendingDeletion", false));
    assert_eq!(d.deletion_date, s.deletion_date);
    assert_eq!(d.pending_deletion_window_in_days, Some(30));

    // Cancelling leaves the key Disabled, with no deletion date.
    let cancelled = ok(c
        .cancel_key_deletion(pb::CancelKeyDeletionRequest {
            key_id: md.key_id.clone(),
        })
        .await);
    assert_eq!(cancelled.key_id, md.arn);
    let d = describe(&mut c, &md.key_id).await;
    assert_eq!((d.key_state.as_str(), d.enabled), ("Disabled", false));
    assert_eq!(d.deletion_date, None);
    assert_eq!(d.pending_deletion_window_in_days, None);

    // A custom window of 7 days, by ARN, from Disabled.
    let s = schedule_deletion(&mut c, &md.arn, Some(7)).await;
    assert_eq!(s.pending_window_in_days, Some(7));
    assert_eq!(s.deletion_date, Some(seconds(START) + 7.0 * DAY_SECONDS));
    assert_eq!(
        describe(&mut c, &md.key_id).await.pending_deletion_window_in_days,
        Some(7)
    );
    n.shutdown().await;
}

#[tokio::test]
async fn update_key_description() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    ok(c.update_key_description(pb::UpdateKeyDescriptionRequest {
        key_id: md.key_id.clone(),
        description: "new words".into(),
    })
    .await);
    assert_eq!(describe(&mut c, &md.key_id).await.description, "new words");
    // To empty, by ARN.
    ok(c.update_key_description(pb::UpdateKeyDescriptionRequest {
        key_id: md.arn.clone(),
        description: String::new(),
    })
    .await);
    assert_eq!(describe(&mut c, &md.key_id).await.description, "");
    n.shutdown().await;
}

#[tokio::test]
async fn aliases_create_update_delete_and_list() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let a = create_key(&mut c).await;
    let b = create_key(&mut c).await;
    create_alias(&mut c, "alias/one", &a.key_id).await;
    create_alias(&mut c, "alias/two", &a.arn).await;
    create_alias(&mut c, "alias/three", &b.key_id).await;
    // Carol's aliases are her own, even with the same name.
    let mut carol = n.carol().await;
    let hers = create_key(&mut carol).await;
    create_alias(&mut carol, "alias/one", &hers.key_id).await;

    let all = list_aliases(&mut c, None).await;
    let names: Vec<&str> = all.iter().map(|a| a.alias_name.as_str()).collect();
    assert_eq!(names, vec!["alias/one", "alias/three", "alias/two"]);
    let one = &all[0];
    assert_eq!(one.alias_arn, alias_arn(REGION, ADMIN_ACCOUNT, "alias/one"));
    assert_eq!(one.target_key_id.as_deref(), Some(a.key_id.as_str()));
    assert_eq!(one.creation_date, Some(seconds(START)));
    assert_eq!(one.last_updated_date, Some(seconds(START)));

    // Paging, limit 2.
    let p1 = ok(c
        .list_aliases(pb::ListAliasesRequest {
            limit: Some(2),
            ..Default::default()
        })
        .await);
    assert_eq!(p1.aliases.len(), 2);
    assert!(p1.truncated);
    let p2 = ok(c
        .list_aliases(pb::ListAliasesRequest {
            limit: Some(2),
            marker: p1.next_marker.clone(),
            ..Default::default()
        })
        .await);
    assert_eq!(p2.aliases.len(), 1);
    assert!(!p2.truncated);
    assert_eq!(p2.next_marker, None);
    let mut paged: Vec<&str> = p1
        .aliases
        .iter()
        .chain(&p2.aliases)
        .map(|a| a.alias_name.as_str())
        .collect();
    paged.sort();
    assert_eq!(paged, vec!["alias/one", "alias/three", "alias/two"]);

    // KeyId filter, by id and by ARN.
    let of_a: Vec<String> = list_aliases(&mut c, Some(&a.key_id))
        .await
        .into_iter()
        .map(|x| x.alias_name)
        .collect();
    assert_eq!(of_a, vec!["alias/one", "alias/two"]);
    let of_b: Vec<String> = list_aliases(&mut c, Some(&b.arn))
        .await
        .into_iter()
        .map(|x| x.alias_name)
        .collect();
    assert_eq!(of_b, vec!["alias/three"]);

    // UpdateAlias moves it; encrypting through the alias now uses b.
    n.advance_days(1);
    ok(c.update_alias(pb::UpdateAliasRequest {
        alias_name: "alias/one".into(),
        target_key_id: b.key_id.clone(),
    })
    .await);
    assert_eq!(describe(&mut c, "alias/one").await.key_id, b.key_id);
    assert_eq!(encrypt(&mut c, "alias/one", b"x").await.key_id, b.arn);
    let one = list_aliases(&mut c, None).await.remove(0);
    assert_eq!(one.target_key_id.as_deref(), Some(b.key_id.as_str()));
    assert_eq!(one.creation_date, Some(seconds(START)));
    assert_eq!(one.last_updated_date, Some(seconds(START) + DAY_SECONDS));

    // DeleteAlias removes it; the key stays.
    ok(c.delete_alias(pb::DeleteAliasRequest {
        alias_name: "alias/one".into(),
    })
    .await);
    let names: Vec<String> = list_aliases(&mut c, None)
        .await
        .into_iter()
        .map(|x| x.alias_name)
        .collect();
    assert_eq!(names, vec!["alias/three", "alias/two"]);
    assert_err(
        c.describe_key(pb::DescribeKeyRequest {
            key_id: "alias/one".into(),
            grant_tokens: vec![],
        })
        .await,
        "NotFoundException",
        &format!("Alias {} is not found.", alias_arn(REGION, ADMIN_ACCOUNT, "alias/one")),
    );
    describe(&mut c, &b.key_id).await;
    // Carol's alias/one is untouched.
    assert_eq!(describe(&mut carol, "alias/one").await.key_id, hers.key_id);
    n.shutdown().await;
}

#[tokio::test]
async fn tag_untag_and_list_resource_tags() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    assert!(list_tags(&mut c, &md.key_id).await.is_empty());

    ok(c.tag_resource(pb::TagResourceRequest {
        key_id: md.key_id.clone(),
        tags: vec![tag("b", "2"), tag("a", "1"), tag("c", "")],
    })
    .await);
    assert_eq!(
        list_tags(&mut c, &md.key_id).await,
        pairs(&[("a", "1"), ("b", "2"), ("c", "")])
    );
    // Same key: value replaced.
    ok(c.tag_resource(pb::TagResourceRequest {
        key_id: md.arn.clone(),
        tags: vec![tag("a", "one")],
    })
    .await);
    assert_eq!(
        list_tags(&mut c, &md.arn).await,
        pairs(&[("a", "one"), ("b", "2"), ("c", "")])
    );
    // Paging.
    let p1 = ok(c
        .list_resource_tags(pb::ListResourceTagsRequest {
            key_id: md.key_id.clone(),
            limit: Some(2),
            marker: None,
        })
        .await);
    assert_eq!((p1.tags.len(), p1.truncated), (2, true));
    let p2 = ok(c
        .list_resource_tags(pb::ListResourceTagsRequest {
            key_id: md.key_id.clone(),
            limit: Some(2),
            marker: p1.next_marker.clone(),
        })
        .await);
    assert_eq!((p2.tags.len(), p2.truncated, p2.next_marker), (1, false, None));
    let mut paged: Vec<&str> = p1.tags.iter().chain(&p2.tags).map(|t| t.tag_key.as_str()).collect();
    paged.sort();
    assert_eq!(paged, vec!["a", "b", "c"]);

    // Untag: removed keys go, unknown keys are ignored.
    ok(c.untag_resource(pb::UntagResourceRequest {
        key_id: md.key_id.clone(),
        tag_keys: vec!["a".into(), "c".into(), "nope".into()],
    })
    .await);
    assert_eq!(list_tags(&mut c, &md.key_id).await, pairs(&[("b", "2")]));
    n.shutdown().await;
}

#[tokio::test]
async fn encrypt_and_decrypt_with_and_without_key_id() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    create_alias(&mut c, "alias/app", &md.key_id).await;
    let material = md.current_key_material_id.clone().unwrap();

    let e = encrypt(&mut c, "alias/app", b"hello tern").await;
    assert_eq!(e.key_id, md.arn);
    assert_eq!(e.encryption_algorithm, "SYMMETRIC_DEFAULT");
    assert!(!e.ciphertext_blob.windows(10).any(|w| w == b"hello tern"));

    // Without KeyId: the blob names its key.
    let d = decrypt(&mut c, &e.ciphertext_blob).await;
    assert_eq!(d.plaintext, b"hello tern");
    assert_eq!(d.key_id, md.arn);
    assert_eq!(d.encryption_algorithm, "SYMMETRIC_DEFAULT");
    assert_eq!(d.key_material_id.as_deref(), Some(material.as_str()));

    // With KeyId in every form.
    for id in [
        md.key_id.clone(),
        md.arn.clone(),
        "alias/app".into(),
        alias_arn(REGION, ADMIN_ACCOUNT, "alias/app"),
    ] {
        let d = ok(c
            .decrypt(pb::DecryptRequest {
                key_id: Some(id.clone()),
                ..decrypt_req(&e.ciphertext_blob)
            })
            .await);
        assert_eq!(d.plaintext, b"hello tern", "{id}");
    }

    // Encryption context: the same map decrypts, in whatever order it was
    // built; a different one does not.
    let mut ctx1 = context(&[("tenant", "acme"), ("purpose", "test")]);
    let e = ok(c
        .encrypt(pb::EncryptRequest {
            key_id: md.key_id.clone(),
            plaintext: b"with context".to_vec(),
            encryption_context: ctx1.clone(),
            ..Default::default()
        })
        .await);
    let ctx2 = context(&[("purpose", "test"), ("tenant", "acme")]);
    let d = ok(c
        .decrypt(pb::DecryptRequest {
            encryption_context: ctx2,
            ..decrypt_req(&e.ciphertext_blob)
        })
        .await);
    assert_eq!(d.plaintext, b"with context");
    ctx1.insert("tenant".into(), "ACME".into());
    assert_err(
        c.decrypt(pb::DecryptRequest {
            encryption_context: ctx1,
            ..decrypt_req(&e.ciphertext_blob)
        })
        .await,
        "InvalidCiphertextException",
        "",
    );
    // Each encryption of the same plaintext differs.
    let again = encrypt(&mut c, &md.key_id, b"hello tern").await;
    let twice = encrypt(&mut c, &md.key_id, b"hello tern").await;
    assert_ne!(again.ciphertext_blob, twice.ciphertext_blob);
    n.shutdown().await;
}

#[tokio::test]
async fn re_encrypt_moves_a_ciphertext_between_keys() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let a = create_key(&mut c).await;
    let b = create_key(&mut c).await;
    create_alias(&mut c, "alias/dest", &b.key_id).await;
    let src_ctx = context(&[("stage", "one")]);
    let dst_ctx = context(&[("stage", "two")]);
    let e = ok(c
        .encrypt(pb::EncryptRequest {
            key_id: a.key_id.clone(),
            plaintext: b"moving secret".to_vec(),
            encryption_context: src_ctx.clone(),
            ..Default::default()
        })
        .await);

    let r = ok(c
        .re_encrypt(pb::ReEncryptRequest {
            ciphertext_blob: e.ciphertext_blob.clone(),
            source_encryption_context: src_ctx.clone(),
            source_key_id: Some(a.arn.clone()),
            destination_key_id: "alias/dest".into(),
            destination_encryption_context: dst_ctx.clone(),
            ..Default::default()
        })
        .await);
    assert_eq!(r.source_key_id, a.arn);
    assert_eq!(r.key_id, b.arn);
    assert_eq!(r.source_encryption_algorithm, "SYMMETRIC_DEFAULT");
    assert_eq!(r.destination_encryption_algorithm, "SYMMETRIC_DEFAULT");
    assert_eq!(r.source_key_material_id, a.current_key_material_id);
    assert_eq!(r.destination_key_material_id, b.current_key_material_id);

    let d = ok(c
        .decrypt(pb::DecryptRequest {
            encryption_context: dst_ctx,
            ..decrypt_req(&r.ciphertext_blob)
        })
        .await);
    assert_eq!(d.plaintext, b"moving secret");
    assert_eq!(d.key_id, b.arn);
    // The new blob is bound to the destination context only.
    assert_err(
        c.decrypt(pb::DecryptRequest {
            encryption_context: src_ctx,
            ..decrypt_req(&r.ciphertext_blob)
        })
        .await,
        "InvalidCiphertextException",
        "",
    );
    // Without a SourceKeyId the blob names its key.
    let r2 = ok(c
        .re_encrypt(pb::ReEncryptRequest {
            ciphertext_blob: r.ciphertext_blob.clone(),
            source_encryption_context: context(&[("stage", "two")]),
            destination_key_id: a.key_id.clone(),
            ..Default::default()
        })
        .await);
    assert_eq!(
        (r2.source_key_id.as_str(), r2.key_id.as_str()),
        (b.arn.as_str(), a.arn.as_str())
    );
    assert_eq!(decrypt(&mut c, &r2.ciphertext_blob).await.plaintext, b"moving secret");
    n.shutdown().await;
}

#[tokio::test]
async fn generate_data_key_and_without_plaintext() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    let ctx = context(&[("bucket", "photos")]);

    for (number_of_bytes, key_spec, len) in [
        (None, Some("AES_256"), 32),
        (None, Some("AES_128"), 16),
        (Some(64), None, 64),
        (Some(1), None, 1),
        (Some(1024), None, 1024),
    ] {
        let g = ok(c
            .generate_data_key(pb::GenerateDataKeyRequest {
                key_id: md.key_id.clone(),
                encryption_context: ctx.clone(),
                number_of_bytes,
                key_spec: key_spec.map(str::to_string),
                ..Default::default()
            })
            .await);
        assert_eq!(g.plaintext.len(), len, "{key_spec:?} {number_of_bytes:?}");
        assert_eq!(g.key_id, md.arn);
        assert_eq!(g.key_material_id, md.current_key_material_id);
        let d = ok(c
            .decrypt(pb::DecryptRequest {
                encryption_context: ctx.clone(),
                ..decrypt_req(&g.ciphertext_blob)
            })
            .await);
        assert_eq!(d.plaintext, g.plaintext);
        assert_eq!(d.key_id, md.arn);
    }
    // Two data keys differ.
    let g1 = ok(c
        .generate_data_key(pb::GenerateDataKeyRequest {
            key_id: md.key_id.clone(),
            key_spec: Some("AES_256".into()),
            ..Default::default()
        })
        .await);
    let g2 = ok(c
        .generate_data_key(pb::GenerateDataKeyRequest {
            key_id: md.key_id.clone(),
            key_spec: Some("AES_256".into()),
            ..Default::default()
        })
        .await);
    assert_ne!(g1.plaintext, g2.plaintext);

    let w = ok(c
        .generate_data_key_without_plaintext(pb::GenerateDataKeyWithoutPlaintextRequest {
            key_id: md.arn.clone(),
            encryption_context: ctx.clone(),
            key_spec: Some("AES_128".into()),
            ..Default::default()
        })
        .await);
    assert_eq!(w.key_id, md.arn);
    assert_eq!(w.key_material_id, md.current_key_material_id);
    let d = ok(c
        .decrypt(pb::DecryptRequest {
            encryption_context: ctx,
            ..decrypt_req(&w.ciphertext_blob)
        })
        .await);
    assert_eq!(d.plaintext.len(), 16);
    n.shutdown().await;
}

#[tokio::test]
async fn generate_random_returns_the_bytes_asked_for() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    for len in [1usize, 32, 1024] {
        let r = ok(c
            .generate_random(pb::GenerateRandomRequest {
                number_of_bytes: Some(len as i32),
                custom_key_store_id: None,
            })
            .await);
        assert_eq!(r.plaintext.len(), len);
    }
    let a = ok(c
        .generate_random(pb::GenerateRandomRequest {
            number_of_bytes: Some(32),
            custom_key_store_id: None,
        })
        .await);
    let b = ok(c
        .generate_random(pb::GenerateRandomRequest {
            number_of_bytes: Some(32),
            custom_key_store_id: None,
        })
        .await);
    assert_ne!(a.plaintext, b.plaintext);
    n.shutdown().await;
}

#[tokio::test]
async fn enable_and_disable_key_rotation_and_get_status() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;

    let s = rotation_status(&mut c, &md.key_id).await;
    assert!(!s.key_rotation_enabled);
    assert_eq!((s.rotation_period_in_days, s.next_rotation_date), (None, None));

    // Default period: 365 days.
    enable_rotation(&mut c, &md.key_id, None).await;
    let s = rotation_status(&mut c, &md.arn).await;
    assert!(s.key_rotation_enabled);
    assert_eq!(s.rotation_period_in_days, Some(365));
    assert_eq!(s.next_rotation_date, Some(seconds(START) + 365.0 * DAY_SECONDS));

    ok(c.disable_key_rotation(pb::DisableKeyRotationRequest {
        key_id: md.key_id.clone(),
    })
    .await);
    let s = rotation_status(&mut c, &md.key_id).await;
    assert!(!s.key_rotation_enabled);
    assert_eq!((s.rotation_period_in_days, s.next_rotation_date), (None, None));

    // A custom period, counted from when rotation is enabled.
    n.advance_days(10);
    enable_rotation(&mut c, &md.arn, Some(90)).await;
    let s = rotation_status(&mut c, &md.key_id).await;
    assert!(s.key_rotation_enabled);
    assert_eq!(s.rotation_period_in_days, Some(90));
    assert_eq!(s.next_rotation_date, Some(seconds(START) + 100.0 * DAY_SECONDS));
    n.shutdown().await;
}

#[tokio::test]
async fn rotate_on_demand_and_list_key_rotations() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    let first = md.current_key_material_id.clone().unwrap();

    assert!(list_rotations(&mut c, &md.key_id, None).await.is_empty());

    let r = ok(rotate_on_demand(&mut c, &md.key_id).await);
    assert_eq!(r.key_id, md.arn, "RotateKeyOnDemand answers the key ARN");
    let second = describe(&mut c, &md.key_id).await.current_key_material_id.unwrap();
    assert!(is_material_id(&second));
    assert_ne!(second, first);
    n.advance_days(1);
    ok(rotate_on_demand(&mut c, &md.arn).await);
    let third = describe(&mut c, &md.key_id).await.current_key_material_id.unwrap();
    assert_ne!(third, second);

    // ROTATIONS_ONLY (the default): one entry per rotation, oldest first.
    for include in [None, Some("ROTATIONS_ONLY")] {
        let rot = list_rotations(&mut c, &md.key_id, include).await;
        assert_eq!(rot.len(), 2, "{include:?}");
        let got: Vec<_> = rot
            .iter()
            .map(|e| {
                (
                    e.key_id.as_str(),
                    e.key_material_id.as_deref().unwrap(),
                    e.rotation_type.as_deref(),
                    e.key_material_state.as_deref(),
                    e.rotation_date,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    md.key_id.as_str(),
                    second.as_str(),
                    Some("ON_DEMAND"),
                    Some("NON_CURRENT"),
                    Some(seconds(START))
                ),
                (
                    md.key_id.as_str(),
                    third.as_str(),
                    Some("ON_DEMAND"),
                    Some("CURRENT"),
                    Some(seconds(START) + DAY_SECONDS)
                ),
            ]
        );
    }
    // ALL_KEY_MATERIAL adds the original material, which was not a rotation.
    let all = list_rotations(&mut c, &md.key_id, Some("ALL_KEY_MATERIAL")).await;
    let got: Vec<_> = all
        .iter()
        .map(|e| {
            (
                e.key_material_id.clone().unwrap(),
                e.rotation_type.clone(),
                e.key_material_state.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (first.clone(), None, "NON_CURRENT".to_string()),
            (second.clone(), Some("ON_DEMAND".to_string()), "NON_CURRENT".to_string()),
            (third.clone(), Some("ON_DEMAND".to_string()), "CURRENT".to_string()),
        ]
    );
    // Paging.
    let p1 = ok(c
        .list_key_rotations(pb::ListKeyRotationsRequest {
            key_id: md.key_id.clone(),
            limit: Some(2),
            include_key_material: Some("ALL_KEY_MATERIAL".into()),
            marker: None,
        })
        .await);
    assert_eq!((p1.rotations.len(), p1.truncated), (2, true));
    let p2 = ok(c
        .list_key_rotations(pb::ListKeyRotationsRequest {
            key_id: md.key_id.clone(),
            limit: Some(2),
            include_key_material: Some("ALL_KEY_MATERIAL".into()),
            marker: p1.next_marker,
        })
        .await);
    assert_eq!((p2.rotations.len(), p2.truncated, p2.next_marker), (1, false, None));
    assert_eq!(p2.rotations[0].key_material_id.as_deref(), Some(third.as_str()));
    n.shutdown().await;
}

#[tokio::test]
async fn get_put_and_list_key_policies() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;

    // The default policy gives the account root kms:*.
    let p = ok(c
        .get_key_policy(pb::GetKeyPolicyRequest {
            key_id: md.key_id.clone(),
            policy_name: None,
        })
        .await);
    assert_eq!(p.policy_name, "default");
    let doc: serde_json::Value = serde_json::from_str(&p.policy).unwrap();
    let st = &doc["Statement"][0];
    assert_eq!(st["Effect"], "Allow");
    assert_eq!(st["Principal"]["AWS"], "arn:aws:iam::111122223333:root");
    assert_eq!(st["Action"], "kms:*");
    assert_eq!(st["Resource"], "*");

    let names = ok(c
        .list_key_policies(pb::ListKeyPoliciesRequest {
            key_id: md.key_id.clone(),
            ..Default::default()
        })
        .await);
    assert_eq!(names.policy_names, vec!["default".to_string()]);
    assert!(!names.truncated);
    assert_eq!(names.next_marker, None);

    let new_policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/admin"},"Action":"kms:*","Resource":"*"}]}"#;
    ok(c.put_key_policy(pb::PutKeyPolicyRequest {
        key_id: md.arn.clone(),
        policy_name: Some("default".into()),
        policy: new_policy.into(),
        bypass_policy_lockout_safety_check: None,
    })
    .await);
    let p = ok(c
        .get_key_policy(pb::GetKeyPolicyRequest {
            key_id: md.arn.clone(),
            policy_name: Some("default".into()),
        })
        .await);
    assert_eq!(p.policy, new_policy);
    n.shutdown().await;
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

fn describe_req(key_id: &str) -> pb::DescribeKeyRequest {
    pb::DescribeKeyRequest {
        key_id: key_id.to_string(),
        grant_tokens: vec![],
    }
}

#[tokio::test]
async fn malformed_and_unknown_key_ids_are_not_found() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;

    for bad in [
        "not-a-key",
        "1234abcd-12ab-34cd-56ef",
        "arn:aws:kms:us-east-1:111122223333:key/nope",
        "arn:aws:kms:us-east-1:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:us-east-1:111122223333:thing/1234abcd-12ab-34cd-56ef-1234567890ab",
    ] {
        assert_err(
            c.describe_key(describe_req(bad)).await,
            "NotFoundException",
            &format!("Invalid keyId '{bad}'"),
        );
        assert_err(
            c.encrypt(pb::EncryptRequest {
                key_id: bad.into(),
                plaintext: b"x".to_vec(),
                ..Default::default()
            })
            .await,
            "NotFoundException",
            &format!("Invalid keyId '{bad}'"),
        );
    }

    let unknown = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let unknown_arn = key_arn(REGION, ADMIN_ACCOUNT, unknown);
    let want = format!("Key '{unknown_arn}' does not exist");
    assert_err(c.describe_key(describe_req(unknown)).await, "NotFoundException", &want);
    assert_err(
        c.describe_key(describe_req(&unknown_arn)).await,
        "NotFoundException",
        &want,
    );
    assert_err(
        c.enable_key(pb::EnableKeyRequest { key_id: unknown.into() }).await,
        "NotFoundException",
        &want,
    );
    assert_err(
        c.schedule_key_deletion(pb::ScheduleKeyDeletionRequest {
            key_id: unknown.into(),
            pending_window_in_days: None,
        })
        .await,
        "NotFoundException",
        &want,
    );
    assert_err(
        c.describe_key(describe_req("alias/nope")).await,
        "NotFoundException",
        &format!("Alias {} is not found.", alias_arn(REGION, ADMIN_ACCOUNT, "alias/nope")),
    );
    // An empty KeyId is a validation error.
    assert_kind(c.describe_key(describe_req("")).await, "ValidationException");
    n.shutdown().await;
}

#[tokio::test]
async fn keys_of_another_account_or_region_are_out_of_reach() {
    let n = TestNode::start(REGION).await;
    let mut admin = n.admin().await;
    let mut carol = n.carol().await;
    let hers = create_key(&mut carol).await;
    create_alias(&mut carol, "alias/carols", &hers.key_id).await;
    let her_blob = encrypt(&mut carol, &hers.key_id, b"carol's").await.ciphertext_blob;

    // By bare id: the id names a key of the caller's own account.
    assert_err(
        admin.describe_key(describe_req(&hers.key_id)).await,
        "NotFoundException",
        &format!("Key '{}' does not exist", key_arn(REGION, ADMIN_ACCOUNT, &hers.key_id)),
    );
    // By ARN: it exists, but admin may not use it.
    let denied = |action: &str| {
        format!(
            "User: {ADMIN_ARN} is not authorized to perform: kms:{action} on resource: {} because no resource-based policy allows the kms:{action} action",
            hers.arn
        )
    };
    // Operations AWS never allows across accounts are refused before any
    // policy is read.
    let never = |action: &str| {
        format!(
            "User: {ADMIN_ARN} is not authorized to perform: kms:{action} on resource: {} because kms:{action} is not allowed on a KMS key in another AWS account",
            hers.arn
        )
    };
    assert_err(
        admin.describe_key(describe_req(&hers.arn)).await,
        "AccessDeniedException",
        &denied("DescribeKey"),
    );
    assert_err(
        admin
            .describe_key(describe_req(&alias_arn(REGION, CAROL_ACCOUNT, "alias/carols")))
            .await,
        "AccessDeniedException",
        &denied("DescribeKey"),
    );
    assert_err(
        admin
            .encrypt(pb::EncryptRequest {
                key_id: hers.arn.clone(),
                plaintext: b"x".to_vec(),
                ..Default::default()
            })
            .await,
        "AccessDeniedException",
        &denied("Encrypt"),
    );
    assert_err(
        admin.decrypt(decrypt_req(&her_blob)).await,
        "AccessDeniedException",
        &denied("Decrypt"),
    );
    assert_err(
        admin
            .disable_key(pb::DisableKeyRequest {
                key_id: hers.arn.clone(),
            })
            .await,
        "AccessDeniedException",
        &never("DisableKey"),
    );
    assert_err(
        admin
            .schedule_key_deletion(pb::ScheduleKeyDeletionRequest {
                key_id: hers.arn.clone(),
                pending_window_in_days: Some(7),
            })
            .await,
        "AccessDeniedException",
        &never("ScheduleKeyDeletion"),
    );
    // Admin's own alias/carols does not exist.
    assert_kind(
        admin.describe_key(describe_req("alias/carols")).await,
        "NotFoundException",
    );
    // Nothing happened to carol's key.
    let d = describe(&mut carol, &hers.key_id).await;
    assert_eq!(d.key_state, "Enabled");
    assert_eq!(decrypt(&mut carol, &her_blob).await.plaintext, b"carol's");

    // A key of another region, by ARN or by its ciphertext.
    let eu = TestNode::start_with_clock(OTHER_REGION, n.clock.clone()).await;
    let mut eu_admin = eu.admin().await;
    let eu_key = create_key(&mut eu_admin).await;
    assert_eq!(eu_key.arn, key_arn(OTHER_REGION, ADMIN_ACCOUNT, &eu_key.key_id));
    let eu_blob = encrypt(&mut eu_admin, &eu_key.key_id, b"eu").await.ciphertext_blob;
    // AWS: a key ARN of another Region is "Invalid arn <its region>".
    assert_err(
        admin.describe_key(describe_req(&eu_key.arn)).await,
        "NotFoundException",
        &format!("Invalid arn {OTHER_REGION}"),
    );
    assert_err(
        admin.describe_key(describe_req(&eu_key.key_id)).await,
        "NotFoundException",
        &format!(
            "Key '{}' does not exist",
            key_arn(REGION, ADMIN_ACCOUNT, &eu_key.key_id)
        ),
    );
    assert_kind(
        admin
            .encrypt(pb::EncryptRequest {
                key_id: eu_key.arn.clone(),
                plaintext: b"x".to_vec(),
                ..Default::default()
            })
            .await,
        "NotFoundException",
    );
    assert_err(
        admin.decrypt(decrypt_req(&eu_blob)).await,
        "NotFoundException",
        &format!(
            "Key '{}' does not exist",
            key_arn(REGION, ADMIN_ACCOUNT, &eu_key.key_id)
        ),
    );
    eu.shutdown().await;
    n.shutdown().await;
}

#[tokio::test]
async fn management_operations_refuse_aliases() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    create_alias(&mut c, "alias/mgmt", &md.key_id).await;
    let alias_arn = alias_arn(REGION, ADMIN_ACCOUNT, "alias/mgmt");

    for alias in ["alias/mgmt", alias_arn.as_str()] {
        let want = format!("Invalid keyId '{alias}'");
        let id = alias.to_string();
        assert_err(
            c.enable_key(pb::EnableKeyRequest { key_id: id.clone() }).await,
            "NotFoundException",
            &want,
        );
        assert_err(
            c.disable_key(pb::DisableKeyRequest { key_id: id.clone() }).await,
            "NotFoundException",
            &want,
        );
        assert_err(
            c.schedule_key_deletion(pb::ScheduleKeyDeletionRequest {
                key_id: id.clone(),
                pending_window_in_days: None,
            })
            .await,
            "NotFoundException",
            &want,
        );
        assert_err(
            c.tag_resource(pb::TagResourceRequest {
                key_id: id.clone(),
                tags: vec![tag("a", "b")],
            })
            .await,
            "NotFoundException",
            &want,
        );
        assert_err(
            c.get_key_policy(pb::GetKeyPolicyRequest {
                key_id: id.clone(),
                policy_name: None,
            })
            .await,
            "NotFoundException",
            &want,
        );
        assert_err(
            c.enable_key_rotation(pb::EnableKeyRotationRequest {
                key_id: id.clone(),
                rotation_period_in_days: None,
            })
            .await,
            "NotFoundException",
            &want,
        );
        assert_err(
            c.update_key_description(pb::UpdateKeyDescriptionRequest {
                key_id: id.clone(),
                description: "d".into(),
            })
            .await,
            "NotFoundException",
            &want,
        );
    }
    // The key is untouched.
    let d = describe(&mut c, &md.key_id).await;
    assert_eq!((d.key_state.as_str(), d.description.as_str()), ("Enabled", ""));
    assert!(list_tags(&mut c, &md.key_id).await.is_empty());
    n.shutdown().await;
}

#[tokio::test]
async fn out_of_range_integers_are_validation_errors_in_aws_words() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    let k = md.key_id.clone();
    let le = |v: i32, field: &str, max: i32| {
        format!("1 validation error detected: Value '{v}' at '{field}' failed to satisfy constraint: Member must have value less than or equal to {max}")
    };
    let ge = |v: i32, field: &str, min: i32| {
        format!("1 validation error detected: Value '{v}' at '{field}' failed to satisfy constraint: Member must have value greater than or equal to {min}")
    };
    let random = |n: i32| pb::GenerateRandomRequest {
        number_of_bytes: Some(n),
        custom_key_store_id: None,
    };

    assert_err(
        c.generate_random(random(1025)).await,
        "ValidationException",
        "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024",
    );
    assert_err(
        c.generate_random(random(0)).await,
        "ValidationException",
        &ge(0, "numberOfBytes", 1),
    );
    assert_err(
        c.generate_random(random(-5)).await,
        "ValidationException",
        &ge(-5, "numberOfBytes", 1),
    );
    for nb in [0, 1025] {
        let want = if nb == 0 {
            ge(0, "numberOfBytes", 1)
        } else {
            le(1025, "numberOfBytes", 1024)
        };
        assert_err(
            c.generate_data_key(pb::GenerateDataKeyRequest {
                key_id: k.clone(),
                number_of_bytes: Some(nb),
                ..Default::default()
            })
            .await,
            "ValidationException",
            &want,
        );
        assert_err(
            c.generate_data_key_without_plaintext(pb::GenerateDataKeyWithoutPlaintextRequest {
                key_id: k.clone(),
                number_of_bytes: Some(nb),
                ..Default::default()
            })
            .await,
            "ValidationException",
            &want,
        );
    }
    assert_err(
        c.list_keys(pb::ListKeysRequest {
            limit: Some(0),
            marker: None,
        })
        .await,
        "ValidationException",
        &ge(0, "limit", 1),
    );
    assert_err(
        c.list_keys(pb::ListKeysRequest {
            limit: Some(1001),
            marker: None,
        })
        .await,
        "ValidationException",
        &le(1001, "limit", 1000),
    );
    assert_err(
        c.list_aliases(pb::ListAliasesRequest {
            limit: Some(101),
            ..Default::default()
        })
        .await,
        "ValidationException",
        &le(101, "limit", 100),
    );
    assert_err(
        c.list_key_rotations(pb::ListKeyRotationsRequest {
            key_id: k.clone(),
            limit: Some(1001),
            ..Default::default()
        })
        .await,
        "ValidationException",
        &le(1001, "limit", 1000),
    );
    for (days, want) in [
        (6, ge(6, "pendingWindowInDays", 7)),
        (31, le(31, "pendingWindowInDays", 30)),
    ] {
        assert_err(
            c.schedule_key_deletion(pb::ScheduleKeyDeletionRequest {
                key_id: k.clone(),
                pending_window_in_days: Some(days),
            })
            .await,
            "ValidationException",
            &want,
        );
    }
    for (days, want) in [
        (89, ge(89, "rotationPeriodInDays", 90)),
        (2561, le(2561, "rotationPeriodInDays", 2560)),
    ] {
        assert_err(
            c.enable_key_rotation(pb::EnableKeyRotationRequest {
                key_id: k.clone(),
                rotation_period_in_days: Some(days),
            })
            .await,
            "ValidationException",
            &want,
        );
    }
    // None of that changed the key.
    let d = describe(&mut c, &k).await;
    assert_eq!(d.key_state, "Enabled");
    assert!(!rotation_status(&mut c, &k).await.key_rotation_enabled);
    n.shutdown().await;
}

#[tokio::test]
async fn generate_random_and_data_key_argument_rules() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;

    assert_err(
        c.generate_random(pb::GenerateRandomRequest {
            number_of_bytes: None,
            custom_key_store_id: None,
        })
        .await,
        "ValidationException",
        "NumberOfBytes is required.",
    );
    // Exactly one of NumberOfBytes and KeySpec.
    for (number_of_bytes, key_spec) in [(Some(32), Some("AES_256")), (None, None)] {
        assert_kind(
            c.generate_data_key(pb::GenerateDataKeyRequest {
                key_id: md.key_id.clone(),
                number_of_bytes,
                key_spec: key_spec.map(str::to_string),
                ..Default::default()
            })
            .await,
            "ValidationException",
        );
        assert_kind(
            c.generate_data_key_without_plaintext(pb::GenerateDataKeyWithoutPlaintextRequest {
                key_id: md.key_id.clone(),
                number_of_bytes,
                key_spec: key_spec.map(str::to_string),
                ..Default::default()
            })
            .await,
            "ValidationException",
        );
    }
    n.shutdown().await;
}

#[tokio::test]
async fn bad_enum_values_are_validation_errors() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    let enum_msg = |v: &str, field: &str| {
        format!("1 validation error detected: Value '{v}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: [")
    };

    let m = assert_kind(
        c.create_key(pb::CreateKeyRequest {
            key_spec: Some("AES_256".into()),
            ..Default::default()
        })
        .await,
        "ValidationException",
    );
    assert!(m.starts_with(&enum_msg("AES_256", "keySpec")), "{m}");
    assert!(m.contains("SYMMETRIC_DEFAULT") && m.contains("RSA_2048"), "{m}");
    let m = assert_kind(
        c.create_key(pb::CreateKeyRequest {
            key_usage: Some("ENCRYPT".into()),
            ..Default::default()
        })
        .await,
        "ValidationException",
    );
    assert!(m.starts_with(&enum_msg("ENCRYPT", "keyUsage")), "{m}");
    let m = assert_kind(
        c.create_key(pb::CreateKeyRequest {
            origin: Some("SOMEWHERE".into()),
            ..Default::default()
        })
        .await,
        "ValidationException",
    );
    assert!(m.starts_with(&enum_msg("SOMEWHERE", "origin")), "{m}");
    assert_err(
        c.generate_data_key(pb::GenerateDataKeyRequest {
            key_id: md.key_id.clone(),
            key_spec: Some("AES_512".into()),
            ..Default::default()
        })
        .await,
        "ValidationException",
        "1 validation error detected: Value 'AES_512' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]",
    );
    let m = assert_kind(
        c.encrypt(pb::EncryptRequest {
            key_id: md.key_id.clone(),
            plaintext: b"x".to_vec(),
            encryption_algorithm: Some("AES_GCM".into()),
            ..Default::default()
        })
        .await,
        "ValidationException",
    );
    assert!(m.starts_with(&enum_msg("AES_GCM", "encryptionAlgorithm")), "{m}");
    assert_err(
        c.list_key_rotations(pb::ListKeyRotationsRequest {
            key_id: md.key_id.clone(),
            include_key_material: Some("EVERYTHING".into()),
            ..Default::default()
        })
        .await,
        "ValidationException",
        "1 validation error detected: Value 'EVERYTHING' at 'includeKeyMaterial' failed to satisfy constraint: Member must satisfy enum value set: [ALL_KEY_MATERIAL, ROTATIONS_ONLY]",
    );
    // Only the first key exists.
    assert_eq!(ok(c.list_keys(pb::ListKeysRequest::default()).await).keys.len(), 1);
    n.shutdown().await;
}

#[tokio::test]
async fn create_key_argument_rules() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    assert_err(
        c.create_key(pb::CreateKeyRequest {
            key_spec: Some("RSA_2048".into()),
            ..Default::default()
        })
        .await,
        "ValidationException",
        "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.",
    );
    // Multi-Region keys are not built yet.
    assert_kind(
        c.create_key(pb::CreateKeyRequest {
            multi_region: Some(true),
            ..Default::default()
        })
        .await,
        "UnsupportedOperationException",
    );
    assert_kind(
        c.create_key(pb::CreateKeyRequest {
            key_spec: Some("SYMMETRIC_DEFAULT".into()),
            customer_master_key_spec: Some("SYMMETRIC_DEFAULT".into()),
            ..Default::default()
        })
        .await,
        "ValidationException",
    );
    assert_kind(
        c.create_key(pb::CreateKeyRequest {
            description: Some("d".repeat(8193)),
            ..Default::default()
        })
        .await,
        "ValidationException",
    );
    // The deprecated CustomerMasterKeySpec alone still works.
    let md = create_key_with(
        &mut c,
        pb::CreateKeyRequest {
            customer_master_key_spec: Some("SYMMETRIC_DEFAULT".into()),
            description: Some("d".repeat(8192)),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(md.key_spec, "SYMMETRIC_DEFAULT");
    assert_eq!(ok(c.list_keys(pb::ListKeysRequest::default()).await).keys.len(), 1);
    n.shutdown().await;
}

#[tokio::test]
async fn tag_rules_are_tag_exceptions() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key_with(
        &mut c,
        pb::CreateKeyRequest {
            tags: vec![tag("keep", "me")],
            ..Default::default()
        },
    )
    .await;
    let tag_req = |tags: Vec<pb::Tag>| pb::TagResourceRequest {
        key_id: md.key_id.clone(),
        tags,
    };

    assert_err(
        c.tag_resource(tag_req(vec![tag("aws:owner", "me")])).await,
        "TagException",
        "Tags beginning with aws: are reserved",
    );
    assert_err(
        c.tag_resource(tag_req(vec![tag("dup", "1"), tag("dup", "2")])).await,
        "TagException",
        "Duplicate tag keys",
    );
    let many: Vec<pb::Tag> = (0..51).map(|i| tag(&format!("k{i}"), "v")).collect();
    assert_err(c.tag_resource(tag_req(many)).await, "TagException", "Too many tags");
    // 49 new plus the one already there is exactly 50 ...
    let fill: Vec<pb::Tag> = (0..49).map(|i| tag(&format!("k{i}"), "v")).collect();
    ok(c.tag_resource(tag_req(fill)).await);
    assert_eq!(list_tags(&mut c, &md.key_id).await.len(), 50);
    // ... and one more is too many, while replacing a value is not.
    assert_err(
        c.tag_resource(tag_req(vec![tag("one-more", "v")])).await,
        "TagException",
        "Too many tags",
    );
    ok(c.tag_resource(tag_req(vec![tag("keep", "changed")])).await);
    assert_eq!(list_tags(&mut c, &md.key_id).await.len(), 50);

    // CreateKey applies the same rules.
    assert_err(
        c.create_key(pb::CreateKeyRequest {
            tags: vec![tag("aws:x", "y")],
            ..Default::default()
        })
        .await,
        "TagException",
        "Tags beginning with aws: are reserved",
    );
    assert_err(
        c.create_key(pb::CreateKeyRequest {
            tags: (0..51).map(|i| tag(&format!("k{i}"), "v")).collect(),
            ..Default::default()
        })
        .await,
        "TagException",
        "Too many tags",
    );
    assert_eq!(ok(c.list_keys(pb::ListKeysRequest::default()).await).keys.len(), 1);
    n.shutdown().await;
}

#[tokio::test]
async fn alias_rules() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    let other = create_key(&mut c).await;
    let create = |alias: &str, target: &str| pb::CreateAliasRequest {
        alias_name: alias.to_string(),
        target_key_id: target.to_string(),
    };

    let m = assert_kind(
        c.create_alias(create("no-prefix", &md.key_id)).await,
        "ValidationException",
    );
    assert!(m.starts_with("Alias must start with the prefix \"alias/\"."), "{m}");
    assert_kind(
        c.create_alias(create("alias/aws/s3", &md.key_id)).await,
        "InvalidAliasNameException",
    );
    assert_kind(
        c.create_alias(create("alias/has space", &md.key_id)).await,
        "ValidationException",
    );

    create_alias(&mut c, "alias/taken", &md.key_id).await;
    assert_err(
        c.create_alias(create("alias/taken", &other.key_id)).await,
        "AlreadyExistsException",
        &format!(
            "An alias with the name {} already exists",
            alias_arn(REGION, ADMIN_ACCOUNT, "alias/taken")
        ),
    );
    // An alias must point at a key, not at another alias.
    assert_kind(
        c.create_alias(create("alias/chained", "alias/taken")).await,
        "ValidationException",
    );
    assert_kind(
        c.create_alias(create(
            "alias/chained",
            &alias_arn(REGION, ADMIN_ACCOUNT, "alias/taken"),
        ))
        .await,
        "ValidationException",
    );
    assert_kind(
        c.update_alias(pb::UpdateAliasRequest {
            alias_name: "alias/taken".into(),
            target_key_id: "alias/taken".into(),
        })
        .await,
        "ValidationException",
    );
    // Unknown aliases.
    let gone = alias_arn(REGION, ADMIN_ACCOUNT, "alias/nope");
    assert_err(
        c.update_alias(pb::UpdateAliasRequest {
            alias_name: "alias/nope".into(),
            target_key_id: md.key_id.clone(),
        })
        .await,
        "NotFoundException",
        &format!("Alias {gone} is not found."),
    );
    assert_err(
        c.delete_alias(pb::DeleteAliasRequest {
            alias_name: "alias/nope".into(),
        })
        .await,
        "NotFoundException",
        &format!("Alias {gone} is not found."),
    );
    // Only alias/taken exists, still on the first key.
    let all = list_aliases(&mut c, None).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].target_key_id.as_deref(), Some(md.key_id.as_str()));
    n.shutdown().await;
}

#[tokio::test]
async fn key_policy_rules() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    let before = ok(c
        .get_key_policy(pb::GetKeyPolicyRequest {
            key_id: md.key_id.clone(),
            policy_name: None,
        })
        .await)
    .policy;
    let put = |policy: String, name: Option<&str>| pb::PutKeyPolicyRequest {
        key_id: md.key_id.clone(),
        policy_name: name.map(str::to_string),
        policy,
        bypass_policy_lockout_safety_check: None,
    };

    assert_kind(
        c.put_key_policy(put("not json".into(), None)).await,
        "MalformedPolicyDocumentException",
    );
    assert_kind(
        c.put_key_policy(put("{\"Version\":\"2012-10-17\"}".into(), None)).await,
        "MalformedPolicyDocumentException",
    );
    let big = format!(
        "{{\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":\"*\"}},\"Action\":\"kms:*\",\"Resource\":\"*\"}}],\"Sid\":\"{}\"}}",
        "a".repeat(32 * 1024)
    );
    assert_kind(c.put_key_policy(put(big, None)).await, "LimitExceededException");
    assert_kind(
        c.put_key_policy(put(before.clone(), Some("other"))).await,
        "NotFoundException",
    );
    assert_kind(
        c.get_key_policy(pb::GetKeyPolicyRequest {
            key_id: md.key_id.clone(),
            policy_name: Some("other".into()),
        })
        .await,
        "NotFoundException",
    );
    assert_kind(
        c.create_key(pb::CreateKeyRequest {
            policy: Some("[not, a policy".into()),
            ..Default::default()
        })
        .await,
        "MalformedPolicyDocumentException",
    );
    // The policy is unchanged.
    let after = ok(c
        .get_key_policy(pb::GetKeyPolicyRequest {
            key_id: md.key_id.clone(),
            policy_name: None,
        })
        .await)
    .policy;
    assert_eq!(after, before);
    n.shutdown().await;
}

#[tokio::test]
async fn invalid_markers_are_refused() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    let bad = Some("!!not a marker!!".to_string());
    let want = "InvalidMarkerException";
    assert_kind(
        c.list_keys(pb::ListKeysRequest {
            limit: None,
            marker: bad.clone(),
        })
        .await,
        want,
    );
    assert_kind(
        c.list_aliases(pb::ListAliasesRequest {
            marker: bad.clone(),
            ..Default::default()
        })
        .await,
        want,
    );
    assert_kind(
        c.list_resource_tags(pb::ListResourceTagsRequest {
            key_id: md.key_id.clone(),
            limit: None,
            marker: bad.clone(),
        })
        .await,
        want,
    );
    assert_kind(
        c.list_key_rotations(pb::ListKeyRotationsRequest {
            key_id: md.key_id.clone(),
            marker: bad.clone(),
            ..Default::default()
        })
        .await,
        want,
    );
    assert_kind(
        c.list_key_policies(pb::ListKeyPoliciesRequest {
            key_id: md.key_id.clone(),
            limit: None,
            marker: bad,
        })
        .await,
        want,
    );
    n.shutdown().await;
}

#[tokio::test]
async fn dry_run_answers_dry_run_operation_exception() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let a = create_key(&mut c).await;
    let b = create_key(&mut c).await;
    let blob = encrypt(&mut c, &a.key_id, b"dry").await.ciphertext_blob;
    let msg = "The request would have succeeded, but the DryRun option is set.";

    assert_err(
        c.encrypt(pb::EncryptRequest {
            key_id: a.key_id.clone(),
            plaintext: b"x".to_vec(),
            dry_run: Some(true),
            ..Default::default()
        })
        .await,
        "DryRunOperationException",
        msg,
    );
    assert_err(
        c.decrypt(pb::DecryptRequest {
            dry_run: Some(true),
            ..decrypt_req(&blob)
        })
        .await,
        "DryRunOperationException",
        msg,
    );
    assert_err(
        c.re_encrypt(pb::ReEncryptRequest {
            ciphertext_blob: blob.clone(),
            destination_key_id: b.key_id.clone(),
            dry_run: Some(true),
            ..Default::default()
        })
        .await,
        "DryRunOperationException",
        msg,
    );
    assert_err(
        c.generate_data_key(pb::GenerateDataKeyRequest {
            key_id: a.key_id.clone(),
            key_spec: Some("AES_256".into()),
            dry_run: Some(true),
            ..Default::default()
        })
        .await,
        "DryRunOperationException",
        msg,
    );
    assert_err(
        c.generate_data_key_without_plaintext(pb::GenerateDataKeyWithoutPlaintextRequest {
            key_id: a.key_id.clone(),
            key_spec: Some("AES_256".into()),
            dry_run: Some(true),
            ..Default::default()
        })
        .await,
        "DryRunOperationException",
        msg,
    );
    // A request that would fail fails the same way with DryRun.
    disable(&mut c, &a.key_id).await;
    assert_err(
        c.encrypt(pb::EncryptRequest {
            key_id: a.key_id.clone(),
            plaintext: b"x".to_vec(),
            dry_run: Some(true),
            ..Default::default()
        })
        .await,
        "DisabledException",
        &format!("{} is disabled.", a.arn),
    );
    n.shutdown().await;
}

#[tokio::test]
async fn decrypt_with_another_key_id_is_incorrect_key() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let a = create_key(&mut c).await;
    let b = create_key(&mut c).await;
    create_alias(&mut c, "alias/b", &b.key_id).await;
    let blob = encrypt(&mut c, &a.key_id, b"for a").await.ciphertext_blob;
    let msg = "The key ID in the request does not identify a CMK that can perform this operation.";
    for id in [b.key_id.clone(), b.arn.clone(), "alias/b".to_string()] {
        assert_err(
            c.decrypt(pb::DecryptRequest {
                key_id: Some(id),
                ..decrypt_req(&blob)
            })
            .await,
            "IncorrectKeyException",
            msg,
        );
    }
    assert_err(
        c.re_encrypt(pb::ReEncryptRequest {
            ciphertext_blob: blob.clone(),
            source_key_id: Some(b.key_id.clone()),
            destination_key_id: b.key_id.clone(),
            ..Default::default()
        })
        .await,
        "IncorrectKeyException",
        msg,
    );
    n.shutdown().await;
}

#[tokio::test]
async fn garbage_tampered_and_wrong_context_ciphertexts_are_invalid() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    let ctx = context(&[("k", "v")]);
    let blob = ok(c
        .encrypt(pb::EncryptRequest {
            key_id: md.key_id.clone(),
            plaintext: b"integrity".to_vec(),
            encryption_context: ctx.clone(),
            ..Default::default()
        })
        .await)
    .ciphertext_blob;
    let with_ctx = |b: Vec<u8>, ctx| pb::DecryptRequest {
        ciphertext_blob: b,
        encryption_context: ctx,
        ..Default::default()
    };

    let mut cases: Vec<(&str, Vec<u8>, std::collections::BTreeMap<String, String>)> = vec![
        ("garbage", b"this is not a ciphertext blob at all".to_vec(), ctx.clone()),
        ("one byte", vec![1], ctx.clone()),
        ("truncated", blob[..blob.len() - 1].to_vec(), ctx.clone()),
        ("missing context", blob.clone(), Default::default()),
        ("wrong context", blob.clone(), context(&[("k", "w")])),
        ("extra context", blob.clone(), context(&[("k", "v"), ("x", "y")])),
    ];
    // Version, unknown flag bit, material id, nonce, ciphertext, tag.
    for (i, bit) in [
        (0usize, 0x01u8),
        (1, 0x02),
        (20, 0x01),
        (55, 0x01),
        (65, 0x80),
        (blob.len() - 1, 0x01),
    ] {
        let mut t = blob.clone();
        t[i] ^= bit;
        cases.push(("tampered", t, ctx.clone()));
    }
    for (what, b, ctx) in cases {
        let (kind, message) = err(c.decrypt(with_ctx(b, ctx)).await);
        assert_eq!(
            (kind.as_str(), message.as_str()),
            ("InvalidCiphertextException", ""),
            "{what}"
        );
    }
    // The right context still works.
    assert_eq!(
        ok(c.decrypt(with_ctx(blob, ctx)).await).plaintext,
        b"integrity".to_vec()
    );
    n.shutdown().await;
}

#[tokio::test]
async fn plaintext_and_ciphertext_size_limits() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    let enc = |len: usize| pb::EncryptRequest {
        key_id: md.key_id.clone(),
        plaintext: vec![b'p'; len],
        ..Default::default()
    };

    let e = ok(c.encrypt(enc(4096)).await);
    assert_eq!(decrypt(&mut c, &e.ciphertext_blob).await.plaintext, vec![b'p'; 4096]);
    assert_err(
        c.encrypt(enc(4097)).await,
        "ValidationException",
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
    );
    assert_err(
        c.encrypt(enc(0)).await,
        "ValidationException",
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    assert_err(
        c.decrypt(decrypt_req(&vec![1u8; 6145])).await,
        "ValidationException",
        "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length less than or equal to 6144",
    );
    assert_kind(c.decrypt(decrypt_req(&[])).await, "ValidationException");
    assert_kind(
        c.re_encrypt(pb::ReEncryptRequest {
            ciphertext_blob: vec![1u8; 6145],
            destination_key_id: md.key_id.clone(),
            ..Default::default()
        })
        .await,
        "ValidationException",
    );
    n.shutdown().await;
}

// ---------------------------------------------------------------------------
// The key-state × operation table
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Enabled,
    Disabled,
    PendingDeletion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Ok,
    /// DisabledException "<ARN> is disabled."
    Disabled,
    /// KMSInvalidStateException "<ARN> is pending deletion."
    PendingDeletion,
    /// KMSInvalidStateException "<ARN> is not pending deletion."
    NotPendingDeletion,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Encrypt,
    Decrypt,
    GenerateDataKey,
    /// ReEncrypt of a blob of the key under test to an enabled key.
    ReEncryptFrom,
    /// ReEncrypt of an enabled key's blob to the key under test.
    ReEncryptTo,
    DescribeKey,
    EnableKey,
    DisableKey,
    CreateAlias,
    TagResource,
    UpdateKeyDescription,
    EnableKeyRotation,
    RotateKeyOnDemand,
    ScheduleKeyDeletion,
    CancelKeyDeletion,
    PutKeyPolicy,
    GetKeyPolicy,
}

/// A key put into a state, a ciphertext made under it while it was
/// enabled, and an enabled key with a ciphertext of its own.
struct Fixture {
    key: pb::KeyMetadata,
    blob: Vec<u8>,
    other: pb::KeyMetadata,
    other_blob: Vec<u8>,
}

async fn fixture(c: &mut KmsClient, state: State, other: &pb::KeyMetadata, other_blob: &[u8]) -> Fixture {
    let key = create_key(c).await;
    let blob = encrypt(c, &key.key_id, b"state table").await.ciphertext_blob;
    match state {
        State::Enabled => {}
        State::Disabled => disable(c, &key.key_id).await,
        State::PendingDeletion => {
            schedule_deletion(c, &key.key_id, Some(7)).await;
        }
    }
    let want_state = match state {
        State::Enabled => "Enabled",
        State::Disabled => "Disabled",
        State::PendingDeletion => "PendingDeletion",
    };
    assert_eq!(describe(c, &key.key_id).await.key_state, want_state);
    Fixture {
        key,
        blob,
        other: other.clone(),
        other_blob: other_blob.to_vec(),
    }
}

/// A call's outcome: `None` for success, else the AWS exception and message.
type Outcome = Option<(String, String)>;

fn unit<T>(r: Result<tonic::Response<T>, Status>) -> Outcome {
    r.err().map(|s| {
        (
            tern_client::error_kind(&s).unwrap_or("<none>").to_string(),
            s.message().to_string(),
        )
    })
}

async fn run(op: Op, c: &mut KmsClient, f: &Fixture) -> Outcome {
    let id = f.key.key_id.clone();
    match op {
        Op::Encrypt => unit(
            c.encrypt(pb::EncryptRequest {
                key_id: id,
                plaintext: b"x".to_vec(),
                ..Default::default()
            })
            .await,
        ),
        Op::Decrypt => unit(c.decrypt(decrypt_req(&f.blob)).await),
        Op::GenerateDataKey => unit(
            c.generate_data_key(pb::GenerateDataKeyRequest {
                key_id: id,
                key_spec: Some("AES_256".into()),
                ..Default::default()
            })
            .await,
        ),
        Op::ReEncryptFrom => unit(
            c.re_encrypt(pb::ReEncryptRequest {
                ciphertext_blob: f.blob.clone(),
                destination_key_id: f.other.key_id.clone(),
                ..Default::default()
            })
            .await,
        ),
        Op::ReEncryptTo => unit(
            c.re_encrypt(pb::ReEncryptRequest {
                ciphertext_blob: f.other_blob.clone(),
                destination_key_id: id,
                ..Default::default()
            })
            .await,
        ),
        Op::DescribeKey => unit(c.describe_key(describe_req(&id)).await),
        Op::EnableKey => unit(c.enable_key(pb::EnableKeyRequest { key_id: id }).await),
        Op::DisableKey => unit(c.disable_key(pb::DisableKeyRequest { key_id: id }).await),
        Op::CreateAlias => unit(
            c.create_alias(pb::CreateAliasRequest {
                alias_name: format!("alias/state-{id}"),
                target_key_id: id,
            })
            .await,
        ),
        Op::TagResource => unit(
            c.tag_resource(pb::TagResourceRequest {
                key_id: id,
                tags: vec![tag("state", "table")],
            })
            .await,
        ),
        Op::UpdateKeyDescription => unit(
            c.update_key_description(pb::UpdateKeyDescriptionRequest {
                key_id: id,
                description: "state table".into(),
            })
            .await,
        ),
        Op::EnableKeyRotation => unit(
            c.enable_key_rotation(pb::EnableKeyRotationRequest {
                key_id: id,
                rotation_period_in_days: None,
            })
            .await,
        ),
        Op::RotateKeyOnDemand => unit(rotate_on_demand(c, &id).await),
        Op::ScheduleKeyDeletion => unit(
            c.schedule_key_deletion(pb::ScheduleKeyDeletionRequest {
                key_id: id,
                pending_window_in_days: Some(7),
            })
            .await,
        ),
        Op::CancelKeyDeletion => unit(c.cancel_key_deletion(pb::CancelKeyDeletionRequest { key_id: id }).await),
        Op::PutKeyPolicy => unit(
            c.put_key_policy(pb::PutKeyPolicyRequest {
                key_id: id,
                policy_name: None,
                policy: tern_service::validate::default_policy(ADMIN_ACCOUNT),
                bypass_policy_lockout_safety_check: None,
            })
            .await,
        ),
        Op::GetKeyPolicy => unit(
            c.get_key_policy(pb::GetKeyPolicyRequest {
                key_id: id,
                policy_name: None,
            })
            .await,
        ),
    }
}

#[tokio::test]
async fn key_state_table() {
    use Want::{Disabled as D, NotPendingDeletion as NPD, Ok as OK, PendingDeletion as PD};
    // Columns: Enabled, Disabled, PendingDeletion (AWS "Key states of AWS KMS keys").
    let table: &[(Op, [Want; 3])] = &[
        (Op::Encrypt, [OK, D, PD]),
        (Op::Decrypt, [OK, D, PD]),
        (Op::GenerateDataKey, [OK, D, PD]),
        (Op::ReEncryptFrom, [OK, D, PD]),
        (Op::ReEncryptTo, [OK, D, PD]),
        (Op::DescribeKey, [OK, OK, OK]),
        (Op::EnableKey, [OK, OK, PD]),
        (Op::DisableKey, [OK, OK, PD]),
        (Op::CreateAlias, [OK, OK, PD]),
        (Op::TagResource, [OK, OK, PD]),
        (Op::UpdateKeyDescription, [OK, OK, PD]),
        (Op::EnableKeyRotation, [OK, D, PD]),
        (Op::RotateKeyOnDemand, [OK, D, PD]),
        (Op::ScheduleKeyDeletion, [OK, OK, PD]),
        (Op::CancelKeyDeletion, [NPD, NPD, OK]),
        (Op::PutKeyPolicy, [OK, OK, OK]),
        (Op::GetKeyPolicy, [OK, OK, OK]),
    ];
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let other = create_key(&mut c).await;
    let other_blob = encrypt(&mut c, &other.key_id, b"other").await.ciphertext_blob;

    let mut failures = Vec::new();
    for (op, wants) in table {
        for (state, want) in [State::Enabled, State::Disabled, State::PendingDeletion]
            .into_iter()
            .zip(wants)
        {
            let f = fixture(&mut c, state, &other, &other_blob).await;
            let arn = &f.key.arn;
            let expected: Outcome = match want {
                Want::Ok => None,
                Want::Disabled => Some(("DisabledException".to_string(), format!("{arn} is disabled."))),
                Want::PendingDeletion => Some((
                    "KMSInvalidStateException".to_string(),
                    format!("{arn} is pending deletion."),
                )),
                Want::NotPendingDeletion => Some((
                    "KMSInvalidStateException".to_string(),
                    format!("{arn} is not pending deletion."),
                )),
            };
            let got = run(*op, &mut c, &f).await;
            if got != expected {
                failures.push(format!("{op:?} on {state:?}: want {expected:?}, got {got:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    n.shutdown().await;
}

// ---------------------------------------------------------------------------
// Rotation and deletion over time
// ---------------------------------------------------------------------------

#[tokio::test]
async fn old_ciphertexts_decrypt_after_on_demand_and_automatic_rotations() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    enable_rotation(&mut c, &md.key_id, Some(90)).await;

    // (blob, plaintext, material it was made with)
    let mut made: Vec<(Vec<u8>, Vec<u8>, String)> = Vec::new();
    let mut materials = vec![md.current_key_material_id.clone().unwrap()];
    for round in 0..6 {
        let current = describe(&mut c, &md.key_id).await.current_key_material_id.unwrap();
        assert_eq!(&current, materials.last().unwrap(), "round {round}");
        let pt = format!("secret of round {round}").into_bytes();
        let blob = encrypt(&mut c, &md.key_id, &pt).await.ciphertext_blob;
        // A new ciphertext uses the current material.
        assert_eq!(
            decrypt(&mut c, &blob).await.key_material_id.as_deref(),
            Some(current.as_str())
        );
        made.push((blob, pt, current));
        // Alternate on-demand and automatic rotations.
        if round % 2 == 0 {
            ok(rotate_on_demand(&mut c, &md.key_id).await);
        } else {
            n.advance_days(91);
            assert_eq!(n.run_due_tasks().await.rotated, 1, "round {round}");
        }
        let next = describe(&mut c, &md.key_id).await.current_key_material_id.unwrap();
        assert!(!materials.contains(&next), "round {round}: material reused");
        materials.push(next);
    }
    // Every old ciphertext still decrypts, under the material it was made with.
    for (blob, pt, material) in &made {
        let d = decrypt(&mut c, blob).await;
        assert_eq!(&d.plaintext, pt);
        assert_eq!(d.key_material_id.as_deref(), Some(material.as_str()));
    }
    let all = list_rotations(&mut c, &md.key_id, Some("ALL_KEY_MATERIAL")).await;
    let ids: Vec<String> = all.iter().map(|e| e.key_material_id.clone().unwrap()).collect();
    assert_eq!(ids, materials);
    let types: Vec<Option<&str>> = all.iter().map(|e| e.rotation_type.as_deref()).collect();
    assert_eq!(
        types,
        vec![
            None,
            Some("ON_DEMAND"),
            Some("AUTOMATIC"),
            Some("ON_DEMAND"),
            Some("AUTOMATIC"),
            Some("ON_DEMAND"),
            Some("AUTOMATIC"),
        ]
    );
    n.shutdown().await;
}

#[tokio::test]
async fn automatic_rotation_follows_the_clock() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    let unrotated = create_key(&mut c).await;
    let first = md.current_key_material_id.clone().unwrap();
    let old_blob = encrypt(&mut c, &md.key_id, b"before rotation").await.ciphertext_blob;

    enable_rotation(&mut c, &md.key_id, Some(90)).await;
    let due = seconds(START) + 90.0 * DAY_SECONDS;
    assert_eq!(rotation_status(&mut c, &md.key_id).await.next_rotation_date, Some(due));

    n.advance_days(89);
    assert_eq!(n.run_due_tasks().await.rotated, 0);
    assert!(list_rotations(&mut c, &md.key_id, None).await.is_empty());
    assert_eq!(
        describe(&mut c, &md.key_id).await.current_key_material_id.unwrap(),
        first
    );

    n.advance_days(2);
    assert_eq!(n.run_due_tasks().await.rotated, 1);
    // Nothing more is due.
    assert_eq!(n.run_due_tasks().await.rotated, 0);

    let rot = list_rotations(&mut c, &md.key_id, None).await;
    assert_eq!(rot.len(), 1);
    assert_eq!(rot[0].rotation_type.as_deref(), Some("AUTOMATIC"));
    assert_eq!(rot[0].key_material_state.as_deref(), Some("CURRENT"));
    assert_eq!(rot[0].rotation_date, Some(seconds(n.now())));
    let second = describe(&mut c, &md.key_id).await.current_key_material_id.unwrap();
    assert_ne!(second, first);
    assert_eq!(rot[0].key_material_id.as_deref(), Some(second.as_str()));

    let s = rotation_status(&mut c, &md.key_id).await;
    assert!(s.key_rotation_enabled);
    assert_eq!(s.rotation_period_in_days, Some(90));
    assert_eq!(s.next_rotation_date, Some(due + 90.0 * DAY_SECONDS));

    // Old ciphertext still decrypts with the old material; new ones use the new.
    let d = decrypt(&mut c, &old_blob).await;
    assert_eq!(d.plaintext, b"before rotation");
    assert_eq!(d.key_material_id.as_deref(), Some(first.as_str()));
    let new_blob = encrypt(&mut c, &md.key_id, b"after").await.ciphertext_blob;
    assert_eq!(
        decrypt(&mut c, &new_blob).await.key_material_id.as_deref(),
        Some(second.as_str())
    );
    // A key without rotation enabled never rotated.
    assert!(list_rotations(&mut c, &unrotated.key_id, None).await.is_empty());
    // The rotation was audited as a service event.
    let rotations: Vec<_> = n
        .audit_records()
        .into_iter()
        .filter(|r| r["eventName"] == "RotateKey")
        .collect();
    assert_eq!(rotations.len(), 1);
    assert_eq!(rotations[0]["eventType"], "AwsServiceEvent");
    assert_eq!(rotations[0]["resources"][0]["ARN"], md.arn.as_str());
    n.shutdown().await;
}

#[tokio::test]
async fn a_disabled_key_does_not_rotate_automatically() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    enable_rotation(&mut c, &md.key_id, Some(90)).await;
    disable(&mut c, &md.key_id).await;
    n.advance_days(100);
    assert_eq!(n.run_due_tasks().await.rotated, 0);
    assert!(list_rotations(&mut c, &md.key_id, None).await.is_empty());
    n.shutdown().await;
}

#[tokio::test]
async fn scheduled_deletion_completes_after_the_waiting_period() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    let keep = create_key(&mut c).await;
    create_alias(&mut c, "alias/doomed", &md.key_id).await;
    create_alias(&mut c, "alias/kept", &keep.key_id).await;
    let blob = encrypt(&mut c, &md.key_id, b"soon unrecoverable").await.ciphertext_blob;

    schedule_deletion(&mut c, &md.key_id, Some(7)).await;
    n.advance_days(6);
    assert_eq!(n.run_due_tasks().await.deleted, 0);
    assert_eq!(describe(&mut c, &md.key_id).await.key_state, "PendingDeletion");
    assert_eq!(list_aliases(&mut c, None).await.len(), 2);

    n.advance_days(2);
    assert_eq!(n.run_due_tasks().await.deleted, 1);
    assert_eq!(n.run_due_tasks().await.deleted, 0);

    let gone = format!("Key '{}' does not exist", md.arn);
    assert_err(
        c.describe_key(describe_req(&md.key_id)).await,
        "NotFoundException",
        &gone,
    );
    assert_err(c.decrypt(decrypt_req(&blob)).await, "NotFoundException", &gone);
    let names: Vec<String> = list_aliases(&mut c, None)
        .await
        .into_iter()
        .map(|a| a.alias_name)
        .collect();
    assert_eq!(names, vec!["alias/kept"]);
    assert_kind(c.describe_key(describe_req("alias/doomed")).await, "NotFoundException");
    let keys: Vec<String> = ok(c.list_keys(pb::ListKeysRequest::default()).await)
        .keys
        .into_iter()
        .map(|k| k.key_id)
        .collect();
    assert_eq!(keys, vec![keep.key_id.clone()]);
    // The kept key is unaffected.
    assert_eq!(describe(&mut c, &keep.key_id).await.key_state, "Enabled");
    // The deletion was audited as a service event, in an intact chain.
    let deletions: Vec<_> = n
        .audit_records()
        .into_iter()
        .filter(|r| r["eventName"] == "DeleteKey")
        .collect();
    assert_eq!(deletions.len(), 1);
    assert_eq!(deletions[0]["eventType"], "AwsServiceEvent");
    assert_eq!(deletions[0]["resources"][0]["ARN"], md.arn.as_str());
    assert!(tern_store::audit::verify(n.kms().store().audit_entries(), None).ok());
    n.shutdown().await;
}

#[tokio::test]
async fn a_cancelled_deletion_never_completes() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    schedule_deletion(&mut c, &md.key_id, Some(7)).await;
    ok(c.cancel_key_deletion(pb::CancelKeyDeletionRequest {
        key_id: md.key_id.clone(),
    })
    .await);
    n.advance_days(31);
    assert_eq!(n.run_due_tasks().await.deleted, 0);
    assert_eq!(describe(&mut c, &md.key_id).await.key_state, "Disabled");
    n.shutdown().await;
}

#[tokio::test]
async fn on_demand_rotation_limit_and_conflict_with_automatic_rotation() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let md = create_key(&mut c).await;
    for i in 0..25 {
        ok(rotate_on_demand(&mut c, &md.key_id).await);
        assert_eq!(list_rotations(&mut c, &md.key_id, None).await.len(), i + 1);
    }
    assert_err(
        rotate_on_demand(&mut c, &md.key_id).await,
        "LimitExceededException",
        &format!(
            "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {}",
            md.arn
        ),
    );
    assert_eq!(list_rotations(&mut c, &md.key_id, None).await.len(), 25);

    // Automatic rotation due within 20 minutes: on-demand rotation conflicts.
    let k = create_key(&mut c).await;
    enable_rotation(&mut c, &k.key_id, Some(90)).await;
    n.advance_millis(90 * MILLIS_PER_DAY - 21 * 60 * 1000);
    ok(rotate_on_demand(&mut c, &k.key_id).await);
    n.advance_millis(2 * 60 * 1000);
    let m = assert_kind(rotate_on_demand(&mut c, &k.key_id).await, "ConflictException");
    assert!(m.contains(&k.arn), "{m}");
    assert_eq!(list_rotations(&mut c, &k.key_id, None).await.len(), 1);
    n.shutdown().await;
}

// ---------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------

#[tokio::test]
async fn every_call_is_audited_and_no_record_holds_plaintext() {
    let n = TestNode::start(REGION).await;
    let mut c = n.admin().await;
    let secret = b"correct horse battery staple 0451";
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);

    let md = create_key(&mut c).await; // 1
    let e = encrypt(&mut c, &md.key_id, secret).await; // 2
    let d = decrypt(&mut c, &e.ciphertext_blob).await; // 3
    assert_eq!(d.plaintext, secret);
    let dk = ok(c
        .generate_data_key(pb::GenerateDataKeyRequest {
            key_id: md.key_id.clone(),
            key_spec: Some("AES_256".into()),
            ..Default::default()
        })
        .await); // 4
    let random = ok(c
        .generate_random(pb::GenerateRandomRequest {
            number_of_bytes: Some(32),
            custom_key_store_id: None,
        })
        .await); // 5
    let unknown = "1234abcd-12ab-34cd-56ef-1234567890ab";
    assert_kind(c.describe_key(describe_req(unknown)).await, "NotFoundException"); // 6
    disable(&mut c, &md.key_id).await; // 7
    assert_kind(
        c.encrypt(pb::EncryptRequest {
            key_id: md.key_id.clone(),
            plaintext: secret.to_vec(),
            ..Default::default()
        })
        .await,
        "DisabledException",
    ); // 8

    let entries = n.kms().store().audit_entries();
    let report = tern_store::audit::verify(entries.clone(), None);
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.records, 8);
    let raw: Vec<Vec<u8>> = entries.into_iter().map(|e| e.unwrap().record).collect();
    let records: Vec<serde_json::Value> = raw.iter().map(|r| serde_json::from_slice(r).unwrap()).collect();
    let names: Vec<&str> = records.iter().map(|r| r["eventName"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        vec![
            "CreateKey",
            "Encrypt",
            "Decrypt",
            "GenerateDataKey",
            "GenerateRandom",
            "DescribeKey",
            "DisableKey",
            "Encrypt"
        ]
    );
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["eventSource"], "kms.amazonaws.com", "{i}");
        assert_eq!(r["eventType"], "AwsApiCall", "{i}");
        assert_eq!(r["awsRegion"], REGION, "{i}");
        assert_eq!(r["userIdentity"]["arn"], ADMIN_ARN, "{i}");
        assert_eq!(r["userIdentity"]["accountId"], ADMIN_ACCOUNT, "{i}");
        assert_eq!(r["sourceIPAddress"], "127.0.0.1", "{i}");
        let failed = matches!(i, 5 | 7);
        assert_eq!(r.get("errorCode").is_some(), failed, "{i}: {r}");
    }
    assert_eq!(records[5]["errorCode"], "NotFoundException");
    assert_eq!(
        records[5]["errorMessage"],
        format!("Key '{}' does not exist", key_arn(REGION, ADMIN_ACCOUNT, unknown))
    );
    assert_eq!(records[7]["errorCode"], "DisabledException");
    assert_eq!(records[1]["resources"][0]["ARN"], md.arn.as_str());
    assert_eq!(records[1]["requestParameters"]["keyId"], md.key_id.as_str());
    assert_eq!(
        records[2]["requestParameters"]["encryptionAlgorithm"],
        "SYMMETRIC_DEFAULT"
    );
    assert!(records[2]["responseElements"].is_null(), "{}", records[2]);

    // No record carries a plaintext, raw or base64.
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("plaintext", secret.to_vec()),
        ("plaintext b64", b64(secret).into_bytes()),
        ("data key", dk.plaintext.clone()),
        ("data key b64", b64(&dk.plaintext).into_bytes()),
        ("random", random.plaintext.clone()),
        ("random b64", b64(&random.plaintext).into_bytes()),
    ];
    for r in &raw {
        for (what, s) in &secrets {
            assert!(
                !r.windows(s.len()).any(|w| w == s.as_slice()),
                "{what} found in {}",
                String::from_utf8_lossy(r)
            );
        }
    }
    n.shutdown().await;
}

/// The key quota is per account per region (AWS's): one account at its
/// quota cannot create more, another account is not affected, keys pending
/// deletion count, and a deleted key frees its room.
#[tokio::test]
async fn the_key_quota_is_per_account() {
    let node = TestNode::start_with_limits(
        REGION,
        tern_server::Limits {
            keys_per_account: 3,
            ..Default::default()
        },
    )
    .await;
    let mut admin = node.admin().await;
    let mut keys = Vec::new();
    for _ in 0..3 {
        keys.push(create_key(&mut admin).await.key_id);
    }
    let m = assert_kind(
        admin.create_key(pb::CreateKeyRequest::default()).await,
        "LimitExceededException",
    );
    assert!(m.contains("(3) for this account"), "{m}");
    // Another account has its own room.
    let mut carol = node.carol().await;
    for _ in 0..3 {
        create_key(&mut carol).await;
    }
    assert_kind(
        carol.create_key(pb::CreateKeyRequest::default()).await,
        "LimitExceededException",
    );
    // Pending deletion still counts; once deleted, the room is free again.
    schedule_deletion(&mut admin, &keys[0], Some(7)).await;
    assert_kind(
        admin.create_key(pb::CreateKeyRequest::default()).await,
        "LimitExceededException",
    );
    node.advance_days(8);
    node.kms().run_due_tasks().await.unwrap();
    create_key(&mut admin).await;
}
