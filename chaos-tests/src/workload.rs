//! The workload: region clients (through `tern-client`, as applications use
//! tern), the model of what was acknowledged, and the load tasks.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use tern_client::{connect_lazy_tls, error_kind, Credentials, KmsClient, Tls};
use tern_proto::pb;
use tokio_util::sync::CancellationToken;

use crate::docker;
use crate::history::{Event, History, Outcome};

pub const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-northeast-2"];

/// How the runner reaches each region: over the region's own local docker
/// network (the address a region-local application would use).
#[derive(Debug)]
pub struct Cluster {
    pub prefix: String,
    clients: Mutex<HashMap<String, (IpAddr, KmsClient)>>,
    /// The cluster CA (`tern init --client-tls`): client ports serve TLS.
    ca_pem: Mutex<Option<String>>,
    /// The administrator credentials `tern init` generated for this
    /// deployment (from the clients' config volume).
    credentials: Mutex<Option<Credentials>>,
}

impl Cluster {
    pub fn new(prefix: &str) -> Cluster {
        Cluster {
            prefix: prefix.to_string(),
            clients: Mutex::default(),
            ca_pem: Mutex::default(),
            credentials: Mutex::default(),
        }
    }

    /// Reads the cluster CA and the administrator credentials `tern init`
    /// wrote into the clients' config volume (once init ran), from a
    /// region-local probe container that mounts it.
    pub fn load_ca(&self) -> Result<()> {
        let dir = std::env::temp_dir().join(format!("{}-client", self.prefix));
        std::fs::create_dir_all(&dir)?;
        let probe = format!("{}-probe-{}", self.prefix, REGIONS[0]);
        let copy = |name: &str| -> Result<String> {
            let dest = dir.join(name);
            docker::docker(&["cp", &format!("{probe}:/etc/tern/{name}"), &dest.display().to_string()])?;
            let text = std::fs::read_to_string(&dest)?;
            std::fs::remove_file(&dest)?;
            Ok(text)
        };
        *self.ca_pem.lock() = Some(copy("cluster-ca.pem")?);
        let creds = copy("admin-credentials")?;
        let creds = Credentials::from_shared_credentials(&creds, "default")
            .context("admin-credentials has no [default] profile")?;
        *self.credentials.lock() = Some(creds);
        Ok(())
    }

    fn credentials(&self) -> Result<Credentials> {
        self.credentials
            .lock()
            .clone()
            .context("the deployment's credentials were not loaded (load_ca)")
    }

    fn tls(&self, region: &str) -> Tls {
        Tls {
            ca_pem: self.ca_pem.lock().clone(),
            // The certificate names the region's host name; we dial its address.
            domain: Some(region.to_string()),
        }
    }

    pub fn container(&self, region: &str) -> String {
        format!("{}-{region}", self.prefix)
    }

    fn local_ip(&self, region: &str) -> Result<IpAddr> {
        let nets = docker::addresses(&self.container(region))?;
        let suffix = format!("local-{region}");
        nets.iter()
            .find(|(n, _)| n.ends_with(&suffix))
            .map(|(_, ip)| *ip)
            .with_context(|| format!("{} is not on its local network", self.container(region)))
    }

    /// The region's address on the wan network (the delay proxy's target).
    pub fn wan_ip(&self, region: &str) -> Result<IpAddr> {
        let nets = docker::addresses(&self.container(region))?;
        nets.iter()
            .find(|(n, _)| n.ends_with("_wan"))
            .map(|(_, ip)| *ip)
            .with_context(|| format!("{} is not on the wan network", self.container(region)))
    }

    /// A client of the region (cached; [`Cluster::forget`] after the
    /// container restarted, its address may have changed).
    pub fn client(&self, region: &str) -> Result<KmsClient> {
        if let Some((_, c)) = self.clients.lock().get(region) {
            return Ok(c.clone());
        }
        let ip = self.local_ip(region)?;
        let c = connect_lazy_tls(
            &format!("https://{ip}:7070"),
            region,
            self.credentials()?,
            &self.tls(region),
        )
        .map_err(|e| anyhow::anyhow!("{region}: {e}"))?;
        self.clients.lock().insert(region.to_string(), (ip, c.clone()));
        Ok(c)
    }

    pub fn forget(&self, region: &str) {
        self.clients.lock().remove(region);
    }

