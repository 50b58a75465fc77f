//! The peer transport: openraft's RPCs over tonic (`proto/tern/raft/v1`),
//! each message passed through the cluster's [`FaultPlan`] first.
//!
//! Raft messages are openraft's serde types as JSON; a Raft-level error
//! rides inside the answer, a transport failure is a gRPC status (and an
//! `Unreachable` to openraft, which then backs off).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tern_proto::raft_pb::raft_peer_client::RaftPeerClient;
use tern_proto::raft_pb::RaftPayload;
use tonic::transport::{Channel, Endpoint};

use crate::fault::{FaultPlan, Verdict};
use crate::state_machine::Msg;
use crate::tls::PeerTls;
use crate::types::{NodeId, RegionNode, TypeConfig};

/// Which RPC of the peer service.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rpc {
    AppendEntries,
    Vote,
    InstallSnapshot,
    Forward,
    Hello,
}

/// A lazily connected channel to one peer, with the fault plan in front.
#[derive(Clone, Debug)]
pub(crate) struct PeerChannel {
    pub from_region: String,
    pub to_region: String,
    channel: Channel,
    plan: Arc<FaultPlan>,
    contacts: Contacts,
}

/// Why a peer call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("peer {0} unreachable: {1}")]
    Unreachable(String, String),
    #[error("malformed peer message: {0}")]
    Codec(String),
}

/// Opens peer channels for one region: mutual TLS with the cluster's
/// certificates, the fault plan in front. Channels are kept per peer, so a
/// forwarded write reuses the connection (and its TLS session) of the last.
#[derive(Clone, Debug)]
pub(crate) struct Dialer {
    region: String,
    plan: Arc<FaultPlan>,
    tls: Arc<PeerTls>,
    channels: Arc<parking_lot::Mutex<HashMap<(String, String), PeerChannel>>>,
    contacts: Contacts,
}

/// When this region last exchanged a message with each peer region: a
/// peer's request arrived, or a peer answered ours. A region that has had
/// no contact with a majority for an election timeout is cut off.
#[derive(Clone, Debug, Default)]
pub(crate) struct Contacts(Arc<parking_lot::Mutex<HashMap<String, std::time::Instant>>>);

impl Contacts {
    pub fn saw(&self, region: &str) {
        let now = std::time::Instant::now();
        let mut m = self.0.lock();
        match m.get_mut(region) {
            Some(t) => *t = now,
            None => {
                m.insert(region.to_string(), now);
            }
        }
    }

    /// Each region's last contact, for messages: `region (0.3 s ago)`.
    pub fn describe(&self) -> String {
        let m = self.0.lock();
        let mut v: Vec<String> = m
            .iter()
            .map(|(r, t)| format!("{r} {:.1} s ago", t.elapsed().as_secs_f64()))
            .collect();
        v.sort();
        if v.is_empty() {
            "none".into()
        } else {
            v.join(", ")
        }
    }

    /// Whether `region` was in contact within `within`.
    pub fn recent(&self, region: &str, within: Duration) -> bool {
        self.0.lock().get(region).is_some_and(|t| t.elapsed() <= within)
    }
}

impl Dialer {
    pub fn new(region: &str, plan: Arc<FaultPlan>, tls: Arc<PeerTls>) -> Dialer {
        Dialer {
            region: region.to_string(),
            plan,
            tls,
            channels: Arc::default(),
            contacts: Contacts::default(),
        }
    }

    pub fn contacts(&self) -> &Contacts {
        &self.contacts
    }

    pub fn plan(&self) -> &Arc<FaultPlan> {
        &self.plan
    }

