//! `tern serve`, `tern dev` and `tern init`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rand::RngCore;
use tern_core::crypto::RootKey;
use tern_core::ids::Region;
use tern_core::seal::SealingKey;
use tern_replication::{ClusterCa, PeerTls};
use tern_server::auth::PrincipalRegistry;
use tern_server::config::{
    read_root_key_file, read_secret_file, write_file_durably, write_root_key_file, write_secret_file, ClusterConfig,
    MemberConfig, NodeConfig,
};
use tern_server::{ClusterOptions, Node, NodeOptions};
use tern_service::SystemClock;

/// The regions `tern dev` runs by default, on consecutive ports from 7070.
pub const DEFAULT_REGIONS: &str = "us-east-1,eu-west-1,ap-northeast-2";
pub const DEFAULT_BASE_PORT: u16 = 7070;
/// Peer (Raft) ports are the client ports plus this.
pub const PEER_PORT_OFFSET: u16 = 100;
pub const DEV_ACCOUNT: &str = "111122223333";
pub const DEV_ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
pub const DEV_SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub const ALICE_ACCESS_KEY_ID: &str = "AKIAALICEEXAMPLE0001";
pub const ALICE_SECRET_ACCESS_KEY: &str = "alice/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub const BOB_ACCESS_KEY_ID: &str = "AKIABOBEXAMPLE000001";
pub const BOB_SECRET_ACCESS_KEY: &str = "bob/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub const CAROL_ACCOUNT: &str = "444455556666";
pub const CAROL_ACCESS_KEY_ID: &str = "AKIACAROLEXAMPLE0001";
pub const CAROL_SECRET_ACCESS_KEY: &str = "carol/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// The identity policy every dev user has: all of KMS, on any key. What a
/// user may do with a particular key is then up to that key's policy.
pub const ALLOW_ALL_KMS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

#[derive(clap::Args, Debug)]
pub struct DevArgs {
    /// Comma-separated regions, one node each.
    #[arg(long, default_value = DEFAULT_REGIONS)]
    regions: String,
    /// Client port of the first region; the others follow.
    #[arg(long, default_value_t = DEFAULT_BASE_PORT)]
    base_port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Keep state here (default: a fresh temporary directory, removed on exit).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The dev account's access key id.
    #[arg(long, env = "TERN_DEV_ACCESS_KEY_ID", default_value = DEV_ACCESS_KEY_ID)]
    access_key_id: String,
    /// The dev account's secret access key.
    #[arg(long, env = "TERN_DEV_SECRET_ACCESS_KEY", default_value = DEV_SECRET_ACCESS_KEY, hide_default_value = true)]
    secret_access_key: String,
}

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// Directory to write into (created; existing keys are never overwritten).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value = DEFAULT_REGIONS)]
    regions: String,
    #[arg(long, default_value_t = DEFAULT_BASE_PORT)]
    base_port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// One host per region (comma-separated, in `--regions` order) that
    /// peers dial; each region then uses the same ports (`--base-port`,
    /// `--base-port` + 100) on its own host, e.g. one container per region.
    #[arg(long)]
    hosts: Option<String>,
    /// Put each region's data under `DIR/<region>` (default: `data/<region>`
    /// beside the configs).
    #[arg(long, value_name = "DIR")]
    data_root: Option<PathBuf>,
    /// The largest round trip between two regions; Raft's heartbeat and
    /// election timeouts are derived from it.
    #[arg(long, default_value_t = 10)]
    max_rtt_ms: u64,
    /// Serve the client port over TLS: issue each region a server
    /// certificate from the cluster CA (`<region>.tls.pem/.key`, for its host,
    /// `localhost` and 127.0.0.1); clients pass `--ca-bundle cluster-ca.pem`.
    #[arg(long)]
    client_tls: bool,
    /// The account of the administrator `tern init` creates.
    #[arg(long, default_value = DEV_ACCOUNT)]
    account: String,
    /// Write each region's files to `OUT/<region>/` (only its own secrets,
    /// plus `cluster-ca.pem` and `principals.toml`), the CA's key and the
    /// master principals file to `OUT/ca/`, and what clients need
    /// (`cluster-ca.pem`, `admin-credentials`) to `OUT/client/`: one volume
    /// each, so no region's machine holds another's keys or the CA's.
    #[arg(long)]
    per_region_dirs: bool,
}