    /// grpc.health.v1 for `service` ("" = the node).
    pub async fn health(&self, region: &str, service: &str) -> bool {
        use tonic_health::pb::health_check_response::ServingStatus;
        use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
        let check = async {
            let ip = self.local_ip(region).ok()?;
            let ca = self.ca_pem.lock().clone()?;
            let tls = tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(ca))
                .domain_name(region);
            let ch = tonic::transport::Endpoint::from_shared(format!("https://{ip}:7070"))
                .ok()?
                .tls_config(tls)
                .ok()?
                .connect()
                .await
                .ok()?;
            let r = HealthClient::new(ch)
                .check(HealthCheckRequest {
                    service: service.to_string(),
                })
                .await
                .ok()?;
            Some(r.into_inner().status() == ServingStatus::Serving)
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(1), check).await,
            Ok(Some(true))
        )
    }

    pub async fn wait_healthy(&self, region: &str, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.health(region, "").await {
                self.forget(region);
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{region} not healthy within {timeout:?}")
    }

    /// The region leading the Raft group now, if one answers as leader.
    pub async fn leader(&self, among: &[&str]) -> Option<String> {
        for r in among {
            if self.health(r, "tern.raft.Leader").await {
                return Some(r.to_string());
            }
        }
        None
    }

    pub async fn wait_leader(&self, among: &[&str], timeout: Duration) -> Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if let Some(l) = self.leader(among).await {
                return Ok(l);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("no leader among {among:?} within {timeout:?}")
    }
}

/// Calls one operation and records it: the answer when acknowledged, else
/// the error's AWS exception name (or transport error).
pub async fn call<T, F, Fut>(
    cluster: &Cluster,
    h: &History,
    op: &'static str,
    region: &str,
    key: &str,
    timeout: Duration,
    f: F,
) -> Result<T, String>
where
    F: FnOnce(KmsClient) -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let invoke_ms = h.now_ms();
    let (outcome, error, message, value) = match cluster.client(region) {
        Err(e) => (Outcome::Fail, "NoClient".to_string(), e.to_string(), None),
        Ok(c) => match tokio::time::timeout(timeout, f(c)).await {
            Ok(Ok(r)) => (Outcome::Ok, String::new(), String::new(), Some(r.into_inner())),
            Ok(Err(s)) => {
                let kind = error_kind(&s).map(str::to_string);
                let outcome = match kind.as_deref() {
                    None | Some("DependencyTimeoutException") => Outcome::Indeterminate,
                    Some(_) => Outcome::Fail,
                };
                let kind = kind.unwrap_or_else(|| format!("transport:{:?}", s.code()));
                (outcome, kind, s.message().chars().take(200).collect(), None)
            }
            Err(_) => (Outcome::Indeterminate, "ClientTimeout".to_string(), String::new(), None),
        },
    };
    h.record(Event {
        op,
        region: region.to_string(),
        key: key.to_string(),
        invoke_ms,
        complete_ms: h.now_ms(),
        outcome,
        error: error.clone(),
        message,
    });
    value.ok_or(error)
}

/// DescribeKey in `region`, recorded.
pub async fn describe(
    cluster: &Cluster,
    h: &History,
    region: &str,
    key: &str,
    timeout: Duration,
) -> Result<pb::KeyMetadata, String> {
    let k = key.to_string();
    call(cluster, h, "DescribeKey", region, key, timeout, |mut c| async move {
        c.describe_key(pb::DescribeKeyRequest {
            key_id: k,
            grant_tokens: vec![],
        })
        .await
    })
    .await?
    .key_metadata
    .ok_or_else(|| "no key metadata".to_string())
}

/// CreateKey in `region` (Multi-Region when `multi_region`), recorded.
pub async fn create_key(
    cluster: &Cluster,
    h: &History,
    region: &str,
    multi_region: bool,
    description: &str,
    timeout: Duration,
) -> Result<pb::KeyMetadata, String> {
    let description = description.to_string();
    call(cluster, h, "CreateKey", region, "", timeout, |mut c| async move {
        c.create_key(pb::CreateKeyRequest {
            multi_region: multi_region.then_some(true),
            description: Some(description),
            ..Default::default()
        })
        .await
    })
    .await?
    .key_metadata
    .ok_or_else(|| "no key metadata".to_string())
}

