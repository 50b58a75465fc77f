//! Seeded randomized test of Multi-Region keys: random MRK operations in
//! random regions under random partitions, message loss, delays and
//! restarts. After healing it checks that
//!
//! - every ciphertext whose Encrypt was acknowledged decrypts to its
//!   plaintext in every region holding the key;
//! - no decrypt ever returned a wrong plaintext;
//! - every region converges to the same replicated state (digest) at the
//!   same applied log id;
//!
//! - no Multi-Region key is left with a rotation pending for ever;
//!
//! and it counts the interleavings it reached, failing if one stays at zero
//! across the run: a partition between AddMaterial and activation, a
//! snapshot install while a ReplicateKey into that region was pending,
//! UpdatePrimaryRegion with the old primary cut off, a retried
//! timed-out write applied as a duplicate, a replica deleted, a primary
//! scheduled for deletion, a deleted replica replicated again, a region
//! removed (with a rotation pending on it) and added back, a client
//! retry under the same idempotency token that succeeded, and a region
//! restarted after its node died at a storage crash point (before a Raft
//! log batch; between a snapshot file's sync and its rename).
//!
//! `TERN_SEEDS=N` runs N seeds (default 12; CI runs 50; the reached-interleaving
//! check needs at least 24); `TERN_SEED=S` runs
//! exactly one; `TERN_RANDOM_BUDGET_SECS` (default 1200) bounds the run.
//! Each seed prints the command that reproduces it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::cluster::{eventually, within, TestCluster};
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tern_proto::pb;
use tern_replication::fault::{CrashPoint, LinkFault};

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-northeast-2"];
const OPS_PER_SEED: usize = 40;

#[derive(Default, Debug)]
struct Interleavings {
    partition_between_add_and_activation: u64,
    snapshot_install_with_pending_replica: u64,
    update_primary_with_old_primary_cut_off: u64,
    retried_timed_out_write: u64,
    replica_deleted: u64,
    primary_scheduled_for_deletion: u64,
    replicated_again_after_deletion: u64,
    region_removed_with_pending_rotation: u64,
    region_added_back: u64,
    client_retry_with_token_succeeded: u64,
    restarted_after_crash_at_log_write: u64,
    restarted_after_crash_at_snapshot_rename: u64,
}

/// Calls `call` (with an idempotency token when `token` is set), retrying
/// a DependencyTimeoutException twice under the same token as tern's
/// client does; the faults heal before the last retry (so some retries
/// reach a cluster that applied the first attempt). Counts a success after
/// a retry.
async fn call_retrying<T, F, Fut>(
    token: Option<String>,
    heal: (&TestCluster, &mut Option<String>),
    retried_ok: &mut u64,
    mut call: F,
) -> Result<T, tonic::Status>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let mut attempt = 1;
    loop {
        match call(token.clone()).await {
            Err(s)
                if token.is_some()
                    && attempt < 3
                    && tern_client::error_kind(&s) == Some("DependencyTimeoutException") =>
            {
                attempt += 1;
                if attempt == 3 {
                    // The client backs off until the faults are gone and
                    // every running region knows a leader again (bounded).
                    heal.0.plan.heal();
                    *heal.1 = None;
                    let cluster = heal.0;
                    within(Duration::from_secs(10), || async {
                        cluster
                            .running()
                            .all(|n| n.node.replication().unwrap().metrics().leader_region.is_some())
                            .then_some(())
                    })
                    .await;
                }
            }
            Ok(r) => {
                if attempt > 1 {
                    *retried_ok += 1;
                }
                return Ok(r.into_inner());
            }
            Err(s) => return Err(s),
        }
    }
}

/// `message` as a request, with `token` in the idempotency header if set.
fn request<T>(message: T, token: &Option<String>) -> tonic::Request<T> {
    match token {
        Some(t) => tern_client::idempotent(message, t),
        None => tonic::Request::new(message),
    }
}

struct Acked {
    key: String,
    plaintext: Vec<u8>,
    ciphertext: Vec<u8>,
}

