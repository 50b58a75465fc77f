//! The checker: reads the history and the healed cluster, and counts every
//! violated invariant.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;
use tern_proto::pb;

use crate::docker;
use crate::history::{History, Outcome, Recorded};
use crate::workload::{call, decrypt_one, describe, policy_number, Cluster, SharedModel, REGIONS};

/// Everything the checker found; a scenario passes when every list is empty.
#[derive(Debug, Default, Serialize)]
pub struct Verdict {
    pub ops: usize,
    pub acked: usize,
    /// Acknowledged writes missing after healing.
    pub lost: Vec<String>,
    /// Decrypts that returned another plaintext.
    pub wrong: usize,
    /// Acknowledged ciphertexts that failed to decrypt after healing.
    pub undecryptable: Vec<String>,
    /// Decrypts that failed in a region that was running, not paused and not
    /// out of disk.
    pub unavailable: Vec<String>,
    /// Regions whose view of a Multi-Region key differs after healing.
    pub diverged: Vec<String>,
    /// Audit chains that do not verify.
    pub audit: Vec<String>,
    /// Invariant violations a node logged (acknowledged before synced) and
    /// panics.
    pub node_errors: Vec<String>,
    /// Scenario-specific expectations that did not hold.
    pub expectations: Vec<String>,
    /// Longest time between two successful local decrypts, per region, outside
    /// the windows in which the region was impaired (ms).
    pub max_gap_ms: BTreeMap<String, u64>,
}

impl Verdict {
    pub fn violations(&self) -> usize {
        self.lost.len()
            + self.wrong
            + self.undecryptable.len()
            + self.unavailable.len()
            + self.diverged.len()
            + self.audit.len()
            + self.node_errors.len()
            + self.expectations.len()
            + self
                .max_gap_ms
                .values()
                .filter(|g| **g > MAX_LOCAL_GAP.as_millis() as u64)
                .count()
    }
}

/// The longest a running region's local decrypts may pause.
pub const MAX_LOCAL_GAP: Duration = Duration::from_secs(1);
const READ: Duration = Duration::from_secs(3);

/// What the history alone shows: wrong plaintexts, failed local decrypts,
/// gaps.
pub fn from_history(rec: &Recorded, v: &mut Verdict) {
    v.ops = rec.events.len();
    v.acked = rec.events.iter().filter(|e| e.outcome == Outcome::Ok).count();
    v.wrong = rec.events.iter().filter(|e| e.outcome == Outcome::Wrong).count();
    for e in &rec.events {
        if (e.op == "LocalDecrypt" || e.op == "CrossDecrypt")
            && e.outcome != Outcome::Ok
            && !rec.impaired(&e.region, e.invoke_ms, e.complete_ms)
        {
            v.unavailable.push(format!(
                "{} in {} at {:.2}s-{:.2}s: {} {}",
                e.op,
                e.region,
                e.invoke_ms as f64 / 1e3,
                e.complete_ms as f64 / 1e3,
                e.error,
                e.message
            ));
        }
    }
    for region in REGIONS {
        let mut oks: Vec<u64> = rec
            .events
            .iter()
            .filter(|e| e.op == "LocalDecrypt" && e.region == region && e.outcome == Outcome::Ok)
            .map(|e| e.complete_ms)
            .collect();
        oks.sort_unstable();
        let gap = oks
            .windows(2)
            .filter(|w| !rec.impaired(region, w[0], w[1]))
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or(0);
        v.max_gap_ms.insert(region.to_string(), gap);
    }
}

/// One region's view of a Multi-Region key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    primary: String,
    replicas: BTreeSet<String>,
    current: String,
    rotations: Vec<String>,
}

