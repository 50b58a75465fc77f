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
    assert!(
        rc.replica_keys.iter().any(|k| k.region == EU),
        "a replica's list includes itself"
    );
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
    assert_kind(
        bob_eu.decrypt(decrypt_req(&ct.ciphertext_blob)).await,
        "AccessDeniedException",
    );
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
        eu.rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key.clone() })
            .await,
        "UnsupportedOperationException",
    );

    // One replica region cut off: the new material cannot reach it, so it
    // must not encrypt anywhere; a second rotation is a conflict.
    cluster.plan.isolate(AP, &[US, EU]);
    ok(us
        .rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key.clone() })
        .await);
    for r in [US, EU] {
        assert_eq!(
            encrypt_material(&cluster, r, &key).await,
            before,
            "{r} encrypts with unacked material"
        );
    }
    assert_kind(
        us.rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key.clone() })
            .await,
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
                .map(|e| {
                    (
                        e.key_material_id.clone(),
                        e.key_material_state.clone(),
                        e.rotation_type.clone(),
                    )
                })
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(lists[0].len(), 2);
    assert_eq!(lists[0], lists[1]);
    assert_eq!(lists[0], lists[2]);
    cluster.wait_converged().await;
    // The regions' acks (ReplicaReady after each replication, MaterialApplied
    // after each rotation) reach the leader close together and share
    // entries; rotate a few more times if timing kept them apart so far.
    let gathered = |cluster: &TestCluster| -> u64 {
        [US, EU, AP]
            .iter()
            .map(|r| cluster.repl(r).metrics().acks_gathered)
            .sum()
    };
    for _ in 0..10 {
        if gathered(&cluster) >= 2 {
            break;
        }
        let old = encrypt_material(&cluster, US, &key).await;
        ok(us
            .rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key.clone() })
            .await);
        for r in [US, EU, AP] {
            let old = old.clone();
            eventually(WAIT, &format!("{r} to encrypt with the next material"), || {
                let (old, key) = (old.clone(), key.clone());
                let cluster = &cluster;
                async move { (encrypt_material(cluster, r, &key).await != old).then_some(()) }
            })
            .await;
        }
    }
    assert!(
        gathered(&cluster) >= 2,
        "no acknowledgements were gathered into one entry"
    );
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
    // Cut off for longer than CUT_OFF_ELECTIONS election timeouts: the
    // next write fails at once, without another wait.
    let cut_since = Instant::now() - took;
    eventually(WAIT, "the cut to last CUT_OFF_ELECTIONS election timeouts", || {
        let long = cut_since.elapsed() > cluster.timing.election_max * (tern_replication::CUT_OFF_ELECTIONS + 1);
        async move { long.then_some(()) }
    })
    .await;
    let t = Instant::now();
    assert_kind(isolated.create_key(mrk_request()).await, "DependencyTimeoutException");
    let took = t.elapsed();
    assert!(
        took < cluster.timing.election_max / 2,
        "a second MRK write in a region cut off for a while took {took:?}"
    );

    // The majority keeps Multi-Region writes.
    let mut maj = cluster.node(others[0]).admin().await;
    let md2 = create_key_with(&mut maj, mrk_request()).await;
    replicate(&mut maj, &md2.key_id, others[1]).await;
    wait_state(&cluster, others[1], &md2.key_id, "Enabled").await;

    // The leader sees the cut-off region fall behind, in entries and in
    // time (the age of the oldest entry it has not received).
    let cut_id = cluster.slots.iter().find(|s| s.region == cut).unwrap().node_id;
    let leader = cluster.wait_leader_among(&others).await;
    let lag = |cluster: &TestCluster| {
        let m = cluster.repl(&leader).metrics();
        (m.lag_entries.get(&cut_id).copied(), m.lag_time.get(&cut_id).copied())
    };
    let (entries, behind) = lag(&cluster);
    assert!(entries.unwrap() > 0, "lag in entries: {entries:?}");
    assert!(behind.unwrap() > Duration::ZERO, "lag in time: {behind:?}");
    eventually(WAIT, "the lag in time to grow while cut off", || {
        let grown = lag(&cluster).1.unwrap() > behind.unwrap();
        async move { grown.then_some(()) }
    })
    .await;

    cluster.plan.heal();
    cluster.wait_converged().await;
    // (The healed region may have forced an election: ask whoever leads.)
    eventually(WAIT, "every region to catch up (no lag on the leader)", || {
        let caught_up = [US, EU, AP].iter().any(|r| {
            let m = cluster.repl(r).metrics();
            m.state == "Leader"
                && m.lag_entries.len() == 3
                && m.lag_entries.values().all(|n| *n == 0)
                && m.lag_time.values().all(|t| t.is_zero())
        });
        async move { caught_up.then_some(()) }
    })
    .await;
    // (An acknowledgement may still be arriving: wait for it to apply.)
    eventually(WAIT, "the healed region to apply all it holds", || {
        let lag = cluster.repl(cut).metrics().apply_lag;
        async move { (lag == Duration::ZERO).then_some(()) }
    })
    .await;
    let ct2 = encrypt(&mut maj, &md2.key_id, b"after heal").await;
    let mut other = cluster.node(others[1]).admin().await;
    assert_eq!(decrypt(&mut other, &ct2.ciphertext_blob).await.plaintext, b"after heal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failover_while_the_primary_region_is_down() {
    let mut cluster = TestCluster::start(&[US, EU, AP]).await;
    let key = mrk_everywhere(&cluster, US, &[EU, AP]).await;
    let mut us = cluster.node(US).admin().await;
    let ct = encrypt(&mut us, &key, b"before the outage").await;
    drop(us);

    // The primary region goes away.
    cluster.stop_region(US).await;
    cluster.wait_leader().await;
    let mut eu = cluster.node(EU).admin().await;
    let mut ap = cluster.node(AP).admin().await;
    assert_eq!(
        decrypt(&mut ap, &ct.ciphertext_blob).await.plaintext,
        b"before the outage"
    );

    // Failover, asked of the target region and authorized by its policy.
    ok(eu
        .update_primary_region(pb::UpdatePrimaryRegionRequest {
            key_id: key.clone(),
            primary_region: EU.into(),
        })
        .await);
    let cfg = describe(&mut eu, &key).await.multi_region_configuration.unwrap();
    assert_eq!(cfg.multi_region_key_type, "PRIMARY");
    let regions: Vec<_> = cfg.replica_keys.iter().map(|k| k.region.clone()).collect();
    assert_eq!(regions, [US.to_string(), AP.to_string()]);
    eventually(WAIT, "ap-northeast-2 to see the new primary", || {
        let mut ap = ap.clone();
        let key = key.clone();
        async move {
            let c = describe(&mut ap, &key).await.multi_region_configuration?;
            (c.primary_key?.region == EU).then_some(())
        }
    })
    .await;

    // Rotate in the new primary: the new material waits for us-east-1.
    let old_material = encrypt_material(&cluster, EU, &key).await;
    ok(eu
        .rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key.clone() })
        .await);
    assert_eq!(encrypt_material(&cluster, EU, &key).await, old_material);

    // us-east-1 returns: it catches up, reports REPLICA, acks the material.
    cluster.start_region(US).await;
    let mut us = cluster.node(US).admin().await;
    eventually(WAIT, "us-east-1 to report REPLICA", || {
        let mut us = us.clone();
        let key = key.clone();
        async move {
            let c = describe(&mut us, &key).await.multi_region_configuration?;
            (c.multi_region_key_type == "REPLICA").then_some(())
        }
    })
    .await;
    // Its stale claim to be primary fails its precondition.
    assert_kind(
        us.rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key.clone() })
            .await,
        "UnsupportedOperationException",
    );
    let new_material = eventually(WAIT, "the rotation to activate", || async {
        let m = encrypt_material(&cluster, EU, &key).await;
        (m != old_material).then_some(m)
    })
    .await;
    let ct2 = encrypt(&mut eu, &key, b"after failover").await;
    for r in [US, AP] {
        let mut c = cluster.node(r).admin().await;
        let d = decrypt(&mut c, &ct2.ciphertext_blob).await;
        assert_eq!(d.plaintext, b"after failover");
        assert_eq!(d.key_material_id.as_deref(), Some(new_material.as_str()));
        assert_eq!(
            decrypt(&mut c, &ct.ciphertext_blob).await.plaintext,
            b"before the outage"
        );
    }
    cluster.wait_converged().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_region_offline_across_compaction_catches_up_by_snapshot() {
    let mut cluster = TestCluster::start_with(&[US, EU, AP], 8).await;
    let key = mrk_everywhere(&cluster, US, &[EU, AP]).await;
    cluster.stop_region(AP).await;

    // Enough Multi-Region writes for several snapshots and log purges.
    let mut us = cluster.node(US).admin().await;
    let mut created = Vec::new();
    for i in 0..6 {
        let md = create_key_with(&mut us, mrk_request()).await;
        replicate(&mut us, &md.key_id, EU).await;
        if i % 2 == 0 {
            // Replicas of the region that is down: their initial properties
            // wait in the replicated pending table.
            ok(us
                .replicate_key(pb::ReplicateKeyRequest {
                    key_id: md.key_id.clone(),
                    replica_region: AP.into(),
                    description: Some(format!("seoul {i}")),
                    ..Default::default()
                })
                .await);
        }
        created.push(md.key_id);
    }
    let leader = cluster.wait_leader().await;
    let purged = eventually(WAIT, "the leader to purge its log", || async {
        cluster.repl(&leader).metrics().purged_index
    })
    .await;
    assert!(purged > 0);

    cluster.start_region(AP).await;
    eventually(WAIT, "ap-northeast-2 to install a snapshot", || async {
        (cluster.repl(AP).metrics().snapshots_installed > 0).then_some(())
    })
    .await;
    let mut ap = cluster.node(AP).admin().await;
    for (i, k) in created.iter().enumerate() {
        if i % 2 == 0 {
            wait_state(&cluster, AP, k, "Enabled").await;
            assert_eq!(describe(&mut ap, k).await.description, format!("seoul {i}"));
            let ct = encrypt(&mut us, k, b"snap").await;
            assert_eq!(decrypt(&mut ap, &ct.ciphertext_blob).await.plaintext, b"snap");
        } else {
            assert_kind(
                ap.describe_key(pb::DescribeKeyRequest {
                    key_id: k.clone(),
                    grant_tokens: vec![],
                })
                .await,
                "NotFoundException",
            );
        }
    }
    let ct = encrypt(&mut us, &key, b"old key").await;
    assert_eq!(decrypt(&mut ap, &ct.ciphertext_blob).await.plaintext, b"old key");
    cluster.wait_converged().await;
}

