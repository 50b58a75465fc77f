//! Applying log entries: the replicated family changes (a pure function of
//! the state and the entry, identical in every region) and, in the same
//! store transaction, this region's regional view is reconciled with it.
//!
//! Layout of the replicated family (tern-store's `repl` column family):
//!
//! | key | value |
//! |---|---|
//! | `k/<mrk id>` | [`MrkRecord`] |
//! | `p/<mrk id>/<region>` | [`RegionProps`] waiting to become that region's copy |
//! | `d/<request id>` | [`DedupRecord`]: the outcome of an applied request |
//! | `e/<log index, 16 hex><position, 4 hex>` | [`DedupOrder`]: which `d/` record that entry made, oldest first, for pruning |
//! | `n/<node id>` | the incarnation id of that node's Raft data directory |
//! | `m/applied` | the applied log id |
//! | `m/membership` | the applied membership |
//!
//! Must never: return a storage error for anything a client sent (a failed
//! precondition is an [`Outcome`]); read a clock or draw randomness for the
//! replicated family (the regional re-wrap uses fresh nonces: regional state
//! is not compared across regions).

use std::collections::BTreeSet;
use std::sync::Arc;

use openraft::{EntryPayload, LogId, StoredMembership};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tern_core::crypto::{self, RootKey};
use tern_core::ids::{KeyId, KeyMaterialId, Region};
use tern_core::key::{KeyManager, KeyRecord, KeyState, MaterialRecord, MultiRegionView, Origin, RotationConfig};
use tern_core::seal::{open_material, SealingKey};
use tern_core::time::UnixMillis;
use tern_store::Txn;

use crate::authority::{authorize, refusal_record, Signers};
use crate::command::{Command, ErrorKind, MrkRecord, Op, Outcome, RegionProps, ReplicaStatus, SharedMaterial};
use crate::transition::{checked, remove_region, transition, Cluster, PropsChange, Transition};
use crate::types::{Entry, NodeId, RegionNode};

pub(crate) const APPLIED_KEY: &[u8] = b"m/applied";
pub(crate) const MEMBERSHIP_KEY: &[u8] = b"m/membership";

pub(crate) fn mrk_key(id: &KeyId) -> Vec<u8> {
    format!("k/{id}").into_bytes()
}
pub(crate) fn props_key(id: &KeyId, region: &Region) -> Vec<u8> {
    format!("p/{id}/{region}").into_bytes()
}
/// Marks a region leaving the cluster ([`Op::SetLeaving`]).
pub(crate) fn leaving_key(region: &Region) -> Vec<u8> {
    format!("l/{region}").into_bytes()
}

/// Regions marked leaving the cluster.
pub(crate) fn leaving_regions(txn: &Txn<'_>) -> BTreeSet<Region> {
    txn.repl_keys_with_prefix(b"l/")
        .iter()
        .filter_map(|k| std::str::from_utf8(&k[2..]).ok().and_then(|r| Region::parse(r).ok()))
        .collect()
}

pub(crate) fn incarnation_key(node_id: u64) -> Vec<u8> {
    format!("n/{node_id}").into_bytes()
}
pub(crate) fn dedup_key(request_id: &str) -> Vec<u8> {
    format!("d/{request_id}").into_bytes()
}
const DEDUP_ORDER_PREFIX: &[u8] = b"e/";
/// `e/<log index, 16 hex><position in the entry, 4 hex>`: ordered by both.
fn dedup_order_key(index: u64, pos: usize) -> Vec<u8> {
    format!("e/{index:016x}{pos:04x}").into_bytes()
}

/// A request's outcome is remembered (so a retry with its id gets the same
/// answer) for at least this long after it was proposed, and at least
/// [`DEDUP_KEEP_ENTRIES`] entries; a proposer retries for seconds, so a
/// day leaves a wide margin for a region whose clock is off.
pub const DEDUP_KEEP_MILLIS: i64 = 24 * 3600 * 1000;
pub const DEDUP_KEEP_ENTRIES: u64 = 10_000;
/// Old outcomes forgotten per applied command at most: apply stays cheap,
/// and since each command adds one, the backlog still shrinks.
const DEDUP_PRUNE_PER_APPLY: usize = 8;

