//! openraft's state machine, kept in the region's own store: applying a run
//! of entries is one store transaction, so the replicated family, the applied
//! log id, the applied membership and the regional re-wrapped material land
//! in one synced batch.
//!
//! Snapshots carry the replicated family only. Installing one replaces it in
//! one batch and reconciles the regional view in the same batch (creates
//! missing replicas, retires removed ones, never touches per-region
//! properties of existing copies).

use std::collections::BTreeSet;
use std::io::{Cursor, Write};
use std::path::PathBuf;
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{OptionalSend, RaftSnapshotBuilder, SnapshotMeta, StorageIOError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tern_core::ids::KeyId;
use tern_store::Store;
use tokio::sync::{mpsc, watch};

use crate::apply::{
    encode, get_mrk, mrk_ids, read_applied, read_membership, Ack, Applier, APPLIED_KEY, MEMBERSHIP_KEY,
};
use crate::command::Outcome;
use crate::fault::CrashSite;
use crate::types::{Entry, LogId, Membership, NodeId, RegionNode, SnapshotData, StorageError, TypeConfig};

/// The state machine handle openraft owns; clones share everything.
#[derive(Clone)]
pub struct StateMachine {
    pub(crate) store: Store,
    pub(crate) applier: Applier,
    pub(crate) snapshot_path: PathBuf,
    pub(crate) applied: Arc<watch::Sender<Option<LogId>>>,
    /// Acks this region owes, to the acker ([`ACK_QUEUE`] batches).
    pub(crate) acks: mpsc::Sender<Vec<Ack>>,
    /// Set when a batch was dropped on a full queue: the acker then
    /// recomputes every ack owed from the applied state (nothing is lost).
    pub(crate) sweep_requested: Arc<std::sync::atomic::AtomicBool>,
    /// Snapshots installed (a metric and a test observable).
    pub(crate) installs: Arc<std::sync::atomic::AtomicU64>,
    /// The last log id of the snapshot file on disk; held while a snapshot
    /// file is written, so a build and an install never interleave and an
    /// older snapshot never replaces a newer one.
    pub(crate) on_disk: Arc<parking_lot::Mutex<Option<LogId>>>,
    /// Test crash points (see [`crate::fault::CrashPoint`]); `None` in production.
    pub(crate) crash: Option<CrashSite>,
}

/// Batches of acks queued from the state machine to the acker. When full,
/// the batch is dropped and the acker is asked to sweep (recompute every
/// ack the region owes from the applied state): memory stays bounded and
/// no ack is lost.
pub const ACK_QUEUE: usize = 1024;

/// The last log id of the snapshot file at `path`, if there is a readable one.
pub(crate) fn snapshot_on_disk(path: &std::path::Path) -> Option<LogId> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice::<SnapshotFile>(&bytes).ok()?.meta.last_log_id
}

impl std::fmt::Debug for StateMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachine")
            .field("region", &self.applier.region)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Msg(pub String);

fn sm_write_err(e: impl Into<String>) -> StorageError {
    StorageIOError::write_state_machine(&Msg(e.into())).into()
}
fn sm_read_err(e: impl Into<String>) -> StorageError {
    StorageIOError::read_state_machine(&Msg(e.into())).into()
}

/// A snapshot as stored on disk: its meta and the replicated family.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta<NodeId, RegionNode>,
    /// Hex-free binary framing of the family's pairs, see [`encode_pairs`].
    #[serde(with = "tern_core::b64")]
    data: Vec<u8>,
}

/// `u32 key len | key | u32 value len | value`, repeated.
fn encode_pairs<'a>(pairs: impl Iterator<Item = (&'a Vec<u8>, &'a Vec<u8>)>) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v);
    }
    out
}

/// Key/value pairs of the replicated family.
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn decode_pairs(mut b: &[u8]) -> Result<Pairs, String> {
    let mut out = Vec::new();
    let take = |b: &mut &[u8]| -> Result<Vec<u8>, String> {
        if b.len() < 4 {
            return Err("truncated snapshot".into());
        }
        let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if b.len() < 4 + n {
            return Err("truncated snapshot".into());
        }
        let v = b[4..4 + n].to_vec();
        *b = &b[4 + n..];
        Ok(v)
    };
    while !b.is_empty() {
        let k = take(&mut b)?;
        let v = take(&mut b)?;
        out.push((k, v));
    }
    Ok(out)
}

fn is_meta(k: &[u8]) -> bool {
    k.starts_with(b"m/")
}

