//! Who is calling: the authenticated principal and the request's facts the
//! transports learn (source address, user agent).

use tern_core::ids::AccountId;

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
}

/// One request's context.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub caller: Caller,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Whether the request arrived over TLS (`aws:SecureTransport`).
    pub secure_transport: bool,
}

impl RequestContext {
    pub fn new(caller: Caller) -> Self {
        RequestContext {
            caller,
            source_ip: None,
            user_agent: None,
            secure_transport: false,
        }
    }
}