/// A node killed while installing a snapshot (the snapshot's state written
/// into the store, the snapshot file not yet renamed into place) starts
/// again and catches up. Before the fix openraft refused every start: it
/// purged the log up to the store's applied id, past the older snapshot
/// file ("expect: purge_upto … <= snapshot_last_log_id").
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_while_installing_a_snapshot_starts_again() {
    use tern_replication::fault::CrashPoint;
    let mut cluster = TestCluster::start_with(&[US, EU, AP], 8).await;
    let key = mrk_everywhere(&cluster, US, &[EU, AP]).await;
    cluster.stop_region(AP).await;
    let mut us = cluster.node(US).admin().await;
    let mut created = Vec::new();
    for _ in 0..6 {
        let md = create_key_with(&mut us, mrk_request()).await;
        replicate(&mut us, &md.key_id, AP).await;
        created.push(md.key_id);
    }
    let leader = cluster.wait_leader_among(&[US, EU]).await;
    eventually(WAIT, "the leader to purge its log", || async {
        cluster.repl(&leader).metrics().purged_index
    })
    .await;

    cluster.plan.arm_crash(AP, CrashPoint::SnapshotRename);
    cluster.start_region(AP).await;
    eventually(WAIT, "ap-northeast-2 to die installing the snapshot", || async {
        cluster.plan.crashed(AP).then_some(())
    })
    .await;
    cluster.restart_crashed(AP).await;

    let mut ap = cluster.node(AP).admin().await;
    for k in &created {
        wait_state(&cluster, AP, k, "Enabled").await;
        let ct = encrypt(&mut us, k, b"after the kill").await;
        assert_eq!(decrypt(&mut ap, &ct.ciphertext_blob).await.plaintext, b"after the kill");
    }
    let ct = encrypt(&mut us, &key, b"old key").await;
    assert_eq!(decrypt(&mut ap, &ct.ciphertext_blob).await.plaintext, b"old key");
    // Writes go on with the restarted region in the group.
    let md = create_key_with(&mut ap, mrk_request()).await;
    replicate(&mut ap, &md.key_id, EU).await;
    cluster.wait_converged().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_region_restarts_on_its_data_and_keeps_its_keys() {
    let mut cluster = TestCluster::start(&[US, EU, AP]).await;
    let key = mrk_everywhere(&cluster, US, &[EU, AP]).await;
    let mut us = cluster.node(US).admin().await;
    ok(us
        .rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key.clone() })
        .await);
    let ct = encrypt(&mut us, &key, b"durable").await;
    let digest = cluster.wait_converged().await;
    drop(us);
    for r in [US, EU, AP] {
        cluster.stop_region(r).await;
    }
    for r in [US, EU, AP] {
        cluster.start_region(r).await;
    }
    cluster.wait_leader().await;
    for r in [US, EU, AP] {
        let mut c = cluster.node(r).admin().await;
        assert_eq!(decrypt(&mut c, &ct.ciphertext_blob).await.plaintext, b"durable");
    }
    // Writes work again after the restart.
    let mut eu = cluster.node(EU).admin().await;
    let md = create_key_with(&mut eu, mrk_request()).await;
    replicate(&mut eu, &md.key_id, AP).await;
    let after = cluster.wait_converged().await;
    assert_ne!(after, digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_regions() {
    const SA: &str = "sa-east-1";
    const CA: &str = "ca-central-1";
    let mut cluster = TestCluster::start(&[US, EU, AP, SA, CA]).await;
    let key = mrk_everywhere(&cluster, AP, &[US, EU, SA, CA]).await;
    let mut sa = cluster.node(SA).admin().await;
    let ct = encrypt(&mut sa, &key, b"five").await;
    // Two regions down: the other three still form a majority.
    cluster.stop_region(US).await;
    cluster.stop_region(EU).await;
    cluster.wait_leader().await;
    let mut ap = cluster.node(AP).admin().await;
    ok(ap
        .rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key.clone() })
        .await);
    let mut ca = cluster.node(CA).admin().await;
    assert_eq!(decrypt(&mut ca, &ct.ciphertext_blob).await.plaintext, b"five");
    cluster.start_region(US).await;
    cluster.start_region(EU).await;
    let before = ct.ciphertext_blob.clone();
    eventually(WAIT, "the rotation to activate once all five hold it", || async {
        let m = encrypt_material(&cluster, AP, &key).await;
        let first = decrypt(&mut ap.clone(), &before).await.key_material_id.unwrap();
        (m != first).then_some(())
    })
    .await;
    let ct2 = encrypt(&mut ap, &key, b"rotated").await;
    for r in [US, EU, SA, CA] {
        let mut c = cluster.node(r).admin().await;
        assert_eq!(decrypt(&mut c, &ct2.ciphertext_blob).await.plaintext, b"rotated");
    }
    cluster.wait_converged().await;
}

