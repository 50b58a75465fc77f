//! SigV4 authentication of gRPC requests.
//!
//! Every request is signed with AWS Signature Version 4 (service `kms`, the
//! node's region) over `POST`, the gRPC path, an empty query, the signed
//! headers (at least `host` — the HTTP/2 `:authority` — and `x-amz-date`),
//! and the SHA-256 of the entire HTTP request body. [`verify`] checks one
//! request against the [`PrincipalRegistry`]; [`SigV4AuthLayer`] runs it in
//! front of the tonic routes and hands the handlers the [`Caller`] in the
//! request extensions.
//!
//! Secrets stay here: they are never logged, never shown by `Debug`, and never
//! put in an error message.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST};
use http::HeaderMap;
use http_body::Body;
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use tern_core::ids::AccountId;
use tern_core::sigv4::{self, SigError, MAX_CLOCK_SKEW_MILLIS};
use tern_core::time::UnixMillis;
use tern_service::{Caller, ErrorKind, KmsError, PrincipalKind, RequestContext};
use tonic::body::BoxBody;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower::{Layer, Service};

use crate::grpc_error::status_from_error;

/// The signing service name.
pub const SERVICE: &str = "kms";
/// The largest request body accepted: a 1 MiB message and its 5-byte gRPC
/// frame prefix.
pub const MAX_BODY_BYTES: usize = 1024 * 1024 + 5;

const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";

const MSG_INVALID_TOKEN: &str = "The security token included in the request is invalid.";
const MSG_SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A clock: the current time in milliseconds since the Unix epoch.
pub type Clock = Arc<dyn Fn() -> UnixMillis + Send + Sync>;

/// The system clock.
pub fn system_clock() -> UnixMillis {
    let ms = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    };
    UnixMillis(ms)
}

// ---------------------------------------------------------------------------
// Configuration and the registry
// ---------------------------------------------------------------------------

/// The principals a node knows, as configured:
///
/// ```toml
/// [[accounts]]
/// id = "111122223333"
/// [[accounts.users]]
/// name = "admin"          # arn:aws:iam::111122223333:user/admin; "root" is the account root
/// access_key_id = "AKIAIOSFODNN7EXAMPLE"
/// secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
/// ```
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub struct PrincipalsConfig {
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,
}

/// One account and its users.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// 12 digits.
    pub id: String,
    #[serde(default)]
    pub users: Vec<UserConfig>,
}

/// One access key of a user (`root` for the account root). A user with two
/// access keys is listed twice.
#[derive(Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Identity-based policies (JSON documents, IAM grammar).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
}

impl fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserConfig")
            .field("name", &self.name)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Why a principals configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalsError {
    #[error("cannot parse the principals configuration: {0}")]
    Parse(String),
    #[error("account id {0:?} is not 12 digits")]
    InvalidAccountId(String),
    #[error("user name {name:?} in account {account} is not a valid IAM user name")]
    InvalidUserName { account: String, name: String },
    #[error("access key id {0:?} must be 16 to 128 letters and digits")]
    InvalidAccessKeyId(String),
    #[error("the secret access key of {0:?} is empty")]
    EmptySecret(String),
    #[error("access key id {0:?} is configured more than once")]
    DuplicateAccessKeyId(String),
    #[error("identity policy {index} of user {name:?}: {message}")]
    InvalidPolicy {
        name: String,
        index: usize,
        message: String,
    },
}

/// An authenticated identity and the secret its signatures are checked with.
#[derive(Clone, PartialEq, Eq)]
pub struct Principal {
    pub caller: Caller,
    pub secret_access_key: String,
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("caller", &self.caller)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// The principals by access key id.
#[derive(Debug, Clone, Default)]
pub struct PrincipalRegistry {
    by_access_key_id: HashMap<String, Principal>,
}

fn valid_user_name(name: &str) -> bool {
    // IAM: 1 to 64 of [A-Za-z0-9+=,.@_-]; `role/<name>` configures a role.
    let name = name.strip_prefix("role/").unwrap_or(name);
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

fn valid_access_key_id(id: &str) -> bool {
    (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The stable principal id of an IAM user: `AIDA` and the first 17
/// upper-case hex digits of the SHA-256 of its ARN.
fn user_principal_id(arn: &str) -> String {
    let hash = sigv4::sha256_hex(arn.as_bytes()).to_ascii_uppercase();
    format!("AIDA{}", hash.get(..17).unwrap_or(&hash))
}

impl PrincipalRegistry {
    /// Builds the registry, checking account ids (12 digits), user names,
    /// access key ids (unique, 16–128 alphanumerics) and secrets (non-empty).
    pub fn new(config: &PrincipalsConfig) -> Result<Self, PrincipalsError> {
        let mut by_access_key_id = HashMap::new();
        for account in &config.accounts {
            let account_id =
                AccountId::parse(&account.id).map_err(|_| PrincipalsError::InvalidAccountId(account.id.clone()))?;
            for user in &account.users {
                if !valid_user_name(&user.name) {
                    return Err(PrincipalsError::InvalidUserName {
                        account: account.id.clone(),
                        name: user.name.clone(),
                    });
                }
                if !valid_access_key_id(&user.access_key_id) {
                    return Err(PrincipalsError::InvalidAccessKeyId(user.access_key_id.clone()));
                }
                if user.secret_access_key.is_empty() {
                    return Err(PrincipalsError::EmptySecret(user.access_key_id.clone()));
                }
                let (arn, kind, principal_id) = if let Some(role) = user.name.strip_prefix("role/") {
                    // A role's credentials act as an assumed-role session.
                    let arn = format!("arn:aws:sts::{}:assumed-role/{role}/tern", account.id);
                    let id = format!("AROA{}:tern", &user_principal_id(&arn)[4..]);
                    (arn, PrincipalKind::AssumedRole, id)
                } else if user.name == "root" {
                    // CloudTrail shows the account root's principalId as the account id.
                    (
                        format!("arn:aws:iam::{}:root", account.id),
                        PrincipalKind::Root,
                        account.id.clone(),
                    )
                } else {
                    let arn = format!("arn:aws:iam::{}:user/{}", account.id, user.name);
                    let id = user_principal_id(&arn);
                    (arn, PrincipalKind::IamUser, id)
                };
                let mut policies = Vec::with_capacity(user.policies.len());
                for (index, doc) in user.policies.iter().enumerate() {
                    let p = tern_policy::Policy::parse_identity_policy(doc).map_err(|e| {
                        PrincipalsError::InvalidPolicy {
                            name: user.name.clone(),
                            index,
                            message: e.to_string(),
                        }
                    })?;
                    tern_service::authz::warn_unknown_condition_keys(&p, &arn);
                    policies.push(p);
                }
                let principal = Principal {
                    caller: Caller {
                        account: account_id.clone(),
                        arn,
                        principal_id,
                        kind,
                        access_key_id: user.access_key_id.clone(),
                        identity_policies: tern_service::caller::IdentityPolicies::new(policies),
                    },
                    secret_access_key: user.secret_access_key.clone(),
                };
                if by_access_key_id.insert(user.access_key_id.clone(), principal).is_some() {
                    return Err(PrincipalsError::DuplicateAccessKeyId(user.access_key_id.clone()));
                }
            }
        }
        Ok(PrincipalRegistry { by_access_key_id })
    }

    /// Parses a [`PrincipalsConfig`] from TOML and builds the registry.
    pub fn from_toml(text: &str) -> Result<Self, PrincipalsError> {
        let config: PrincipalsConfig = toml::from_str(text).map_err(|e| PrincipalsError::Parse(e.to_string()))?;
        Self::new(&config)
    }

    pub fn get(&self, access_key_id: &str) -> Option<&Principal> {
        self.by_access_key_id.get(access_key_id)
    }

    pub fn len(&self) -> usize {
        self.by_access_key_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_access_key_id.is_empty()
    }
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

fn unrecognized() -> KmsError {
    KmsError::new(ErrorKind::UnrecognizedClientException, MSG_INVALID_TOKEN)
}

fn invalid_signature(message: impl Into<String>) -> KmsError {
    KmsError::new(ErrorKind::InvalidSignatureException, message)
}

fn malformed(e: SigError) -> KmsError {
    let message = match e {
        SigError::Missing => return unrecognized(),
        SigError::UnsupportedAlgorithm => "Unsupported Authorization type. Only 'AWS4-HMAC-SHA256' is supported.",
        SigError::MissingCredential => "Authorization header requires 'Credential' parameter.",
        SigError::MissingSignedHeaders => "Authorization header requires 'SignedHeaders' parameter.",
        SigError::MissingSignature => "Authorization header requires 'Signature' parameter.",
        SigError::BadCredentialScope => {
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, with an access key id, an 8-digit date and the term 'aws4_request'."
        }
        SigError::BadSignature => "Signature must be 64 hexadecimal digits.",
        SigError::BadSignedHeaders => "SignedHeaders must be a semicolon-separated list of header names.",
    };
    invalid_signature(message)
}

/// The single value of a header, as text; `Ok(None)` when absent.
fn single_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, KmsError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid_signature(format!(
            "The request has more than one '{name}' header."
        )));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| invalid_signature(format!("The '{name}' header is not valid ASCII text.")))
}

/// Verifies a SigV4-signed request and returns its caller.
///
/// `host` is the request's `:authority` (or `Host` header); `path` its path;
/// the query is taken to be empty (gRPC has none). `body` is the entire HTTP
/// request body and `now` the node's time.
///
/// Errors: `UnrecognizedClientException` for a missing `Authorization`
/// header or an unknown access key id; `InvalidSignatureException` for
/// everything else (malformed header, wrong service, region or date in the
/// scope, missing `x-amz-date`, clock skew, a body that does not match its
/// `x-amz-content-sha256`, a missing signed header, a wrong signature).
#[allow(clippy::too_many_arguments)]
pub fn verify(
    registry: &PrincipalRegistry,
    node_region: &str,
    method: &str,
    path: &str,
    host: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: UnixMillis,
    must_sign: &[(&str, &str)],
) -> Result<Caller, KmsError> {
    let Some(authorization) = single_header(headers, AUTHORIZATION.as_str())? else {
        return Err(unrecognized());
    };
    let auth = sigv4::parse_authorization(authorization).map_err(malformed)?;

    let amz_date = single_header(headers, X_AMZ_DATE)?.ok_or_else(|| {
        invalid_signature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    })?;
    let Some(request_time) = sigv4::parse_amz_date(amz_date) else {
        return Err(invalid_signature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        )));
    };