/// What the test believes about each key (from acknowledged calls only).
#[derive(Default)]
struct Model {
    /// key -> regions known to hold it (primary first, as last acked).
    keys: BTreeMap<String, Vec<String>>,
    acked: Vec<Acked>,
    stopped: BTreeSet<String>,
    isolated: Option<String>,
    /// Regions that were sent a replica while stopped or cut off.
    replica_pending_while_away: BTreeSet<String>,
    wrong_plaintexts: u64,
    /// Replicas scheduled for deletion, not yet seen gone.
    scheduled: BTreeSet<(String, String)>,
    /// Replicas seen deleted.
    deleted_replicas: BTreeSet<(String, String)>,
    /// Keys whose primary was scheduled for deletion (the key goes away).
    doomed: BTreeSet<String>,
}

fn pick<'a, T>(rng: &mut StdRng, v: &'a [T]) -> &'a T {
    &v[rng.gen_range(0..v.len())]
}

fn reachable(m: &Model, r: &str) -> bool {
    !m.stopped.contains(r) && m.isolated.as_deref() != Some(r)
}

async fn run_seed(seed: u64, counts: &mut Interleavings) {
    println!("seed {seed}: reproduce with TERN_SEED={seed} cargo test -p tern-server --test mrk_random -- --nocapture");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cluster = TestCluster::start_with(&REGIONS, 6).await;
    let mut m = Model::default();
    let mut installs: BTreeMap<String, u64> = REGIONS.iter().map(|r| (r.to_string(), 0)).collect();
    let started = Instant::now();

    for step in 0..OPS_PER_SEED {
        let running: Vec<String> = REGIONS
            .iter()
            .filter(|r| !m.stopped.contains(**r))
            .map(|r| r.to_string())
            .collect();
        let region = pick(&mut rng, &running).clone();
        let mut c = cluster.node(&region).admin().await;
        let keys: Vec<String> = m.keys.keys().cloned().collect();
        let mut choice = rng.gen_range(0..112);
        if keys.is_empty() && (7..=84).contains(&choice) {
            // An operation on a key, with none yet: make one.
            choice = 0;
        }
        let token = rng.gen_bool(0.5).then(tern_client::idempotency_token);
        if std::env::var("TERN_TRACE").is_ok() {
            eprintln!(
                "seed {seed} step {step}: op {choice} in {region} (stopped {:?}, isolated {:?})",
                m.stopped, m.isolated
            );
        }
        match choice {
            0..=6 => {
                let req = pb::CreateKeyRequest {
                    multi_region: Some(true),
                    ..Default::default()
                };
                let r = call_retrying(
                    token,
                    (&cluster, &mut m.isolated),
                    &mut counts.client_retry_with_token_succeeded,
                    |t| {
                        let (mut c, req) = (c.clone(), req.clone());
                        async move { c.create_key(request(req, &t)).await }
                    },
                )
                .await;
                if let Ok(r) = r {
                    let id = r.key_metadata.unwrap().key_id;
                    m.keys.insert(id, vec![region.clone()]);
                }
            }
            7..=24 if !keys.is_empty() => {
                // Often a replica deleted earlier, into its region again.
                let again = deleted_replicas_of_live_keys(&m);
                let (key, target) = if !again.is_empty() && rng.gen_bool(0.6) {
                    pick(&mut rng, &again).clone()
                } else {
                    (pick(&mut rng, &keys).clone(), pick(&mut rng, &REGIONS).to_string())
                };
                let primary = m.keys[&key][0].clone();
                if m.stopped.contains(&primary) {
                    continue;
                }
                let p = cluster.node(&primary).admin().await;
                let req = pb::ReplicateKeyRequest {
                    key_id: key.clone(),
                    replica_region: target.clone(),
                    ..Default::default()
                };
                let r = call_retrying(
                    token,
                    (&cluster, &mut m.isolated),
                    &mut counts.client_retry_with_token_succeeded,
                    |t| {
                        let (mut p, req) = (p.clone(), req.clone());
                        async move { p.replicate_key(request(req, &t)).await }
                    },
                )
                .await;
                if r.is_ok() {
                    replicated(&mut m, counts, key, target);
                }
            }
            25..=34 if !keys.is_empty() => {
                // Often a key with a holder cut off (its primary reachable),
                // so rotations wait for an ack across a partition.
                let straddling: Vec<String> = keys
                    .iter()
                    .filter(|k| reachable(&m, &m.keys[*k][0]) && m.keys[*k].iter().any(|r| !reachable(&m, r)))
                    .cloned()
                    .collect();
                let key = if !straddling.is_empty() && rng.gen_bool(0.7) {
                    pick(&mut rng, &straddling).clone()
                } else {
                    pick(&mut rng, &keys).clone()
                };
                let primary = m.keys[&key][0].clone();
                if m.stopped.contains(&primary) {
                    continue;
                }
                let p = cluster.node(&primary).admin().await;
                let cut_replica = m.keys[&key].iter().any(|r| !reachable(&m, r));
                let req = pb::RotateKeyOnDemandRequest { key_id: key.clone() };
                let r = call_retrying(
                    token,
                    (&cluster, &mut m.isolated),
                    &mut counts.client_retry_with_token_succeeded,
                    |t| {
                        let (mut p, req) = (p.clone(), req.clone());
                        async move { p.rotate_key_on_demand(request(req, &t)).await }
                    },
                )
                .await;
                if std::env::var("TERN_TRACE").is_ok() {
                    eprintln!(
                        "  RotateKeyOnDemand {key} in {primary} (a holder cut: {cut_replica}): {:?}",
                        r.as_ref().err().map(|s| s.message().to_string())
                    );
                }
                let ok = r.is_ok();
                if ok && cut_replica {
                    counts.partition_between_add_and_activation += 1;
                }
            }
            35..=46 if !keys.is_empty() => {
                // Failover: sent to the target region; keys whose primary
                // region is cut off or down first.
                let orphaned: Vec<String> = keys
                    .iter()
                    .filter(|k| !reachable(&m, &m.keys[*k][0]) && m.keys[*k].len() > 1)
                    .cloned()
                    .collect();
                let key = if orphaned.is_empty() {
                    pick(&mut rng, &keys).clone()
                } else {
                    pick(&mut rng, &orphaned).clone()
                };
                let holders = m.keys[&key].clone();
                let candidates: Vec<String> = holders[1..].iter().filter(|r| reachable(&m, r)).cloned().collect();
                if candidates.is_empty() {
                    continue;
                }
                let target = pick(&mut rng, &candidates).clone();
                if m.stopped.contains(&target) {
                    continue;
                }
                let old = holders[0].clone();
                let mut t = cluster.node(&target).admin().await;
                let r = t
                    .update_primary_region(pb::UpdatePrimaryRegionRequest {
                        key_id: key.clone(),
                        primary_region: target.clone(),
                    })
                    .await;
                if std::env::var("TERN_TRACE").is_ok() {
                    eprintln!("  UpdatePrimaryRegion {key} {old} -> {target}: {:?}", r.as_ref().err());
                }
                let ok = r.is_ok();
                if ok {
                    if old != target && !reachable(&m, &old) {
                        counts.update_primary_with_old_primary_cut_off += 1;
                    }
                    let v = m.keys.get_mut(&key).unwrap();
                    v.retain(|r| *r != target);
                    v.insert(0, target);
                }
            }
            47..=69 if !keys.is_empty() => {
                let key = pick(&mut rng, &keys).clone();
                let plaintext = format!("seed {seed} step {step}").into_bytes();
                if let Ok(r) = c
                    .encrypt(pb::EncryptRequest {
                        key_id: key.clone(),
                        plaintext: plaintext.clone(),
                        ..Default::default()
                    })
                    .await
                {
                    m.acked.push(Acked {
                        key,
                        plaintext,
                        ciphertext: r.into_inner().ciphertext_blob,
                    });
                }
            }
            70..=84 if !m.acked.is_empty() => {
                let a = &m.acked[rng.gen_range(0..m.acked.len())];
                if let Ok(r) = c.decrypt(decrypt_req(&a.ciphertext)).await {
                    if r.into_inner().plaintext != a.plaintext {
                        m.wrong_plaintexts += 1;
                    }
                }
            }
            85..=89 => {
                if m.isolated.is_some() {
                    cluster.plan.heal();
                    m.isolated = None;
                } else {
                    // Often cut off some key's primary region.
                    let r = if !keys.is_empty() && rng.gen_bool(0.5) {
                        m.keys[pick(&mut rng, &keys)][0].clone()
                    } else {
                        pick(&mut rng, &REGIONS).to_string()
                    };
                    let others: Vec<&str> = REGIONS.iter().copied().filter(|o| *o != r).collect();
                    cluster.plan.isolate(&r, &others);
                    m.isolated = Some(r);
                }
            }
            90..=93 => {
                // Lossy links: replies get lost after the leader committed,
                // so proposers retry under the same request id.
                let a = pick(&mut rng, &REGIONS);
                for b in REGIONS.iter().filter(|b| *b != a) {
                    cluster.plan.set(
                        b,
                        a,
                        LinkFault {
                            drop: 0.5,
                            delay: Duration::from_millis(rng.gen_range(0..20)),
                            ..Default::default()
                        },
                    );
                }
            }
            94..=97 if m.stopped.is_empty() => {
                // A region's node dies at a storage crash point: before a
                // Raft log batch, or between a snapshot file's sync and its
                // rename. Multi-Region writes in the other regions run
                // until it fires; the region then starts again on what its
                // directory holds.
                cluster.plan.heal();
                m.isolated = None;
                let victim = pick(&mut rng, &REGIONS).to_string();
                let point = if rng.gen_bool(0.5) {
                    CrashPoint::LogWrite {
                        skip: rng.gen_range(0..4),
                    }
                } else {
                    CrashPoint::SnapshotRename
                };
                cluster.plan.arm_crash(&victim, point);
                let writers: Vec<&str> = REGIONS.iter().copied().filter(|r| *r != victim).collect();
                let deadline = Instant::now() + Duration::from_secs(3);
                for _ in 0..12 {
                    if cluster.plan.crashed(&victim) || Instant::now() > deadline {
                        break;
                    }
                    let w = pick(&mut rng, &writers).to_string();
                    let mut c = cluster.node(&w).admin().await;
                    let created = c
                        .create_key(pb::CreateKeyRequest {
                            multi_region: Some(true),
                            ..Default::default()
                        })
                        .await;
                    if let Ok(r) = created {
                        let id = r.into_inner().key_metadata.unwrap().key_id;
                        m.keys.insert(id.clone(), vec![w.clone()]);
                        // Often into the dying region, so it has work to apply.
                        if rng.gen_bool(0.5)
                            && c.replicate_key(pb::ReplicateKeyRequest {
                                key_id: id.clone(),
                                replica_region: victim.clone(),
                                ..Default::default()
                            })
                            .await
                            .is_ok()
                        {
                            replicated(&mut m, counts, id, victim.clone());
                        }
                    }
                }
                let fired = cluster.plan.crashed(&victim);
                if std::env::var("TERN_TRACE").is_ok() {
                    eprintln!("  crash point {point:?} in {victim}: fired {fired}");
                }
                if fired {
                    cluster.restart_crashed(&victim).await;
                    match point {
                        CrashPoint::LogWrite { .. } => counts.restarted_after_crash_at_log_write += 1,
                        CrashPoint::SnapshotRename => counts.restarted_after_crash_at_snapshot_rename += 1,
                    }
                } else {
                    cluster.plan.revive(&victim);
                }
            }
            98..=103 if !keys.is_empty() => {
                // ScheduleKeyDeletion: mostly of a replica, in its region;
                // sometimes of the primary (the key then goes away once its
                // replicas have).
                let key = pick(&mut rng, &keys).clone();
                let holders = m.keys[&key].clone();
                // (The primary rarely: it takes the key and its history away.)
                let replica = holders.len() > 1 && rng.gen_bool(0.9);
                if !replica && keys.len() < 3 {
                    continue;
                }
                let r = if replica {
                    pick(&mut rng, &holders[1..]).clone()
                } else {
                    holders[0].clone()
                };
                if m.stopped.contains(&r) {
                    continue;
                }
                let mut c = cluster.node(&r).admin().await;
                let done = c
                    .schedule_key_deletion(pb::ScheduleKeyDeletionRequest {
                        key_id: key.clone(),
                        pending_window_in_days: Some(7),
                    })
                    .await;
                if done.is_ok() {
                    // The model's primary may be stale (an UpdatePrimaryRegion
                    // whose answer was lost): the region's own record says.
                    let primary_here = cluster
                        .repl(&r)
                        .mrk(&key.parse().unwrap())
                        .is_some_and(|k| k.primary.as_str() == r);
                    if replica && !primary_here {
                        m.scheduled.insert((key, r.clone()));
                        if rng.gen_bool(0.5) {
                            // Its waiting period ends at once.
                            cluster.clock.advance_days(8);
                            let _ = cluster.node(&r).kms().run_due_tasks().await;
                            see_deletions(&cluster, &mut m, counts);
                        }
                    } else {
                        counts.primary_scheduled_for_deletion += 1;
                        m.doomed.insert(key);
                    }
                }
            }
            104..=105 => {
                // A week passes: due deletions run where they can.
                cluster.clock.advance_days(8);
                for r in REGIONS {
                    if !m.stopped.contains(r) {
                        let _ = cluster.node(r).kms().run_due_tasks().await;
                    }
                }
                see_deletions(&cluster, &mut m, counts);
                // Often a replica just deleted is replicated again at once.
                let again: Vec<(String, String)> = deleted_replicas_of_live_keys(&m)
                    .into_iter()
                    .filter(|(k, _)| !m.stopped.contains(&m.keys[k][0]))
                    .collect();
                if !again.is_empty() {
                    let (key, target) = pick(&mut rng, &again).clone();
                    let mut p = cluster.node(&m.keys[&key][0]).admin().await;
                    let r = p
                        .replicate_key(pb::ReplicateKeyRequest {
                            key_id: key.clone(),
                            replica_region: target.clone(),
                            ..Default::default()
                        })
                        .await;
                    if r.is_ok() {
                        replicated(&mut m, counts, key, target);
                    }
                }
            }
            106..=109 if m.stopped.is_empty() => {
                // A region leaves and comes back as a new node, with a
                // rotation pending on it when one can be started.
                cluster.plan.heal();
                m.isolated = None;
                // An operator replaces a region while the rest is healthy:
                // every region's restart vote guard has opened.
                eventually(Duration::from_secs(20), "every region to vote", || async {
                    REGIONS.iter().all(|r| cluster.repl(r).may_vote()).then_some(())
                })
                .await;
                let any = REGIONS.iter().find(|r| !m.stopped.contains(**r)).unwrap();
                let primaries: BTreeSet<String> = cluster
                    .repl(any)
                    .mrks()
                    .into_iter()
                    .map(|k| k.primary.to_string())
                    .collect();
                let free: Vec<&str> = REGIONS.iter().copied().filter(|r| !primaries.contains(*r)).collect();
                if free.is_empty() {
                    continue;
                }
                // Mostly a region holding a replica, so a rotation can be
                // pending on it.
                let holding: Vec<&str> = free
                    .iter()
                    .copied()
                    .filter(|r| keys.iter().any(|k| m.keys[k][1..].iter().any(|h| h == r)))
                    .collect();
                let leaving = if !holding.is_empty() && rng.gen_bool(0.8) {
                    pick(&mut rng, &holding).to_string()
                } else {
                    pick(&mut rng, &free).to_string()
                };
                let others: Vec<&str> = REGIONS.iter().copied().filter(|r| *r != leaving).collect();
                let held: Vec<String> = keys
                    .iter()
                    .filter(|k| m.keys[*k][1..].contains(&leaving) && !m.doomed.contains(*k))
                    .cloned()
                    .collect();
                let mut pending = false;
                if !held.is_empty() {
                    cluster.plan.isolate(&leaving, &others);
                    let key = pick(&mut rng, &held).clone();
                    let primary = m.keys[&key][0].clone();
                    let mut p = cluster.node(&primary).admin().await;
                    pending = p
                        .rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key })
                        .await
                        .is_ok();
                }
                let replaced = cluster.replace_region(&leaving).await;
                cluster.plan.heal();
                if replaced.is_ok() {
                    counts.region_added_back += 1;
                    if pending {
                        counts.region_removed_with_pending_rotation += 1;
                    }
                    for holders in m.keys.values_mut() {
                        holders.retain(|r| *r != leaving);
                    }
                    m.scheduled.retain(|(_, r)| *r != leaving);
                    m.deleted_replicas.retain(|(_, r)| *r != leaving);
                    m.replica_pending_while_away.remove(&leaving);
                }
                if std::env::var("TERN_TRACE").is_ok() {
                    eprintln!("  {leaving} removed and added back (rotation pending: {pending}): {replaced:?}");
                }
            }
            _ => {
                // Restart or stop/start a region (never two down at once).
                let r = pick(&mut rng, &REGIONS).to_string();
                if m.stopped.contains(&r) {
                    cluster.start_region(&r).await;
                    m.stopped.remove(&r);
                } else if m.stopped.is_empty() {
                    cluster.stop_region(&r).await;
                    m.stopped.insert(r);
                }
            }
        }
        for r in REGIONS {
            if m.stopped.contains(r) {
                continue;
            }
            let n = cluster.repl(r).metrics().snapshots_installed;
            if n > installs[r] && m.replica_pending_while_away.remove(r) {
                counts.snapshot_install_with_pending_replica += 1;
            }
            installs.insert(r.to_string(), n);
        }
    }

    // Heal everything and bring every region back.
    cluster.plan.heal();
    for r in m.stopped.clone() {
        cluster.start_region(&r).await;
    }
    cluster.wait_leader().await;
    cluster.wait_converged().await;
    // Let every scheduled deletion complete (a replica's first, then a
    // primary's whose replicas are gone).
    for _ in 0..3 {
        cluster.clock.advance_days(31);
        for r in REGIONS {
            let _ = cluster.node(r).kms().run_due_tasks().await;
        }
        cluster.wait_converged().await;
    }
    see_deletions(&cluster, &mut m, counts);
    cluster.wait_converged().await;
    for r in REGIONS {
        let metrics = cluster.repl(r).metrics();
        counts.retried_timed_out_write += metrics.duplicates_applied.min(1);
        if metrics.snapshots_installed > installs[r] && m.replica_pending_while_away.contains(r) {
            counts.snapshot_install_with_pending_replica += 1;
        }
    }

    // Which regions hold each key, from the converged replicated state.
    let holders: BTreeMap<String, Vec<String>> = cluster
        .repl(REGIONS[0])
        .mrks()
        .into_iter()
        .map(|k| (k.key.to_string(), k.regions().map(|r| r.to_string()).collect()))
        .collect();
    // Acknowledgements may still be on their way when the digests agree.
    eventually(
        Duration::from_secs(20),
        &format!("seed {seed}: every pending rotation to activate after the cluster healed"),
        || async {
            let pending: Vec<String> = cluster
                .repl(REGIONS[0])
                .mrks()
                .into_iter()
                .filter(|k| k.pending.is_some())
                .map(|k| k.key.to_string())
                .collect();
            pending.is_empty().then_some(())
        },
    )
    .await;
    let digest = cluster.wait_converged().await;
    // A deletion scheduled in a region that became the key's primary after
    // the deletion was scheduled makes the primary wait for its replicas
    // (PendingReplicaDeletion): the key is going away.
    for k in cluster.repl(REGIONS[0]).mrks() {
        let mut c = cluster.node(k.primary.as_str()).admin().await;
        if describe(&mut c, &k.key.to_string()).await.key_state == "PendingReplicaDeletion" {
            m.doomed.insert(k.key.to_string());
        }
    }
    for a in m.acked.iter().filter(|a| !m.doomed.contains(&a.key)) {
        let regions = holders
            .get(&a.key)
            .expect("an acknowledged key is in the replicated state");
        for r in regions {
            let mut c = cluster.node(r).admin().await;
            let key = a.key.clone();
            let enabled = within(Duration::from_secs(20), || {
                let (mut c, key) = (c.clone(), key.clone());
                async move { (describe(&mut c, &key).await.key_state == "Enabled").then_some(()) }
            })
            .await;
            if enabled.is_none() {
                panic!(
                    "seed {seed}: {key} is {} in {r} 20 s after the cluster healed; replicated record: {:?}",
                    describe(&mut c, &key).await.key_state,
                    cluster.repl(r).mrk(&key.parse().unwrap())
                );
            }
            let d = c.decrypt(decrypt_req(&a.ciphertext)).await;
            let d = d.unwrap_or_else(|e| panic!("seed {seed}: acked ciphertext of {} fails in {r}: {e:?}", a.key));
            assert_eq!(
                d.into_inner().plaintext,
                a.plaintext,
                "seed {seed}: wrong plaintext in {r}"
            );
        }
    }
    assert_eq!(
        m.wrong_plaintexts, 0,
        "seed {seed}: a decrypt returned the wrong plaintext"
    );
    println!(
        "seed {seed}: {} keys, {} acked ciphertexts, converged at {}, {:.1}s",
        holders.len(),
        m.acked.len(),
        &digest[..12],
        started.elapsed().as_secs_f64()
    );
    for r in REGIONS {
        cluster.stop_region(r).await;
    }
}

