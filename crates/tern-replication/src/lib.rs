//! tern-replication: Multi-Region keys over one openraft group, one voter
//! per region.
//!
//! - [`log_store`]: the Raft log and vote on their own RocksDB, synced.
//! - [`state_machine`]: applies entries into the region's store, in the
//!   same synced batch as the applied log id and the regional re-wrap.
//! - [`apply`]: the commands' compare-and-set semantics.
//! - [`network`] / [`server`]: the tonic peer transport, with a
//!   [`fault::FaultPlan`] in front of every message.
//! - [`Replication`]: proposing with forwarding to the leader, deadlines,
//!   retry under the same request id and read-your-writes; acks; metrics.
//!
//! Must never: acknowledge a write before this region has applied it; make
//! material current before every region holding the key has acked it;
//! return a storage error for a client's failed precondition.

// openraft's StorageError and tonic's Status are large by design; every
// fallible function here returns one of them.
#![allow(clippy::result_large_err)]

pub mod apply;
mod authority;
pub mod command;
pub mod fault;
pub mod log_store;
pub mod network;
pub mod server;
pub mod state_machine;
#[cfg(test)]
mod storage_suite;
pub mod tls;
mod transition;
pub mod types;
pub mod vote_guard;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::{ChangeMembers, Config, ServerState, SnapshotPolicy};
use tern_core::crypto::RootKey;
use tern_core::ids::{KeyId, Region};
use tern_core::seal::{SealingKey, SealingPublicKey};
use tern_store::Store;
use tokio::sync::{mpsc, watch};

use crate::apply::{Ack, Applier};
use crate::command::{Command, MrkRecord, Op, Outcome};
use crate::fault::FaultPlan;
use crate::log_store::LogStore;
use crate::network::{Dialer, Network, Rpc};
use crate::server::ForwardReply;
use crate::state_machine::StateMachine;
pub use crate::tls::{ClusterCa, PeerTls};
pub use crate::types::{LogId, NodeId, Raft, RegionNode};

/// One region of the cluster as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub node_id: NodeId,
    pub node: RegionNode,
}

/// Raft timing derived from the largest round-trip time between regions,
/// not openraft's LAN defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub heartbeat: Duration,
    pub election_min: Duration,
    pub election_max: Duration,
    pub snapshot_install: Duration,
    /// How long the leader waits after one acknowledgement for others to
    /// put in the same entry.
    pub ack_window: Duration,
}

impl Timing {
    /// Heartbeat every max(50 ms, 2 RTT); elections after 6–12 heartbeats,
    /// so a slow WAN round trip never looks like a dead leader.
    pub fn from_max_rtt(rtt: Duration) -> Timing {
        let heartbeat = (rtt * 2).max(Duration::from_millis(50));
        Timing {
            heartbeat,
            election_min: heartbeat * 6,
            election_max: heartbeat * 12,
            snapshot_install: (rtt * 40).max(Duration::from_secs(10)),
            ack_window: ACK_WINDOW,
        }
    }
}

/// What a write on the leader returns.
pub(crate) type WriteResult = Result<(LogId, Outcome), RaftError<NodeId, ClientWriteError<NodeId, RegionNode>>>;
type GatherJob = (Command, tokio::sync::oneshot::Sender<WriteResult>);

/// Keeps `since` = when this region last stopped knowing a leader.
async fn watch_leader(
    mut rx: watch::Receiver<openraft::RaftMetrics<NodeId, RegionNode>>,
    since: Arc<parking_lot::Mutex<Option<Instant>>>,
) {
    loop {
        let knows = rx.borrow_and_update().current_leader.is_some();
        {
            let mut s = since.lock();
            match (knows, s.is_some()) {
                (true, _) => *s = None,
                (false, false) => *s = Some(Instant::now()),
                (false, true) => {}
            }
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Followers' acks of one entry travel the same path (commit notice,
/// apply, forward) and reach the leader within a few milliseconds of each
/// other whatever the RTT. (The leader's own ack comes about a round trip
/// earlier; on loopback it joins them, on a WAN it goes alone.) Measured on
/// loopback: 3 ms gathered too little (decrypt under rotation 0.88–0.91×),
/// 7 ms enough (0.93–0.95×) for 9 ms more activation latency at p50.
const ACK_WINDOW: Duration = Duration::from_millis(7);

/// The most acknowledgements one entry carries.
const MAX_ACKS_PER_ENTRY: usize = 64;

/// Gathers acknowledgements arriving at the leader within `window` of the
/// first into one [`Op::Acks`] entry: after AddMaterial commits, every
/// holder region acks within about a round trip, so a rotation costs two
/// entries instead of one plus one per region (each entry is replicated,
/// synced and applied in every region).
async fn run_gatherer(
    raft: Raft,
    mut rx: mpsc::Receiver<GatherJob>,
    window: Duration,
    gathered: Arc<std::sync::atomic::AtomicU64>,
) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        let until = tokio::time::Instant::now() + window;
        while jobs.len() < MAX_ACKS_PER_ENTRY {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(j)) => jobs.push(j),
                _ => break,
            }
        }
        let (raft, gathered) = (raft.clone(), gathered.clone());
        // The next batch gathers while this one commits.
        tokio::spawn(async move {
            if jobs.len() == 1 {
                let (cmd, tx) = jobs.remove(0);
                let _ = tx.send(raft.client_write(cmd).await.map(|r| (r.log_id, r.data)));
                return;
            }
            gathered.fetch_add(jobs.len() as u64, std::sync::atomic::Ordering::Relaxed);
            let (cmds, txs): (Vec<Command>, Vec<_>) = jobs.into_iter().unzip();
            let gathered = Command {
                request_id: format!("acks/{}", uuid::Uuid::new_v4()),
                proposed_at: cmds
                    .iter()
                    .map(|c| c.proposed_at)
                    .max()
                    .unwrap_or(tern_core::time::UnixMillis(0)),
                op: Op::Acks(cmds),
                service_made: true,
                author: None,
                signature: None,
            };
            match raft.client_write(gathered).await {
                Ok(r) => {
                    let each = match r.data {
                        Outcome::Each(v) if v.len() == txs.len() => v,
                        other => vec![other; txs.len()],
                    };
                    for (tx, outcome) in txs.into_iter().zip(each) {
                        let _ = tx.send(Ok((r.log_id, outcome)));
                    }
                }
                Err(e) => {
                    for tx in txs {
                        let _ = tx.send(Err(e.clone()));
                    }
                }
            }
        });
    }
}