    if auth.service != SERVICE {
        return Err(invalid_signature(format!(
            "Credential should be scoped to correct service: '{SERVICE}'. "
        )));
    }
    if auth.region != node_region {
        return Err(invalid_signature("Credential should be scoped to a valid region. "));
    }
    let http_date = amz_date.get(..8).unwrap_or(amz_date);
    if auth.date != http_date {
        return Err(invalid_signature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{http_date}', from '{amz_date}'.",
            auth.date
        )));
    }
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(invalid_signature(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    if !auth.signed_headers.iter().any(|h| h == X_AMZ_DATE) {
        return Err(invalid_signature(
            "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    for (name, shown) in must_sign {
        if !auth.signed_headers.iter().any(|h| h == name) {
            return Err(invalid_signature(format!(
                "'{shown}' must be a 'SignedHeader' in the AWS Authorization."
            )));
        }
    }

    let skew = now.0.saturating_sub(request_time.0);
    if skew > MAX_CLOCK_SKEW_MILLIS {
        return Err(invalid_signature(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
            sigv4::format_amz_date(now.plus_millis(-MAX_CLOCK_SKEW_MILLIS)),
            sigv4::format_amz_date(now)
        )));
    }
    if skew < -MAX_CLOCK_SKEW_MILLIS {
        return Err(invalid_signature(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
            sigv4::format_amz_date(now.plus_millis(MAX_CLOCK_SKEW_MILLIS)),
            sigv4::format_amz_date(now)
        )));
    }

    let principal = registry.get(&auth.access_key_id).ok_or_else(unrecognized)?;

    let payload_hash = sigv4::sha256_hex(body);
    if let Some(claimed) = single_header(headers, X_AMZ_CONTENT_SHA256)? {
        if !claimed.eq_ignore_ascii_case(&payload_hash) {
            return Err(invalid_signature(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ));
        }
    }

    let mut signed_values: Vec<(&str, &str)> = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        if name == "host" {
            if host.is_empty() {
                return Err(invalid_signature("The request has no 'Host' header."));
            }
            signed_values.push(("host", host));
            continue;
        }
        let mut present = false;
        for value in headers.get_all(name.as_str()) {
            let value = value
                .to_str()
                .map_err(|_| invalid_signature(format!("The '{name}' header is not valid ASCII text.")))?;
            signed_values.push((name.as_str(), value));
            present = true;
        }
        if !present {
            return Err(invalid_signature(format!(
                "The header '{name}' is listed in SignedHeaders but missing from the request."
            )));
        }
    }

    let canonical = sigv4::canonical_request(method, path, "", &signed_values, &auth.signed_headers, &payload_hash);
    let expected = sigv4::signature(
        &principal.secret_access_key,
        amz_date,
        &auth.date,
        &auth.region,
        &auth.service,
        &canonical,
    );
    if !sigv4::constant_time_eq(&expected, &auth.signature) {
        return Err(invalid_signature(MSG_SIGNATURE_MISMATCH));
    }
    Ok(principal.caller.clone())
}

// ---------------------------------------------------------------------------
// The tower layer
// ---------------------------------------------------------------------------

/// Headers an AWS JSON request must sign (name, as AWS spells it): the
/// operation is chosen by `X-Amz-Target`, so an unsigned one would let a
/// captured DescribeKey be replayed as ScheduleKeyDeletion. botocore, the
/// AWS SDKs, aws-cli and tern's own clients sign both.
const JSON_MUST_SIGN: &[(&str, &str)] = &[("content-type", "Content-Type"), ("x-amz-target", "X-Amz-Target")];

