//! Multi-Region keys: CreateKey `MultiRegion=true`, ReplicateKey,
//! UpdatePrimaryRegion, and the rotation and deletion steps that go through
//! the replication log.
//!
//! Every Multi-Region write is audited in the region that took it twice:
//! the request before it is proposed (`responseElements.replication =
//! "proposed"`), and the outcome once this region has applied it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tern_core::crypto::{self, Material};
use tern_core::ids::{key_arn, KeyId, KeyMaterialId, Region};
use tern_core::key::{KeyOp, KeyRecord, KeyState, RotationType};
use tern_core::seal::seal_material;
use tern_core::time::UnixMillis;
use tern_proto::pb;
use tern_replication::command::{Command, Op, Outcome, RegionProps, SealedMaterial, SealedMaterials};
use tern_replication::{ProposeError, Replication};

use crate::audit::AuditEvent;
use crate::authz::{condition, Action, Conditions, RequestFacts, StateRule};
use crate::caller::RequestContext;
use crate::error::{ErrorKind, KmsError, KmsResult};
use crate::kms::{fresh_raw_material, generate_raw_material, Kms};
use crate::messages;
use crate::metadata::key_metadata;
use crate::resolve::{check_state, IdForms};
use crate::validate;

/// How long a region waits for a lagging apply before it answers that a
/// ciphertext's material is unknown.
pub const MATERIAL_CATCH_UP: Duration = Duration::from_secs(2);

fn not_multi_region(k: &KeyRecord) -> KmsError {
    messages::not_multi_region(&k.arn())
}

fn not_primary(k: &KeyRecord) -> KmsError {
    messages::not_multi_region_primary(&k.arn())
}

/// A region member of a request (`replicaRegion`, `primaryRegion`).
fn parse_region(value: &str, field: &str) -> KmsResult<Region> {
    Region::parse(value).map_err(|_| {
        KmsError::constraint(
            Some(value),
            field,
            "Member must satisfy regular expression pattern: ^([a-z]+-){2,3}\\d+$",
        )
    })
}

fn propose_error(e: ProposeError, with_token: bool) -> KmsError {
    match e {
        ProposeError::Unavailable(m) => KmsError::new(ErrorKind::DependencyTimeoutException, m),
        ProposeError::Indeterminate(m) if with_token => KmsError::new(
            ErrorKind::DependencyTimeoutException,
            format!(
                "{m}. The request may or may not have taken effect; retrying it with the same \
                 idempotency token is safe: a retry gets the first attempt's outcome."
            ),
        ),
        ProposeError::Indeterminate(m) => KmsError::new(
            ErrorKind::DependencyTimeoutException,
            format!(
                "{m}. The request may or may not have taken effect: check before retrying it \
                 (DescribeKey, ListKeyRotations or ListKeys show whether it did), or send an \
                 x-tern-idempotency-token header, with which a retry gets the first attempt's outcome."
            ),
        ),
        ProposeError::Fatal(m) => KmsError::internal(m),
    }
}

/// The replication request id of one Multi-Region write. With an
/// idempotency token it is derived from the caller, the operation and the
/// token, so a client's retry is the same request to the log (which replays
/// the first outcome for [`tern_replication::apply::DEDUP_KEEP_MILLIS`]); without
/// one it is fresh.
fn request_id(ctx: &RequestContext, operation: &str) -> KmsResult<RequestId> {
    let token = ctx
        .idempotency_token()
        .map_err(|m| KmsError::new(ErrorKind::ValidationException, m))?;
    Ok(match token {
        Some(t) => {
            let digest = tern_core::sigv4::sha256_hex(format!("{}\n{operation}\n{t}", ctx.caller.arn).as_bytes());
            RequestId {
                id: format!("token/{}", &digest[..32]),
                from_token: true,
            }
        }
        None => RequestId {
            id: uuid::Uuid::new_v4().to_string(),
            from_token: false,
        },
    })
}

struct RequestId {
    id: String,
    from_token: bool,
}

impl RequestId {
    /// The id a Multi-Region key created under this request gets: derived
    /// from a token-made request id (a retried CreateKey names the same
    /// key), random otherwise.
    fn key_id(&self, random: KeyId) -> KeyId {
        if !self.from_token {
            return random;
        }
        let digest = tern_core::sigv4::sha256_hex(format!("key-id\n{}", self.id).as_bytes());
        let mut raw = [0u8; 16];
        for (i, b) in raw.iter_mut().enumerate() {
            *b = u8::from_str_radix(&digest[2 * i..2 * i + 2], 16).unwrap_or(0);
        }
        KeyId::new_multi_region(raw)
    }
}