/// Acknowledgements waiting for the leader's gatherer. When full, an ack is
/// written in an entry of its own (nothing waits unbounded).
pub const GATHER_QUEUE: usize = 4096;

/// Ack proposals one acker pass runs at once.
pub const ACKS_IN_FLIGHT: usize = 64;

/// Election timeouts without a leader and without contact with a majority
/// after which a region counts itself cut off (measured with two: a
/// follower in the majority sometimes went over 1.8 election timeouts
/// before its own election began, after the leader stopped).
pub const CUT_OFF_ELECTIONS: u32 = 4;

/// How a region joins the Multi-Region group.
#[derive(Clone)]
pub struct ReplicationConfig {
    pub region: Region,
    pub node_id: NodeId,
    /// Every region of the cluster (this one included), used to form the
    /// group on first start.
    pub members: Vec<Member>,
    /// `<data dir>/raft`.
    pub dir: PathBuf,
    pub timing: Timing,
    /// Build a snapshot (and compact the log) every this many entries.
    pub snapshot_every: u64,
    pub plan: Arc<FaultPlan>,
    /// This region's certificate and the cluster CA, for the peer port.
    pub tls: Arc<PeerTls>,
    pub sealing: SealingKey,
    pub root: RootKey,
}

impl std::fmt::Debug for ReplicationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicationConfig")
            .field("region", &self.region)
            .field("node_id", &self.node_id)
            .field("members", &self.members)
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

/// Why a proposal did not produce an outcome.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposeError {
    /// This region cannot reach a quorum (or no leader is known): the write
    /// was not made. Retryable.
    #[error("{0}")]
    Unavailable(String),
    /// The write may or may not have been made; retrying with the same
    /// request id is safe.
    #[error("{0}")]
    Indeterminate(String),
    #[error("{0}")]
    Fatal(String),
}

/// Replication health of one region, for metrics and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationMetrics {
    pub region: Region,
    pub node_id: NodeId,
    pub term: u64,
    pub state: String,
    pub leader: Option<NodeId>,
    pub leader_region: Option<String>,
    pub last_log_index: Option<u64>,
    pub committed_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    /// On the leader: entries each follower is behind the leader's log.
    pub lag_entries: BTreeMap<NodeId, u64>,
    /// On the leader: how long the oldest entry each follower has not yet
    /// received has been in the leader's log (zero when it has them all).
    pub lag_time: BTreeMap<NodeId, Duration>,
    /// How long the oldest entry this region holds but has not applied has
    /// been here (zero when it has applied everything it holds).
    pub apply_lag: Duration,
    pub millis_since_quorum_ack: Option<u64>,
    pub snapshots_installed: u64,
    /// Entries this region applied whose request id was already applied.
    pub duplicates_applied: u64,
    /// Acknowledgements this region, as leader, put in shared entries.
    pub acks_gathered: u64,
    /// Proposals from this region retried after an attempt that may have
    /// been made (lost reply, timeout), under the same request id.
    pub retries_after_timeout: u64,
}

struct Inner {
    region: Region,
    node_id: NodeId,
    raft: Raft,
    store: Store,
    log: LogStore,
    dialer: Dialer,
    timing: Timing,
    applied: watch::Receiver<Option<LogId>>,
    installs: Arc<std::sync::atomic::AtomicU64>,
    duplicates: Arc<std::sync::atomic::AtomicU64>,
    retries_after_timeout: std::sync::atomic::AtomicU64,
    incarnation: String,
    sealing_public: SealingPublicKey,
    /// This region's command-signing key (derived from its sealing seed).
    signing: tern_core::sign::CommandSigningKey,
    acker: parking_lot::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// When this node started.
    started: Instant,
    /// Since when this region has known no leader (`None` while it knows
    /// one), kept by a task watching the Raft metrics.
    leaderless_since: Arc<parking_lot::Mutex<Option<Instant>>>,
    /// Acknowledgements to gather into one entry (while this region leads).
    gather: mpsc::Sender<GatherJob>,
    /// Acknowledgements this region (as leader) put in shared entries.
    gathered: Arc<std::sync::atomic::AtomicU64>,
    /// The last log index a candidate needs for this node's vote
    /// ([`vote_guard::NO_VOTES`]: none gets it; see [`vote_guard`]).
    vote_min_log: std::sync::atomic::AtomicU64,
    guard: parking_lot::Mutex<vote_guard::VoteGuardStatus>,
}