    /// The channel to `node` (connected lazily, on first use).
    pub fn channel(&self, node: &RegionNode) -> Result<PeerChannel, CallError> {
        let key = (node.region.clone(), node.addr.clone());
        if let Some(c) = self.channels.lock().get(&key) {
            return Ok(c.clone());
        }
        let unreachable = |e: tonic::transport::Error| CallError::Unreachable(node.region.clone(), e.to_string());
        let ep = Endpoint::from_shared(format!("https://{}", node.addr))
            .map_err(unreachable)?
            .tls_config(self.tls.client_config(&node.region))
            .map_err(unreachable)?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10));
        let ch = PeerChannel {
            from_region: self.region.clone(),
            to_region: node.region.clone(),
            channel: ep.connect_lazy(),
            plan: self.plan.clone(),
            contacts: self.contacts.clone(),
        };
        self.channels.lock().insert(key, ch.clone());
        Ok(ch)
    }
}

impl PeerChannel {
    async fn pass(&self, from: &str, to: &str) -> Result<(), CallError> {
        match self.plan.verdict(from, to) {
            Verdict::Lose => Err(CallError::Unreachable(
                to.to_string(),
                "message lost (injected fault)".into(),
            )),
            Verdict::Deliver(d) => {
                if !d.is_zero() {
                    tokio::time::sleep(d).await;
                }
                Ok(())
            }
        }
    }

    /// One request/response exchange: request and answer each cross the
    /// fault plan (cut, drop, one-way delay).
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        rpc: Rpc,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, CallError> {
        let data = serde_json::to_vec(req).map_err(|e| CallError::Codec(e.to_string()))?;
        let exchange = async {
            self.pass(&self.from_region, &self.to_region).await?;
            let mut client = RaftPeerClient::new(self.channel.clone())
                .max_decoding_message_size(256 << 20)
                .max_encoding_message_size(256 << 20);
            let msg = RaftPayload { data };
            let r = match rpc {
                Rpc::AppendEntries => client.append_entries(msg).await,
                Rpc::Vote => client.vote(msg).await,
                Rpc::InstallSnapshot => client.install_snapshot(msg).await,
                Rpc::Forward => client.forward(msg).await,
                Rpc::Hello => client.hello(msg).await,
            };
            let resp = r.map_err(|s| CallError::Unreachable(self.to_region.clone(), s.message().to_string()))?;
            self.pass(&self.to_region, &self.from_region).await?;
            self.contacts.saw(&self.to_region);
            serde_json::from_slice(&resp.into_inner().data).map_err(|e| CallError::Codec(e.to_string()))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(CallError::Unreachable(self.to_region.clone(), "timed out".into())),
        }
    }
}

/// Makes a client per peer for openraft.
#[derive(Clone, Debug)]
pub struct Network {
    pub(crate) dialer: Dialer,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &RegionNode) -> PeerClient {
        PeerClient {
            target,
            channel: self.dialer.channel(node),
        }
    }
}

/// openraft's view of one peer.
#[derive(Debug)]
pub struct PeerClient {
    target: NodeId,
    channel: Result<PeerChannel, CallError>,
}

type RaftRpcError<E = openraft::error::Infallible> = RPCError<NodeId, RegionNode, RaftError<NodeId, E>>;

impl PeerClient {
    async fn send<Req, Resp, E>(&self, rpc: Rpc, req: &Req, option: &RPCOption) -> Result<Resp, RaftRpcError<E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let ch = self
            .channel
            .as_ref()
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&Msg(e.to_string()))))?;
        let r: Result<Resp, RaftError<NodeId, E>> =
            ch.call(rpc, req, option.hard_ttl()).await.map_err(|e| match e {
                CallError::Unreachable(..) => RPCError::Unreachable(Unreachable::new(&e)),
                CallError::Codec(_) => RPCError::Network(NetworkError::new(&e)),
            })?;
        r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RaftRpcError> {
        self.send(Rpc::AppendEntries, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RaftRpcError<InstallSnapshotError>> {
        self.send(Rpc::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RaftRpcError> {
        self.send(Rpc::Vote, &rpc, &option).await
    }

    fn backoff(&self) -> openraft::network::Backoff {
        openraft::network::Backoff::new(std::iter::repeat(Duration::from_millis(200)))
    }
}
