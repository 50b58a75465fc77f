//! `tern-chaos`: tern's chaos and failover suite. It brings up the
//! docker-compose cluster (`deploy/docker-compose.yml` plus a generated
//! override per scenario), drives a workload across regions while recording
//! a history, injects one kind of fault, heals, and checks the history and
//! the healed cluster (see `check.rs`). A summary table is printed and
//! written as JSON.
//!
//!   tern-chaos --scenario all --seed 7          # every scenario
//!   tern-chaos --scenario partition-region      # one
//!   tern-chaos --expect-violations ...          # self-test of a broken build
//!
//! Normally run through `chaos-tests/run`, which builds the image first.

mod check;
mod docker;
mod history;
mod proxy;
mod workload;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use check::Verdict;
use history::History;
use workload::{Cluster, Load, SharedModel, REGIONS};

const SCENARIOS: [&str; 7] = [
    "kill-primary",
    "partition-region",
    "partition-leader",
    "wan-latency",
    "rolling-restart",
    "pause",
    "disk-full",
];

#[derive(Parser, Debug)]
#[command(name = "tern-chaos", about = "tern's chaos and failover suite")]
struct Args {
    /// A scenario name, a comma-separated list, or `all`.
    #[arg(long, default_value = "all")]
    scenario: String,
    /// Seeds the workload's choices and the proxy's delays (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// The image to run.
    #[arg(long, default_value = "tern:dev")]
    image: String,
    /// The repository root (for deploy/docker-compose.yml).
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// Where the summary and histories go.
    #[arg(long, default_value = "target/chaos")]
    out: PathBuf,
    /// Seconds of load after the fault is healed.
    #[arg(long, default_value_t = 4)]
    settle_secs: u64,
    /// Self-test mode: exit 0 only if every scenario found a violation (the
    /// image is a deliberately broken build).
    #[arg(long)]
    expect_violations: bool,
    /// Keep the cluster of the last scenario running (for a look around).
    #[arg(long)]
    keep: bool,
}

/// One row of the summary table.
#[derive(Debug, Serialize)]
struct Row {
    scenario: String,
    seed: u64,
    secs: f64,
    /// Time from the fault to the first acknowledged Multi-Region write (or
    /// new leader) in the surviving majority.
    failover_ms: Option<u64>,
    notes: Vec<String>,
    verdict: Verdict,
    reproduce: String,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            % 1_000_000
    });
    let scenarios: Vec<&str> = if args.scenario == "all" {
        SCENARIOS.to_vec()
    } else {
        args.scenario.split(',').map(str::trim).collect()
    };
    for s in &scenarios {
        if !SCENARIOS.contains(s) {
            bail!("unknown scenario {s}; known: {}", SCENARIOS.join(", "));
        }
    }
    std::fs::create_dir_all(&args.out)?;
    println!(
        "tern-chaos: seed {seed}, image {}, scenarios {}",
        args.image,
        scenarios.join(",")
    );
    let mut rows = Vec::new();
    for (i, name) in scenarios.iter().enumerate() {
        let keep = args.keep && i + 1 == scenarios.len();
        println!("\n=== scenario {name} (seed {seed}) ===");
        let started = Instant::now();
        let row = match run_scenario(name, seed, &args, keep).await {
            Ok(r) => r,
            Err(e) => {
                // A scenario that cannot run is a failure, reported as such.
                let mut v = Verdict::default();
                v.expectations.push(format!("scenario did not run to the end: {e:#}"));
                Row {
                    scenario: name.to_string(),
                    seed,
                    secs: started.elapsed().as_secs_f64(),
                    failover_ms: None,
                    notes: vec![],
                    verdict: v,
                    reproduce: reproduce(name, seed, &args),
                }
            }
        };
        print_details(&row);
        rows.push(row);
    }
    print_table(&rows);
    let json = args.out.join("summary.json");
    std::fs::write(&json, serde_json::to_vec_pretty(&rows)?)?;
    println!("summary written to {}", json.display());
    let failed: Vec<&Row> = rows.iter().filter(|r| r.verdict.violations() > 0).collect();
    if args.expect_violations {
        if failed.len() == rows.len() {
            println!("SELF-TEST PASSED: the checker caught the broken build in every scenario");
            return Ok(());
        }
        bail!("SELF-TEST FAILED: the broken build passed a scenario unnoticed");
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} scenarios violated an invariant: {}",
            failed.len(),
            rows.len(),
            failed
                .iter()
                .map(|r| r.scenario.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!("all {} scenarios passed", rows.len());
    Ok(())
}

