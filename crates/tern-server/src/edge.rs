//! The edge of a node: tern's own accept loop for the client and peer
//! ports, so what an unauthenticated peer can make a node hold is bounded
//! by named limits ([`crate::Limits`]):
//!
//! - connections at once, per node and per source IP (over them a new
//!   connection is closed at once, counted and logged);
//! - a TLS handshake must finish within its timeout;
//! - an HTTP/1.1 connection that has sent bytes must complete a request's
//!   headers within the header-read timeout (slowloris), and one with no
//!   request in flight is closed after the idle timeout (an HTTP/2
//!   connection is bounded by the stream cap and the body timeout instead);
//! - after an accept error (out of file descriptors, …) the loop backs off
//!   (5 ms doubling to 1 s) instead of spinning, and never stops serving.
//!
//! Each accepted connection is a [`Guarded`] stream: it holds its node and
//! per-IP permits until it closes, forwards tonic's `Connected` (so TLS peer
//! certificates and the remote address still reach the request), counts
//! the bytes it reads, and can be closed by the edge's watchdog. The SigV4
//! layer marks when a request on a connection starts and ends
//! ([`Edge::request_started`]).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tonic::transport::server::Connected;

/// The edge's limits (see [`crate::Limits`] for their defaults).
#[derive(Debug, Clone)]
pub struct EdgeLimits {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub tls_handshake_timeout: Duration,
    /// HTTP/1.1: from the first byte after the previous request until a
    /// request's headers are complete (`None`: not watched; the peer port,
    /// whose clients hold cluster certificates).
    pub header_read_timeout: Option<Duration>,
    /// Any connection without a request in flight (`None`: not watched).
    pub idle_timeout: Option<Duration>,
    /// Body bytes of not-yet-authenticated requests one connection may hold
    /// at once: its share of the node's budget, so one connection (however
    /// many HTTP/2 streams it opens) cannot starve the others.
    pub body_bytes_per_connection: usize,
}

/// What the edge has refused or closed, for logs and tests.
#[derive(Debug, Default)]
pub struct EdgeCounters {
    pub refused_node_cap: AtomicU64,
    pub refused_ip_cap: AtomicU64,
    pub handshake_timeouts: AtomicU64,
    pub handshake_failures: AtomicU64,
    pub header_timeouts: AtomicU64,
    pub idle_closed: AtomicU64,
    pub accept_errors: AtomicU64,
}

/// One open connection, as the watchdog and the request hook see it.
#[derive(Debug)]
struct ConnState {
    /// Requests in flight on the connection.
    in_flight: AtomicU32,
    /// Milliseconds since `edge.epoch` when the connection last had no
    /// request in flight (opened, or its last request ended).
    idle_since_ms: AtomicU64,
    /// Bytes read so far, and when it went idle.
    bytes_read: AtomicU64,
    bytes_at_idle: AtomicU64,
    /// HTTP/2 (by ALPN or its preface): no header-read timeout, streams are
    /// bounded by the server's stream cap instead.
    http2: AtomicBool,
    /// Unauthenticated body bytes its requests hold now.
    body_held: std::sync::atomic::AtomicUsize,
    killed: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl ConnState {
    fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        if let Some(w) = self.waker.lock().ok().and_then(|mut w| w.take()) {
            w.wake();
        }
    }
}

/// One port's edge: its permits, its open connections and its counters.
#[derive(Debug)]
pub struct Edge {
    name: &'static str,
    limits: EdgeLimits,
    node: Arc<Semaphore>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    /// Read on every request (a read lock), written on open and close.
    conns: std::sync::RwLock<HashMap<SocketAddr, Arc<ConnState>>>,
    epoch: Instant,
    pub counters: EdgeCounters,
}

/// Logs a refusal at most once a second per kind (an attack must not fill
/// the log), with what to do.
pub(crate) fn log_refusal(last: &AtomicU64, epoch: Instant, f: impl FnOnce()) {
    let now = epoch.elapsed().as_millis() as u64;
    let prev = last.load(Ordering::Relaxed);
    if now >= prev.saturating_add(1000)
        && last
            .compare_exchange(prev, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        f();
    }
}

static LAST_REFUSAL_LOG: AtomicU64 = AtomicU64::new(0);

