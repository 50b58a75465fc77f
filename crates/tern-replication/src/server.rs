//! The peer gRPC service: hands openraft's RPCs to the local Raft node and
//! takes client writes forwarded by followers.

use openraft::error::{ClientWriteError, InstallSnapshotError, RaftError};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::{Deserialize, Serialize};
use tern_proto::raft_pb::raft_peer_server::{RaftPeer, RaftPeerServer};
use tern_proto::raft_pb::RaftPayload;
use tonic::{Request, Response, Status};

use crate::command::{Command, Op, Outcome};
use crate::types::{LogId, NodeId, TypeConfig};
use crate::Replication;

/// The leader's answer to a forwarded write.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum ForwardReply {
    Done {
        log_id: LogId,
        outcome: Outcome,
    },
    NotLeader,
    /// The write may or may not have been made.
    Failed(String),
}

/// A peer's view of the group, for a node starting on an empty directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HelloReply {
    /// The incarnation this peer has applied for the asking node.
    pub incarnation: Option<String>,
    /// This peer's current vote (for the asker's restart vote guard).
    #[serde(default)]
    pub vote: Option<openraft::Vote<NodeId>>,
    /// The index this peer has applied up to.
    #[serde(default)]
    pub last_applied: Option<u64>,
}

/// Serves one region's peer port.
#[derive(Debug, Clone)]
pub struct PeerService {
    repl: Replication,
}

fn decode<T: for<'de> Deserialize<'de>>(req: Request<RaftPayload>) -> Result<T, Status> {
    serde_json::from_slice(&req.into_inner().data)
        .map_err(|e| Status::invalid_argument(format!("malformed peer message: {e}")))
}

fn encode<T: Serialize>(v: &T) -> Result<Response<RaftPayload>, Status> {
    serde_json::to_vec(v)
        .map(|data| Response::new(RaftPayload { data }))
        .map_err(|e| Status::internal(e.to_string()))
}

impl PeerService {
    pub(crate) fn new(repl: Replication) -> Self {
        PeerService { repl }
    }

    pub(crate) fn into_server(self) -> RaftPeerServer<PeerService> {
        RaftPeerServer::new(self)
            .max_decoding_message_size(256 << 20)
            .max_encoding_message_size(256 << 20)
    }
}

#[tonic::async_trait]
impl RaftPeer for PeerService {
    async fn append_entries(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let rpc: AppendEntriesRequest<TypeConfig> = decode(req)?;
        self.repl
            .heard_from(rpc.vote.leader_id().voted_for().unwrap_or_default());
        let r: Result<_, RaftError<NodeId>> = self.repl.raft().append_entries(rpc).await;
        encode(&r)
    }

    async fn vote(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let rpc: VoteRequest<NodeId> = decode(req)?;
        let min_log = self.repl.vote_min_log();
        if min_log > 0 && rpc.last_log_id.map_or(0, |l| l.index) < min_log {
            // Answered as unreachable: the candidate counts no vote here.
            return Err(Status::unavailable(
                "this node restarted and votes only for candidates that have caught up with the group",
            ));
        }
        self.repl
            .heard_from(rpc.vote.leader_id().voted_for().unwrap_or_default());
        let r: Result<_, RaftError<NodeId>> = self.repl.raft().vote(rpc).await;
        encode(&r)
    }

    async fn install_snapshot(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let rpc: InstallSnapshotRequest<TypeConfig> = decode(req)?;
        self.repl
            .heard_from(rpc.vote.leader_id().voted_for().unwrap_or_default());
        let r: Result<_, RaftError<NodeId, InstallSnapshotError>> = self.repl.raft().install_snapshot(rpc).await;
        encode(&r)
    }

    async fn hello(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let node_id: NodeId = decode(req)?;
        self.repl.heard_from(node_id);
        let m = self.repl.raft().metrics().borrow().clone();
        encode(&HelloReply {
            incarnation: self.repl.incarnation_of(node_id),
            vote: Some(m.vote),
            last_applied: m.last_applied.map(|l| l.index),
        })
    }

    async fn forward(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        // First line (every region checks again on apply): a peer forwards
        // only commands its own region made, never a gathered-acks entry.
        let caller = req
            .peer_certs()
            .and_then(|certs| certs.first().and_then(|c| crate::tls::peer_region_of(c.as_ref())));
        let cmd: Command = decode(req)?;
        if let Op::Acks(_) = cmd.op {
            return Err(Status::permission_denied(
                "a gathered-acks entry is made by the leader, not forwarded",
            ));
        }
        match (caller.as_deref(), cmd.author.as_ref()) {
            (Some(c), Some(a)) if c == a.as_str() => {}
            (caller, author) => {
                tracing::warn!(?caller, ?author, command = %cmd,
                    "refused a forwarded command whose author is not the calling region's certificate");
                return Err(Status::permission_denied(format!(
                    "a peer forwards only commands its own region signed (certificate names {caller:?}, command's author {:?})",
                    author.map(|a| a.as_str())
                )));
            }
        }
        let reply = match self.repl.leader_write(cmd).await {
            Ok((log_id, outcome)) => ForwardReply::Done { log_id, outcome },
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => ForwardReply::NotLeader,
            Err(e) => ForwardReply::Failed(e.to_string()),
        };
        encode(&reply)
    }
}