async fn schedule_deletion(c: &mut tern_client::KmsClient, key: &str) -> pb::ScheduleKeyDeletionResponse {
    ok(c.schedule_key_deletion(pb::ScheduleKeyDeletionRequest {
        key_id: key.to_string(),
        pending_window_in_days: Some(7),
    })
    .await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_replicas_then_the_primary() {
    let cluster = TestCluster::start(&[US, EU, AP]).await;
    let key = mrk_everywhere(&cluster, US, &[EU, AP]).await;
    let mut us = cluster.node(US).admin().await;
    let mut eu = cluster.node(EU).admin().await;
    let mut ap = cluster.node(AP).admin().await;
    let ct = encrypt(&mut us, &key, b"bye").await;

    // The primary waits for its replicas: no deletion date yet.
    let r = schedule_deletion(&mut us, &key).await;
    assert_eq!(r.key_state, "PendingReplicaDeletion");
    assert_eq!(r.deletion_date, None);
    assert_kind(
        us.decrypt(decrypt_req(&ct.ciphertext_blob)).await,
        "KMSInvalidStateException",
    );
    assert_kind(
        us.replicate_key(pb::ReplicateKeyRequest {
            key_id: key.clone(),
            replica_region: "sa-east-1".into(),
            ..Default::default()
        })
        .await,
        "KMSInvalidStateException",
    );

    // A replica is deleted like any key, independently.
    assert_eq!(schedule_deletion(&mut eu, &key).await.key_state, "PendingDeletion");
    assert_eq!(decrypt(&mut ap, &ct.ciphertext_blob).await.plaintext, b"bye");
    cluster.clock.advance_days(8);
    assert_eq!(cluster.node(EU).run_due_tasks().await.deleted, 1);
    assert_kind(eu.decrypt(decrypt_req(&ct.ciphertext_blob)).await, "NotFoundException");
    eventually(WAIT, "the primary to see one replica left", || {
        let mut us = us.clone();
        let key = key.clone();
        async move {
            let c = describe(&mut us, &key).await.multi_region_configuration?;
            (c.replica_keys.len() == 1).then_some(())
        }
    })
    .await;

    schedule_deletion(&mut ap, &key).await;
    cluster.clock.advance_days(8);
    assert_eq!(cluster.node(AP).run_due_tasks().await.deleted, 1);
    // The last replica went: the primary's own waiting period starts.
    eventually(WAIT, "the primary's waiting period to start", || {
        let node = cluster.node(US);
        let key = key.clone();
        async move {
            node.run_due_tasks().await;
            let mut us = node.admin().await;
            let md = describe(&mut us, &key).await;
            (md.key_state == "PendingDeletion" && md.deletion_date.is_some()).then_some(())
        }
    })
    .await;
    cluster.clock.advance_days(8);
    assert_eq!(cluster.node(US).run_due_tasks().await.deleted, 1);
    assert_kind(
        us.describe_key(pb::DescribeKeyRequest {
            key_id: key.clone(),
            grant_tokens: vec![],
        })
        .await,
        "NotFoundException",
    );
    cluster.wait_converged().await;
    assert!(cluster.repl(EU).mrks().is_empty(), "the key left the replicated state");
}

/// A request id unique in this process.
fn next_request_number() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Removing a region is decided in the log: the region is marked leaving
/// there (refused while it is any key's primary), and while it is marked no
/// UpdatePrimaryRegion can make it a primary — so the check cannot race one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_region_being_removed_cannot_become_a_primary() {
    use tern_replication::command::{Command, Op, Outcome};
    let cluster = TestCluster::start(&[US, EU, AP]).await;
    let key = mrk_everywhere(&cluster, US, &[EU, AP]).await;
    let leader = cluster.wait_leader().await;
    let set_leaving = |region: &str, leaving: bool| Command {
        request_id: format!("test-leaving/{region}/{leaving}/{}", next_request_number()),
        proposed_at: tern_service::Clock::now(&*cluster.clock),
        op: Op::SetLeaving {
            region: tern_core::ids::Region::parse(region).unwrap(),
            leaving,
        },
        service_made: false,
        author: None,
        signature: None,
    };
    let propose = |cmd: Command| {
        let repl = cluster.repl(&leader).clone();
        async move { repl.propose(cmd, WAIT).await.unwrap() }
    };
    // The primary Region cannot be marked.
    match propose(set_leaving(US, true)).await {
        Outcome::Rejected(r) => assert!(r.message.contains("primary Region"), "{r:?}"),
        other => panic!("marking the primary Region leaving: {other:?}"),
    }
    // A replica Region can; then it cannot become the primary.
    assert_eq!(propose(set_leaving(EU, true)).await, Outcome::Applied);
    let mut eu = cluster.node(EU).admin().await;
    let to_eu = || pb::UpdatePrimaryRegionRequest {
        key_id: key.clone(),
        primary_region: EU.into(),
    };
    let m = assert_kind(eu.update_primary_region(to_eu()).await, "KMSInvalidStateException");
    assert!(m.contains("leaving"), "{m}");
    // Cleared (a removal that failed): it can again.
    assert_eq!(propose(set_leaving(EU, false)).await, Outcome::Applied);
    ok(eu.update_primary_region(to_eu()).await);
}

/// A replica deleted and replicated again becomes Enabled again, and a
/// second deletion deletes it again: the service's own commands
/// (`ack-ready/…`, `delete/…`) are applied each time, never answered with
/// the outcome remembered from the first time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_deleted_and_replicated_again_comes_back_and_goes_again() {
    let cluster = TestCluster::start(&[US, EU, AP]).await;
    let key = mrk_everywhere(&cluster, US, &[EU]).await;
    let mut us = cluster.node(US).admin().await;
    let mut eu = cluster.node(EU).admin().await;
    for round in 1..=2 {
        assert_eq!(schedule_deletion(&mut eu, &key).await.key_state, "PendingDeletion");
        cluster.clock.advance_days(8);
        assert_eq!(cluster.node(EU).run_due_tasks().await.deleted, 1, "round {round}");
        eventually(
            WAIT,
            &format!("round {round}: the primary to see its replica gone"),
            || {
                let mut us = us.clone();
                let key = key.clone();
                async move {
                    let c = describe(&mut us, &key).await.multi_region_configuration?;
                    c.replica_keys.is_empty().then_some(())
                }
            },
        )
        .await;
        ok(us
            .replicate_key(pb::ReplicateKeyRequest {
                key_id: key.clone(),
                replica_region: EU.into(),
                ..Default::default()
            })
            .await);
        eventually(
            WAIT,
            &format!("round {round}: the re-created replica to be Enabled"),
            || {
                let mut eu = eu.clone();
                let key = key.clone();
                async move {
                    // Not there at all until eu-west-1 applied the replication.
                    let r = eu
                        .describe_key(pb::DescribeKeyRequest {
                            key_id: key,
                            grant_tokens: vec![],
                        })
                        .await
                        .ok()?;
                    (r.into_inner().key_metadata?.key_state == "Enabled").then_some(())
                }
            },
        )
        .await;
    }
    let ct = encrypt(&mut us, &key, b"back again").await;
    assert_eq!(decrypt(&mut eu, &ct.ciphertext_blob).await.plaintext, b"back again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adding_and_removing_regions() {
    const SA: &str = "sa-east-1";
    let mut cluster = TestCluster::start(&[US, EU, AP]).await;
    let key = mrk_everywhere(&cluster, US, &[EU]).await;
    cluster.add_region(SA).await;
    let leader = cluster.wait_leader().await;
    let voters = cluster
        .repl(&leader)
        .raft()
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .voter_ids()
        .count();
    assert_eq!(voters, 4);
    let mut us = cluster.node(US).admin().await;
    replicate(&mut us, &key, SA).await;
    wait_state(&cluster, SA, &key, "Enabled").await;
    let ct = encrypt(&mut us, &key, b"new region").await;
    let mut sa = cluster.node(SA).admin().await;
    assert_eq!(decrypt(&mut sa, &ct.ciphertext_blob).await.plaintext, b"new region");

    // The primary Region of a key cannot leave.
    let us_id = cluster.slots.iter().find(|s| s.region == US).unwrap().node_id;
    let e = cluster.repl(&leader).remove_region(us_id).await.unwrap_err();
    assert!(e.contains("primary Region"), "{e}");

    // eu-west-1 is cut off with a rotation pending on it; removing the
    // region releases the rotation.
    let before = encrypt_material(&cluster, US, &key).await;
    cluster.plan.isolate(EU, &[US, AP, SA]);
    ok(us
        .rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key.clone() })
        .await);
    assert_eq!(encrypt_material(&cluster, US, &key).await, before);
    let leader = cluster.wait_leader_among(&[US, AP, SA]).await;
    let eu_id = cluster.slots.iter().find(|s| s.region == EU).unwrap().node_id;
    cluster.repl(&leader).remove_region(eu_id).await.unwrap();
    let after = eventually(WAIT, "the rotation to activate without eu-west-1", || async {
        let m = encrypt_material(&cluster, US, &key).await;
        (m != before).then_some(m)
    })
    .await;
    let ct2 = encrypt(&mut us, &key, b"three left").await;
    let d = decrypt(&mut sa, &ct2.ciphertext_blob).await;
    assert_eq!(d.key_material_id.as_deref(), Some(after.as_str()));
    let regions: Vec<_> = describe(&mut us, &key)
        .await
        .multi_region_configuration
        .unwrap()
        .replica_keys
        .into_iter()
        .map(|k| k.region)
        .collect();
    assert_eq!(regions, [SA.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_voter_whose_raft_state_was_lost_refuses_to_rejoin() {
    let mut cluster = TestCluster::start(&[US, EU, AP]).await;
    mrk_everywhere(&cluster, US, &[EU, AP]).await;
    cluster.stop_region(AP).await;
    cluster.wipe_raft_state(AP);
    let e = cluster.try_start_region(AP).await.unwrap_err().to_string();
    assert!(e.contains("vote and log were lost"), "{e}");
    // The rest of the cluster is unaffected.
    let mut us = cluster.node(US).admin().await;
    create_key_with(&mut us, mrk_request()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_region_writes_are_audited_before_and_after_in_the_region_that_took_them() {
    let cluster = TestCluster::start(&[US, EU, AP]).await;
    let key = mrk_everywhere(&cluster, US, &[EU]).await;
    let records = cluster.node(US).audit_records();
    for name in ["CreateKey", "ReplicateKey"] {
        let of: Vec<_> = records.iter().filter(|r| r["eventName"] == name).collect();
        assert_eq!(
            of.len(),
            2,
            "{name}: the request before proposing, the outcome after: {of:#?}"
        );
        assert_eq!(of[0]["responseElements"]["replication"], "proposed");
        assert!(of[1]["errorCode"].is_null(), "{:#?}", of[1]);
        assert_ne!(of[1]["responseElements"]["replication"], "proposed");
    }
    // The replica region did not take the request: it audits nothing for it.
    let eu = cluster.node(EU).audit_records();
    assert!(eu.iter().all(|r| r["eventName"] != "ReplicateKey"), "{eu:#?}");
    // A refused MRK write is audited with its error.
    let mut eu_client = cluster.node(EU).admin().await;
    assert_kind(
        eu_client
            .rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key.clone() })
            .await,
        "UnsupportedOperationException",
    );
    let eu = cluster.node(EU).audit_records();
    let last = eu.iter().rev().find(|r| r["eventName"] == "RotateKeyOnDemand").unwrap();
    assert_eq!(last["errorCode"], "UnsupportedOperationException");
}

/// Asks `region`'s peer port who it knows as node 1, over a channel made
/// by `endpoint`. `Err` carries why the exchange failed.
async fn peer_hello(endpoint: tonic::transport::Endpoint) -> Result<(), String> {
    use tern_proto::raft_pb::raft_peer_client::RaftPeerClient;
    use tern_proto::raft_pb::RaftPayload;
    let ch = tokio::time::timeout(Duration::from_secs(5), endpoint.connect())
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect: {e:?}"))?;
    let data = serde_json::to_vec(&1u64).unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        RaftPeerClient::new(ch).hello(RaftPayload { data }),
    )
    .await
    .map_err(|_| "hello timed out".to_string())?
    .map(|_| ())
    .map_err(|s| format!("hello: {s:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_peer_port_speaks_only_mutual_tls_with_cluster_certificates() {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    let cluster = TestCluster::start(&[US, EU, AP]).await;
    let addr = cluster.node(US).node.peer_addr().unwrap();
    let https = || Endpoint::from_shared(format!("https://{addr}")).unwrap();
    // Issued by the cluster CA as `tern init` reloads it from its files.
    let ca = common::cluster::test_ca();
    let reloaded = tern_replication::ClusterCa::from_pem(ca.cert_pem().to_string(), &ca.key_pem()).unwrap();
    let ours = reloaded.issue(EU).unwrap();

    // A region's own certificate, dialing the region it is: answered.
    peer_hello(https().tls_config(ours.client_config(US)).unwrap())
        .await
        .expect("a cluster certificate is accepted");

    // Plaintext HTTP/2 on the peer port: no answer.
    let plain = peer_hello(Endpoint::from_shared(format!("http://{addr}")).unwrap()).await;
    assert!(plain.is_err(), "plaintext must be refused");

    // TLS without a client certificate: refused by the server.
    let no_cert = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ours.ca_pem()))
        .domain_name(tern_replication::tls::peer_dns_name(US));
    let r = peer_hello(https().tls_config(no_cert).unwrap()).await;
    assert!(r.is_err(), "a client without a certificate must be refused");

    // A certificate from another CA: refused by the server.
    let foreign = tern_replication::ClusterCa::generate().unwrap().issue(EU).unwrap();
    let stranger = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ours.ca_pem()))
        .identity(Identity::from_pem(foreign.cert_pem(), foreign.key_pem()))
        .domain_name(tern_replication::tls::peer_dns_name(US));
    let r = peer_hello(https().tls_config(stranger).unwrap()).await;
    assert!(r.is_err(), "a certificate from another CA must be refused");

    // Dialing us-east-1's address while expecting eu-west-1: the server's
    // certificate names another region, so the client refuses it.
    let r = peer_hello(https().tls_config(ours.client_config(EU)).unwrap()).await;
    assert!(
        r.is_err(),
        "a peer whose certificate names another region must be refused"
    );

    // The bad handshakes did not stop the peer port: the group still
    // replicates.
    peer_hello(https().tls_config(ours.client_config(US)).unwrap())
        .await
        .expect("still serving after refused handshakes");
    mrk_everywhere(&cluster, US, &[EU, AP]).await;
}

