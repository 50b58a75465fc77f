//! Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases. Aliases are
//! scoped to an account within the region.

use serde_json::json;
use tern_core::ids::{alias_arn, AliasName, AliasNameError, IdError, KeyRef, MAX_ALIAS_NAME_CHARS};
use tern_core::key::{KeyOp, MAX_ALIASES_PER_KEY};
use tern_proto::pb;
use tern_store::AliasRecord;

use crate::audit::AuditEvent;
use crate::authz::{Action, RequestFacts, StateRule, Target};
use crate::caller::RequestContext;
use crate::error::{KmsError, KmsResult};
use crate::kms::Kms;
use crate::messages;
use crate::resolve::{alias_not_found, IdForms};
use crate::validate;

fn parse_alias(raw: &str, for_create: bool) -> KmsResult<AliasName> {
    let parsed = if for_create {
        AliasName::parse_user(raw)
    } else {
        AliasName::parse_any(raw)
    };
    parsed.map_err(|e| match e {
        IdError::AliasName(AliasNameError::MissingPrefix) => messages::alias_prefix(),
        IdError::AliasName(AliasNameError::Reserved) => messages::reserved_alias_name(),
        IdError::AliasName(AliasNameError::TooLong) => KmsError::constraint(
            Some(raw),
            "aliasName",
            &format!("Member must have length less than or equal to {MAX_ALIAS_NAME_CHARS}"),
        ),
        _ => KmsError::constraint(
            Some(raw),
            "aliasName",
            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
        ),
    })
}

fn target_is_alias(raw: &str) -> KmsResult<()> {
    if KeyRef::parse(raw).is_ok_and(|r| r.is_alias()) {
        return Err(messages::alias_target_is_an_alias());
    }
    Ok(())
}

impl Kms {
    pub async fn create_alias(
        &self,
        ctx: &RequestContext,
        req: pb::CreateAliasRequest,
    ) -> KmsResult<pb::CreateAliasResponse> {
        let ev = AuditEvent::new(
            "CreateAlias",
            false,
            json!({"aliasName": req.alias_name, "targetKeyId": req.target_key_id}),
        );
        self.mutate_authorized(ctx, ev, move |txn, ev, access, region| {
            let (ctx2, now) = (access.ctx, access.now);
            let caller = &ctx2.caller;
            let name = parse_alias(&req.alias_name, true)?;
            validate::required(&req.target_key_id, "targetKeyId")?;
            target_is_alias(&req.target_key_id)?;
            let target = Target::Named {
                raw: &req.target_key_id,
                forms: IdForms::KeysOnly,
            };
            let state = StateRule::Op(KeyOp::AliasTarget);
            let facts = RequestFacts::default();
            let key = access.key(&*txn, region, target, Action::CreateAlias, state, facts, Some(ev))?;
            // An alias and its key live in one account (as in AWS), so no
            // other account's alias names show up in kms:ResourceAliases:
            // the path's cross-account rule already refused another
            // account's key for CreateAlias and UpdateAlias.
            debug_assert_eq!(key.account, caller.account);
            if txn.alias(&caller.account, &name).is_some() {
                return Err(messages::alias_exists(&alias_arn(region, &caller.account, &name)));
            }
            if txn.aliases_of(&key.key_id).len() >= MAX_ALIASES_PER_KEY {
                return Err(messages::aliases_per_key_quota(MAX_ALIASES_PER_KEY, &key.arn()));
            }
            txn.put_alias(AliasRecord {
                account: caller.account.clone(),
                name,
                target: key.key_id,
                created: now,
                last_updated: now,
            });
            Ok(pb::CreateAliasResponse {})
        })
        .await
    }

