//! One pure transition per command about a key: what the command does to
//! the key's replicated record, given the record before it and the
//! cluster's regions. No store access: `apply.rs` reads the record,
//! authorizes the command, runs the transition, checks the invariants and
//! then writes; `Applier::reconcile` stays the only step that writes a
//! region's own state.

use std::collections::BTreeSet;

use tern_core::ids::{KeyMaterialId, Region};
use tern_core::key::{Origin, RotationType, MAX_ON_DEMAND_ROTATIONS};

use crate::command::{
    Command, ErrorKind, ImportedPending, MrkRecord, Op, PendingMaterial, RegionProps, Rejection, ReplicaStatus,
    SharedRotation,
};

/// What a transition needs to know of the cluster.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cluster {
    /// Regions of the applied membership.
    pub members: BTreeSet<Region>,
    /// Regions marked leaving ([`Op::SetLeaving`]).
    pub leaving: BTreeSet<Region>,
}

/// A change to a region's initial properties in the replicated pending table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PropsChange {
    Put(Region, RegionProps),
    Remove(Region),
}

/// What a command does to its key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Transition {
    /// Nothing changes (a duplicate acknowledgement, a no-op).
    Unchanged,
    Put {
        record: Box<MrkRecord>,
        props: Vec<PropsChange>,
    },
    /// The key leaves the replicated state (its primary's pending props too).
    Delete { primary: Region },
}

fn reject(exception: ErrorKind, message: impl Into<String>) -> Rejection {
    Rejection {
        exception,
        message: message.into(),
    }
}

fn not_primary(rec: &MrkRecord, expected: &Region) -> Rejection {
    reject(
        ErrorKind::UnsupportedOperationException,
        format!(
            "{} is not a multi-region primary key.",
            tern_core::ids::key_arn(expected, &rec.account, &rec.key)
        ),
    )
}

