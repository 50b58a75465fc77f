//! tern-replication: Multi-Region keys over one openraft group, one voter
//! per region.
//!
//! - [`log_store`]: the Raft log and vote on their own RocksDB, synced.
//! - [`state_machine`]: applies entries into the region's store, in the
//!   same synced batch as the applied log id and the regional re-wrap.
//! - [`apply`]: the commands' compare-and-set semantics.
//! - [`network`] / [`server`]: the tonic peer transport, with a
//!   [`fault::FaultPlan`] in front of every message.
//! - [`Replication`]: start-up and the region's handle; `propose.rs`
//!   (forwarding to the leader, deadlines, retry under the same request id,
//!   read-your-writes), `acks.rs` (the acker and the leader's gatherer),
//!   `membership.rs` (adding and removing regions), `metrics.rs`.
//! - `authority.rs` (who may sign which command) and `transition.rs` (one
//!   pure transition per command about a key).
//!
//! Must never: acknowledge a write before this region has applied it; make
//! material current before every region holding the key has acked it;
//! return a storage error for a client's failed precondition.

// openraft's StorageError and tonic's Status are large by design; every
// fallible function here returns one of them.
#![allow(clippy::result_large_err)]

mod acks;
pub mod apply;
mod authority;
pub mod command;
pub mod fault;
pub mod log_store;
mod membership;
mod metrics;
pub mod network;
mod propose;
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

use crate::acks::{run_acker, run_gatherer, GatherJob, ACK_WINDOW};
pub use crate::acks::{ACKS_IN_FLIGHT, GATHER_QUEUE};
use crate::apply::{Ack, Applier};
use crate::command::{Command, MrkRecord, Op, Outcome};
use crate::fault::FaultPlan;
use crate::log_store::LogStore;
use crate::membership::refuse_lost_voter;
use crate::metrics::watch_leader;
pub use crate::metrics::ReplicationMetrics;
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
        let unsigned: Vec<&str> = voters
            .values()
            .filter(|n| n.signing_key.is_empty())
            .map(|n| n.region.as_str())
            .collect();
        if !unsigned.is_empty() {
            tracing::warn!(regions = ?unsigned,
                "members without a command-signing key: their replicated commands are taken unsigned; \
                 re-form the cluster from `tern init` configs (signing_public_key) to close this");
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

    /// Stops the Raft node and the acker.
    pub async fn shutdown(&self) {
        if let Some(h) = self.inner.acker.lock().take() {
            h.abort();
        }
        let _ = self.inner.raft.shutdown().await;
    }
}
