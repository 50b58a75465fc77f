//! Key lifecycle: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey,
//! ScheduleKeyDeletion, CancelKeyDeletion, UpdateKeyDescription.

use serde_json::json;
use tern_core::ids::{AccountId, KeyId};
use tern_core::key::{
    ImportState, KeyManager, KeyOp, KeyRecord, KeySpec, KeyState, KeyUsage, Origin, RotationConfig,
    DEFAULT_PENDING_WINDOW_DAYS, MAX_PENDING_WINDOW_DAYS, MIN_PENDING_WINDOW_DAYS,
};
use tern_proto::pb;

use crate::audit::AuditEvent;
use crate::authz::{condition, Action, Conditions, RequestFacts, StateRule, Target};
use crate::caller::RequestContext;
use crate::error::{KmsError, KmsResult};
use crate::kms::{fresh_material_for, random_bytes, Kms};
use crate::messages;
use crate::metadata::key_metadata;
use crate::resolve::IdForms;
use crate::validate;
use tern_policy::keys;

fn enum_error(field: &str, value: &str, set: String) -> KmsError {
    messages::not_in_enum(value, field, &set)
}

/// The condition keys AWS sets on CreateKey: the new key's spec, usage,
/// origin and Multi-Region type, the lockout bypass, and its tags.
fn create_key_conditions(req: &pb::CreateKeyRequest) -> Conditions {
    let spec = req
        .key_spec
        .as_deref()
        .or(req.customer_master_key_spec.as_deref())
        .unwrap_or("SYMMETRIC_DEFAULT");
    let multi_region = req.multi_region.unwrap_or(false);
    let mut c = vec![
        condition(keys::KEY_SPEC, spec),
        condition(keys::KEY_USAGE, req.key_usage.as_deref().unwrap_or("ENCRYPT_DECRYPT")),
        condition(keys::KEY_ORIGIN, req.origin.as_deref().unwrap_or("AWS_KMS")),
        condition(keys::MULTI_REGION, multi_region.to_string()),
        condition(
            keys::BYPASS_POLICY_LOCKOUT_SAFETY_CHECK,
            req.bypass_policy_lockout_safety_check.unwrap_or(false).to_string(),
        ),
    ];
    if multi_region {
        c.push(condition(keys::MULTI_REGION_KEY_TYPE, "PRIMARY"));
    }
    c.extend(crate::ops::tags::request_tag_conditions(
        req.tags.iter().map(|t| (t.tag_key.as_str(), t.tag_value.as_str())),
    ));
    c
}

/// Validates a CreateKey request into the record it would create.
fn plan_key(kms: &Kms, account: &AccountId, req: &pb::CreateKeyRequest) -> KmsResult<KeyRecord> {
    let spec = match (&req.key_spec, &req.customer_master_key_spec) {
        (Some(_), Some(_)) => return Err(messages::key_spec_and_customer_master_key_spec()),
        (Some(s), None) => KeySpec::parse(s).ok_or_else(|| enum_error("keySpec", s, KeySpec::value_set()))?,
        (None, Some(s)) => {
            KeySpec::parse(s).ok_or_else(|| enum_error("customerMasterKeySpec", s, KeySpec::value_set()))?
        }
        (None, None) => KeySpec::SymmetricDefault,
    };
    let usage = match &req.key_usage {
        Some(u) => KeyUsage::parse(u).ok_or_else(|| enum_error("keyUsage", u, KeyUsage::value_set()))?,
        None if spec == KeySpec::SymmetricDefault => KeyUsage::EncryptDecrypt,
        None => return Err(messages::key_usage_required()),
    };
    let origin = match &req.origin {
        Some(o) => Origin::parse(o).ok_or_else(|| enum_error("origin", o, Origin::value_set()))?,
        None => Origin::AwsKms,
    };
    let Some(usages) = spec.usages() else {
        return Err(messages::not_supported_by_tern("KeySpec", spec.as_str()));
    };
    if !usages.contains(&usage) {
        return Err(messages::usage_not_for_spec(usage.as_str(), spec.as_str()));
    }
    if !matches!(origin, Origin::AwsKms | Origin::External) {
        return Err(messages::not_supported_by_tern("Origin", origin.as_str()));
    }
    if req.custom_key_store_id.is_some() || req.xks_key_id.is_some() {
        return Err(messages::custom_key_stores_not_supported());
    }
    let multi_region = req.multi_region == Some(true);
    if multi_region {
        kms.replication()?;
    }
    let description = req.description.clone().unwrap_or_default();
    validate::description(&description)?;
    let policy = match &req.policy {
        Some(p) => {
            validate::policy(p)?;
            p.clone()
        }
        None => validate::default_policy(account.as_str()),
    };
    let mut tags = Vec::new();
    validate::merge_tags(&mut tags, &req.tags)?;

    let now = kms.now();
    let key_id = if multi_region {
        KeyId::new_multi_region(random_bytes())
    } else {
        KeyId::new_single_region(random_bytes())
    };
    // Imported keys wait for their material; the service makes the rest.
    let (state, materials, import) = if origin == Origin::External && multi_region {
        // The replication log creates the copy (PendingImport).
        (KeyState::PendingImport, Vec::new(), None)
    } else if origin == Origin::External {
        (KeyState::PendingImport, Vec::new(), Some(ImportState::default()))
    } else {
        // The first material is made once the request is checked: by
        // `create_key`, or by the replication log for a Multi-Region key.
        (KeyState::Enabled, Vec::new(), None)
    };
    Ok(KeyRecord {
        key_id,
        account: account.clone(),
        region: kms.region.clone(),
        created: now,
        description,
        key_spec: spec,
        key_usage: usage,
        origin,
        key_manager: KeyManager::Customer,
        state,
        deletion_date: None,
        pending_window_days: None,
        policy,
        tags,
        rotation: RotationConfig::default(),
        materials,
        pending_materials: Vec::new(),
        multi_region: None,
        import,
    })
}