impl Edge {
    pub fn new(name: &'static str, limits: EdgeLimits) -> Arc<Edge> {
        Arc::new(Edge {
            name,
            node: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            limits,
            per_ip: Mutex::new(HashMap::new()),
            conns: std::sync::RwLock::new(HashMap::new()),
            epoch: Instant::now(),
            counters: EdgeCounters::default(),
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.conns.read().map(|c| c.len()).unwrap_or(0)
    }

    /// Takes a node permit and a per-IP slot for a new connection, or
    /// refuses it (counted and logged).
    fn admit(self: &Arc<Self>, remote: SocketAddr) -> Option<Admission> {
        let Ok(permit) = self.node.clone().try_acquire_owned() else {
            self.counters.refused_node_cap.fetch_add(1, Ordering::Relaxed);
            log_refusal(&LAST_REFUSAL_LOG, self.epoch, || {
                tracing::warn!(port = self.name, max = self.limits.max_connections, %remote,
                    "connection refused: the node's connection limit is reached ([limits] max_connections)");
            });
            return None;
        };
        let ip = remote.ip();
        {
            let Ok(mut per_ip) = self.per_ip.lock() else {
                return None;
            };
            let n = per_ip.entry(ip).or_insert(0);
            if *n >= self.limits.max_connections_per_ip {
                self.counters.refused_ip_cap.fetch_add(1, Ordering::Relaxed);
                log_refusal(&LAST_REFUSAL_LOG, self.epoch, || {
                    tracing::warn!(port = self.name, max = self.limits.max_connections_per_ip, %ip,
                        "connection refused: this source IP's connection limit is reached ([limits] max_connections_per_ip)");
                });
                return None;
            }
            *n += 1;
        }
        let state = Arc::new(ConnState {
            in_flight: AtomicU32::new(0),
            idle_since_ms: AtomicU64::new(self.now_ms()),
            bytes_read: AtomicU64::new(0),
            bytes_at_idle: AtomicU64::new(0),
            http2: AtomicBool::new(false),
            body_held: std::sync::atomic::AtomicUsize::new(0),
            killed: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        if let Ok(mut conns) = self.conns.write() {
            conns.insert(remote, state.clone());
        }
        Some(Admission {
            edge: self.clone(),
            remote,
            _permit: permit,
            state,
        })
    }

    /// Marks a request started on the connection from `remote` (HTTP/1.1
    /// headers complete, or an HTTP/2 stream open); the guard marks its end.
    pub fn request_started(self: &Arc<Self>, remote: SocketAddr) -> Option<RequestGuard> {
        let state = self.conns.read().ok()?.get(&remote)?.clone();
        state.in_flight.fetch_add(1, Ordering::AcqRel);
        Some(RequestGuard {
            edge: self.clone(),
            state,
            held: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// One watchdog pass: closes connections past their header-read or
    /// idle timeout.
    fn sweep(&self) {
        let now = self.now_ms();
        let ms = |d: Option<Duration>| d.map_or(u64::MAX, |d| d.as_millis() as u64);
        let (header, idle) = (ms(self.limits.header_read_timeout), ms(self.limits.idle_timeout));
        if header == u64::MAX && idle == u64::MAX {
            return;
        }
        let Ok(conns) = self.conns.read() else { return };
        for (remote, c) in conns.iter() {
            if c.killed.load(Ordering::Acquire) || c.in_flight.load(Ordering::Acquire) > 0 {
                continue;
            }
            // HTTP/2 connections are left to the stream cap and the body
            // timeout: a client's channel may idle between calls, and an
            // abrupt close could race its next call.
            if c.http2.load(Ordering::Acquire) {
                continue;
            }
            let since = now.saturating_sub(c.idle_since_ms.load(Ordering::Acquire));
            let sent_more = c.bytes_read.load(Ordering::Acquire) > c.bytes_at_idle.load(Ordering::Acquire);
            if sent_more && since > header {
                self.counters.header_timeouts.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(port = self.name, %remote, "closed: request headers not complete within the header-read timeout");
                c.kill();
            } else if since > idle {
                self.counters.idle_closed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(port = self.name, %remote, "closed: idle");
                c.kill();
            }
        }
    }

    /// Accepts connections on `listener` until `cancel`, admits each within
    /// the limits, runs `handshake` on it (TLS, or nothing) within the
    /// handshake timeout in its own task, and yields the finished streams.
    pub fn incoming<IO, F, Fut>(
        self: Arc<Self>,
        listener: TcpListener,
        cancel: CancellationToken,
        handshake: F,
    ) -> tokio_stream::wrappers::ReceiverStream<Result<IO, io::Error>>
    where
        F: Fn(Guarded) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<IO>> + Send + 'static,
        IO: Send + 'static,
    {
        let (tx, rx) = tokio::sync::mpsc::channel(128);
        let handshake = Arc::new(handshake);
        {
            let edge = self.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                loop {
                    tokio::select! {
                        _ = tick.tick() => edge.sweep(),
                        _ = cancel.cancelled() => break,
                    }
                }
            });
        }
        tokio::spawn(async move {
            let mut backoff = Duration::ZERO;
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = cancel.cancelled() => break,
                };
                let (stream, remote) = match accepted {
                    Ok(a) => {
                        backoff = Duration::ZERO;
                        a
                    }
                    Err(e) => {
                        // Out of file descriptors or memory: wait, then go on.
                        backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                        self.counters.accept_errors.fetch_add(1, Ordering::Relaxed);
                        log_refusal(&LAST_REFUSAL_LOG, self.epoch, || {
                            tracing::warn!(port = self.name, error = %e, backoff_ms = backoff.as_millis() as u64,
                                "accepting a connection failed; backing off (out of file descriptors? raise `ulimit -n` or lower [limits] max_connections)");
                        });
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = cancel.cancelled() => break,
                        }
                        continue;
                    }
                };
                let Some(admission) = self.admit(remote) else {
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let guarded = Guarded { io: stream, admission };
                let (tx, handshake, edge) = (tx.clone(), handshake.clone(), self.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(edge.limits.tls_handshake_timeout, handshake(guarded)).await {
                        Ok(Ok(io)) => {
                            let _ = tx.send(Ok(io)).await;
                        }
                        Ok(Err(e)) => {
                            edge.counters.handshake_failures.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(port = edge.name, %remote, error = %e, "handshake failed");
                        }
                        Err(_) => {
                            edge.counters.handshake_timeouts.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(port = edge.name, %remote, "handshake timed out");
                        }
                    }
                });
            }
        });
        tokio_stream::wrappers::ReceiverStream::new(rx)
    }
}

/// A connection's place at the edge: released when the connection closes.
#[derive(Debug)]
struct Admission {
    edge: Arc<Edge>,
    remote: SocketAddr,
    _permit: OwnedSemaphorePermit,
    state: Arc<ConnState>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Ok(mut conns) = self.edge.conns.write() {
            if conns.get(&self.remote).is_some_and(|c| Arc::ptr_eq(c, &self.state)) {
                conns.remove(&self.remote);
            }
        }
        if let Ok(mut per_ip) = self.edge.per_ip.lock() {
            let ip = self.remote.ip();
            if let Some(n) = per_ip.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    per_ip.remove(&ip);
                }
            }
        }
    }
}