/// A digest of the replicated family (meta keys excluded) and the applied
/// log id it describes: equal in every region at the same applied log id.
pub fn digest(store: &Store) -> (Option<LogId>, String) {
    let view = store.read();
    let applied = read_applied(view.repl.get(APPLIED_KEY).cloned()).ok().flatten();
    let mut h = Sha256::new();
    for (k, v) in view.repl.iter().filter(|(k, _)| !is_meta(k)) {
        h.update((k.len() as u32).to_be_bytes());
        h.update(k);
        h.update((v.len() as u32).to_be_bytes());
        h.update(v.as_slice());
    }
    (applied, hex::encode(h.finalize()))
}

impl StateMachine {
    /// Writes `file` as the current snapshot unless the one on disk is
    /// newer (then `Ok(false)`): through a temporary file of its own (fsync,
    /// rename, fsync of the directory), one writer at a time.
    fn write_snapshot_file(&self, file: &SnapshotFile) -> Result<bool, StorageError> {
        let bytes = serde_json::to_vec(file).map_err(|e| sm_write_err(e.to_string()))?;
        let mut on_disk = self.on_disk.lock();
        if on_disk.is_some() && *on_disk > file.meta.last_log_id {
            return Ok(false);
        }
        let tmp = self
            .snapshot_path
            .with_extension(format!("{}.tmp", uuid::Uuid::new_v4().simple()));
        let dir = self.snapshot_path.parent().map(|p| p.to_path_buf());
        let mut killed = false;
        let r = (|| -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            if self.crash.as_ref().is_some_and(|c| c.snapshot_rename_dies()) {
                // A kill here leaves the temporary file behind.
                killed = true;
                return Err(std::io::Error::other("the node died at an injected crash point"));
            }
            std::fs::rename(&tmp, &self.snapshot_path)?;
            if let Some(d) = dir {
                std::fs::File::open(d)?.sync_all()?;
            }
            Ok(())
        })();
        if r.is_err() && !killed {
            let _ = std::fs::remove_file(&tmp);
        }
        r.map_err(|e| sm_write_err(format!("snapshot file: {e}")))?;
        *on_disk = file.meta.last_log_id;
        Ok(true)
    }

    /// Hands acks to the acker; on a full queue, asks it to sweep instead.
    fn queue_acks(&self, acks: Vec<Ack>) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.acks.try_send(acks) {
            self.sweep_requested.store(true, std::sync::atomic::Ordering::Release);
            tracing::warn!(region = %self.applier.region, queue = ACK_QUEUE,
                "the ack queue is full: the acker will recompute the acks this region owes");
        }
    }

    /// Fails once the node died at a test crash point: a dead node writes nothing.
    fn alive(&self) -> Result<(), StorageError> {
        match &self.crash {
            Some(c) if c.is_dead() => Err(sm_write_err("the node died at an injected crash point")),
            _ => Ok(()),
        }
    }

    fn read_snapshot_file(&self) -> Result<Option<SnapshotFile>, StorageError> {
        match std::fs::read(&self.snapshot_path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| sm_read_err(format!("snapshot file: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(sm_read_err(format!("snapshot file: {e}"))),
        }
    }

    fn publish_applied(&self) {
        let applied = read_applied(self.store.read().repl.get(APPLIED_KEY).cloned())
            .ok()
            .flatten();
        self.applied.send_if_modified(|a| {
            if applied > *a {
                *a = applied;
                true
            } else {
                false
            }
        });
    }
}

impl StateMachine {
    /// The replicated family as a snapshot file, at the applied log id.
    fn snapshot_of_store(&self) -> Result<SnapshotFile, StorageError> {
        let (meta, data) = {
            // Under the store's read lock only as long as a consistent view
            // needs: a shallow copy (keys and shared values). Encoding, the
            // slow part, runs after it is released, so a commit waiting for
            // the write lock (and the reads queued behind it) never waits
            // for a snapshot being encoded.
            let (applied, membership, pairs) = {
                let view = self.store.read();
                let applied = read_applied(view.repl.get(APPLIED_KEY).cloned()).map_err(sm_read_err)?;
                let membership = read_membership(view.repl.get(MEMBERSHIP_KEY).cloned()).map_err(sm_read_err)?;
                let pairs: Vec<(Vec<u8>, Arc<Vec<u8>>)> = view
                    .repl
                    .iter()
                    .filter(|(k, _)| !is_meta(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                (applied, membership, pairs)
            };
            let data = encode_pairs(pairs.iter().map(|(k, v)| (k, &**v)));
            let id = match applied {
                Some(l) => format!("{}-{}-{}", l.leader_id, l.index, uuid::Uuid::new_v4().simple()),
                None => format!("empty-{}", uuid::Uuid::new_v4().simple()),
            };
            (
                SnapshotMeta {
                    last_log_id: applied,
                    last_membership: membership,
                    snapshot_id: id,
                },
                data,
            )
        };
        Ok(SnapshotFile { meta, data })
    }

    /// Before Raft starts: when the store has applied past the snapshot
    /// file, and the log either is purged past that snapshot or does not
    /// reach the applied id, writes the store's state as the snapshot file.
    /// A node killed while installing a snapshot (the store written and the
    /// log purged, the file not yet renamed) is left so; openraft would then
    /// find the log purged past the older snapshot and refuse to start, on
    /// every start. Also removes temporary snapshot files a kill left.
    pub(crate) fn snapshot_store_if_ahead(
        &self,
        log_last: Option<LogId>,
        log_purged: Option<LogId>,
    ) -> Result<bool, String> {
        if let (Some(dir), Some(name)) = (self.snapshot_path.parent(), self.snapshot_path.file_stem()) {
            let prefix = format!("{}.", name.to_string_lossy());
            for e in std::fs::read_dir(dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?
                .flatten()
            {
                let n = e.file_name().to_string_lossy().to_string();
                if n.starts_with(&prefix) && n.ends_with(".tmp") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let applied = read_applied(self.store.read().repl.get(APPLIED_KEY).cloned())?;
        let on_disk = *self.on_disk.lock();
        // openraft starts only if the log is purged no further than the
        // snapshot, and it purges up to the applied id when the log does
        // not reach it.
        let purged_past_snapshot = log_purged > on_disk;
        if applied <= on_disk || (!purged_past_snapshot && applied <= log_last) {
            return Ok(false);
        }
        let file = self.snapshot_of_store().map_err(|e| e.to_string())?;
        self.write_snapshot_file(&file).map_err(|e| e.to_string())?;
        tracing::warn!(
            region = %self.applier.region,
            applied = ?applied,
            snapshot = ?on_disk,
            log = ?log_last,
            purged = ?log_purged,
            "the store was ahead of the snapshot file and the log (a kill during a snapshot install): wrote the store's state as the snapshot"
        );
        Ok(true)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let file = self.snapshot_of_store()?;
        let meta = file.meta.clone();
        if !self.write_snapshot_file(&file)? {
            // A newer snapshot was installed meanwhile: it is the current one.
            if let Some(current) = self.read_snapshot_file()? {
                return Ok(Snapshot {
                    meta: current.meta,
                    snapshot: Box::new(Cursor::new(current.data)),
                });
            }
        }
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(file.data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), StorageError> {
        let view = self.store.read();
        let applied = read_applied(view.repl.get(APPLIED_KEY).cloned()).map_err(sm_read_err)?;
        let membership = read_membership(view.repl.get(MEMBERSHIP_KEY).cloned()).map_err(sm_read_err)?;
        Ok((applied, membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Outcome>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        self.alive()?;
        if let Some(d) = self.crash.as_ref().map(|c| c.apply_delay()).filter(|d| !d.is_zero()) {
            tokio::time::sleep(d).await;
        }
        let applier = self.applier.clone();
        let (result, _) = self
            .store
            .transact_reserved(move |txn| match applier.apply_entries(txn, &entries) {
                Ok(r) => Ok(r),
                Err(e) => {
                    txn.abort();
                    Err(e)
                }
            })
            .await
            .map_err(|e| sm_write_err(e.to_string()))?;
        let (outcomes, acks) = result.map_err(sm_write_err)?;
        self.publish_applied();
        if !acks.is_empty() {
            self.queue_acks(acks);
        }
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<SnapshotData>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, RegionNode>,
        snapshot: Box<SnapshotData>,
    ) -> Result<(), StorageError> {
        self.alive()?;
        let data = snapshot.into_inner();
        let pairs = decode_pairs(&data).map_err(sm_read_err)?;
        // Regional Multi-Region copies as they are now: any whose key the
        // snapshot no longer gives this region is retired.
        let regional: Vec<KeyId> = self
            .store
            .read()
            .keys
            .keys()
            .filter(|k| k.is_multi_region())
            .copied()
            .collect();
        let applier = self.applier.clone();
        let (last, membership) = (meta.last_log_id, meta.last_membership.clone());
        let (result, _) = self
            .store
            .transact_reserved(move |txn| {
                let r = (|| {
                    txn.clear_repl();
                    for (k, v) in pairs {
                        txn.put_repl(k, v);
                    }
                    txn.put_repl(APPLIED_KEY.to_vec(), encode(&last)?);
                    txn.put_repl(MEMBERSHIP_KEY.to_vec(), encode(&membership)?);
                    let mut acks = BTreeSet::new();
                    let ids = mrk_ids(txn);
                    for id in &ids {
                        let rec = get_mrk(txn, id)?;
                        let created = rec
                            .as_ref()
                            .map(|r| r.created)
                            .unwrap_or(tern_core::time::UnixMillis(0));
                        applier.reconcile(txn, id, rec.as_ref(), created, &mut acks)?;
                    }
                    for id in regional.iter().filter(|id| !ids.contains(id)) {
                        applier.reconcile(txn, id, None, tern_core::time::UnixMillis(0), &mut acks)?;
                    }
                    Ok::<_, String>(acks)
                })();
                if r.is_err() {
                    txn.abort();
                }
                r
            })
            .await
            .map_err(|e| sm_write_err(e.to_string()))?;
        let acks = result.map_err(sm_write_err)?;
        self.write_snapshot_file(&SnapshotFile {
            meta: meta.clone(),
            data,
        })?;
        self.installs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.publish_applied();
        if !acks.is_empty() {
            self.queue_acks(acks.into_iter().collect());
        }
        tracing::info!(region = %self.applier.region, snapshot = %meta.snapshot_id, "installed a snapshot");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self.read_snapshot_file()?.map(|f| Snapshot {
            meta: f.meta,
            snapshot: Box::new(Cursor::new(f.data)),
        }))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A state machine on a fresh store under `dir` (no crash points).
    pub(crate) fn machine(dir: &std::path::Path) -> StateMachine {
        let store = Store::open(&tern_store::StoreConfig::new(dir.join("store"))).unwrap();
        let (acks, _) = mpsc::channel(ACK_QUEUE);
        let snapshot_path = dir.join("snapshot.json");
        StateMachine {
            store,
            applier: Applier {
                region: tern_core::ids::Region::parse("us-east-1").unwrap(),
                sealing: Arc::new(tern_core::seal::SealingKey::from_seed([7; 32])),
                root: Arc::new(tern_core::crypto::RootKey::from_bytes([1; 32])),
                duplicates: Arc::default(),
            },
            on_disk: Arc::new(parking_lot::Mutex::new(snapshot_on_disk(&snapshot_path))),
            snapshot_path,
            applied: Arc::new(watch::channel(None).0),
            acks,
            sweep_requested: Arc::default(),
            installs: Arc::default(),
            crash: None,
        }
    }

    /// A full ack queue never blocks the apply and never grows: the batch
    /// is dropped and the acker is asked to recompute what is owed.
    #[test]
    fn a_full_ack_queue_drops_the_batch_and_asks_for_a_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let mut sm = machine(dir.path());
        let (tx, mut rx) = mpsc::channel(1);
        sm.acks = tx;
        let ack = |n: u8| crate::apply::Ack::ReplicaReady {
            key: KeyId::new_multi_region([n; 16]),
        };
        sm.queue_acks(vec![ack(1)]);
        assert!(!sm.sweep_requested.load(std::sync::atomic::Ordering::Acquire));
        sm.queue_acks(vec![ack(2)]);
        assert!(sm.sweep_requested.load(std::sync::atomic::Ordering::Acquire));
        assert_eq!(rx.try_recv().unwrap(), vec![ack(1)]);
        assert!(rx.try_recv().is_err(), "the second batch was dropped, not queued");
    }

    fn file_at(index: u64) -> SnapshotFile {
        SnapshotFile {
            meta: SnapshotMeta {
                last_log_id: Some(openraft::LogId::new(openraft::CommittedLeaderId::new(1, 1), index)),
                last_membership: Default::default(),
                snapshot_id: format!("s-{index}"),
            },
            data: encode_pairs(std::iter::empty()),
        }
    }

    /// Snapshot files written concurrently (builds and installs) never
    /// collide on a temporary file, and the newest one stays: an older
    /// snapshot never replaces a newer one.
    #[test]
    fn concurrent_snapshot_writes_keep_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let sm = machine(dir.path());
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let sm = sm.clone();
                std::thread::spawn(move || {
                    for i in 0..25u64 {
                        // Interleaved: some writers newer, some older.
                        let index = if t % 2 == 0 { 1000 - i * 8 - t } else { i * 8 + t };
                        sm.write_snapshot_file(&file_at(index)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let newest = 1000;
        let on_disk = sm.read_snapshot_file().unwrap().unwrap();
        assert_eq!(on_disk.meta.last_log_id.map(|l| l.index), Some(newest));
        // An older one is refused; a fresh handle on the directory agrees.
        assert!(!sm.write_snapshot_file(&file_at(5)).unwrap());
        assert_eq!(
            snapshot_on_disk(&dir.path().join("snapshot.json")).map(|l| l.index),
            Some(newest)
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left behind");
    }
}