/// Replicas seen deleted whose key lives on: candidates to replicate again.
fn deleted_replicas_of_live_keys(m: &Model) -> Vec<(String, String)> {
    m.deleted_replicas
        .iter()
        .filter(|(k, _)| m.keys.contains_key(k) && !m.doomed.contains(k))
        .cloned()
        .collect()
}

/// Records an acknowledged ReplicateKey of `key` into `target`.
fn replicated(m: &mut Model, counts: &mut Interleavings, key: String, target: String) {
    if m.deleted_replicas.remove(&(key.clone(), target.clone())) {
        counts.replicated_again_after_deletion += 1;
    }
    if !reachable(m, &target) {
        m.replica_pending_while_away.insert(target.clone());
    }
    m.keys.get_mut(&key).unwrap().push(target);
}

/// Moves replicas the replicated state no longer lists from "scheduled"
/// to "deleted".
fn see_deletions(cluster: &TestCluster, m: &mut Model, counts: &mut Interleavings) {
    let Some(any) = REGIONS.iter().find(|r| !m.stopped.contains(**r)) else {
        return;
    };
    let state: BTreeMap<String, Vec<String>> = cluster
        .repl(any)
        .mrks()
        .into_iter()
        .map(|k| (k.key.to_string(), k.regions().map(|r| r.to_string()).collect()))
        .collect();
    for (key, region) in m.scheduled.clone() {
        if !state.get(&key).is_some_and(|rs| rs.contains(&region)) {
            m.scheduled.remove(&(key.clone(), region.clone()));
            counts.replica_deleted += 1;
            if let Some(h) = m.keys.get_mut(&key) {
                h.retain(|r| *r != region);
            }
            m.deleted_replicas.insert((key, region));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_multi_region_histories() {
    let seeds: Vec<u64> = match std::env::var("TERN_SEED") {
        Ok(s) => vec![s.parse().expect("TERN_SEED is a number")],
        Err(_) => {
            let n: u64 = std::env::var("TERN_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(12);
            let base: u64 = rand::random::<u32>() as u64;
            (base..base + n).collect()
        }
    };
    // Bounded in time as well as in seeds: no new seed starts after this.
    let budget = Duration::from_secs(
        std::env::var("TERN_RANDOM_BUDGET_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1200),
    );
    let started = Instant::now();
    let mut counts = Interleavings::default();
    let mut ran = 0;
    for seed in &seeds {
        if started.elapsed() > budget {
            println!("time budget {budget:?} reached; stopping before seed {seed}");
            break;
        }
        run_seed(*seed, &mut counts).await;
        ran += 1;
    }
    println!(
        "{ran} seeds in {:.0}s; interleavings reached: {counts:?}",
        started.elapsed().as_secs_f64()
    );
    // Each interleaving is reached about once every five to ten seeds: a
    // run of fewer seeds (a quick local run) reports what it reached; a
    // run of at least this many (CI runs 50) fails if one stays at zero.
    const SEEDS_TO_REACH_ALL: usize = 24;
    const RARE_SEEDS: usize = 200;
    if ran < SEEDS_TO_REACH_ALL {
        println!("only {ran} seeds ran: not checking that every interleaving was reached (needs {SEEDS_TO_REACH_ALL})");
    } else {
        assert!(counts.partition_between_add_and_activation > 0, "{counts:?}");
        assert!(counts.snapshot_install_with_pending_replica > 0, "{counts:?}");
        // The rarest: 16 in 380 seeds in an hour-long run (4.2% a seed), so
        // 50 seeds miss it 12% of the time; it is required from 200 seeds on
        // (a miss there has a chance of 0.02%).
        if ran >= RARE_SEEDS {
            assert!(counts.update_primary_with_old_primary_cut_off > 0, "{counts:?}");
        } else if counts.update_primary_with_old_primary_cut_off == 0 {
            println!("UpdatePrimaryRegion with the old primary cut off was not reached in {ran} seeds (required from {RARE_SEEDS})");
        }
        assert!(counts.retried_timed_out_write > 0, "{counts:?}");
        assert!(counts.replica_deleted > 0, "{counts:?}");
        assert!(counts.primary_scheduled_for_deletion > 0, "{counts:?}");
        assert!(counts.replicated_again_after_deletion > 0, "{counts:?}");
        assert!(counts.region_added_back > 0, "{counts:?}");
        assert!(counts.region_removed_with_pending_rotation > 0, "{counts:?}");
        assert!(counts.client_retry_with_token_succeeded > 0, "{counts:?}");
        assert!(counts.restarted_after_crash_at_log_write > 0, "{counts:?}");
        assert!(counts.restarted_after_crash_at_snapshot_rename > 0, "{counts:?}");
    }
}