fn outcome_result(outcome: Outcome) -> KmsResult<()> {
    match outcome {
        Outcome::Applied | Outcome::None => Ok(()),
        Outcome::Rejected(r) => Err(KmsError::new(r.exception, r.message)),
        // Only the leader gathers acknowledgements; never a proposal's answer.
        Outcome::Each(_) => Err(KmsError::new(
            ErrorKind::KMSInternalException,
            "unexpected gathered outcome for a single write",
        )),
    }
}

impl Kms {
    pub(crate) fn replication(&self) -> KmsResult<&Replication> {
        self.repl.as_ref().ok_or_else(messages::single_region_node)
    }

    /// The longest one Multi-Region write may take here.
    fn write_timeout(&self, repl: &Replication) -> Duration {
        repl.timing().election_max * 5
    }

    /// Audits the request, proposes `op` under its request id (from the
    /// idempotency token, or fresh; retried with that id until the
    /// deadline) and returns once this region has applied it.
    pub(crate) async fn propose_mrk(&self, ctx: &RequestContext, ev: &AuditEvent, op: Op) -> KmsResult<()> {
        let repl = self.replication()?;
        let id = request_id(ctx, ev.name)?;
        let mut pre = ev.clone();
        pre.response = Some(json!({"replication": "proposed", "replicationRequestId": id.id}));
        let record = crate::audit::api_call_record(&self.region, ctx, &pre, None, self.now())?;
        self.store.append_audit(record).await?;
        let cmd = Command {
            request_id: id.id,
            proposed_at: self.now(),
            op,
            service_made: false,
            author: None,
            signature: None,
        };
        let outcome = repl
            .propose(cmd, self.write_timeout(repl))
            .await
            .map_err(|e| propose_error(e, id.from_token))?;
        outcome_result(outcome)
    }

    /// Waits until `regions` have applied what this region has (write-side
    /// waiting: so a call in one of them right after this request's answer
    /// sees its write, as AWS-recorded clients expect). A region whose
    /// applied index keeps moving is waited for up to the write timeout; one
    /// that shows no progress for an election timeout (cut off, down, cut
    /// from the leader) no longer holds the answer: it is logged, and a read
    /// there sees the documented in-between state until it catches up.
    pub(crate) async fn settle(&self, regions: &[Region], what: &str, key: &KeyId) {
        let Some(repl) = self.repl.as_ref() else { return };
        let deadline = std::time::Instant::now() + self.write_timeout(repl);
        let behind = repl
            .wait_applied_in(regions, deadline, repl.timing().election_max)
            .await;
        if !behind.is_empty() {
            tracing::info!(key = %key, operation = what, behind = ?behind,
                "answered before these Regions applied the write (unreachable or slow); calls there see it once they catch up");
        }
    }

    /// Proposes a planned write; `None` is a retry whose first attempt
    /// this region already applied (see [`Kms::first_outcome`]).
    async fn carry_out(&self, ctx: &RequestContext, ev: &AuditEvent, op: Option<Op>) -> KmsResult<()> {
        match op {
            Some(op) => self.propose_mrk(ctx, ev, op).await,
            None => Ok(()),
        }
    }

    /// The first outcome of this request, when it carries an idempotency
    /// token whose write this region has already applied: a retry answers
    /// it instead of planning again (which could fail only because the first
    /// attempt took effect). Call after authorization.
    fn first_outcome(&self, ctx: &RequestContext, ev: &AuditEvent) -> Option<KmsResult<()>> {
        let repl = self.repl.as_ref()?;
        let id = request_id(ctx, ev.name).ok()?;
        if !id.from_token {
            return None;
        }
        repl.remembered_outcome(&id.id).map(outcome_result)
    }

    /// Seals `material` of `key` to each of `regions`.
    fn seal_to(
        &self,
        repl: &Replication,
        regions: &[Region],
        key: &KeyId,
        id: &KeyMaterialId,
        material: &Material,
    ) -> KmsResult<BTreeMap<Region, Vec<u8>>> {
        let keys = repl.sealing_keys();
        let mut out = BTreeMap::new();
        for r in regions {
            let pk = keys.get(r).ok_or_else(|| {
                KmsError::new(
                    ErrorKind::DependencyTimeoutException,
                    format!("Region {r} is not a member of this tern cluster right now."),
                )
            })?;
            let sealed = seal_material(pk, r, key, id, material, &mut rand::rngs::OsRng)
                .map_err(|e| KmsError::internal(format!("sealing key material: {e}")))?;
            out.insert(r.clone(), sealed);
        }
        Ok(out)
    }

