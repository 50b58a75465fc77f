//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant,
//! RevokeGrant. A grant gives one grantee a list of operations on one key,
//! optionally constrained by the encryption context; it is visible as soon
//! as CreateGrant is acknowledged, so its token is usable at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::json;
use tern_core::ids::KeyId;
use tern_core::key::KeyOp;
use tern_policy::GrantOperation;
use tern_proto::pb;
use tern_store::GrantRecord;

use crate::audit::AuditEvent;
use crate::authz::{condition, Action, GrantRequest, RequestFacts, StateRule, Target};
use crate::caller::{PrincipalKind, RequestContext};
use crate::error::{KmsError, KmsResult};
use crate::kms::{random_bytes, Kms};
use crate::messages;
use crate::resolve::{resolve, IdForms};
use tern_policy::keys;

/// `kms:GrantIsForAWSResource`: tern's grants never come from an AWS
/// service integration.
fn not_for_aws_resource() -> (String, Vec<String>) {
    condition(keys::GRANT_IS_FOR_AWS_RESOURCE, "false")
}
use crate::validate;

/// Grants one key may carry.
pub const MAX_GRANTS_PER_KEY: usize = 50_000;

/// AWS's quota of grants for one grantee principal on one KMS key.
pub const MAX_GRANTS_PER_GRANTEE_PER_KEY: usize = 500;
/// Pairs an encryption context constraint may hold.
pub const MAX_CONSTRAINT_PAIRS: usize = 8;
const TOKEN_PREFIX: &str = "tern-grant-v1:";

/// The token of a grant: opaque to clients, names the key and the grant.
pub(crate) fn grant_token(key: &KeyId, grant_id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{TOKEN_PREFIX}{key}:{grant_id}"))
}

/// Decodes a grant token into (key, grant id).
pub(crate) fn parse_grant_token(token: &str) -> KmsResult<(KeyId, String)> {
    let bad = messages::invalid_grant_token;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let rest = s.strip_prefix(TOKEN_PREFIX).ok_or_else(bad)?;
    let (key, id) = rest.rsplit_once(':').ok_or_else(bad)?;
    let key = KeyId::parse(key).map_err(|_| bad())?;
    if !valid_grant_id(id) {
        return Err(bad());
    }
    Ok((key, id.to_string()))
}

fn valid_grant_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn principal_arn_ok(p: &str) -> bool {
    let sts = p
        .strip_prefix("arn:aws:sts::")
        .and_then(|r| r.split_once(':'))
        .is_some_and(|(acct, res)| {
            acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit()) && res.starts_with("assumed-role/")
        });
    let iam = p
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split_once(':'))
        .is_some_and(|(acct, res)| {
            acct.len() == 12
                && acct.bytes().all(|b| b.is_ascii_digit())
                && (res == "root" || res.starts_with("user/") || res.starts_with("role/"))
        });
    let service = p.ends_with(".amazonaws.com") && !p.contains(' ');
    (iam || sts || service) && p.len() <= 256
}

fn non_empty(m: &BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!m.is_empty()).then(|| m.clone())
}

/// A grant as ListGrants/ListRetirableGrants show it; `key_arn` is its key's
/// ARN (AWS answers grants' `KeyId` as the key ARN).
fn entry(g: &GrantRecord, key_arn: String) -> pb::GrantListEntry {
    let constraints = (g.encryption_context_subset.is_some() || g.encryption_context_equals.is_some()).then(|| {
        pb::GrantConstraints {
            encryption_context_subset: g.encryption_context_subset.clone().unwrap_or_default(),
            encryption_context_equals: g.encryption_context_equals.clone().unwrap_or_default(),
        }
    });
    pb::GrantListEntry {
        key_id: key_arn,
        grant_id: g.grant_id.clone(),
        name: g.name.clone(),
        creation_date: g.created.as_epoch_seconds(),
        grantee_principal: g.grantee_principal.clone(),
        retiring_principal: g.retiring_principal.clone(),
        issuing_account: format!("arn:aws:iam::{}:root", g.issuing_account),
        operations: g.operations.clone(),
        constraints,
    }
}