fn reproduce(name: &str, seed: u64, args: &Args) -> String {
    let broken = if args.expect_violations {
        " --expect-violations"
    } else {
        ""
    };
    format!(
        "chaos-tests/run --scenario {name} --seed {seed} --image {}{broken}",
        args.image
    )
}

const PREFIX: &str = "ternchaos";
/// The wan subnet for the proxied scenario (its gateway is the host side).
const WAN_SUBNET: &str = "172.29.213.0/24";

/// Per-scenario knobs for the compose override.
#[derive(Default)]
struct Shape {
    max_rtt_ms: u64,
    proxy_ports: Option<u16>,
    small_disk: Option<(String, PathBuf)>,
}

fn override_yaml(s: &Shape) -> String {
    let mut y = String::from("services:\n  init:\n    command:\n");
    for a in [
        "init".to_string(),
        "--out=/etc/tern".into(),
        format!("--regions={}", REGIONS.join(",")),
        format!("--hosts={}", REGIONS.join(",")),
        "--bind=0.0.0.0".into(),
        "--base-port=7070".into(),
        "--data-root=/var/lib/tern".into(),
        format!("--max-rtt-ms={}", s.max_rtt_ms),
        "--client-tls".into(),
        "--per-region-dirs".into(),
    ] {
        y.push_str(&format!("      - \"{a}\"\n"));
    }
    for (i, region) in REGIONS.iter().enumerate() {
        let mut cmd = vec![
            "serve".to_string(),
            "--config".into(),
            format!("/etc/tern/{region}.toml"),
        ];
        if let Some(base) = s.proxy_ports {
            let gw = wan_gateway();
            for (j, peer) in REGIONS.iter().enumerate() {
                if i != j {
                    cmd.push("--peer".into());
                    cmd.push(format!("{peer}={gw}:{}", link_port(base, i, j)));
                }
            }
        }
        y.push_str(&format!("  {region}:\n    command: [{}]\n", quoted(&cmd)));
        if let Some((r, dir)) = &s.small_disk {
            if r == region {
                y.push_str(&format!(
                    "    volumes: [\"config-{region}:/etc/tern:ro\", \"{}:/var/lib/tern\"]\n",
                    dir.display()
                ));
            }
        }
    }
    if s.proxy_ports.is_some() {
        y.push_str(&format!(
            "networks:\n  wan:\n    ipam:\n      config:\n        - subnet: {WAN_SUBNET}\n"
        ));
    }
    y
}

fn quoted(v: &[String]) -> String {
    v.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ")
}

fn wan_gateway() -> IpAddr {
    // 172.29.213.1: the first address of WAN_SUBNET, docker's default gateway.
    IpAddr::from([172, 29, 213, 1])
}

fn link_port(base: u16, from: usize, to: usize) -> u16 {
    base + (from * 3 + to) as u16
}

/// The election timeout's upper end for a `--max-rtt-ms` (Timing::from_max_rtt).
fn election_max(max_rtt_ms: u64) -> Duration {
    Duration::from_millis((2 * max_rtt_ms).max(50) * 12)
}

