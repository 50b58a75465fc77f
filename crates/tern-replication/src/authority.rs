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
//! | ReplicateKey, AddMaterial, SetRotation, DeleteKey | the key's primary (its record's; `expected_primary` for a key not there yet) |
//! | MaterialApplied, ReplicaReady, RemoveReplica | the `region` it names (a region acks and leaves only for itself) |
//! | UpdatePrimary, SetImportedMaterial | a region holding the key |
//! | ImportNewMaterial | the `region` it names (and that region holds the key: checked by the transition) |
//! | RotateImported | the key's primary |
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
    // The key's primary: its record's (a command planned before the primary
    // moved is refused here too, as its transition would refuse it).
    let primary = |expected: &'_ Region| rec.map_or(expected.clone(), |r| r.primary.clone());
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
        Op::ReplicateKey { expected_primary, .. } => must_be(&primary(expected_primary), "replicate this key"),
        Op::AddMaterial { expected_primary, .. } => must_be(&primary(expected_primary), "rotate this key"),
        Op::RotateImported { expected_primary, .. } => must_be(&primary(expected_primary), "rotate this key"),
        Op::SetRotation { expected_primary, .. } => must_be(&primary(expected_primary), "set this key's rotation"),
        Op::DeleteKey { expected_primary, .. } => must_be(&primary(expected_primary), "delete this key"),
        Op::MaterialApplied { region, .. } => must_be(region, "acknowledge material for another Region"),
        Op::ReplicaReady { region, .. } => must_be(region, "report another Region's replica ready"),
        Op::RemoveReplica { region, .. } => must_be(region, "remove another Region's replica"),
        Op::UpdatePrimary { .. } => holds("update its primary Region"),
        Op::SetImportedMaterial { .. } => holds("import its key material"),
        Op::ImportNewMaterial { region, .. } => must_be(region, "import new key material for another Region"),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    use tern_core::crypto::RootKey;
    use tern_core::ids::{AccountId, KeyId, KeyMaterialId};
    use tern_core::key::{KeySpec, KeyUsage, Origin};
    use tern_core::seal::SealingKey;
    use tern_core::sign::CommandSigningKey;

    use super::*;
    use crate::apply::{encode, get_mrk, put_mrk, Applier, MEMBERSHIP_KEY};
    use crate::command::tests::{record, region};
    use crate::command::{ErrorKind, Outcome, RegionProps};
    use crate::types::RegionNode;

    const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-northeast-2"];

    fn sealing(i: usize) -> SealingKey {
        SealingKey::from_seed([i as u8 + 10; 32])
    }

    fn signer(r: &str) -> CommandSigningKey {
        let i = REGIONS.iter().position(|x| *x == r).unwrap();
        CommandSigningKey::derive(&sealing(i)).unwrap()
    }

    fn membership() -> Membership {
        let nodes: BTreeMap<u64, RegionNode> = REGIONS
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    i as u64 + 1,
                    RegionNode::new(r, format!("127.0.0.1:{}", 7000 + i), &sealing(i)).unwrap(),
                )
            })
            .collect();
        let voters: BTreeSet<u64> = nodes.keys().copied().collect();
        Membership::new(None, openraft::Membership::new(vec![voters], nodes))
    }

    fn command(op: Op) -> Command {
        Command {
            request_id: uuid::Uuid::new_v4().to_string(),
            proposed_at: UnixMillis(1_735_689_600_000),
            op,
            service_made: false,
            author: None,
            signature: None,
        }
    }

    fn signed_by(r: &str, op: Op) -> Command {
        let mut c = command(op);
        c.sign(&region(r), &signer(r)).unwrap();
        c
    }

    fn add_material(key: KeyId) -> Op {
        let m = record().pending.unwrap().material;
        Op::AddMaterial {
            key,
            expected_primary: region("us-east-1"),
            expected_current: KeyMaterialId::from_bytes([1; 32]),
            material: crate::command::SealedMaterial {
                id: KeyMaterialId::from_bytes([3; 32]),
                created: UnixMillis(0),
                rotation_type: None,
                sealed: m.sealed,
            },
            on_demand: true,
            next_rotation: None,
        }
    }

    fn ack(key: KeyId, r: &str) -> Op {
        Op::MaterialApplied {
            key,
            material: KeyMaterialId::from_bytes([2; 32]),
            region: region(r),
        }
    }

    fn refused(o: &Outcome) -> bool {
        matches!(o, Outcome::Rejected(r) if r.exception == ErrorKind::AccessDeniedException)
    }

    /// Each forged kind of command is refused in the region applying it
    /// (every region applies the same way), nothing changes, and each
    /// refusal is audited; the real acknowledgement gathered beside a forged
    /// one still applies.
    #[tokio::test]
    async fn forged_commands_are_refused_on_apply_and_audited() {
        let dir = tempfile::tempdir().unwrap();
        let store = tern_store::Store::open(&tern_store::StoreConfig::new(dir.path())).unwrap();
        let applier = Applier {
            region: region("ap-northeast-2"),
            sealing: Arc::new(sealing(2)),
            root: Arc::new(RootKey::from_bytes([1; 32])),
            duplicates: Arc::default(),
        };
        let rec = record();
        let key = rec.key;
        let mut tampered = signed_by("us-east-1", add_material(key));
        if let Op::AddMaterial { on_demand, .. } = &mut tampered.op {
            *on_demand = false;
        }
        let mut wrong_key = command(add_material(key));
        wrong_key.sign(&region("us-east-1"), &signer("eu-west-1")).unwrap();
        let create = |id: KeyId, primary: &str| Op::CreateKey {
            key: id,
            account: AccountId::parse("111122223333").unwrap(),
            spec: KeySpec::SymmetricDefault,
            usage: KeyUsage::EncryptDecrypt,
            origin: Origin::External,
            primary: region(primary),
            material: None,
            props: RegionProps {
                policy: "{}".into(),
                description: String::new(),
                tags: vec![],
            },
        };
        let single_region: KeyId = "1234abcd-12ab-34cd-56ef-1234567890ab".parse().unwrap();
        let forged: Vec<(&str, Command)> = vec![
            (
                "AddMaterial by a replica",
                signed_by("eu-west-1", {
                    let mut op = add_material(key);
                    if let Op::AddMaterial { expected_primary, .. } = &mut op {
                        *expected_primary = region("eu-west-1");
                    }
                    op
                }),
            ),
            (
                "ReplicateKey by a replica",
                signed_by(
                    "eu-west-1",
                    Op::ReplicateKey {
                        key,
                        expected_primary: region("eu-west-1"),
                        replica: region("ap-northeast-2"),
                        materials: Default::default(),
                        props: RegionProps {
                            policy: "{}".into(),
                            description: String::new(),
                            tags: vec![],
                        },
                    },
                ),
            ),
            ("signed with another region's key", wrong_key),
            ("unsigned", command(add_material(key))),
            ("altered after signing", tampered),
            (
                "an ack for another region",
                signed_by("us-east-1", ack(key, "eu-west-1")),
            ),
            (
                "CreateKey with a single-Region id",
                signed_by("us-east-1", create(single_region, "us-east-1")),
            ),
            (
                "CreateKey naming another primary",
                signed_by("us-east-1", create(KeyId::new_multi_region([7; 16]), "eu-west-1")),
            ),
            (
                "UpdatePrimary by a region not holding the key",
                signed_by(
                    "ap-northeast-2",
                    Op::UpdatePrimary {
                        key,
                        expected_primary: region("us-east-1"),
                        new_primary: region("ap-northeast-2"),
                    },
                ),
            ),
            (
                "an incarnation for another region's node",
                signed_by(
                    "ap-northeast-2",
                    Op::RegisterIncarnation {
                        node_id: 1,
                        incarnation: "stolen".into(),
                    },
                ),
            ),
            (
                "SetRotation by a replica",
                signed_by(
                    "eu-west-1",
                    Op::SetRotation {
                        key,
                        expected_primary: region("eu-west-1"),
                        enabled: true,
                        period_days: Some(90),
                        next_rotation: None,
                    },
                ),
            ),
        ];
        let n = forged.len();
        let before = rec.clone();
        let (results, _) = store
            .transact(move |txn| {
                txn.put_repl(MEMBERSHIP_KEY.to_vec(), encode(&membership()).unwrap());
                put_mrk(txn, &rec).unwrap();
                let mut acks = BTreeSet::new();
                let mut out = Vec::new();
                for (i, (what, cmd)) in forged.into_iter().enumerate() {
                    let o = applier.apply_command(txn, 10 + i as u64, &cmd, &mut acks).unwrap();
                    out.push((what, o));
                }
                let after_forged = get_mrk(txn, &key).unwrap();
                // A gathered entry with a forged ack (eu-west-1's, signed by
                // us-east-1) and eu-west-1's real one.
                let gathered = command(Op::Acks(vec![
                    signed_by("us-east-1", ack(key, "eu-west-1")),
                    signed_by("eu-west-1", ack(key, "eu-west-1")),
                ]));
                let o = applier.apply_command(txn, 99, &gathered, &mut acks).unwrap();
                (out, after_forged, o, get_mrk(txn, &key).unwrap())
            })
            .await
            .unwrap();
        let (out, after_forged, gathered, after) = results;
        for (what, o) in &out {
            assert!(refused(o), "{what}: {o:?}");
        }
        assert_eq!(after_forged, Some(before), "forged commands changed the key");
        match gathered {
            Outcome::Each(v) => {
                assert!(refused(&v[0]), "{v:?}");
                assert_eq!(v[1], Outcome::Applied);
            }
            other => panic!("{other:?}"),
        }
        // The real ack completed the rotation: material 2 is current.
        let after = after.unwrap();
        assert_eq!(after.current().unwrap().id, KeyMaterialId::from_bytes([2; 32]));
        assert!(after.pending.is_none());
        let refusals = store
            .audit_entries()
            .into_iter()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| String::from_utf8_lossy(&e.record).contains("RefuseReplicatedCommand"))
            })
            .count();
        assert_eq!(refusals, n + 1, "every refusal is audited");
        store.shutdown();
    }
}