impl Kms {
    pub async fn create_key(
        &self,
        ctx: &RequestContext,
        req: pb::CreateKeyRequest,
    ) -> KmsResult<pb::CreateKeyResponse> {
        let ev = AuditEvent::new(
            "CreateKey",
            false,
            json!({
                "keySpec": req.key_spec.as_deref().unwrap_or("SYMMETRIC_DEFAULT"),
                "keyUsage": req.key_usage.as_deref().unwrap_or("ENCRYPT_DECRYPT"),
                "origin": req.origin.as_deref().unwrap_or("AWS_KMS"),
                "description": req.description,
                "multiRegion": req.multi_region.unwrap_or(false),
                "bypassPolicyLockoutSafetyCheck": req.bypass_policy_lockout_safety_check.unwrap_or(false),
                "tags": req.tags.iter().map(|t| json!({"tagKey": t.tag_key, "tagValue": t.tag_value})).collect::<Vec<_>>(),
            }),
        );
        let planned = self
            .access(ctx)
            .identity(Action::CreateKey, None, &create_key_conditions(&req))
            .and_then(|_| plan_key(self, &ctx.caller.account, &req));
        let planned = planned.and_then(|r| {
            if req.policy.is_some() && req.bypass_policy_lockout_safety_check != Some(true) {
                let p = tern_policy::Policy::parse_key_policy(&r.policy).map_err(crate::authz::policy_error)?;
                self.access(ctx).check_lockout(&p, &r.arn())?;
            }
            Ok(r)
        });
        let mut record = match planned {
            Ok(r) => r,
            Err(e) => return self.complete(ctx, ev, Err(e)).await,
        };
        if record.origin != tern_core::key::Origin::External && !record.key_id.is_multi_region() {
            match fresh_material_for(&self.root, &record.key_id, record.key_spec, record.created).await {
                Ok(m) => record.materials = vec![m],
                Err(e) => return self.complete(ctx, ev, Err(e)).await,
            }
        }
        let quota = self.keys_per_account;
        if record.key_id.is_multi_region() {
            if self.store.read().key_count_of(&record.account) >= quota {
                return self.complete(ctx, ev, Err(key_quota_reached(quota))).await;
            }
            return self.create_multi_region_key(ctx, ev, record).await;
        }
        self.mutate(ctx, ev, move |txn, ev, _now| {
            if txn.key_count_of(&record.account) >= quota {
                return Err(key_quota_reached(quota));
            }
            ev.resource = Some((record.arn(), record.account.clone()));
            ev.response = Some(json!({"keyMetadata": {"keyId": record.key_id.to_string(), "arn": record.arn()}}));
            let md = key_metadata(&record);
            txn.put_key(record);
            Ok(pb::CreateKeyResponse { key_metadata: Some(md) })
        })
        .await
    }