/// The Multi-Region condition keys: `kms:ReplicaRegion` on ReplicateKey,
/// `kms:PrimaryRegion` on UpdatePrimaryRegion, `kms:MultiRegionKeyType`
/// on every request (PRIMARY where the region's copy is the primary).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_region_condition_keys() {
    let cluster = TestCluster::start(&[US, EU, AP]).await;
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
        {"Sid":"NotToSeoul","Effect":"Deny","Principal":"*","Action":"kms:ReplicateKey","Resource":"*",
         "Condition":{"StringEquals":{"kms:ReplicaRegion":"ap-northeast-2"}}},
        {"Sid":"PrimaryStaysWest","Effect":"Deny","Principal":"*","Action":"kms:UpdatePrimaryRegion","Resource":"*",
         "Condition":{"StringEquals":{"kms:PrimaryRegion":"eu-west-1"}}},
        {"Sid":"DecryptInPrimaryOnly","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*",
         "Condition":{"StringEquals":{"kms:MultiRegionKeyType":"REPLICA"}}}
    ]}"#;
    let mut us = cluster.node(US).admin().await;
    let md = create_key_with(
        &mut us,
        pb::CreateKeyRequest {
            policy: Some(policy.to_string()),
            ..mrk_request()
        },
    )
    .await;
    let key = md.key_id;
    assert_kind(
        us.replicate_key(pb::ReplicateKeyRequest {
            key_id: key.clone(),
            replica_region: AP.to_string(),
            ..Default::default()
        })
        .await,
        "AccessDeniedException",
    );
    ok(us
        .replicate_key(pb::ReplicateKeyRequest {
            key_id: key.clone(),
            replica_region: EU.to_string(),
            policy: Some(policy.to_string()),
            ..Default::default()
        })
        .await);
    wait_state(&cluster, EU, &key, "Enabled").await;
    let ct = encrypt(&mut us, &key, b"where may I decrypt").await;
    assert_eq!(
        decrypt(&mut us, &ct.ciphertext_blob).await.plaintext,
        b"where may I decrypt"
    );
    let mut eu = cluster.node(EU).admin().await;
    assert_kind(
        eu.decrypt(decrypt_req(&ct.ciphertext_blob)).await,
        "AccessDeniedException",
    );
    assert_kind(
        us.update_primary_region(pb::UpdatePrimaryRegionRequest {
            key_id: key.clone(),
            primary_region: EU.to_string(),
        })
        .await,
        "AccessDeniedException",
    );

    // ReplicateKey also needs kms:CreateKey in the replica Region: dave's
    // identity policy denies it in ap-northeast-2 only.
    let open = create_key_with(&mut us, mrk_request()).await.key_id;
    let mut dave = cluster
        .node(US)
        .client(tern_client::Credentials::new(DAVE_AKID, DAVE_SECRET))
        .await;
    let denied = assert_kind(
        dave.replicate_key(pb::ReplicateKeyRequest {
            key_id: open.clone(),
            replica_region: AP.to_string(),
            ..Default::default()
        })
        .await,
        "AccessDeniedException",
    );
    assert!(denied.contains("kms:CreateKey"), "{denied}");
    ok(dave
        .replicate_key(pb::ReplicateKeyRequest {
            key_id: open,
            replica_region: EU.to_string(),
            ..Default::default()
        })
        .await);
}

