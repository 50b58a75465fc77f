//! What travels in the Multi-Region log: commands, their outcomes, and the
//! shared records the state machine keeps.
//!
//! Every command is an idempotent compare-and-set. The proposer decides
//! everything nondeterministic (ids, times, fresh material, sealing) before
//! proposing, so applying is a pure function of the state and the entry, the
//! same in every region. A failed precondition or a duplicate request id is
//! an [`Outcome`], never a storage error.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
pub use tern_core::error::ErrorKind;
use tern_core::ids::{AccountId, KeyId, KeyMaterialId, Region};
use tern_core::key::{KeySpec, KeyUsage, Origin, RotationType};
use tern_core::time::UnixMillis;

/// One entry's application payload.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Unique per logical request; a retry of a timed-out write reuses it.
    pub request_id: String,
    /// The proposer's clock when it built the command.
    pub proposed_at: UnixMillis,
    pub op: Op,
    /// Made by the service itself (acknowledgements, incarnations,
    /// automatic rotations, deletions whose waiting period ended), never by
    /// a client: a compare-and-set whose second application changes
    /// nothing. It keeps no dedup record, so the same command proposed
    /// later — a replica deleted and re-created, a region removed and
    /// re-added — is applied again instead of answered with a remembered
    /// outcome, and a rejection is never replayed. Absent (false) in older
    /// entries, which keep their dedup behaviour.
    #[serde(default, skip_serializing_if = "is_false")]
    pub service_made: bool,
    /// The region that made and signed the command (`None`: unsigned; only
    /// a gathered-acks container, whose acks are each signed, or a command
    /// of a cluster formed before commands were signed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Region>,
    /// The author's Ed25519 signature over the command without this member
    /// ([`Command::sign`]).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_b64")]
    pub signature: Option<Vec<u8>>,
}

mod opt_b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| {
                base64::engine::general_purpose::STANDARD
                    .decode(s.as_bytes())
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

/// Why a command's signature does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the command is not signed")]
    Unsigned,
    #[error("the command names no author")]
    NoAuthor,
    #[error("the signature does not verify under {0}'s command-signing key")]
    Invalid(Region),
    #[error("the command could not be encoded for its signature: {0}")]
    Encoding(String),
}

impl Command {
    /// The bytes a signature covers: the command's JSON without its signature.
    fn signed_bytes(&self) -> Result<Vec<u8>, SignatureError> {
        let mut c = self.clone();
        c.signature = None;
        serde_json::to_vec(&c).map_err(|e| SignatureError::Encoding(e.to_string()))
    }

    /// Names `author` as the command's maker and signs it with its key.
    pub fn sign(&mut self, author: &Region, key: &tern_core::sign::CommandSigningKey) -> Result<(), SignatureError> {
        self.author = Some(author.clone());
        self.signature = None;
        let bytes = self.signed_bytes()?;
        self.signature = Some(key.sign(&bytes));
        Ok(())
    }