/// Which request an entry's `d/` record belongs to, and when it was
/// proposed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DedupOrder {
    pub request_id: String,
    pub at: UnixMillis,
}

/// The remembered outcome of an applied request, so a retry gets it again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DedupRecord {
    pub outcome: Outcome,
    pub index: u64,
    pub at: UnixMillis,
}

/// Forgets the oldest remembered outcomes that are both older than
/// [`DEDUP_KEEP_MILLIS`] (by the applying command's proposal time) and
/// further back than [`DEDUP_KEEP_ENTRIES`]. A function of the replicated
/// state and the entry, so every region prunes the same records.
fn prune_dedup(txn: &mut Txn<'_>, index: u64, now: UnixMillis) -> Result<(), ApplyError> {
    for k in txn.first_repl_keys_with_prefix(DEDUP_ORDER_PREFIX, DEDUP_PRUNE_PER_APPLY) {
        let Some(b) = txn.repl(&k) else { break };
        let order: DedupOrder = decode("dedup order", &b)?;
        let old_index = k
            .get(DEDUP_ORDER_PREFIX.len()..DEDUP_ORDER_PREFIX.len() + 16)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .ok_or_else(|| format!("corrupt replicated dedup order key {k:?}"))?;
        let old_enough = order.at.0.saturating_add(DEDUP_KEEP_MILLIS) < now.0;
        let far_enough = old_index.saturating_add(DEDUP_KEEP_ENTRIES) < index;
        if !(old_enough && far_enough) {
            break;
        }
        txn.delete_repl(dedup_key(&order.request_id));
        txn.delete_repl(k);
    }
    Ok(())
}

/// What this region owes the log after an apply: acknowledgements.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ack {
    MaterialApplied {
        key: KeyId,
        material: KeyMaterialId,
    },
    ReplicaReady {
        key: KeyId,
    },
    /// This node's Raft directory incarnation is not recorded yet.
    Incarnation,
}