/// Asymmetric and HMAC Multi-Region keys: the replica holds the same key
/// pair or HMAC key, so a signature made in one region verifies in another
/// and the public key is the same everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn asymmetric_and_hmac_multi_region_keys_share_their_material() {
    let cluster = TestCluster::start(&[US, EU]).await;
    let mut us = cluster.node(US).admin().await;
    let mut eu = cluster.node(EU).admin().await;
    for (spec, usage) in [("ECC_NIST_P256", "SIGN_VERIFY"), ("HMAC_256", "GENERATE_VERIFY_MAC")] {
        let md = create_key_with(
            &mut us,
            pb::CreateKeyRequest {
                key_spec: Some(spec.into()),
                key_usage: Some(usage.into()),
                ..mrk_request()
            },
        )
        .await;
        replicate(&mut us, &md.key_id, EU).await;
        wait_state(&cluster, EU, &md.key_id, "Enabled").await;
        let replica = describe(&mut eu, &md.key_id).await;
        assert_eq!(replica.key_spec, spec);
        assert_eq!(replica.current_key_material_id, md.current_key_material_id);
        if usage == "SIGN_VERIFY" {
            let pk = |c: &mut tern_client::KmsClient| {
                let mut c = c.clone();
                let id = md.key_id.clone();
                async move {
                    ok(c.get_public_key(pb::GetPublicKeyRequest {
                        key_id: id,
                        ..Default::default()
                    })
                    .await)
                    .public_key
                }
            };
            assert_eq!(pk(&mut us).await, pk(&mut eu).await);
            let sig = ok(us
                .sign(pb::SignRequest {
                    key_id: md.key_id.clone(),
                    message: b"signed in us".to_vec(),
                    signing_algorithm: "ECDSA_SHA_256".into(),
                    ..Default::default()
                })
                .await)
            .signature;
            let v = ok(eu
                .verify(pb::VerifyRequest {
                    key_id: md.key_id.clone(),
                    message: b"signed in us".to_vec(),
                    signature: sig,
                    signing_algorithm: "ECDSA_SHA_256".into(),
                    ..Default::default()
                })
                .await);
            assert!(v.signature_valid);
        } else {
            let mac = ok(us
                .generate_mac(pb::GenerateMacRequest {
                    key_id: md.key_id.clone(),
                    message: b"m".to_vec(),
                    mac_algorithm: "HMAC_SHA_256".into(),
                    ..Default::default()
                })
                .await)
            .mac;
            let v = ok(eu
                .verify_mac(pb::VerifyMacRequest {
                    key_id: md.key_id.clone(),
                    message: b"m".to_vec(),
                    mac_algorithm: "HMAC_SHA_256".into(),
                    mac,
                    ..Default::default()
                })
                .await);
            assert!(v.mac_valid);
        }
    }
}

async fn import_into(
    c: &mut tern_client::KmsClient,
    key: &str,
    material: &[u8],
) -> Result<pb::ImportKeyMaterialResponse, (String, String)> {
    import_with_type(c, key, material, None).await
}

async fn import_with_type(
    c: &mut tern_client::KmsClient,
    key: &str,
    material: &[u8],
    import_type: Option<&str>,
) -> Result<pb::ImportKeyMaterialResponse, (String, String)> {
    let p = ok(c
        .get_parameters_for_import(pb::GetParametersForImportRequest {
            key_id: key.to_string(),
            wrapping_algorithm: "RSAES_OAEP_SHA_256".into(),
            wrapping_key_spec: "RSA_2048".into(),
        })
        .await);
    let r = c
        .import_key_material(pb::ImportKeyMaterialRequest {
            key_id: key.to_string(),
            import_token: p.import_token,
            encrypted_key_material: wrap_for_import(&p.public_key, "RSAES_OAEP_SHA_256", material),
            expiration_model: Some("KEY_MATERIAL_DOES_NOT_EXPIRE".into()),
            import_type: import_type.map(str::to_string),
            ..Default::default()
        })
        .await;
    match r {
        Ok(r) => Ok(r.into_inner()),
        Err(_) => Err(err(r)),
    }
}

