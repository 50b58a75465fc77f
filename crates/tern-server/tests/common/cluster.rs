//! A Multi-Region cluster in one process: one real node per region on
//! 127.0.0.1, each with its own data directory, root key and sealing key,
//! joined into one Raft group over the real tonic peer transport with a
//! shared [`FaultPlan`] in front of every peer message.
//!
//! Regions can be stopped and restarted on the same data directory and peer
//! address. Waiting is always on a condition with a deadline, never a fixed
//! sleep: [`eventually`] polls a predicate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngCore;
use tern_core::crypto::RootKey;
use tern_core::ids::Region;
use tern_core::seal::SealingKey;
use tern_replication::fault::FaultPlan;
use tern_replication::{Member, RegionNode, Replication, Timing};
use tern_server::auth::PrincipalRegistry;
use tern_server::{ClusterOptions, Node, NodeOptions};
use tern_service::FakeClock;

use super::{principals_toml, TestNode, START};

/// How often [`eventually`] re-checks its condition.
const POLL: Duration = Duration::from_millis(10);

/// Waits until `f` returns `Some`, re-checking every few milliseconds;
/// panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    match within(timeout, f).await {
        Some(v) => v,
        None => panic!("timed out after {timeout:?} waiting for {what}"),
    }
}

/// [`eventually`] without the panic: `None` once `timeout` has passed.
pub async fn within<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Binds a restarted region's peer address again; the previous listener's
/// sockets may take a moment to go.
async fn rebind(addr: SocketAddr) -> std::net::TcpListener {
    eventually(Duration::from_secs(10), &format!("{addr} to be free again"), || async {
        std::net::TcpListener::bind(addr).ok()
    })
    .await
}

/// One region's identity and storage, kept across restarts.
pub struct RegionSlot {
    pub region: String,
    pub node_id: u64,
    root: RootKey,
    sealing: SealingKey,
    tls: tern_replication::PeerTls,
    dir: tempfile::TempDir,
    pub peer_addr: SocketAddr,
    pub node: Option<TestNode>,
    /// Added after the group formed: starts without forming a group.
    joiner: bool,
    /// The peer port, held from reservation until the first start so no
    /// other socket can take it meanwhile.
    reserved: Option<std::net::TcpListener>,
}

impl RegionSlot {
    /// A new region's identity and storage, and its membership entry. The
    /// peer port stays bound until the first start; a restart binds it again.
    fn new(region: &str, node_id: u64, joiner: bool) -> (RegionSlot, Member) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer_addr = l.local_addr().unwrap();
        let sealing = SealingKey::from_seed(random32());
        let member = Member {
            node_id,
            node: RegionNode::new(region, peer_addr.to_string(), &sealing).unwrap(),
        };
        let slot = RegionSlot {
            region: region.to_string(),
            node_id,
            root: RootKey::from_bytes(random32()),
            sealing,
            tls: test_ca().issue_node(region, node_id).unwrap(),
            dir: tempfile::Builder::new().prefix("tern-cluster-").tempdir().unwrap(),
            peer_addr,
            node: None,
            joiner,
            reserved: Some(l),
        };
        (slot, member)
    }
}

pub struct TestCluster {
    pub slots: Vec<RegionSlot>,
    pub plan: Arc<FaultPlan>,
    pub clock: Arc<FakeClock>,
    pub timing: Timing,
    pub snapshot_every: u64,
    members: Vec<Member>,
}

/// One CA for every test cluster of the process (its regions' peer
/// certificates are issued when their slots are made).
pub fn test_ca() -> &'static tern_replication::ClusterCa {
    static CA: std::sync::OnceLock<tern_replication::ClusterCa> = std::sync::OnceLock::new();
    CA.get_or_init(|| tern_replication::ClusterCa::generate().unwrap())
}

fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

impl TestCluster {
    /// Starts one node per region and waits for a leader.
    pub async fn start(regions: &[&str]) -> TestCluster {
        Self::start_with(regions, 1000).await
    }