    pub async fn describe_key(
        &self,
        ctx: &RequestContext,
        req: pb::DescribeKeyRequest,
    ) -> KmsResult<pb::DescribeKeyResponse> {
        let mut ev = AuditEvent::new("DescribeKey", true, json!({"keyId": req.key_id}));
        let r = (|| {
            let k = self.read_key(
                ctx,
                &req.key_id,
                IdForms::WithAliases,
                Action::DescribeKey,
                StateRule::Op(KeyOp::DescribeKey),
                RequestFacts::default(),
                &mut ev,
            )?;
            Ok(pb::DescribeKeyResponse {
                key_metadata: Some(key_metadata(&k)),
            })
        })();
        self.complete(ctx, ev, r).await
    }

    pub async fn list_keys(&self, ctx: &RequestContext, req: pb::ListKeysRequest) -> KmsResult<pb::ListKeysResponse> {
        let ev = AuditEvent::new("ListKeys", true, json!({"limit": req.limit, "marker": req.marker}));
        let r = (|| {
            self.access(ctx).identity(Action::ListKeys, None, &[])?;
            let limit = validate::int_in_range(req.limit, "limit", 1, 1000, 100)? as usize;
            let mut items: Vec<(String, pb::KeyListEntry)> = self
                .store
                .read()
                .keys
                .values()
                .filter(|k| k.account == ctx.caller.account)
                .map(|k| {
                    (
                        k.key_id.to_string(),
                        pb::KeyListEntry {
                            key_id: k.key_id.to_string(),
                            key_arn: k.arn(),
                        },
                    )
                })
                .collect();
            items.sort_by(|a, b| a.0.cmp(&b.0));
            let (keys, next) = validate::page(items.into_iter(), req.marker.as_deref(), limit)?;
            Ok(pb::ListKeysResponse {
                keys,
                truncated: next.is_some(),
                next_marker: next,
            })
        })();
        self.complete(ctx, ev, r).await
    }

