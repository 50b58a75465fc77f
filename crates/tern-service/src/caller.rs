//! Who is calling: the authenticated principal and the request's facts the
//! transports learn (source address, user agent).

use std::sync::Arc;

use tern_core::ids::AccountId;
use tern_policy::Policy;

/// A principal's identity-based policies, compiled once when the principal
/// registry is loaded.
#[derive(Clone, Default)]
pub struct IdentityPolicies(pub Arc<[Policy]>);

impl IdentityPolicies {
    pub fn new(policies: Vec<Policy>) -> Self {
        IdentityPolicies(policies.into())
    }
    pub fn as_refs(&self) -> Vec<&Policy> {
        self.0.iter().collect()
    }
}

impl PartialEq for IdentityPolicies {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for IdentityPolicies {}

impl std::fmt::Debug for IdentityPolicies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdentityPolicies({} policies)", self.0.len())
    }
}

/// The kind of principal, as CloudTrail's `userIdentity.type` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    Root,
    IamUser,
    AssumedRole,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Root => "Root",
            PrincipalKind::IamUser => "IAMUser",
            PrincipalKind::AssumedRole => "AssumedRole",
        }
    }
}

/// An authenticated caller. Transports build it after SigV4 verification;
/// the service trusts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: AccountId,
    /// e.g. `arn:aws:iam::111122223333:user/alice` or `arn:aws:iam::111122223333:root`.
    pub arn: String,
    /// Stable principal id (CloudTrail `principalId`).
    pub principal_id: String,
    pub kind: PrincipalKind,
    pub access_key_id: String,
    /// Identity-based policies (none for the account root, which needs none).
    pub identity_policies: IdentityPolicies,
}

/// One request's context.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub caller: Caller,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Whether the request arrived over TLS (`aws:SecureTransport`).
    pub secure_transport: bool,
    /// The `x-tern-idempotency-token` header as sent (validated where a
    /// write through the replication log uses it: [`idempotency_token`]).
    ///
    /// [`idempotency_token`]: RequestContext::idempotency_token
    pub idempotency_token: Option<String>,
}

impl RequestContext {
    pub fn new(caller: Caller) -> Self {
        RequestContext {
            caller,
            source_ip: None,
            user_agent: None,
            secure_transport: false,
            idempotency_token: None,
        }
    }

    /// The request's idempotency token, if it sent one: 1 to
    /// [`MAX_IDEMPOTENCY_TOKEN_CHARS`] characters from `[A-Za-z0-9_-]`.
    pub fn idempotency_token(&self) -> Result<Option<&str>, &'static str> {
        match self.idempotency_token.as_deref() {
            None => Ok(None),
            Some(t)
                if !t.is_empty()
                    && t.len() <= MAX_IDEMPOTENCY_TOKEN_CHARS
                    && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                Ok(Some(t))
            }
            Some(_) => Err(IDEMPOTENCY_TOKEN_RULE),
        }
    }
}

/// The header tern's own client and CLI send with every request (the same
/// value across a request's retries). A Multi-Region write derives its
/// replication request id from it, so a retry gets the first attempt's
/// outcome instead of taking effect twice.
pub const IDEMPOTENCY_TOKEN_HEADER: &str = "x-tern-idempotency-token";
/// The longest idempotency token accepted.
pub const MAX_IDEMPOTENCY_TOKEN_CHARS: usize = 64;
const IDEMPOTENCY_TOKEN_RULE: &str =
    "The x-tern-idempotency-token header must be 1 to 64 characters from [A-Za-z0-9_-].";