/// The transition of `cmd` on the key's record `rec` (`None`: no such key).
/// Commands that are not about a key (`RegisterIncarnation`, `SetLeaving`,
/// `Acks`) are the applier's and are rejected here.
pub(crate) fn transition(rec: Option<&MrkRecord>, cmd: &Command, cluster: &Cluster) -> Result<Transition, Rejection> {
    let now = cmd.proposed_at;
    let Some(key) = cmd.op.key().copied() else {
        return Err(reject(ErrorKind::ValidationException, "command names no key"));
    };
    if let Op::CreateKey {
        account,
        spec,
        usage,
        origin,
        primary,
        material,
        props,
        ..
    } = &cmd.op
    {
        if rec.is_some() {
            return Err(reject(
                ErrorKind::AlreadyExistsException,
                format!("Key '{key}' already exists"),
            ));
        }
        let materials = match (material, origin) {
            (None, Origin::External) => Vec::new(),
            (Some(m), o) if *o != Origin::External && m.sealed.contains_key(primary) => vec![m.clone().into()],
            _ => {
                return Err(reject(
                    ErrorKind::ValidationException,
                    "material is not sealed to the primary region, or is sent for imported material",
                ))
            }
        };
        let record = MrkRecord {
            key,
            account: account.clone(),
            created: now,
            spec: *spec,
            usage: *usage,
            origin: *origin,
            primary: primary.clone(),
            primary_status: ReplicaStatus::Creating,
            replicas: Vec::new(),
            materials,
            pending: None,
            rotation: SharedRotation::default(),
            imported_material: None,
            imported_previous: Vec::new(),
            imported_pending: None,
        };
        return Ok(Transition::Put {
            record: Box::new(record),
            props: vec![PropsChange::Put(primary.clone(), props.clone())],
        });
    }
    let Some(before) = rec else {
        return Err(reject(
            ErrorKind::NotFoundException,
            format!("Key '{key}' does not exist"),
        ));
    };
    let mut rec = before.clone();
    let mut props = Vec::new();
    match &cmd.op {
        Op::CreateKey { .. } | Op::RegisterIncarnation { .. } | Op::SetLeaving { .. } | Op::Acks(_) => {
            return Err(reject(ErrorKind::ValidationException, "not a command about a key"));
        }
        Op::ReplicateKey {
            expected_primary,
            replica,
            materials,
            props: replica_props,
            ..
        } => {
            if &rec.primary != expected_primary {
                return Err(not_primary(&rec, expected_primary));
            }
            if rec.holds(replica) {
                return Err(reject(
                    ErrorKind::AlreadyExistsException,
                    format!("Key '{key}' already has a replica in {replica}"),
                ));
            }
            if !cluster.members.contains(replica) || cluster.leaving.contains(replica) {
                return Err(reject(
                    ErrorKind::UnsupportedOperationException,
                    format!("{replica} is not a Region of this tern cluster."),
                ));
            }
            let mut ids: Vec<&KeyMaterialId> = rec.materials.iter().map(|m| &m.id).collect();
            if let Some(p) = &rec.pending {
                ids.push(&p.material.id);
            }
            if ids.len() != materials.0.len() || ids.iter().any(|id| !materials.0.contains_key(id)) {
                return Err(reject(
                    ErrorKind::ConflictException,
                    format!("The key material of '{key}' changed while it was being replicated; retry."),
                ));
            }
            for m in rec.materials.iter_mut() {
                if let Some(b) = materials.0.get(&m.id) {
                    m.sealed.insert(replica.clone(), b.clone());
                }
            }
            if let Some(p) = rec.pending.as_mut() {
                if let Some(b) = materials.0.get(&p.material.id) {
                    p.material.sealed.insert(replica.clone(), b.clone());
                }
            }
            rec.replicas.push((replica.clone(), ReplicaStatus::Creating));
            props.push(PropsChange::Put(replica.clone(), replica_props.clone()));
        }
        Op::SetImportedMaterial { material, .. } => {
            if rec.origin != Origin::External {
                return Err(reject(
                    ErrorKind::UnsupportedOperationException,
                    format!("'{key}' does not take imported key material."),
                ));
            }
            let known = rec.imported_previous.contains(material)
                || rec.imported_pending.as_ref().is_some_and(|p| p.material == *material);
            match rec.imported_material {
                None => rec.imported_material = Some(*material),
                // The current material, an earlier one or the pending one,
                // imported again (EXISTING_KEY_MATERIAL).
                Some(m) if m == *material || known => return Ok(Transition::Unchanged),
                Some(_) => {
                    return Err(reject(
                        ErrorKind::IncorrectKeyMaterialException,
                        "The key material does not match the key material imported into the other Regions of this Multi-Region key.",
                    ))
                }
            }
        }
        Op::ImportNewMaterial { material, region, .. } => {
            if rec.origin != Origin::External || !rec.holds(region) {
                return Err(reject(
                    ErrorKind::UnsupportedOperationException,
                    format!("'{key}' does not take imported key material in {region}."),
                ));
            }
            if rec.imported_material.is_none() {
                return Err(reject(
                    ErrorKind::KMSInvalidStateException,
                    format!("'{key}' has no key material yet: its first import is not new key material."),
                ));
            }
            if rec.imported_material == Some(*material) || rec.imported_previous.contains(material) {
                return Err(reject(
                    ErrorKind::IncorrectKeyMaterialException,
                    format!("This key material ({material}) was imported into '{key}' before: import it with ImportType EXISTING_KEY_MATERIAL."),
                ));
            }
            match &mut rec.imported_pending {
                None => {
                    rec.imported_pending = Some(ImportedPending {
                        material: *material,
                        imported_in: [region.clone()].into(),
                    })
                }
                Some(p) if p.material == *material => {
                    if !p.imported_in.insert(region.clone()) {
                        return Ok(Transition::Unchanged);
                    }
                }
                Some(p) => {
                    return Err(reject(
                        ErrorKind::KMSInvalidStateException,
                        format!(
                            "New key material (id: {material}) cannot be imported into KMS key {key}, because another key material (id: {}) is pending rotation.",
                            p.material
                        ),
                    ))
                }
            }
        }
        Op::RotateImported {
            expected_primary,
            material,
            ..
        } => {
            if &rec.primary != expected_primary {
                return Err(not_primary(&rec, expected_primary));
            }
            let Some(p) = rec.imported_pending.clone().filter(|p| p.material == *material) else {
                return Err(reject(
                    ErrorKind::KMSInvalidStateException,
                    format!("No available key material pending rotation for the key: {key}."),
                ));
            };
            let missing: Vec<String> = rec
                .regions()
                .filter(|r| !p.imported_in.contains(*r))
                .map(|r| r.to_string())
                .collect();
            if !missing.is_empty() {
                return Err(reject(
                    ErrorKind::KMSInvalidStateException,
                    format!(
                        "The new key material {material} of Multi-Region key '{key}' is not imported in every Region yet: import it in {} first.",
                        missing.join(", ")
                    ),
                ));
            }
            if let Some(old) = rec.imported_material.replace(*material) {
                rec.imported_previous.push(old);
            }
            rec.imported_pending = None;
        }
        Op::ReplicaReady { region, .. } => {
            if rec.status_of(region) != Some(ReplicaStatus::Creating) {
                return Ok(Transition::Unchanged);
            }
            rec.set_status(region, ReplicaStatus::Ready);
            props.push(PropsChange::Remove(region.clone()));
        }
        Op::AddMaterial {
            expected_primary,
            expected_current,
            material,
            on_demand,
            next_rotation,
            ..
        } => {
            if &rec.primary != expected_primary {
                return Err(not_primary(&rec, expected_primary));
            }
            if rec.pending.is_some() {
                return Err(reject(
                    ErrorKind::ConflictException,
                    format!("A rotation of '{key}' is still being replicated; try again later."),
                ));
            }
            if rec.current().map(|m| &m.id) != Some(expected_current) {
                return Err(reject(
                    ErrorKind::ConflictException,
                    format!("The current key material of '{key}' changed; retry."),
                ));
            }
            if rec.regions().any(|r| !material.sealed.contains_key(r)) {
                return Err(reject(
                    ErrorKind::ConflictException,
                    format!("The Regions of '{key}' changed while it was being rotated; retry."),
                ));
            }
            if *on_demand {
                if rec.rotation.on_demand_count >= MAX_ON_DEMAND_ROTATIONS {
                    return Err(reject(
                        ErrorKind::LimitExceededException,
                        format!("The on-demand rotation limit has been reached for '{key}'."),
                    ));
                }
                rec.rotation.on_demand_count += 1;
            }
            rec.pending = Some(PendingMaterial {
                material: material.clone().into(),
                acks: BTreeSet::new(),
                next_rotation: *next_rotation,
            });
            if next_rotation.is_some() {
                rec.rotation.next_rotation = *next_rotation;
            }
            // Test-only broken build (chaos suite self-test): the new
            // material is current before any holder acked it.
            #[cfg(feature = "chaos-broken-early-activation")]
            {
                let all: Vec<Region> = rec.regions().cloned().collect();
                if let Some(p) = rec.pending.as_mut() {
                    p.acks.extend(all);
                }
                activate_if_complete(&mut rec);
            }
        }
        Op::MaterialApplied { material, region, .. } => {
            let holds = rec.holds(region);
            let Some(p) = rec.pending.as_mut() else {
                return Ok(Transition::Unchanged);
            };
            if &p.material.id != material || !holds {
                return Ok(Transition::Unchanged);
            }
            p.acks.insert(region.clone());
            activate_if_complete(&mut rec);
        }
        Op::UpdatePrimary {
            expected_primary,
            new_primary,
            ..
        } => {
            if &rec.primary != expected_primary {
                return Err(reject(
                    ErrorKind::KMSInvalidStateException,
                    format!(
                        "The primary Region of '{key}' is {}, not {expected_primary}.",
                        rec.primary
                    ),
                ));
            }
            if &rec.primary == new_primary {
                return Ok(Transition::Unchanged);
            }
            if cluster.leaving.contains(new_primary) {
                return Err(reject(
                    ErrorKind::KMSInvalidStateException,
                    format!("{new_primary} is leaving the cluster: it cannot become a primary Region."),
                ));
            }
            let Some(pos) = rec.replicas.iter().position(|(r, _)| r == new_primary) else {
                return Err(reject(
                    ErrorKind::NotFoundException,
                    format!("Key '{key}' has no replica in {new_primary}."),
                ));
            };
            let (r, status) = rec.replicas[pos].clone();
            rec.replicas[pos] = (rec.primary.clone(), rec.primary_status);
            rec.primary = r;
            rec.primary_status = status;
        }
        Op::SetRotation {
            expected_primary,
            enabled,
            period_days,
            next_rotation,
            ..
        } => {
            if &rec.primary != expected_primary {
                return Err(not_primary(&rec, expected_primary));
            }
            rec.rotation.enabled = *enabled;
            rec.rotation.period_days = *period_days;
            rec.rotation.next_rotation = *next_rotation;
        }
        Op::RemoveReplica { region, .. } => {
            if rec.primary == *region {
                return Err(reject(
                    ErrorKind::KMSInvalidStateException,
                    format!("{region} is the primary Region of '{key}'."),
                ));
            }
            remove_region(&mut rec, region);
            props.push(PropsChange::Remove(region.clone()));
        }
        Op::DeleteKey { expected_primary, .. } => {
            if &rec.primary != expected_primary {
                return Err(not_primary(&rec, expected_primary));
            }
            if !rec.replicas.is_empty() {
                return Err(reject(
                    ErrorKind::KMSInvalidStateException,
                    format!("'{key}' still has replica keys."),
                ));
            }
            return Ok(Transition::Delete { primary: rec.primary });
        }
    }
    Ok(Transition::Put {
        record: Box::new(rec),
        props,
    })
}

