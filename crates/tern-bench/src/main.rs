//! tern-bench: drives a region node over gRPC with N concurrent clients
//! (one HTTP/2 connection each) for a bounded time and request count, and in
//! the same run drives a plain tonic echo service with the same payload and
//! concurrency. Prints ops/s, p50, p99, the ratio to the echo baseline, and
//! the average number of requests acknowledged per synced batch.
//!
//! The node runs in this process on 127.0.0.1:0 with a fresh data directory
//! and durable audit, unless `--endpoint` points at a running node.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use tern_client::{connect, Credentials, KmsClient};
use tern_proto::pb;
use tonic::{Request, Response, Status};

/// mimalloc: glibc malloc showed up as ~8% of the decrypt path's CPU
/// (malloc, free, consolidation); mimalloc's thread-local pages avoid it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod mrk;

mod echo {
    #![allow(clippy::all, missing_debug_implementations)]
    tonic::include_proto!("tern.bench.v1");
}

const ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Op {
    Decrypt,
    /// Decrypt under a key whose policy has 20 statements with conditions.
    DecryptPolicy20,
    Encrypt,
    GenerateDataKey,
    CreateKey,
    /// Multi-Region: RotateKeyOnDemand acknowledged → every region encrypts with it.
    MrkRotation,
    /// Multi-Region: decrypt in a replica with and without the primary rotating.
    MrkDecrypt,
    /// Decrypt over the AWS JSON 1.1 API (HTTP/1.1, SigV4-signed, one
    /// connection per client), against gRPC Decrypt in the same run.
    JsonDecrypt,
    /// Sign (ECDSA_SHA_256, RAW) with an ECC_NIST_P256 key, against gRPC Decrypt in the same run.
    SignEccP256,
    /// Sign (RSASSA_PSS_SHA_256, RAW) with an RSA_2048 key, against gRPC Decrypt in the same run.
    SignRsa2048,
}

impl Op {
    /// The signing key spec and algorithm of a Sign op.
    fn signing(self) -> Option<(&'static str, &'static str)> {
        match self {
            Op::SignEccP256 => Some(("ECC_NIST_P256", "ECDSA_SHA_256")),
            Op::SignRsa2048 => Some(("RSA_2048", "RSASSA_PSS_SHA_256")),
            _ => None,
        }
    }
}

#[derive(Parser, Debug)]
#[command(about = "Load generator for tern with a same-run tonic echo baseline")]
struct Args {
    /// Operations to measure (repeat or comma-separate).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![Op::Decrypt])]
    op: Vec<Op>,
    /// Concurrent clients, each on its own connection.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Measured seconds per operation (after a warm-up of a fifth of it).
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Stop after this many measured requests per operation.
    #[arg(long, default_value_t = 2_000_000)]
    max_requests: u64,
    /// Plaintext bytes for encrypt/decrypt and the echo payload.
    #[arg(long, default_value_t = 1024)]
    payload_bytes: usize,
    /// Measure a running node instead of an in-process one.
    #[arg(long)]
    endpoint: Option<String>,
    /// Skip the echo baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Interleaved tern/echo rounds the duration is split into; the ratio
    /// reported is the median of the rounds' ratios, so drift on a shared
    /// machine hits both sides alike.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// mrk-rotation: one-way delays (ms) injected on every inter-region link,
    /// one run each.
    #[arg(long, value_delimiter = ',', default_values_t = vec![0u64, 50])]
    delay_ms: Vec<u64>,
    /// mrk-rotation: rotations measured per delay.
    #[arg(long, default_value_t = 20)]
    rotations: usize,
    /// mrk-decrypt: rotations per second the primary performs.
    #[arg(long, default_value_t = 20.0)]
    rotation_rate: f64,
    /// mrk-decrypt: Multi-Region keys the rotations are spread across.
    #[arg(long, default_value_t = 40)]
    rotating_keys: usize,
    /// mrk-*: each region snapshots its replicated state every this many
    /// log entries (a few hundred measures decrypt while snapshots are built).
    #[arg(long, default_value_t = 10_000)]
    snapshot_every: u64,
}

#[derive(Debug, Default)]
struct Stats {
    ok: u64,
    errors: u64,
    elapsed: Duration,
    hist: Option<Histogram<u64>>,
}

