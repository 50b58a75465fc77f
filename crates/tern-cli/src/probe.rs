//! `tern probe`: a region-local client. It keeps a key of its own region
//! (`alias/probe/<region>`), encrypts a fresh random payload every report
//! period, and decrypts and verifies every ciphertext it made, in its own
//! region only, at a fixed pace. Each report line gives the decrypts that
//! succeeded, failed and returned the wrong plaintext, and the longest gap
//! between two successful decrypts: what a region-local application sees
//! while other regions fail. Bounded by `--duration-secs` and
//! `--max-requests`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rand::RngCore;
use tern_client::{connect_lazy_tls, error_kind, Credentials, KmsClient};
use tern_proto::pb;

#[derive(clap::Args, Debug)]
pub struct ProbeArgs {
    /// The region's endpoint, e.g. `http://eu-west-1:7070`.
    #[arg(long)]
    endpoint_url: String,
    /// The region the probe lives in (and signs for).
    #[arg(long)]
    region: String,
    /// Time between two decrypts.
    #[arg(long, default_value_t = 100)]
    interval_ms: u64,
    /// Time between two report lines (and two new ciphertexts).
    #[arg(long, default_value_t = 10)]
    report_secs: u64,
    /// Stop after this long.
    #[arg(long, default_value_t = 24 * 3600)]
    duration_secs: u64,
    /// Stop after this many decrypts.
    #[arg(long, default_value_t = 10_000_000)]
    max_requests: u64,
    /// Exit non-zero at the end if any decrypt returned the wrong plaintext
    /// or failed.
    #[arg(long)]
    strict: bool,
    /// The CA of an https endpoint's certificate (default: `AWS_CA_BUNDLE`).
    #[arg(long)]
    ca_bundle: Option<String>,
}

/// Counts over one report period and over the whole run.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    ok: u64,
    failed: u64,
    wrong: u64,
    longest_gap: Duration,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.ok += o.ok;
        self.failed += o.failed;
        self.wrong += o.wrong;
        self.longest_gap = self.longest_gap.max(o.longest_gap);
    }
}

/// The probe's key: `alias/probe/<region>`, created on first use.
async fn probe_key(c: &mut KmsClient, region: &str) -> Result<String> {
    let alias = format!("alias/probe/{region}");
    let describe = pb::DescribeKeyRequest {
        key_id: alias.clone(),
        grant_tokens: vec![],
    };
    match c.describe_key(describe.clone()).await {
        Ok(r) => return Ok(r.into_inner().key_metadata.context("no key metadata")?.key_id),
        Err(s) if error_kind(&s) == Some("NotFoundException") => {}
        Err(s) => bail!("DescribeKey {alias}: {}", s.message()),
    }
    let key = c
        .create_key(pb::CreateKeyRequest {
            description: Some(format!("tern probe for {region}")),
            ..Default::default()
        })
        .await
        .map_err(|s| anyhow::anyhow!("CreateKey: {}", s.message()))?
        .into_inner()
        .key_metadata
        .context("no key metadata")?
        .key_id;
    match c
        .create_alias(pb::CreateAliasRequest {
            alias_name: alias.clone(),
            target_key_id: key.clone(),
        })
        .await
    {
        Ok(_) => Ok(key),
        // Another probe of this region won the race: use its key.
        Err(s) if error_kind(&s) == Some("AlreadyExistsException") => Ok(c
            .describe_key(describe)
            .await
            .map_err(|s| anyhow::anyhow!("DescribeKey {alias}: {}", s.message()))?
            .into_inner()
            .key_metadata
            .context("no key metadata")?
            .key_id),
        Err(s) => bail!("CreateAlias {alias}: {}", s.message()),
    }
}

fn context(region: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("probe".to_string(), region.to_string())])
}

pub async fn run(args: ProbeArgs) -> Result<i32> {
    let creds = Credentials::from_environment().map_err(|e| anyhow::anyhow!(e))?;
    let tls = crate::kms::ca_bundle(args.ca_bundle.as_deref())?;
    let mut c = connect_lazy_tls(&args.endpoint_url, &args.region, creds, &tls)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.endpoint_url))?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration_secs);
    // The key, retried until the region answers (it may still be starting).
    let key = loop {
        match probe_key(&mut c, &args.region).await {
            Ok(k) => break k,
            Err(e) if Instant::now() < deadline => {
                eprintln!("probe {}: waiting for the region: {e:#}", args.region);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    };
    println!("probe {}: key {key} at {}", args.region, args.endpoint_url);

    // (plaintext, ciphertext) pairs made so far; decrypts cycle through them.
    let mut made: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut total = Tally::default();
    let mut period = Tally::default();
    let mut last_ok = Instant::now();
    let mut next_report = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(args.interval_ms.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent = 0u64;
    let mut last_error = String::new();
    while sent < args.max_requests && Instant::now() < deadline {
        tick.tick().await;
        if Instant::now() >= next_report {
            if made.len() < 64 {
                let mut p = vec![0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut p);
                let r = c
                    .encrypt(pb::EncryptRequest {
                        key_id: key.clone(),
                        plaintext: p.clone(),
                        encryption_context: context(&args.region),
                        ..Default::default()
                    })
                    .await;
                match r {
                    Ok(r) => made.push((p, r.into_inner().ciphertext_blob)),
                    Err(s) => eprintln!("probe {}: encrypt failed: {}", args.region, s.message()),
                }
            }
            if sent > 0 {
                println!(
                    "probe {}: {} ok, {} failed, {} wrong plaintext, longest gap {:.2} s (in all: {} ok, {} failed, {} wrong, longest gap {:.2} s)",
                    args.region,
                    period.ok,
                    period.failed,
                    period.wrong,
                    period.longest_gap.as_secs_f64(),
                    total.ok + period.ok,
                    total.failed + period.failed,
                    total.wrong + period.wrong,
                    total.longest_gap.max(period.longest_gap).as_secs_f64(),
                );
            }
            total.add(&period);
            period = Tally::default();
            next_report = Instant::now() + Duration::from_secs(args.report_secs.max(1));
        }
        let Some((plaintext, blob)) = made.get((sent as usize) % made.len().max(1)) else {
            continue;
        };
        sent += 1;
        let r = c
            .decrypt(pb::DecryptRequest {
                ciphertext_blob: blob.clone(),
                encryption_context: context(&args.region),
                ..Default::default()
            })
            .await;
        match r {
            Ok(r) if r.get_ref().plaintext == *plaintext => {
                period.longest_gap = period.longest_gap.max(last_ok.elapsed());
                last_ok = Instant::now();
                period.ok += 1;
            }
            Ok(_) => {
                period.wrong += 1;
                eprintln!("probe {}: decrypt returned the WRONG plaintext", args.region);
            }
            Err(s) => {
                period.failed += 1;
                let e = format!("{}: {}", error_kind(&s).unwrap_or("error"), s.message());
                if e != last_error {
                    eprintln!("probe {}: decrypt failed: {e}", args.region);
                    last_error = e;
                }
            }
        }
    }
    total.add(&period);
    println!(
        "probe {}: done: {} ok, {} failed, {} wrong plaintext, longest gap {:.2} s",
        args.region,
        total.ok,
        total.failed,
        total.wrong,
        total.longest_gap.as_secs_f64()
    );
    Ok(if args.strict && (total.failed > 0 || total.wrong > 0) {
        1
    } else {
        0
    })
}