/// Whether any of `grants` lets the caller do `action` under `context`.
pub(crate) fn grants_allow(
    grants: &[Arc<GrantRecord>],
    caller_arn: &str,
    action: &str,
    context: Option<&BTreeMap<String, String>>,
    grant_request: Option<&GrantRequest<'_>>,
) -> bool {
    let Ok(op) = GrantOperation::parse(action) else {
        return false;
    };
    let empty = BTreeMap::new();
    grants.iter().any(|g| {
        g.grantee_principal == caller_arn
            && g.operations.iter().any(|o| o == op.as_str())
            && (!op.takes_encryption_context()
                || tern_policy::GrantConstraints {
                    encryption_context_equals: g.encryption_context_equals.clone(),
                    encryption_context_subset: g.encryption_context_subset.clone(),
                }
                .permits(context.unwrap_or(&empty)))
            && (op != GrantOperation::CreateGrant || grant_request.is_some_and(|r| narrower(g, r)))
    })
}

/// A grant holding CreateGrant may only create grants no wider than itself:
/// a subset of its operations, under constraints at least as strict.
fn narrower(parent: &GrantRecord, child: &GrantRequest<'_>) -> bool {
    let ops_ok = child.operations.iter().all(|o| parent.operations.contains(o));
    let equals_ok = parent
        .encryption_context_equals
        .as_ref()
        .is_none_or(|e| child.equals == Some(e));
    let contains = |outer: Option<&BTreeMap<String, String>>, inner: &BTreeMap<String, String>| {
        outer.is_some_and(|o| inner.iter().all(|(k, v)| o.get(k) == Some(v)))
    };
    let subset_ok = parent
        .encryption_context_subset
        .as_ref()
        .is_none_or(|s| contains(child.subset, s) || contains(child.equals, s));
    ops_ok && equals_ok && subset_ok
}