/// An imported Multi-Region key: the material never travels; each region
/// imports it, and only the same material is accepted everywhere. Then a
/// ciphertext from one region decrypts in the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn imported_multi_region_material_must_match_in_every_region() {
    let cluster = TestCluster::start(&[US, EU]).await;
    let mut us = cluster.node(US).admin().await;
    let mut eu = cluster.node(EU).admin().await;
    let md = create_key_with(
        &mut us,
        pb::CreateKeyRequest {
            origin: Some("EXTERNAL".into()),
            ..mrk_request()
        },
    )
    .await;
    assert_eq!(md.key_state, "PendingImport");
    replicate(&mut us, &md.key_id, EU).await;
    wait_state(&cluster, EU, &md.key_id, "PendingImport").await;
    wait_state(&cluster, US, &md.key_id, "PendingImport").await;

    let material = [0x3cu8; 32];
    // The replica imports first: that fixes the material id for every region.
    let first = import_into(&mut eu, &md.key_id, &material).await.unwrap();
    wait_state(&cluster, EU, &md.key_id, "Enabled").await;
    let ct = encrypt(&mut eu, &md.key_id, b"imported mrk").await;
    // Other material in the primary is refused, by the log's check.
    let (kind, msg) = import_into(&mut us, &md.key_id, &[0x3du8; 32]).await.unwrap_err();
    assert_eq!(kind, "IncorrectKeyMaterialException", "{msg}");
    assert_eq!(describe(&mut us, &md.key_id).await.key_state, "PendingImport");
    // The same material: same id, and the replica's ciphertext decrypts here.
    let second = import_into(&mut us, &md.key_id, &material).await.unwrap();
    assert_eq!(second.key_material_id, first.key_material_id);
    assert_eq!(decrypt(&mut us, &ct.ciphertext_blob).await.plaintext, b"imported mrk");
    // Deleting one region's material leaves the other region working.
    ok(us
        .delete_imported_key_material(pb::DeleteImportedKeyMaterialRequest {
            key_id: md.key_id.clone(),
            ..Default::default()
        })
        .await);
    assert_kind(
        us.decrypt(pb::DecryptRequest {
            ciphertext_blob: ct.ciphertext_blob.clone(),
            ..Default::default()
        })
        .await,
        "KMSInvalidStateException",
    );
    assert_eq!(decrypt(&mut eu, &ct.ciphertext_blob).await.plaintext, b"imported mrk");
}

/// Rotation of a Multi-Region key's imported material: every Region
/// imports the same new material (NEW_KEY_MATERIAL; the log fixes its id);
/// RotateKeyOnDemand in the primary is refused until every Region has, then
/// the new material is current everywhere and the old one still decrypts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn imported_multi_region_material_rotates_once_every_region_imported_it() {
    let cluster = TestCluster::start(&[US, EU]).await;
    let mut us = cluster.node(US).admin().await;
    let mut eu = cluster.node(EU).admin().await;
    let key = create_key_with(
        &mut us,
        pb::CreateKeyRequest {
            origin: Some("EXTERNAL".into()),
            ..mrk_request()
        },
    )
    .await
    .key_id;
    replicate(&mut us, &key, EU).await;
    wait_state(&cluster, EU, &key, "PendingImport").await;
    let (a, b) = ([0x0au8; 32], [0x0bu8; 32]);
    let first = import_into(&mut us, &key, &a).await.unwrap().key_material_id;
    import_into(&mut eu, &key, &a).await.unwrap();
    let old = encrypt(&mut us, &key, b"under a").await.ciphertext_blob;
    let rotate = pb::RotateKeyOnDemandRequest { key_id: key.clone() };
    let arn = describe(&mut us, &key).await.arn;
    assert_err(
        us.rotate_key_on_demand(rotate.clone()).await,
        "KMSInvalidStateException",
        &format!("No available key material pending rotation for the key: {arn}."),
    );

    // New material in the primary only: the rotation waits for eu-west-1.
    let second = import_with_type(&mut us, &key, &b, Some("NEW_KEY_MATERIAL"))
        .await
        .unwrap()
        .key_material_id;
    let (kind, msg) = err(us.rotate_key_on_demand(rotate.clone()).await);
    assert_eq!(kind, "KMSInvalidStateException");
    assert!(
        msg.contains("not imported in every Region") && msg.contains(EU),
        "{msg}"
    );
    // Other new material in eu-west-1 is refused by the log.
    let (kind, msg) = import_with_type(&mut eu, &key, &[0x0cu8; 32], Some("NEW_KEY_MATERIAL"))
        .await
        .unwrap_err();
    assert_eq!(kind, "KMSInvalidStateException", "{msg}");
    assert!(msg.contains("is pending rotation"), "{msg}");
    // The same new material there: the rotation goes through.
    import_with_type(&mut eu, &key, &b, Some("NEW_KEY_MATERIAL"))
        .await
        .unwrap();
    let r = ok(us.rotate_key_on_demand(rotate.clone()).await);
    assert_eq!(r.key_id, arn);
    assert_eq!(describe(&mut us, &key).await.current_key_material_id, second);
    eventually(WAIT, "eu-west-1 to rotate to the new material", || {
        let (mut eu, key, second) = (eu.clone(), key.clone(), second.clone());
        async move { (describe(&mut eu, &key).await.current_key_material_id == second).then_some(()) }
    })
    .await;
    for c in [&mut us, &mut eu] {
        assert_eq!(decrypt(c, &old).await.plaintext, b"under a");
        let fresh = encrypt(c, &key, b"under b").await.ciphertext_blob;
        assert_eq!(decrypt(c, &fresh).await.key_material_id, second);
        assert_ne!(second, first);
    }
}