async fn run_scenario(name: &str, seed: u64, args: &Args, keep: bool) -> Result<Row> {
    let started = Instant::now();
    let out = args.out.join(name);
    std::fs::create_dir_all(&out)?;
    let mut shape = Shape {
        max_rtt_ms: 50,
        ..Shape::default()
    };
    let mut disk = None;
    match name {
        "wan-latency" => {
            shape.max_rtt_ms = 300;
            shape.proxy_ports = Some(17500);
        }
        "disk-full" => {
            let dir = std::env::temp_dir().join("tern-chaos-disk");
            disk = Some(docker::SmallDisk::mount(&dir, 256)?);
            shape.small_disk = Some(("ap-northeast-2".into(), dir));
        }
        _ => {}
    }
    let override_file = out.join("override.yml");
    std::fs::write(&override_file, override_yaml(&shape))?;
    let compose_file = args.repo.join("deploy/docker-compose.yml");
    if !compose_file.exists() {
        bail!(
            "{} not found (run from the repository root or pass --repo)",
            compose_file.display()
        );
    }
    let compose = docker::Compose::new(
        PREFIX,
        vec![compose_file, override_file],
        vec![
            ("TERN_IMAGE".into(), args.image.clone()),
            ("TERN_PREFIX".into(), PREFIX.into()),
            ("TERN_PORT_US_EAST_1".into(), "17070".into()),
            ("TERN_PORT_EU_WEST_1".into(), "17071".into()),
            ("TERN_PORT_AP_NORTHEAST_2".into(), "17072".into()),
        ],
    )?;
    let _ = compose.down();
    let result = async {
        compose.up()?;
        let cluster = Arc::new(Cluster::new(PREFIX));
        cluster.load_ca()?;
        let cancel_proxy = CancellationToken::new();
        let _proxy_guard = cancel_proxy.clone().drop_guard();
        let mut notes = Vec::new();
        if let Some(base) = shape.proxy_ports {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut links = Vec::new();
            for (i, from) in REGIONS.iter().enumerate() {
                for (j, to) in REGIONS.iter().enumerate() {
                    if i == j {
                        continue;
                    }
                    let latency = Duration::from_millis(rng.gen_range(80..=150));
                    let link = proxy::Link {
                        latency,
                        jitter: Duration::from_millis(15),
                        drop: 0.0005,
                    };
                    let target = SocketAddr::new(cluster.wan_ip(to)?, 7170);
                    let listen = SocketAddr::new(wan_gateway(), link_port(base, i, j));
                    notes.push(format!("{from}→{to} {} ms ±15", latency.as_millis()));
                    links.push((listen, target, link));
                }
            }
            proxy::start(links, seed, cancel_proxy.clone()).await?;
        }
        for r in REGIONS {
            cluster.wait_healthy(r, Duration::from_secs(120)).await?;
        }
        let h = History::new();
        let model: SharedModel = Arc::default();
        h.step("cluster healthy; setting up keys");
        workload::setup(&cluster, &h, &model, 6, seed).await?;
        let load = Load {
            rotation_storm: name == "kill-primary",
            max_ops_per_task: 100_000,
        };
        let stop = CancellationToken::new();
        let tasks = workload::start(cluster.clone(), h.clone(), model.clone(), load, seed, stop.clone());
        h.step("load running");
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut verdict = Verdict::default();
        let failover = fault(
            name,
            &cluster,
            &h,
            &model,
            &shape,
            disk.as_ref(),
            &mut verdict,
            &mut notes,
        )
        .await;
        let failover = match failover {
            Ok(f) => f,
            Err(e) => {
                verdict.expectations.push(format!("fault script: {e:#}"));
                None
            }
        };
        // Heal whatever is left and let the load run on a healthy cluster.
        heal_all(&cluster, &h).await;
        tokio::time::sleep(Duration::from_secs(args.settle_secs)).await;
        stop.cancel();
        for t in tasks {
            let _ = t.await;
        }
        h.step("load stopped; checking");
        check::from_history(&h.snapshot(), &mut verdict);
        check::after_heal(&cluster, &h, &model, &mut verdict).await;
        let rec = h.snapshot();
        std::fs::write(out.join("history.json"), serde_json::to_vec(&rec)?)?;
        Ok::<_, anyhow::Error>((verdict, failover, notes))
    }
    .await;
    if !keep {
        if let Err(e) = compose.down() {
            eprintln!("warning: compose down: {e:#}");
        }
    }
    drop(disk);
    let (verdict, failover_ms, notes) = result?;
    Ok(Row {
        scenario: name.to_string(),
        seed,
        secs: started.elapsed().as_secs_f64(),
        failover_ms,
        notes,
        verdict,
        reproduce: reproduce(name, seed, args),
    })
}

/// Brings every region back: started, unpaused, reconnected, space returned.
async fn heal_all(cluster: &Cluster, h: &History) {
    for r in REGIONS {
        let c = cluster.container(r);
        let _ = docker::docker(&["unpause", &c]);
        let _ = docker::docker(&["start", &c]);
        let _ = docker::docker(&["update", "--restart=on-failure", &c]);
        let wan = format!("{PREFIX}_wan");
        if !docker::addresses(&c).map(|a| a.contains_key(&wan)).unwrap_or(true) {
            let _ = docker::docker(&["network", "connect", "--alias", r, &wan, &c]);
        }
    }
    for r in REGIONS {
        if let Err(e) = cluster.wait_healthy(r, Duration::from_secs(90)).await {
            h.step(format!("heal: {e}"));
        }
        h.restore(r);
    }
}