/// A region's handle on the Multi-Region group. Cheap to clone.
#[derive(Clone)]
pub struct Replication {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Replication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replication")
            .field("region", &self.inner.region)
            .field("node_id", &self.inner.node_id)
            .finish_non_exhaustive()
    }
}

/// A short pause between attempts of one proposal (bounded by its deadline).
const RETRY_PAUSE: Duration = Duration::from_millis(25);

impl Replication {
    /// Opens the log, starts the Raft node, and on a fresh data directory
    /// forms the group from `members`.
    pub async fn start(cfg: ReplicationConfig, store: Store) -> Result<Replication, String> {
        // This region's storage crash points (tests only: nothing outside
        // the process can arm them; an empty plan costs one atomic load).
        let crash = Some(fault::CrashSite::new(cfg.plan.clone(), cfg.region.as_str()));
        let signing = tern_core::sign::CommandSigningKey::derive(&cfg.sealing).map_err(|e| e.to_string())?;
        let log = LogStore::open_with_crash_site(&cfg.dir.join("log"), crash.clone())?;
        let fresh = log.is_fresh()?;
        let incarnation = log.incarnation()?;
        let (applied_tx, applied_rx) = watch::channel(None);
        let (acks_tx, acks_rx) = mpsc::channel(state_machine::ACK_QUEUE);
        let sweep_requested = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let installs = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let duplicates = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let sm = StateMachine {
            store: store.clone(),
            applier: Applier {
                region: cfg.region.clone(),
                sealing: Arc::new(cfg.sealing.clone()),
                root: Arc::new(cfg.root.clone()),
                duplicates: duplicates.clone(),
            },
            on_disk: Arc::new(parking_lot::Mutex::new(state_machine::snapshot_on_disk(
                &cfg.dir.join("snapshot.json"),
            ))),
            snapshot_path: cfg.dir.join("snapshot.json"),
            applied: Arc::new(applied_tx),
            acks: acks_tx,
            sweep_requested: sweep_requested.clone(),
            installs: installs.clone(),
            crash,
        };
        {
            use openraft::storage::RaftLogStorage;
            let state = log
                .clone()
                .get_log_state()
                .await
                .map_err(|e| format!("raft log: {e}"))?;
            sm.snapshot_store_if_ahead(state.last_log_id, state.last_purged_log_id)?;
        }
        let t = cfg.timing;
        let raft_config = Config {
            cluster_name: "tern-mrk".into(),
            heartbeat_interval: t.heartbeat.as_millis() as u64,
            election_timeout_min: t.election_min.as_millis() as u64,
            election_timeout_max: t.election_max.as_millis() as u64,
            install_snapshot_timeout: t.snapshot_install.as_millis() as u64,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_every.max(1)),
            max_in_snapshot_log_to_keep: 0,
            purge_batch_size: cfg.snapshot_every.clamp(1, 64),
            ..Default::default()
        }
        .validate()
        .map_err(|e| format!("raft config: {e}"))?;
        let dialer = Dialer::new(cfg.region.as_str(), cfg.plan.clone(), cfg.tls.clone());
        let network = Network { dialer: dialer.clone() };
        let raft = Raft::new(cfg.node_id, Arc::new(raft_config), network, log.clone(), sm.clone())
            .await
            .map_err(|e| format!("raft: {e}"))?;
        // Whatever the state machine applied before a restart is visible now.
        {
            let applied = apply::read_applied(store.read().repl.get(apply::APPLIED_KEY).cloned())?;
            sm.applied.send_replace(applied);
        }
        if fresh {
            refuse_lost_voter(&cfg, &incarnation).await?;
        }
        // The restart vote guard: the voters of the applied membership, or
        // of the configured members while none is applied.
        let voters: BTreeMap<NodeId, RegionNode> = {
            let m = apply::read_membership(store.read().repl.get(apply::MEMBERSHIP_KEY).cloned())?;
            let logged: BTreeMap<NodeId, RegionNode> = m
                .membership()
                .voter_ids()
                .filter_map(|id| Some((id, m.membership().get_node(&id)?.clone())))
                .collect();
            if logged.is_empty() {
                cfg.members.iter().map(|m| (m.node_id, m.node.clone())).collect()
            } else {
                logged
            }
        };
        let needed = if voters.contains_key(&cfg.node_id) {
            vote_guard::peers_needed(voters.len())
        } else {
            0
        };
        if needed > 0 {
            raft.runtime_config().elect(false);
        }
        if fresh && !cfg.members.is_empty() {
            let members: BTreeMap<NodeId, RegionNode> =
                cfg.members.iter().map(|m| (m.node_id, m.node.clone())).collect();
            if !members.contains_key(&cfg.node_id) {
                return Err(format!(
                    "node {} ({}) is not among the configured members",
                    cfg.node_id, cfg.region
                ));
            }
            match raft.initialize(members).await {
                Ok(()) => {}
                Err(RaftError::APIError(openraft::error::InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(format!("forming the group: {e}")),
            }
        }
        let leaderless_since = Arc::new(parking_lot::Mutex::new(None));
        tokio::spawn(watch_leader(raft.metrics(), leaderless_since.clone()));
        let (gather_tx, gather_rx) = mpsc::channel(GATHER_QUEUE);
        let gathered = Arc::new(std::sync::atomic::AtomicU64::new(0));
        tokio::spawn(run_gatherer(raft.clone(), gather_rx, t.ack_window, gathered.clone()));
        let r = Replication {
            inner: Arc::new(Inner {
                region: cfg.region.clone(),
                node_id: cfg.node_id,
                raft,
                store,
                log,
                dialer,
                timing: t,
                applied: applied_rx,
                installs,
                duplicates,
                retries_after_timeout: std::sync::atomic::AtomicU64::new(0),
                incarnation,
                sealing_public: cfg.sealing.public(),
                signing,
                acker: parking_lot::Mutex::new(None),
                started: Instant::now(),
                leaderless_since: leaderless_since.clone(),
                gather: gather_tx,
                gathered,
                vote_min_log: std::sync::atomic::AtomicU64::new(if needed == 0 { 0 } else { vote_guard::NO_VOTES }),
                guard: parking_lot::Mutex::new(vote_guard::VoteGuardStatus {
                    open: needed == 0,
                    needed,
                    answered: Vec::new(),
                    catching_up_to: None,
                }),
            }),
        };
        if needed > 0 {
            let peers: Vec<RegionNode> = voters
                .iter()
                .filter(|(id, _)| **id != cfg.node_id)
                .map(|(_, n)| n.clone())
                .collect();
            tokio::spawn(vote_guard::run(Arc::downgrade(&r.inner), peers, needed, fresh));
        }
        let acker = tokio::spawn(run_acker(Arc::downgrade(&r.inner), acks_rx, sweep_requested));
        *r.inner.acker.lock() = Some(acker);
        Ok(r)
    }

    pub fn region(&self) -> &Region {
        &self.inner.region
    }

    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    pub fn raft(&self) -> &Raft {
        &self.inner.raft
    }

    pub fn timing(&self) -> Timing {
        self.inner.timing
    }

    pub fn fault_plan(&self) -> &Arc<FaultPlan> {
        self.inner.dialer.plan()
    }

    /// This region's sealing public key.
    pub fn sealing_public(&self) -> SealingPublicKey {
        self.inner.sealing_public
    }

    /// The peer gRPC service to mount on the peer port.
    pub fn peer_service(&self) -> tern_proto::raft_pb::raft_peer_server::RaftPeerServer<server::PeerService> {
        server::PeerService::new(self.clone()).into_server()
    }

    /// Regions in the applied membership and their nodes.
    pub fn members(&self) -> BTreeMap<NodeId, RegionNode> {
        let m = self.inner.raft.metrics().borrow().membership_config.clone();
        m.membership().nodes().map(|(id, n)| (*id, n.clone())).collect()
    }

    /// Voter regions' sealing public keys, by region.
    pub fn sealing_keys(&self) -> BTreeMap<Region, SealingPublicKey> {
        self.members()
            .into_values()
            .filter_map(|n| {
                Some((
                    Region::parse(&n.region).ok()?,
                    SealingPublicKey::from_hex(&n.sealing_key).ok()?,
                ))
            })
            .collect()
    }

    /// The replicated record of a Multi-Region key, as this region applied it.
    pub fn mrk(&self, key: &KeyId) -> Option<MrkRecord> {
        let b = self.inner.store.read().repl.get(&apply::mrk_key(key)).cloned()?;
        serde_json::from_slice(&b).ok()
    }

    /// Every replicated Multi-Region key record.
    pub fn mrks(&self) -> Vec<MrkRecord> {
        let view = self.inner.store.read();
        view.repl
            .range(b"k/".to_vec()..)
            .take_while(|(k, _)| k.starts_with(b"k/"))
            .filter_map(|(_, v)| serde_json::from_slice(v).ok())
            .collect()
    }

    /// The outcome this region applied for a client request id, while the
    /// log remembers it (see [`apply::DEDUP_KEEP_MILLIS`]).
    pub fn remembered_outcome(&self, request_id: &str) -> Option<Outcome> {
        let b = self
            .inner
            .store
            .read()
            .repl
            .get(&apply::dedup_key(request_id))
            .cloned()?;
        serde_json::from_slice::<apply::DedupRecord>(&b).ok().map(|d| d.outcome)
    }

    /// Whether this node grants votes and campaigns as plain Raft does:
    /// false after a start until the [`vote_guard`] has heard from enough
    /// peers and this node has caught up with them.
    pub fn may_vote(&self) -> bool {
        self.vote_min_log() == 0
    }

    /// The last log index a candidate needs for this node's vote
    /// ([`vote_guard::NO_VOTES`] while it grants none).
    pub fn vote_min_log(&self) -> u64 {
        self.inner.vote_min_log.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// What the restart vote guard has seen.
    pub fn vote_guard(&self) -> vote_guard::VoteGuardStatus {
        self.inner.guard.lock().clone()
    }

    pub fn applied(&self) -> Option<LogId> {
        *self.inner.applied.borrow()
    }

    /// The digest of the replicated families and the applied log id.
    pub fn digest(&self) -> (Option<LogId>, String) {
        state_machine::digest(&self.inner.store)
    }

    pub fn metrics(&self) -> ReplicationMetrics {
        let m = self.inner.raft.metrics().borrow().clone();
        let leader_region = m
            .current_leader
            .and_then(|l| m.membership_config.membership().get_node(&l).map(|n| n.region.clone()));
        let last = m.last_log_index.unwrap_or(0);
        let matched: Vec<(NodeId, Option<u64>)> = m
            .replication
            .iter()
            .flatten()
            .map(|(id, l)| (*id, l.map(|l| l.index)))
            .collect();
        let lag_entries = matched
            .iter()
            .map(|(id, i)| (*id, last.saturating_sub(i.unwrap_or(0))))
            .collect();
        let lag_time = matched
            .iter()
            .map(|(id, i)| (*id, self.inner.log.lag_behind(*i)))
            .collect();
        ReplicationMetrics {
            region: self.inner.region.clone(),
            node_id: self.inner.node_id,
            term: m.current_term,
            state: format!("{:?}", m.state),
            leader: m.current_leader,
            leader_region,
            last_log_index: m.last_log_index,
            committed_index: self.inner.log.committed().borrow().map(|l| l.index),
            applied_index: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            lag_entries,
            lag_time,
            apply_lag: self.inner.log.lag_behind(m.last_applied.map(|l| l.index)),
            millis_since_quorum_ack: m.millis_since_quorum_ack,
            snapshots_installed: self.inner.installs.load(std::sync::atomic::Ordering::Relaxed),
            duplicates_applied: self.inner.duplicates.load(std::sync::atomic::Ordering::Relaxed),
            acks_gathered: self.inner.gathered.load(std::sync::atomic::Ordering::Relaxed),
            retries_after_timeout: self
                .inner
                .retries_after_timeout
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Waits (bounded) until this region has applied everything it knows to
    /// be committed. Used before answering "unknown material": a region
    /// that is behind may be about to learn it.
    pub async fn catch_up(&self, timeout: Duration) -> bool {
        let Some(target) = *self.inner.log.committed().borrow() else {
            return true;
        };
        self.wait_applied(target.index, Instant::now() + timeout).await
    }

    /// Whether this region's applied index is behind the commit index it knows.
    pub fn is_behind(&self) -> bool {
        let committed = self.inner.log.committed().borrow().map(|l| l.index);
        let applied = self.applied().map(|l| l.index);
        committed > applied
    }

    async fn wait_applied(&self, index: u64, deadline: Instant) -> bool {
        let mut rx = self.inner.applied.clone();
        let r = tokio::time::timeout_at(deadline.into(), rx.wait_for(|a| a.is_some_and(|l| l.index >= index))).await;
        matches!(r, Ok(Ok(_)))
    }

    /// Notes that a message from node `from` reached this region.
    pub(crate) fn heard_from(&self, from: NodeId) {
        // Every AppendEntries comes through here: look the node up under the
        // metrics borrow instead of cloning the membership each time.
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        if let Some(n) = m.membership_config.membership().get_node(&from) {
            self.inner.dialer.contacts().saw(&n.region);
        }
    }

    /// Whether this region exchanged messages with a majority of the voter
    /// regions (itself included) within `within`.
    fn in_touch_with_majority(&self, within: Duration) -> bool {
        let m = self.inner.raft.metrics().borrow().membership_config.clone();
        let membership = m.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let contacts = self.inner.dialer.contacts();
        let in_touch = voters
            .iter()
            .filter(|id| {
                **id == self.inner.node_id
                    || membership
                        .get_node(id)
                        .is_some_and(|n| contacts.recent(&n.region, within))
            })
            .count();
        in_touch > voters.len() / 2
    }

    /// Fails fast when this region is cut off from the majority: a leader
    /// that has not heard from a quorum within an election timeout; a
    /// region that knows no leader and has exchanged no message with a
    /// majority for [`CUT_OFF_ELECTIONS`] election timeouts (however long ago the partition
    /// began, so a request to a region cut off for a while fails at once);
    /// or no known leader for an election timeout (since a proposal here
    /// first found none).
    fn reachability(&self) -> Result<Option<(NodeId, RegionNode)>, ProposeError> {
        let m = self.inner.raft.metrics().borrow().clone();
        let limit = self.inner.timing.election_max;
        if m.state == ServerState::Leader {
            if m.millis_since_quorum_ack
                .is_some_and(|ms| Duration::from_millis(ms) > limit)
            {
                return Err(ProposeError::Unavailable(format!(
                    "Region {} cannot reach a majority of the Regions; Multi-Region writes are unavailable here.",
                    self.inner.region
                )));
            }
            return Ok(None);
        }
        match m.current_leader {
            Some(l) if l != self.inner.node_id => {
                let node = m.membership_config.membership().get_node(&l).cloned();
                Ok(node.map(|n| (l, n)))
            }
            _ => {
                // No leader, and no message to or from a majority for
                // CUT_OFF_ELECTIONS election timeouts: a leaderless region
                // in the majority runs an election (vote answers count) or
                // hears from a new leader well within that, so this one is
                // cut off — and says so at once, however long ago the cut
                // began.
                let window = limit * CUT_OFF_ELECTIONS;
                if self.inner.started.elapsed() > window && !self.in_touch_with_majority(window) {
                    return Err(ProposeError::Unavailable(format!(
                        "Region {} cannot reach a majority of the Regions; Multi-Region writes are unavailable here (last contacts: {}).",
                        self.inner.region,
                        self.inner.dialer.contacts().describe()
                    )));
                }
                // Since when this region has known no leader: a request
                // late in a leaderless stretch fails at once.
                let since = self.inner.leaderless_since.lock().unwrap_or_else(Instant::now);
                if since.elapsed() > limit {
                    Err(ProposeError::Unavailable(format!(
                        "Region {} knows no Multi-Region leader; Multi-Region writes are unavailable here.",
                        self.inner.region
                    )))
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// Proposes `cmd` and returns its outcome once this region has applied
    /// it. Forwards to the leader; retries lost attempts with the same
    /// request id until `timeout`.
    pub async fn propose(&self, mut cmd: Command, timeout: Duration) -> Result<Outcome, ProposeError> {
        // This region speaks for itself only: every command it makes is
        // signed with its key (each region checks it on apply).
        cmd.sign(&self.inner.region, &self.inner.signing)
            .map_err(|e| ProposeError::Fatal(e.to_string()))?;
        let deadline = Instant::now() + timeout;
        let mut last_error = String::from("no attempt made");
        let mut maybe_made = false;
        loop {
            if Instant::now() >= deadline {
                return Err(if maybe_made {
                    ProposeError::Indeterminate(format!("Multi-Region write timed out: {last_error}"))
                } else {
                    ProposeError::Unavailable(format!("Multi-Region write timed out: {last_error}"))
                });
            }
            let target = match self.reachability() {
                Ok(t) => t,
                // An earlier attempt may have been made: the write is not
                // known to have failed, whatever this region sees now.
                Err(ProposeError::Unavailable(m)) if maybe_made => {
                    return Err(ProposeError::Indeterminate(format!(
                        "{m} An earlier attempt: {last_error}"
                    )))
                }
                Err(e) => return Err(e),
            };
            let attempt = match target {
                None => {
                    // A leader without a quorum never commits: bound the
                    // attempt, then look at the quorum again.
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    let cap = remaining.min(self.inner.timing.election_max * 2);
                    match tokio::time::timeout(cap, self.write_local(&cmd)).await {
                        Ok(r) => r,
                        Err(_) => Err(Attempt::Retry {
                            error: "the leader did not commit in time".into(),
                            maybe_made: true,
                        }),
                    }
                }
                Some((_, node)) => {
                    // Bounded too: a connection to a leader behind a cut can
                    // hang without a reset; after an election timeout this
                    // region knows better whom (or whether) to ask.
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    self.forward(&node, &cmd, remaining.min(self.inner.timing.election_max))
                        .await
                }
            };
            match attempt {
                Ok((log_id, outcome)) => {
                    if self.wait_applied(log_id.index, deadline).await {
                        return Ok(outcome);
                    }
                    return Err(ProposeError::Indeterminate(
                        "the write committed but this Region has not applied it yet".into(),
                    ));
                }
                Err(Attempt::Retry { error, maybe_made: m }) => {
                    if m {
                        self.inner
                            .retries_after_timeout
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    last_error = error;
                    maybe_made |= m;
                    let pause = RETRY_PAUSE.min(deadline.saturating_duration_since(Instant::now()));
                    tokio::time::sleep(pause).await;
                }
                Err(Attempt::Fatal(e)) => return Err(ProposeError::Fatal(e)),
            }
        }
    }

    /// Writes `cmd` through this (leader) region's Raft node; an
    /// acknowledgement goes through the gatherer, which may put it in one
    /// entry with others.
    pub(crate) async fn leader_write(&self, cmd: Command) -> WriteResult {
        if cmd.op.is_ack() {
            let (tx, rx) = tokio::sync::oneshot::channel();
            // A full gatherer (GATHER_QUEUE): the ack goes in an entry of its own.
            if self.inner.gather.try_send((cmd.clone(), tx)).is_ok() {
                if let Ok(r) = rx.await {
                    return r;
                }
            }
        }
        self.inner.raft.client_write(cmd).await.map(|r| (r.log_id, r.data))
    }

    async fn write_local(&self, cmd: &Command) -> Result<(LogId, Outcome), Attempt> {
        match self.leader_write(cmd.clone()).await {
            Ok(r) => Ok(r),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => Err(Attempt::Retry {
                error: "leadership moved".into(),
                maybe_made: false,
            }),
            Err(RaftError::APIError(e)) => Err(Attempt::Retry {
                error: e.to_string(),
                maybe_made: false,
            }),
            Err(RaftError::Fatal(e)) => Err(Attempt::Fatal(e.to_string())),
        }
    }

    async fn forward(
        &self,
        leader: &RegionNode,
        cmd: &Command,
        timeout: Duration,
    ) -> Result<(LogId, Outcome), Attempt> {
        let ch = self.inner.dialer.channel(leader).map_err(|e| Attempt::Retry {
            error: e.to_string(),
            maybe_made: false,
        })?;
        let reply: Result<ForwardReply, _> = ch.call(Rpc::Forward, cmd, timeout).await;
        match reply {
            Ok(ForwardReply::Done { log_id, outcome }) => Ok((log_id, outcome)),
            Ok(ForwardReply::NotLeader) => Err(Attempt::Retry {
                error: format!("{} is no longer the leader", leader.region),
                maybe_made: false,
            }),
            Ok(ForwardReply::Failed(e)) => Err(Attempt::Retry {
                error: e,
                maybe_made: true,
            }),
            Err(e) => Err(Attempt::Retry {
                error: e.to_string(),
                maybe_made: true,
            }),
        }
    }

    /// Adds a region: learner first (catching up, by snapshot if needed),
    /// then voter. Call on the leader.
    pub async fn add_region(&self, member: Member) -> Result<(), String> {
        let raft = &self.inner.raft;
        raft.add_learner(member.node_id, member.node.clone(), true)
            .await
            .map_err(|e| format!("adding {} as a learner: {e}", member.node.region))?;
        let mut voters: BTreeSet<NodeId> = raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect();
        voters.insert(member.node_id);
        raft.change_membership(voters, true)
            .await
            .map_err(|e| format!("making {} a voter: {e}", member.node.region))?;
        Ok(())
    }

    /// Marks `region` leaving (or not) through the log.
    async fn set_leaving(&self, region: &Region, leaving: bool) -> Result<(), String> {
        let cmd = Command {
            request_id: uuid::Uuid::new_v4().to_string(),
            proposed_at: now_millis(),
            op: Op::SetLeaving {
                region: region.clone(),
                leaving,
            },
            service_made: false,
            author: None,
            signature: None,
        };
        match self.propose(cmd, self.inner.timing.election_max * 5).await {
            Ok(Outcome::Applied | Outcome::None) => Ok(()),
            Ok(Outcome::Rejected(r)) => Err(r.message),
            Ok(Outcome::Each(_)) => Err("unexpected outcome".into()),
            Err(e) => Err(format!("marking {region} leaving: {e}")),
        }
    }

    /// Removes a region from the group. Refused while the region is the
    /// primary Region of any Multi-Region key (checked in the log). Call on
    /// the leader.
    pub async fn remove_region(&self, node_id: NodeId) -> Result<(), String> {
        let members = self.members();
        let node = members
            .get(&node_id)
            .ok_or_else(|| format!("node {node_id} is not a member"))?;
        let region = Region::parse(&node.region).map_err(|e| format!("node {node_id}: {e}"))?;
        // The "not a primary" check goes through the log, and marks the
        // region leaving in the same step: an UpdatePrimaryRegion to it
        // ordered after the mark is refused, one ordered before it makes
        // the mark refused.
        self.set_leaving(&region, true).await?;
        let raft = &self.inner.raft;
        let removed = raft
            .change_membership(ChangeMembers::RemoveVoters([node_id].into_iter().collect()), false)
            .await
            .map_err(|e| format!("removing {region}: {e}"));
        if let Err(e) = removed {
            // Still a member: let it be a primary again.
            if let Err(undo) = self.set_leaving(&region, false).await {
                tracing::warn!(%region, error = %undo, "could not clear the leaving mark; run remove_region again or re-add the region");
            }
            return Err(e);
        }
        Ok(())
    }

    /// Stops the Raft node and the acker.
    pub async fn shutdown(&self) {
        if let Some(h) = self.inner.acker.lock().take() {
            h.abort();
        }
        let _ = self.inner.raft.shutdown().await;
    }

    /// The incarnation id the applied state records for `node_id`.
    pub fn incarnation_of(&self, node_id: NodeId) -> Option<String> {
        let b = self
            .inner
            .store
            .read()
            .repl
            .get(&apply::incarnation_key(node_id))
            .cloned()?;
        serde_json::from_slice(&b).ok()
    }

    /// Acks this region owes according to the applied state (after a
    /// restart, a snapshot install, or a failed ack proposal).
    fn owed_acks(&self) -> Vec<Ack> {
        let me = &self.inner.region;
        let mut out = Vec::new();
        if self.incarnation_of(self.inner.node_id).as_deref() != Some(self.inner.incarnation.as_str())
            && self.members().contains_key(&self.inner.node_id)
        {
            out.push(Ack::Incarnation);
        }
        let view = self.inner.store.read();
        for rec in self.mrks() {
            if !rec.holds(me) {
                continue;
            }
            let Some(local) = view.keys.get(&rec.key) else { continue };
            if let Some(p) = &rec.pending {
                if !p.acks.contains(me) && local.material(&p.material.id).is_some() {
                    out.push(Ack::MaterialApplied {
                        key: rec.key,
                        material: p.material.id,
                    });
                }
            }
            if rec.status_of(me) == Some(command::ReplicaStatus::Creating) {
                out.push(Ack::ReplicaReady { key: rec.key });
            }
        }
        out
    }
}

/// A node on an empty Raft directory (a new incarnation) asks its peers
/// which incarnation the group recorded for its node id: another one means
/// its vote and log were lost, and rejoining under the same id could let it
/// vote twice in a term. It must be removed and re-added as a learner under
/// a new node id instead.
async fn refuse_lost_voter(cfg: &ReplicationConfig, incarnation: &str) -> Result<(), String> {
    let node_id = cfg.node_id;
    let mut asks = tokio::task::JoinSet::new();
    let dialer = Dialer::new(cfg.region.as_str(), cfg.plan.clone(), cfg.tls.clone());
    for m in cfg.members.iter().filter(|m| m.node_id != cfg.node_id) {
        let ch = match dialer.channel(&m.node) {
            Ok(c) => c,
            Err(_) => continue,
        };
        asks.spawn(async move {
            let r: Result<server::HelloReply, _> = ch.call(Rpc::Hello, &node_id, Duration::from_secs(2)).await;
            (ch.to_region, r.ok())
        });
    }
    while let Some(r) = asks.join_next().await {
        if let Ok((peer, Some(h))) = r {
            if h.incarnation.as_deref().is_some_and(|i| i != incarnation) {
                return Err(format!(
                    "this node's Raft state is missing, but {peer} counts node {} ({}) as a voter: \
                     its vote and log were lost. Remove node {} from the cluster, then add this \
                     region back as a learner under a new node id",
                    cfg.node_id, cfg.region, cfg.node_id
                ));
            }
        }
    }
    Ok(())
}

/// One attempt's failure.
enum Attempt {
    Retry { error: String, maybe_made: bool },
    Fatal(String),
}

fn ack_command(r: &Replication, ack: &Ack, now: tern_core::time::UnixMillis) -> Command {
    let region = &r.inner.region;
    match ack {
        Ack::Incarnation => Command {
            request_id: format!("incarnation/{}/{}", r.inner.node_id, r.inner.incarnation),
            proposed_at: now,
            op: Op::RegisterIncarnation {
                node_id: r.inner.node_id,
                incarnation: r.inner.incarnation.clone(),
            },
            service_made: true,
            author: None,
            signature: None,
        },
        Ack::MaterialApplied { key, material } => Command {
            request_id: format!("ack-material/{key}/{material}/{region}"),
            proposed_at: now,
            op: Op::MaterialApplied {
                key: *key,
                material: *material,
                region: region.clone(),
            },
            service_made: true,
            author: None,
            signature: None,
        },
        Ack::ReplicaReady { key } => Command {
            request_id: format!("ack-ready/{key}/{region}"),
            proposed_at: now,
            op: Op::ReplicaReady {
                key: *key,
                region: region.clone(),
            },
            service_made: true,
            author: None,
            signature: None,
        },
    }
}

fn now_millis() -> tern_core::time::UnixMillis {
    // (A clock before 1970 reads as the epoch.)
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    tern_core::time::UnixMillis(d.as_millis() as i64)
}

/// Proposes the acks this region owes. Acks that fail are found again by a
/// sweep of the applied state, which also runs once at start.
async fn run_acker(
    inner: std::sync::Weak<Inner>,
    mut rx: mpsc::Receiver<Vec<Ack>>,
    sweep_requested: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut sweep = true;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        let batch = tokio::select! {
            b = rx.recv() => match b { Some(b) => b, None => return },
            _ = tick.tick() => Vec::new(),
        };
        let Some(inner) = inner.upgrade() else { return };
        let r = Replication { inner };
        if r.incarnation_of(r.inner.node_id).is_none() && r.members().contains_key(&r.inner.node_id) {
            sweep = true;
        }
        let mut acks: BTreeSet<Ack> = batch.into_iter().collect();
        while let Ok(more) = rx.try_recv() {
            acks.extend(more);
        }
        // The state machine found the queue full and dropped a batch: every
        // ack this region owes is recomputed from the applied state.
        if sweep_requested.swap(false, std::sync::atomic::Ordering::AcqRel) {
            sweep = true;
        }
        if sweep {
            acks.extend(r.owed_acks());
            sweep = false;
        }
        if acks.is_empty() {
            continue;
        }
        let timeout = r.inner.timing.election_max * 4;
        let mut tasks = tokio::task::JoinSet::new();
        for ack in acks {
            // At most ACKS_IN_FLIGHT proposals at once (a snapshot install
            // can owe an ack for every key).
            while tasks.len() >= ACKS_IN_FLIGHT {
                if !matches!(tasks.join_next().await, Some(Ok(Ok(_)))) {
                    sweep = true;
                }
            }
            let cmd = ack_command(&r, &ack, now_millis());
            let r = r.clone();
            tasks.spawn(async move { r.propose(cmd, timeout).await });
        }
        while let Some(res) = tasks.join_next().await {
            if !matches!(res, Ok(Ok(_))) {
                sweep = true;
            }
        }
    }
}
