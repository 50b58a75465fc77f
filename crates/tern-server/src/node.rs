//! One region node: the store, the service, the due-task scheduler and the
//! gRPC listener, started together and shut down together.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tern_core::crypto::RootKey;
use tern_core::ids::Region;
use tern_proto::pb::key_management_service_server::KeyManagementServiceServer;
use tern_service::{Clock, Kms};
use tern_store::{Store, StoreConfig};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use tokio_util::sync::CancellationToken;

use crate::auth::{PrincipalRegistry, SigV4AuthLayer};
use crate::grpc::GrpcApi;

/// Largest request body the API accepts (a 6 KiB blob plus context fits
/// many times over).
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// The gRPC health service, served without authentication.
pub const HEALTH_SERVICE: &str = "grpc.health.v1.Health";
/// Health-check service name that is SERVING only on the Raft leader's region.
pub const RAFT_LEADER_SERVICE: &str = "tern.raft.Leader";

/// How long a shutdown waits for open connections to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("store: {0}")]
    Store(#[from] tern_store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("replication: {0}")]
    Replication(String),
}

/// How a node joins its Multi-Region cluster.
#[derive(Debug)]
pub struct ClusterOptions {
    pub node_id: tern_replication::NodeId,
    /// Every region of the cluster, this one included.
    pub members: Vec<tern_replication::Member>,
    /// The peer port, already bound (so its address can be in `members`
    /// before the node starts).
    pub peer_listener: std::net::TcpListener,
    pub sealing_key: tern_core::seal::SealingKey,
    /// The peer port's mutual TLS: this region's certificate and the
    /// cluster CA.
    pub tls: tern_replication::PeerTls,
    pub timing: tern_replication::Timing,
    /// Snapshot and compact the Raft log every this many entries.
    pub snapshot_every: u64,
    /// Injected faults on the peer transport (empty in production).
    pub faults: Arc<tern_replication::fault::FaultPlan>,
}

/// Everything a node needs to start.
#[derive(Debug)]
pub struct NodeOptions {
    pub region: Region,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub root_key: RootKey,
    pub principals: Arc<PrincipalRegistry>,
    pub clock: Arc<dyn Clock>,
    /// How often automatic rotation and deletion are checked; `None` turns
    /// the background scheduler off (tests drive it by hand).
    pub scheduler_interval: Option<Duration>,
    /// Free space the data directory keeps (see [`tern_store::StoreConfig`]):
    /// below it, client requests fail closed saying the disk is full.
    pub min_free_bytes: u64,
    /// TLS on the client port (certificate and key); `None`: plaintext.
    pub client_tls: Option<crate::client_tls::ClientTls>,
    /// `None`: a standalone region without Multi-Region keys.
    pub cluster: Option<ClusterOptions>,
    pub limits: crate::Limits,
}

impl ClusterOptions {
    /// Binds the peer port and reads the sealing key named by `c`.
    pub fn from_config(c: &crate::config::ClusterConfig) -> Result<ClusterOptions, NodeError> {
        let members = c
            .members
            .iter()
            .map(|m| tern_replication::Member {
                node_id: m.node_id,
                node: tern_replication::RegionNode {
                    region: m.region.to_string(),
                    addr: m.peer_addr.clone(),
                    sealing_key: m.sealing_public_key.clone(),
                    signing_key: m.signing_public_key.clone().unwrap_or_default(),
                },
            })
            .collect();
        let peer_listener = std::net::TcpListener::bind(c.peer_listen).map_err(|source| NodeError::Listen {
            addr: c.peer_listen,
            source,
        })?;
        Ok(ClusterOptions {
            node_id: c.node_id,
            members,
            peer_listener,
            sealing_key: c.sealing_key().map_err(|e| NodeError::Replication(e.to_string()))?,
            tls: c.peer_tls().map_err(|e| NodeError::Replication(e.to_string()))?,
            timing: tern_replication::Timing::from_max_rtt(Duration::from_millis(c.max_rtt_ms)),
            snapshot_every: c.snapshot_every,
            faults: Arc::default(),
        })
    }
}

/// A running region node.
#[derive(Debug)]
pub struct Node {
    kms: Arc<Kms>,
    /// The access keys the client port accepts (reloadable).
    principals: crate::auth::Principals,
    addr: SocketAddr,
    cancel: CancellationToken,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
    peer_server: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
    peer_addr: Option<SocketAddr>,
    scheduler: Option<JoinHandle<()>>,
    /// The client port's edge (its connection counts, for tests and logs).
    edge: Arc<crate::edge::Edge>,
}