impl Kms {
    pub async fn create_grant(
        &self,
        ctx: &RequestContext,
        req: pb::CreateGrantRequest,
    ) -> KmsResult<pb::CreateGrantResponse> {
        let ev = AuditEvent::new(
            "CreateGrant",
            false,
            json!({
                "keyId": req.key_id, "granteePrincipal": req.grantee_principal, "retiringPrincipal": req.retiring_principal,
                "operations": req.operations, "name": req.name, "constraints": req.constraints,
            }),
        );
        let grant_id = hex::encode(random_bytes::<32>());
        self.mutate_authorized(ctx, ev, move |txn, ev, access, region| {
            let (ctx2, now) = (access.ctx, access.now);
            validate::required(&req.key_id, "keyId")?;
            validate::grant_tokens(&req.grant_tokens)?;
            if !principal_arn_ok(&req.grantee_principal) {
                return Err(messages::invalid_principal("grantee", &req.grantee_principal));
            }
            if let Some(r) = &req.retiring_principal {
                if !principal_arn_ok(r) {
                    return Err(messages::invalid_principal("retiring", r));
                }
            }
            let ops = GrantOperation::parse_list(&req.operations).map_err(|e| KmsError::validation(e.to_string()))?;
            let (subset, equals) = match &req.constraints {
                Some(c) => (
                    non_empty(&c.encryption_context_subset),
                    non_empty(&c.encryption_context_equals),
                ),
                None => (None, None),
            };
            if subset.is_some() || equals.is_some() {
                if subset
                    .iter()
                    .chain(equals.iter())
                    .any(|m| m.len() > MAX_CONSTRAINT_PAIRS)
                {
                    return Err(messages::too_many_constraint_pairs(MAX_CONSTRAINT_PAIRS));
                }
                // Constraints apply only to the operations that take an
                // encryption context (as in AWS, DescribeKey, RetireGrant and
                // CreateGrant in the same grant are not constrained); a grant
                // with none of those cannot carry constraints.
                if !ops.iter().any(|o| o.takes_encryption_context()) {
                    return Err(messages::constraints_without_context_operation());
                }
            }
            if let Some(n) = &req.name {
                if n.is_empty()
                    || n.len() > 256
                    || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_:/".contains(&b))
                {
                    return Err(KmsError::constraint(
                        Some(n),
                        "name",
                        "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
                    ));
                }
            }
            let mut conditions = vec![not_for_aws_resource()];
            let constraint_types: Vec<String> = [
                subset.as_ref().map(|_| "EncryptionContextSubset"),
                equals.as_ref().map(|_| "EncryptionContextEquals"),
            ]
            .into_iter()
            .flatten()
            .map(str::to_string)
            .collect();
            if !constraint_types.is_empty() {
                conditions.push((keys::GRANT_CONSTRAINT_TYPE.to_string(), constraint_types));
            }
            let facts = RequestFacts {
                grant_request: Some(GrantRequest {
                    operations: &req.operations,
                    grantee: &req.grantee_principal,
                    retiring: req.retiring_principal.as_deref(),
                    subset: subset.as_ref(),
                    equals: equals.as_ref(),
                }),
                conditions,
                ..Default::default()
            };
            let target = Target::Named {
                raw: &req.key_id,
                forms: IdForms::KeysOnly,
            };
            let state = StateRule::Op(KeyOp::Cryptographic);
            let key = access.key(&*txn, region, target, Action::CreateGrant, state, facts, Some(&mut *ev))?;
            let grantees = txn.grants_for(&key.key_id, &req.grantee_principal);
            let operations: Vec<String> = ops.iter().map(|o| o.as_str().to_string()).collect();
            // Name idempotency: the same grant again answers the existing one.
            if let Some(n) = &req.name {
                if let Some(g) = grantees.iter().find(|g| {
                    g.name.as_deref() == Some(n.as_str())
                        && g.grantee_principal == req.grantee_principal
                        && g.retiring_principal == req.retiring_principal
                        && g.operations == operations
                        && g.encryption_context_subset == subset
                        && g.encryption_context_equals == equals
                }) {
                    ev.response = Some(json!({"grantId": g.grant_id}));
                    return Ok(pb::CreateGrantResponse {
                        grant_token: grant_token(&key.key_id, &g.grant_id),
                        grant_id: g.grant_id.clone(),
                    });
                }
            }
            if grantees.len() >= MAX_GRANTS_PER_GRANTEE_PER_KEY {
                return Err(messages::grants_per_grantee_quota(
                    MAX_GRANTS_PER_GRANTEE_PER_KEY,
                    &req.grantee_principal,
                    &key.arn(),
                ));
            }
            if txn.grants_of(&key.key_id).len() >= MAX_GRANTS_PER_KEY {
                return Err(messages::grants_per_key_quota(MAX_GRANTS_PER_KEY, &key.arn()));
            }
            if req.dry_run == Some(true) {
                return Err(messages::dry_run());
            }
            txn.put_grant(GrantRecord {
                key_id: key.key_id,
                grant_id: grant_id.clone(),
                name: req.name.clone(),
                created: now,
                issuing_account: ctx2.caller.account.clone(),
                grantee_principal: req.grantee_principal.clone(),
                retiring_principal: req.retiring_principal.clone(),
                operations,
                encryption_context_subset: subset,
                encryption_context_equals: equals,
            });
            ev.response = Some(json!({"grantId": grant_id}));
            Ok(pb::CreateGrantResponse {
                grant_token: grant_token(&key.key_id, &grant_id),
                grant_id,
            })
        })
        .await
    }

