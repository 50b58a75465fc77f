//! The edge under attack, against a separate `tern serve` process (so the
//! attacker's own buffers are not counted in the node's memory):
//!
//! - one HTTP/2 connection opening 2,000 streams that each send 1 MiB − 1
//!   byte of body and stall;
//! - 500 connections that send half an HTTP/1.1 header and stall;
//! - 200 TLS handshakes to the peer port that never finish;
//!
//! while a well-behaved client decrypts continuously. It passes when the
//! node's RSS stays under [`RSS_BOUND_MIB`], every stalled connection is
//! closed within its timeout (plus the watchdog's period and slack), the
//! well-behaved client sees no error, and it prints that client's p50/p99
//! under attack against its p50/p99 without, measured in the same run.
//!
//! Run alone: `cargo test -p tern-cli --test attack -- --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{admin_credentials, init_region, serve};
use tern_proto::pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The documented bound on the node's resident memory under this attack
/// (README "Limits"): the unauthenticated-body budget (64 MiB) plus
/// per-connection buffers and the process itself.
const RSS_BOUND_MIB: u64 = 256;
const H2_STREAMS: usize = 2000;
const HALF_HEADERS: usize = 500;
const STALLED_HANDSHAKES: usize = 200;
const HEADER_TIMEOUT_MS: u64 = 2000;
const HANDSHAKE_TIMEOUT_MS: u64 = 2000;
const BODY_TIMEOUT_MS: u64 = 3000;
/// The watchdog's period and scheduling slack on a loaded 2-core machine.
const SLACK: Duration = Duration::from_millis(3000);
const ATTACK_FOR: Duration = Duration::from_secs(10);