impl Node {
    pub async fn start(opts: NodeOptions) -> Result<Node, NodeError> {
        let store = Store::open(&StoreConfig {
            path: opts.data_dir.clone(),
            min_free_bytes: opts.min_free_bytes,
        })?;
        let cancel = CancellationToken::new();
        let mut kms = Kms::new(
            opts.region.clone(),
            store.clone(),
            opts.root_key.clone(),
            opts.clock.clone(),
        )
        .with_keys_per_account(opts.limits.keys_per_account);
        let mut peer_server = None;
        let mut peer_addr = None;
        let mut leader_watch = None;
        if let Some(c) = opts.cluster {
            let tls_for_peer = c.tls.clone();
            let cfg = tern_replication::ReplicationConfig {
                region: opts.region.clone(),
                node_id: c.node_id,
                members: c.members,
                dir: opts.data_dir.join("raft"),
                timing: c.timing,
                snapshot_every: c.snapshot_every,
                plan: c.faults,
                tls: Arc::new(c.tls),
                sealing: c.sealing_key,
                root: opts.root_key.clone(),
            };
            let repl = tern_replication::Replication::start(cfg, store)
                .await
                .map_err(NodeError::Replication)?;
            let listen_err = |source| NodeError::Listen {
                addr: opts.listen,
                source,
            };
            c.peer_listener.set_nonblocking(true).map_err(listen_err)?;
            let addr = c.peer_listener.local_addr().map_err(listen_err)?;
            let listener = TcpListener::from_std(c.peer_listener).map_err(listen_err)?;
            // The peer port's own edge: connection caps, a handshake timeout,
            // mutual TLS with the cluster CA (what tonic's TLS did, plus the
            // timeout), accept-error backoff.
            let acceptor = peer_acceptor(&tls_for_peer).map_err(NodeError::Replication)?;
            let edge = crate::edge::Edge::new("peer", opts.limits.peer_edge());
            let incoming = edge.incoming(listener, cancel.clone(), move |io| {
                let acceptor = acceptor.clone();
                async move { acceptor.accept(io).await }
            });
            let shutdown = cancel.clone();
            peer_server = Some(tokio::spawn(
                tonic::transport::Server::builder()
                    .add_service(repl.peer_service())
                    .serve_with_incoming_shutdown(incoming, async move { shutdown.cancelled().await }),
            ));
            peer_addr = Some(addr);
            leader_watch = Some((repl.raft().metrics(), c.node_id));
            kms = kms.with_replication(repl);
        }
        let kms = Arc::new(kms);
        let listener = TcpListener::bind(opts.listen)
            .await
            .map_err(|source| NodeError::Listen {
                addr: opts.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| NodeError::Listen {
            addr: opts.listen,
            source,
        })?;

        let clock = opts.clock.clone();
        let auth = SigV4AuthLayer::new(opts.principals.clone(), opts.region.as_str())
            .with_clock(Arc::new(move || clock.now()))
            .with_body_budget(opts.limits.body_budget())
            .allow_unauthenticated(HEALTH_SERVICE);
        let principals = auth.principals();
        // grpc.health.v1 for load balancers and `tern health`: SERVING once
        // the store, replication and listener are up.
        let (mut health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<KeyManagementServiceServer<GrpcApi>>().await;
        // `tern.raft.Leader` is SERVING on the region that leads the
        // Multi-Region Raft group right now (`tern health --service
        // tern.raft.Leader`): how operators and the chaos suite find it.
        if let Some((mut metrics, me)) = leader_watch {
            let mut health = health.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                let mut leading = None;
                loop {
                    let now = metrics.borrow_and_update().current_leader == Some(me);
                    if leading != Some(now) {
                        leading = Some(now);
                        let status = if now {
                            tonic_health::ServingStatus::Serving
                        } else {
                            tonic_health::ServingStatus::NotServing
                        };
                        health.set_service_status(RAFT_LEADER_SERVICE, status).await;
                    }
                    tokio::select! {
                        changed = metrics.changed() => if changed.is_err() { break },
                        _ = cancel.cancelled() => break,
                    }
                }
            });
        }
        let api =
            KeyManagementServiceServer::new(GrpcApi::new(kms.clone())).max_decoding_message_size(MAX_REQUEST_BYTES);
        let shutdown = cancel.clone();
        // HTTP/1.1 too: aws-cli, boto3 and the SDKs speak it to the JSON API.
        let builder = tonic::transport::Server::builder()
            .accept_http1(true)
            .max_concurrent_streams(opts.limits.max_concurrent_streams);
        // One port: gRPC (health and KMS) and the AWS JSON 1.1 API at `POST /`.
        let routes = crate::json_api::with_json_api(
            tonic::service::Routes::new(health_service).add_service(api),
            kms.clone(),
        );
        let edge = crate::edge::Edge::new("client", opts.limits.client_edge());
        let auth = auth
            .with_edge(edge.clone())
            .with_request_timeout(Duration::from_millis(opts.limits.request_timeout_ms));
        let router = builder.layer(auth).add_routes(routes);
        let server = match opts.client_tls {
            Some(tls) => {
                let acceptor = tls.acceptor().map_err(NodeError::Replication)?;
                let incoming = edge.clone().incoming(listener, cancel.clone(), move |io| {
                    let acceptor = acceptor.clone();
                    async move {
                        let tls = acceptor.accept(io).await?;
                        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                        tls.get_ref().0.set_http2(h2);
                        Ok(tls)
                    }
                });
                tokio::spawn(router.serve_with_incoming_shutdown(incoming, async move { shutdown.cancelled().await }))
            }
            None => {
                let incoming = edge
                    .clone()
                    .incoming(listener, cancel.clone(), |io| async move { Ok(io) });
                tokio::spawn(router.serve_with_incoming_shutdown(incoming, async move { shutdown.cancelled().await }))
            }
        };
        let scheduler = opts
            .scheduler_interval
            .map(|every| kms.clone().spawn_scheduler(every, cancel.clone()));
        tracing::info!(region = %opts.region, %addr, "region node listening");
        Ok(Node {
            kms,
            edge,
            principals,
            addr,
            cancel,
            server,
            peer_server,
            peer_addr,
            scheduler,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, what clients connect to.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn kms(&self) -> &Arc<Kms> {
        &self.kms
    }

    /// The client port's edge: open connections and what it refused.
    pub fn edge(&self) -> &Arc<crate::edge::Edge> {
        &self.edge
    }

    /// Puts a new set of principals in force (access keys added, rotated
    /// or removed) without a restart; requests already authenticated are
    /// not affected.
    pub fn reload_principals(&self, registry: PrincipalRegistry) {
        tracing::info!(access_keys = registry.len(), "principals reloaded");
        self.principals.replace(registry);
    }

    /// The peer (Raft) address, when the node is part of a cluster.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer_addr
    }

    pub fn replication(&self) -> Option<&tern_replication::Replication> {
        self.kms.replication_handle()
    }

    /// Stops accepting requests, lets in-flight ones finish, stops the
    /// scheduler and the store's committer.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        // Graceful: in-flight requests finish; a client that keeps its
        // connection open does not hold the shutdown longer than this.
        let mut server = self.server;
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
            Ok(Err(e)) => tracing::warn!(error = %e, "server task ended abnormally"),
            Ok(Ok(_)) => {}
            Err(_) => {
                tracing::warn!("client connections still open after the grace period; closing them");
                server.abort();
            }
        }
        if let Some(s) = self.scheduler {
            let _ = s.await;
        }
        if let Some(r) = self.kms.replication_handle() {
            r.shutdown().await;
        }
        if let Some(mut p) = self.peer_server {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut p).await.is_err() {
                p.abort();
            }
        }
        self.kms.store().shutdown();
    }
}

/// The peer port's TLS: this region's certificate, and only clients with a
/// certificate from the cluster CA (mutual TLS), offering `h2`.
fn peer_acceptor(tls: &tern_replication::PeerTls) -> Result<tokio_rustls::TlsAcceptor, String> {
    use tokio_rustls::rustls;
    let pem_certs = |pem: &str, what: &str| {
        rustls_pemfile::certs(&mut pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("peer {what}: {e}"))
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in pem_certs(tls.ca_pem(), "CA certificate")? {
        roots.add(c).map_err(|e| format!("peer CA certificate: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("peer TLS client verifier: {e}"))?;
    let key = rustls_pemfile::private_key(&mut tls.key_pem().as_bytes())
        .map_err(|e| format!("peer key: {e}"))?
        .ok_or("peer key: no PEM private key found")?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("peer TLS: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(pem_certs(tls.cert_pem(), "certificate")?, key)
        .map_err(|e| format!("peer TLS: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
