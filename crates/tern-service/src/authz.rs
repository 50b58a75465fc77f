//! Authorization: every request that names a key is decided by that
//! region's key policy, the caller's identity policies and (later) grants,
//! through tern-policy. Key policies are compiled once per policy text and
//! cached, so the hot path never reparses JSON.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::RwLock;
use tern_core::ids::KeyId;
use tern_core::key::KeyRecord;
use tern_core::time::UnixMillis;
use tern_policy::{
    authorize as decide, keys, ConditionContext, Decision, DenyReason, ImplicitDenyReason, Policy, PolicyError, Request,
};
use tern_store::GrantRecord;

use crate::caller::{PrincipalKind, RequestContext};
use crate::error::{ErrorKind, KmsError, KmsResult};

/// Compiled key policies by key, valid while the policy text is unchanged.
#[derive(Default)]
pub struct PolicyCache {
    by_key: RwLock<HashMap<KeyId, (String, Policy)>>,
}

impl std::fmt::Debug for PolicyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PolicyCache({} keys)", self.by_key.read().len())
    }
}

impl PolicyCache {
    /// The compiled policy of `key`.
    pub fn get(&self, key: &KeyRecord) -> KmsResult<Policy> {
        if let Some((text, p)) = self.by_key.read().get(&key.key_id) {
            if *text == key.policy {
                return Ok(p.clone());
            }
        }
        // Stored policies were validated on the way in; failing here means
        // the stored record is damaged.
        let p = Policy::parse_key_policy(&key.policy)
            .map_err(|e| KmsError::internal(format!("The stored key policy of {} is invalid: {e}", key.arn())))?;
        self.by_key.write().insert(key.key_id, (key.policy.clone(), p.clone()));
        Ok(p)
    }

    pub fn forget(&self, key: &KeyId) {
        self.by_key.write().remove(key);
    }
}

/// Maps a policy parse error to the AWS exception.
pub fn policy_error(e: PolicyError) -> KmsError {
    let kind = match e {
        PolicyError::TooLarge { .. } => ErrorKind::LimitExceededException,
        PolicyError::InvalidCharacter { .. } => ErrorKind::ValidationException,
        PolicyError::Malformed { .. } => ErrorKind::MalformedPolicyDocumentException,
    };
    KmsError::new(kind, e.to_string())
}

/// What a CreateGrant request asks for.
#[derive(Debug, Clone, Copy)]
pub struct GrantRequest<'a> {
    pub operations: &'a [String],
    pub grantee: &'a str,
    pub retiring: Option<&'a str>,
    pub subset: Option<&'a BTreeMap<String, String>>,
    pub equals: Option<&'a BTreeMap<String, String>>,
}

/// Request facts the condition keys see, beyond the caller and the key.
#[derive(Debug, Default, Clone, Copy)]
pub struct Facts<'a> {
    pub encryption_context: Option<&'a BTreeMap<String, String>>,
    /// The alias the request named the key by (`kms:RequestAlias`).
    pub request_alias: Option<&'a str>,
    /// The key's grants; one that covers the request allows it.
    pub grants: &'a [Arc<GrantRecord>],
    /// CreateGrant's operations, grantee and retiring principal.
    pub grant_request: Option<GrantRequest<'a>>,
    /// Operation-specific condition keys (lowercase) and their values.
    pub extra: &'a [(String, Vec<String>)],
    /// The aliases pointing at the key (`kms:ResourceAliases`).
    pub resource_aliases: &'a [String],
}

/// One request's authorization inputs.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    pub policies: &'a PolicyCache,
    pub ctx: &'a RequestContext,
    pub now: UnixMillis,
}

/// The role ARN behind an assumed-role session ARN
/// (`arn:aws:sts::<acct>:assumed-role/<role>/<session>`), which is what
/// `aws:PrincipalArn` holds for such callers.
fn role_of_session(arn: &str) -> Option<String> {
    let rest = arn.strip_prefix("arn:aws:sts::")?;
    let (acct, res) = rest.split_once(':')?;
    let role = res.strip_prefix("assumed-role/")?.split('/').next()?;
    Some(format!("arn:aws:iam::{acct}:role/{role}"))
}

/// `aws:RequestedRegion`: the Region a request is made to.
const REQUESTED_REGION: &str = "aws:requestedregion";

fn base_context(ctx: &RequestContext, now: UnixMillis) -> ConditionContext {
    let mut c = ConditionContext::new();
    if ctx.caller.kind == PrincipalKind::AssumedRole {
        if let Some(role) = role_of_session(&ctx.caller.arn) {
            c.set(keys::PRINCIPAL_ARN, role);
        }
    }
    c.set(keys::CURRENT_TIME, now.to_rfc3339());
    c.set(keys::EPOCH_TIME, (now.0 / 1000).to_string());
    c.set(
        keys::SECURE_TRANSPORT,
        if ctx.secure_transport { "true" } else { "false" },
    );
    if let Some(ip) = &ctx.source_ip {
        c.set(keys::SOURCE_IP, ip.clone());
    }
    if let Some(ua) = &ctx.user_agent {
        c.set(keys::USER_AGENT, ua.clone());
    }
    c
}

/// AWS's wording for why a request was refused.
fn reason(decision: &Decision, action: &str) -> String {
    match decision {
        Decision::ExplicitDeny(DenyReason::KeyPolicy { .. }) => {
            "with an explicit deny in a resource-based policy".into()
        }
        Decision::ExplicitDeny(DenyReason::IdentityPolicy { .. }) => {
            "with an explicit deny in an identity-based policy".into()
        }
        Decision::ImplicitDeny(ImplicitDenyReason::NoIdentityPolicyAllow { .. }) => {
            format!("because no identity-based policy allows the kms:{action} action")
        }
        _ => format!("because no resource-based policy allows the kms:{action} action"),
    }
}