/// The region-specific inputs of applying.
#[derive(Clone)]
pub(crate) struct Applier {
    pub region: Region,
    pub sealing: Arc<SealingKey>,
    pub root: Arc<RootKey>,
    /// Entries whose request id had already been applied (a retried write).
    pub duplicates: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Applier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applier")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

pub(crate) type ApplyError = String;

fn decode<T: for<'de> Deserialize<'de>>(what: &str, b: &[u8]) -> Result<T, ApplyError> {
    serde_json::from_slice(b).map_err(|e| format!("corrupt replicated {what}: {e}"))
}

/// Encodes a replicated value. Fails closed: an error aborts the whole
/// apply transaction (never empty bytes in the replicated state).
pub(crate) fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, ApplyError> {
    serde_json::to_vec(v).map_err(|e| format!("encoding a replicated value: {e}"))
}

pub(crate) fn get_mrk(txn: &Txn<'_>, id: &KeyId) -> Result<Option<MrkRecord>, ApplyError> {
    txn.repl(&mrk_key(id)).map(|b| decode("key", &b)).transpose()
}

pub(crate) fn put_mrk(txn: &mut Txn<'_>, r: &MrkRecord) -> Result<(), ApplyError> {
    txn.put_repl(mrk_key(&r.key), encode(r)?);
    Ok(())
}

pub(crate) fn read_applied(repl: Option<Arc<Vec<u8>>>) -> Result<Option<LogId<NodeId>>, ApplyError> {
    repl.map(|b| decode("applied log id", &b))
        .transpose()
        .map(Option::flatten)
}

pub(crate) fn read_membership(repl: Option<Arc<Vec<u8>>>) -> Result<StoredMembership<NodeId, RegionNode>, ApplyError> {
    Ok(repl.map(|b| decode("membership", &b)).transpose()?.unwrap_or_default())
}

/// Regions named by a membership's nodes.
pub(crate) fn member_regions(m: &StoredMembership<NodeId, RegionNode>) -> BTreeSet<Region> {
    m.membership()
        .nodes()
        .filter_map(|(_, n)| Region::parse(&n.region).ok())
        .collect()
}

impl Applier {
    /// Applies a run of entries inside one store transaction; returns one
    /// outcome per entry and the acks this region now owes.
    pub fn apply_entries(&self, txn: &mut Txn<'_>, entries: &[Entry]) -> Result<(Vec<Outcome>, Vec<Ack>), ApplyError> {
        let mut outcomes = Vec::with_capacity(entries.len());
        let mut acks = BTreeSet::new();
        for e in entries {
            let outcome = match &e.payload {
                EntryPayload::Blank => Outcome::None,
                EntryPayload::Normal(cmd) => self.apply_command(txn, e.log_id.index, cmd, &mut acks)?,
                EntryPayload::Membership(m) => {
                    let stored = StoredMembership::new(Some(e.log_id), m.clone());
                    let regions = member_regions(&stored);
                    txn.put_repl(MEMBERSHIP_KEY.to_vec(), encode(&stored)?);
                    self.drop_departed_regions(txn, &regions, &mut acks)?;
                    Outcome::None
                }
            };
            outcomes.push(outcome);
        }
        if let Some(last) = entries.last() {
            txn.put_repl(APPLIED_KEY.to_vec(), encode(&Some(last.log_id))?);
        }
        Ok((outcomes, acks.into_iter().collect()))
    }

    pub(crate) fn apply_command(
        &self,
        txn: &mut Txn<'_>,
        index: u64,
        cmd: &Command,
        acks: &mut BTreeSet<Ack>,
    ) -> Result<Outcome, ApplyError> {
        let Op::Acks(each) = &cmd.op else {
            return self.apply_one(txn, index, 0, cmd, acks);
        };
        let mut outcomes = Vec::with_capacity(each.len());
        for (pos, c) in each.iter().enumerate() {
            outcomes.push(if c.op.is_ack() {
                self.apply_one(txn, index, pos, c, acks)?
            } else {
                Outcome::reject(
                    ErrorKind::ValidationException,
                    "only acknowledgements are gathered into one entry",
                )
            });
        }
        Ok(Outcome::Each(outcomes))
    }

    /// Applies one command (the `pos`-th of its entry), once per request id.
    fn apply_one(
        &self,
        txn: &mut Txn<'_>,
        index: u64,
        pos: usize,
        cmd: &Command,
        acks: &mut BTreeSet<Ack>,
    ) -> Result<Outcome, ApplyError> {
        // Signed by its author, and its author may make it (authority.rs).
        let membership = read_membership(txn.repl(MEMBERSHIP_KEY))?;
        let signers = Signers::of(&membership);
        let before = match cmd.op.key() {
            Some(k) => get_mrk(txn, k)?,
            None => None,
        };
        if let Err(why) = authorize(cmd, before.as_ref(), &signers) {
            tracing::warn!(region = %self.region, command = %cmd, author = ?cmd.author, why = %why,
                "refused a replicated command: its author may not make it (a compromised or misconfigured region?)");
            txn.audit(refusal_record(&self.region, cmd, &why)?);
            return Ok(Outcome::reject(ErrorKind::AccessDeniedException, why));
        }
        let cluster = Cluster {
            members: member_regions(&membership),
            leaving: leaving_regions(txn),
        };
        if cmd.service_made {
            // Idempotent by construction: applied every time, remembered never.
            return self.apply_op(txn, cmd, before, &cluster, acks);
        }
        let dk = dedup_key(&cmd.request_id);
        if let Some(b) = txn.repl(&dk) {
            let d: DedupRecord = decode("dedup record", &b)?;
            self.duplicates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(d.outcome);
        }
        let outcome = self.apply_op(txn, cmd, before, &cluster, acks)?;
        txn.put_repl(
            dk,
            encode(&DedupRecord {
                outcome: outcome.clone(),
                index,
                at: cmd.proposed_at,
            })?,
        );
        txn.put_repl(
            dedup_order_key(index, pos),
            encode(&DedupOrder {
                request_id: cmd.request_id.clone(),
                at: cmd.proposed_at,
            })?,
        );
        prune_dedup(txn, index, cmd.proposed_at)?;
        Ok(outcome)
    }