    /// CreateKey with `MultiRegion=true`: the planned record's properties
    /// go into the log with fresh material sealed to this region.
    pub(crate) async fn create_multi_region_key(
        &self,
        ctx: &RequestContext,
        ev: AuditEvent,
        planned: KeyRecord,
    ) -> KmsResult<pb::CreateKeyResponse> {
        let mut ev = ev;
        let mut planned = planned;
        match request_id(ctx, ev.name) {
            Ok(id) => planned.key_id = id.key_id(planned.key_id),
            Err(e) => return self.complete(ctx, ev, Err(e)).await,
        }
        ev.resource = Some((planned.arn(), planned.account.clone()));
        let r = async {
            let repl = self.replication()?;
            // Imported material never enters the log: each region imports it.
            let material = if planned.origin == tern_core::key::Origin::External {
                None
            } else {
                let (id, material) = generate_raw_material(planned.key_spec).await?;
                let sealed = self.seal_to(
                    repl,
                    std::slice::from_ref(&self.region),
                    &planned.key_id,
                    &id,
                    &material,
                )?;
                Some(SealedMaterial {
                    id,
                    created: planned.created,
                    rotation_type: None,
                    sealed,
                })
            };
            let op = Op::CreateKey {
                key: planned.key_id,
                account: planned.account.clone(),
                spec: planned.key_spec,
                usage: planned.key_usage,
                origin: planned.origin,
                primary: self.region.clone(),
                material,
                props: RegionProps {
                    policy: planned.policy.clone(),
                    description: planned.description.clone(),
                    tags: planned.tags.clone(),
                },
            };
            self.propose_mrk(ctx, &ev, op).await?;
            let k = self.applied_key(&planned.key_id)?;
            Ok(pb::CreateKeyResponse {
                key_metadata: Some(key_metadata(&k)),
            })
        }
        .await;
        if let Ok(resp) = &r {
            let id = resp.key_metadata.as_ref().map(|m| m.key_id.clone());
            ev.response = Some(json!({"keyMetadata": {"keyId": id, "arn": planned.arn()}}));
        }
        self.complete(ctx, ev, r).await
    }

    /// This region's copy of a key just written through the log.
    fn applied_key(&self, id: &KeyId) -> KmsResult<Arc<KeyRecord>> {
        self.store
            .read()
            .keys
            .get(id)
            .cloned()
            .ok_or_else(|| KmsError::internal("the key was replicated but this Region holds no copy"))
    }

    /// Resolves and authorizes a key for a Multi-Region management action.
    fn mrk_for(
        &self,
        ctx: &RequestContext,
        raw: &str,
        action: Action,
        ev: &mut AuditEvent,
    ) -> KmsResult<Arc<KeyRecord>> {
        self.mrk_for_with(ctx, raw, action, ev, Vec::new())
    }

    /// [`Kms::mrk_for`] with operation-specific condition keys
    /// (`kms:ReplicaRegion`, `kms:PrimaryRegion`).
    fn mrk_for_with(
        &self,
        ctx: &RequestContext,
        raw: &str,
        action: Action,
        ev: &mut AuditEvent,
        conditions: Conditions,
    ) -> KmsResult<Arc<KeyRecord>> {
        // The operations check the key state themselves, after the
        // Multi-Region checks, as AWS orders its errors.
        let facts = RequestFacts::conditions(conditions);
        let k = self.read_key(ctx, raw, IdForms::KeysOnly, action, StateRule::Any, facts, ev)?;
        if k.multi_region.is_none() {
            return Err(not_multi_region(&k));
        }
        Ok(k)
    }