/// A ciphertext the workload was given, and what it must decrypt to.
#[derive(Debug, Clone)]
pub struct Cipher {
    pub region: String,
    pub key: String,
    pub multi_region: bool,
    pub plaintext: Vec<u8>,
    pub blob: Vec<u8>,
    pub context: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Mrk {
    pub key: String,
    /// Regions whose copy was acknowledged (primary first).
    pub holders: Vec<String>,
    pub primary: String,
    pub rotations_acked: u64,
    pub rotations_invoked: u64,
    pub exhausted: bool,
    /// Made in the setup: every region holds it from the start.
    pub base: bool,
}

/// Policy writes to one key: the final policy must be the last acknowledged
/// one or one invoked after it.
#[derive(Debug, Clone, Default)]
pub struct PolicyTrack {
    pub last_acked: Option<u64>,
    pub invoked: Vec<u64>,
}

/// What was acknowledged: the checker's expectations.
#[derive(Debug, Default)]
pub struct Model {
    pub mrks: Vec<Mrk>,
    pub sr_keys: Vec<(String, String)>,
    pub base_keys: BTreeMap<String, String>,
    pub aliases: Vec<(String, String, String)>,
    pub policies: BTreeMap<(String, String), PolicyTrack>,
    pub ciphers: Vec<Cipher>,
    /// Per region: indexes into `ciphers` made in that region.
    pub pools: BTreeMap<String, Vec<usize>>,
    pub account: String,
}

pub type SharedModel = Arc<Mutex<Model>>;

pub fn policy_text(account: &str, n: u64) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Id":"chaos-{n}","Statement":[{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    )
}

/// The `n` of a policy written by [`policy_text`].
pub fn policy_number(text: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    v.get("Id")?.as_str()?.strip_prefix("chaos-")?.parse().ok()
}

fn context(n: u64) -> BTreeMap<String, String> {
    BTreeMap::from([("chaos".to_string(), n.to_string())])
}

const WRITE_TIMEOUT: Duration = Duration::from_secs(15);
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Creates the keys every task uses. Retries until done (the cluster is up
/// and healthy when this runs).
pub async fn setup(cluster: &Cluster, h: &History, model: &SharedModel, mrks: usize, seed: u64) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    for region in REGIONS {
        let meta = retry(|| async {
            create_key(cluster, h, region, false, "chaos base key", WRITE_TIMEOUT)
                .await
                .ok()
        })
        .await?;
        let mut m = model.lock();
        m.account = meta.aws_account_id.clone();
        m.base_keys.insert(region.to_string(), meta.key_id.clone());
        m.sr_keys.push((region.to_string(), meta.key_id.clone()));
    }
    for _ in 0..mrks {
        let primary = REGIONS[0];
        let key = retry(|| async {
            create_key(cluster, h, primary, true, "chaos MRK", WRITE_TIMEOUT)
                .await
                .ok()
                .map(|m| m.key_id)
        })
        .await?;
        for replica in &REGIONS[1..] {
            let k = key.clone();
            retry(|| {
                let k = k.clone();
                async move {
                    call(
                        cluster,
                        h,
                        "ReplicateKey",
                        primary,
                        &k.clone(),
                        WRITE_TIMEOUT,
                        |mut c| async move {
                            c.replicate_key(pb::ReplicateKeyRequest {
                                key_id: k,
                                replica_region: replica.to_string(),
                                ..Default::default()
                            })
                            .await
                        },
                    )
                    .await
                    .ok()
                }
            })
            .await?;
        }
        model.lock().mrks.push(Mrk {
            key,
            holders: REGIONS.iter().map(|r| r.to_string()).collect(),
            primary: primary.to_string(),
            rotations_acked: 0,
            rotations_invoked: 0,
            exhausted: false,
            base: true,
        });
    }
    // Seed ciphertexts: every region, its base key and every MRK (waiting for
    // each replica to be usable in its region).
    let keys: Vec<(String, bool)> = {
        let m = model.lock();
        m.mrks.iter().map(|k| (k.key.clone(), true)).collect()
    };
    for region in REGIONS {
        let base = model.lock().base_keys[region].clone();
        for (key, mr) in keys.iter().cloned().chain([(base, false)]) {
            for _ in 0..2 {
                let n = rng.next_u64();
                retry(|| encrypt_one(cluster, h, model, region, &key, mr, n)).await?;
            }
        }
    }
    Ok(())
}