/// Where `tern init` puts each kind of file: one directory, or one per
/// region plus `ca/` and `client/` (`--per-region-dirs`).
struct Layout {
    out: PathBuf,
    split: bool,
}

impl Layout {
    fn region(&self, r: &Region) -> PathBuf {
        if self.split {
            self.out.join(r.as_str())
        } else {
            self.out.clone()
        }
    }
    /// The cluster CA's key and the master principals file.
    fn ca(&self) -> PathBuf {
        if self.split {
            self.out.join("ca")
        } else {
            self.out.clone()
        }
    }
    /// What a client needs: the CA certificate and the admin credentials.
    fn client(&self) -> PathBuf {
        if self.split {
            self.out.join("client")
        } else {
            self.out.clone()
        }
    }
}

/// The file `tern init` writes the administrator's credentials to.
pub const ADMIN_CREDENTIALS_FILE: &str = "admin-credentials";
pub const PRINCIPALS_FILE: &str = "principals.toml";

/// The master principals file of a deployment, made on first use with one
/// administrator whose fresh random credentials also go to the client
/// directory's `admin-credentials` (both mode 0600). Returns its text.
fn principals_at(layout: &Layout, account: &str) -> Result<zeroize::Zeroizing<String>> {
    let path = layout.ca().join(PRINCIPALS_FILE);
    if !path.exists() {
        tern_core::ids::AccountId::parse(account).map_err(|_| anyhow::anyhow!("--account {account}: not 12 digits"))?;
        let (id, secret) = crate::principals::generate_credentials();
        let creds_path = layout.client().join(ADMIN_CREDENTIALS_FILE);
        if creds_path.exists() {
            std::fs::remove_file(&creds_path).with_context(|| format!("removing stale {}", creds_path.display()))?;
        }
        write_secret_file(&creds_path, &crate::principals::shared_credentials(&id, &secret))?;
        write_secret_file(&path, &crate::principals::admin_only(account, &id, &secret)?)?;
        println!(
            "wrote fresh credentials of arn:aws:iam::{account}:user/admin to {} (mode 0600; \
             AWS shared-credentials format: AWS_SHARED_CREDENTIALS_FILE={0})",
            creds_path.display()
        );
    }
    Ok(read_secret_file(&path)?)
}

fn parse_regions(s: &str) -> Result<Vec<Region>> {
    let regions: Vec<Region> = s
        .split(',')
        .map(|r| Region::parse(r.trim()).map_err(|e| anyhow::anyhow!("{e}")))
        .collect::<Result<_>>()?;
    if regions.is_empty() {
        bail!("at least one region is required");
    }
    Ok(regions)
}

/// The principals `tern dev` knows: the dev account's admin (the documented
/// example credentials unless overridden).
pub fn dev_principals_toml(access_key_id: &str, secret: &str) -> String {
    format!(
        r#"# Principals of this region: accounts, users, access keys and identity policies.
[[accounts]]
id = "{DEV_ACCOUNT}"
[[accounts.users]]
name = "admin"
access_key_id = "{access_key_id}"
secret_access_key = "{secret}"
policies = ['{ALLOW_ALL_KMS}']
[[accounts.users]]
name = "alice"
access_key_id = "{ALICE_ACCESS_KEY_ID}"
secret_access_key = "{ALICE_SECRET_ACCESS_KEY}"
policies = ['{ALLOW_ALL_KMS}']
[[accounts.users]]
name = "bob"
access_key_id = "{BOB_ACCESS_KEY_ID}"
secret_access_key = "{BOB_SECRET_ACCESS_KEY}"
policies = ['{ALLOW_ALL_KMS}']

[[accounts]]
id = "{CAROL_ACCOUNT}"
[[accounts.users]]
name = "carol"
access_key_id = "{CAROL_ACCESS_KEY_ID}"
secret_access_key = "{CAROL_SECRET_ACCESS_KEY}"
policies = ['{ALLOW_ALL_KMS}']
"#
    )
}

fn fresh_root_key() -> RootKey {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    RootKey::from_bytes(b)
}

/// Reads the region's root key file, creating it (0600) on first use.
fn root_key_at(path: &Path) -> Result<RootKey> {
    if !path.exists() {
        write_root_key_file(path, &fresh_root_key())?;
    }
    Ok(read_root_key_file(path)?)
}