    pub async fn replicate_key(
        &self,
        ctx: &RequestContext,
        req: pb::ReplicateKeyRequest,
    ) -> KmsResult<pb::ReplicateKeyResponse> {
        let mut ev = AuditEvent::new(
            "ReplicateKey",
            false,
            json!({
                "keyId": req.key_id,
                "replicaRegion": req.replica_region,
                "description": req.description,
                "bypassPolicyLockoutSafetyCheck": req.bypass_policy_lockout_safety_check.unwrap_or(false),
                "tags": req.tags.iter().map(|t| json!({"tagKey": t.tag_key, "tagValue": t.tag_value})).collect::<Vec<_>>(),
            }),
        );
        let planned = (|| {
            let repl = self.replication()?;
            let mut extra = vec![condition(
                tern_policy::keys::REPLICA_REGION,
                req.replica_region.as_str(),
            )];
            extra.extend(crate::ops::tags::request_tag_conditions(
                req.tags.iter().map(|t| (t.tag_key.as_str(), t.tag_value.as_str())),
            ));
            let k = self.mrk_for_with(ctx, &req.key_id, Action::ReplicateKey, &mut ev, extra)?;
            let replica = parse_region(&req.replica_region, "replicaRegion")?;
            // As in AWS: the caller also needs kms:CreateKey in the replica
            // Region (identity policies, aws:RequestedRegion = that Region).
            self.access(ctx)
                .identity(Action::CreateKey, Some(replica.as_str()), &[])?;
            let mr = k.multi_region.as_ref().ok_or_else(|| not_multi_region(&k))?;
            if !mr.is_primary(&self.region) {
                return Err(not_primary(&k));
            }
            if matches!(k.state, KeyState::PendingDeletion | KeyState::PendingReplicaDeletion) {
                return Err(messages::key_state(&k.arn(), k.state.phrase()));
            }
            // A retry of a replication this region already applied.
            let first = self.first_outcome(ctx, &ev).transpose()?;
            if first.is_none() && mr.regions().any(|r| r == &replica) {
                return Err(messages::replica_exists(
                    &key_arn(&replica, &k.account, &k.key_id),
                    replica.as_str(),
                ));
            }
            if !repl.sealing_keys().contains_key(&replica) {
                return Err(messages::not_a_cluster_region(replica.as_str()));
            }
            let replica_arn = key_arn(&replica, &k.account, &k.key_id);
            let policy = match &req.policy {
                Some(p) => {
                    validate::policy(p)?;
                    if req.bypass_policy_lockout_safety_check != Some(true) {
                        let parsed = tern_policy::Policy::parse_key_policy(p).map_err(crate::authz::policy_error)?;
                        self.access(ctx).check_lockout(&parsed, &replica_arn)?;
                    }
                    p.clone()
                }
                None => validate::default_policy(k.account.as_str()),
            };
            let description = req.description.clone().unwrap_or_default();
            validate::description(&description)?;
            let mut tags = Vec::new();
            validate::merge_tags(&mut tags, &req.tags)?;
            let mut materials = SealedMaterials::default();
            // An imported key's material stays in its region: the replica imports its own.
            let shared = k.origin != tern_core::key::Origin::External;
            for m in k.materials.iter().chain(k.pending_materials.iter()).filter(|_| shared) {
                let raw = crypto::unwrap_material(&self.root, &k.key_id, &m.id, &m.wrapped).map_err(|_| {
                    KmsError::internal("Key material could not be unwrapped under the region root key.")
                })?;
                let sealed = self.seal_to(repl, std::slice::from_ref(&replica), &k.key_id, &m.id, &raw)?;
                materials.0.extend(sealed.into_values().map(|b| (m.id, b)));
            }
            let props = RegionProps {
                policy,
                description,
                tags,
            };
            let op = Op::ReplicateKey {
                key: k.key_id,
                expected_primary: self.region.clone(),
                replica: replica.clone(),
                materials,
                props: props.clone(),
            };
            // What the replica will look like once its Region writes it.
            let mut shown = (*k).clone();
            shown.region = replica.clone();
            shown.state = KeyState::Creating;
            shown.description = props.description.clone();
            shown.tags = props.tags.clone();
            shown.created = self.now();
            if let Some(v) = shown.multi_region.as_mut().filter(|v| !v.replicas.contains(&replica)) {
                v.replicas.push(replica.clone());
            }
            Ok((first.is_none().then_some(op), shown, props))
        })();
        let (op, shown, props) = match planned {
            Ok(p) => p,
            Err(e) => return self.complete(ctx, ev, Err(e)).await,
        };
        let r = self.carry_out(ctx, &ev, op).await;
        if r.is_ok() {
            // The replica Region finds the replica (Creating, then Enabled)
            // as soon as ReplicateKey has answered.
            self.settle(std::slice::from_ref(&shown.region), "ReplicateKey", &shown.key_id)
                .await;
        }
        let r = r.map(|_| pb::ReplicateKeyResponse {
            replica_key_metadata: Some(key_metadata(&shown)),
            replica_policy: Some(props.policy.clone()),
            replica_tags: props
                .tags
                .iter()
                .map(|(k, v)| pb::Tag {
                    tag_key: k.clone(),
                    tag_value: v.clone(),
                })
                .collect(),
        });
        if r.is_ok() {
            ev.response = Some(json!({"replicaKeyMetadata": {"arn": shown.arn(), "keyState": "Creating"}}));
        }
        self.complete(ctx, ev, r).await
    }