/// The Multi-Region keys in `region`'s replicated state.
fn multi_region_key_ids(cluster: &TestCluster, region: &str) -> Vec<String> {
    cluster
        .repl(region)
        .mrks()
        .into_iter()
        .map(|k| k.key.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retried_write_with_its_idempotency_token_takes_effect_once() {
    use tern_client::idempotent;
    let cluster = TestCluster::start(&[US, EU, AP]).await;
    let leader = cluster.wait_leader().await;
    let key = mrk_everywhere(&cluster, US, &[EU, AP]).await;
    let mut us = cluster.node(US).admin().await;

    // RotateKeyOnDemand twice under one token: one rotation, two successes
    // (the second would meet the first's rotation in progress).
    let rotate = pb::RotateKeyOnDemandRequest { key_id: key.clone() };
    for _ in 0..2 {
        let r = ok(us.rotate_key_on_demand(idempotent(rotate.clone(), "rotate-1")).await);
        assert_eq!(
            r.key_id,
            format!("arn:aws:kms:{US}:{ADMIN_ACCOUNT}:key/{key}"),
            "the key ARN, as AWS answers"
        );
    }
    let rotations = eventually(WAIT, "the rotation to complete", || {
        let (mut us, key) = (us.clone(), key.clone());
        async move {
            let r = ok(us
                .list_key_rotations(pb::ListKeyRotationsRequest {
                    key_id: key,
                    ..Default::default()
                })
                .await)
            .rotations;
            (!r.is_empty()).then_some(r)
        }
    })
    .await;
    assert_eq!(rotations.len(), 1, "{rotations:?}");

    // The same token for another operation, or from another principal, is
    // another request.
    let before = multi_region_key_ids(&cluster, &leader).len();
    let a = create_key_with_request(&mut us, idempotent(mrk_request(), "rotate-1")).await;
    let b = create_key_with_request(&mut us, idempotent(mrk_request(), "rotate-1")).await;
    assert_eq!(a, b, "a retried CreateKey names the key the first attempt made");
    // Another principal (carol, another account) with the same token makes
    // her own key.
    let mut carol = cluster.node(US).carol().await;
    let c = create_key_with_request(&mut carol, idempotent(mrk_request(), "rotate-1")).await;
    assert_ne!(c, a);
    let listed = multi_region_key_ids(&cluster, &leader);
    assert_eq!(listed.len(), before + 2, "{listed:?}");

    // A write whose answer is lost: the follower's forward reaches the
    // leader, which commits it, but nothing comes back. The client learns
    // only that it may or may not have been made, and retries.
    let follower = [US, EU, AP].into_iter().find(|r| *r != leader).unwrap();
    cluster.plan.set(
        &leader,
        follower,
        tern_replication::fault::LinkFault {
            cut: true,
            ..Default::default()
        },
    );
    let before = multi_region_key_ids(&cluster, &leader).len();
    let mut f = cluster.node(follower).admin().await;
    let (kind, message) = err(f.create_key(idempotent(mrk_request(), "lost-answer")).await);
    assert_eq!(kind, "DependencyTimeoutException", "{message}");
    assert!(
        message.contains("retrying it with the same idempotency token is safe"),
        "{message}"
    );
    eventually(WAIT, "the leader region to hold the first attempt's key", || async {
        (multi_region_key_ids(&cluster, &leader).len() == before + 1).then_some(())
    })
    .await;
    cluster.plan.heal();
    let retried = eventually(WAIT, "the retry to succeed", || {
        let mut f = f.clone();
        async move {
            f.create_key(idempotent(mrk_request(), "lost-answer"))
                .await
                .ok()
                .map(|r| r.into_inner().key_metadata.unwrap().key_id)
        }
    })
    .await;
    let listed = multi_region_key_ids(&cluster, &leader);
    assert_eq!(listed.len(), before + 1, "the retry made a second key: {listed:?}");
    assert!(listed.contains(&retried));

    // Without a token the answer says what to check instead.
    cluster.plan.isolate(follower, &[US, EU, AP]);
    let (_, message) = err(f.create_key(mrk_request()).await);
    assert!(!message.contains("retrying it is safe"), "{message}");
    cluster.plan.heal();

    // A malformed token is refused before anything is proposed.
    assert_kind(
        us.rotate_key_on_demand(idempotent(rotate.clone(), "not a token!"))
            .await,
        "ValidationException",
    );
}

async fn create_key_with_request(c: &mut tern_client::KmsClient, req: tonic::Request<pb::CreateKeyRequest>) -> String {
    ok(c.create_key(req).await).key_metadata.unwrap().key_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_restored_from_an_older_copy_does_not_vote_until_it_has_caught_up() {
    let mut cluster = TestCluster::start(&[US, EU, AP]).await;
    mrk_everywhere(&cluster, US, &[EU, AP]).await;
    let old_leader = cluster.wait_leader().await;
    let mut others = [US, EU, AP].into_iter().filter(|r| *r != old_leader);
    let (restored, third) = (others.next().unwrap(), others.next().unwrap());
    for r in [US, EU, AP] {
        eventually(WAIT, "every region to vote again after its start", || async {
            cluster.repl(r).may_vote().then_some(())
        })
        .await;
    }

    // An old copy of one follower's directory.
    cluster.stop_region(restored).await;
    let copy = cluster.copy_data(restored);
    cluster.start_region(restored).await;
    eventually(WAIT, "the follower to vote again after its restart", || async {
        cluster.repl(restored).may_vote().then_some(())
    })
    .await;

    // An election in which that follower votes: the old leader goes away.
    cluster.stop_region(&old_leader).await;
    cluster.wait_leader_among(&[restored, third]).await;
    let granted = cluster.repl(restored).raft().metrics().borrow().vote;

    // The follower comes back on the old copy, with only the old leader
    // (which knows nothing of that election) to talk to.
    cluster.stop_region(restored).await;
    cluster.stop_region(third).await;
    cluster.restore_data(restored, &copy);
    cluster.start_region(&old_leader).await;
    cluster.start_region(restored).await;
    let before = cluster.repl(restored).raft().metrics().borrow().vote;
    assert!(
        before.leader_id() < granted.leader_id(),
        "the copy is older: {before} < {granted}"
    );
    eventually(WAIT, "the old leader to answer the restored node", || async {
        let g = cluster.repl(restored).vote_guard();
        g.answered.contains(&old_leader).then_some(())
    })
    .await;
    // One answer is not enough to know what it voted for: it must not vote.
    let g = cluster.repl(restored).vote_guard();
    assert!(!g.open && g.catching_up_to.is_none(), "{g:?}");
    assert_eq!(
        cluster.repl(restored).vote_min_log(),
        tern_replication::vote_guard::NO_VOTES
    );
    assert_eq!(g.needed, 2);

    // Once the region that saw its vote answers, it catches up first: its
    // vote is never again below the one it granted.
    cluster.start_region(third).await;
    eventually(WAIT, "the restored node to vote again", || async {
        cluster.repl(restored).may_vote().then_some(())
    })
    .await;
    let after = cluster.repl(restored).raft().metrics().borrow().vote;
    assert!(after.leader_id() >= granted.leader_id(), "{after} < {granted}");
    cluster.wait_leader().await;
    let mut c = cluster.node(restored).admin().await;
    create_key_with(&mut c, mrk_request()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_scheduled_for_deletion_that_becomes_the_primary_waits_for_its_replicas() {
    let cluster = TestCluster::start(&[US, EU, AP]).await;
    let key = mrk_everywhere(&cluster, US, &[EU, AP]).await;
    // eu-west-1 is cut off: the others make it the primary in the log
    // (UpdatePrimaryRegion is accepted in any holder region) while it,
    // not knowing, schedules its copy's deletion as a replica's.
    cluster.plan.isolate(EU, &[US, AP]);
    cluster.wait_leader_among(&[US, AP]).await;
    let mut ap = cluster.node(AP).admin().await;
    ok(ap
        .update_primary_region(pb::UpdatePrimaryRegionRequest {
            key_id: key.clone(),
            primary_region: EU.to_string(),
        })
        .await);
    let mut eu = cluster.node(EU).admin().await;
    assert_eq!(schedule_deletion(&mut eu, &key).await.key_state, "PendingDeletion");
    cluster.plan.heal();
    eventually(WAIT, "eu-west-1 to apply that it is the primary", || async {
        cluster
            .repl(EU)
            .mrk(&key.parse().unwrap())
            .is_some_and(|k| k.primary.as_str() == EU)
            .then_some(())
    })
    .await;
    // Its waiting period ends: as a primary with replicas it waits for them.
    cluster.node(EU).advance_days(8);
    cluster.node(EU).run_due_tasks().await;
    assert_eq!(describe(&mut eu, &key).await.key_state, "PendingReplicaDeletion");
}

/// What a compromised region (here ap-northeast-2, with its real peer
/// certificate and signing key) can try, for each forged kind of command:
/// 1. in its own name through the peer port: the leader appends it, and
///    every region refuses it on apply (AccessDeniedException, audited);
/// 2. in us-east-1's name through the peer port: refused there
///    (PermissionDenied: its certificate names another region);
/// 3. in its own name, appended directly by the leader's Raft (as a
///    compromised leader would): refused on apply everywhere.
///
/// Both keys stay as they were in every region, and the key still rotates
/// through its primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_compromised_region_cannot_forge_commands_for_another() {
    use tern_replication::command::{Command, Op};
    let cluster = TestCluster::start(&[US, EU, AP]).await;
    let key = mrk_everywhere(&cluster, US, &[EU, AP]).await;
    // A key Seoul does not hold.
    let mut us = cluster.node(US).admin().await;
    let other = create_key_with(&mut us, mrk_request()).await.key_id;
    replicate(&mut us, &other, EU).await;
    wait_state(&cluster, EU, &other, "Enabled").await;
    cluster.wait_converged().await;
    let (kid, oid): (tern_core::ids::KeyId, tern_core::ids::KeyId) = (key.parse().unwrap(), other.parse().unwrap());
    let before: Vec<_> = [US, EU, AP]
        .iter()
        .map(|r| (cluster.repl(r).mrk(&kid), cluster.repl(r).mrk(&oid)))
        .collect();
    let current = before[0].0.as_ref().unwrap().current().unwrap().clone();
    let pending = tern_replication::command::SealedMaterial {
        id: tern_core::ids::KeyMaterialId::from_bytes([42; 32]),
        created: tern_core::time::UnixMillis(0),
        rotation_type: None,
        sealed: current.sealed.clone(),
    };
    let region = |r: &str| tern_core::ids::Region::parse(r).unwrap();
    let forged_ops: Vec<(&str, Op)> = vec![
        (
            "AddMaterial for a key whose primary is us-east-1",
            Op::AddMaterial {
                key: kid,
                expected_primary: region(US),
                expected_current: current.id,
                material: pending,
                on_demand: true,
                next_rotation: None,
            },
        ),
        (
            "an acknowledgement for eu-west-1",
            Op::ReplicaReady {
                key: oid,
                region: region(EU),
            },
        ),
        (
            "UpdatePrimary of a key it does not hold",
            Op::UpdatePrimary {
                key: oid,
                expected_primary: region(US),
                new_primary: region(AP),
            },
        ),
        (
            "SetRotation of a key whose primary is us-east-1",
            Op::SetRotation {
                key: kid,
                expected_primary: region(US),
                enabled: true,
                period_days: Some(90),
                next_rotation: None,
            },
        ),
    ];
    let seoul = tern_core::sign::CommandSigningKey::derive(cluster.sealing_key(AP)).unwrap();
    let leader = cluster.wait_leader().await;
    let leader_addr = cluster.slots.iter().find(|s| s.region == leader).unwrap().peer_addr;
    let channel = tonic::transport::Endpoint::from_shared(format!("https://{leader_addr}"))
        .unwrap()
        .tls_config(cluster.peer_tls(AP).client_config(&leader))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut peer = tern_proto::raft_pb::raft_peer_client::RaftPeerClient::new(channel);
    let command = |op: Op, author: &str| {
        let mut c = Command {
            request_id: uuid::Uuid::new_v4().to_string(),
            proposed_at: tern_core::time::UnixMillis(START.0),
            op,
            service_made: false,
            author: None,
            signature: None,
        };
        c.sign(&region(author), &seoul).unwrap();
        c
    };
    let mut refusals_each = 0;
    for (what, op) in forged_ops {
        // 1. In its own name, through the peer port.
        let cmd = command(op.clone(), AP);
        let reply = peer
            .forward(tern_proto::raft_pb::RaftPayload {
                data: serde_json::to_vec(&cmd).unwrap(),
            })
            .await
            .unwrap_or_else(|s| panic!("{what}: forward refused at the port: {s:?}"));
        let reply: serde_json::Value = serde_json::from_slice(&reply.into_inner().data).unwrap();
        let exception = &reply["Done"]["outcome"]["Rejected"]["exception"];
        assert_eq!(exception, "AccessDeniedException", "{what}: {reply}");
        refusals_each += 1;
        // 2. In us-east-1's name, through the peer port.
        let cmd = command(op.clone(), US);
        let s = peer
            .forward(tern_proto::raft_pb::RaftPayload {
                data: serde_json::to_vec(&cmd).unwrap(),
            })
            .await
            .unwrap_err();
        assert_eq!(s.code(), tonic::Code::PermissionDenied, "{what}: {s:?}");
        // 3. Appended directly by the leader's Raft.
        let cmd = command(op, AP);
        let r = cluster.repl(&leader).raft().client_write(cmd).await.unwrap();
        assert!(
            matches!(&r.data, tern_replication::command::Outcome::Rejected(x) if x.exception == tern_core::error::ErrorKind::AccessDeniedException),
            "{what}: {:?}",
            r.data
        );
        refusals_each += 1;
    }
    cluster.wait_converged().await;
    for (i, r) in [US, EU, AP].iter().enumerate() {
        assert_eq!(
            (cluster.repl(r).mrk(&kid), cluster.repl(r).mrk(&oid)),
            before[i],
            "a forged command changed a key in {r}"
        );
        let n = cluster
            .node(r)
            .audit_records()
            .iter()
            .filter(|e| e["eventName"] == "RefuseReplicatedCommand")
            .count();
        assert_eq!(n, refusals_each, "{r} audits every refusal");
    }
    // The primary still rotates the key, and every region follows.
    ok(us
        .rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key.clone() })
        .await);
    let ct = encrypt(&mut us, &key, b"still ours").await;
    let mut ap = cluster.node(AP).admin().await;
    assert_eq!(decrypt(&mut ap, &ct.ciphertext_blob).await.plaintext, b"still ours");
}

/// AWS fidelity: a call in the other Region right after a Multi-Region
/// write returns sees it, even when that Region applies late (the fault
/// plan delays its apply, so the race is forced): ReplicateKey's replica is
/// found in the replica Region, UpdatePrimaryRegion's new primary is seen in
/// both Regions, a deleted replica is gone from the primary's list. With the
/// replica Region cut off, ReplicateKey still answers (Creating) within a
/// bound. The primary is the leader's Region; the slow and the cut-off
/// Regions are the two others (a leader applying late would only slow every
/// write down).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_in_the_other_region_right_after_a_write_sees_it() {
    let cluster = TestCluster::start(&[US, EU, AP]).await;
    let primary = cluster.wait_leader().await;
    let others: Vec<&str> = [US, EU, AP].into_iter().filter(|r| *r != primary).collect();
    let (slow, far) = (others[0], others[1]);
    let mut p = cluster.node(&primary).admin().await;
    let mut s = cluster.node(slow).admin().await;
    let key = create_key_with(&mut p, mrk_request()).await.key_id;
    let late = Duration::from_millis(300);

    // The slow Region applies every entry 300 ms late.
    cluster.plan.delay_apply(slow, late);
    let r = replicate(&mut p, &key, slow).await;
    assert_eq!(r.replica_key_metadata.unwrap().key_state, "Creating");
    let state = describe(&mut s, &key).await.key_state;
    assert!(["Creating", "Enabled"].contains(&state.as_str()), "{state}");
    cluster.plan.delay_apply(slow, Duration::ZERO);
    wait_state(&cluster, slow, &key, "Enabled").await;

    // UpdatePrimaryRegion to the slow Region, asked in the primary's: both
    // show the new primary at once.
    cluster.plan.delay_apply(slow, late);
    ok(p.update_primary_region(pb::UpdatePrimaryRegionRequest {
        key_id: key.clone(),
        primary_region: slow.into(),
    })
    .await);
    for c in [&mut p, &mut s] {
        let cfg = describe(c, &key).await.multi_region_configuration.unwrap();
        assert_eq!(cfg.primary_key.unwrap().region, slow);
    }

    // The old primary's copy (a replica now) deleted while the new primary
    // applies late: the primary's list no longer has it once the deletion
    // has run.
    schedule_deletion(&mut p, &key).await;
    cluster.clock.advance_days(8);
    assert_eq!(cluster.node(&primary).run_due_tasks().await.deleted, 1);
    let cfg = describe(&mut s, &key).await.multi_region_configuration.unwrap();
    assert!(cfg.replica_keys.is_empty(), "{cfg:?}");
    cluster.plan.delay_apply(slow, Duration::ZERO);

    // The third Region cut off: ReplicateKey into it answers within a
    // bound, Creating; the replica appears once the cut heals.
    cluster.plan.isolate(far, &[US, EU, AP]);
    let started = Instant::now();
    let r = replicate(&mut s, &key, far).await;
    assert_eq!(r.replica_key_metadata.unwrap().key_state, "Creating");
    let bound = cluster.repl(slow).timing().election_max * 2 + Duration::from_secs(2);
    assert!(started.elapsed() < bound, "{:?} (bound {bound:?})", started.elapsed());
    cluster.plan.heal();
    wait_state(&cluster, far, &key, "Enabled").await;
}
