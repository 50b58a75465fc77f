//! Multi-Region benchmarks on an in-process three-region cluster joined by
//! the real Raft peer transport (loopback), optionally with an injected
//! one-way delay on every inter-region link:
//!
//! - `mrk-rotation`: time from RotateKeyOnDemand acknowledged in the primary
//!   until every region encrypts with the new material.
//! - `mrk-decrypt`: decrypt throughput in a replica region, in interleaved
//!   rounds without and with the primary rotating at a fixed rate across
//!   many keys; the ratio is the median of the rounds'.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use tern_client::{connect, KmsClient};
use tern_core::ids::{KeyId, Region};
use tern_proto::pb;
use tern_replication::fault::FaultPlan;
use tern_replication::{Member, RegionNode, Timing};
use tern_server::{ClusterOptions, Node, NodeOptions};

use crate::{creds, drive, rand_key, Args, KmsWorker, Op, ACCESS_KEY_ID, SECRET_ACCESS_KEY};

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-northeast-2"];
/// Rotations per key before the benchmark moves to a fresh key (AWS allows 25).
const ROTATIONS_PER_KEY: usize = 20;

pub struct Cluster {
    pub nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

fn principals() -> String {
    format!(
        "[[accounts]]\nid = \"111122223333\"\n[[accounts.users]]\nname = \"admin\"\naccess_key_id = \"{ACCESS_KEY_ID}\"\nsecret_access_key = \"{SECRET_ACCESS_KEY}\"\npolicies = ['{{\"Statement\":[{{\"Effect\":\"Allow\",\"Action\":\"kms:*\",\"Resource\":\"*\"}}]}}']\n"
    )
}

/// Three regions, one Raft group, `delay` added to each direction of every
/// inter-region message; Raft timing derived from the resulting RTT.
pub async fn start_cluster(delay: Duration, snapshot_every: u64) -> Result<Cluster> {
    let dir = tempfile::Builder::new().prefix("tern-bench-mrk-").tempdir()?;
    let plan = Arc::new(FaultPlan::new());
    plan.delay_all(&REGIONS, delay, Duration::ZERO);
    let mut listeners = Vec::new();
    let mut members = Vec::new();
    let mut sealing = Vec::new();
    for (i, r) in REGIONS.iter().enumerate() {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        let key = tern_core::seal::SealingKey::from_seed(rand_key());
        members.push(Member {
            node_id: i as u64 + 1,
            node: RegionNode::new(r, l.local_addr()?.to_string(), &key)?,
        });
        listeners.push(l);
        sealing.push(key);
    }
    let timing = Timing::from_max_rtt((delay * 2).max(Duration::from_millis(5)));
    let registry = Arc::new(tern_server::auth::PrincipalRegistry::from_toml(&principals())?);
    let ca = tern_replication::ClusterCa::generate()?;
    let mut starting = Vec::new();
    for (i, (l, key)) in listeners.into_iter().zip(sealing).enumerate() {
        let opts = NodeOptions {
            region: Region::parse(REGIONS[i]).map_err(|e| anyhow::anyhow!("{e}"))?,
            data_dir: dir.path().join(REGIONS[i]),
            listen: "127.0.0.1:0".parse()?,
            root_key: tern_core::crypto::RootKey::from_bytes(rand_key()),
            principals: registry.clone(),
            clock: Arc::new(tern_service::SystemClock),
            scheduler_interval: None,
            min_free_bytes: tern_server::DEFAULT_MIN_FREE_BYTES,
            limits: tern_server::Limits::default(),
            client_tls: None,
            cluster: Some(ClusterOptions {
                node_id: i as u64 + 1,
                members: members.clone(),
                peer_listener: l,
                sealing_key: key,
                tls: ca.issue(REGIONS[i])?,
                timing,
                snapshot_every,
                faults: plan.clone(),
            }),
        };
        starting.push(tokio::spawn(Node::start(opts)));
    }
    let mut nodes = Vec::new();
    for s in starting {
        nodes.push(s.await??);
    }
    Ok(Cluster { nodes, _dir: dir })
}

impl Cluster {
    async fn client(&self, i: usize) -> Result<KmsClient> {
        Ok(connect(&self.nodes[i].endpoint(), REGIONS[i], creds()).await?)
    }

    /// The material each region currently encrypts with.
    fn current(&self, i: usize, key: &KeyId) -> Option<String> {
        let view = self.nodes[i].kms().store().read();
        view.keys.get(key)?.current_material().map(|m| m.id.to_string())
    }