    /// As [`TestCluster::start`], snapshotting every `snapshot_every` entries.
    /// `TERN_TEST_LOG=<filter>` (e.g. `tern_replication=info`) prints the
    /// nodes' logs.
    pub async fn start_with(regions: &[&str], snapshot_every: u64) -> TestCluster {
        if let Ok(filter) = std::env::var("TERN_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let mut slots = Vec::new();
        let mut members = Vec::new();
        for (i, r) in regions.iter().enumerate() {
            let (slot, member) = RegionSlot::new(r, (i + 1) as u64, false);
            slots.push(slot);
            members.push(member);
        }
        let mut c = TestCluster {
            slots,
            plan: Arc::new(FaultPlan::new()),
            clock: Arc::new(FakeClock::new(START)),
            timing: Timing::from_max_rtt(Duration::from_millis(5)),
            snapshot_every,
            members,
        };
        let names: Vec<String> = regions.iter().map(|r| r.to_string()).collect();
        for r in &names {
            c.start_region(r).await;
        }
        c.wait_leader().await;
        c
    }

    fn slot_index(&self, region: &str) -> usize {
        self.slots
            .iter()
            .position(|s| s.region == region)
            .unwrap_or_else(|| panic!("no region {region}"))
    }

    /// Starts (or restarts) a region's node on its data directory.
    pub async fn start_region(&mut self, region: &str) {
        self.try_start_region(region).await.unwrap();
    }

    /// Deletes a stopped region's Raft state (vote, log, snapshot), as a
    /// lost disk would.
    pub fn wipe_raft_state(&self, region: &str) {
        let slot = &self.slots[self.slot_index(region)];
        assert!(slot.node.is_none(), "{region} is running");
        // A task of the stopped node may still be finishing a file there
        // (seen once under a loaded parallel run: "directory not empty"):
        // retry until the directory is gone, bounded.
        let dir = slot.dir.path().join("data").join("raft");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => {
                    assert!(Instant::now() < deadline, "cannot remove {}: {e}", dir.display());
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }

    /// A copy of a stopped region's whole data directory (store and Raft
    /// state), to put back later with [`TestCluster::restore_data`].
    pub fn copy_data(&self, region: &str) -> tempfile::TempDir {
        let slot = &self.slots[self.slot_index(region)];
        assert!(slot.node.is_none(), "{region} is running");
        let copy = tempfile::Builder::new().prefix("tern-copy-").tempdir().unwrap();
        copy_dir(&slot.dir.path().join("data"), &copy.path().join("data"));
        copy
    }

    /// Replaces a stopped region's data directory with an earlier copy, as
    /// an operator restoring a node from an old backup would.
    pub fn restore_data(&self, region: &str, copy: &tempfile::TempDir) {
        let slot = &self.slots[self.slot_index(region)];
        assert!(slot.node.is_none(), "{region} is running");
        let data = slot.dir.path().join("data");
        std::fs::remove_dir_all(&data).unwrap();
        copy_dir(&copy.path().join("data"), &data);
    }

    /// [`TestCluster::start_region`], returning the start error.
    pub async fn try_start_region(&mut self, region: &str) -> Result<(), tern_server::NodeError> {
        let i = self.slot_index(region);
        let members = if self.slots[i].joiner {
            Vec::new()
        } else {
            self.members.clone()
        };
        let (timing, every, plan, clock) = (self.timing, self.snapshot_every, self.plan.clone(), self.clock.clone());
        let slot = &mut self.slots[i];
        assert!(slot.node.is_none(), "{region} is already running");
        let peer_listener = match slot.reserved.take() {
            Some(l) => l,
            None => rebind(slot.peer_addr).await,
        };
        let node = Node::start(NodeOptions {
            region: Region::parse(region).unwrap(),
            data_dir: slot.dir.path().join("data"),
            listen: "127.0.0.1:0".parse().unwrap(),
            root_key: slot.root.clone(),
            principals: Arc::new(PrincipalRegistry::from_toml(&principals_toml()).unwrap()),
            clock: clock.clone(),
            scheduler_interval: None,
            min_free_bytes: tern_server::DEFAULT_MIN_FREE_BYTES,
            limits: tern_server::Limits::default(),
            client_tls: None,
            cluster: Some(ClusterOptions {
                node_id: slot.node_id,
                members,
                peer_listener,
                sealing_key: slot.sealing.clone(),
                tls: slot.tls.clone(),
                timing,
                snapshot_every: every,
                faults: plan,
            }),
        })
        .await?;
        slot.node = Some(TestNode {
            node,
            clock,
            region: region.to_string(),
            dir: None,
        });
        Ok(())
    }

    /// Starts a new region outside the group and adds it through the
    /// leader: learner first, then voter.
    pub async fn add_region(&mut self, region: &str) {
        let node_id = self.slots.iter().map(|s| s.node_id).max().unwrap_or(0) + 100;
        let (slot, member) = RegionSlot::new(region, node_id, true);
        self.slots.push(slot);
        let existing: Vec<String> = self
            .slots
            .iter()
            .filter(|s| s.node.is_some())
            .map(|s| s.region.clone())
            .collect();
        self.start_region(region).await;
        let existing: Vec<&str> = existing.iter().map(String::as_str).collect();
        let leader = self.wait_leader_among(&existing).await;
        self.repl(&leader).add_region(member).await.unwrap();
    }

    /// Removes a running `region` from the group through the leader, stops
    /// it, and adds it back as a new node (new node id, empty directory), as
    /// an operator rebuilding a lost region would. Errs if the removal is
    /// refused (e.g. the region is a primary).
    pub async fn replace_region(&mut self, region: &str) -> Result<(), String> {
        let i = self.slot_index(region);
        let node_id = self.slots[i].node_id;
        // The leader as the other regions see it: one of them, or the
        // leaving region itself (it steps down once the change commits).
        let others: Vec<String> = self
            .running()
            .map(|n| n.region.clone())
            .filter(|r| r != region)
            .collect();
        let leader = eventually(
            Duration::from_secs(20),
            "a leader the other regions agree on",
            || async {
                let seen: Vec<Option<String>> = others.iter().map(|r| self.repl(r).metrics().leader_region).collect();
                let first = seen.first()?.clone()?;
                seen.iter()
                    .all(|l| l.as_deref() == Some(first.as_str()))
                    .then_some(first)
            },
        )
        .await;
        self.repl(&leader).remove_region(node_id).await?;
        self.stop_region(region).await;
        self.slots.remove(i);
        self.members.retain(|m| m.node_id != node_id);
        self.add_region(region).await;
        Ok(())
    }

    /// Starts again, on its directory, a region whose node died at a crash
    /// point of the fault plan ([`tern_replication::fault::CrashPoint`]),
    /// as a process killed there and started again would be.
    pub async fn restart_crashed(&mut self, region: &str) {
        assert!(self.plan.crashed(region), "{region} has not crashed");
        self.stop_region(region).await;
        self.plan.revive(region);
        self.start_region(region).await;
    }

    /// Stops a region's node; its data directory stays.
    pub async fn stop_region(&mut self, region: &str) {
        let i = self.slot_index(region);
        if let Some(n) = self.slots[i].node.take() {
            n.node.shutdown().await;
        }
    }

    /// A region's peer certificate and key (as a compromised region holds them).
    pub fn peer_tls(&self, region: &str) -> &tern_replication::PeerTls {
        &self.slots[self.slot_index(region)].tls
    }

    /// A region's sealing key (its command-signing key derives from it).
    pub fn sealing_key(&self, region: &str) -> &SealingKey {
        &self.slots[self.slot_index(region)].sealing
    }

    pub fn node(&self, region: &str) -> &TestNode {
        self.slots[self.slot_index(region)]
            .node
            .as_ref()
            .unwrap_or_else(|| panic!("{region} is stopped"))
    }

    pub fn repl(&self, region: &str) -> &Replication {
        self.node(region).node.replication().unwrap()
    }

    pub fn running(&self) -> impl Iterator<Item = &TestNode> {
        self.slots.iter().filter_map(|s| s.node.as_ref())
    }

    /// Waits until the running regions agree on a leader; returns its region.
    pub async fn wait_leader(&self) -> String {
        eventually(Duration::from_secs(20), "a Raft leader", || async {
            let leaders: Vec<Option<String>> = self
                .running()
                .map(|n| n.node.replication().unwrap().metrics().leader_region)
                .collect();
            let first = leaders.first()?.clone()?;
            leaders
                .iter()
                .all(|l| l.as_deref() == Some(first.as_str()))
                .then_some(first)
        })
        .await
    }

    /// Waits until `regions` agree on a leader among themselves.
    pub async fn wait_leader_among(&self, regions: &[&str]) -> String {
        eventually(Duration::from_secs(20), "a Raft leader among the majority", || async {
            let leaders: Vec<Option<String>> = regions.iter().map(|r| self.repl(r).metrics().leader_region).collect();
            let first = leaders.first()?.clone()?;
            (regions.contains(&first.as_str()) && leaders.iter().all(|l| l.as_deref() == Some(first.as_str())))
                .then_some(first)
        })
        .await
    }

    /// Waits until every running region has applied the same log id and
    /// holds the same replicated state; returns the digest.
    pub async fn wait_converged(&self) -> String {
        eventually(Duration::from_secs(30), "replicated state to converge", || async {
            let digests: Vec<_> = self.running().map(|n| n.node.replication().unwrap().digest()).collect();
            let first = digests.first()?.clone();
            first.0?;
            digests.iter().all(|d| *d == first).then_some(first.1)
        })
        .await
    }
}