    /// Checks the signature under the author's public key.
    pub fn verify(&self, key: &tern_core::sign::CommandPublicKey) -> Result<(), SignatureError> {
        let author = self.author.as_ref().ok_or(SignatureError::NoAuthor)?;
        let sig = self.signature.as_deref().ok_or(SignatureError::Unsigned)?;
        if key.verify(&self.signed_bytes()?, sig) {
            Ok(())
        } else {
            Err(SignatureError::Invalid(author.clone()))
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Sealed material is not secret to anyone but its region, but keep
        // logs short: the op's name and key only.
        match self.op.key() {
            Some(k) => write!(f, "Command({} {} {k})", self.request_id, self.op.name()),
            None => write!(f, "Command({} {})", self.request_id, self.op.name()),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Key material sealed to each region that holds the key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedMaterial {
    pub id: KeyMaterialId,
    pub created: UnixMillis,
    /// `None` for a key's first material.
    pub rotation_type: Option<RotationType>,
    /// HPKE-sealed copies, one per region (tern_core::seal).
    #[serde(with = "sealed_map")]
    pub sealed: BTreeMap<Region, Vec<u8>>,
}

impl fmt::Debug for SealedMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedMaterial")
            .field("id", &self.id)
            .field("regions", &self.sealed.keys().collect::<Vec<_>>())
            .finish()
    }
}

mod sealed_map {
    use std::collections::BTreeMap;

    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use tern_core::ids::Region;

    pub fn serialize<S: Serializer>(m: &BTreeMap<Region, Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        let e = base64::engine::general_purpose::STANDARD;
        m.iter()
            .map(|(r, b)| (r.as_str().to_string(), e.encode(b)))
            .collect::<BTreeMap<_, _>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<Region, Vec<u8>>, D::Error> {
        let e = base64::engine::general_purpose::STANDARD;
        let raw = BTreeMap::<String, String>::deserialize(d)?;
        raw.into_iter()
            .map(|(r, b)| {
                let r = Region::parse(&r).map_err(serde::de::Error::custom)?;
                let b = e.decode(b.as_bytes()).map_err(serde::de::Error::custom)?;
                Ok((r, b))
            })
            .collect()
    }
}

/// A region's initial copy of the per-region properties (policy,
/// description, tags): the one time they ride in the log, for a new replica
/// (and for the primary's own copy at creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionProps {
    pub policy: String,
    pub description: String,
    pub tags: Vec<(String, String)>,
}

/// Shared rotation settings of a Multi-Region key (set in the primary).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SharedRotation {
    pub enabled: bool,
    pub period_days: Option<u32>,
    pub next_rotation: Option<UnixMillis>,
    /// On-demand rotations so far, a pending one included.
    pub on_demand_count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// A new Multi-Region primary key with its first material (`None` for
    /// imported material, which never enters the log).
    CreateKey {
        key: KeyId,
        account: AccountId,
        spec: KeySpec,
        usage: KeyUsage,
        origin: Origin,
        primary: Region,
        material: Option<SealedMaterial>,
        props: RegionProps,
    },
    /// A region imported material into an `EXTERNAL` key: the first one
    /// fixes the key's material id; every other region's import must match
    /// it (IncorrectKeyMaterialException otherwise).
    SetImportedMaterial { key: KeyId, material: KeyMaterialId },
    /// `region` imported new material (ImportType NEW_KEY_MATERIAL) into an
    /// `EXTERNAL` key that has material: the first region to do so fixes
    /// the pending material's id; every region must import the same one
    /// before the primary can rotate to it.
    ImportNewMaterial {
        key: KeyId,
        material: KeyMaterialId,
        region: Region,
    },
    /// RotateKeyOnDemand of an `EXTERNAL` key in its primary: the pending
    /// imported material, imported in every region, becomes current.
    RotateImported {
        key: KeyId,
        expected_primary: Region,
        material: KeyMaterialId,
    },
    /// Adds `replica` to the key's regions, with every existing material
    /// (active and pending) sealed to it.
    ReplicateKey {
        key: KeyId,
        expected_primary: Region,
        replica: Region,
        materials: SealedMaterials,
        props: RegionProps,
    },
    /// The new replica region has written its regional copy.
    ReplicaReady { key: KeyId, region: Region },
    /// Rotation step 1: new material, not yet used to encrypt.
    AddMaterial {
        key: KeyId,
        expected_primary: Region,
        expected_current: KeyMaterialId,
        material: SealedMaterial,
        on_demand: bool,
        /// The next automatic rotation, when this one is automatic.
        next_rotation: Option<UnixMillis>,
    },
    /// Rotation step 2: `region` holds `material` durably. When every
    /// region of the key has acked, the material becomes current.
    MaterialApplied {
        key: KeyId,
        material: KeyMaterialId,
        region: Region,
    },
    UpdatePrimary {
        key: KeyId,
        expected_primary: Region,
        new_primary: Region,
    },
    SetRotation {
        key: KeyId,
        expected_primary: Region,
        enabled: bool,
        period_days: Option<u32>,
        next_rotation: Option<UnixMillis>,
    },
    /// A replica region's copy was deleted (its waiting period ended).
    RemoveReplica { key: KeyId, region: Region },
    /// The primary's copy was deleted after its last replica went.
    DeleteKey { key: KeyId, expected_primary: Region },
    /// A node records the incarnation id of its Raft data directory, so a
    /// node that lost that directory cannot rejoin as the same voter.
    RegisterIncarnation { node_id: u64, incarnation: String },
    /// A region is (or is no longer) leaving the cluster. Marking it is
    /// refused while it is any key's primary Region; while it is marked, no
    /// key may make it its primary or a replica. `remove_region` marks the
    /// region through the log before the membership change, so the check
    /// and the change cannot race an UpdatePrimaryRegion.
    SetLeaving { region: Region, leaving: bool },
    /// Acknowledgements (`MaterialApplied`, `ReplicaReady`) that reached the
    /// leader within a few milliseconds of each other, in one entry; each
    /// applies as if alone, with its own request id.
    Acks(Vec<Command>),
}

/// Materials sealed to one region, by material id.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SealedMaterials(#[serde(with = "material_list")] pub BTreeMap<KeyMaterialId, Vec<u8>>);

impl fmt::Debug for SealedMaterials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

mod material_list {
    use std::collections::BTreeMap;

    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use tern_core::ids::KeyMaterialId;