    pub async fn list_grants(
        &self,
        ctx: &RequestContext,
        req: pb::ListGrantsRequest,
    ) -> KmsResult<pb::ListGrantsResponse> {
        let mut ev = AuditEvent::new(
            "ListGrants",
            true,
            json!({"keyId": req.key_id, "limit": req.limit, "marker": req.marker}),
        );
        let r = (|| {
            let limit = validate::int_in_range(req.limit, "limit", 1, 100, 50)? as usize;
            let k = self.read_key(
                ctx,
                &req.key_id,
                IdForms::KeysOnly,
                Action::ListGrants,
                StateRule::Op(KeyOp::DescribeKey),
                RequestFacts::conditions(vec![not_for_aws_resource()]),
                &mut ev,
            )?;
            let grants: Vec<Arc<GrantRecord>> = self.store.read().grants_of(&k.key_id).cloned().collect();
            let items = grants
                .iter()
                .filter(|g| req.grant_id.as_ref().is_none_or(|id| *id == g.grant_id))
                .filter(|g| req.grantee_principal.as_ref().is_none_or(|p| *p == g.grantee_principal))
                .map(|g| (g.grant_id.clone(), entry(g, k.arn())));
            let (grants, next) = validate::page(items, req.marker.as_deref(), limit)?;
            Ok(pb::ListGrantsResponse {
                grants,
                truncated: next.is_some(),
                next_marker: next,
            })
        })();
        self.complete(ctx, ev, r).await
    }

    pub async fn list_retirable_grants(
        &self,
        ctx: &RequestContext,
        req: pb::ListRetirableGrantsRequest,
    ) -> KmsResult<pb::ListGrantsResponse> {
        let ev = AuditEvent::new(
            "ListRetirableGrants",
            true,
            json!({"retiringPrincipal": req.retiring_principal}),
        );
        let r = (|| {
            validate::required(&req.retiring_principal, "retiringPrincipal")?;
            let limit = validate::int_in_range(req.limit, "limit", 1, 100, 50)? as usize;
            self.access(ctx).identity(Action::ListRetirableGrants, None, &[])?;
            // Only the retiring principals of the caller's own account.
            let account_of = |arn: &str| arn.split(':').nth(4).map(str::to_string);
            if account_of(&req.retiring_principal).as_deref() != Some(ctx.caller.account.as_str()) {
                return Err(messages::not_authorized_to_list_retirable(
                    &ctx.caller.arn,
                    &req.retiring_principal,
                ));
            }
            let view = self.store.read();
            let items = view
                .grants
                .values()
                .filter(|g| g.retiring_principal.as_deref() == Some(req.retiring_principal.as_str()))
                .filter_map(|g| {
                    let key = view.keys.get(&g.key_id)?;
                    Some((format!("{}/{}", g.key_id, g.grant_id), entry(g, key.arn())))
                });
            let (grants, next) = validate::page(items, req.marker.as_deref(), limit)?;
            Ok(pb::ListGrantsResponse {
                grants,
                truncated: next.is_some(),
                next_marker: next,
            })
        })();
        self.complete(ctx, ev, r).await
    }

