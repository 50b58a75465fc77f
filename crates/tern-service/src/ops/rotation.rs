//! Rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
//! RotateKeyOnDemand, ListKeyRotations. Old material is kept forever, so old
//! ciphertexts keep decrypting; new encrypts use the newest material.

use serde_json::json;
use tern_core::key::{
    KeyOp, KeyRecord, RotationType, DEFAULT_ROTATION_PERIOD_DAYS, MAX_ON_DEMAND_ROTATIONS, MAX_ROTATION_PERIOD_DAYS,
    MIN_ROTATION_PERIOD_DAYS,
};
use tern_proto::pb;

use crate::audit::AuditEvent;
use crate::authz::{condition, Action, RequestFacts, StateRule};
use crate::caller::RequestContext;
use crate::error::{KmsError, KmsResult};
use crate::kms::{fresh_material, Kms};
use crate::messages;
use crate::resolve::IdForms;
use crate::validate;

/// RotateKeyOnDemand is refused while an automatic rotation is this close.
pub const ON_DEMAND_CONFLICT_WINDOW_MILLIS: i64 = 20 * 60 * 1000;

pub(crate) fn rotatable(k: &KeyRecord) -> KmsResult<()> {
    if k.origin != tern_core::key::Origin::AwsKms {
        return Err(messages::wrong_origin(&k.arn(), k.origin.as_str()));
    }
    if !k.rotatable() {
        // AWS answers an asymmetric or HMAC key with no message.
        return Err(messages::rotation_not_supported());
    }
    Ok(())
}

/// `RotationPeriodInDays`, validated (default 365).
pub(crate) fn rotation_period(period: Option<i32>) -> KmsResult<u32> {
    Ok(validate::int_in_range(
        period,
        "rotationPeriodInDays",
        MIN_ROTATION_PERIOD_DAYS as i32,
        MAX_ROTATION_PERIOD_DAYS as i32,
        DEFAULT_ROTATION_PERIOD_DAYS as i32,
    )? as u32)
}

/// The next automatic rotation once rotation is enabled with `days`:
/// already enabled, the date moves with the new period from the same
/// starting point; newly enabled, it counts from now.
pub(crate) fn next_rotation_on_enable(
    k: &KeyRecord,
    days: u32,
    now: tern_core::time::UnixMillis,
) -> tern_core::time::UnixMillis {
    let base = match (k.rotation.enabled, k.rotation.next_rotation, k.rotation.period_days) {
        (true, Some(next), Some(old)) => next.plus_millis(-(i64::from(old) * tern_core::time::MILLIS_PER_DAY)),
        _ => now,
    };
    base.plus_days(days)
}

/// The on-demand rotation limit and the window before an automatic rotation.
pub(crate) fn check_on_demand_allowed(k: &KeyRecord, now: tern_core::time::UnixMillis) -> KmsResult<()> {
    if k.rotation.on_demand_count >= MAX_ON_DEMAND_ROTATIONS {
        return Err(messages::on_demand_rotation_limit(&k.arn()));
    }
    if let (true, Some(next)) = (k.rotation.enabled, k.rotation.next_rotation) {
        if next.0 - now.0 <= ON_DEMAND_CONFLICT_WINDOW_MILLIS {
            return Err(messages::automatic_rotation_due(&k.arn()));
        }
    }
    Ok(())
}

impl Kms {
    /// Whether `raw` names a Multi-Region key this region holds (so the
    /// operation goes through the replication log).
    fn names_multi_region_key(&self, ctx: &RequestContext, raw: &str) -> bool {
        self.repl.is_some()
            && crate::resolve::resolve(&*self.store.read(), &self.region, &ctx.caller, raw, IdForms::KeysOnly)
                .is_ok_and(|k| k.multi_region.is_some())
    }