    pub fn serialize<S: Serializer>(m: &BTreeMap<KeyMaterialId, Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        let e = base64::engine::general_purpose::STANDARD;
        m.iter()
            .map(|(id, b)| (id.to_string(), e.encode(b)))
            .collect::<BTreeMap<_, _>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<KeyMaterialId, Vec<u8>>, D::Error> {
        let e = base64::engine::general_purpose::STANDARD;
        BTreeMap::<String, String>::deserialize(d)?
            .into_iter()
            .map(|(id, b)| {
                let id = KeyMaterialId::parse(&id).map_err(serde::de::Error::custom)?;
                let b = e.decode(b.as_bytes()).map_err(serde::de::Error::custom)?;
                Ok((id, b))
            })
            .collect()
    }
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::CreateKey { .. } => "CreateKey",
            Op::ReplicateKey { .. } => "ReplicateKey",
            Op::ReplicaReady { .. } => "ReplicaReady",
            Op::SetImportedMaterial { .. } => "SetImportedMaterial",
            Op::ImportNewMaterial { .. } => "ImportNewMaterial",
            Op::RotateImported { .. } => "RotateImported",
            Op::AddMaterial { .. } => "AddMaterial",
            Op::MaterialApplied { .. } => "MaterialApplied",
            Op::UpdatePrimary { .. } => "UpdatePrimary",
            Op::SetRotation { .. } => "SetRotation",
            Op::RemoveReplica { .. } => "RemoveReplica",
            Op::DeleteKey { .. } => "DeleteKey",
            Op::RegisterIncarnation { .. } => "RegisterIncarnation",
            Op::SetLeaving { .. } => "SetLeaving",
            Op::Acks(_) => "Acks",
        }
    }

    /// An acknowledgement a region owes the log: the leader may gather
    /// several into one entry.
    pub fn is_ack(&self) -> bool {
        matches!(self, Op::MaterialApplied { .. } | Op::ReplicaReady { .. })
    }

    /// The key a command is about (`None` for cluster bookkeeping).
    pub fn key(&self) -> Option<&KeyId> {
        Some(match self {
            Op::CreateKey { key, .. }
            | Op::ReplicateKey { key, .. }
            | Op::ReplicaReady { key, .. }
            | Op::SetImportedMaterial { key, .. }
            | Op::ImportNewMaterial { key, .. }
            | Op::RotateImported { key, .. }
            | Op::AddMaterial { key, .. }
            | Op::MaterialApplied { key, .. }
            | Op::UpdatePrimary { key, .. }
            | Op::SetRotation { key, .. }
            | Op::RemoveReplica { key, .. }
            | Op::DeleteKey { key, .. } => key,
            Op::RegisterIncarnation { .. } | Op::SetLeaving { .. } | Op::Acks(_) => return None,
        })
    }
}

/// Why a command did not apply: the AWS error the service answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// Serialized by name (the log and wire forms are unchanged).
    pub exception: ErrorKind,
    pub message: String,
}

/// The result of applying one entry, identical in every region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// A blank or membership entry.
    None,
    Applied,
    Rejected(Rejection),
    /// An [`Op::Acks`] entry: one outcome per acknowledgement, in order.
    Each(Vec<Outcome>),
}

impl Outcome {
    pub fn reject(exception: ErrorKind, message: impl Into<String>) -> Outcome {
        Outcome::Rejected(Rejection {
            exception,
            message: message.into(),
        })
    }
}

/// One shared material of a Multi-Region key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedMaterial {
    pub id: KeyMaterialId,
    pub created: UnixMillis,
    pub rotation_type: Option<RotationType>,
    #[serde(with = "sealed_map")]
    pub sealed: BTreeMap<Region, Vec<u8>>,
}

impl fmt::Debug for SharedMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMaterial")
            .field("id", &self.id)
            .field("regions", &self.sealed.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl From<SealedMaterial> for SharedMaterial {
    fn from(m: SealedMaterial) -> Self {
        SharedMaterial {
            id: m.id,
            created: m.created,
            rotation_type: m.rotation_type,
            sealed: m.sealed,
        }
    }
}

/// A material waiting for every region's ack before it encrypts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMaterial {
    pub material: SharedMaterial,
    pub acks: BTreeSet<Region>,
    pub next_rotation: Option<UnixMillis>,
}