async fn retry<T, F, Fut>(mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..60 {
        if let Some(v) = f().await {
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!("setup step did not succeed in 60 attempts")
}

/// Encrypts a fresh plaintext under `key` in `region`; on success the
/// ciphertext joins the region's pool.
async fn encrypt_one(
    cluster: &Cluster,
    h: &History,
    model: &SharedModel,
    region: &str,
    key: &str,
    multi_region: bool,
    n: u64,
) -> Option<usize> {
    let mut plaintext = vec![0u8; 64 + (n % 960) as usize];
    StdRng::seed_from_u64(n).fill_bytes(&mut plaintext);
    let ctx = context(n);
    let (p, k, c2) = (plaintext.clone(), key.to_string(), ctx.clone());
    let r = call(cluster, h, "Encrypt", region, key, READ_TIMEOUT, |mut c| async move {
        c.encrypt(pb::EncryptRequest {
            key_id: k,
            plaintext: p,
            encryption_context: c2.into_iter().collect(),
            ..Default::default()
        })
        .await
    })
    .await
    .ok()?;
    let mut m = model.lock();
    m.ciphers.push(Cipher {
        region: region.to_string(),
        key: key.to_string(),
        multi_region,
        plaintext,
        blob: r.ciphertext_blob,
        context: ctx,
    });
    let i = m.ciphers.len() - 1;
    m.pools.entry(region.to_string()).or_default().push(i);
    Some(i)
}

/// Decrypts `cipher` in `region` and records it as `op` (Wrong when the
/// plaintext differs). Returns whether it decrypted correctly.
pub async fn decrypt_one(
    cluster: &Cluster,
    h: &History,
    op: &'static str,
    region: &str,
    cipher: &Cipher,
    timeout: Duration,
) -> bool {
    let invoke_ms = h.now_ms();
    let (blob, ctx) = (cipher.blob.clone(), cipher.context.clone());
    let r = match cluster.client(region) {
        Err(e) => Err((Outcome::Fail, "NoClient".to_string(), e.to_string())),
        Ok(mut c) => match tokio::time::timeout(
            timeout,
            c.decrypt(pb::DecryptRequest {
                ciphertext_blob: blob,
                encryption_context: ctx.into_iter().collect(),
                ..Default::default()
            }),
        )
        .await
        {
            Ok(Ok(r)) => Ok(r.into_inner().plaintext),
            Ok(Err(s)) => Err((
                Outcome::Fail,
                error_kind(&s)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("transport:{:?}", s.code())),
                s.message().chars().take(200).collect(),
            )),
            Err(_) => Err((Outcome::Indeterminate, "ClientTimeout".to_string(), String::new())),
        },
    };
    let (outcome, error, message) = match r {
        Ok(p) if p == cipher.plaintext => (Outcome::Ok, String::new(), String::new()),
        Ok(_) => (Outcome::Wrong, "WrongPlaintext".to_string(), String::new()),
        Err(e) => e,
    };
    h.record(Event {
        op,
        region: region.to_string(),
        key: cipher.key.clone(),
        invoke_ms,
        complete_ms: h.now_ms(),
        outcome,
        error,
        message,
    });
    outcome == Outcome::Ok
}

/// What the load does and how hard.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Rotations back to back instead of paced.
    pub rotation_storm: bool,
    /// Upper bound on operations per task.
    pub max_ops_per_task: u64,
}

/// Starts every load task; they stop at `stop` (finishing the call in
/// flight) or after `max_ops_per_task`.
pub fn start(
    cluster: Arc<Cluster>,
    h: History,
    model: SharedModel,
    load: Load,
    seed: u64,
    stop: CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let parts = || (cluster.clone(), h.clone(), model.clone(), stop.clone());
    for (i, region) in REGIONS.iter().enumerate() {
        let (c, hh, m, s) = parts();
        tasks.push(tokio::spawn(local_decrypts(
            c,
            hh,
            m,
            region,
            load,
            seed ^ (i as u64 + 1),
            s,
        )));
        let (c, hh, m, s) = parts();
        tasks.push(tokio::spawn(regional_writes(
            c,
            hh,
            m,
            region,
            load,
            seed ^ (i as u64 + 11),
            s,
        )));
    }
    for j in 0..2u64 {
        let (c, hh, m, s) = parts();
        tasks.push(tokio::spawn(cross_region(c, hh, m, load, seed ^ (j + 21), s)));
    }
    let (c, hh, m, s) = parts();
    tasks.push(tokio::spawn(mrk_writes(c, hh, m, load, seed ^ 31, s)));
    tasks
}

/// A region-local application: decrypts ciphertexts made in its region,
/// every 20 ms.
async fn local_decrypts(
    cluster: Arc<Cluster>,
    h: History,
    model: SharedModel,
    region: &'static str,
    load: Load,
    seed: u64,
    stop: CancellationToken,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for _ in 0..load.max_ops_per_task {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        let cipher = {
            let m = model.lock();
            let pool = m.pools.get(region).map(Vec::as_slice).unwrap_or(&[]);
            if pool.is_empty() {
                continue;
            }
            m.ciphers[pool[rng.gen_range(0..pool.len())]].clone()
        };
        decrypt_one(&cluster, &h, "LocalDecrypt", region, &cipher, READ_TIMEOUT).await;
    }
}

