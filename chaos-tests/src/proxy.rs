//! The WAN delay proxy. The kernel here has no `sch_netem`, so inter-region
//! Raft traffic is routed through this TCP proxy instead: one listener per
//! directed link (region A dialing region B), each with its own latency,
//! jitter and drop rate. Bytes keep their order; each chunk is held until its
//! arrival time plus a delay drawn from `[latency - jitter, latency +
//! jitter]`, never before an earlier chunk. A "drop" cuts the connection (as a
//! lossy path does to a TCP stream in the end); the peer reconnects.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How one directed link behaves.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub latency: Duration,
    pub jitter: Duration,
    /// Probability that a chunk's arrival cuts its connection.
    pub drop: f64,
}

/// What the proxy did, for the report.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub connections: AtomicU64,
    pub bytes: AtomicU64,
    pub cut: AtomicU64,
}

/// Starts one listener per link: `(listen, target, link)`. Runs until
/// `cancel`.
pub async fn start(
    links: Vec<(SocketAddr, SocketAddr, Link)>,
    seed: u64,
    cancel: CancellationToken,
) -> anyhow::Result<Arc<ProxyStats>> {
    let stats = Arc::new(ProxyStats::default());
    for (i, (listen, target, link)) in links.into_iter().enumerate() {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("proxy listen {listen}: {e}"))?;
        let (stats, cancel) = (stats.clone(), cancel.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = cancel.cancelled() => break,
                };
                let Ok((inbound, _)) = accepted else { continue };
                n += 1;
                stats.connections.fetch_add(1, Ordering::Relaxed);
                let conn_seed = seed ^ ((i as u64) << 32) ^ n;
                let (stats, cancel) = (stats.clone(), cancel.clone());
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    let (ri, wi) = inbound.into_split();
                    let (ro, wo) = outbound.into_split();
                    let conn = CancellationToken::new();
                    let a = pump(ri, wo, link, conn_seed, stats.clone(), conn.clone());
                    let b = pump(ro, wi, link, conn_seed.wrapping_add(1), stats, conn.clone());
                    tokio::select! {
                        _ = async { tokio::join!(a, b) } => {}
                        _ = cancel.cancelled() => {}
                    }
                });
            }
        });
    }
    Ok(stats)
}

/// Copies one direction: a reader task stamps chunks, this loop releases
/// them at their time.
async fn pump(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    link: Link,
    seed: u64,
    stats: Arc<ProxyStats>,
    conn: CancellationToken,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader_conn = conn.clone();
    let reader = tokio::spawn(async move {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut last = Instant::now();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = tokio::select! {
                n = r.read(&mut buf) => n,
                _ = reader_conn.cancelled() => break,
            };
            let n = match n {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if link.drop > 0.0 && rng.gen_bool(link.drop.min(1.0)) {
                stats.cut.fetch_add(1, Ordering::Relaxed);
                reader_conn.cancel();
                break;
            }
            let jitter = link.jitter.as_secs_f64();
            let delay = (link.latency.as_secs_f64() + rng.gen_range(-jitter..=jitter)).max(0.0);
            let at = (Instant::now() + Duration::from_secs_f64(delay)).max(last);
            last = at;
            stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            if tx.send((at, buf[..n].to_vec())).is_err() {
                break;
            }
        }
    });
    let mut queue: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    loop {
        let next = tokio::select! {
            m = rx.recv() => m,
            _ = conn.cancelled() => break,
        };
        let Some(item) = next else { break };
        queue.push_back(item);
        while let Some((at, bytes)) = queue.pop_front() {
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                _ = conn.cancelled() => return,
            }
            if w.write_all(&bytes).await.is_err() {
                conn.cancel();
                return;
            }
            while let Ok(m) = rx.try_recv() {
                queue.push_back(m);
            }
        }
    }
    let _ = w.shutdown().await;
    reader.abort();
}
