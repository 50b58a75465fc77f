//! The restart vote guard: a voter whose Raft state may be older than what
//! the group knows of it does not vote until it has caught up.
//!
//! A node that restarts (on its own directory, on one restored from an older
//! copy, or on an empty one) cannot tell from its own disk whether it has
//! lost a vote it granted, or log entries it held: a restored copy looks
//! like any other. Granting a vote lower than one it granted before
//! (openraft orders votes by term, then candidate) could elect two leaders
//! whose quorums overlap only in this node; voting for a candidate that
//! lacks entries this node had acknowledged could elect a leader that
//! overwrites committed entries. So on every start it neither campaigns nor
//! grants votes until
//!
//! 1. enough peers answered a `Hello` with their vote and applied index that
//!    every quorum which could have counted this node's lost vote includes
//!    one of them ([`peers_needed`]: with `n` voters and quorum `q`, any
//!    `n - q + 1` of the other voters), and
//! 2. its own vote is at least the highest vote among those answers (the
//!    guard raises it, through openraft's own vote handler).
//!
//! Then it grants votes only to candidates whose log reaches the highest
//! applied index among the answers, and once its own log reaches it, it
//! campaigns and votes as plain Raft does. (Requiring its own log to catch
//! up before granting any vote would deadlock a group whose only
//! up-to-date member needs the votes of members that are behind.)
//!
//! If too few peers answer it waits, and says so every
//! [`WAIT_WARNING_EVERY`]. Meanwhile it follows a leader (appends and
//! snapshots are accepted), so it catches up and serves reads as usual.
//! The residual risk: a lost vote known only to voters that are all down
//! while enough others answer cannot be seen; restoring a node from a
//! backup should still go through removal and re-addition.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::{Duration, Instant};

use openraft::raft::VoteRequest;
use openraft::storage::RaftLogStorage;
use openraft::Vote;

use crate::network::Rpc;
use crate::server::HelloReply;
use crate::types::{NodeId, RegionNode};
use crate::Inner;

/// How often a waiting guard logs that it is still waiting.
pub const WAIT_WARNING_EVERY: Duration = Duration::from_secs(10);

/// What the guard has seen, for tests and operators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VoteGuardStatus {
    /// Whether this node votes and campaigns as plain Raft does.
    pub open: bool,
    /// How many peers must answer before it votes at all.
    pub needed: usize,
    /// The regions of the peers that have answered.
    pub answered: Vec<String>,
    /// Once enough answered and before it is open: the log index a
    /// candidate must reach for this node's vote (and its own log must
    /// reach for it to open).
    pub catching_up_to: Option<u64>,
}

/// [`crate::Replication::vote_min_log`] while no vote may be granted.
pub const NO_VOTES: u64 = u64::MAX;

/// How many of the other voters must answer so that every quorum that
/// could have counted this node's vote includes one of them: with `voters`
/// voters and quorum `q = voters / 2 + 1`, `voters - q + 1` (never more
/// than the other voters; none for a group of one).
pub fn peers_needed(voters: usize) -> usize {
    if voters <= 1 {
        return 0;
    }
    let quorum = voters / 2 + 1;
    (voters - quorum + 1).min(voters - 1)
}

/// The higher of two votes by leader id (term, then candidate).
fn higher(a: Option<Vote<NodeId>>, b: Vote<NodeId>) -> Option<Vote<NodeId>> {
    match a {
        Some(a) if a.leader_id() >= b.leader_id() => Some(a),
        _ => Some(b),
    }
}