/// Reads the region's sealing key file, creating it (0600) on first use.
fn sealing_key_at(path: &Path) -> Result<SealingKey> {
    if !path.exists() {
        let mut b = zeroize::Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(b.as_mut());
        write_secret_file(path, &SealingKey::from_seed(*b).to_hex())?;
    }
    let text = read_secret_file(path)?;
    SealingKey::from_hex(&text).with_context(|| format!("{} does not hold 64 hex digits", path.display()))
}

/// The cluster CA's files, beside the regions' keys.
pub const CA_CERT_FILE: &str = "cluster-ca.pem";
pub const CA_KEY_FILE: &str = "cluster-ca.key";

fn peer_cert_file(region: &Region) -> String {
    format!("{region}.peer.pem")
}

fn peer_key_file(region: &Region) -> String {
    format!("{region}.peer.key")
}

/// The cluster CA under `dir`, made on first use. The certificate is
/// written before the key (mode 0600), so a key on disk means both are.
fn cluster_ca_at(dir: &Path) -> Result<ClusterCa> {
    let (cert, key) = (dir.join(CA_CERT_FILE), dir.join(CA_KEY_FILE));
    if !key.exists() {
        let ca = ClusterCa::generate()?;
        write_file_durably(&cert, ca.cert_pem().as_bytes())?;
        write_secret_file(&key, &ca.key_pem())?;
        return Ok(ca);
    }
    let cert_pem = std::fs::read_to_string(&cert).with_context(|| format!("reading {}", cert.display()))?;
    Ok(ClusterCa::from_pem(cert_pem, &read_secret_file(&key)?)?)
}

/// `region`'s peer certificate and key under `dir`, issued by `ca` on
/// first use (certificate first, key last, as for the CA).
/// The client port's certificate and key for `region` (kept if present).
fn endpoint_tls_at(dir: &Path, region: &Region, host: &str, ca: &ClusterCa) -> Result<(String, String)> {
    let (cert, key) = (format!("{region}.tls.pem"), format!("{region}.tls.key"));
    if !dir.join(&key).exists() {
        let mut names = vec![host.to_string(), "localhost".to_string(), "127.0.0.1".to_string()];
        names.dedup();
        let (cert_pem, key_pem) = ca.issue_endpoint(names)?;
        write_file_durably(&dir.join(&cert), cert_pem.as_bytes())?;
        write_secret_file(&dir.join(&key), &key_pem)?;
    }
    Ok((cert, key))
}

fn peer_tls_at(dir: &Path, region: &Region, ca: &ClusterCa) -> Result<PeerTls> {
    let (cert, key) = (dir.join(peer_cert_file(region)), dir.join(peer_key_file(region)));
    if !key.exists() {
        let tls = ca.issue(region.as_str())?;
        write_file_durably(&cert, tls.cert_pem().as_bytes())?;
        write_secret_file(&key, tls.key_pem())?;
    }
    let cert_pem = std::fs::read_to_string(&cert).with_context(|| format!("reading {}", cert.display()))?;
    Ok(PeerTls::from_pem(
        ca.cert_pem().to_string(),
        cert_pem,
        read_secret_file(&key)?,
    )?)
}

/// Where one region of `tern init`'s cluster listens and how peers reach it.
struct Placement {
    listen_port: u16,
    peer_port: u16,
    /// The host peers dial (`--hosts`, else the bind address).
    host: String,
}

/// Ports for `regions`: with `--hosts` every region has its own host and the
/// same two ports (`base`, `base + 100`); without, they share the bind
/// address on consecutive ports (port 0, any free port, only for a lone
/// region: peers must know each other's).
fn placements(regions: &[Region], bind: &str, base_port: u16, hosts: Option<&str>) -> Result<Vec<Placement>> {
    if let Some(hosts) = hosts {
        let hosts: Vec<&str> = hosts.split(',').map(str::trim).collect();
        if hosts.len() != regions.len() || hosts.iter().any(|h| h.is_empty()) {
            bail!("--hosts needs one host per region ({} regions)", regions.len());
        }
        let peer_port = base_port.checked_add(PEER_PORT_OFFSET).context("port out of range")?;
        return Ok(hosts
            .iter()
            .map(|h| Placement {
                listen_port: base_port,
                peer_port,
                host: h.to_string(),
            })
            .collect());
    }
    if base_port == 0 && regions.len() > 1 {
        bail!("--base-port 0 (any free port) works for one region only: regions must know each other's peer ports");
    }
    let offset = if base_port == 0 { 0 } else { PEER_PORT_OFFSET };
    (0..regions.len() as u16)
        .map(|i| {
            Ok(Placement {
                listen_port: base_port.checked_add(i).context("port out of range")?,
                peer_port: base_port.checked_add(offset + i).context("port out of range")?,
                host: bind.to_string(),
            })
        })
        .collect()
}