fn rss_mib(pid: u32) -> u64 {
    // (A process already gone reads as 0 MiB.)
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_else(|_| String::new());
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Percentile of sorted latencies.
fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Decrypts in a loop until `until`; returns latencies and errors.
async fn decrypt_loop(mut c: tern_client::KmsClient, blob: Vec<u8>, until: Instant) -> (Vec<Duration>, Vec<String>) {
    let (mut lat, mut errors) = (Vec::new(), Vec::new());
    while Instant::now() < until {
        let t = Instant::now();
        match c
            .decrypt(pb::DecryptRequest {
                ciphertext_blob: blob.clone(),
                ..Default::default()
            })
            .await
        {
            Ok(_) => lat.push(t.elapsed()),
            Err(e) => errors.push(format!("{e:?}")),
        }
    }
    lat.sort();
    (lat, errors)
}

/// Waits until the server closes `s`; returns how long after `since`.
async fn closed_after(mut s: TcpStream, since: Instant, bound: Duration) -> Option<Duration> {
    let mut buf = [0u8; 1024];
    loop {
        let left = bound.saturating_sub(since.elapsed());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(since.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_holds_under_attack() {
    let dir = tempfile::tempdir().unwrap();
    let config = init_region(dir.path(), "us-east-1");
    let peer_port = free_port();
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(
            "peer_listen = \"127.0.0.1:0\"",
            &format!("peer_listen = \"127.0.0.1:{peer_port}\""),
        )
        .replace(
            "peer_addr = \"127.0.0.1:0\"",
            &format!("peer_addr = \"127.0.0.1:{peer_port}\""),
        );
    let text = format!(
        "{text}\n[limits]\nheader_read_timeout_ms = {HEADER_TIMEOUT_MS}\ntls_handshake_timeout_ms = {HANDSHAKE_TIMEOUT_MS}\nbody_read_timeout_ms = {BODY_TIMEOUT_MS}\n"
    );
    std::fs::write(&config, text).unwrap();
    let (child, endpoint) = serve(&config).await;
    let pid = child.id().unwrap();
    let addr: std::net::SocketAddr = endpoint.trim_start_matches("http://").parse().unwrap();

    let creds = admin_credentials(dir.path());
    let mut c = tern_client::connect(&endpoint, "us-east-1", creds).await.unwrap();
    let key = c
        .create_key(pb::CreateKeyRequest::default())
        .await
        .unwrap()
        .into_inner()
        .key_metadata
        .unwrap()
        .key_id;
    let blob = c
        .encrypt(pb::EncryptRequest {
            key_id: key,
            plaintext: vec![7u8; 1024],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ciphertext_blob;

    // Without attack.
    let (base, base_errors) = decrypt_loop(c.clone(), blob.clone(), Instant::now() + Duration::from_secs(3)).await;
    assert!(base_errors.is_empty(), "{base_errors:?}");
    let rss_before = rss_mib(pid);

    // The attack.
    let started = Instant::now();
    let until = started + ATTACK_FOR;
    let max_rss = Arc::new(AtomicU64::new(rss_before));
    let sampler = {
        let max_rss = max_rss.clone();
        tokio::spawn(async move {
            while Instant::now() < until + SLACK {
                max_rss.fetch_max(rss_mib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    // 1. One HTTP/2 connection, 2,000 streams of 1 MiB − 1 byte that stall.
    let h2_answers = Arc::new(AtomicU64::new(0));
    let h2_opened = Arc::new(AtomicU64::new(0));
    let h2_attack = {
        let (answers, opened) = (h2_answers.clone(), h2_opened.clone());
        tokio::spawn(async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let (client, conn) = h2::client::handshake(tcp).await.unwrap();
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let mut held = Vec::new();
            for _ in 0..H2_STREAMS {
                if Instant::now() >= until {
                    break;
                }
                let Ok(Ok(mut ready)) = tokio::time::timeout(until - Instant::now(), client.clone().ready()).await
                else {
                    break;
                };
                let req = http::Request::post(format!("http://{addr}/tern.kms.v1.KeyManagementService/Decrypt"))
                    .header("content-type", "application/grpc")
                    .body(())
                    .unwrap();
                let Ok((resp, mut body)) = ready.send_request(req, false) else {
                    break;
                };
                opened.fetch_add(1, Ordering::Relaxed);
                let _ = body.send_data(bytes::Bytes::from(vec![0u8; (1 << 20) - 1]), false);
                let answers = answers.clone();
                held.push(body);
                tokio::spawn(async move {
                    if resp.await.is_ok() {
                        answers.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
            drop(held);
        })
    };
    // 2. 500 connections with half an HTTP/1.1 header.
    let mut half_headers = Vec::new();
    for _ in 0..HALF_HEADERS {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: TrentService.Decr")
            .await
            .unwrap();
        let sent = Instant::now();
        half_headers.push(tokio::spawn(closed_after(
            s,
            sent,
            Duration::from_millis(HEADER_TIMEOUT_MS) + SLACK,
        )));
    }
    // 3. 200 TLS handshakes to the peer port that never finish.
    let mut handshakes = Vec::new();
    for _ in 0..STALLED_HANDSHAKES {
        let mut s = TcpStream::connect(("127.0.0.1", peer_port)).await.unwrap();
        s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]).await.unwrap();
        let sent = Instant::now();
        handshakes.push(tokio::spawn(closed_after(
            s,
            sent,
            Duration::from_millis(HANDSHAKE_TIMEOUT_MS) + SLACK,
        )));
    }
    // The well-behaved client, meanwhile.
    let (under, errors) = decrypt_loop(c.clone(), blob.clone(), until).await;

    let mut header_closes = Vec::new();
    for h in half_headers {
        header_closes.push(h.await.unwrap());
    }
    let mut handshake_closes = Vec::new();
    for h in handshakes {
        handshake_closes.push(h.await.unwrap());
    }
    h2_attack.await.unwrap();
    sampler.await.unwrap();
    let max_rss = max_rss.load(Ordering::Relaxed);

    let worst = |v: &[Option<Duration>]| v.iter().flatten().max().copied().unwrap_or_default();
    println!(
        "without attack: {} decrypts in 3 s, p50 {:?}, p99 {:?}",
        base.len(),
        pct(&base, 0.5),
        pct(&base, 0.99)
    );
    println!(
        "under attack:   {} decrypts in {:?}, p50 {:?}, p99 {:?}, errors {}; p99 ratio {:.2}",
        under.len(),
        ATTACK_FOR,
        pct(&under, 0.5),
        pct(&under, 0.99),
        errors.len(),
        pct(&under, 0.99).as_secs_f64() / pct(&base, 0.99).as_secs_f64().max(1e-9)
    );
    println!("node RSS: {rss_before} MiB before, {max_rss} MiB at most under attack (bound {RSS_BOUND_MIB} MiB)");
    println!(
        "h2: {} streams opened, {} answered; half headers closed after at most {:?} (timeout {HEADER_TIMEOUT_MS} ms); \
         stalled handshakes closed after at most {:?} (timeout {HANDSHAKE_TIMEOUT_MS} ms)",
        h2_opened.load(Ordering::Relaxed),
        h2_answers.load(Ordering::Relaxed),
        worst(&header_closes),
        worst(&handshake_closes),
    );
    assert!(
        errors.is_empty(),
        "the well-behaved client saw errors: {:?}",
        &errors[..errors.len().min(5)]
    );
    assert!(!under.is_empty());
    assert!(
        max_rss < RSS_BOUND_MIB,
        "RSS {max_rss} MiB over the bound {RSS_BOUND_MIB} MiB"
    );
    assert!(
        header_closes.iter().all(Option::is_some),
        "{} half-header connections still open after {HEADER_TIMEOUT_MS} ms + slack",
        header_closes.iter().filter(|c| c.is_none()).count()
    );
    assert!(
        handshake_closes.iter().all(Option::is_some),
        "{} stalled handshakes still open after {HANDSHAKE_TIMEOUT_MS} ms + slack",
        handshake_closes.iter().filter(|c| c.is_none()).count()
    );
    assert!(
        h2_answers.load(Ordering::Relaxed) > 0,
        "no stalled HTTP/2 stream was answered (throttled or timed out)"
    );
    drop(child);
}