/// `region` leaves the key: out of its replicas, every material and the
/// pending acknowledgements (which may complete an activation).
pub(crate) fn remove_region(rec: &mut MrkRecord, region: &Region) {
    rec.replicas.retain(|(r, _)| r != region);
    for m in rec.materials.iter_mut() {
        m.sealed.remove(region);
    }
    if let Some(p) = rec.pending.as_mut() {
        p.material.sealed.remove(region);
        p.acks.remove(region);
    }
    activate_if_complete(rec);
}

/// Makes the pending material current once every region holding the key
/// has acknowledged it.
pub(crate) fn activate_if_complete(rec: &mut MrkRecord) {
    let done = match &rec.pending {
        Some(p) => rec.regions().all(|r| p.acks.contains(r)),
        None => false,
    };
    if done {
        if let Some(p) = rec.pending.take() {
            let mut m = p.material;
            if m.rotation_type.is_none() {
                m.rotation_type = Some(RotationType::OnDemand);
            }
            rec.materials.push(m);
        }
    }
}

/// The record's invariants, and those of the change from `before`
/// ([`MrkRecord::check_invariants`], [`MrkRecord::check_transition`]).
/// The chaos suite's deliberately broken build skips them, so that its
/// self-test shows that the chaos checker itself catches an early activation.
pub(crate) fn checked(rec: &MrkRecord, before: Option<&MrkRecord>, op: &Op) -> Result<(), String> {
    if cfg!(feature = "chaos-broken-early-activation") {
        return Ok(());
    }
    let acking = match op {
        Op::MaterialApplied { region, .. } => Some(region),
        _ => None,
    };
    rec.check_invariants()?;
    rec.check_transition(before, acking)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::command::tests::{record, region};
    use tern_core::time::UnixMillis;

    fn cmd(op: Op) -> Command {
        Command {
            request_id: "r".into(),
            proposed_at: UnixMillis(5),
            op,
            service_made: false,
            author: None,
            signature: None,
        }
    }

    fn cluster() -> Cluster {
        Cluster {
            members: ["us-east-1", "eu-west-1", "ap-northeast-2"].map(region).into(),
            leaving: BTreeSet::new(),
        }
    }

    /// Transitions are pure and typed: the same inputs give the same
    /// result, and each rejection carries its AWS error kind.
    #[test]
    fn transitions_are_pure_and_rejections_typed() {
        let rec = record();
        let ack = cmd(Op::MaterialApplied {
            key: rec.key,
            material: KeyMaterialId::from_bytes([2; 32]),
            region: region("eu-west-1"),
        });
        let a = transition(Some(&rec), &ack, &cluster()).unwrap();
        assert_eq!(a, transition(Some(&rec), &ack, &cluster()).unwrap());
        let Transition::Put { record: after, props } = a else {
            panic!()
        };
        assert!(props.is_empty());
        assert_eq!(after.current().unwrap().id, KeyMaterialId::from_bytes([2; 32]));
        assert_eq!(checked(&after, Some(&rec), &ack.op), Ok(()));
        // A duplicate ack changes nothing.
        assert_eq!(
            transition(Some(&after), &ack, &cluster()).unwrap(),
            Transition::Unchanged
        );

        let rotate = |expected: &str| {
            cmd(Op::SetRotation {
                key: rec.key,
                expected_primary: region(expected),
                enabled: true,
                period_days: Some(90),
                next_rotation: None,
            })
        };
        let e = transition(Some(&rec), &rotate("eu-west-1"), &cluster()).unwrap_err();
        assert_eq!(e.exception, ErrorKind::UnsupportedOperationException);
        let e = transition(None, &rotate("us-east-1"), &cluster()).unwrap_err();
        assert_eq!(e.exception, ErrorKind::NotFoundException);
        let replicate = cmd(Op::ReplicateKey {
            key: rec.key,
            expected_primary: region("us-east-1"),
            replica: region("sa-east-1"),
            materials: Default::default(),
            props: RegionProps {
                policy: "{}".into(),
                description: String::new(),
                tags: vec![],
            },
        });
        let e = transition(Some(&rec), &replicate, &cluster()).unwrap_err();
        assert_eq!(e.exception, ErrorKind::UnsupportedOperationException);
        let delete = cmd(Op::DeleteKey {
            key: rec.key,
            expected_primary: region("us-east-1"),
        });
        let e = transition(Some(&rec), &delete, &cluster()).unwrap_err();
        assert_eq!(e.exception, ErrorKind::KMSInvalidStateException);
    }

    /// The deliberately broken transition (a rotation's material current at
    /// once, as the chaos self-test's broken build makes it) is caught.
    /// New imported material of a Multi-Region key: the first Region fixes
    /// its id, others must import the same, and the primary's rotation to it
    /// waits for every holder.
    #[test]
    fn imported_material_rotates_only_once_every_region_imported_it() {
        let mut rec = record();
        rec.origin = Origin::External;
        rec.materials.clear();
        rec.pending = None;
        let (a, b, c) = [1u8, 2, 3].map(|n| KeyMaterialId::from_bytes([n; 32])).into();
        rec.imported_material = Some(a);
        let (us, eu) = (region("us-east-1"), region("eu-west-1"));
        let put = |rec: &MrkRecord, op: Op| match transition(Some(rec), &cmd(op), &cluster()) {
            Ok(Transition::Put { record, .. }) => Ok(*record),
            Ok(other) => panic!("{other:?}"),
            Err(r) => Err(r),
        };
        let new = |material, region: &Region| Op::ImportNewMaterial {
            key: rec.key,
            material,
            region: region.clone(),
        };
        let rotate = |material| Op::RotateImported {
            key: rec.key,
            expected_primary: us.clone(),
            material,
        };
        // The current material is not new.
        assert_eq!(
            put(&rec, new(a, &us)).unwrap_err().exception,
            ErrorKind::IncorrectKeyMaterialException
        );
        let r1 = put(&rec, new(b, &us)).unwrap();
        assert_eq!(
            put(&r1, new(c, &eu)).unwrap_err().exception,
            ErrorKind::KMSInvalidStateException
        );
        let e = put(&r1, rotate(b)).unwrap_err();
        assert!(e.message.contains("eu-west-1"), "{}", e.message);
        let r2 = put(&r1, new(b, &eu)).unwrap();
        let r3 = put(&r2, rotate(b)).unwrap();
        assert_eq!(r3.imported_material, Some(b));
        assert_eq!(r3.imported_previous, vec![a]);
        assert_eq!(r3.imported_pending, None);
        // The old material imported again (EXISTING) is accepted, other is not.
        let again = Op::SetImportedMaterial {
            key: rec.key,
            material: a,
        };
        assert_eq!(
            transition(Some(&r3), &cmd(again), &cluster()),
            Ok(Transition::Unchanged)
        );
        let other = Op::SetImportedMaterial {
            key: rec.key,
            material: c,
        };
        assert_eq!(
            transition(Some(&r3), &cmd(other), &cluster()).unwrap_err().exception,
            ErrorKind::IncorrectKeyMaterialException
        );
        // Only the primary rotates.
        let from_eu = Op::RotateImported {
            key: rec.key,
            expected_primary: eu.clone(),
            material: b,
        };
        assert!(put(&r2, from_eu).is_err());
    }

    #[test]
    fn the_deliberately_broken_early_activation_is_caught() {
        let mut rec = record();
        rec.pending = None;
        let mut broken = rec.clone();
        let mut m = record().pending.unwrap().material;
        m.id = KeyMaterialId::from_bytes([5; 32]);
        broken.materials.push(m);
        let add = Op::AddMaterial {
            key: rec.key,
            expected_primary: region("us-east-1"),
            expected_current: KeyMaterialId::from_bytes([1; 32]),
            material: crate::command::SealedMaterial {
                id: KeyMaterialId::from_bytes([5; 32]),
                created: UnixMillis(0),
                rotation_type: None,
                sealed: Default::default(),
            },
            on_demand: true,
            next_rotation: None,
        };
        let e = checked(&broken, Some(&rec), &add).unwrap_err();
        assert!(e.contains("not the pending material"), "{e}");
    }
}