    pub async fn enable_key_rotation(
        &self,
        ctx: &RequestContext,
        req: pb::EnableKeyRotationRequest,
    ) -> KmsResult<pb::EnableKeyRotationResponse> {
        let params = json!({"keyId": req.key_id, "rotationPeriodInDays": req.rotation_period_in_days});
        let period = req.rotation_period_in_days;
        if self.names_multi_region_key(ctx, &req.key_id) {
            return match rotation_period(period) {
                Ok(d) => self
                    .set_multi_region_rotation(ctx, Action::EnableKeyRotation, &req.key_id, params, Some(d))
                    .await
                    .map(|_| pb::EnableKeyRotationResponse {}),
                Err(e) => {
                    let ev = AuditEvent::new("EnableKeyRotation", false, params);
                    self.complete(ctx, ev, Err(e)).await
                }
            };
        }
        let extra = vec![condition(
            tern_policy::keys::ROTATION_PERIOD_IN_DAYS,
            period.unwrap_or(DEFAULT_ROTATION_PERIOD_DAYS as i32).to_string(),
        )];
        self.change_key_with(
            ctx,
            Action::EnableKeyRotation,
            req.key_id,
            params,
            KeyOp::EnableKeyRotation,
            extra,
            move |k, now| {
                rotatable(k)?;
                let days = rotation_period(period)?;
                k.rotation.enabled = true;
                k.rotation.period_days = Some(days);
                k.rotation.next_rotation = Some(next_rotation_on_enable(k, days, now));
                Ok(pb::EnableKeyRotationResponse {})
            },
        )
        .await
    }

    pub async fn disable_key_rotation(
        &self,
        ctx: &RequestContext,
        req: pb::DisableKeyRotationRequest,
    ) -> KmsResult<pb::DisableKeyRotationResponse> {
        let params = json!({"keyId": req.key_id});
        if self.names_multi_region_key(ctx, &req.key_id) {
            return self
                .set_multi_region_rotation(ctx, Action::DisableKeyRotation, &req.key_id, params, None)
                .await
                .map(|_| pb::DisableKeyRotationResponse {});
        }
        self.change_key(
            ctx,
            Action::DisableKeyRotation,
            req.key_id,
            params,
            KeyOp::DisableKeyRotation,
            |k, _| {
                rotatable(k)?;
                k.rotation.enabled = false;
                k.rotation.next_rotation = None;
                Ok(pb::DisableKeyRotationResponse {})
            },
        )
        .await
    }

    pub async fn get_key_rotation_status(
        &self,
        ctx: &RequestContext,
        req: pb::GetKeyRotationStatusRequest,
    ) -> KmsResult<pb::GetKeyRotationStatusResponse> {
        let mut ev = AuditEvent::new("GetKeyRotationStatus", true, json!({"keyId": req.key_id}));
        let r = (|| {
            let k = self.read_key(
                ctx,
                &req.key_id,
                IdForms::KeysOnly,
                Action::GetKeyRotationStatus,
                StateRule::Op(KeyOp::GetKeyRotationStatus),
                RequestFacts::default(),
                &mut ev,
            )?;
            rotatable(&k)?;
            let on = k.rotation.enabled;
            Ok(pb::GetKeyRotationStatusResponse {
                key_rotation_enabled: on,
                // The bare key id, as AWS answers GetKeyRotationStatus.
                key_id: k.key_id.to_string(),
                rotation_period_in_days: if on {
                    k.rotation.period_days.map(|d| d as i32)
                } else {
                    None
                },
                next_rotation_date: if on {
                    k.rotation.next_rotation.map(|t| t.as_epoch_seconds())
                } else {
                    None
                },
                on_demand_rotation_start_date: None,
            })
        })();
        self.complete(ctx, ev, r).await
    }

    pub async fn rotate_key_on_demand(
        &self,
        ctx: &RequestContext,
        req: pb::RotateKeyOnDemandRequest,
    ) -> KmsResult<pb::RotateKeyOnDemandResponse> {
        if self.names_multi_region_key(ctx, &req.key_id) {
            return self.rotate_multi_region_key(ctx, req).await;
        }
        let params = json!({"keyId": req.key_id});
        let root = self.root.clone();
        self.change_key(
            ctx,
            Action::RotateKeyOnDemand,
            req.key_id,
            params,
            KeyOp::RotateKeyOnDemand,
            move |k, now| {
                if k.origin == tern_core::key::Origin::External {
                    // Imported material: the material imported with
                    // NEW_KEY_MATERIAL becomes current.
                    if k.key_spec != tern_core::key::KeySpec::SymmetricDefault {
                        return Err(messages::rotation_not_supported());
                    }
                    check_on_demand_allowed(k, now)?;
                    crate::ops::import::rotate_imported(k, now)?;
                } else {
                    rotatable(k)?;
                    check_on_demand_allowed(k, now)?;
                    k.materials
                        .push(fresh_material(&root, &k.key_id, now, Some(RotationType::OnDemand))?);
                }
                k.rotation.on_demand_count += 1;
                k.rotation.on_demand_started = Some(now);
                // The key ARN, as AWS answers RotateKeyOnDemand.
                Ok(pb::RotateKeyOnDemandResponse { key_id: k.arn() })
            },
        )
        .await
    }