/// Status of one replica region of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicaStatus {
    /// Its regional copy is not written yet.
    Creating,
    Ready,
}

/// The replicated state of one Multi-Region key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MrkRecord {
    pub key: KeyId,
    pub account: AccountId,
    pub created: UnixMillis,
    pub spec: KeySpec,
    pub usage: KeyUsage,
    pub origin: Origin,
    pub primary: Region,
    /// Status of the primary's own regional copy.
    pub primary_status: ReplicaStatus,
    /// Replica regions in the order they were added.
    pub replicas: Vec<(Region, ReplicaStatus)>,
    /// Active materials, oldest first; the last one encrypts.
    pub materials: Vec<SharedMaterial>,
    pub pending: Option<PendingMaterial>,
    pub rotation: SharedRotation,
    /// `EXTERNAL` keys: the current material's id, which every region's
    /// import must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_material: Option<KeyMaterialId>,
    /// `EXTERNAL` keys: materials that were current before (a region may
    /// import them again).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imported_previous: Vec<KeyMaterialId>,
    /// `EXTERNAL` keys: new material imported with NEW_KEY_MATERIAL, and the
    /// regions that imported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_pending: Option<ImportedPending>,
}

/// New imported material of a Multi-Region key, waiting for rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedPending {
    pub material: KeyMaterialId,
    pub imported_in: BTreeSet<Region>,
}

impl MrkRecord {
    /// Every region holding the key, primary first.
    pub fn regions(&self) -> impl Iterator<Item = &Region> {
        std::iter::once(&self.primary).chain(self.replicas.iter().map(|(r, _)| r))
    }

    pub fn holds(&self, r: &Region) -> bool {
        self.regions().any(|x| x == r)
    }

    pub fn current(&self) -> Option<&SharedMaterial> {
        self.materials.last()
    }

    pub fn status_of(&self, r: &Region) -> Option<ReplicaStatus> {
        if &self.primary == r {
            return Some(self.primary_status);
        }
        self.replicas.iter().find(|(x, _)| x == r).map(|(_, s)| *s)
    }

    pub fn set_status(&mut self, r: &Region, s: ReplicaStatus) {
        if &self.primary == r {
            self.primary_status = s;
        } else if let Some(e) = self.replicas.iter_mut().find(|(x, _)| x == r) {
            e.1 = s;
        }
    }
}