/// Encrypt in one region, decrypt in another, under the base MRKs.
async fn cross_region(
    cluster: Arc<Cluster>,
    h: History,
    model: SharedModel,
    load: Load,
    seed: u64,
    stop: CancellationToken,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..load.max_ops_per_task {
        if stop.is_cancelled() {
            return;
        }
        let key = {
            let m = model.lock();
            let base: Vec<&Mrk> = m.mrks.iter().filter(|k| k.base).collect();
            if base.is_empty() {
                return;
            }
            base[rng.gen_range(0..base.len())].key.clone()
        };
        let x = REGIONS[rng.gen_range(0..3)];
        let y = loop {
            let y = REGIONS[rng.gen_range(0..3)];
            if y != x {
                break y;
            }
        };
        match encrypt_one(&cluster, &h, &model, x, &key, true, rng.next_u64()).await {
            Some(i) => {
                let cipher = model.lock().ciphers[i].clone();
                decrypt_one(&cluster, &h, "CrossDecrypt", y, &cipher, READ_TIMEOUT).await;
            }
            None => {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    _ = stop.cancelled() => return,
                }
            }
        }
    }
}

/// Single-Region keys, aliases, key policies and encrypts in one region.
async fn regional_writes(
    cluster: Arc<Cluster>,
    h: History,
    model: SharedModel,
    region: &'static str,
    load: Load,
    seed: u64,
    stop: CancellationToken,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut n = 0u64;
    for _ in 0..load.max_ops_per_task {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(40)) => {}
            _ = stop.cancelled() => return,
        }
        n += 1;
        let (base, account, sr_key) = {
            let m = model.lock();
            let mine: Vec<&(String, String)> = m.sr_keys.iter().filter(|(r, _)| r == region).collect();
            let k = mine[rng.gen_range(0..mine.len())].1.clone();
            (m.base_keys[region].clone(), m.account.clone(), k)
        };
        match rng.gen_range(0..4) {
            0 => {
                let r = create_key(
                    &cluster,
                    &h,
                    region,
                    false,
                    &format!("chaos {region} {n}"),
                    WRITE_TIMEOUT,
                )
                .await;
                if let Ok(meta) = r {
                    model.lock().sr_keys.push((region.to_string(), meta.key_id));
                }
            }
            1 => {
                let alias = format!("alias/chaos/{region}/{n}");
                let (a, k) = (alias.clone(), sr_key.clone());
                let r = call(
                    &cluster,
                    &h,
                    "CreateAlias",
                    region,
                    &sr_key,
                    WRITE_TIMEOUT,
                    |mut c| async move {
                        c.create_alias(pb::CreateAliasRequest {
                            alias_name: a,
                            target_key_id: k,
                        })
                        .await
                    },
                )
                .await;
                if r.is_ok() {
                    model.lock().aliases.push((region.to_string(), alias, sr_key));
                }
            }
            2 => {
                let track = (region.to_string(), base.clone());
                model.lock().policies.entry(track.clone()).or_default().invoked.push(n);
                let (k, p) = (base.clone(), policy_text(&account, n));
                let r = call(
                    &cluster,
                    &h,
                    "PutKeyPolicy",
                    region,
                    &base,
                    WRITE_TIMEOUT,
                    |mut c| async move {
                        c.put_key_policy(pb::PutKeyPolicyRequest {
                            key_id: k,
                            policy_name: Some("default".into()),
                            policy: p,
                            bypass_policy_lockout_safety_check: None,
                        })
                        .await
                    },
                )
                .await;
                if r.is_ok() {
                    model.lock().policies.entry(track).or_default().last_acked = Some(n);
                }
            }
            _ => {
                encrypt_one(&cluster, &h, &model, region, &sr_key, false, rng.next_u64()).await;
            }
        }
    }
}

