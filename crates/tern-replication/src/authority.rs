//! A region speaks only for itself: before a command's transition, every
//! region checks that the command is signed by the region it names as its
//! author (its key is in the applied membership), and that this author may
//! make this command. A refused command changes nothing, is rejected with
//! AccessDeniedException in every region alike, and is audited there as
//! `RefuseReplicatedCommand`.
//!
//! Who may sign what (docs/architecture.md has the same table):
//!
//! | command | its author must be |
//! |---|---|
//! | CreateKey | the `primary` it names, with an `mrk-` key id |
//! | ReplicateKey, AddMaterial, SetRotation, DeleteKey | the key's primary (`expected_primary`) |
//! | MaterialApplied, ReplicaReady, RemoveReplica | the `region` it names (a region acks and leaves only for itself) |
//! | UpdatePrimary, SetImportedMaterial | a region holding the key |
//! | RegisterIncarnation | the region of the node it names |
//! | SetLeaving | any member |
//! | Acks | unsigned container; each ack in it is checked on its own |
//!
//! A membership formed before commands were signed (members without a
//! signing key) takes unsigned commands from those members.

use std::collections::BTreeMap;

use tern_core::ids::Region;
use tern_core::sign::CommandPublicKey;
use tern_core::time::UnixMillis;

use crate::command::{Command, MrkRecord, Op};
use crate::types::Membership;

/// The command-signing keys of the applied membership, by region.
#[derive(Debug, Default)]
pub(crate) struct Signers {
    /// `None`: a member without a signing key (formed before signing), or
    /// whose key does not parse (then nothing it signs verifies).
    keys: BTreeMap<String, Option<CommandPublicKey>>,
    /// Whether any member has a signing key (then unsigned commands are refused).
    signed_cluster: bool,
    /// Nodes by id, for RegisterIncarnation.
    regions_of_nodes: BTreeMap<u64, String>,
}

impl Signers {
    pub(crate) fn of(m: &Membership) -> Signers {
        let mut s = Signers::default();
        for (id, node) in m.membership().nodes() {
            s.regions_of_nodes.insert(*id, node.region.clone());
            let key = if node.signing_key.is_empty() {
                None
            } else {
                s.signed_cluster = true;
                match CommandPublicKey::from_hex(&node.signing_key) {
                    Ok(k) => Some(k),
                    Err(e) => {
                        tracing::error!(region = %node.region, error = %e, "a member's command-signing key does not parse: nothing it signs is taken");
                        None
                    }
                }
            };
            s.keys.insert(node.region.clone(), key);
        }
        s
    }
}

/// Checks `cmd`'s signature and its author's right to make it, against the
/// key's record before the command (`None`: no such key yet). `Err` says why
/// it is refused.
pub(crate) fn authorize(cmd: &Command, rec: Option<&MrkRecord>, signers: &Signers) -> Result<(), String> {
    let Some(author) = cmd.author.as_ref() else {
        if signers.signed_cluster {
            return Err("the command is not signed".into());
        }
        return Ok(());
    };
    match signers.keys.get(author.as_str()) {
        None => return Err(format!("{author} is not a Region of this cluster")),
        Some(Some(key)) => cmd.verify(key).map_err(|e| e.to_string())?,
        Some(None) if !signers.signed_cluster => {}
        Some(None) => return Err(format!("{author} has no usable command-signing key in the membership")),
    }
    let must_be = |who: &Region, what: &str| {
        if who == author {
            Ok(())
        } else {
            Err(format!("{author} may not {what}; only {who} may"))
        }
    };
    let holds = |what: &str| match rec {
        Some(r) if !r.holds(author) => Err(format!("{author} does not hold {} and may not {what}", r.key)),
        _ => Ok(()),
    };
    match &cmd.op {
        Op::CreateKey { key, primary, .. } => {
            if !key.is_multi_region() {
                return Err(format!("{key} is not a Multi-Region key id"));
            }
            must_be(primary, "create a key whose primary is another Region")
        }
        Op::ReplicateKey { expected_primary, .. } => must_be(expected_primary, "replicate this key"),
        Op::AddMaterial { expected_primary, .. } => must_be(expected_primary, "rotate this key"),
        Op::SetRotation { expected_primary, .. } => must_be(expected_primary, "set this key's rotation"),
        Op::DeleteKey { expected_primary, .. } => must_be(expected_primary, "delete this key"),
        Op::MaterialApplied { region, .. } => must_be(region, "acknowledge material for another Region"),
        Op::ReplicaReady { region, .. } => must_be(region, "report another Region's replica ready"),
        Op::RemoveReplica { region, .. } => must_be(region, "remove another Region's replica"),
        Op::UpdatePrimary { .. } => holds("update its primary Region"),
        Op::SetImportedMaterial { .. } => holds("import its key material"),
        Op::RegisterIncarnation { node_id, .. } => match signers.regions_of_nodes.get(node_id) {
            Some(r) if r == author.as_str() => Ok(()),
            _ => Err(format!(
                "{author} may register an incarnation only for its own node, not node {node_id}"
            )),
        },
        Op::SetLeaving { .. } | Op::Acks(_) => Ok(()),
    }
}

/// The audit record of a refused command, the same in every region but for
/// the region's name.
pub(crate) fn refusal_record(region: &Region, cmd: &Command, why: &str) -> Result<Vec<u8>, String> {
    let at = cmd.proposed_at;
    serde_json::to_vec(&serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": { "type": "AWSService", "invokedBy": "tern.replication" },
        "eventTime": UnixMillis(at.0).to_rfc3339(),
        "eventSource": "kms.amazonaws.com",
        "eventName": "RefuseReplicatedCommand",
        "awsRegion": region.as_str(),
        "sourceIPAddress": "tern.replication",
        "userAgent": "tern.replication",
        "requestParameters": {
            "command": cmd.op.name(),
            "keyId": cmd.op.key().map(|k| k.to_string()),
            "author": cmd.author.as_ref().map(|a| a.as_str()),
            "replicationRequestId": cmd.request_id,
        },
        "responseElements": null,
        "errorCode": "AccessDeniedException",
        "errorMessage": why,
        "eventID": uuid::Uuid::new_v4().to_string(),
        "readOnly": false,
        "eventType": "AwsServiceEvent",
        "managementEvent": true,
        "eventCategory": "Management",
    }))
    .map_err(|e| format!("encoding a refusal's audit record: {e}"))
}
