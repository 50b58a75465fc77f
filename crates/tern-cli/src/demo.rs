//! `tern demo`: boots an embedded three-region cluster and walks the
//! Multi-Region scenario step by step, printing each step's latency, then
//! exits 0 (or 1 naming the step that failed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tern_client::{Credentials, KmsClient};
use tern_core::ids::Region;
use tern_proto::pb;
use tern_server::auth::PrincipalRegistry;
use tern_server::Node;

use crate::cluster::{dev_principals_toml, plan_local_cluster, DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY};

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Address the regions listen on (ports are picked free).
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Longest any one step may take.
    #[arg(long, default_value_t = 30)]
    step_timeout_secs: u64,
}

const US: &str = "us-east-1";
const EU: &str = "eu-west-1";
const AP: &str = "ap-northeast-2";

struct Demo {
    clients: Vec<(String, KmsClient)>,
    step: usize,
    timeout: Duration,
}

impl Demo {
    fn client(&self, region: &str) -> Result<KmsClient> {
        self.clients
            .iter()
            .find(|(r, _)| r == region)
            .map(|(_, c)| c.clone())
            .with_context(|| format!("no client for {region}"))
    }

    fn report(&mut self, what: &str, took: Duration) {
        self.step += 1;
        println!("{:>2}. {what:<72} {:>9.1} ms", self.step, took.as_secs_f64() * 1e3);
    }

    /// Polls `f` until it returns `Some` or the step times out.
    async fn until<T, F, Fut>(&self, what: &str, mut f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(v) = f().await {
                return Ok(v);
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

async fn connect(node: &Node, region: &str) -> Result<KmsClient> {
    Ok(tern_client::connect(
        &node.endpoint(),
        region,
        Credentials::new(DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY),
    )
    .await?)
}

async fn state(c: &mut KmsClient, key: &str) -> Option<pb::KeyMetadata> {
    c.describe_key(pb::DescribeKeyRequest {
        key_id: key.to_string(),
        grant_tokens: vec![],
    })
    .await
    .ok()?
    .into_inner()
    .key_metadata
}

/// The material id a fresh Encrypt in this region uses.
async fn encrypt_material(c: &mut KmsClient, key: &str) -> Option<String> {
    let ct = c
        .encrypt(pb::EncryptRequest {
            key_id: key.to_string(),
            plaintext: b"probe".to_vec(),
            ..Default::default()
        })
        .await
        .ok()?
        .into_inner();
    c.decrypt(pb::DecryptRequest {
        ciphertext_blob: ct.ciphertext_blob,
        ..Default::default()
    })
    .await
    .ok()?
    .into_inner()
    .key_material_id
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

pub async fn run(args: DemoArgs) -> Result<()> {
    let dir = tempfile::Builder::new().prefix("tern-demo-").tempdir()?;
    let regions: Vec<Region> = [US, EU, AP]
        .iter()
        .map(|r| Region::parse(r))
        .collect::<Result<_, _>>()?;
    let principals = Arc::new(PrincipalRegistry::from_toml(&dev_principals_toml(
        DEV_ACCESS_KEY_ID,
        DEV_SECRET_ACCESS_KEY,
    ))?);
    let (plan, members) = plan_local_cluster(&regions, &args.bind, None, dir.path())?;
    let t = Instant::now();
    let mut starting = Vec::new();
    for r in &plan {
        let (members, principals) = (members.clone(), principals.clone());
        let r = r.clone();
        starting.push(tokio::spawn(async move { r.start(&members, principals).await }));
    }
    let mut nodes: Vec<Option<Node>> = Vec::new();
    for s in starting {
        nodes.push(Some(s.await??));
    }
    let mut demo = Demo {
        clients: Vec::new(),
        step: 0,
        timeout: Duration::from_secs(args.step_timeout_secs),
    };
    for (r, n) in [US, EU, AP].iter().zip(&nodes) {
        let n = n.as_ref().context("node")?;
        demo.clients.push((r.to_string(), connect(n, r).await?));
    }
    // The group has formed once a Multi-Region write succeeds; CreateKey
    // retries for a moment while the first election settles.
    println!(
        "tern demo: 3 regions, one Multi-Region Raft group (data in {})",
        dir.path().display()
    );
    let mut us = demo.client(US)?;
    let key = demo
        .until("the cluster to accept a Multi-Region key", || {
            let mut us = us.clone();
            async move {
                us.create_key(pb::CreateKeyRequest {
                    multi_region: Some(true),
                    description: Some("tern demo".into()),
                    ..Default::default()
                })
                .await
                .ok()?
                .into_inner()
                .key_metadata
            }
        })
        .await?
        .key_id;
    demo.report(
        &format!("boot 3 regions + CreateKey MultiRegion=true in {US}: {key}"),
        t.elapsed(),
    );

    for r in [EU, AP] {
        let t = Instant::now();
        us.replicate_key(pb::ReplicateKeyRequest {
            key_id: key.clone(),
            replica_region: r.into(),
            ..Default::default()
        })
        .await
        .with_context(|| format!("ReplicateKey to {r}"))?;
        let mut c = demo.client(r)?;
        demo.until(&format!("the {r} replica to be Enabled"), || {
            let (mut c, key) = (c.clone(), key.clone());
            async move { (state(&mut c, &key).await?.key_state == "Enabled").then_some(()) }
        })
        .await?;
        let _ = &mut c;
        demo.report(
            &format!("ReplicateKey to {r}, until the replica is Enabled"),
            t.elapsed(),
        );
    }

    let t = Instant::now();
    let ct = us
        .encrypt(pb::EncryptRequest {
            key_id: key.clone(),
            plaintext: b"the launch codes".to_vec(),
            ..Default::default()
        })
        .await
        .context("Encrypt")?
        .into_inner()
        .ciphertext_blob;
    demo.report(
        &format!("Encrypt in {US} ({} bytes of ciphertext)", ct.len()),
        t.elapsed(),
    );

    for r in [AP, EU] {
        let mut c = demo.client(r)?;
        let t = Instant::now();
        let d = c
            .decrypt(pb::DecryptRequest {
                ciphertext_blob: ct.clone(),
                ..Default::default()
            })
            .await
            .with_context(|| format!("Decrypt in {r}"))?
            .into_inner();
        if d.plaintext != b"the launch codes" {
            bail!("{r} returned the wrong plaintext");
        }
        demo.report(
            &format!("Decrypt in {r}, with its local replica: plaintext matches"),
            t.elapsed(),
        );
    }

    let old = encrypt_material(&mut us, &key).await.context("probe encrypt")?;
    let t = Instant::now();
    us.rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key.clone() })
        .await
        .context("RotateKeyOnDemand")?;
    let acked = t.elapsed();
    let mut new = String::new();
    for r in [US, EU, AP] {
        let c = demo.client(r)?;
        new = demo
            .until(&format!("{r} to encrypt with the new material"), || {
                let (mut c, key, old) = (c.clone(), key.clone(), old.clone());
                async move { encrypt_material(&mut c, &key).await.filter(|m| *m != old) }
            })
            .await?;
    }
    demo.report(
        &format!(
            "RotateKeyOnDemand in {US} (acked in {:.1} ms), until every region encrypts with {}",
            acked.as_secs_f64() * 1e3,
            short(&new)
        ),
        t.elapsed(),
    );

    // The primary region goes down.
    let t = Instant::now();
    if let Some(n) = nodes[0].take() {
        n.shutdown().await;
    }
    demo.report(&format!("stop {US} (the primary region)"), t.elapsed());
    let mut ap = demo.client(AP)?;
    let t = Instant::now();
    let d = ap
        .decrypt(pb::DecryptRequest {
            ciphertext_blob: ct.clone(),
            ..Default::default()
        })
        .await
        .context("Decrypt with the primary down")?
        .into_inner();
    if d.plaintext != b"the launch codes" {
        bail!("wrong plaintext with the primary down");
    }
    demo.report(&format!("Decrypt in {AP} while {US} is down"), t.elapsed());

    let mut eu = demo.client(EU)?;
    let t = Instant::now();
    demo.until("UpdatePrimaryRegion to succeed in eu-west-1", || {
        let (mut eu, key) = (eu.clone(), key.clone());
        async move {
            eu.update_primary_region(pb::UpdatePrimaryRegionRequest {
                key_id: key,
                primary_region: EU.into(),
            })
            .await
            .ok()
        }
    })
    .await?;
    demo.report(
        &format!("UpdatePrimaryRegion to {EU}, sent to {EU} (failover)"),
        t.elapsed(),
    );

    let t = Instant::now();
    eu.rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key.clone() })
        .await
        .context("RotateKeyOnDemand in the new primary")?;
    demo.report(
        &format!("RotateKeyOnDemand in {EU}: accepted; activation waits for {US}"),
        t.elapsed(),
    );