/// Reads and checks a principals file (mode 0600, as for every secret).
fn load_principals(path: &Path) -> Result<PrincipalRegistry> {
    let text = read_secret_file(path)?;
    PrincipalRegistry::from_toml(&text).with_context(|| format!("loading {}", path.display()))
}

async fn wait_for_ctrl_c() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

pub async fn serve(config: &Path, peer_overrides: &[String]) -> Result<()> {
    tern_server::telemetry::init();
    let mut cfg = NodeConfig::load(config)?;
    for o in peer_overrides {
        let Some((region, addr)) = o.split_once('=') else {
            bail!("--peer {o}: expected REGION=HOST:PORT");
        };
        let Some(member) = cfg
            .cluster
            .as_mut()
            .and_then(|c| c.members.iter_mut().find(|m| m.region.as_str() == region))
        else {
            bail!("--peer {o}: {region} is not a member of this region's cluster");
        };
        member.peer_addr = addr.to_string();
    }
    let principals = Arc::new(load_principals(&cfg.principals_file)?);
    let node = Node::start(NodeOptions {
        region: cfg.region.clone(),
        data_dir: cfg.data_dir.clone(),
        listen: cfg.listen,
        root_key: cfg.root_key()?,
        principals,
        clock: Arc::new(SystemClock),
        scheduler_interval: Some(Duration::from_millis(cfg.scheduler_interval_ms.max(10))),
        min_free_bytes: cfg.min_free_mib << 20,
        limits: cfg.limits.clone(),
        client_tls: cfg.client_tls()?,
        cluster: cfg.cluster.as_ref().map(ClusterOptions::from_config).transpose()?,
    })
    .await?;
    eprintln!("tern: region {} listening on {}", cfg.region, node.endpoint());
    // SIGHUP reloads the principals file: access keys added, rotated or
    // removed (`tern principals ...`) take effect without a restart. A file
    // that does not load leaves the keys in force unchanged.
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("installing the SIGHUP handler")?;
    let shutdown = wait_for_ctrl_c();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(()) = hangup.recv() => match load_principals(&cfg.principals_file) {
                Ok(registry) => {
                    eprintln!("tern: SIGHUP: reloaded {} ({} access keys)", cfg.principals_file.display(), registry.len());
                    node.reload_principals(registry);
                }
                Err(e) => {
                    tracing::error!(
                        file = %cfg.principals_file.display(),
                        error = %format!("{e:#}"),
                        "SIGHUP: the principals file does not load; the access keys in force are unchanged: fix the file and send SIGHUP again"
                    );
                }
            },
        }
    }
    eprintln!("tern: shutting down");
    node.shutdown().await;
    Ok(())
}