fn kill(cluster: &Cluster, h: &History, region: &str) -> Result<()> {
    let c = cluster.container(region);
    docker::docker(&["update", "--restart=no", &c])?;
    h.impair(region, "killed");
    docker::docker(&["kill", "-s", "KILL", &c])?;
    h.step(format!("kill -9 {region}"));
    Ok(())
}

async fn restart_killed(cluster: &Cluster, h: &History, region: &str) -> Result<()> {
    let c = cluster.container(region);
    docker::docker(&["start", &c])?;
    docker::docker(&["update", "--restart=on-failure", &c])?;
    cluster.wait_healthy(region, Duration::from_secs(90)).await?;
    h.restore(region);
    h.step(format!("{region} restarted and healthy"));
    Ok(())
}

fn disconnect(cluster: &Cluster, h: &History, region: &str) -> Result<()> {
    docker::docker(&[
        "network",
        "disconnect",
        &format!("{PREFIX}_wan"),
        &cluster.container(region),
    ])?;
    h.step(format!("{region} cut off from the wan (docker network disconnect)"));
    Ok(())
}

fn reconnect(cluster: &Cluster, h: &History, region: &str) -> Result<()> {
    docker::docker(&[
        "network",
        "connect",
        "--alias",
        region,
        &format!("{PREFIX}_wan"),
        &cluster.container(region),
    ])?;
    h.step(format!("{region} reconnected"));
    Ok(())
}

/// Issues `n` Multi-Region writes in `region` one after another; returns
/// (acknowledged, latency of each refusal in ms).
async fn mrk_write_probe(cluster: &Cluster, h: &History, region: &str, n: usize) -> (usize, Vec<u64>) {
    let mut acked = 0;
    let mut refusals = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let r = workload::create_key(
            cluster,
            h,
            region,
            true,
            "chaos: written in a cut-off region",
            Duration::from_secs(30),
        )
        .await;
        match r {
            Ok(_) => acked += 1,
            Err(_) => refusals.push(t.elapsed().as_millis() as u64),
        }
    }
    (acked, refusals)
}