async fn view(cluster: &Cluster, h: &History, region: &str, key: &str) -> Result<View, String> {
    let meta = describe(cluster, h, region, key, READ).await?;
    let mr = meta.multi_region_configuration.ok_or("not multi-Region")?;
    let mut rotations = Vec::new();
    let mut marker = None;
    loop {
        let (k, m) = (key.to_string(), marker.clone());
        let r = call(cluster, h, "ListKeyRotations", region, key, READ, |mut c| async move {
            c.list_key_rotations(pb::ListKeyRotationsRequest {
                key_id: k,
                limit: Some(100),
                marker: m,
                include_key_material: None,
            })
            .await
        })
        .await?;
        rotations.extend(r.rotations.into_iter().filter_map(|e| e.key_material_id));
        if !r.truncated {
            break;
        }
        marker = r.next_marker;
    }
    Ok(View {
        primary: mr.primary_key.map(|p| p.region).unwrap_or_default(),
        replicas: mr.replica_keys.into_iter().map(|r| r.region).collect(),
        current: meta.current_key_material_id.unwrap_or_default(),
        rotations,
    })
}

/// Waits (up to `timeout`) until every region holding each MRK has the same
/// view of it and lists at least its acknowledged rotations (an acknowledged
/// rotation becomes current once every holder acked it, which may take a
/// while after healing); returns the views (key → region → view) and the
/// differences left at the end.
async fn converge(
    cluster: &Cluster,
    h: &History,
    keys: &[(String, u64)],
    timeout: Duration,
) -> (BTreeMap<String, BTreeMap<String, View>>, Vec<String>) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut all = BTreeMap::new();
        let mut diffs = Vec::new();
        for (key, acked) in keys {
            let mut views = BTreeMap::new();
            for region in REGIONS {
                match view(cluster, h, region, key).await {
                    Ok(v) => {
                        views.insert(region.to_string(), v);
                    }
                    Err(e) if e == "NotFoundException" => {}
                    Err(e) => diffs.push(format!("{key} in {region}: {e}")),
                }
            }
            let holders: BTreeSet<String> = views
                .values()
                .flat_map(|v| std::iter::once(v.primary.clone()).chain(v.replicas.iter().cloned()))
                .collect();
            for r in &holders {
                if !views.contains_key(r) {
                    diffs.push(format!("{key}: {r} is named a holder but has no copy"));
                }
            }
            let mut distinct: Vec<&View> = views.values().collect();
            distinct.dedup();
            if distinct.len() > 1 {
                diffs.push(format!(
                    "{key}: regions disagree: {}",
                    views
                        .iter()
                        .map(|(r, v)| format!(
                            "{r}=(primary {}, replicas {:?}, current {}, {} rotations)",
                            v.primary,
                            v.replicas,
                            v.current,
                            v.rotations.len()
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
            if views.values().any(|v| (v.rotations.len() as u64) < *acked) {
                diffs.push(format!("{key}: fewer rotations listed than the {acked} acknowledged"));
            }
            all.insert(key.clone(), views);
        }
        if diffs.is_empty() || tokio::time::Instant::now() >= deadline {
            return (all, diffs);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Checks the healed cluster against what was acknowledged. Every region
/// must be running and healthy.
pub async fn after_heal(cluster: &Cluster, h: &History, model: &SharedModel, v: &mut Verdict) {
    let mrk_keys: Vec<(String, u64)> = model
        .lock()
        .mrks
        .iter()
        .map(|k| (k.key.clone(), k.rotations_acked))
        .collect();
    let (views, diffs) = converge(cluster, h, &mrk_keys, Duration::from_secs(60)).await;
    // A shortfall of rotations is reported as lost below, not as divergence.
    v.diverged
        .extend(diffs.into_iter().filter(|d| !d.contains("fewer rotations listed")));

    // Multi-Region keys: acknowledged copies and rotations.
    let mrks = model.lock().mrks.clone();
    for k in &mrks {
        let views = views.get(&k.key).cloned().unwrap_or_default();
        for r in &k.holders {
            match views.get(r) {
                None => v
                    .lost
                    .push(format!("MRK {} copy in {r} (acknowledged) is missing", k.key)),
                Some(view) => {
                    let n = view.rotations.len() as u64;
                    if n < k.rotations_acked {
                        v.lost.push(format!(
                            "MRK {} in {r}: {n} rotations listed, {} acknowledged",
                            k.key, k.rotations_acked
                        ));
                    }
                    if n > k.rotations_invoked {
                        v.lost.push(format!(
                            "MRK {} in {r}: {n} rotations listed, only {} invoked",
                            k.key, k.rotations_invoked
                        ));
                    }
                }
            }
        }
    }

    // Single-Region keys and aliases.
    let (sr_keys, aliases, policies) = {
        let m = model.lock();
        (m.sr_keys.clone(), m.aliases.clone(), m.policies.clone())
    };
    for (region, key) in &sr_keys {
        if let Err(e) = describe(cluster, h, region, key, READ).await {
            v.lost.push(format!("key {key} in {region} (acknowledged): {e}"));
        }
    }
    for (region, alias, target) in &aliases {
        match describe(cluster, h, region, alias, READ).await.map(|m| m.key_id) {
            Ok(k) if &k == target => {}
            other => v
                .lost
                .push(format!("{alias} in {region} → {target} (acknowledged): {other:?}")),
        }
    }
    for ((region, key), track) in &policies {
        let k = key.clone();
        let r = call(cluster, h, "GetKeyPolicy", region, key, READ, |mut c| async move {
            c.get_key_policy(pb::GetKeyPolicyRequest {
                key_id: k,
                policy_name: Some("default".into()),
            })
            .await
        })
        .await;
        let n = match r {
            Ok(p) => policy_number(&p.policy),
            Err(e) => {
                v.lost.push(format!("policy of {key} in {region}: {e}"));
                continue;
            }
        };
        let ok = match (track.last_acked, n) {
            (None, None) => true,
            (Some(_), None) => false,
            (last, Some(n)) => track.invoked.contains(&n) && last.is_none_or(|l| n >= l),
        };
        if !ok {
            v.lost.push(format!(
                "policy of {key} in {region}: chaos-{n:?} in place, last acknowledged chaos-{:?}",
                track.last_acked
            ));
        }
    }

    // Every acknowledged ciphertext decrypts wherever its key lives.
    let ciphers = model.lock().ciphers.clone();
    let step = (ciphers.len() / 1500).max(1);
    for c in ciphers.iter().step_by(step) {
        let regions: Vec<String> = if c.multi_region {
            views
                .get(&c.key)
                .map(|vs| vs.keys().cloned().collect())
                .unwrap_or_default()
        } else {
            vec![c.region.clone()]
        };
        for r in regions {
            if !decrypt_one(cluster, h, "FinalDecrypt", &r, c, READ).await {
                v.undecryptable
                    .push(format!("{} ciphertext made in {} fails in {r}", c.key, c.region));
            }
        }
    }
    v.wrong += h
        .snapshot()
        .events
        .iter()
        .filter(|e| e.op == "FinalDecrypt" && e.outcome == Outcome::Wrong)
        .count();

    // Audit chains and what the nodes logged.
    for region in REGIONS {
        let container = cluster.container(region);
        let data = format!("/var/lib/tern/{region}");
        match docker::docker(&[
            "exec",
            "-e",
            "TMPDIR=/var/lib/tern",
            &container,
            "/tern",
            "audit",
            "verify",
            "--data-dir",
            &data,
        ]) {
            Ok(out) if out.starts_with("OK") => {}
            Ok(out) => v.audit.push(format!("{region}: {}", out.trim())),
            Err(e) => v.audit.push(format!("{region}: {e}")),
        }
        match docker::logs(&container) {
            Ok(logs) => {
                for line in logs.lines() {
                    if line.contains("DURABILITY INVARIANT VIOLATED") || line.contains("panicked at") {
                        v.node_errors
                            .push(format!("{region}: {}", line.chars().take(300).collect::<String>()));
                    }
                }
            }
            Err(e) => v.node_errors.push(format!("{region}: cannot read logs: {e}")),
        }
    }
}