pub async fn dev(args: DevArgs) -> Result<()> {
    tern_server::telemetry::init();
    let regions = parse_regions(&args.regions)?;
    let (_temp, base) = match &args.data_dir {
        Some(d) => (None, d.clone()),
        None => {
            let t = tempfile::Builder::new().prefix("tern-dev-").tempdir()?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    std::fs::create_dir_all(&base)?;
    let principals = Arc::new(PrincipalRegistry::from_toml(&dev_principals_toml(
        &args.access_key_id,
        &args.secret_access_key,
    ))?);
    let nodes = start_local_cluster(&regions, &args.bind, Some(args.base_port), &base, principals).await?;
    println!("tern dev: {} regions running (data in {})", nodes.len(), base.display());
    for n in &nodes {
        let peer = n.peer_addr().map(|a| format!("  (peer {a})")).unwrap_or_default();
        println!("  {:<16} {}{peer}", n.kms().region().as_str(), n.endpoint());
    }
    println!("  account            {DEV_ACCOUNT}");
    println!("  AWS_ACCESS_KEY_ID={}", args.access_key_id);
    println!("  AWS_SECRET_ACCESS_KEY={}", args.secret_access_key);
    println!("  also: user/alice {ALICE_ACCESS_KEY_ID}, user/bob {BOB_ACCESS_KEY_ID} (account {DEV_ACCOUNT}),");
    println!("        user/carol {CAROL_ACCESS_KEY_ID} (account {CAROL_ACCOUNT}); secrets in the README");
    println!("Try: tern kms create-key --region us-east-1");
    println!("Ctrl-C stops every region.");
    wait_for_ctrl_c().await;
    println!("tern dev: shutting down");
    for n in nodes {
        n.shutdown().await;
    }
    Ok(())
}

/// One region of an embedded cluster: how to (re)start it.
#[derive(Clone)]
pub struct LocalRegion {
    pub region: Region,
    pub node_id: u64,
    pub listen: std::net::SocketAddr,
    pub peer_addr: std::net::SocketAddr,
    pub data_dir: PathBuf,
    pub root_key: RootKey,
    pub sealing_key: SealingKey,
    pub tls: PeerTls,
}

/// The regions of an embedded cluster with their addresses: client ports
/// from `base_port` and peer ports from `base_port + 100` (any free ports
/// when `base_port` is `None`).
pub fn plan_local_cluster(
    regions: &[Region],
    bind: &str,
    base_port: Option<u16>,
    base: &Path,
) -> Result<(Vec<LocalRegion>, Vec<tern_replication::Member>)> {
    let mut out = Vec::new();
    let mut members = Vec::new();
    let ca = cluster_ca_at(base)?;
    for (i, region) in regions.iter().enumerate() {
        let port = |offset: u16| -> Result<u16> {
            match base_port {
                Some(b) => b.checked_add(offset + i as u16).context("port out of range"),
                None => {
                    let l = std::net::TcpListener::bind(format!("{bind}:0"))?;
                    Ok(l.local_addr()?.port())
                }
            }
        };
        let listen = format!("{bind}:{}", port(0)?).parse().context("bad --bind address")?;
        let peer_addr: std::net::SocketAddr = format!("{bind}:{}", port(PEER_PORT_OFFSET)?)
            .parse()
            .context("bad --bind address")?;
        let sealing_key = sealing_key_at(&base.join(format!("{region}.sealing-key")))?;
        members.push(tern_replication::Member {
            node_id: i as u64 + 1,
            node: tern_replication::RegionNode::new(region.as_str(), peer_addr.to_string(), &sealing_key)?,
        });
        out.push(LocalRegion {
            region: region.clone(),
            node_id: i as u64 + 1,
            listen,
            peer_addr,
            data_dir: base.join(region.as_str()),
            root_key: root_key_at(&base.join(format!("{region}.root-key")))?,
            sealing_key,
            tls: peer_tls_at(base, region, &ca)?,
        });
    }
    Ok((out, members))
}

impl LocalRegion {
    /// Starts (or restarts) this region's node on its data directory.
    pub async fn start(
        &self,
        members: &[tern_replication::Member],
        principals: Arc<PrincipalRegistry>,
    ) -> Result<Node> {
        let peer_listener = std::net::TcpListener::bind(self.peer_addr)
            .with_context(|| format!("binding the peer port {}", self.peer_addr))?;
        let node = Node::start(NodeOptions {
            region: self.region.clone(),
            data_dir: self.data_dir.clone(),
            listen: self.listen,
            root_key: self.root_key.clone(),
            principals,
            clock: Arc::new(SystemClock),
            scheduler_interval: Some(Duration::from_secs(1)),
            min_free_bytes: tern_server::DEFAULT_MIN_FREE_BYTES,
            limits: tern_server::Limits::default(),
            client_tls: None,
            cluster: Some(ClusterOptions {
                node_id: self.node_id,
                members: members.to_vec(),
                peer_listener,
                sealing_key: self.sealing_key.clone(),
                tls: self.tls.clone(),
                timing: tern_replication::Timing::from_max_rtt(Duration::from_millis(5)),
                snapshot_every: 1000,
                faults: Arc::default(),
            }),
        })
        .await?;
        Ok(node)
    }
}

/// Starts every region of an embedded cluster at once (forming the group
/// needs a majority) and returns their nodes in order.
pub async fn start_local_cluster(
    regions: &[Region],
    bind: &str,
    base_port: Option<u16>,
    base: &Path,
    principals: Arc<PrincipalRegistry>,
) -> Result<Vec<Node>> {
    let (plan, members) = plan_local_cluster(regions, bind, base_port, base)?;
    let mut starting = Vec::new();
    for r in plan {
        let (members, principals) = (members.clone(), principals.clone());
        starting.push(tokio::spawn(async move { r.start(&members, principals).await }));
    }
    let mut nodes = Vec::new();
    for s in starting {
        nodes.push(s.await??);
    }
    Ok(nodes)
}

pub fn init(args: InitArgs) -> Result<()> {
    let regions = parse_regions(&args.regions)?;
    let places = placements(&regions, &args.bind, args.base_port, args.hosts.as_deref())?;
    let layout = Layout {
        out: args.out.clone(),
        split: args.per_region_dirs,
    };
    for dir in [layout.ca(), layout.client()]
        .into_iter()
        .chain(regions.iter().map(|r| layout.region(r)))
    {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let principals = principals_at(&layout, &args.account)?;
    let keys = regions
        .iter()
        .map(|r| sealing_key_at(&layout.region(r).join(format!("{r}.sealing-key"))))
        .collect::<Result<Vec<_>>>()?;
    let members: Vec<MemberConfig> = regions
        .iter()
        .zip(&keys)
        .zip(&places)
        .enumerate()
        .map(|(i, ((region, key), place))| MemberConfig {
            node_id: i as u64 + 1,
            region: region.clone(),
            peer_addr: format!("{}:{}", place.host, place.peer_port),
            sealing_public_key: key.public().to_hex(),
            signing_public_key: tern_core::sign::CommandSigningKey::derive(key)
                .ok()
                .map(|k| k.public().to_hex()),
        })
        .collect();
    let ca = cluster_ca_at(&layout.ca())?;
    if layout.split {
        // Public: every region and client verifies peers with it.
        for dir in regions.iter().map(|r| layout.region(r)).chain([layout.client()]) {
            write_file_durably(&dir.join(CA_CERT_FILE), ca.cert_pem().as_bytes())?;
        }
    }
    for (i, (region, place)) in regions.iter().zip(&places).enumerate() {
        let dir = layout.region(region);
        if layout.split && !dir.join(PRINCIPALS_FILE).exists() {
            write_secret_file(&dir.join(PRINCIPALS_FILE), &principals)?;
        }
        peer_tls_at(&dir, region, &ca)?;
        let tls_lines = if args.client_tls {
            let (cert, key) = endpoint_tls_at(&dir, region, &place.host, &ca)?;
            format!("tls_cert_file = \"{cert}\"\ntls_key_file = \"{key}\"\n")
        } else {
            String::new()
        };
        root_key_at(&dir.join(format!("{region}.root-key")))?;
        let cluster = ClusterConfig {
            node_id: i as u64 + 1,
            peer_listen: format!("{}:{}", args.bind, place.peer_port)
                .parse()
                .context("bad --bind address")?,
            sealing_key_file: Some(format!("{region}.sealing-key").into()),
            ca_cert_file: CA_CERT_FILE.into(),
            cert_file: peer_cert_file(region).into(),
            key_file: peer_key_file(region).into(),
            max_rtt_ms: args.max_rtt_ms,
            snapshot_every: 1000,
            members: members.clone(),
        };
        #[derive(serde::Serialize)]
        struct WithCluster<'a> {
            cluster: &'a ClusterConfig,
        }
        let cluster_toml = toml::to_string(&WithCluster { cluster: &cluster })?;
        let data_dir = match &args.data_root {
            Some(root) => root.join(region.as_str()),
            None => PathBuf::from("data").join(region.as_str()),
        };
        let data_dir = toml::Value::String(data_dir.display().to_string());
        let cfg = format!(
            "region = \"{region}\"\nlisten = \"{}:{}\"\ndata_dir = {data_dir}\nroot_key_file = \"{region}.root-key\"\nprincipals_file = \"principals.toml\"\nscheduler_interval_ms = 1000\n{tls_lines}\n{cluster_toml}",
            args.bind, place.listen_port
        );
        write_file_durably(&dir.join(format!("{region}.toml")), cfg.as_bytes())?;
        println!("wrote {}", dir.join(format!("{region}.toml")).display());
    }
    Ok(())
}