    pub async fn list_key_rotations(
        &self,
        ctx: &RequestContext,
        req: pb::ListKeyRotationsRequest,
    ) -> KmsResult<pb::ListKeyRotationsResponse> {
        let mut ev = AuditEvent::new(
            "ListKeyRotations",
            true,
            json!({"keyId": req.key_id, "limit": req.limit, "marker": req.marker, "includeKeyMaterial": req.include_key_material}),
        );
        let r = (|| {
            let limit = validate::int_in_range(req.limit, "limit", 1, 1000, 100)? as usize;
            let all = match req.include_key_material.as_deref() {
                None | Some("ROTATIONS_ONLY") => false,
                Some("ALL_KEY_MATERIAL") => true,
                Some(v) => {
                    return Err(KmsError::constraint(
                        Some(v),
                        "includeKeyMaterial",
                        "Member must satisfy enum value set: [ALL_KEY_MATERIAL, ROTATIONS_ONLY]",
                    ))
                }
            };
            let k = self.read_key(
                ctx,
                &req.key_id,
                IdForms::KeysOnly,
                Action::ListKeyRotations,
                StateRule::Op(KeyOp::ListKeyRotations),
                RequestFacts::default(),
                &mut ev,
            )?;
            let rows: Vec<pb::RotationsListEntry> = match k
                .import
                .as_ref()
                .filter(|_| k.origin == tern_core::key::Origin::External)
            {
                // Imported materials: each with its import state and
                // expiration; ROTATIONS_ONLY lists those RotateKeyOnDemand made current.
                Some(import) => import
                    .entries(&k.materials)
                    .into_iter()
                    .filter(|e| all || e.rotated.is_some())
                    .map(|e| pb::RotationsListEntry {
                        key_id: k.key_id.to_string(),
                        key_material_id: Some(e.id.to_string()),
                        key_material_description: e.description.clone(),
                        import_state: Some(if e.present { "IMPORTED" } else { "PENDING_IMPORT" }.to_string()),
                        key_material_state: Some(e.state.to_string()),
                        expiration_model: e.expiration_model.map(|m| m.to_string()),
                        valid_to: e.valid_to.map(|v| v.as_epoch_seconds()),
                        rotation_date: e.rotated.map(|t| t.as_epoch_seconds()),
                        rotation_type: e.rotated.map(|_| RotationType::OnDemand.to_string()),
                    })
                    .collect(),
                None => {
                    let last = k.materials.len().saturating_sub(1);
                    k.materials
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| all || *i > 0)
                        .map(|(i, m)| pb::RotationsListEntry {
                            key_id: k.key_id.to_string(),
                            key_material_id: Some(m.id.to_string()),
                            key_material_description: None,
                            import_state: None,
                            key_material_state: Some(if i == last { "CURRENT" } else { "NON_CURRENT" }.to_string()),
                            expiration_model: None,
                            valid_to: None,
                            rotation_date: m.rotation_type.map(|_| m.created.as_epoch_seconds()),
                            rotation_type: m.rotation_type.map(|t| t.to_string()),
                        })
                        .collect()
                }
            };
            let items = rows.into_iter().enumerate().map(|(i, r)| (format!("{i:08}"), r));
            let (rotations, next) = validate::page(items, req.marker.as_deref(), limit)?;
            Ok(pb::ListKeyRotationsResponse {
                rotations,
                truncated: next.is_some(),
                next_marker: next,
            })
        })();
        self.complete(ctx, ev, r).await
    }
}