/// Multi-Region writes: rotations in each key's primary Region (a storm or
/// paced), and now and then a new MRK replicated to the other Regions.
async fn mrk_writes(
    cluster: Arc<Cluster>,
    h: History,
    model: SharedModel,
    load: Load,
    seed: u64,
    stop: CancellationToken,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..load.max_ops_per_task {
        let pause = if load.rotation_storm { 5 } else { 150 };
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(pause)) => {}
            _ = stop.cancelled() => return,
        }
        if rng.gen_range(0..10) == 0 {
            new_mrk(&cluster, &h, &model).await;
            continue;
        }
        let Some((i, key, primary)) = ({
            let m = model.lock();
            let open: Vec<usize> = (0..m.mrks.len()).filter(|&i| !m.mrks[i].exhausted).collect();
            (!open.is_empty()).then(|| {
                let i = open[rng.gen_range(0..open.len())];
                (i, m.mrks[i].key.clone(), m.mrks[i].primary.clone())
            })
        }) else {
            new_mrk(&cluster, &h, &model).await;
            continue;
        };
        model.lock().mrks[i].rotations_invoked += 1;
        let k = key.clone();
        let r = call(
            &cluster,
            &h,
            "RotateKeyOnDemand",
            &primary,
            &key,
            WRITE_TIMEOUT,
            |mut c| async move { c.rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: k }).await },
        )
        .await;
        match r {
            Ok(_) => model.lock().mrks[i].rotations_acked += 1,
            Err(e) if e == "LimitExceededException" => model.lock().mrks[i].exhausted = true,
            // Not (or no longer) the primary here: ask where it is now.
            Err(e) if e == "UnsupportedOperationException" || e == "InvalidKeyUsageException" => {
                learn_primary(&cluster, &h, &model, i, &key, &primary).await;
            }
            Err(_) => {}
        }
    }
}

async fn new_mrk(cluster: &Cluster, h: &History, model: &SharedModel) {
    let primary = {
        let m = model.lock();
        m.mrks
            .first()
            .map(|k| k.primary.clone())
            .unwrap_or_else(|| REGIONS[0].to_string())
    };
    let description = format!("chaos MRK made in {primary}");
    let Ok(meta) = create_key(cluster, h, &primary, true, &description, WRITE_TIMEOUT).await else {
        return;
    };
    let mut holders = vec![primary.clone()];
    for replica in REGIONS.iter().filter(|r| **r != primary) {
        let k = meta.key_id.clone();
        let r = call(
            cluster,
            h,
            "ReplicateKey",
            &primary,
            &meta.key_id,
            WRITE_TIMEOUT,
            |mut c| async move {
                c.replicate_key(pb::ReplicateKeyRequest {
                    key_id: k,
                    replica_region: replica.to_string(),
                    ..Default::default()
                })
                .await
            },
        )
        .await;
        if r.is_ok() {
            holders.push(replica.to_string());
        }
    }
    model.lock().mrks.push(Mrk {
        key: meta.key_id,
        holders,
        primary,
        rotations_acked: 0,
        rotations_invoked: 0,
        exhausted: false,
        base: false,
    });
}

/// Moves the primary of every MRK to `to`, calling in `to` (a survivor).
/// Returns when the first move was acknowledged (None if none was).
pub async fn promote(cluster: &Cluster, h: &History, model: &SharedModel, to: &str) -> Option<u64> {
    let keys: Vec<(usize, String)> = {
        let m = model.lock();
        m.mrks
            .iter()
            .enumerate()
            .filter(|(_, k)| k.primary != to && k.holders.iter().any(|r| r == to))
            .map(|(i, k)| (i, k.key.clone()))
            .collect()
    };
    let mut first = None;
    for (i, key) in keys {
        for _attempt in 0..20 {
            let (k, t) = (key.clone(), to.to_string());
            let r = call(
                cluster,
                h,
                "UpdatePrimaryRegion",
                to,
                &key,
                WRITE_TIMEOUT,
                |mut c| async move {
                    c.update_primary_region(pb::UpdatePrimaryRegionRequest {
                        key_id: k,
                        primary_region: t,
                    })
                    .await
                },
            )
            .await;
            if r.is_ok() {
                model.lock().mrks[i].primary = to.to_string();
                first = first.or(Some(h.now_ms()));
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    first
}

/// Reads an MRK's primary Region from any Region that answers.
async fn learn_primary(cluster: &Cluster, h: &History, model: &SharedModel, i: usize, key: &str, tried: &str) {
    for region in REGIONS.iter().filter(|r| **r != tried).chain([&tried]) {
        if let Some(p) = describe(cluster, h, region, key, READ_TIMEOUT)
            .await
            .ok()
            .and_then(|m| m.multi_region_configuration)
            .and_then(|c| c.primary_key)
        {
            model.lock().mrks[i].primary = p.region;
            return;
        }
    }
}