impl Stats {
    fn absorb(&mut self, other: Stats) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        match (self.hist.as_mut(), other.hist) {
            (Some(all), Some(h)) => {
                let _ = all.add(&h);
            }
            (None, h) => self.hist = h,
            (Some(_), None) => {}
        }
    }

    fn ops_per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn pct_ms(&self, q: f64) -> f64 {
        self.hist
            .as_ref()
            .map(|h| h.value_at_quantile(q) as f64 / 1000.0)
            .unwrap_or(0.0)
    }
    fn line(&self, name: &str) -> String {
        format!(
            "  {name:<6} {:>10.0} ops/s   p50 {:>7.2} ms   p99 {:>7.2} ms   ({} ok, {} errors, {:.1} s)",
            self.ops_per_sec(),
            self.pct_ms(0.5),
            self.pct_ms(0.99),
            self.ok,
            self.errors,
            self.elapsed.as_secs_f64()
        )
    }
}

/// Runs `concurrency` workers; each calls `step` in a loop until the
/// deadline or the request budget. Latencies in microseconds.
async fn drive<W, F, Fut>(concurrency: usize, duration: Duration, max_requests: u64, make: F) -> Result<Stats>
where
    W: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<W>>,
    W: Worker,
{
    let mut workers = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        workers.push(make(i).await?);
    }
    // Warm-up: a fifth of the duration, not measured.
    let warm = Instant::now() + duration / 5;
    let budget = Arc::new(std::sync::atomic::AtomicU64::new(max_requests));
    let start_gate = Arc::new(tokio::sync::Barrier::new(concurrency));
    let mut tasks = Vec::with_capacity(concurrency);
    for mut w in workers {
        let budget = budget.clone();
        let gate = start_gate.clone();
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            while Instant::now() < warm {
                let _ = w.step().await;
            }
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).ok();
            let (mut ok, mut errors) = (0u64, 0u64);
            let started = Instant::now();
            let end = started + duration;
            while Instant::now() < end {
                if budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
                    .is_err()
                {
                    break;
                }
                let t = Instant::now();
                match w.step().await {
                    Ok(()) => {
                        ok += 1;
                        if let Some(h) = hist.as_mut() {
                            let _ = h.record(t.elapsed().as_micros() as u64);
                        }
                    }
                    Err(e) => {
                        if errors == 0 {
                            eprintln!("tern-bench: a worker's first error: {} {}", e.code(), e.message());
                        }
                        errors += 1
                    }
                }
            }
            (ok, errors, started.elapsed(), hist)
        }));
    }
    let mut s = Stats::default();
    for t in tasks {
        let (ok, errors, elapsed, hist) = t.await?;
        s.ok += ok;
        s.errors += errors;
        s.elapsed = s.elapsed.max(elapsed);
        if let Some(h) = hist {
            match s.hist.as_mut() {
                Some(all) => {
                    let _ = all.add(&h);
                }
                None => s.hist = Some(h),
            }
        }
    }
    Ok(s)
}

trait Worker {
    fn step(&mut self) -> impl std::future::Future<Output = Result<(), Status>> + Send;
}

struct KmsWorker {
    client: KmsClient,
    json: Option<(tern_client::json::JsonClient, bytes::Bytes)>,
    op: Op,
    key_id: String,
    plaintext: Vec<u8>,
    blob: Vec<u8>,
}