    /// UpdatePrimaryRegion. Accepted in any Region holding the key and
    /// authorized by that Region's policy alone, with the precondition that
    /// the primary is still the one this Region last applied: so a failover
    /// works while the old primary Region is down (a documented deviation:
    /// AWS requires the call in the current primary Region).
    pub async fn update_primary_region(
        &self,
        ctx: &RequestContext,
        req: pb::UpdatePrimaryRegionRequest,
    ) -> KmsResult<pb::UpdatePrimaryRegionResponse> {
        let mut ev = AuditEvent::new(
            "UpdatePrimaryRegion",
            false,
            json!({"keyId": req.key_id, "primaryRegion": req.primary_region}),
        );
        let planned = (|| {
            let extra = vec![condition(
                tern_policy::keys::PRIMARY_REGION,
                req.primary_region.as_str(),
            )];
            let k = self.mrk_for_with(ctx, &req.key_id, Action::UpdatePrimaryRegion, &mut ev, extra)?;
            let target = parse_region(&req.primary_region, "primaryRegion")?;
            let mr = k.multi_region.as_ref().ok_or_else(|| not_multi_region(&k))?;
            if !mr.regions().any(|r| r == &target) {
                return Err(messages::key_not_found(&key_arn(&target, &k.account, &k.key_id)));
            }
            if k.state != KeyState::Enabled {
                return Err(messages::key_state(&k.arn(), k.state.phrase()));
            }
            let regions: Vec<Region> = mr.regions().cloned().collect();
            Ok((
                Op::UpdatePrimary {
                    key: k.key_id,
                    expected_primary: mr.primary.clone(),
                    new_primary: target,
                },
                k.key_id,
                regions,
            ))
        })();
        let r = match planned {
            Ok((op, key, regions)) => {
                let r = self.propose_mrk(ctx, &ev, op).await;
                if r.is_ok() {
                    // Both the old and the new primary Region (and every
                    // replica) show the new primary right after the answer.
                    self.settle(&regions, "UpdatePrimaryRegion", &key).await;
                }
                r
            }
            Err(e) => Err(e),
        };
        self.complete(ctx, ev, r.map(|_| pb::UpdatePrimaryRegionResponse {}))
            .await
    }