/// The one place a request's context is built, for both protocols: the
/// verified caller, the peer's address, whether the request came over TLS
/// (`aws:SecureTransport`) and the user agent.
pub fn request_context(caller: Caller, parts: &http::request::Parts) -> RequestContext {
    let tls = parts.extensions.get::<TlsConnectInfo<TcpConnectInfo>>();
    let tcp = parts
        .extensions
        .get::<TcpConnectInfo>()
        .or_else(|| tls.map(|t| t.get_ref()));
    let mut ctx = RequestContext::new(caller);
    ctx.source_ip = tcp.and_then(|i| i.remote_addr()).map(|a| a.ip().to_string());
    ctx.secure_transport = tls.is_some();
    ctx.user_agent = parts
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Kept as sent (a non-ASCII value as a string that fails validation);
    // a write that uses it checks it.
    ctx.idempotency_token = parts
        .headers
        .get(tern_service::caller::IDEMPOTENCY_TOKEN_HEADER)
        .map(|v| v.to_str().unwrap_or("\u{fffd}").to_string());
    ctx
}

/// A tower layer for `tonic::transport::Server::builder().layer(..)` that
/// authenticates every request with [`verify`], puts its [`RequestContext`]
/// in the request extensions (handlers read
/// `request.extensions().get::<RequestContext>()`),
/// and answers failures itself with a gRPC error (`UNAUTHENTICATED` and the
/// exception name in `x-amzn-errortype`) without calling the inner service.
#[derive(Clone)]
pub struct SigV4AuthLayer {
    shared: Arc<Shared>,
}

/// The principals in force. Replaced whole when the principals file is
/// reloaded (`tern serve` on SIGHUP); each request reads it once.
#[derive(Clone)]
pub struct Principals(Arc<std::sync::RwLock<Arc<PrincipalRegistry>>>);

impl fmt::Debug for Principals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Principals({} access keys)", self.current().len())
    }
}

impl Principals {
    pub fn new(registry: Arc<PrincipalRegistry>) -> Self {
        Principals(Arc::new(std::sync::RwLock::new(registry)))
    }

    /// The registry in force now.
    pub fn current(&self) -> Arc<PrincipalRegistry> {
        match self.0.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `registry` in force for every request from now on.
    pub fn replace(&self, registry: PrincipalRegistry) {
        let registry = Arc::new(registry);
        match self.0.write() {
            Ok(mut r) => *r = registry,
            Err(poisoned) => *poisoned.into_inner() = registry,
        }
    }
}

struct Shared {
    registry: Principals,
    region: String,
    clock: Clock,
    /// gRPC services (`/<name>/`) let through unauthenticated.
    unauthenticated: Vec<String>,
    budget: BodyBudget,
    /// The client port's edge: told when a request starts and ends on a
    /// connection (its header-read and idle timeouts).
    edge: Option<Arc<crate::edge::Edge>>,
    /// How long a request may take, authentication included; then
    /// DependencyTimeoutException.
    request_timeout: Option<std::time::Duration>,
}

/// One node-wide budget of body bytes held by requests whose signature is
/// not checked yet: a request takes its bytes as they arrive and gives them
/// back once it is authenticated (or refused). Over budget, a request waits
/// at most `wait` for room and then gets ThrottlingException; a body that
/// does not arrive within `read_timeout` gets ValidationException. So what
/// unauthenticated peers can make a node hold is bounded, and never queued
/// without bound.
#[derive(Clone)]
pub struct BodyBudget {
    bytes: Arc<tokio::sync::Semaphore>,
    total: usize,
    wait: std::time::Duration,
    read_timeout: std::time::Duration,
}

impl fmt::Debug for BodyBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyBudget")
            .field("total", &self.total)
            .field("available", &self.available())
            .field("wait", &self.wait)
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

impl BodyBudget {
    /// `total` bytes at once (at least two maximal bodies), a request waiting
    /// at most `wait` for room, and a body due within `read_timeout`.
    pub fn new(total: usize, wait: std::time::Duration, read_timeout: std::time::Duration) -> Self {
        let total = total.clamp(2 * MAX_BODY_BYTES, tokio::sync::Semaphore::MAX_PERMITS);
        BodyBudget {
            bytes: Arc::new(tokio::sync::Semaphore::new(total)),
            total,
            wait,
            read_timeout,
        }
    }

    /// Bytes of the budget free now.
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }
}

impl Default for BodyBudget {
    fn default() -> Self {
        let l = crate::Limits::default();
        l.body_budget()
    }
}

impl SigV4AuthLayer {
    /// The principals this layer checks against (replace them to reload).
    pub fn principals(&self) -> Principals {
        self.shared.registry.clone()
    }

    /// Authenticates against `registry` for requests to `region`, at the
    /// system time.
    pub fn new(registry: Arc<PrincipalRegistry>, region: impl Into<String>) -> Self {
        SigV4AuthLayer {
            shared: Arc::new(Shared {
                registry: Principals::new(registry),
                region: region.into(),
                clock: Arc::new(system_clock),
                unauthenticated: Vec::new(),
                budget: BodyBudget::default(),
                edge: None,
                request_timeout: None,
            }),
        }
    }

    /// Uses `clock` for the skew check instead of the system time.
    pub fn with_clock(self, clock: Clock) -> Self {
        self.map_shared(|s| s.clock = clock)
    }

    /// Lets requests to the gRPC service `service` (its full name, e.g.
    /// `grpc.health.v1.Health`) through without authentication and without a
    /// [`Caller`].
    pub fn allow_unauthenticated(self, service: &str) -> Self {
        let prefix = format!("/{service}/");
        self.map_shared(|s| s.unauthenticated.push(prefix))
    }

    /// Tells `edge` when requests start and end on its connections.
    pub fn with_edge(self, edge: Arc<crate::edge::Edge>) -> Self {
        self.map_shared(|s| s.edge = Some(edge))
    }

    /// Answers a request still running after `timeout` with
    /// DependencyTimeoutException (a Multi-Region write's outcome is then
    /// unknown; its idempotency token makes a retry safe).
    pub fn with_request_timeout(self, timeout: std::time::Duration) -> Self {
        self.map_shared(|s| s.request_timeout = Some(timeout))
    }

    /// Uses `budget` for not-yet-authenticated request bodies.
    pub fn with_body_budget(self, budget: BodyBudget) -> Self {
        self.map_shared(|s| s.budget = budget)
    }

    fn map_shared(self, f: impl FnOnce(&mut Shared)) -> Self {
        let mut shared = Shared {
            registry: self.shared.registry.clone(),
            region: self.shared.region.clone(),
            clock: self.shared.clock.clone(),
            unauthenticated: self.shared.unauthenticated.clone(),
            budget: self.shared.budget.clone(),
            edge: self.shared.edge.clone(),
            request_timeout: self.shared.request_timeout,
        };
        f(&mut shared);
        SigV4AuthLayer {
            shared: Arc::new(shared),
        }
    }
}