    /// Applies one command whose author may make it: cluster bookkeeping
    /// here; a command about a key through its pure [`transition`], whose
    /// result must keep the key's invariants before anything is written.
    fn apply_op(
        &self,
        txn: &mut Txn<'_>,
        cmd: &Command,
        before: Option<MrkRecord>,
        cluster: &Cluster,
        acks: &mut BTreeSet<Ack>,
    ) -> Result<Outcome, ApplyError> {
        let now = cmd.proposed_at;
        match &cmd.op {
            Op::RegisterIncarnation { node_id, incarnation } => {
                txn.put_repl(incarnation_key(*node_id), encode(incarnation)?);
                return Ok(Outcome::Applied);
            }
            Op::SetLeaving { region, leaving } => {
                if !*leaving {
                    txn.delete_repl(leaving_key(region));
                    return Ok(Outcome::Applied);
                }
                for id in mrk_ids(txn) {
                    if get_mrk(txn, &id)?.is_some_and(|r| &r.primary == region) {
                        return Ok(Outcome::reject(
                            ErrorKind::KMSInvalidStateException,
                            format!("{region} is the primary Region of {id}; update its primary Region first"),
                        ));
                    }
                }
                txn.put_repl(leaving_key(region), encode(&true)?);
                return Ok(Outcome::Applied);
            }
            _ => {}
        }
        let Some(key) = cmd.op.key().copied() else {
            return Ok(Outcome::reject(ErrorKind::ValidationException, "command names no key"));
        };
        match transition(before.as_ref(), cmd, cluster) {
            Err(rejection) => Ok(Outcome::Rejected(rejection)),
            Ok(Transition::Unchanged) => Ok(Outcome::Applied),
            Ok(Transition::Delete { primary }) => {
                txn.delete_repl(mrk_key(&key));
                txn.delete_repl(props_key(&key, &primary));
                self.reconcile(txn, &key, None, now, acks)?;
                Ok(Outcome::Applied)
            }
            Ok(Transition::Put { record, props }) => {
                if let Err(broken) = checked(&record, before.as_ref(), &cmd.op) {
                    // A bug in a transition: refused the same way in every
                    // region, with nothing written.
                    tracing::error!(key = %key, op = cmd.op.name(), broken = %broken,
                        "a replicated command would break an invariant of its key and was refused (a bug; report it)");
                    return Ok(Outcome::reject(
                        ErrorKind::KMSInternalException,
                        format!("The request would leave {key} inconsistent ({broken}); nothing was changed."),
                    ));
                }
                for change in props {
                    match change {
                        PropsChange::Put(region, p) => txn.put_repl(props_key(&key, &region), encode(&p)?),
                        PropsChange::Remove(region) => txn.delete_repl(props_key(&key, &region)),
                    }
                }
                put_mrk(txn, &record)?;
                self.reconcile(txn, &key, Some(&record), now, acks)?;
                Ok(Outcome::Applied)
            }
        }
    }

