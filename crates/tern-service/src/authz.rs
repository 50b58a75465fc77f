//! Authorization: the one path every operation on a key goes through
//! ([`Access::key`]: resolve → AWS's cross-account rule → grants and
//! aliases → condition context → decision → key state), and the identity-only
//! decision for operations on no key ([`Access::identity`]). Decisions come
//! from tern-policy over that region's key policy, the caller's identity
//! policies and the key's grants. Key policies are compiled once per policy
//! text and cached, so the hot path never reparses JSON.

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

use crate::audit::AuditEvent;
use crate::caller::{PrincipalKind, RequestContext};
use crate::error::{ErrorKind, KmsError, KmsResult};
use crate::resolve::{check_crypto_state, check_state, resolve, IdForms, KeyLookup};
use tern_core::ids::Region;
use tern_core::key::KeyOp;

/// Declares [`Action`]: each KMS action tern authorizes, and whether AWS
/// honours cross-account permissions for it.
macro_rules! kms_actions {
    ($($action:ident: $cross:literal,)+) => {
        /// A KMS action (`kms:<Name>` in policies). A typo does not compile.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $($action,)+
        }

        impl Action {
            /// Every action.
            pub const ALL: &'static [Action] = &[$(Action::$action,)+];

            /// The action's name without the `kms:` prefix.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Action::$action => stringify!($action),)+
                }
            }

            /// Whether a principal of another account may be allowed this
            /// action on a key (AWS: "Allowing users in other accounts to use
            /// a KMS key"). Any other action on another account's key is
            /// refused whatever the policies say.
            pub const fn cross_account(self) -> bool {
                match self {
                    $(Action::$action => $cross,)+
                }
            }
        }
    };
}

kms_actions! {
    CancelKeyDeletion: false,
    CreateAlias: false,
    CreateGrant: true,
    CreateKey: false,
    Decrypt: true,
    DeleteAlias: false,
    DeleteImportedKeyMaterial: false,
    DeriveSharedSecret: true,
    DescribeKey: true,
    DisableKey: false,
    DisableKeyRotation: false,
    EnableKey: false,
    EnableKeyRotation: false,
    Encrypt: true,
    GenerateDataKey: true,
    GenerateDataKeyPair: true,
    GenerateDataKeyPairWithoutPlaintext: true,
    GenerateDataKeyWithoutPlaintext: true,
    GenerateMac: true,
    GenerateRandom: false,
    GetKeyPolicy: false,
    GetKeyRotationStatus: true,
    GetParametersForImport: false,
    GetPublicKey: true,
    ImportKeyMaterial: false,
    ListAliases: false,
    ListGrants: true,
    ListKeyPolicies: false,
    ListKeyRotations: false,
    ListKeys: false,
    ListResourceTags: false,
    ListRetirableGrants: false,
    PutKeyPolicy: false,
    ReEncryptFrom: true,
    ReEncryptTo: true,
    ReplicateKey: false,
    RetireGrant: true,
    RevokeGrant: true,
    RotateKeyOnDemand: false,
    ScheduleKeyDeletion: false,
    Sign: true,
    TagResource: false,
    UntagResource: false,
    UpdateAlias: false,
    UpdateKeyDescription: false,
    UpdatePrimaryRegion: false,
    Verify: true,
    VerifyMac: true,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Request condition keys (lowercase names) and their values.
pub type Conditions = Vec<(String, Vec<String>)>;

/// One request condition key with one value.
pub fn condition(key: &str, value: impl Into<String>) -> (String, Vec<String>) {
    (key.to_string(), vec![value.into()])
}

/// How a request names the key it acts on.
#[derive(Debug, Clone)]
pub(crate) enum Target<'r> {
    /// A `KeyId` member, resolved by the path.
    Named { raw: &'r str, forms: IdForms },
    /// A key the operation found itself (a ciphertext's key, an alias's
    /// current target, a grant's key), with the request's `KeyId` member
    /// if it had one (for `kms:RequestAlias`).
    Found { key: Arc<KeyRecord>, raw: Option<&'r str> },
}

/// The key-state rule an operation needs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StateRule {
    Op(KeyOp),
    /// [`KeyOp::Cryptographic`], plus material that exists and has not
    /// expired at the request's time.
    Crypto,
    /// No state rule (the operation checks the state itself, or has none).
    Any,
}

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
        warn_unknown_condition_keys(&p, &key.arn());
        self.by_key.write().insert(key.key_id, (key.policy.clone(), p.clone()));
        Ok(p)
    }

    pub fn forget(&self, key: &KeyId) {
        self.by_key.write().remove(key);
    }
}

