//! openraft's type configuration for the Multi-Region group.

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::command::{Command, Outcome};

/// A region's Raft node id. A region that lost its Raft state rejoins under
/// a new id (its incarnation), never its old one.
pub type NodeId = u64;

/// What the membership records about each region's node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RegionNode {
    pub region: String,
    /// Peer address, `host:port` (the peer port, not the client port).
    pub addr: String,
    /// The region's sealing public key (64 hex digits).
    pub sealing_key: String,
    /// The region's command-signing public key (Ed25519, 64 hex digits;
    /// empty in a membership formed before commands were signed).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signing_key: String,
}

impl RegionNode {
    /// The membership entry of `region` at peer address `addr`, with both
    /// public keys derived from its sealing key.
    pub fn new(
        region: &str,
        addr: String,
        sealing: &tern_core::seal::SealingKey,
    ) -> Result<RegionNode, tern_core::sign::SignError> {
        Ok(RegionNode {
            region: region.to_string(),
            addr,
            sealing_key: sealing.public().to_hex(),
            signing_key: tern_core::sign::CommandSigningKey::derive(sealing)?.public().to_hex(),
        })
    }
}

impl fmt::Display for RegionNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.region, self.addr)
    }
}

pub type SnapshotData = Cursor<Vec<u8>>;

openraft::declare_raft_types!(
    /// The Multi-Region key group's types.
    pub TypeConfig:
        D = Command,
        R = Outcome,
        Node = RegionNode,
);

pub type Entry = openraft::Entry<TypeConfig>;
pub type Raft = openraft::Raft<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type Membership = openraft::StoredMembership<NodeId, RegionNode>;