    /// Membership changed: regions that left the cluster leave every key.
    fn drop_departed_regions(
        &self,
        txn: &mut Txn<'_>,
        members: &BTreeSet<Region>,
        acks: &mut BTreeSet<Ack>,
    ) -> Result<(), ApplyError> {
        for k in txn.repl_keys_with_prefix(b"l/") {
            let region = std::str::from_utf8(&k[2..]).ok().and_then(|r| Region::parse(r).ok());
            if region.is_some_and(|r| !members.contains(&r)) {
                txn.delete_repl(k);
            }
        }
        for id in mrk_ids(txn) {
            let Some(mut rec) = get_mrk(txn, &id)? else { continue };
            let gone: Vec<Region> = rec
                .replicas
                .iter()
                .map(|(r, _)| r.clone())
                .filter(|r| !members.contains(r))
                .collect();
            if gone.is_empty() {
                continue;
            }
            for r in &gone {
                remove_region(&mut rec, r);
                txn.delete_repl(props_key(&id, r));
            }
            put_mrk(txn, &rec)?;
            self.reconcile(txn, &id, Some(&rec), rec.created, acks)?;
        }
        Ok(())
    }

    /// Brings this region's regional record of `key` in line with the
    /// replicated record: creates the region's copy when it became a
    /// replica, re-wraps new material under the root key, mirrors the
    /// shared properties, retires the copy when the region left the key.
    /// Never touches per-region properties of an existing copy.
    pub(crate) fn reconcile(
        &self,
        txn: &mut Txn<'_>,
        key: &KeyId,
        rec: Option<&MrkRecord>,
        now: UnixMillis,
        acks: &mut BTreeSet<Ack>,
    ) -> Result<(), ApplyError> {
        let me = &self.region;
        let current = txn.key(key);
        let Some(rec) = rec.filter(|r| r.holds(me)) else {
            if current.is_some() {
                txn.delete_key(key);
            }
            return Ok(());
        };
        let status = rec.status_of(me).unwrap_or(ReplicaStatus::Creating);
        let mut next = match &current {
            Some(k) => (**k).clone(),
            None => {
                let props: RegionProps = match txn.repl(&props_key(key, me)) {
                    Some(b) => decode("region props", &b)?,
                    // The props were consumed but the copy is gone (data
                    // lost outside tern): start from the defaults.
                    None => RegionProps {
                        policy: tern_policy_default(rec),
                        description: String::new(),
                        tags: Vec::new(),
                    },
                };
                KeyRecord {
                    key_id: *key,
                    account: rec.account.clone(),
                    region: me.clone(),
                    created: now,
                    description: props.description,
                    key_spec: rec.spec,
                    key_usage: rec.usage,
                    origin: rec.origin,
                    key_manager: KeyManager::Customer,
                    state: if &rec.primary != me && status != ReplicaStatus::Ready {
                        KeyState::Creating
                    } else if rec.origin == Origin::External {
                        KeyState::PendingImport
                    } else {
                        KeyState::Enabled
                    },
                    deletion_date: None,
                    pending_window_days: None,
                    policy: props.policy,
                    tags: props.tags,
                    rotation: RotationConfig::default(),
                    materials: Vec::new(),
                    pending_materials: Vec::new(),
                    multi_region: None,
                    import: None,
                }
            }
        };
        if status == ReplicaStatus::Ready && next.state == KeyState::Creating {
            next.state = if rec.origin == Origin::External && next.materials.is_empty() {
                KeyState::PendingImport
            } else {
                KeyState::Enabled
            };
        }
        if rec.origin == Origin::External {
            // Imported material is regional: each region imports its own
            // copy; the log carries only the id all must match.
            let import = next.import.get_or_insert_with(Default::default);
            import.upgrade(&next.materials);
            let local_current = import.current().map(|c| c.id);
            import.fingerprint = import.fingerprint.or(rec.imported_material);
            // RotateImported applied: this region's pending imported material
            // becomes current here too (it imported it: the rotation needs
            // every region's import).
            if let Some(id) = rec
                .imported_material
                .filter(|id| local_current.is_some_and(|c| c != *id))
            {
                if !next.make_imported_current(&id, now) {
                    tracing::warn!(key = %key, material = %id,
                        "the log made imported material current that this Region does not hold (deleted after import?): import it again");
                }
            }
            if status == ReplicaStatus::Creating {
                acks.insert(Ack::ReplicaReady { key: *key });
            }
            next.multi_region = Some(MultiRegionView {
                primary: rec.primary.clone(),
                replicas: rec.replicas.iter().map(|(r, _)| r.clone()).collect(),
            });
            if current.as_deref() != Some(&next) {
                txn.put_key(next);
            }
            return Ok(());
        }
        let held = |id: &KeyMaterialId| next.material(id).cloned();
        let mut materials = Vec::with_capacity(rec.materials.len());
        for m in &rec.materials {
            match held(&m.id) {
                Some(w) => materials.push(w),
                None => materials.extend(self.rewrap(key, m)),
            }
        }
        let mut pending = Vec::new();
        if let Some(p) = &rec.pending {
            match held(&p.material.id) {
                Some(w) => pending.push(w),
                None => pending.extend(self.rewrap(key, &p.material)),
            }
            if !p.acks.contains(me) && !pending.is_empty() {
                acks.insert(Ack::MaterialApplied {
                    key: *key,
                    material: p.material.id,
                });
            }
        }
        if status == ReplicaStatus::Creating {
            acks.insert(Ack::ReplicaReady { key: *key });
        }
        next.materials = materials;
        next.pending_materials = pending;
        next.multi_region = Some(MultiRegionView {
            primary: rec.primary.clone(),
            replicas: rec.replicas.iter().map(|(r, _)| r.clone()).collect(),
        });
        next.rotation.enabled = rec.rotation.enabled;
        next.rotation.period_days = rec.rotation.period_days;
        next.rotation.next_rotation = rec.rotation.next_rotation;
        next.rotation.on_demand_count = rec.rotation.on_demand_count;
        if current.as_deref() != Some(&next) {
            txn.put_key(next);
        }
        Ok(())
    }