/// Runs until the guard opens (or the node goes away). `fresh`: the node
/// started on an empty Raft directory, so a peer naming another
/// incarnation of it means its vote and log were lost: the guard then stays
/// shut and shuts the Raft node down.
pub(crate) async fn run(inner: Weak<Inner>, peers: Vec<RegionNode>, needed: usize, fresh: bool) {
    let mut answers: BTreeMap<String, HelloReply> = BTreeMap::new();
    let mut last_warning = Instant::now();
    loop {
        let Some(i) = inner.upgrade() else { return };
        let pause = (i.timing.heartbeat * 2).max(Duration::from_millis(50));
        let ask_timeout = i.timing.election_max.max(Duration::from_millis(500));
        let mut asks = tokio::task::JoinSet::new();
        for p in &peers {
            let Ok(ch) = i.dialer.channel(p) else { continue };
            let node_id = i.node_id;
            asks.spawn(async move {
                let r: Result<HelloReply, _> = ch.call(Rpc::Hello, &node_id, ask_timeout).await;
                (ch.to_region.clone(), r.ok())
            });
        }
        while let Some(r) = asks.join_next().await {
            let Ok((region, Some(h))) = r else { continue };
            if fresh && h.incarnation.as_deref().is_some_and(|x| x != i.incarnation) {
                tracing::error!(
                    peer = %region,
                    "this node's Raft state is missing, but {region} counts node {} ({}) as a voter: its \
                     vote and log were lost. It will not vote or serve Multi-Region writes. Remove node {} \
                     from the cluster, then add this region back as a learner under a new node id",
                    i.node_id,
                    i.region,
                    i.node_id
                );
                let _ = i.raft.shutdown().await;
                return;
            }
            answers.insert(region, h);
        }
        i.guard.lock().answered = answers.keys().cloned().collect();
        if answers.len() >= needed {
            if let Some(target) = raise_vote(&i, &answers).await {
                // Votes for up-to-date candidates from now on; fully open
                // once this node's own log is up to date too.
                i.vote_min_log.store(target, Ordering::SeqCst);
                i.guard.lock().catching_up_to = Some(target);
                drop(i);
                open_when_caught_up(&inner, target, answers.len()).await;
                return;
            }
        }
        if last_warning.elapsed() >= WAIT_WARNING_EVERY {
            last_warning = Instant::now();
            tracing::warn!(
                answered = answers.len(),
                needed,
                "this node restarted and does not vote until {needed} of its {} peers answer (so it \
                 cannot vote twice in a term it voted in before its restart); {} answered so far: \
                 check that the other regions are running and reachable on their peer ports",
                peers.len(),
                answers.len()
            );
        }
        drop(i);
        tokio::time::sleep(pause).await;
    }
}

/// Raises this node's vote to the highest the answers report. Returns the
/// highest applied index among them once this node's vote is at least as
/// high, `None` while it is not yet.
async fn raise_vote(i: &Inner, answers: &BTreeMap<String, HelloReply>) -> Option<u64> {
    let floor = answers.values().filter_map(|h| h.vote).fold(None, higher);
    let target = answers.values().filter_map(|h| h.last_applied).max().unwrap_or(0);
    if let Some(f) = floor {
        let mine = i.raft.metrics().borrow().vote;
        if mine.leader_id() < f.leader_id() {
            // A vote for this node itself cannot be recorded without
            // becoming a candidate: record one for nobody in that term
            // (higher than every vote of the term) instead.
            let voted_for = f
                .leader_id()
                .voted_for()
                .filter(|n| *n != i.node_id)
                .unwrap_or(NodeId::MAX);
            let raised = Vote::new(f.leader_id().get_term(), voted_for);
            let last = i.log.clone().get_log_state().await.ok().and_then(|s| s.last_log_id);
            let _ = i.raft.vote(VoteRequest::new(raised, last)).await;
        }
        if i.raft.metrics().borrow().vote.leader_id() < f.leader_id() {
            return None;
        }
    }
    Some(target)
}

/// Opens the guard once this node's log reaches `target`.
async fn open_when_caught_up(inner: &Weak<Inner>, target: u64, answered: usize) {
    let mut metrics = match inner.upgrade() {
        Some(i) => i.raft.metrics(),
        None => return,
    };
    loop {
        let last = metrics.borrow_and_update().last_log_index.unwrap_or(0);
        if last >= target {
            break;
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
    let Some(i) = inner.upgrade() else { return };
    i.vote_min_log.store(0, Ordering::SeqCst);
    i.raft.runtime_config().elect(true);
    {
        let mut g = i.guard.lock();
        g.open = true;
        g.catching_up_to = None;
    }
    let vote = i.raft.metrics().borrow().vote;
    tracing::info!(
        answered,
        vote = %vote,
        caught_up_to = target,
        "voting again after the restart: enough peers answered and this node has caught up with them"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_quorum_that_counted_a_lost_vote_meets_the_answering_peers() {
        assert_eq!(peers_needed(1), 0);
        assert_eq!(peers_needed(2), 1);
        assert_eq!(peers_needed(3), 2);
        assert_eq!(peers_needed(4), 2);
        assert_eq!(peers_needed(5), 3);
        assert_eq!(peers_needed(7), 4);
        // The claim, for every size: the other members of a quorum that
        // counted this node (q - 1 of the n - 1 others) and any
        // `peers_needed` answering others always share one.
        for n in 2..20usize {
            let q = n / 2 + 1;
            assert!((q - 1) + peers_needed(n) > n - 1, "n = {n}");
            assert!(peers_needed(n) < n);
        }
    }

    #[test]
    fn the_floor_is_the_highest_leader_id() {
        let votes = [
            Vote::new(3, 2),
            Vote::new_committed(4, 1),
            Vote::new(4, 3),
            Vote::new(2, 9),
        ];
        let floor = votes.into_iter().fold(None, higher).unwrap();
        assert_eq!(floor.leader_id(), Vote::<NodeId>::new(4, 3).leader_id());
    }
}