/// Injects the scenario's fault and heals it. Returns the failover time.
#[allow(clippy::too_many_arguments)]
async fn fault(
    name: &str,
    cluster: &Cluster,
    h: &History,
    model: &SharedModel,
    shape: &Shape,
    disk: Option<&docker::SmallDisk>,
    v: &mut Verdict,
    notes: &mut Vec<String>,
) -> Result<Option<u64>> {
    let election = election_max(shape.max_rtt_ms);
    match name {
        "kill-primary" => {
            // Every MRK's primary is us-east-1 (the setup made them there).
            let victim = "us-east-1";
            tokio::time::sleep(Duration::from_secs(2)).await;
            kill(cluster, h, victim)?;
            let t0 = h.now_ms();
            let first = workload::promote(cluster, h, model, "eu-west-1").await;
            h.step("UpdatePrimaryRegion → eu-west-1 for every MRK");
            let failover = first.map(|t| t - t0);
            if failover.is_none() {
                v.expectations
                    .push("no UpdatePrimaryRegion was acknowledged in a survivor".into());
            }
            tokio::time::sleep(Duration::from_secs(4)).await;
            restart_killed(cluster, h, victim).await?;
            Ok(failover)
        }
        "partition-region" => {
            let leader = cluster.wait_leader(&REGIONS, Duration::from_secs(30)).await?;
            // Not the leader (that is the next scenario) and not the primary.
            let victim = REGIONS
                .iter()
                .find(|r| **r != leader && **r != "us-east-1")
                .copied()
                .unwrap_or("eu-west-1");
            notes.push(format!("leader {leader}, cut off {victim}"));
            disconnect(cluster, h, victim)?;
            let t0 = h.now_ms();
            // Let the first refusal come, then measure the next ones.
            let (acked, refusals) = mrk_write_probe(cluster, h, victim, 4).await;
            if acked > 0 {
                v.expectations.push(format!(
                    "{acked} Multi-Region writes were acknowledged in the cut-off {victim}"
                ));
            }
            let later_max = refusals.iter().skip(1).max().copied().unwrap_or(0);
            notes.push(format!(
                "writes in the cut-off region refused in {refusals:?} ms (first, then later ones)"
            ));
            if later_max > election.as_millis() as u64 * 2 {
                v.expectations.push(format!(
                    "a later write in the cut-off region took {later_max} ms to be refused (bound {} ms)",
                    election.as_millis() * 2
                ));
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
            let majority_ok = h.snapshot().events.iter().any(|e| {
                e.invoke_ms >= t0
                    && e.region != victim
                    && e.outcome == history::Outcome::Ok
                    && matches!(e.op, "RotateKeyOnDemand" | "ReplicateKey" | "UpdatePrimaryRegion")
            });
            if !majority_ok {
                v.expectations
                    .push("the majority acknowledged no Multi-Region write during the partition".into());
            }
            reconnect(cluster, h, victim)?;
            let _ = t0;
            Ok(None)
        }
        "partition-leader" => {
            let leader = cluster.wait_leader(&REGIONS, Duration::from_secs(30)).await?;
            notes.push(format!("cut off the leader {leader}"));
            disconnect(cluster, h, &leader)?;
            let t0 = h.now_ms();
            let others: Vec<&str> = REGIONS.iter().copied().filter(|r| *r != leader).collect();
            let new_leader = cluster.wait_leader(&others, Duration::from_secs(30)).await;
            let failover = h.now_ms() - t0;
            match new_leader {
                Ok(l) => h.step(format!("{l} leads after {failover} ms")),
                Err(e) => v.expectations.push(format!("no new leader: {e}")),
            }
            tokio::time::sleep(Duration::from_secs(4)).await;
            reconnect(cluster, h, &leader)?;
            Ok(Some(failover))
        }
        "wan-latency" => {
            h.step("running over the delay proxy");
            tokio::time::sleep(Duration::from_secs(15)).await;
            let rec = h.snapshot();
            let mut lat: Vec<u64> = rec
                .events
                .iter()
                .filter(|e| e.op == "RotateKeyOnDemand" && e.outcome == history::Outcome::Ok)
                .map(|e| e.complete_ms - e.invoke_ms)
                .collect();
            lat.sort_unstable();
            if lat.is_empty() {
                v.expectations.push("no rotation was acknowledged over the WAN".into());
            } else {
                notes.push(format!(
                    "{} rotations acknowledged, p50 {} ms, max {} ms",
                    lat.len(),
                    lat[lat.len() / 2],
                    lat[lat.len() - 1]
                ));
            }
            Ok(None)
        }
        "rolling-restart" => {
            for r in REGIONS {
                h.impair(r, "restarting");
                docker::docker(&["restart", "-t", "10", &cluster.container(r)])?;
                cluster.wait_healthy(r, Duration::from_secs(90)).await?;
                h.restore(r);
                h.step(format!("{r} restarted and healthy"));
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Ok(None)
        }
        "pause" => {
            let leader = cluster.wait_leader(&REGIONS, Duration::from_secs(30)).await?;
            let c = cluster.container(&leader);
            h.impair(&leader, "paused");
            docker::docker(&["pause", &c])?;
            h.step(format!("docker pause {leader} (the leader)"));
            let t0 = h.now_ms();
            let others: Vec<&str> = REGIONS.iter().copied().filter(|r| *r != leader).collect();
            let failover = match cluster.wait_leader(&others, election * 4).await {
                Ok(l) => {
                    let f = h.now_ms() - t0;
                    h.step(format!("{l} leads after {f} ms"));
                    Some(f)
                }
                Err(e) => {
                    v.expectations
                        .push(format!("no new leader while {leader} was paused: {e}"));
                    None
                }
            };
            let held = Duration::from_millis(h.now_ms() - t0);
            tokio::time::sleep((election * 3).saturating_sub(held)).await;
            docker::docker(&["unpause", &c])?;
            cluster.wait_healthy(&leader, Duration::from_secs(30)).await?;
            h.restore(&leader);
            h.step(format!("{leader} resumed"));
            Ok(failover)
        }
        "disk-full" => {
            let disk = disk.context("no small disk")?;
            let victim = "ap-northeast-2";
            h.impair(victim, "disk full");
            disk.fill(32 << 20)?;
            let filled_at = h.now_ms();
            h.step(format!("{victim}'s volume filled: {} MiB free", disk.free()? >> 20));
            // The region must refuse writes and say why.
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut said = None;
            while said.is_none() && Instant::now() < deadline {
                let r = workload::create_key(cluster, h, victim, false, "chaos: disk", Duration::from_secs(5)).await;
                if r.is_err() {
                    let rec = h.snapshot();
                    if let Some(e) = rec
                        .events
                        .iter()
                        .rev()
                        .find(|e| e.op == "CreateKey" && e.region == victim)
                    {
                        if e.message.contains("out of space") {
                            said = Some(format!("{}: {}", e.error, e.message));
                        }
                    }
                } else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            match &said {
                Some(m) => notes.push(format!("refused with {m}")),
                None => v
                    .expectations
                    .push(format!("{victim} did not refuse writes with an out-of-space error")),
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
            // Reads fail closed too (their audit record cannot be made
            // durable), saying why.
            let decrypt_said = h.snapshot().events.iter().any(|e| {
                e.region == victim
                    && e.op == "LocalDecrypt"
                    && e.invoke_ms >= filled_at
                    && e.message.contains("out of space")
            });
            if !decrypt_said {
                v.expectations.push(format!(
                    "{victim}'s decrypts did not fail closed with an out-of-space error"
                ));
            }
            disk.drain()?;
            let t0 = Instant::now();
            h.step(format!("{victim}'s space returned"));
            let mut recovered = None;
            while recovered.is_none() && t0.elapsed() < Duration::from_secs(20) {
                let r = workload::create_key(cluster, h, victim, false, "chaos: disk", Duration::from_secs(5)).await;
                if r.is_ok() {
                    recovered = Some(t0.elapsed());
                } else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            h.restore(victim);
            match recovered {
                Some(d) => notes.push(format!(
                    "writes succeed again {} ms after space returned",
                    d.as_millis()
                )),
                None => v.expectations.push(format!("{victim} did not recover within 20 s")),
            }
            Ok(None)
        }
        other => bail!("no fault script for {other}"),
    }
}

fn print_details(r: &Row) {
    let v = &r.verdict;
    for n in &r.notes {
        println!("  note: {n}");
    }
    let lists: [(&str, &Vec<String>); 7] = [
        ("LOST", &v.lost),
        ("UNDECRYPTABLE", &v.undecryptable),
        ("UNAVAILABLE", &v.unavailable),
        ("DIVERGED", &v.diverged),
        ("AUDIT", &v.audit),
        ("NODE", &v.node_errors),
        ("EXPECTATION", &v.expectations),
    ];
    for (label, list) in lists {
        for item in list.iter().take(10) {
            println!("  {label}: {item}");
        }
        if list.len() > 10 {
            println!("  {label}: ... and {} more", list.len() - 10);
        }
    }
    if v.wrong > 0 {
        println!("  WRONG: {} decrypts returned the wrong plaintext", v.wrong);
    }
    let verdict = if v.violations() == 0 { "passed" } else { "FAILED" };
    println!(
        "  {} {verdict} in {:.0} s; reproduce: {}",
        r.scenario, r.secs, r.reproduce
    );
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<17} {:>6} {:>6} {:>5} {:>6} {:>7} {:>7} {:>6} {:>8} {:>21} {:>9} {:>7}",
        "scenario",
        "ops",
        "acked",
        "lost",
        "wrong",
        "undecr",
        "unavail",
        "other",
        "maxgap",
        "(us / eu / ap ms)",
        "failover",
        "result"
    );
    for r in rows {
        let v = &r.verdict;
        let gaps: Vec<String> = REGIONS
            .iter()
            .map(|g| v.max_gap_ms.get(*g).map(|x| x.to_string()).unwrap_or("-".into()))
            .collect();
        let other = v.diverged.len() + v.audit.len() + v.node_errors.len() + v.expectations.len();
        println!(
            "{:<17} {:>6} {:>6} {:>5} {:>6} {:>7} {:>7} {:>6} {:>8} {:>21} {:>9} {:>7}",
            r.scenario,
            v.ops,
            v.acked,
            v.lost.len(),
            v.wrong,
            v.undecryptable.len(),
            v.unavailable.len(),
            other,
            v.max_gap_ms.values().max().copied().unwrap_or(0),
            gaps.join(" / "),
            r.failover_ms.map(|f| format!("{f} ms")).unwrap_or("-".into()),
            if v.violations() == 0 { "pass" } else { "FAIL" }
        );
    }
}