/// How many distinct unknown condition keys are remembered (each is
/// logged once); past it they are logged every time they are compiled.
const MAX_REMEMBERED_UNKNOWN_KEYS: usize = 1024;

/// Logs, once per key, each condition key in `policy` that tern never sets.
/// AWS accepts any condition key; a condition on one tern never sets sees it
/// absent (so `...IfExists` and `Null` match, everything else does not).
pub fn warn_unknown_condition_keys(policy: &Policy, whose: &str) {
    static SEEN: std::sync::OnceLock<parking_lot::Mutex<std::collections::HashSet<String>>> =
        std::sync::OnceLock::new();
    for key in policy.condition_keys() {
        if keys::is_known(key) {
            continue;
        }
        let mut seen = SEEN.get_or_init(Default::default).lock();
        if seen.contains(key) {
            continue;
        }
        if seen.len() < MAX_REMEMBERED_UNKNOWN_KEYS {
            seen.insert(key.to_string());
        }
        tracing::warn!(
            condition_key = key,
            policy_of = whose,
            "a policy names a condition key tern never sets: conditions on it see it absent \
             (only ...IfExists and Null operators can match); check the key's spelling"
        );
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

/// What the request says beyond its key, for the condition keys and the
/// grants. The path adds what it finds itself (grants, the key's aliases,
/// the alias the request named).
#[derive(Debug, Default, Clone)]
pub(crate) struct RequestFacts<'a> {
    pub encryption_context: Option<&'a BTreeMap<String, String>>,
    /// CreateGrant's operations, grantee and retiring principal.
    pub grant_request: Option<GrantRequest<'a>>,
    /// Operation-specific condition keys (e.g. `kms:SigningAlgorithm`).
    pub conditions: Conditions,
}

impl<'a> RequestFacts<'a> {
    pub fn conditions(conditions: Conditions) -> Self {
        RequestFacts {
            conditions,
            ..Default::default()
        }
    }
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

use tern_policy::keys::REQUESTED_REGION;

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
fn reason(decision: &Decision, action: Action) -> String {
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

fn denied(ctx: &RequestContext, action: Action, resource: &str, why: impl std::fmt::Display) -> KmsError {
    KmsError::new(
        ErrorKind::AccessDeniedException,
        format!(
            "User: {} is not authorized to perform: kms:{action} on resource: {resource} {why}",
            ctx.caller.arn
        ),
    )
}

/// What the path found about a key for one decision.
struct KeyFacts<'a> {
    request: &'a RequestFacts<'a>,
    request_alias: Option<&'a str>,
    grants: &'a [Arc<GrantRecord>],
    resource_aliases: &'a [String],
}

impl Access<'_> {
    /// The one authorization path for a request on a key. Every operation
    /// that acts on a key calls it with its action; nothing else reaches
    /// the policy decision. In order:
    /// 1. resolve the request's `KeyId` (NotFoundException);
    /// 2. record the key as the audit event's resource (unless one is set);
    /// 3. AWS's cross-account rule: another account's key only for the
    ///    actions AWS allows across accounts (AccessDeniedException);
    /// 4. the key's grants and aliases, the condition context (every key AWS
    ///    sets for this request), the policy decision (AccessDeniedException);
    /// 5. the key-state rule.
    #[allow(clippy::too_many_arguments)] // every input of one decision, named at each call site
    pub(crate) fn key(
        &self,
        view: &impl KeyLookup,
        region: &Region,
        target: Target<'_>,
        action: Action,
        state: StateRule,
        facts: RequestFacts<'_>,
        ev: Option<&mut AuditEvent>,
    ) -> KmsResult<Arc<KeyRecord>> {
        let (key, raw) = match target {
            Target::Named { raw, forms } => (resolve(view, region, &self.ctx.caller, raw, forms)?, Some(raw)),
            Target::Found { key, raw } => (key, raw),
        };
        if let Some(ev) = ev {
            if ev.resource.is_none() {
                ev.resource = Some((key.arn(), key.account.clone()));
            }
        }
        if key.account != self.ctx.caller.account && !action.cross_account() {
            return Err(denied(
                self.ctx,
                action,
                &key.arn(),
                format!("because kms:{action} is not allowed on a KMS key in another AWS account"),
            ));
        }
        let grants = view.grants_for(&key.key_id, &self.ctx.caller.arn);
        let aliases = view.alias_names_of(&key.key_id);
        let found = KeyFacts {
            request: &facts,
            request_alias: raw.and_then(crate::resolve::request_alias),
            grants: &grants,
            resource_aliases: &aliases,
        };
        self.decide(action, &key, &found)?;
        match state {
            StateRule::Op(op) => check_state(&key, op)?,
            StateRule::Crypto => check_crypto_state(&key, self.now)?,
            StateRule::Any => {}
        }
        Ok(key)
    }

    /// The policy decision for `action` on `key`: private to [`Access::key`].
    fn decide(&self, action: Action, key: &KeyRecord, facts: &KeyFacts<'_>) -> KmsResult<()> {
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
        let request = facts.request;
        if let Some(ec) = request.encryption_context {
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
        for (k, v) in &request.conditions {
            c.set_multi(k, v.iter().map(String::as_str));
        }
        if let Some(g) = &request.grant_request {
            c.set_multi(keys::GRANT_OPERATIONS, g.operations.iter().map(String::as_str));
            c.set(keys::GRANTEE_PRINCIPAL, g.grantee);
            if let Some(r) = g.retiring {
                c.set(keys::RETIRING_PRINCIPAL, r);
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
            action.name(),
            request.encryption_context,
            request.grant_request.as_ref(),
        );
        let decision = decide(&policy, &identity, grant_allows, &req);
        if decision.is_allowed() {
            Ok(())
        } else {
            Err(denied(self.ctx, action, &arn, reason(&decision, action)))
        }
    }

    /// Actions on no particular key (CreateKey, ListKeys, ListAliases,
    /// GenerateRandom, ListRetirableGrants): decided by the caller's
    /// identity policies alone (resource `*`); an account root may always.
    /// `region` is `aws:RequestedRegion` when it is not this region (the
    /// CreateKey a ReplicateKey implies in the replica Region);
    /// `conditions` are the request's own condition keys.
    pub(crate) fn identity(
        &self,
        action: Action,
        region: Option<&str>,
        conditions: &[(String, Vec<String>)],
    ) -> KmsResult<()> {
        if self.ctx.caller.kind == PrincipalKind::Root {
            return Ok(());
        }
        let mut c = base_context(self.ctx, self.now);
        if let Some(r) = region {
            c.set(REQUESTED_REGION, r);
        }
        for (k, v) in conditions {
            c.set_multi(k, v.iter().map(String::as_str));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's list of operations that honour cross-account permissions
    /// ("Allowing users in other accounts to use a KMS key").
    #[test]
    fn cross_account_actions_are_exactly_awss() {
        let mut allowed: Vec<&str> = Action::ALL
            .iter()
            .filter(|a| a.cross_account())
            .map(|a| a.name())
            .collect();
        allowed.sort_unstable();
        let mut aws = vec![
            "CreateGrant",
            "Decrypt",
            "DeriveSharedSecret",
            "DescribeKey",
            "Encrypt",
            "GenerateDataKey",
            "GenerateDataKeyPair",
            "GenerateDataKeyPairWithoutPlaintext",
            "GenerateDataKeyWithoutPlaintext",
            "GenerateMac",
            "GetKeyRotationStatus",
            "GetPublicKey",
            "ListGrants",
            "ReEncryptFrom",
            "ReEncryptTo",
            "RetireGrant",
            "RevokeGrant",
            "Sign",
            "Verify",
            "VerifyMac",
        ];
        aws.sort_unstable();
        assert_eq!(allowed, aws);
    }

    #[test]
    fn action_names_are_distinct() {
        let mut names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
