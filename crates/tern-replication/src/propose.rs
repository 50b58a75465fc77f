//! Proposing a command: to the local Raft node when this region leads, else
//! forwarded to the leader over the peer port; retried under the same
//! request id until its deadline; answered once this region has applied it.

use super::*;

impl Replication {
    pub(crate) async fn wait_applied(&self, index: u64, deadline: Instant) -> bool {
        let mut rx = self.inner.applied.clone();
        let r = tokio::time::timeout_at(deadline.into(), rx.wait_for(|a| a.is_some_and(|l| l.index >= index))).await;
        matches!(r, Ok(Ok(_)))
    }

    /// Waits until every node of `regions` has applied what this region has
    /// applied now, so that a call there right after sees this region's
    /// writes. Each node is asked (`Hello`, whose answer carries its applied
    /// index) until it has. A node whose applied index keeps moving is
    /// waited for until `deadline` (it is up, only behind); one that shows
    /// no progress for `stalled_after` (cut off, down, or cut from the
    /// leader) is given up. Returns the regions not known to have applied;
    /// this region itself always has.
    pub async fn wait_applied_in(&self, regions: &[Region], deadline: Instant, stalled_after: Duration) -> Vec<String> {
        let Some(target) = self.applied().map(|l| l.index) else {
            return Vec::new();
        };
        let mut asks = tokio::task::JoinSet::new();
        for node in self.members().into_values() {
            if node.region == self.inner.region.as_str() || !regions.iter().any(|r| r.as_str() == node.region) {
                continue;
            }
            let region = node.region.clone();
            let Ok(ch) = self.inner.dialer.channel(&node) else {
                asks.spawn(async move { (region, false) });
                continue;
            };
            let me = self.inner.node_id;
            asks.spawn(async move {
                let (mut progress_at, mut seen) = (Instant::now(), None);
                loop {
                    let now = Instant::now();
                    let give_up = deadline.min(progress_at + stalled_after);
                    if now >= give_up {
                        return (region, false);
                    }
                    let r: Result<server::HelloReply, _> = ch.call(Rpc::Hello, &me, give_up - now).await;
                    if let Some(i) = r.ok().and_then(|h| h.last_applied) {
                        if i >= target {
                            return (region, true);
                        }
                        if seen.is_some_and(|s| i > s) {
                            progress_at = Instant::now();
                        }
                        seen = Some(i);
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    tokio::time::sleep(APPLIED_POLL.min(left)).await;
                }
            });
        }
        let mut behind = Vec::new();
        while let Some(r) = asks.join_next().await {
            if let Ok((region, false)) = r {
                if !behind.contains(&region) {
                    behind.push(region);
                }
            }
        }
        behind
    }

    /// Whether this region exchanged messages with a majority of the voter
    /// regions (itself included) within `within`.
    pub(crate) fn in_touch_with_majority(&self, within: Duration) -> bool {
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
    pub(crate) fn reachability(&self) -> Result<Option<(NodeId, RegionNode)>, ProposeError> {
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

    pub(crate) async fn write_local(&self, cmd: &Command) -> Result<(LogId, Outcome), Attempt> {
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

    pub(crate) async fn forward(
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
}

/// The pause between two asks of [`Replication::wait_applied_in`].
pub(crate) const APPLIED_POLL: Duration = Duration::from_millis(5);

/// A short pause between attempts of one proposal (bounded by its deadline).
pub(crate) const RETRY_PAUSE: Duration = Duration::from_millis(25);

/// One attempt's failure.
pub(crate) enum Attempt {
    Retry { error: String, maybe_made: bool },
    Fatal(String),
}
