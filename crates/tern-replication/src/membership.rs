//! Changing the group: adding a region, removing one (after marking it
//! leaving through the log), and refusing a voter that lost its Raft state.

use super::*;
use crate::acks::*;

impl Replication {
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
    pub(crate) async fn set_leaving(&self, region: &Region, leaving: bool) -> Result<(), String> {
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
}

/// A node on an empty Raft directory (a new incarnation) asks its peers
/// which incarnation the group recorded for its node id: another one means
/// its vote and log were lost, and rejoining under the same id could let it
/// vote twice in a term. It must be removed and re-added as a learner under
/// a new node id instead.
pub(crate) async fn refuse_lost_voter(cfg: &ReplicationConfig, incarnation: &str) -> Result<(), String> {
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