impl fmt::Debug for SigV4AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4AuthLayer")
            .field("region", &self.shared.region)
            .field("principals", &self.shared.registry.current().len())
            .field("unauthenticated", &self.shared.unauthenticated)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for SigV4AuthLayer {
    type Service = SigV4AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SigV4AuthService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`SigV4AuthLayer`] makes.
#[derive(Clone)]
pub struct SigV4AuthService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for SigV4AuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4AuthService")
            .field("inner", &self.inner)
            .field("region", &self.shared.region)
            .finish_non_exhaustive()
    }
}

/// A failure in the request's own protocol: a gRPC status, or an AWS JSON
/// `{"__type", "message"}` with its HTTP status.
fn error_response(e: &KmsError, grpc: bool) -> http::Response<BoxBody> {
    if grpc {
        status_from_error(e).into_http()
    } else {
        crate::json_api::error_response(e)
    }
}

/// What reading a request body came to.
enum BodyRead {
    /// The body, and its bytes of the unauthenticated budget (given back
    /// when dropped).
    Whole(Bytes, Option<tokio::sync::OwnedSemaphorePermit>),
    TooLarge,
    /// No room in the budget within its wait.
    Throttled,
    /// The body did not arrive within the read timeout.
    TimedOut,
}

/// Reads a request body of at most `MAX_BODY_BYTES`, taking its bytes from
/// `budget` as they arrive. A larger body is still read and discarded (up
/// to `DRAIN_LIMIT_BYTES`, for at most `DRAIN_TIMEOUT`, holding no budget)
/// so that an HTTP/1.1 client still writing it receives the error instead
/// of a reset connection.
async fn read_bounded<B>(
    body: B,
    budget: &BodyBudget,
    conn: Option<&crate::edge::RequestGuard>,
) -> Result<BodyRead, BoxError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let too_large_already = body.size_hint().lower() > MAX_BODY_BYTES as u64;
    let mut body = std::pin::pin!(body);
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    let mut held: Option<tokio::sync::OwnedSemaphorePermit> = None;
    let mut throttled = false;
    let read = async {
        loop {
            // (The frame's error type need not be Send: it is converted
            // before the next await.)
            let data = match body.frame().await {
                None => break,
                Some(frame) => frame.map_err(Into::<BoxError>::into)?.into_data().ok(),
            };
            if let Some(data) = data {
                seen = seen.saturating_add(data.len());
                if seen <= MAX_BODY_BYTES {
                    if !too_large_already && !data.is_empty() {
                        // The connection's share first: over it, at once.
                        if conn.is_some_and(|c| !c.hold_body(data.len())) {
                            throttled = true;
                            return Ok(());
                        }
                        let n = u32::try_from(data.len()).unwrap_or(u32::MAX);
                        let room = budget.bytes.clone().acquire_many_owned(n);
                        match tokio::time::timeout(budget.wait, room).await {
                            Ok(Ok(p)) => match held.as_mut() {
                                Some(h) => h.merge(p),
                                None => held = Some(p),
                            },
                            _ => {
                                throttled = true;
                                return Ok(());
                            }
                        }
                    }
                    buf.extend_from_slice(&data);
                } else {
                    // Over the maximum: what was buffered is dropped at once.
                    held = None;
                    buf = bytes::BytesMut::new();
                    if seen > DRAIN_LIMIT_BYTES {
                        break;
                    }
                }
            }
        }
        Ok::<(), BoxError>(())
    };
    if too_large_already {
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, read).await;
        return Ok(BodyRead::TooLarge);
    }
    match tokio::time::timeout(budget.read_timeout, read).await {
        Err(_) => return Ok(BodyRead::TimedOut),
        Ok(r) => r?,
    }
    if throttled {
        static LAST_LOG: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        crate::edge::log_refusal(&LAST_LOG, *EPOCH.get_or_init(std::time::Instant::now), || {
            tracing::warn!(
                budget_bytes = budget.total,
                wait_ms = budget.wait.as_millis() as u64,
                "requests throttled: the budget for unauthenticated request bodies, or one connection's share of it, \
                 is used up (many large or slow requests at once; raise [limits] unauthenticated_body_bytes \
                 or unauthenticated_body_bytes_per_connection if this is real load)"
            );
        });
        return Ok(BodyRead::Throttled);
    }
    Ok(if seen <= MAX_BODY_BYTES {
        BodyRead::Whole(buf.freeze(), held)
    } else {
        BodyRead::TooLarge
    })
}

/// How much of an oversized body is read (and discarded) before answering.
const DRAIN_LIMIT_BYTES: usize = 16 << 20;
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn too_large() -> KmsError {
    KmsError::validation(format!(
        "The request body is larger than the maximum of {MAX_BODY_BYTES} bytes."
    ))
}

impl<S, B> Service<http::Request<B>> for SigV4AuthService<S>
where
    S: Service<http::Request<BoxBody>, Response = http::Response<BoxBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<BoxBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        // Use the service that was polled ready; leave a fresh clone behind.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            // Only this layer may say who the caller is.
            parts.extensions.remove::<RequestContext>();
            let grpc = crate::json_api::is_grpc(&parts.headers);
            let _in_flight = shared
                .edge
                .as_ref()
                .and_then(|edge| edge.request_started(remote_addr(&parts)?));
            let Some(timeout) = shared.request_timeout else {
                return authenticate_and_call(shared, inner, parts, body, grpc, _in_flight.as_ref()).await;
            };
            let call = authenticate_and_call(shared.clone(), inner, parts, body, grpc, _in_flight.as_ref());
            match tokio::time::timeout(timeout, call).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::warn!(timeout_ms = timeout.as_millis() as u64,
                        "a request ran past the request timeout ([limits] request_timeout_ms) and was answered DependencyTimeoutException");
                    Ok(error_response(
                        &KmsError::new(
                            ErrorKind::DependencyTimeoutException,
                            format!(
                                "The request did not complete within {} ms. Its outcome is unknown; retrying with the same idempotency token is safe.",
                                timeout.as_millis()
                            ),
                        ),
                        grpc,
                    ))
                }
            }
        })
    }
}

/// The remote address of the connection a request arrived on.
fn remote_addr(parts: &http::request::Parts) -> Option<std::net::SocketAddr> {
    match parts.extensions.get::<TlsConnectInfo<TcpConnectInfo>>() {
        Some(tls) => tls.get_ref().remote_addr,
        None => parts.extensions.get::<TcpConnectInfo>()?.remote_addr,
    }
}