    pub async fn update_alias(
        &self,
        ctx: &RequestContext,
        req: pb::UpdateAliasRequest,
    ) -> KmsResult<pb::UpdateAliasResponse> {
        let ev = AuditEvent::new(
            "UpdateAlias",
            false,
            json!({"aliasName": req.alias_name, "targetKeyId": req.target_key_id}),
        );
        self.mutate_authorized(ctx, ev, move |txn, ev, access, region| {
            let (ctx2, now) = (access.ctx, access.now);
            let caller = &ctx2.caller;
            let name = parse_alias(&req.alias_name, true)?;
            validate::required(&req.target_key_id, "targetKeyId")?;
            target_is_alias(&req.target_key_id)?;
            let existing = txn
                .alias(&caller.account, &name)
                .ok_or_else(|| alias_not_found(region, &caller.account, &name))?;
            let target = Target::Named {
                raw: &req.target_key_id,
                forms: IdForms::KeysOnly,
            };
            let state = StateRule::Op(KeyOp::AliasTarget);
            let key = access.key(
                &*txn,
                region,
                target,
                Action::UpdateAlias,
                state,
                RequestFacts::default(),
                Some(ev),
            )?;
            // An alias and its key live in one account (as in AWS), so no
            // other account's alias names show up in kms:ResourceAliases:
            // the path's cross-account rule already refused another
            // account's key for CreateAlias and UpdateAlias.
            debug_assert_eq!(key.account, caller.account);
            if let Some(old) = txn.key(&existing.target) {
                // The current target must allow it too.
                let current = Target::Found { key: old, raw: None };
                let old = access.key(
                    &*txn,
                    region,
                    current,
                    Action::UpdateAlias,
                    StateRule::Any,
                    RequestFacts::default(),
                    None,
                )?;
                if old.key_spec != key.key_spec || old.key_usage != key.key_usage {
                    return Err(messages::alias_target_of_another_type(&old.arn(), &key.arn()));
                }
            }
            if existing.target != key.key_id && txn.aliases_of(&key.key_id).len() >= MAX_ALIASES_PER_KEY {
                return Err(messages::aliases_per_key_quota(MAX_ALIASES_PER_KEY, &key.arn()));
            }
            txn.put_alias(AliasRecord {
                target: key.key_id,
                last_updated: now,
                ..(*existing).clone()
            });
            Ok(pb::UpdateAliasResponse {})
        })
        .await
    }

    pub async fn delete_alias(
        &self,
        ctx: &RequestContext,
        req: pb::DeleteAliasRequest,
    ) -> KmsResult<pb::DeleteAliasResponse> {
        let ev = AuditEvent::new("DeleteAlias", false, json!({"aliasName": req.alias_name}));
        self.mutate_authorized(ctx, ev, move |txn, ev, access, region| {
            let ctx2 = access.ctx;
            let caller = &ctx2.caller;
            let name = parse_alias(&req.alias_name, false)?;
            let existing = txn
                .alias(&caller.account, &name)
                .ok_or_else(|| alias_not_found(region, &caller.account, &name))?;
            if let Some(key) = txn.key(&existing.target) {
                let target = Target::Found { key, raw: None };
                access.key(
                    &*txn,
                    region,
                    target,
                    Action::DeleteAlias,
                    StateRule::Any,
                    RequestFacts::default(),
                    Some(ev),
                )?;
            }
            txn.delete_alias(&caller.account, &name);
            Ok(pb::DeleteAliasResponse {})
        })
        .await
    }

    pub async fn list_aliases(
        &self,
        ctx: &RequestContext,
        req: pb::ListAliasesRequest,
    ) -> KmsResult<pb::ListAliasesResponse> {
        let mut ev = AuditEvent::new(
            "ListAliases",
            true,
            json!({"keyId": req.key_id, "limit": req.limit, "marker": req.marker}),
        );
        let r = (|| {
            let limit = validate::int_in_range(req.limit, "limit", 1, 100, 50)? as usize;
            let view = self.store.read();
            let filter = match req.key_id.as_deref() {
                Some(raw) => {
                    let target = Target::Named {
                        raw,
                        forms: IdForms::KeysOnly,
                    };
                    let k = self.access(ctx).key(
                        &*view,
                        &self.region,
                        target,
                        Action::ListAliases,
                        StateRule::Any,
                        RequestFacts::default(),
                        Some(&mut ev),
                    )?;
                    Some(k.key_id)
                }
                None => {
                    self.access(ctx).identity(Action::ListAliases, None, &[])?;
                    None
                }
            };
            let items = view
                .aliases
                .values()
                .filter(|a| a.account == ctx.caller.account && filter.is_none_or(|f| f == a.target))
                .map(|a| {
                    (
                        a.name.to_string(),
                        pb::AliasListEntry {
                            alias_name: a.name.to_string(),
                            alias_arn: alias_arn(&self.region, &a.account, &a.name),
                            target_key_id: Some(a.target.to_string()),
                            creation_date: Some(a.created.as_epoch_seconds()),
                            last_updated_date: Some(a.last_updated.as_epoch_seconds()),
                        },
                    )
                });
            let (aliases, next) = validate::page(items, req.marker.as_deref(), limit)?;
            Ok(pb::ListAliasesResponse {
                aliases,
                truncated: next.is_some(),
                next_marker: next,
            })
        })();
        self.complete(ctx, ev, r).await
    }
}
