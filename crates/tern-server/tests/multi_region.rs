//! Multi-Region keys across in-process regions joined by the real Raft peer
//! transport, with injected faults and restarts on the same data
//! directories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::cluster::{eventually, TestCluster};
use common::*;
use tern_proto::pb;

const US: &str = "us-east-1";
const EU: &str = "eu-west-1";
const AP: &str = "ap-northeast-2";
const WAIT: Duration = Duration::from_secs(20);

fn mrk_request() -> pb::CreateKeyRequest {
    pb::CreateKeyRequest {
        multi_region: Some(true),
        description: Some("orders".into()),
        ..Default::default()
    }
}

async fn replicate(c: &mut tern_client::KmsClient, key: &str, region: &str) -> pb::ReplicateKeyResponse {
    ok(c.replicate_key(pb::ReplicateKeyRequest {
        key_id: key.to_string(),
        replica_region: region.to_string(),
        ..Default::default()
    })
    .await)
}

/// Waits until `region`'s copy of `key` is in `state`.
async fn wait_state(cluster: &TestCluster, region: &str, key: &str, state: &str) {
    let node = cluster.node(region);
    let mut c = node.admin().await;
    eventually(WAIT, &format!("{key} to be {state} in {region}"), || {
        let mut c = c.clone();
        async move {
            let r = c
                .describe_key(pb::DescribeKeyRequest {
                    key_id: key.to_string(),
                    grant_tokens: vec![],
                })
                .await
                .ok()?;
            (r.into_inner().key_metadata?.key_state == state).then_some(())
        }
    })
    .await;
    let _ = &mut c;
}