/// Reads and authenticates a request, then calls `inner` with its caller.
async fn authenticate_and_call<S, B>(
    shared: Arc<Shared>,
    mut inner: S,
    mut parts: http::request::Parts,
    body: B,
    grpc: bool,
    conn: Option<&crate::edge::RequestGuard>,
) -> Result<http::Response<BoxBody>, S::Error>
where
    S: Service<http::Request<BoxBody>, Response = http::Response<BoxBody>> + Send + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    if shared
        .unauthenticated
        .iter()
        .any(|p| parts.uri.path().starts_with(p.as_str()))
    {
        let body = body.map_err(|e| tonic::Status::from_error(e.into())).boxed_unsync();
        return inner.call(http::Request::from_parts(parts, body)).await;
    }

    let (body, _budget_held) = match read_bounded(body, &shared.budget, conn).await {
        Ok(BodyRead::Whole(bytes, held)) => (bytes, held),
        Ok(BodyRead::TooLarge) => return Ok(error_response(&too_large(), grpc)),
        Ok(BodyRead::Throttled) => {
            return Ok(error_response(
                &KmsError::new(ErrorKind::ThrottlingException, "Rate exceeded"),
                grpc,
            ))
        }
        Ok(BodyRead::TimedOut) => {
            return Ok(error_response(
                &KmsError::validation(format!(
                    "The request body was not received within {} ms.",
                    shared.budget.read_timeout.as_millis()
                )),
                grpc,
            ))
        }
        Err(e) => {
            tracing::debug!(error = %e, "cannot read a request body");
            return Ok(error_response(
                &KmsError::validation("The request body could not be read."),
                grpc,
            ));
        }
    };

    let host = match parts.uri.authority() {
        Some(a) => a.as_str(),
        None => parts.headers.get(HOST).and_then(|v| v.to_str().ok()).unwrap_or(""),
    };
    let verified = verify(
        &shared.registry.current(),
        &shared.region,
        parts.method.as_str(),
        parts.uri.path(),
        host,
        &parts.headers,
        &body,
        (shared.clock)(),
        if grpc { &[] } else { JSON_MUST_SIGN },
    );
    // Authenticated or refused: the body's budget goes back.
    drop(_budget_held);
    if let Some(c) = conn {
        c.release_body();
    }
    match verified {
        Ok(caller) => {
            let ctx = request_context(caller, &parts);
            parts.extensions.insert(ctx);
            let body = Full::new(body).map_err(|never| match never {}).boxed_unsync();
            inner.call(http::Request::from_parts(parts, body)).await
        }
        Err(e) => {
            tracing::debug!(
                path = parts.uri.path(),
                error_type = e.kind.as_str(),
                message = %e.message,
                "request not authenticated"
            );
            Ok(error_response(&e, grpc))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use std::convert::Infallible;

    const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const ROOT_AKID: &str = "AKIAI44QH8DHBEXAMPLE";
    const REGION: &str = "us-west-2";
    const HOST_: &str = "127.0.0.1:7070";
    const PATH: &str = "/tern.kms.v1.KeyManagementService/Encrypt";
    const T: &str = "20240102T030405Z";

    fn registry() -> PrincipalRegistry {
        PrincipalRegistry::from_toml(&format!(
            r#"
            [[accounts]]
            id = "111122223333"
            [[accounts.users]]
            name = "admin"
            access_key_id = "{AKID}"
            secret_access_key = "{SECRET}"
            [[accounts.users]]
            name = "root"
            access_key_id = "{ROOT_AKID}"
            secret_access_key = "another-secret"
            "#
        ))
        .unwrap()
    }

    fn now() -> UnixMillis {
        sigv4::parse_amz_date(T).unwrap()
    }

    /// Headers of a request signed the way tern-client signs.
    fn sign(akid: &str, secret: &str, region: &str, host: &str, amz_date: &str, body: &[u8]) -> HeaderMap {
        let hash = sigv4::sha256_hex(body);
        let signed: Vec<String> = ["host", "x-amz-content-sha256", "x-amz-date"]
            .map(String::from)
            .to_vec();
        let canonical = sigv4::canonical_request(
            "POST",
            PATH,
            "",
            &[
                ("host", host),
                ("x-amz-content-sha256", &hash),
                ("x-amz-date", amz_date),
            ],
            &signed,
            &hash,
        );
        let date = &amz_date[..8];
        let sig = sigv4::signature(secret, amz_date, date, region, "kms", &canonical);
        let auth = sigv4::authorization_header(akid, &format!("{date}/{region}/kms/aws4_request"), &signed, &sig);
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        h.insert("x-amz-date", HeaderValue::from_str(amz_date).unwrap());
        h.insert("x-amz-content-sha256", HeaderValue::from_str(&hash).unwrap());
        h
    }

    fn check(headers: &HeaderMap, body: &[u8]) -> Result<Caller, KmsError> {
        verify(&registry(), REGION, "POST", PATH, HOST_, headers, body, now(), &[])
    }

    fn assert_err(r: Result<Caller, KmsError>, kind: ErrorKind, message_starts: &str) {
        let e = r.unwrap_err();
        assert_eq!(e.kind, kind, "{e}");
        assert!(e.message.starts_with(message_starts), "{e}");
    }

    const BODY: &[u8] = b"\0\0\0\0\x03\x0a\x01x";

    #[test]
    fn accepts_a_good_signature() {
        let caller = check(&sign(AKID, SECRET, REGION, HOST_, T, BODY), BODY).unwrap();
        assert_eq!(caller.arn, "arn:aws:iam::111122223333:user/admin");
        assert_eq!(caller.kind, PrincipalKind::IamUser);
        assert_eq!(caller.account.as_str(), "111122223333");
        assert_eq!(caller.access_key_id, AKID);
        assert!(caller.principal_id.starts_with("AIDA") && caller.principal_id.len() == 21);
        assert_eq!(caller.principal_id, caller.principal_id.to_ascii_uppercase());

        let root = check(&sign(ROOT_AKID, "another-secret", REGION, HOST_, T, b""), b"").unwrap();
        assert_eq!(root.arn, "arn:aws:iam::111122223333:root");
        assert_eq!(root.kind, PrincipalKind::Root);
        assert_eq!(root.principal_id, "111122223333");
    }

    /// Signs `extra` headers too (name, value), as botocore does.
    fn sign_with(extra: &[(&str, &str)], body: &[u8]) -> HeaderMap {
        let payload = sigv4::sha256_hex(body);
        let mut signed: Vec<(&str, &str)> = vec![("host", HOST_), (X_AMZ_CONTENT_SHA256, &payload), (X_AMZ_DATE, T)];
        signed.extend_from_slice(extra);
        signed.sort();
        let names: Vec<String> = signed.iter().map(|(n, _)| n.to_string()).collect();
        let canonical = sigv4::canonical_request("POST", "/", "", &signed, &names, &payload);
        let signature = sigv4::signature(SECRET, T, "20240102", REGION, SERVICE, &canonical);
        let scope = format!("20240102/{REGION}/{SERVICE}/aws4_request");
        let mut h = HeaderMap::new();
        for (n, v) in &signed {
            if *n != "host" {
                h.insert(
                    http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
        }
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&sigv4::authorization_header(AKID, &scope, &names, &signature)).unwrap(),
        );
        h
    }

    fn check_json(h: &HeaderMap, body: &[u8]) -> Result<Caller, KmsError> {
        verify(&registry(), REGION, "POST", "/", HOST_, h, body, now(), JSON_MUST_SIGN)
    }

    /// A JSON request names its operation in X-Amz-Target: it must be
    /// signed, or a captured request could be replayed as another operation.
    #[test]
    fn json_requests_must_sign_the_operation() {
        let body = br#"{"KeyId":"alias/x"}"#;
        let ct = ("content-type", "application/x-amz-json-1.1");
        let target = ("x-amz-target", "TrentService.DescribeKey");
        let mut h = sign_with(&[ct, target], body);
        check_json(&h, body).unwrap();

        // The same signed request, replayed with another operation.
        h.insert(
            "x-amz-target",
            HeaderValue::from_static("TrentService.ScheduleKeyDeletion"),
        );
        assert_err(
            check_json(&h, body),
            ErrorKind::InvalidSignatureException,
            MSG_SIGNATURE_MISMATCH,
        );

        // Signed without the target: refused before the signature is checked.
        let mut h = sign_with(&[ct], body);
        h.insert(
            "x-amz-target",
            HeaderValue::from_static("TrentService.ScheduleKeyDeletion"),
        );
        assert_err(
            check_json(&h, body),
            ErrorKind::InvalidSignatureException,
            "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.",
        );
        // ... and without the content type.
        let mut h = sign_with(&[target], body);
        h.insert("content-type", HeaderValue::from_static("application/x-amz-json-1.1"));
        assert_err(
            check_json(&h, body),
            ErrorKind::InvalidSignatureException,
            "'Content-Type' must be a 'SignedHeader' in the AWS Authorization.",
        );
    }

    #[test]
    fn accepts_skew_up_to_five_minutes() {
        let h = sign(AKID, SECRET, REGION, HOST_, T, BODY);
        for skew in [-MAX_CLOCK_SKEW_MILLIS, MAX_CLOCK_SKEW_MILLIS] {
            verify(
                &registry(),
                REGION,
                "POST",
                PATH,
                HOST_,
                &h,
                BODY,
                now().plus_millis(skew),
                &[],
            )
            .unwrap();
        }
    }

    #[test]
    fn rejects_a_wrong_secret() {
        assert_err(
            check(&sign(AKID, "not-the-secret", REGION, HOST_, T, BODY), BODY),
            ErrorKind::InvalidSignatureException,
            MSG_SIGNATURE_MISMATCH,
        );
    }

    #[test]
    fn rejects_an_unknown_access_key() {
        assert_err(
            check(&sign("AKIAUNKNOWNEXAMPLE00", SECRET, REGION, HOST_, T, BODY), BODY),
            ErrorKind::UnrecognizedClientException,
            MSG_INVALID_TOKEN,
        );
    }

    #[test]
    fn rejects_a_missing_authorization() {
        let mut h = sign(AKID, SECRET, REGION, HOST_, T, BODY);
        h.remove("authorization");
        assert_err(
            check(&h, BODY),
            ErrorKind::UnrecognizedClientException,
            MSG_INVALID_TOKEN,
        );
    }

    #[test]
    fn rejects_malformed_authorization() {
        let mut h = sign(AKID, SECRET, REGION, HOST_, T, BODY);
        h.insert("authorization", HeaderValue::from_static("Basic dXNlcjpwYXNz"));
        assert_err(
            check(&h, BODY),
            ErrorKind::InvalidSignatureException,
            "Unsupported Authorization type",
        );
        h.insert(
            "authorization",
            HeaderValue::from_static("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00"),
        );
        assert_err(
            check(&h, BODY),
            ErrorKind::InvalidSignatureException,
            "Authorization header requires 'Credential'",
        );
        h.insert(
            "authorization",
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AK/20240102/us-west-2/kms, SignedHeaders=host, Signature=00",
            ),
        );
        assert_err(
            check(&h, BODY),
            ErrorKind::InvalidSignatureException,
            "Credential must have exactly 5",
        );
    }

    #[test]
    fn rejects_a_wrong_region_or_service() {
        assert_err(
            check(&sign(AKID, SECRET, "us-east-1", HOST_, T, BODY), BODY),
            ErrorKind::InvalidSignatureException,
            "Credential should be scoped to a valid region. ",
        );
        let mut h = sign(AKID, SECRET, REGION, HOST_, T, BODY);
        let auth = h["authorization"].to_str().unwrap().replace("/kms/", "/s3/");
        h.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        assert_err(
            check(&h, BODY),
            ErrorKind::InvalidSignatureException,
            "Credential should be scoped to correct service: 'kms'. ",
        );
    }

    #[test]
    fn rejects_skew_over_five_minutes() {
        let h = sign(AKID, SECRET, REGION, HOST_, T, BODY);
        let late = now().plus_millis(MAX_CLOCK_SKEW_MILLIS + 1000);
        assert_err(
            verify(&registry(), REGION, "POST", PATH, HOST_, &h, BODY, late, &[]),
            ErrorKind::InvalidSignatureException,
            "Signature expired: 20240102T030405Z is now earlier than 20240102T030406Z (20240102T030906Z - 5 min.)",
        );
        let early = now().plus_millis(-MAX_CLOCK_SKEW_MILLIS - 1000);
        assert_err(
            verify(&registry(), REGION, "POST", PATH, HOST_, &h, BODY, early, &[]),
            ErrorKind::InvalidSignatureException,
            "Signature not yet current: 20240102T030405Z is still later than 20240102T030404Z",
        );
    }

    #[test]
    fn rejects_date_problems() {
        let mut h = sign(AKID, SECRET, REGION, HOST_, T, BODY);
        h.remove("x-amz-date");
        assert_err(
            check(&h, BODY),
            ErrorKind::InvalidSignatureException,
            "Authorization header requires existence",
        );
        h.insert("x-amz-date", HeaderValue::from_static("2024-01-02"));
        assert_err(
            check(&h, BODY),
            ErrorKind::InvalidSignatureException,
            "Date must be in ISO-8601 'basic format'",
        );
        // Scope date of the day before, x-amz-date of today.
        h.insert("x-amz-date", HeaderValue::from_static(T));
        let auth = h["authorization"].to_str().unwrap().replace("/20240102/", "/20240101/");
        h.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        assert_err(
            check(&h, BODY),
            ErrorKind::InvalidSignatureException,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20240101' != '20240102', from '20240102T030405Z'.",
        );
    }

    #[test]
    fn rejects_a_tampered_body() {
        let h = sign(AKID, SECRET, REGION, HOST_, T, BODY);
        assert_err(
            check(&h, b"\0\0\0\0\x03\x0a\x01y"),
            ErrorKind::InvalidSignatureException,
            "The provided 'x-amz-content-sha256' header does not match",
        );
        // Tampered body and hash header: the signature covers the hash.
        let mut h2 = h.clone();
        let forged = sigv4::sha256_hex(b"other");
        h2.insert("x-amz-content-sha256", HeaderValue::from_str(&forged).unwrap());
        assert_err(
            check(&h2, b"other"),
            ErrorKind::InvalidSignatureException,
            MSG_SIGNATURE_MISMATCH,
        );
        // Hash header dropped although signed.
        let mut h3 = h.clone();
        h3.remove("x-amz-content-sha256");
        assert_err(
            check(&h3, b"other"),
            ErrorKind::InvalidSignatureException,
            "The header 'x-amz-content-sha256'",
        );
    }

    #[test]
    fn binds_host_path_and_method() {
        let h = sign(AKID, SECRET, REGION, HOST_, T, BODY);
        let reg = registry();
        let cases = [
            ("POST", PATH, "127.0.0.1:7071"),
            ("POST", "/tern.kms.v1.KeyManagementService/Decrypt", HOST_),
            ("PUT", PATH, HOST_),
        ];
        for (method, path, host) in cases {
            assert_err(
                verify(&reg, REGION, method, path, host, &h, BODY, now(), &[]),
                ErrorKind::InvalidSignatureException,
                MSG_SIGNATURE_MISMATCH,
            );
        }
        assert_err(
            verify(&reg, REGION, "POST", PATH, "", &h, BODY, now(), &[]),
            ErrorKind::InvalidSignatureException,
            "The request has no 'Host' header.",
        );
    }

    #[test]
    fn host_and_date_must_be_signed() {
        let hash = sigv4::sha256_hex(BODY);
        for (signed, expected) in [
            (
                vec!["x-amz-content-sha256", "x-amz-date"],
                "'Host' must be a 'SignedHeader'",
            ),
            (
                vec!["host", "x-amz-content-sha256"],
                "'X-Amz-Date' must be a 'SignedHeader'",
            ),
        ] {
            let signed: Vec<String> = signed.into_iter().map(String::from).collect();
            let canonical = sigv4::canonical_request(
                "POST",
                PATH,
                "",
                &[("host", HOST_), ("x-amz-content-sha256", &hash), ("x-amz-date", T)],
                &signed,
                &hash,
            );
            let sig = sigv4::signature(SECRET, T, "20240102", REGION, "kms", &canonical);
            let auth = sigv4::authorization_header(AKID, &format!("20240102/{REGION}/kms/aws4_request"), &signed, &sig);
            let mut h = sign(AKID, SECRET, REGION, HOST_, T, BODY);
            h.insert("authorization", HeaderValue::from_str(&auth).unwrap());
            assert_err(check(&h, BODY), ErrorKind::InvalidSignatureException, expected);
        }
    }

    #[test]
    fn config_is_validated() {
        let user = |akid: &str| UserConfig {
            name: "alice".into(),
            access_key_id: akid.into(),
            secret_access_key: "s".into(),
            policies: vec![],
        };
        let config = |id: &str, users: Vec<UserConfig>| PrincipalsConfig {
            accounts: vec![AccountConfig { id: id.into(), users }],
        };
        assert_eq!(
            PrincipalRegistry::new(&config("1111", vec![])).unwrap_err(),
            PrincipalsError::InvalidAccountId("1111".into())
        );
        assert_eq!(
            PrincipalRegistry::new(&config("111122223333", vec![user(AKID), user(AKID)])).unwrap_err(),
            PrincipalsError::DuplicateAccessKeyId(AKID.into())
        );
        assert!(matches!(
            PrincipalRegistry::new(&config("111122223333", vec![user("short")])),
            Err(PrincipalsError::InvalidAccessKeyId(_))
        ));
        let mut bad_name = user(AKID);
        bad_name.name = "a/b".into();
        assert!(matches!(
            PrincipalRegistry::new(&config("111122223333", vec![bad_name])),
            Err(PrincipalsError::InvalidUserName { .. })
        ));
        let mut no_secret = user(AKID);
        no_secret.secret_access_key.clear();
        assert!(matches!(
            PrincipalRegistry::new(&config("111122223333", vec![no_secret])),
            Err(PrincipalsError::EmptySecret(_))
        ));
        assert!(matches!(
            PrincipalRegistry::from_toml("[[accounts]]\nid = \"111122223333\"\nbogus = 1\n"),
            Err(PrincipalsError::Parse(_))
        ));
        assert!(PrincipalRegistry::from_toml("").unwrap().is_empty());
        assert_eq!(registry().len(), 2);
    }

    #[test]
    fn debug_redacts_secrets() {
        let reg = registry();
        let shown = format!("{reg:?} {:?}", reg.get(AKID).unwrap());
        assert!(shown.contains(AKID));
        assert!(!shown.contains(SECRET) && !shown.contains("another-secret"));
        let u = UserConfig {
            name: "a".into(),
            access_key_id: AKID.into(),
            secret_access_key: SECRET.into(),
            policies: vec![],
        };
        assert!(!format!("{u:?}").contains(SECRET));
    }

    // The layer, around a service that records what it was called with.

    type Seen = Arc<std::sync::Mutex<Vec<(Option<Caller>, Bytes)>>>;

    fn forged_context() -> RequestContext {
        RequestContext::new(Caller {
            account: AccountId::parse("999999999999").unwrap(),
            arn: "arn:aws:iam::999999999999:root".into(),
            principal_id: "999999999999".into(),
            kind: PrincipalKind::Root,
            access_key_id: "AKIAFORGEDEXAMPLE000".into(),
            identity_policies: Default::default(),
        })
    }

    fn recording_service(
        seen: Seen,
    ) -> impl Service<
        http::Request<BoxBody>,
        Response = http::Response<BoxBody>,
        Error = Infallible,
        Future = impl Future + Send,
    > + Clone
           + Send
           + 'static {
        tower::service_fn(move |req: http::Request<BoxBody>| {
            let seen = seen.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                seen.lock()
                    .unwrap()
                    .push((parts.extensions.get::<RequestContext>().map(|c| c.caller.clone()), body));
                Ok::<_, Infallible>(http::Response::new(tonic::body::empty_body()))
            }
        })
    }

    fn request(headers: HeaderMap, body: Bytes) -> http::Request<Full<Bytes>> {
        let mut req = http::Request::builder()
            .method("POST")
            .uri(format!("http://{HOST_}{PATH}"))
            .body(Full::new(body))
            .unwrap();
        *req.headers_mut() = headers;
        // A gRPC request unless the test says otherwise (content-type is not signed).
        if !req.headers().contains_key(http::header::CONTENT_TYPE) {
            req.headers_mut()
                .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        }
        req
    }

    fn layer() -> SigV4AuthLayer {
        SigV4AuthLayer::new(Arc::new(registry()), REGION).with_clock(Arc::new(now))
    }

    #[tokio::test]
    async fn layer_passes_the_caller_and_the_body() {
        let seen = Seen::default();
        let svc = layer().layer(recording_service(seen.clone()));
        let resp = tower::ServiceExt::oneshot(
            svc,
            request(sign(AKID, SECRET, REGION, HOST_, T, BODY), Bytes::from_static(BODY)),
        )
        .await
        .unwrap();
        assert!(resp.headers().get("grpc-status").is_none());
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0.as_ref().unwrap().arn, "arn:aws:iam::111122223333:user/admin");
        assert_eq!(seen[0].1, BODY);
    }

    #[tokio::test]
    async fn layer_answers_failures_itself() {
        let seen = Seen::default();
        let svc = layer().layer(recording_service(seen.clone()));
        let h = sign(AKID, "wrong", REGION, HOST_, T, BODY);
        let resp = tower::ServiceExt::oneshot(svc, request(h, Bytes::from_static(BODY)))
            .await
            .unwrap();
        assert_eq!(resp.status(), http::StatusCode::OK);
        assert_eq!(resp.headers()["grpc-status"], "16");
        assert_eq!(resp.headers()["x-amzn-errortype"], "InvalidSignatureException");
        let status = tonic::Status::from_header_map(resp.headers()).unwrap();
        assert_eq!(status.message(), MSG_SIGNATURE_MISMATCH);
        assert!(seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn layer_answers_json_requests_in_json() {
        let seen = Seen::default();
        let svc = layer().layer(recording_service(seen.clone()));
        let mut h = sign(AKID, "wrong", REGION, HOST_, T, BODY);
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        let resp = tower::ServiceExt::oneshot(svc, request(h, Bytes::from_static(BODY)))
            .await
            .unwrap();
        assert_eq!(resp.status(), http::StatusCode::BAD_REQUEST);
        assert!(resp.headers().get("grpc-status").is_none());
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["__type"], "InvalidSignatureException");
        assert_eq!(
            v["message"],
            "'Content-Type' must be a 'SignedHeader' in the AWS Authorization."
        );
        assert!(seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn layer_refuses_large_bodies() {
        let seen = Seen::default();
        let svc = layer().layer(recording_service(seen.clone()));
        let body = Bytes::from(vec![0u8; MAX_BODY_BYTES + 1]);
        let h = sign(AKID, SECRET, REGION, HOST_, T, &body);
        let resp = tower::ServiceExt::oneshot(svc, request(h, body)).await.unwrap();
        assert_eq!(resp.headers()["x-amzn-errortype"], "ValidationException");
        assert_eq!(resp.headers()["grpc-status"], "3");
        assert!(seen.lock().unwrap().is_empty());

        // Exactly the limit is fine (the signature is what fails here).
        let svc = layer().layer(recording_service(seen.clone()));
        let body = Bytes::from(vec![0u8; MAX_BODY_BYTES]);
        let h = sign(AKID, SECRET, REGION, HOST_, T, &body);
        let resp = tower::ServiceExt::oneshot(svc, request(h, body)).await.unwrap();
        assert!(resp.headers().get("grpc-status").is_none());
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn layer_strips_a_forged_caller_and_lets_allowed_services_through() {
        let seen = Seen::default();
        let svc = layer()
            .allow_unauthenticated("grpc.health.v1.Health")
            .layer(recording_service(seen.clone()));
        let forged = forged_context();
        let mut req = http::Request::builder()
            .method("POST")
            .uri(format!("http://{HOST_}/grpc.health.v1.Health/Check"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        req.extensions_mut().insert(forged);
        let resp = tower::ServiceExt::oneshot(svc.clone(), req).await.unwrap();
        assert!(resp.headers().get("grpc-status").is_none());
        assert_eq!(seen.lock().unwrap()[0].0, None);

        // Not the allowed service: unauthenticated requests are refused.
        let req = request(HeaderMap::new(), Bytes::new());
        let resp = tower::ServiceExt::oneshot(svc, req).await.unwrap();
        assert_eq!(resp.headers()["x-amzn-errortype"], "UnrecognizedClientException");
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    /// A body that sends `n` bytes and then stalls for ever.
    struct Stalling(Option<Bytes>);

    impl Body for Stalling {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
            match self.0.take() {
                Some(b) => Poll::Ready(Some(Ok(http_body::Frame::data(b)))),
                None => Poll::Pending,
            }
        }
    }

    /// Stalled bodies hold the unauthenticated budget only until they time
    /// out: while two of them fill it, a third request waits its bounded
    /// time and is throttled; once they time out (ValidationException)
    /// their bytes go back and a signed request passes.
    #[tokio::test]
    async fn stalled_bodies_hold_the_budget_only_until_they_time_out() {
        let budget = BodyBudget::new(
            0, // raised to its minimum, two maximal bodies
            std::time::Duration::from_millis(200),
            std::time::Duration::from_millis(1500),
        );
        assert_eq!(budget.available(), 2 * MAX_BODY_BYTES);
        let seen = Seen::default();
        let svc = layer()
            .with_body_budget(budget.clone())
            .layer(recording_service(seen.clone()));
        let stalled = |svc: SigV4AuthService<_>| {
            let body = Stalling(Some(Bytes::from(vec![0u8; MAX_BODY_BYTES])));
            let mut req = http::Request::builder()
                .method("POST")
                .uri(format!("http://{HOST_}{PATH}"))
                .header(http::header::CONTENT_TYPE, "application/grpc")
                .body(body)
                .unwrap();
            *req.headers_mut() = sign(AKID, SECRET, REGION, HOST_, T, b"never");
            tokio::spawn(tower::ServiceExt::oneshot(svc, req))
        };
        let (a, b) = (stalled(svc.clone()), stalled(svc.clone()));
        let started = std::time::Instant::now();
        // Wait (on the condition) until both hold their bytes.
        while budget.available() > 0 {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "budget never filled"
            );
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let resp = tower::ServiceExt::oneshot(
            svc.clone(),
            request(sign(AKID, SECRET, REGION, HOST_, T, BODY), Bytes::from_static(BODY)),
        )
        .await
        .unwrap();
        assert_eq!(resp.headers()["x-amzn-errortype"], "ThrottlingException");
        for stalled in [a, b] {
            let resp = stalled.await.unwrap().unwrap();
            assert_eq!(resp.headers()["x-amzn-errortype"], "ValidationException");
        }
        assert!(started.elapsed() >= std::time::Duration::from_millis(1500));
        assert_eq!(
            budget.available(),
            2 * MAX_BODY_BYTES,
            "the stalled bodies gave their bytes back"
        );
        let resp = tower::ServiceExt::oneshot(
            svc,
            request(sign(AKID, SECRET, REGION, HOST_, T, BODY), Bytes::from_static(BODY)),
        )
        .await
        .unwrap();
        assert!(resp.headers().get("x-amzn-errortype").is_none());
        assert_eq!(seen.lock().unwrap().len(), 1);
        assert_eq!(budget.available(), 2 * MAX_BODY_BYTES);
    }

    /// A request still running after the request timeout is answered
    /// DependencyTimeoutException in its own protocol.
    #[tokio::test]
    async fn a_request_past_its_timeout_gets_dependency_timeout() {
        let slow = tower::service_fn(|_req: http::Request<BoxBody>| async {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            Ok::<_, Infallible>(http::Response::new(tonic::body::empty_body()))
        });
        let svc = layer()
            .with_request_timeout(std::time::Duration::from_millis(200))
            .layer(slow);
        let started = std::time::Instant::now();
        let resp = tower::ServiceExt::oneshot(
            svc,
            request(sign(AKID, SECRET, REGION, HOST_, T, BODY), Bytes::from_static(BODY)),
        )
        .await
        .unwrap();
        assert_eq!(resp.headers()["x-amzn-errortype"], "DependencyTimeoutException");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