    /// Shared shape of the key-id-only state changes.
    pub(crate) async fn change_key<R, F>(
        &self,
        ctx: &RequestContext,
        action: Action,
        key_id: String,
        params: serde_json::Value,
        op: KeyOp,
        f: F,
    ) -> KmsResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut KeyRecord, tern_core::time::UnixMillis) -> KmsResult<R> + Send + 'static,
    {
        self.change_key_with(ctx, action, key_id, params, op, Vec::new(), f)
            .await
    }

    /// [`Kms::change_key`] with request-specific condition keys (e.g.
    /// `kms:RotationPeriodInDays`) for the policy decision.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn change_key_with<R, F>(
        &self,
        ctx: &RequestContext,
        action: Action,
        key_id: String,
        params: serde_json::Value,
        op: KeyOp,
        conditions: Conditions,
        f: F,
    ) -> KmsResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut KeyRecord, tern_core::time::UnixMillis) -> KmsResult<R> + Send + 'static,
    {
        let ev = AuditEvent::new(action.name(), false, params);
        self.mutate_authorized(ctx, ev, move |txn, ev, access, region| {
            let now = access.now;
            validate::required(&key_id, "keyId")?;
            let target = Target::Named {
                raw: &key_id,
                forms: IdForms::KeysOnly,
            };
            let facts = RequestFacts::conditions(conditions);
            let k = access.key(&*txn, region, target, action, StateRule::Op(op), facts, Some(ev))?;
            let mut next = (*k).clone();
            let r = f(&mut next, now)?;
            txn.put_key(next);
            Ok(r)
        })
        .await
    }

    pub async fn enable_key(
        &self,
        ctx: &RequestContext,
        req: pb::EnableKeyRequest,
    ) -> KmsResult<pb::EnableKeyResponse> {
        let params = json!({"keyId": req.key_id});
        self.change_key(ctx, Action::EnableKey, req.key_id, params, KeyOp::EnableKey, |k, _| {
            k.state = KeyState::Enabled;
            Ok(pb::EnableKeyResponse {})
        })
        .await
    }

    pub async fn disable_key(
        &self,
        ctx: &RequestContext,
        req: pb::DisableKeyRequest,
    ) -> KmsResult<pb::DisableKeyResponse> {
        let params = json!({"keyId": req.key_id});
        self.change_key(
            ctx,
            Action::DisableKey,
            req.key_id,
            params,
            KeyOp::DisableKey,
            |k, _| {
                k.state = KeyState::Disabled;
                Ok(pb::DisableKeyResponse {})
            },
        )
        .await
    }

    pub async fn schedule_key_deletion(
        &self,
        ctx: &RequestContext,
        req: pb::ScheduleKeyDeletionRequest,
    ) -> KmsResult<pb::ScheduleKeyDeletionResponse> {
        let params = json!({"keyId": req.key_id, "pendingWindowInDays": req.pending_window_in_days});
        let window = req.pending_window_in_days;
        let extra = window
            .map(|w| vec![condition(keys::PENDING_WINDOW_IN_DAYS, w.to_string())])
            .unwrap_or_default();
        self.change_key_with(
            ctx,
            Action::ScheduleKeyDeletion,
            req.key_id,
            params,
            KeyOp::ScheduleKeyDeletion,
            extra,
            move |k, now| {
                let days = validate::int_in_range(
                    window,
                    "pendingWindowInDays",
                    MIN_PENDING_WINDOW_DAYS as i32,
                    MAX_PENDING_WINDOW_DAYS as i32,
                    DEFAULT_PENDING_WINDOW_DAYS as i32,
                )? as u32;
                // A primary with replicas waits for them: its own waiting
                // period starts when the last replica is deleted.
                if k.multi_region
                    .as_ref()
                    .is_some_and(|m| m.is_primary(&k.region) && !m.replicas.is_empty())
                {
                    k.state = KeyState::PendingReplicaDeletion;
                    k.deletion_date = None;
                    k.pending_window_days = Some(days);
                    return Ok(pb::ScheduleKeyDeletionResponse {
                        key_id: k.arn(),
                        deletion_date: None,
                        key_state: KeyState::PendingReplicaDeletion.to_string(),
                        pending_window_in_days: Some(days as i32),
                    });
                }
                let when = now.plus_days(days);
                k.state = KeyState::PendingDeletion;
                k.deletion_date = Some(when);
                k.pending_window_days = Some(days);
                Ok(pb::ScheduleKeyDeletionResponse {
                    key_id: k.arn(),
                    deletion_date: Some(when.as_epoch_seconds()),
                    key_state: KeyState::PendingDeletion.to_string(),
                    pending_window_in_days: Some(days as i32),
                })
            },
        )
        .await
    }

    pub async fn cancel_key_deletion(
        &self,
        ctx: &RequestContext,
        req: pb::CancelKeyDeletionRequest,
    ) -> KmsResult<pb::CancelKeyDeletionResponse> {
        let params = json!({"keyId": req.key_id});
        self.change_key(
            ctx,
            Action::CancelKeyDeletion,
            req.key_id,
            params,
            KeyOp::CancelKeyDeletion,
            |k, _| {
                // AWS: a canceled key is Disabled, or PendingImport while an
                // imported key has no material.
                k.state = if k.materials.is_empty() {
                    KeyState::PendingImport
                } else {
                    KeyState::Disabled
                };
                k.deletion_date = None;
                k.pending_window_days = None;
                Ok(pb::CancelKeyDeletionResponse { key_id: k.arn() })
            },
        )
        .await
    }

    pub async fn update_key_description(
        &self,
        ctx: &RequestContext,
        req: pb::UpdateKeyDescriptionRequest,
    ) -> KmsResult<pb::UpdateKeyDescriptionResponse> {
        let params = json!({"keyId": req.key_id, "description": req.description});
        let description = req.description;
        self.change_key(
            ctx,
            Action::UpdateKeyDescription,
            req.key_id,
            params,
            KeyOp::UpdateKeyDescription,
            move |k, _| {
                validate::description(&description)?;
                k.description = description;
                Ok(pb::UpdateKeyDescriptionResponse {})
            },
        )
        .await
    }
}

/// CreateKey over the account's key quota in this region.
fn key_quota_reached(quota: usize) -> KmsError {
    messages::keys_per_account_quota(quota)
}