impl Worker for KmsWorker {
    async fn step(&mut self) -> Result<(), Status> {
        match self.op {
            Op::Decrypt | Op::DecryptPolicy20 => {
                let r = self
                    .client
                    .decrypt(pb::DecryptRequest {
                        ciphertext_blob: self.blob.clone(),
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                if r.plaintext.len() != self.plaintext.len() {
                    return Err(Status::data_loss("wrong plaintext"));
                }
            }
            Op::Encrypt => {
                self.client
                    .encrypt(pb::EncryptRequest {
                        key_id: self.key_id.clone(),
                        plaintext: self.plaintext.clone(),
                        ..Default::default()
                    })
                    .await?;
            }
            Op::GenerateDataKey => {
                self.client
                    .generate_data_key(pb::GenerateDataKeyRequest {
                        key_id: self.key_id.clone(),
                        key_spec: Some("AES_256".into()),
                        ..Default::default()
                    })
                    .await?;
            }
            Op::CreateKey => {
                self.client.create_key(pb::CreateKeyRequest::default()).await?;
            }
            Op::JsonDecrypt => {
                let Some((json, body)) = self.json.as_mut() else {
                    return Err(Status::internal("no JSON client"));
                };
                let r = json
                    .call("Decrypt", body.clone())
                    .await
                    .map_err(|e| Status::unavailable(e.to_string()))?;
                if !r.status.is_success() {
                    return Err(Status::internal(format!("HTTP {}", r.status)));
                }
                let out: pb::DecryptResponse =
                    serde_json::from_slice(&r.body).map_err(|e| Status::data_loss(e.to_string()))?;
                if out.plaintext.len() != self.plaintext.len() {
                    return Err(Status::data_loss("wrong plaintext"));
                }
            }
            Op::SignEccP256 | Op::SignRsa2048 => {
                let (_, alg) = self.op.signing().unwrap_or_default();
                let r = self
                    .client
                    .sign(pb::SignRequest {
                        key_id: self.key_id.clone(),
                        message: self.plaintext.clone(),
                        signing_algorithm: alg.to_string(),
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                if r.signature.is_empty() {
                    return Err(Status::data_loss("empty signature"));
                }
            }
            Op::MrkRotation | Op::MrkDecrypt => {
                return Err(Status::invalid_argument("measured by the mrk module"));
            }
        }
        Ok(())
    }
}

struct EchoWorker {
    client: echo::echo_client::EchoClient<tonic::transport::Channel>,
    payload: Vec<u8>,
}

impl Worker for EchoWorker {
    async fn step(&mut self) -> Result<(), Status> {
        let r = self
            .client
            .echo(echo::EchoMessage {
                payload: self.payload.clone(),
            })
            .await?
            .into_inner();
        if r.payload.len() != self.payload.len() {
            return Err(Status::data_loss("wrong echo"));
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct EchoService;

#[tonic::async_trait]
impl echo::echo_server::Echo for EchoService {
    async fn echo(&self, request: Request<echo::EchoMessage>) -> Result<Response<echo::EchoMessage>, Status> {
        Ok(Response::new(request.into_inner()))
    }
}

async fn start_echo() -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // Same socket options as the node's listener (TCP_NODELAY).
    let incoming = tokio_stream::StreamExt::map(tokio_stream::wrappers::TcpListenerStream::new(listener), |s| {
        if let Ok(s) = &s {
            let _ = s.set_nodelay(true);
        }
        s
    });
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(echo::echo_server::EchoServer::new(EchoService))
            .serve_with_incoming(incoming),
    );
    Ok(addr)
}

async fn start_node(dir: &std::path::Path) -> Result<tern_server::Node> {
    let principals = format!(
        "[[accounts]]\nid = \"111122223333\"\n[[accounts.users]]\nname = \"admin\"\naccess_key_id = \"{ACCESS_KEY_ID}\"\nsecret_access_key = \"{SECRET_ACCESS_KEY}\"\npolicies = ['{{\"Statement\":[{{\"Effect\":\"Allow\",\"Action\":\"kms:*\",\"Resource\":\"*\"}}]}}']\n"
    );
    let node = tern_server::Node::start(tern_server::NodeOptions {
        region: tern_core::ids::Region::parse(REGION).map_err(|e| anyhow::anyhow!("{e}"))?,
        data_dir: dir.to_path_buf(),
        listen: "127.0.0.1:0".parse()?,
        root_key: tern_core::crypto::RootKey::from_bytes(rand_key()),
        principals: Arc::new(tern_server::auth::PrincipalRegistry::from_toml(&principals)?),
        clock: Arc::new(tern_service::SystemClock),
        scheduler_interval: None,
        min_free_bytes: tern_server::DEFAULT_MIN_FREE_BYTES,
        limits: tern_server::Limits::default(),
        client_tls: None,
        cluster: None,
    })
    .await?;
    Ok(node)
}

fn rand_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut k);
    k
}

fn creds() -> Credentials {
    Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
}

async fn main_async(args: Args) -> Result<()> {
    if args.concurrency == 0 || args.duration_secs == 0 {
        bail!("--concurrency and --duration-secs must be positive");
    }
    // The Multi-Region benchmarks run their own three-region cluster.
    let mrk_ops: Vec<Op> = args
        .op
        .iter()
        .copied()
        .filter(|o| matches!(o, Op::MrkRotation | Op::MrkDecrypt))
        .collect();
    for op in &mrk_ops {
        match op {
            Op::MrkRotation => mrk::rotation(&args).await?,
            _ => mrk::decrypt_under_rotation(&args).await?,
        }
    }
    if mrk_ops.len() == args.op.len() {
        return Ok(());
    }
    let data = tempfile::Builder::new().prefix("tern-bench-").tempdir()?;
    let node = match &args.endpoint {
        Some(_) => None,
        None => Some(start_node(data.path()).await?),
    };
    let endpoint = match (&args.endpoint, &node) {
        (Some(e), _) => e.clone(),
        (None, Some(n)) => n.endpoint(),
        (None, None) => bail!("no endpoint"),
    };
    let echo_addr = start_echo().await?;
    let duration = Duration::from_secs(args.duration_secs);
    println!(
        "tern-bench: concurrency={} duration={}s max_requests={} payload={}B endpoint={} (durable audit; quotas: none enforced yet)",
        args.concurrency, args.duration_secs, args.max_requests, args.payload_bytes, endpoint
    );

    let mut setup = connect(&endpoint, REGION, creds()).await.context("connecting")?;
    let key_id = setup
        .create_key(pb::CreateKeyRequest {
            description: Some("tern-bench".into()),
            ..Default::default()
        })
        .await?
        .into_inner()
        .key_metadata
        .context("no key metadata")?
        .key_id;
    let plaintext = vec![0x5a; args.payload_bytes];
    let policy_key = setup
        .create_key(pb::CreateKeyRequest {
            description: Some("tern-bench 20-statement policy".into()),
            policy: Some(twenty_statement_policy()),
            // Its conditions read request facts the lockout check cannot see.
            bypass_policy_lockout_safety_check: Some(true),
            ..Default::default()
        })
        .await?
        .into_inner()
        .key_metadata
        .context("no key metadata")?
        .key_id;
    let policy_blob = setup
        .encrypt(pb::EncryptRequest {
            key_id: policy_key.clone(),
            plaintext: plaintext.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .ciphertext_blob;
    let blob = setup
        .encrypt(pb::EncryptRequest {
            key_id: key_id.clone(),
            plaintext: plaintext.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .ciphertext_blob;

    for op in &args.op {
        let (default_key, default_blob) = (key_id.clone(), blob.clone());
        let (key_id, blob) = match (op, op.signing()) {
            (Op::DecryptPolicy20, _) => (policy_key.clone(), policy_blob.clone()),
            (_, Some((spec, _))) => {
                let signing_key = setup
                    .create_key(pb::CreateKeyRequest {
                        key_spec: Some(spec.into()),
                        key_usage: Some("SIGN_VERIFY".into()),
                        ..Default::default()
                    })
                    .await?
                    .into_inner()
                    .key_metadata
                    .context("no key metadata")?
                    .key_id;
                (signing_key, Vec::new())
            }
            _ => (key_id.clone(), blob.clone()),
        };
        let mut policy_ratios: Vec<f64> = Vec::new();
        let stats_before = node.as_ref().map(|n| {
            let s = n.kms().store().stats();
            (s.batches.load(Ordering::Relaxed), s.txns.load(Ordering::Relaxed))
        });

        let rounds = args.rounds.max(1);
        let slice = duration / rounds;
        let (mut tern, mut echo, mut ratios) = (Stats::default(), Stats::default(), Vec::new());
        for _ in 0..rounds {
            let t = drive(args.concurrency, slice, args.max_requests / u64::from(rounds), |_| {
                let (endpoint, key_id, plaintext, blob, op) =
                    (endpoint.clone(), key_id.clone(), plaintext.clone(), blob.clone(), *op);
                async move {
                    let client = connect(&endpoint, REGION, creds()).await?;
                    let json = if op == Op::JsonDecrypt {
                        let body = serde_json::to_vec(&pb::DecryptRequest {
                            ciphertext_blob: blob.clone(),
                            ..Default::default()
                        })?;
                        let c = tern_client::json::JsonClient::connect(&endpoint, REGION, creds()).await?;
                        Some((c, bytes::Bytes::from(body)))
                    } else {
                        None
                    };
                    Ok(KmsWorker {
                        client,
                        json,
                        op,
                        key_id,
                        plaintext,
                        blob,
                    })
                }
            })
            .await?;
            if matches!(
                *op,
                Op::DecryptPolicy20 | Op::JsonDecrypt | Op::SignEccP256 | Op::SignRsa2048
            ) {
                // Same-run comparison against decrypt under the default policy.
                let d = drive(args.concurrency, slice, args.max_requests / u64::from(rounds), |_| {
                    let (endpoint, key_id, plaintext, blob) = (
                        endpoint.clone(),
                        default_key.clone(),
                        plaintext.clone(),
                        default_blob.clone(),
                    );
                    async move {
                        let client = connect(&endpoint, REGION, creds()).await?;
                        Ok(KmsWorker {
                            client,
                            json: None,
                            op: Op::Decrypt,
                            key_id,
                            plaintext,
                            blob,
                        })
                    }
                })
                .await?;
                policy_ratios.push(t.ops_per_sec() / d.ops_per_sec().max(1e-9));
            }
            if !args.no_baseline {
                let e = drive(args.concurrency, slice, args.max_requests / u64::from(rounds), |_| {
                    let payload = plaintext.clone();
                    async move {
                        let client = echo::echo_client::EchoClient::connect(format!("http://{echo_addr}")).await?;
                        Ok(EchoWorker { client, payload })
                    }
                })
                .await?;
                ratios.push(t.ops_per_sec() / e.ops_per_sec().max(1e-9));
                echo.absorb(e);
            }
            tern.absorb(t);
        }
        let batch_line = match (&node, stats_before) {
            (Some(n), Some((b0, t0))) => {
                let s = n.kms().store().stats();
                let (b, t) = (
                    s.batches.load(Ordering::Relaxed) - b0,
                    s.txns.load(Ordering::Relaxed) - t0,
                );
                format!(
                    "  group commit: {:.1} requests per synced batch ({} batches, {} requests incl. warm-up)",
                    t as f64 / (b.max(1)) as f64,
                    b,
                    t
                )
            }
            _ => "  group commit: n/a (external endpoint)".to_string(),
        };
        println!("op={op:?}");
        println!("{}", tern.line("tern"));
        if !args.no_baseline {
            println!("{}", echo.line("echo"));
            let mut sorted = ratios.clone();
            sorted.sort_by(f64::total_cmp);
            let median = sorted[sorted.len() / 2];
            let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
            println!(
                "  ratio tern/echo = {median:.2} (median of {} interleaved rounds: {}); p50 {:.2}x",
                ratios.len(),
                shown.join(" "),
                tern.pct_ms(0.5) / echo.pct_ms(0.5).max(1e-9)
            );
        }
        println!("{batch_line}");
        if !policy_ratios.is_empty() {
            let shown: Vec<String> = policy_ratios.iter().map(|r| format!("{r:.2}")).collect();
            policy_ratios.sort_by(f64::total_cmp);
            let what = match op {
                Op::JsonDecrypt => "decrypt over AWS JSON / over gRPC",
                Op::SignEccP256 | Op::SignRsa2048 => "sign / gRPC decrypt (1 KiB)",
                _ => "decrypt with the 20-statement policy / with the default policy",
            };
            println!(
                "  {what} = {:.2} (median of interleaved rounds: {})",
                policy_ratios[policy_ratios.len() / 2],
                shown.join(" ")
            );
        }
    }
    if let Some(n) = node {
        n.shutdown().await;
    }
    Ok(())
}

/// A key policy of 20 statements with conditions: 19 that do not apply to
/// the bench principal (other principals, other contexts, denies that do
/// not match) and one that allows it with conditions that hold. Every
/// statement is evaluated on every request.
fn twenty_statement_policy() -> String {
    let mut st = Vec::new();
    for i in 0..10 {
        st.push(format!(
            r#"{{"Sid":"Other{i}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:user/other{i}"}},"Action":["kms:Decrypt","kms:Encrypt"],"Resource":"*","Condition":{{"StringEquals":{{"kms:EncryptionContext:team":"t{i}"}},"IpAddress":{{"aws:SourceIp":"10.{i}.0.0/16"}}}}}}"#
        ));
    }
    for i in 0..9 {
        st.push(format!(
            r#"{{"Sid":"Deny{i}","Effect":"Deny","Principal":{{"AWS":"*"}},"Action":"kms:*","Resource":"*","Condition":{{"StringLike":{{"kms:EncryptionContext:purpose":"forbidden-{i}-*"}},"DateGreaterThan":{{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}}}}}"#
        ));
    }
    st.push(format!(
        r#"{{"Sid":"Bench","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:user/admin"}},"Action":"kms:*","Resource":"*","Condition":{{"StringEqualsIfExists":{{"kms:EncryptionContext:purpose":"bench"}},"Bool":{{"aws:SecureTransport":"false"}},"NumericLessThanEquals":{{"aws:EpochTime":"{}"}}}}}}"#,
        u32::MAX
    ));
    format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, st.join(","))
}

fn main() -> Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(main_async(args))
}