    /// Opens this region's sealed copy and wraps it under the root key.
    /// A copy that does not open is logged and skipped: the region then
    /// does not hold that material and never acks it.
    fn rewrap(&self, key: &KeyId, m: &SharedMaterial) -> Option<MaterialRecord> {
        let sealed = m.sealed.get(&self.region)?;
        let material = match open_material(&self.sealing, &self.region, key, &m.id, sealed) {
            Ok(x) => x,
            Err(e) => {
                tracing::error!(key = %key, material = %m.id, error = %e, "sealed material does not open for this region");
                return None;
            }
        };
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let wrapped = match crypto::wrap_material(&self.root, key, &m.id, &material, nonce) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(key = %key, material = %m.id, error = %e, "material could not be wrapped for this region");
                return None;
            }
        };
        Some(MaterialRecord {
            id: m.id,
            created: m.created,
            rotation_type: m.rotation_type,
            wrapped,
        })
    }
}

fn tern_policy_default(rec: &MrkRecord) -> String {
    tern_policy::default_key_policy(rec.account.as_str())
}

/// Ids of every Multi-Region key in the replicated family.
pub(crate) fn mrk_ids(txn: &Txn<'_>) -> Vec<KeyId> {
    txn.repl_keys_with_prefix(b"k/")
        .into_iter()
        .filter_map(|k| std::str::from_utf8(&k[2..]).ok().and_then(|s| KeyId::parse(s).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn remember(txn: &mut Txn<'_>, index: u64, at: i64) {
        let id = format!("req-{index}");
        txn.put_repl(
            dedup_key(&id),
            encode(&DedupRecord {
                outcome: Outcome::Applied,
                index,
                at: UnixMillis(at),
            })
            .unwrap(),
        );
        txn.put_repl(
            dedup_order_key(index, 0),
            encode(&DedupOrder {
                request_id: id,
                at: UnixMillis(at),
            })
            .unwrap(),
        );
    }

    #[tokio::test]
    async fn remembered_outcomes_are_pruned_oldest_first_once_old_in_time_and_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = tern_store::Store::open(&tern_store::StoreConfig::new(dir.path())).unwrap();
        let day = DEDUP_KEEP_MILLIS;
        let (left, _) = store
            .transact(move |t| {
                for i in 1..=20 {
                    // Entries 1..=15 were proposed two days ago, the rest now.
                    remember(t, i, if i <= 15 { 0 } else { 2 * day });
                }
                let count = |t: &Txn<'_>| t.repl_keys_with_prefix(b"d/").len();
                // Recent in entries: nothing goes, however old in time.
                prune_dedup(t, 100, UnixMillis(2 * day)).unwrap();
                let after_recent = count(t);
                // Far enough back in entries: the oldest eight go per apply,
                // and only those also old enough in time.
                let now = UnixMillis(2 * day);
                prune_dedup(t, 20 + DEDUP_KEEP_ENTRIES, now).unwrap();
                let after_one = count(t);
                prune_dedup(t, 21 + DEDUP_KEEP_ENTRIES, now).unwrap();
                prune_dedup(t, 22 + DEDUP_KEEP_ENTRIES, now).unwrap();
                let first_left = t.first_repl_keys_with_prefix(DEDUP_ORDER_PREFIX, 1);
                (
                    after_recent,
                    after_one,
                    count(t),
                    t.repl(&dedup_key("req-15")).is_some(),
                    first_left,
                )
            })
            .await
            .unwrap();
        assert_eq!(left.0, 20);
        assert_eq!(left.1, 12);
        assert_eq!(left.2, 5, "entries 16..=20 are young in time");
        assert!(!left.3);
        assert_eq!(left.4, vec![dedup_order_key(16, 0)]);
        store.shutdown();
    }

    /// A command whose result would break an invariant of its key is
    /// refused (KMSInternalException, the same in every region) and the
    /// record stays as it was.
    #[tokio::test]
    async fn a_command_whose_result_breaks_an_invariant_is_refused_and_writes_nothing() {
        use crate::command::tests::{record, region};
        let dir = tempfile::tempdir().unwrap();
        let store = tern_store::Store::open(&tern_store::StoreConfig::new(dir.path())).unwrap();
        let applier = Applier {
            region: region("us-east-1"),
            sealing: Arc::new(SealingKey::from_seed([7; 32])),
            root: Arc::new(RootKey::from_bytes([1; 32])),
            duplicates: Arc::default(),
        };
        // A record already broken (its pending material is not sealed to a
        // holder), as a buggy transition would leave it.
        let mut broken = record();
        broken
            .pending
            .as_mut()
            .unwrap()
            .material
            .sealed
            .remove(&region("eu-west-1"));
        let key = broken.key;
        let stored = broken.clone();
        let (outcome, _) = store
            .transact(move |txn| {
                put_mrk(txn, &stored).unwrap();
                let cmd = Command {
                    request_id: "req-1".into(),
                    proposed_at: UnixMillis(1),
                    op: Op::SetRotation {
                        key,
                        expected_primary: region("us-east-1"),
                        enabled: true,
                        period_days: Some(90),
                        next_rotation: None,
                    },
                    service_made: false,
                    author: None,
                    signature: None,
                };
                let mut acks = BTreeSet::new();
                let outcome = applier.apply_command(txn, 7, &cmd, &mut acks).unwrap();
                (outcome, get_mrk(txn, &key).unwrap())
            })
            .await
            .unwrap();
        let (outcome, after) = outcome;
        match outcome {
            Outcome::Rejected(r) => {
                assert_eq!(r.exception, ErrorKind::KMSInternalException);
                assert!(r.message.contains("not sealed to eu-west-1"), "{}", r.message);
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(after, Some(broken), "the record must stay as it was");
        store.shutdown();
    }
}
