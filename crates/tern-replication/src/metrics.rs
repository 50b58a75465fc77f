//! Replication health of one region: Raft state, lag in entries and in
//! time, and the leaderless watch.

use super::*;

impl Replication {
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
}

/// Keeps `since` = when this region last stopped knowing a leader.
pub(crate) async fn watch_leader(
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