/// Creates an MRK in `primary` and replicas in `replicas`, all Enabled.
async fn mrk_everywhere(cluster: &TestCluster, primary: &str, replicas: &[&str]) -> String {
    let mut c = cluster.node(primary).admin().await;
    let md = create_key_with(&mut c, mrk_request()).await;
    assert!(md.key_id.starts_with("mrk-"), "{}", md.key_id);
    assert!(md.multi_region);
    for r in replicas {
        let resp = replicate(&mut c, &md.key_id, r).await;
        let rmd = resp.replica_key_metadata.unwrap();
        assert_eq!(rmd.key_state, "Creating");
        assert!(!rmd.enabled);
        assert!(rmd.arn.contains(r), "{}", rmd.arn);
    }
    for r in replicas {
        wait_state(cluster, r, &md.key_id, "Enabled").await;
    }
    md.key_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn encrypt_in_one_region_decrypt_in_every_replica() {
    let cluster = TestCluster::start(&[US, EU, AP]).await;
    let key = mrk_everywhere(&cluster, US, &[EU, AP]).await;

    let mut us = cluster.node(US).admin().await;
    let mut eu = cluster.node(EU).admin().await;
    let mut ap = cluster.node(AP).admin().await;
    let ct = encrypt(&mut us, &key, b"secret from us-east-1").await;
    for c in [&mut eu, &mut ap, &mut us] {
        let d = decrypt(c, &ct.ciphertext_blob).await;
        assert_eq!(d.plaintext, b"secret from us-east-1");
    }
    // And the other way: a replica's ciphertext decrypts in the primary.
    let ct2 = encrypt(&mut ap, &key, b"from seoul").await;
    assert!(ct2.key_id.contains(AP));
    assert_eq!(decrypt(&mut us, &ct2.ciphertext_blob).await.plaintext, b"from seoul");

    // DescribeKey's MultiRegionConfiguration in each region.
    let p = describe(&mut us, &key).await.multi_region_configuration.unwrap();
    assert_eq!(p.multi_region_key_type, "PRIMARY");
    assert_eq!(p.primary_key.as_ref().unwrap().region, US);
    let regions: Vec<_> = p.replica_keys.iter().map(|k| k.region.as_str()).collect();
    assert_eq!(regions, [EU, AP]);
    let r = describe(&mut eu, &key).await;
    let rc = r.multi_region_configuration.unwrap();
    assert_eq!(rc.multi_region_key_type, "REPLICA");
    assert!(r.arn.contains(EU));
    assert!(rc.replica_keys.iter().any(|k| k.region == EU), "a replica's list includes itself");
    cluster.wait_converged().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicate_key_errors() {
    let cluster = TestCluster::start(&[US, EU, AP]).await;
    let key = mrk_everywhere(&cluster, US, &[EU]).await;
    let mut us = cluster.node(US).admin().await;
    let mut eu = cluster.node(EU).admin().await;
    // From a replica.
    let m = assert_kind(
        eu.replicate_key(pb::ReplicateKeyRequest {
            key_id: key.clone(),
            replica_region: AP.into(),
            ..Default::default()
        })
        .await,
        "UnsupportedOperationException",
    );
    assert!(m.ends_with("is not a multi-region primary key."), "{m}");
    // Into a region that already holds it.
    assert_kind(
        us.replicate_key(pb::ReplicateKeyRequest {
            key_id: key.clone(),
            replica_region: EU.into(),
            ..Default::default()
        })
        .await,
        "AlreadyExistsException",
    );
    // Into a region outside the cluster.
    assert_kind(
        us.replicate_key(pb::ReplicateKeyRequest {
            key_id: key.clone(),
            replica_region: "sa-east-1".into(),
            ..Default::default()
        })
        .await,
        "UnsupportedOperationException",
    );
    // A single-Region key.
    let single = create_key(&mut us).await;
    assert_kind(
        us.replicate_key(pb::ReplicateKeyRequest {
            key_id: single.key_id,
            replica_region: AP.into(),
            ..Default::default()
        })
        .await,
        "UnsupportedOperationException",
    );
    // A region that is not a replica does not know the key.
    let ct = encrypt(&mut us, &key, b"x").await;
    let mut ap = cluster.node(AP).admin().await;
    assert_kind(ap.decrypt(decrypt_req(&ct.ciphertext_blob)).await, "NotFoundException");
    assert_kind(
        ap.describe_key(pb::DescribeKeyRequest {
            key_id: key.clone(),
            grant_tokens: vec![],
        })
        .await,
        "NotFoundException",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_region_properties_stay_independent() {
    let cluster = TestCluster::start(&[US, EU, AP]).await;
    let mut us = cluster.node(US).admin().await;
    let md = create_key_with(&mut us, mrk_request()).await;
    let key = md.key_id.clone();
    ok(us
        .replicate_key(pb::ReplicateKeyRequest {
            key_id: key.clone(),
            replica_region: EU.into(),
            description: Some("eu copy".into()),
            tags: vec![tag("team", "eu")],
            ..Default::default()
        })
        .await);
    replicate(&mut us, &key, AP).await;
    wait_state(&cluster, EU, &key, "Enabled").await;
    wait_state(&cluster, AP, &key, "Enabled").await;
    let mut eu = cluster.node(EU).admin().await;
    let mut ap = cluster.node(AP).admin().await;
    assert_eq!(describe(&mut us, &key).await.description, "orders");
    assert_eq!(describe(&mut eu, &key).await.description, "eu copy");
    assert_eq!(describe(&mut ap, &key).await.description, "");
    let tags = ok(eu
        .list_resource_tags(pb::ListResourceTagsRequest {
            key_id: key.clone(),
            ..Default::default()
        })
        .await);
    assert_eq!(tags.tags, vec![tag("team", "eu")]);

    // Disabled in one region, still working in another.
    ok(eu.disable_key(pb::DisableKeyRequest { key_id: key.clone() }).await);
    let ct = encrypt(&mut us, &key, b"x").await;
    assert_kind(eu.decrypt(decrypt_req(&ct.ciphertext_blob)).await, "DisabledException");
    assert_eq!(decrypt(&mut ap, &ct.ciphertext_blob).await.plaintext, b"x");
    assert_eq!(describe(&mut us, &key).await.key_state, "Enabled");

    // Aliases per region.
    ok(ap
        .create_alias(pb::CreateAliasRequest {
            alias_name: "alias/seoul-orders".into(),
            target_key_id: key.clone(),
        })
        .await);
    encrypt(&mut ap, "alias/seoul-orders", b"y").await;
    assert_kind(
        us.encrypt(pb::EncryptRequest {
            key_id: "alias/seoul-orders".into(),
            plaintext: b"y".to_vec(),
            ..Default::default()
        })
        .await,
        "NotFoundException",
    );
    // Stored policies per region.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ADMIN_ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},{{"Sid":"eu-only","Effect":"Deny","Principal":{{"AWS":"{BOB_ARN}"}},"Action":"kms:Decrypt","Resource":"*"}}]}}"#
    );
    ok(eu
        .put_key_policy(pb::PutKeyPolicyRequest {
            key_id: key.clone(),
            policy: policy.clone(),
            ..Default::default()
        })
        .await);
    let eu_policy = ok(eu
        .get_key_policy(pb::GetKeyPolicyRequest {
            key_id: key.clone(),
            ..Default::default()
        })
        .await)
    .policy;
    let us_policy = ok(us
        .get_key_policy(pb::GetKeyPolicyRequest {
            key_id: key.clone(),
            ..Default::default()
        })
        .await)
    .policy;
    assert_eq!(eu_policy, policy);
    assert_ne!(us_policy, eu_policy);
    // Allowed here, denied there: bob may decrypt in us-east-1, not in eu-west-1.
    ok(eu.enable_key(pb::EnableKeyRequest { key_id: key.clone() }).await);
    let bob_creds = || tern_client::Credentials::new(BOB_AKID, BOB_SECRET);
    let mut bob_us = cluster.node(US).client(bob_creds()).await;
    let mut bob_eu = cluster.node(EU).client(bob_creds()).await;
    assert_eq!(decrypt(&mut bob_us, &ct.ciphertext_blob).await.plaintext, b"x");
    assert_kind(bob_eu.decrypt(decrypt_req(&ct.ciphertext_blob)).await, "AccessDeniedException");
    cluster.wait_converged().await;
}

/// The key material id a fresh Encrypt in `region` uses.
async fn encrypt_material(cluster: &TestCluster, region: &str, key: &str) -> String {
    let mut c = cluster.node(region).admin().await;
    let ct = encrypt(&mut c, key, b"probe").await;
    decrypt(&mut c, &ct.ciphertext_blob).await.key_material_id.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_reaches_every_replica_before_it_encrypts() {
    let cluster = TestCluster::start(&[US, EU, AP]).await;
    let key = mrk_everywhere(&cluster, US, &[EU, AP]).await;
    let before = encrypt_material(&cluster, US, &key).await;
    let mut us = cluster.node(US).admin().await;
    let mut eu = cluster.node(EU).admin().await;

    // Rotation only in the primary.
    assert_kind(
        eu.rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key.clone() }).await,
        "UnsupportedOperationException",
    );

    // One replica region cut off: the new material cannot reach it, so it
    // must not encrypt anywhere; a second rotation is a conflict.
    cluster.plan.isolate(AP, &[US, EU]);
    ok(us.rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key.clone() }).await);
    for r in [US, EU] {
        assert_eq!(encrypt_material(&cluster, r, &key).await, before, "{r} encrypts with unacked material");
    }
    assert_kind(
        us.rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key.clone() }).await,
        "ConflictException",
    );
    let status = ok(us
        .list_key_rotations(pb::ListKeyRotationsRequest {
            key_id: key.clone(),
            ..Default::default()
        })
        .await);
    assert!(status.rotations.is_empty(), "pending material is not a rotation yet");

    // Healed: it activates everywhere, and every region lists the same rotations.
    cluster.plan.heal();
    let after = eventually(WAIT, "the rotation to activate", || async {
        let m = encrypt_material(&cluster, US, &key).await;
        (m != before).then_some(m)
    })
    .await;
    for r in [EU, AP] {
        let m = eventually(WAIT, "the replica to use the new material", || async {
            let m = encrypt_material(&cluster, r, &key).await;
            (m == after).then_some(m)
        })
        .await;
        assert_eq!(m, after);
    }
    let mut lists = Vec::new();
    for r in [US, EU, AP] {
        let mut c = cluster.node(r).admin().await;
        let l = ok(c
            .list_key_rotations(pb::ListKeyRotationsRequest {
                key_id: key.clone(),
                include_key_material: Some("ALL_KEY_MATERIAL".into()),
                ..Default::default()
            })
            .await);
        lists.push(
            l.rotations
                .iter()
                .map(|e| (e.key_material_id.clone(), e.key_material_state.clone(), e.rotation_type.clone()))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(lists[0].len(), 2);
    assert_eq!(lists[0], lists[1]);
    assert_eq!(lists[0], lists[2]);
    cluster.wait_converged().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn isolated_region_keeps_decrypting_and_fails_writes_fast() {
    let cluster = TestCluster::start(&[US, EU, AP]).await;
    let key = mrk_everywhere(&cluster, US, &[EU, AP]).await;
    let mut us = cluster.node(US).admin().await;
    let ct = encrypt(&mut us, &key, b"hello").await;

    // Make sure the isolated region is not the leader's region for this
    // test's timing claims; any region works for the decrypt claims.
    let leader = cluster.wait_leader().await;
    let cut = [US, EU, AP].into_iter().find(|r| *r != leader).unwrap();
    let others: Vec<&str> = [US, EU, AP].into_iter().filter(|r| *r != cut).collect();
    cluster.plan.isolate(cut, &others);

    let mut isolated = cluster.node(cut).admin().await;
    for _ in 0..20 {
        assert_eq!(decrypt(&mut isolated, &ct.ciphertext_blob).await.plaintext, b"hello");
    }
    encrypt(&mut isolated, &key, b"local encrypt works").await;
    let t = Instant::now();
    assert_kind(isolated.create_key(mrk_request()).await, "DependencyTimeoutException");
    let took = t.elapsed();
    assert!(
        took < cluster.timing.election_max * 5 + Duration::from_secs(1),
        "MRK write in a cut-off region took {took:?}"
    );

    // The majority keeps Multi-Region writes.
    let mut maj = cluster.node(others[0]).admin().await;
    let md2 = create_key_with(&mut maj, mrk_request()).await;
    replicate(&mut maj, &md2.key_id, others[1]).await;
    wait_state(&cluster, others[1], &md2.key_id, "Enabled").await;

    cluster.plan.heal();
    cluster.wait_converged().await;
    let ct2 = encrypt(&mut maj, &md2.key_id, b"after heal").await;
    let mut other = cluster.node(others[1]).admin().await;
    assert_eq!(decrypt(&mut other, &ct2.ciphertext_blob).await.plaintext, b"after heal");
}
