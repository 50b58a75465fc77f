//! The authorization decision the service asks for: key policy, the caller's
//! identity policies and grants together, by AWS KMS's rules.

use std::fmt;

use crate::context::{ConditionContext, Request};
use crate::policy::{Evaluation, Policy};
use crate::principal::{arn_account, is_account_root};

/// Why a request was allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AllowReason {
    /// The key policy names the caller (or `*`) in the key's own account, or
    /// names the account of a root caller.
    KeyPolicy { statement: usize },
    /// The key policy allows the caller's account (or, cross-account, the
    /// caller) and one of the caller's identity policies allows it too.
    KeyPolicyAndIdentityPolicy {
        key_statement: usize,
        identity_policy: usize,
        identity_statement: usize,
    },
    /// A grant allows it.
    Grant,
}

/// Which explicit `Deny` refused a request (0-based indexes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyReason {
    KeyPolicy { statement: usize },
    IdentityPolicy { policy: usize, statement: usize },
}

/// Why nothing allowed a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImplicitDenyReason {
    /// No key policy statement applies to the caller (and no grant).
    NoKeyPolicyAllow,
    /// The key policy allows it only together with an identity policy, and
    /// none allows it (and no grant). `cross_account` tells the two cases
    /// apart for messages.
    NoIdentityPolicyAllow { cross_account: bool },
}

/// The answer to one authorization question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    Allow(AllowReason),
    ExplicitDeny(DenyReason),
    ImplicitDeny(ImplicitDenyReason),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }
}

/// The tail of AWS's `AccessDeniedException` message ("User: … is not
/// authorized to perform: kms:Decrypt on resource: … <this>"), or a short
/// description of an allow.
impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allow(AllowReason::KeyPolicy { .. }) => f.write_str("allowed by the key policy"),
            Decision::Allow(AllowReason::KeyPolicyAndIdentityPolicy { .. }) => {
                f.write_str("allowed by the key policy and an identity-based policy")
            }
            Decision::Allow(AllowReason::Grant) => f.write_str("allowed by a grant"),
            Decision::ExplicitDeny(DenyReason::KeyPolicy { .. }) => {
                f.write_str("with an explicit deny in a resource-based policy")
            }
            Decision::ExplicitDeny(DenyReason::IdentityPolicy { .. }) => {
                f.write_str("with an explicit deny in an identity-based policy")
            }
            Decision::ImplicitDeny(ImplicitDenyReason::NoKeyPolicyAllow) => {
                f.write_str("because no resource-based policy allows the action")
            }
            Decision::ImplicitDeny(ImplicitDenyReason::NoIdentityPolicyAllow { .. }) => {
                f.write_str("because no identity-based policy allows the action")
            }
        }
    }
}

/// Decides a request by AWS KMS's rules:
///
/// 1. An explicit `Deny` in the key policy or in any of the caller's identity
///    policies → [`Decision::ExplicitDeny`]. Nothing overrides it, grants
///    included.
/// 2. Same account (the key ARN's account is the caller's): the key policy
///    naming the caller directly (user/role ARN, `*`, or the account for the
///    root user) → allow; naming only the account → allow if an identity
///    policy allows it too.
/// 3. Cross-account: the key policy must name the caller or its account
///    *and* an identity policy of the caller must allow it (the root user of
///    the calling account needs no identity policy).
/// 4. Otherwise `grant_allows` → allow; else [`Decision::ImplicitDeny`].
///
/// A caller with an empty `principal_account` is a service principal: a key
/// policy statement naming it (or `*`) allows it on its own.
///
/// `identity_policies` are the caller's own (their `Resource` must match the
/// key ARN to count). Allocates nothing.
pub fn authorize(
    key_policy: &Policy,
    identity_policies: &[&Policy],
    grant_allows: bool,
    req: &Request<'_>,
) -> Decision {
    let key_allow = match key_policy.evaluate(req) {
        Evaluation::ExplicitDeny { statement } => return Decision::ExplicitDeny(DenyReason::KeyPolicy { statement }),
        Evaluation::Allow {
            statement,
            via_account_root,
        } => Some((statement, via_account_root)),
        Evaluation::NotApplicable => None,
    };
    let mut identity_allow = None;
    for (policy, p) in identity_policies.iter().enumerate() {
        match p.evaluate(req) {
            Evaluation::ExplicitDeny { statement } => {
                return Decision::ExplicitDeny(DenyReason::IdentityPolicy { policy, statement })
            }
            Evaluation::Allow { statement, .. } => {
                identity_allow.get_or_insert((policy, statement));
            }
            Evaluation::NotApplicable => {}
        }
    }
    let same_account =
        !req.principal_account.is_empty() && arn_account(req.resource_arn) == Some(req.principal_account);
    let implicit = match key_allow {
        None => ImplicitDenyReason::NoKeyPolicyAllow,
        Some((statement, via_account_root)) => {
            // A service principal belongs to no account: the key policy alone decides.
            let service_principal = req.principal_account.is_empty();
            let caller_is_root = is_account_root(req.principal_arn, req.principal_account);
            if ((same_account || service_principal) && !via_account_root) || caller_is_root {
                return Decision::Allow(AllowReason::KeyPolicy { statement });
            }
            if let Some((identity_policy, identity_statement)) = identity_allow {
                return Decision::Allow(AllowReason::KeyPolicyAndIdentityPolicy {
                    key_statement: statement,
                    identity_policy,
                    identity_statement,
                });
            }
            ImplicitDenyReason::NoIdentityPolicyAllow {
                cross_account: !same_account,
            }
        }
    };
    if grant_allows {
        return Decision::Allow(AllowReason::Grant);
    }
    Decision::ImplicitDeny(implicit)
}

/// AWS's default key policy for `account`: one statement, "Enable IAM User
/// Permissions", allowing `kms:*` to the account root, which delegates to the
/// account's identity policies. Formatted as AWS prints it.
pub fn default_key_policy(account: &str) -> String {
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : \"arn:aws:iam::{account}:root\"\n    }},\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  }} ]\n}}"
    )
}

/// AWS's policy lockout safety check: true if, under `policy`, the caller
/// could no longer call `kms:PutKeyPolicy` on the key (no grant can allow
/// that). The check runs with only the derived condition keys
/// (`kms:CallerAccount`, `aws:PrincipalArn`, `aws:PrincipalAccount`), so a
/// policy that allows `PutKeyPolicy` only under other conditions counts as a
/// lockout — the caller can pass `BypassPolicyLockoutSafetyCheck`.
pub fn would_lock_out(
    policy: &Policy,
    principal_arn: &str,
    principal_account: &str,
    key_arn: &str,
    identity_policies: &[&Policy],
) -> bool {
    let context = ConditionContext::new();
    let req = Request {
        action: "kms:PutKeyPolicy",
        principal_arn,
        principal_account,
        resource_arn: key_arn,
        context: &context,
    };
    !authorize(policy, identity_policies, false, &req).is_allowed()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod random_tests;