/// Invariants of a Multi-Region key's replicated record, checked before
/// every record is written (a result that breaks one is refused, the same
/// in every region). Each returns what is broken.
impl MrkRecord {
    /// What must hold of any record:
    /// - the primary is not also a replica, and no replica is listed twice;
    /// - pending acks come only from regions that hold the key;
    /// - every material, active or pending, is sealed to every holder;
    /// - material ids are unique.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for (r, _) in &self.replicas {
            if *r == self.primary {
                return Err(format!("the primary Region {r} is also listed as a replica"));
            }
            if !seen.insert(r) {
                return Err(format!("the replica Region {r} is listed twice"));
            }
        }
        if let Some(p) = &self.pending {
            if let Some(a) = p.acks.iter().find(|a| !self.holds(a)) {
                return Err(format!("an acknowledgement from {a}, which does not hold the key"));
            }
        }
        let mut ids = BTreeSet::new();
        let pending = self.pending.as_ref().map(|p| &p.material);
        for m in self.materials.iter().chain(pending) {
            if !ids.insert(m.id) {
                return Err(format!("material {} is listed twice", m.id));
            }
            if let Some(r) = self.regions().find(|r| !m.sealed.contains_key(*r)) {
                return Err(format!("material {} is not sealed to {r}, which holds the key", m.id));
            }
        }
        Ok(())
    }

    /// What must hold of a change from `before` to `self`: the current
    /// material changes only by activating `before`'s pending material, once
    /// every holder has acknowledged it (`acking`: the region whose
    /// acknowledgement of that material is being applied, if any).
    pub fn check_transition(&self, before: Option<&MrkRecord>, acking: Option<&Region>) -> Result<(), String> {
        let Some(before) = before else {
            return Ok(());
        };
        let (was, now) = (before.current().map(|m| m.id), self.current().map(|m| m.id));
        if was == now {
            return Ok(());
        }
        let Some(p) = before.pending.as_ref().filter(|p| Some(p.material.id) == now) else {
            return Err(format!(
                "the current material changed from {was:?} to {now:?}, which was not the pending material"
            ));
        };
        match self.regions().find(|r| !p.acks.contains(*r) && Some(*r) != acking) {
            Some(r) => Err(format!(
                "material {} became current before {r} acknowledged it",
                p.material.id
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tern_core::key::{KeySpec, KeyUsage, Origin};

    pub(crate) fn region(r: &str) -> Region {
        Region::parse(r).unwrap()
    }

    fn material(n: u8, holders: &[&str]) -> SharedMaterial {
        SharedMaterial {
            id: KeyMaterialId::from_bytes([n; 32]),
            created: UnixMillis(0),
            rotation_type: None,
            sealed: holders.iter().map(|r| (region(r), vec![n])).collect(),
        }
    }

    /// us-east-1 primary, eu-west-1 replica, material 1 current, material 2
    /// pending and acked by us-east-1.
    pub(crate) fn record() -> MrkRecord {
        let holders = ["us-east-1", "eu-west-1"];
        MrkRecord {
            key: KeyId::new_multi_region([9; 16]),
            account: AccountId::parse("111122223333").unwrap(),
            created: UnixMillis(0),
            spec: KeySpec::SymmetricDefault,
            usage: KeyUsage::EncryptDecrypt,
            origin: Origin::AwsKms,
            primary: region("us-east-1"),
            primary_status: ReplicaStatus::Ready,
            replicas: vec![(region("eu-west-1"), ReplicaStatus::Ready)],
            materials: vec![material(1, &holders)],
            pending: Some(PendingMaterial {
                material: material(2, &holders),
                acks: [region("us-east-1")].into(),
                next_rotation: None,
            }),
            rotation: SharedRotation::default(),
            imported_material: None,
            imported_previous: Vec::new(),
            imported_pending: None,
        }
    }

    #[test]
    fn each_broken_invariant_is_caught() {
        assert_eq!(record().check_invariants(), Ok(()));
        type Breaks = Box<dyn Fn(&mut MrkRecord)>;
        let broken: Vec<(&str, Breaks)> = vec![
            (
                "also listed as a replica",
                Box::new(|r| r.replicas.push((region("us-east-1"), ReplicaStatus::Ready))),
            ),
            (
                "listed twice",
                Box::new(|r| r.replicas.push((region("eu-west-1"), ReplicaStatus::Ready))),
            ),
            (
                "does not hold the key",
                Box::new(|r| {
                    r.pending.as_mut().unwrap().acks.insert(region("ap-northeast-2"));
                }),
            ),
            (
                "is not sealed to eu-west-1",
                Box::new(|r| {
                    r.materials[0].sealed.remove(&region("eu-west-1"));
                }),
            ),
            (
                "is not sealed to eu-west-1",
                Box::new(|r| {
                    r.pending.as_mut().unwrap().material.sealed.remove(&region("eu-west-1"));
                }),
            ),
            (
                "material",
                Box::new(|r| {
                    let m = r.materials[0].clone();
                    r.materials.push(m);
                }),
            ),
        ];
        for (what, breaks) in broken {
            let mut r = record();
            breaks(&mut r);
            let e = r.check_invariants().unwrap_err();
            assert!(e.contains(what), "{what}: {e}");
        }
    }

    fn activated(r: &MrkRecord) -> MrkRecord {
        let mut next = r.clone();
        let p = next.pending.take().unwrap();
        next.materials.push(p.material);
        next
    }

    #[test]
    fn the_current_material_changes_only_by_an_activation_every_holder_acked() {
        let before = record();
        // eu-west-1's ack is the one being applied: a complete activation.
        let after = activated(&before);
        assert_eq!(
            after.check_transition(Some(&before), Some(&region("eu-west-1"))),
            Ok(())
        );
        // The deliberately broken transition (the chaos self-test's early
        // activation): current before eu-west-1 acked.
        let e = after.check_transition(Some(&before), None).unwrap_err();
        assert!(e.contains("before eu-west-1 acknowledged"), "{e}");
        // A material that was never pending becomes current.
        let mut forged = before.clone();
        forged.materials.push(material(3, &["us-east-1", "eu-west-1"]));
        let e = forged.check_transition(Some(&before), None).unwrap_err();
        assert!(e.contains("not the pending material"), "{e}");
        // Creation and changes that keep the current material pass.
        assert_eq!(before.check_transition(None, None), Ok(()));
        let mut same = before.clone();
        same.rotation.enabled = true;
        assert_eq!(same.check_transition(Some(&before), None), Ok(()));
    }
}