/// A request in flight on a connection.
#[derive(Debug)]
pub struct RequestGuard {
    edge: Arc<Edge>,
    state: Arc<ConnState>,
    /// Unauthenticated body bytes this request holds of its connection's share.
    held: std::sync::atomic::AtomicUsize,
}

impl RequestGuard {
    /// Counts `n` more unauthenticated body bytes for this request; `false`
    /// (nothing counted) when its connection would go over its share.
    pub fn hold_body(&self, n: usize) -> bool {
        let cap = self.edge.limits.body_bytes_per_connection;
        let before = self.state.body_held.fetch_add(n, Ordering::AcqRel);
        if before.saturating_add(n) > cap {
            self.state.body_held.fetch_sub(n, Ordering::AcqRel);
            return false;
        }
        self.held.fetch_add(n, Ordering::AcqRel);
        true
    }

    /// The request is authenticated (or refused): its body bytes no longer
    /// count against its connection's share.
    pub fn release_body(&self) {
        let n = self.held.swap(0, Ordering::AcqRel);
        self.state.body_held.fetch_sub(n, Ordering::AcqRel);
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.release_body();
        if self.state.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.state
                .bytes_at_idle
                .store(self.state.bytes_read.load(Ordering::Acquire), Ordering::Release);
            self.state.idle_since_ms.store(self.edge.now_ms(), Ordering::Release);
        }
    }
}

/// An accepted TCP connection holding its place at the edge.
#[derive(Debug)]
pub struct Guarded {
    io: TcpStream,
    admission: Admission,
}

impl Guarded {
    /// Marks the connection as HTTP/2 (by ALPN after a TLS handshake).
    pub fn set_http2(&self, yes: bool) {
        self.admission.state.http2.store(yes, Ordering::Release);
    }
}

fn killed() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "closed by the node's edge limits")
}

impl AsyncRead for Guarded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let state = self.admission.state.clone();
        if state.killed.load(Ordering::Acquire) {
            return Poll::Ready(Err(killed()));
        }
        if let Ok(mut w) = state.waker.lock() {
            match w.as_ref() {
                Some(old) if old.will_wake(cx.waker()) => {}
                _ => *w = Some(cx.waker().clone()),
            }
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            let total = state.bytes_read.fetch_add(read as u64, Ordering::AcqRel);
            if total == 0 && buf.filled()[before..].starts_with(b"PRI ") {
                state.http2.store(true, Ordering::Release);
            }
        }
        r
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.admission.state.killed.load(Ordering::Acquire) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.admission.state.killed.load(Ordering::Acquire) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl Connected for Guarded {
    type ConnectInfo = <TcpStream as Connected>::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}