    /// RotateKeyOnDemand of a Multi-Region key, in its primary Region:
    /// step one of the two-step rotation (the material becomes current once
    /// every Region holding the key has it).
    pub(crate) async fn rotate_multi_region_key(
        &self,
        ctx: &RequestContext,
        req: pb::RotateKeyOnDemandRequest,
    ) -> KmsResult<pb::RotateKeyOnDemandResponse> {
        let mut ev = AuditEvent::new("RotateKeyOnDemand", false, json!({"keyId": req.key_id}));
        let planned = (|| {
            let repl = self.replication()?;
            let k = self.mrk_for(ctx, &req.key_id, Action::RotateKeyOnDemand, &mut ev)?;
            if self.first_outcome(ctx, &ev).transpose()?.is_some() {
                return Ok((k.arn(), None));
            }
            check_state(&k, KeyOp::RotateKeyOnDemand)?;
            if k.origin == tern_core::key::Origin::External {
                // Imported material: the material every Region imported
                // with NEW_KEY_MATERIAL becomes current everywhere.
                if k.key_spec != tern_core::key::KeySpec::SymmetricDefault {
                    return Err(messages::rotation_not_supported());
                }
                let mr = k.multi_region.as_ref().ok_or_else(|| not_multi_region(&k))?;
                if !mr.is_primary(&self.region) {
                    return Err(not_primary(&k));
                }
                let material = repl
                    .mrk(&k.key_id)
                    .and_then(|r| r.imported_pending)
                    .map(|p| p.material)
                    .ok_or_else(|| messages::no_material_pending_rotation(&k.arn()))?;
                let op = Op::RotateImported {
                    key: k.key_id,
                    expected_primary: self.region.clone(),
                    material,
                };
                return Ok((k.arn(), Some(op)));
            }
            crate::ops::rotation::rotatable(&k)?;
            let mr = k.multi_region.as_ref().ok_or_else(|| not_multi_region(&k))?;
            if !mr.is_primary(&self.region) {
                return Err(not_primary(&k));
            }
            if !k.pending_materials.is_empty() {
                return Err(messages::multi_region_rotation_in_progress(&k.arn()));
            }
            crate::ops::rotation::check_on_demand_allowed(&k, self.now())?;
            let current = k
                .current_material()
                .map(|m| m.id)
                .ok_or_else(|| KmsError::internal("key has no material"))?;
            let (id, material) = fresh_raw_material();
            let regions: Vec<Region> = mr.regions().cloned().collect();
            let sealed = self.seal_to(repl, &regions, &k.key_id, &id, &material)?;
            Ok((
                k.arn(),
                Some(Op::AddMaterial {
                    key: k.key_id,
                    expected_primary: self.region.clone(),
                    expected_current: current,
                    material: SealedMaterial {
                        id,
                        created: self.now(),
                        rotation_type: Some(RotationType::OnDemand),
                        sealed,
                    },
                    on_demand: true,
                    next_rotation: None,
                }),
            ))
        })();
        let r = match planned {
            Ok((key, plan)) => self
                .carry_out(ctx, &ev, plan)
                .await
                // The key ARN, as AWS answers RotateKeyOnDemand.
                .map(|_| pb::RotateKeyOnDemandResponse { key_id: key }),
            Err(e) => Err(e),
        };
        self.complete(ctx, ev, r).await
    }

    /// Enable/DisableKeyRotation of a Multi-Region key: a shared setting,
    /// changed only in the primary Region.
    pub(crate) async fn set_multi_region_rotation(
        &self,
        ctx: &RequestContext,
        action: Action,
        key_id: &str,
        params: serde_json::Value,
        setting: Option<u32>,
    ) -> KmsResult<()> {
        let mut ev = AuditEvent::new(action.name(), false, params);
        let planned = (|| {
            let conditions = setting
                .map(|days| vec![condition(tern_policy::keys::ROTATION_PERIOD_IN_DAYS, days.to_string())])
                .unwrap_or_default();
            let k = self.mrk_for_with(ctx, key_id, action, &mut ev, conditions)?;
            let op_kind = if setting.is_some() {
                KeyOp::EnableKeyRotation
            } else {
                KeyOp::DisableKeyRotation
            };
            check_state(&k, op_kind)?;
            crate::ops::rotation::rotatable(&k)?;
            let mr = k.multi_region.as_ref().ok_or_else(|| not_multi_region(&k))?;
            if !mr.is_primary(&self.region) {
                return Err(not_primary(&k));
            }
            let now = self.now();
            let (enabled, period, next) = match setting {
                Some(days) => (
                    true,
                    Some(days),
                    Some(crate::ops::rotation::next_rotation_on_enable(&k, days, now)),
                ),
                None => (false, k.rotation.period_days, None),
            };
            Ok(Op::SetRotation {
                key: k.key_id,
                expected_primary: self.region.clone(),
                enabled,
                period_days: period,
                next_rotation: next,
            })
        })();
        let r = match planned {
            Ok(op) => self.propose_mrk(ctx, &ev, op).await,
            Err(e) => Err(e),
        };
        self.complete(ctx, ev, r).await
    }

    /// Before a decrypt: if the blob names Multi-Region material this region
    /// does not hold while its applied index is behind the commit index it
    /// knows, wait (bounded) for it to catch up. Otherwise return at once.
    pub(crate) async fn await_material(&self, blob_bytes: &[u8]) {
        let Some(repl) = &self.repl else { return };
        let Ok(parsed) = tern_core::blob::parse(blob_bytes) else {
            return;
        };
        if !parsed.key_id.is_multi_region() {
            return;
        }
        let held = self
            .store
            .read()
            .keys
            .get(&parsed.key_id)
            .is_some_and(|k| k.material(&parsed.material_id).is_some());
        if !held && repl.is_behind() {
            repl.catch_up(MATERIAL_CATCH_UP).await;
        }
    }