    /// A Multi-Region key in us-east-1, replicated to the other two
    /// regions, Enabled everywhere.
    async fn mrk(&self, us: &mut KmsClient) -> Result<KeyId> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let md = loop {
            match us
                .create_key(pb::CreateKeyRequest {
                    multi_region: Some(true),
                    ..Default::default()
                })
                .await
            {
                Ok(r) => break r.into_inner().key_metadata.context("no metadata")?,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(error = %e, "cluster not ready yet");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => bail!("CreateKey: {e}"),
            }
        };
        for r in &REGIONS[1..] {
            us.replicate_key(pb::ReplicateKeyRequest {
                key_id: md.key_id.clone(),
                replica_region: r.to_string(),
                ..Default::default()
            })
            .await?;
        }
        let key = KeyId::parse(&md.key_id).map_err(|e| anyhow::anyhow!("{e}"))?;
        while (0..REGIONS.len()).any(|i| {
            let view = self.nodes[i].kms().store().read();
            view.keys
                .get(&key)
                .is_none_or(|k| k.state != tern_core::key::KeyState::Enabled)
        }) {
            if Instant::now() > deadline {
                bail!("replicas did not become Enabled");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(key)
    }

    pub async fn shutdown(self) {
        for n in self.nodes {
            n.shutdown().await;
        }
    }
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// Median time of one synced store write (an audit record) in `node`.
async fn fsync_median(node: &Node) -> Result<Duration> {
    let mut v = Vec::new();
    for _ in 0..21 {
        let t = Instant::now();
        node.kms()
            .store()
            .append_audit(b"{\"bench\":\"fsync\"}".to_vec())
            .await?;
        v.push(t.elapsed());
    }
    v.sort();
    Ok(v[v.len() / 2])
}

async fn rotation_once(delay: Duration, rotations: usize, snapshot_every: u64) -> Result<()> {
    let cluster = start_cluster(delay, snapshot_every).await?;
    let mut us = cluster.client(0).await?;
    let fsync = fsync_median(&cluster.nodes[0]).await?;
    let timing = Timing::from_max_rtt((delay * 2).max(Duration::from_millis(5)));
    let mut ack = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut all = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut key = cluster.mrk(&mut us).await?;
    for i in 0..rotations {
        if i > 0 && i % ROTATIONS_PER_KEY == 0 {
            key = cluster.mrk(&mut us).await?;
        }
        let old = cluster.current(0, &key);
        let t = Instant::now();
        us.rotate_key_on_demand(pb::RotateKeyOnDemandRequest {
            key_id: key.to_string(),
        })
        .await
        .context("RotateKeyOnDemand")?;
        let acked = t.elapsed();
        // Read-your-writes: the primary applied AddMaterial before answering
        // (and on loopback the activation may already have followed).
        let new = {
            let view = cluster.nodes[0].kms().store().read();
            let k = view.keys.get(&key).context("the key vanished")?;
            match k.pending_materials.first() {
                Some(m) => m.id.to_string(),
                None => k
                    .current_material()
                    .map(|m| m.id.to_string())
                    .filter(|m| Some(m) != old.as_ref())
                    .context("no new material after the acknowledgement")?,
            }
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while (0..REGIONS.len()).any(|r| cluster.current(r, &key).as_deref() != Some(new.as_str())) {
            if Instant::now() > deadline {
                bail!("rotation {i} did not reach every region");
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        let done = t.elapsed();
        ack.record(acked.as_micros() as u64)?;
        all.record((done - acked).as_micros() as u64)?;
    }
    let rtt = delay * 2;
    let goal = rtt * 3 + fsync * 2 + timing.heartbeat;
    println!(
        "  one-way delay {:>4} ms: RotateKeyOnDemand ack p50 {:>8.2} ms p99 {:>8.2} ms | ack -> every region encrypts with it: p50 {:>8.2} ms p99 {:>8.2} ms | goal 3 RTT + 2 fsync + 1 heartbeat = {:.1} ms (fsync {:.2} ms, heartbeat {} ms) | {} rotations",
        delay.as_millis(),
        ms(&ack, 0.5),
        ms(&ack, 0.99),
        ms(&all, 0.5),
        ms(&all, 0.99),
        goal.as_secs_f64() * 1e3,
        fsync.as_secs_f64() * 1e3,
        timing.heartbeat.as_millis(),
        rotations
    );
    cluster.shutdown().await;
    Ok(())
}

pub async fn rotation(args: &Args) -> Result<()> {
    println!(
        "mrk-rotation: 3 in-process regions, one Raft group over loopback gRPC; from RotateKeyOnDemand acknowledged in us-east-1 until all 3 regions encrypt with the new material"
    );
    for d in &args.delay_ms {
        rotation_once(Duration::from_millis(*d), args.rotations, args.snapshot_every).await?;
    }
    Ok(())
}

pub async fn decrypt_under_rotation(args: &Args) -> Result<()> {
    let cluster = start_cluster(Duration::ZERO, args.snapshot_every).await?;
    let mut us = cluster.client(0).await?;
    let mut keys = Vec::new();
    for _ in 0..args.rotating_keys.max(1) {
        keys.push(cluster.mrk(&mut us).await?);
    }
    let plaintext = vec![0x5a; args.payload_bytes];
    let blob = us
        .encrypt(pb::EncryptRequest {
            key_id: keys[0].to_string(),
            plaintext: plaintext.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .ciphertext_blob;
    let endpoint = cluster.nodes[1].endpoint();
    let rounds = args.rounds.max(1);
    let per = Duration::from_secs(args.duration_secs) / (2 * rounds);
    println!(
        "mrk-decrypt: decrypt in eu-west-1 (replica), {} connections, {} B; rounds of {:.1} s without / with us-east-1 rotating at {}/s across {} keys; snapshots every {} entries",
        args.concurrency,
        args.payload_bytes,
        per.as_secs_f64(),
        args.rotation_rate,
        keys.len(),
        args.snapshot_every
    );
    let make = |_: usize| {
        let (endpoint, blob, plaintext) = (endpoint.clone(), blob.clone(), plaintext.clone());
        async move {
            Ok(KmsWorker {
                client: connect(&endpoint, REGIONS[1], creds()).await?,
                json: None,
                op: Op::Decrypt,
                key_id: String::new(),
                plaintext,
                blob,
            })
        }
    };
    let mut ratios = Vec::new();
    let (mut quiet_all, mut busy_all) = (crate::Stats::default(), crate::Stats::default());
    let mut rotations_done = 0u64;
    let mut next_key = 0usize;
    let mut used: Vec<usize> = vec![0; keys.len()];
    for round in 0..rounds {
        let quiet = drive(args.concurrency, per, args.max_requests, make).await?;
        // The rotator: a fixed rate, round robin over keys that still have
        // on-demand rotations left.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let rotator = {
            let (mut us, keys, stop) = (us.clone(), keys.clone(), stop.clone());
            let every = Duration::from_secs_f64(1.0 / args.rotation_rate.max(0.1));
            let mut used = used.clone();
            let mut next = next_key;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                let mut done = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    tick.tick().await;
                    let Some(k) = (0..keys.len())
                        .map(|j| (next + j) % keys.len())
                        .find(|j| used[*j] < ROTATIONS_PER_KEY)
                    else {
                        break;
                    };
                    next = k + 1;
                    // Rotations are requested concurrently, as many clients would.
                    let mut c = us.clone();
                    let key = keys[k].to_string();
                    used[k] += 1;
                    tokio::spawn(async move {
                        let _ = c
                            .rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key })
                            .await;
                    });
                    done += 1;
                }
                let _ = &mut us;
                (done, used, next)
            })
        };
        let busy = drive(args.concurrency, per, args.max_requests, make).await?;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (done, u, n) = rotator.await?;
        rotations_done += done;
        used = u;
        next_key = n;
        let ratio = busy.ops_per_sec() / quiet.ops_per_sec().max(1e-9);
        println!(
            "  round {}: without {:>8.0} ops/s, with rotations {:>8.0} ops/s ({} rotations requested), ratio {:.3}",
            round + 1,
            quiet.ops_per_sec(),
            busy.ops_per_sec(),
            done,
            ratio
        );
        ratios.push(ratio);
        quiet_all.absorb(quiet);
        busy_all.absorb(busy);
    }
    ratios.sort_by(|a, b| a.total_cmp(b));
    println!("{}", quiet_all.line("quiet"));
    println!("{}", busy_all.line("rotate"));
    println!(
        "  median ratio (with / without rotations) {:.3}; {} rotations requested in all (goal >= 0.9)",
        ratios[ratios.len() / 2],
        rotations_done
    );
    cluster.shutdown().await;
    Ok(())
}