fn denied(ctx: &RequestContext, action: &str, resource: &str, why: impl std::fmt::Display) -> KmsError {
    KmsError::new(
        ErrorKind::AccessDeniedException,
        format!(
            "User: {} is not authorized to perform: kms:{action} on resource: {resource} {why}",
            ctx.caller.arn
        ),
    )
}

impl Access<'_> {
    /// May the caller do `action` (e.g. "Decrypt") on `key`?
    pub fn check(&self, action: &str, key: &KeyRecord, facts: Facts<'_>) -> KmsResult<()> {
        let policy = self.policies.get(key)?;
        let mut c = base_context(self.ctx, self.now);
        c.set(keys::KEY_SPEC, key.key_spec.as_str());
        c.set(keys::KEY_USAGE, key.key_usage.as_str());
        c.set(keys::KEY_ORIGIN, key.origin.as_str());
        c.set(REQUESTED_REGION, key.region.as_str());
        c.set(
            keys::MULTI_REGION,
            if key.key_id.is_multi_region() { "true" } else { "false" },
        );
        if let Some(mr) = &key.multi_region {
            c.set(
                keys::MULTI_REGION_KEY_TYPE,
                if mr.is_primary(&key.region) {
                    "PRIMARY"
                } else {
                    "REPLICA"
                },
            );
        }
        c.set_resource_tags(key.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Some(ec) = facts.encryption_context {
            c.set_encryption_context(ec.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        if let Some(a) = facts.request_alias {
            c.set(keys::REQUEST_ALIAS, a);
        }
        if !facts.resource_aliases.is_empty() {
            c.set_multi(
                keys::RESOURCE_ALIASES,
                facts.resource_aliases.iter().map(String::as_str),
            );
        }
        for (k, v) in facts.extra {
            c.set_multi(k, v.iter().map(String::as_str));
        }
        if let Some(g) = facts.grant_request {
            c.set_multi(keys::GRANT_OPERATIONS, g.operations.iter().map(String::as_str));
            c.set("kms:granteeprincipal", g.grantee);
            if let Some(r) = g.retiring {
                c.set("kms:retiringprincipal", r);
            }
        }
        let full_action = format!("kms:{action}");
        let arn = key.arn();
        let req = Request {
            action: &full_action,
            principal_arn: &self.ctx.caller.arn,
            principal_account: self.ctx.caller.account.as_str(),
            resource_arn: &arn,
            context: &c,
        };
        let identity = self.ctx.caller.identity_policies.as_refs();
        let grant_allows = crate::ops::grants::grants_allow(
            facts.grants,
            &self.ctx.caller.arn,
            action,
            facts.encryption_context,
            facts.grant_request.as_ref(),
        );
        let decision = decide(&policy, &identity, grant_allows, &req);
        if decision.is_allowed() {
            Ok(())
        } else {
            Err(denied(self.ctx, action, &arn, reason(&decision, action)))
        }
    }

    /// Actions on no particular key (CreateKey, ListKeys, ListAliases,
    /// GenerateRandom): decided by the caller's identity policies alone
    /// (resource `*`); an account root may always.
    pub fn check_identity_only(&self, action: &str) -> KmsResult<()> {
        self.check_identity_in(action, None)
    }

    /// [`Access::check_identity_only`] for a request to `region`
    /// (`aws:RequestedRegion`), e.g. the CreateKey a ReplicateKey implies in
    /// the replica Region.
    pub fn check_identity_in(&self, action: &str, region: Option<&str>) -> KmsResult<()> {
        if self.ctx.caller.kind == PrincipalKind::Root {
            return Ok(());
        }
        let mut c = base_context(self.ctx, self.now);
        if let Some(r) = region {
            c.set(REQUESTED_REGION, r);
        }
        let full_action = format!("kms:{action}");
        let req = Request {
            action: &full_action,
            principal_arn: &self.ctx.caller.arn,
            principal_account: self.ctx.caller.account.as_str(),
            resource_arn: "*",
            context: &c,
        };
        let mut allowed = false;
        for p in self.ctx.caller.identity_policies.0.iter() {
            match p.evaluate(&req) {
                tern_policy::Evaluation::ExplicitDeny { .. } => {
                    return Err(denied(
                        self.ctx,
                        action,
                        "*",
                        "with an explicit deny in an identity-based policy",
                    ))
                }
                tern_policy::Evaluation::Allow { .. } => allowed = true,
                tern_policy::Evaluation::NotApplicable => {}
            }
        }
        if allowed {
            Ok(())
        } else {
            Err(denied(
                self.ctx,
                action,
                "*",
                "because no identity-based policy allows the action",
            ))
        }
    }

    /// PutKeyPolicy / CreateKey safety check: refuses a policy under which
    /// the caller could no longer change it.
    pub fn check_lockout(&self, policy: &Policy, key_arn: &str) -> KmsResult<()> {
        let identity = self.ctx.caller.identity_policies.as_refs();
        if tern_policy::would_lock_out(
            policy,
            &self.ctx.caller.arn,
            self.ctx.caller.account.as_str(),
            key_arn,
            &identity,
        ) {
            return Err(KmsError::new(
                ErrorKind::MalformedPolicyDocumentException,
                "The new key policy will not allow you to update the key policy in the future.",
            ));
        }
        Ok(())
    }
}