    pub async fn retire_grant(
        &self,
        ctx: &RequestContext,
        req: pb::RetireGrantRequest,
    ) -> KmsResult<pb::RetireGrantResponse> {
        let ev = AuditEvent::new(
            "RetireGrant",
            false,
            json!({"keyId": req.key_id, "grantId": req.grant_id}),
        );
        self.mutate_authorized(ctx, ev, move |txn, ev, access, region| {
            let ctx2 = access.ctx;
            let (key_id, grant_id) = match (&req.grant_token, &req.key_id, &req.grant_id) {
                (Some(t), _, _) => parse_grant_token(t)?,
                (None, Some(k), Some(g)) => {
                    let key = resolve(&*txn, region, &ctx2.caller, k, IdForms::KeysOnly).or_else(|e| {
                        // The key of a grant may belong to another account: accept its ARN.
                        match tern_core::ids::KeyRef::parse(k) {
                            Ok(tern_core::ids::KeyRef::Arn { key, .. }) => txn.key(&key).ok_or(e),
                            _ => Err(e),
                        }
                    })?;
                    (key.key_id, g.clone())
                }
                _ => return Err(messages::grant_token_or_key_and_id()),
            };
            if !valid_grant_id(&grant_id) {
                return Err(messages::invalid_grant_id());
            }
            let g = txn
                .grant(&key_id, &grant_id)
                .ok_or_else(|| messages::grant_not_found(&grant_id))?;
            let key = txn.key(&key_id);
            if let Some(k) = &key {
                ev.resource = Some((k.arn(), k.account.clone()));
            }
            let c = &ctx2.caller;
            // AWS: the retiring principal, a grantee the grant lets retire
            // it, and the account the grant was created in — its root, and
            // its principals whose policies allow kms:RetireGrant on the key.
            let may = g.retiring_principal.as_deref() == Some(c.arn.as_str())
                || (g.grantee_principal == c.arn && g.operations.iter().any(|o| o == "RetireGrant"))
                || (c.account == g.issuing_account
                    && (c.kind == PrincipalKind::Root
                        || key.is_some_and(|key| {
                            let target = Target::Found { key, raw: None };
                            let facts = RequestFacts::default();
                            access
                                .key(&*txn, region, target, Action::RetireGrant, StateRule::Any, facts, None)
                                .is_ok()
                        })));
            if !may {
                return Err(messages::not_authorized_to_retire(&c.arn, &grant_id));
            }
            if req.dry_run == Some(true) {
                return Err(messages::dry_run());
            }
            txn.delete_grant(&key_id, &grant_id);
            Ok(pb::RetireGrantResponse {})
        })
        .await
    }

    pub async fn revoke_grant(
        &self,
        ctx: &RequestContext,
        req: pb::RevokeGrantRequest,
    ) -> KmsResult<pb::RevokeGrantResponse> {
        let ev = AuditEvent::new(
            "RevokeGrant",
            false,
            json!({"keyId": req.key_id, "grantId": req.grant_id}),
        );
        self.mutate_authorized(ctx, ev, move |txn, ev, access, region| {
            validate::required(&req.key_id, "keyId")?;
            let target = Target::Named {
                raw: &req.key_id,
                forms: IdForms::KeysOnly,
            };
            let facts = RequestFacts::conditions(vec![not_for_aws_resource()]);
            let key = access.key(
                &*txn,
                region,
                target,
                Action::RevokeGrant,
                StateRule::Any,
                facts,
                Some(&mut *ev),
            )?;
            if !valid_grant_id(&req.grant_id) {
                return Err(messages::invalid_grant_id());
            }
            if txn.grant(&key.key_id, &req.grant_id).is_none() {
                return Err(messages::grant_not_found(&req.grant_id));
            }
            if req.dry_run == Some(true) {
                return Err(messages::dry_run());
            }
            txn.delete_grant(&key.key_id, &req.grant_id);
            Ok(pb::RevokeGrantResponse {})
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        let k = KeyId::new_single_region([3; 16]);
        let id = "a".repeat(64);
        assert_eq!(parse_grant_token(&grant_token(&k, &id)).unwrap(), (k, id));
        for bad in [
            "",
            "!!",
            "dGVybg",
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("tern-grant-v1:x:y"),
        ] {
            assert_eq!(
                parse_grant_token(bad).unwrap_err().kind,
                ErrorKind::InvalidGrantTokenException
            );
        }
    }

    #[test]
    fn real_ids_round_trip() {
        let k = KeyId::new_single_region(random_bytes());
        let id = hex::encode(random_bytes::<32>());
        let t = grant_token(&k, &id);
        assert_eq!(parse_grant_token(&t).unwrap(), (k, id), "{t}");
    }

    #[test]
    fn principals() {
        assert!(principal_arn_ok("arn:aws:iam::111122223333:user/alice"));
        assert!(principal_arn_ok("arn:aws:iam::111122223333:root"));
        assert!(principal_arn_ok("dynamodb.amazonaws.com"));
        assert!(!principal_arn_ok("alice"));
        assert!(!principal_arn_ok("arn:aws:iam::1:user/x"));
    }
}