    let t = Instant::now();
    let n = plan[0].start(&members, principals.clone()).await?;
    let mut us = connect(&n, US).await?;
    nodes[0] = Some(n);
    demo.until("us-east-1 to report REPLICA", || {
        let (mut us, key) = (us.clone(), key.clone());
        async move {
            let c = state(&mut us, &key).await?.multi_region_configuration?;
            (c.multi_region_key_type == "REPLICA").then_some(())
        }
    })
    .await?;
    let newer = demo
        .until("the second rotation to reach every region", || {
            let (mut eu, key, new) = (eu.clone(), key.clone(), new.clone());
            async move { encrypt_material(&mut eu, &key).await.filter(|m| *m != new) }
        })
        .await?;
    demo.report(
        &format!(
            "restart {US}: it reports REPLICA, and {} becomes current",
            short(&newer)
        ),
        t.elapsed(),
    );
    let t = Instant::now();
    let ct2 = eu
        .encrypt(pb::EncryptRequest {
            key_id: key.clone(),
            plaintext: b"after failover".to_vec(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .ciphertext_blob;
    for c in [&mut us, &mut ap] {
        let d = c
            .decrypt(pb::DecryptRequest {
                ciphertext_blob: ct2.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        if d.plaintext != b"after failover" || d.key_material_id.as_deref() != Some(newer.as_str()) {
            bail!("a region decrypted with the wrong material");
        }
    }
    demo.report(
        &format!("Encrypt in {EU}, Decrypt in {US} and {AP} with the new material"),
        t.elapsed(),
    );

    for n in nodes.into_iter().flatten() {
        n.shutdown().await;
    }
    println!("tern demo: every step passed");
    Ok(())
}