    /// Automatic rotation of a Multi-Region key, in its primary Region.
    pub(crate) async fn rotate_multi_region_automatically(&self, k: &KeyRecord, now: UnixMillis) -> KmsResult<bool> {
        let repl = self.replication()?;
        let Some(mr) = k.multi_region.as_ref().filter(|m| m.is_primary(&self.region)) else {
            return Ok(false);
        };
        if !k.pending_materials.is_empty() {
            return Ok(false);
        }
        let Some(current) = k.current_material().map(|m| m.id) else {
            return Ok(false);
        };
        let period = k
            .rotation
            .period_days
            .unwrap_or(tern_core::key::DEFAULT_ROTATION_PERIOD_DAYS);
        let next = crate::scheduler::next_rotation_after(k.rotation.next_rotation, period, now);
        let (id, material) = fresh_raw_material();
        let regions: Vec<Region> = mr.regions().cloned().collect();
        let sealed = self.seal_to(repl, &regions, &k.key_id, &id, &material)?;
        let cmd = Command {
            request_id: format!("auto-rotate/{}/{}", k.key_id, current),
            proposed_at: now,
            op: Op::AddMaterial {
                key: k.key_id,
                expected_primary: self.region.clone(),
                expected_current: current,
                material: SealedMaterial {
                    id,
                    created: now,
                    rotation_type: Some(RotationType::Automatic),
                    sealed,
                },
                on_demand: false,
                next_rotation: Some(next),
            },
            service_made: true,
            author: None,
            signature: None,
        };
        self.propose_due_task(repl, cmd, "automatic Multi-Region rotation")
            .await
    }

    /// A Multi-Region copy whose waiting period ended: a replica leaves the
    /// key's Regions, a primary without replicas deletes the key. A copy
    /// scheduled as a replica that became the primary meanwhile (an
    /// UpdatePrimaryRegion proposed before the deletion was scheduled and
    /// applied after) waits as a primary does: PendingReplicaDeletion until
    /// its replicas are gone, then its own waiting period.
    pub(crate) async fn delete_multi_region_copy(&self, k: &KeyRecord, now: UnixMillis) -> KmsResult<bool> {
        let repl = self.replication()?;
        let Some(mr) = k.multi_region.as_ref() else {
            return Ok(false);
        };
        let op = if mr.is_primary(&self.region) {
            if !mr.replicas.is_empty() {
                let id = k.key_id;
                self.store
                    .transact(move |txn| {
                        let Some(k) = txn.key(&id).filter(|k| k.state == KeyState::PendingDeletion) else {
                            return;
                        };
                        let mut next = (*k).clone();
                        next.state = KeyState::PendingReplicaDeletion;
                        next.deletion_date = None;
                        txn.put_key(next);
                    })
                    .await?;
                return Ok(false);
            }
            Op::DeleteKey {
                key: k.key_id,
                expected_primary: self.region.clone(),
            }
        } else {
            Op::RemoveReplica {
                key: k.key_id,
                region: self.region.clone(),
            }
        };
        let cmd = Command {
            request_id: format!("delete/{}/{}", k.key_id, self.region),
            proposed_at: now,
            op,
            service_made: true,
            author: None,
            signature: None,
        };
        let regions: Vec<Region> = mr.regions().cloned().collect();
        let done = self.propose_due_task(repl, cmd, "Multi-Region deletion").await?;
        if done {
            // The primary's replica list (and the deleted copy) agree in
            // every Region right after.
            self.settle(&regions, "Multi-Region deletion", &k.key_id).await;
        }
        Ok(done)
    }

    /// Proposes a write the service makes by itself (no caller, no audit of
    /// a request): true once applied here, false when a precondition
    /// refused it (the next pass looks again).
    async fn propose_due_task(&self, repl: &Replication, cmd: Command, what: &str) -> KmsResult<bool> {
        let key = cmd.op.key().copied();
        match repl
            .propose(cmd, self.write_timeout(repl))
            .await
            // Service-made commands are compare-and-set: retrying is safe.
            .map_err(|e| propose_error(e, true))?
        {
            Outcome::Applied | Outcome::None => Ok(true),
            Outcome::Rejected(r) => {
                tracing::info!(key = ?key, reason = %r.message, "{what} not applied");
                Ok(false)
            }
            Outcome::Each(_) => Ok(false),
        }
    }
}
