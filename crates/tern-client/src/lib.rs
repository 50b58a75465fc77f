//! tern-client: the Rust client for tern. It signs every gRPC call with
//! AWS Signature Version 4 (service `kms`, the node's region) exactly as the
//! server verifies it: POST, the gRPC path, an empty query, the signed headers
//! `host;x-amz-content-sha256;x-amz-date`, and the SHA-256 of the whole HTTP
//! request body (the 5-byte gRPC frame prefix and the protobuf message).
//!
//! [`SigV4Layer`] / [`SigV4Service`] do the signing as a tower middleware
//! around a [`Channel`]; [`connect`] and [`connect_lazy`] build a ready
//! [`KmsClient`]; [`error_kind`] reads the AWS exception name off a failed
//! call.
//!
//! Must never: send the secret access key anywhere (only signatures travel),
//! print it (its `Debug` is redacted), or panic on anything a peer or an
//! input can influence.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, HOST};
use http_body_util::{BodyExt, Full};
use tern_core::sigv4;
use tern_core::time::UnixMillis;
use tonic::body::BoxBody;
use tonic::transport::{Channel, Endpoint};
use tonic::Status;
use tower::{Layer, Service};

pub mod json;

/// The signing service name.
pub const SERVICE: &str = "kms";
/// The headers every request signs, sorted.
pub const SIGNED_HEADERS: [&str; 3] = ["host", "x-amz-content-sha256", "x-amz-date"];
/// The AWS JSON protocol's operation header; signed with `content-type`
/// whenever a request carries it.
const X_AMZ_TARGET: &str = "x-amz-target";
const CONTENT_TYPE: &str = "content-type";
/// The metadata entry carrying the AWS exception name of a failed call.
pub const ERROR_TYPE_HEADER: &str = "x-amzn-errortype";

const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";

/// The header carrying a request's idempotency token. tern derives a
/// Multi-Region write's replication request id from it, so a retry with
/// the same token gets the first attempt's outcome instead of rotating
/// twice or creating a second key. Send the same token on every retry of
/// one request ([`with_retries`] does).
pub const IDEMPOTENCY_TOKEN_HEADER: &str = "x-tern-idempotency-token";

/// A fresh idempotency token (32 hex characters from a v4 UUID).
pub fn idempotency_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `message` as a gRPC request carrying `token` in
/// [`IDEMPOTENCY_TOKEN_HEADER`] (signed with the rest).
pub fn idempotent<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    if let Ok(v) = tonic::metadata::MetadataValue::try_from(token) {
        req.metadata_mut().insert(IDEMPOTENCY_TOKEN_HEADER, v);
    }
    req
}

/// Whether a failed call may be retried with the same idempotency token:
/// tern answered DependencyTimeoutException (a Multi-Region write whose
/// outcome it could not learn in time, or no quorum), or the transport
/// failed before any answer.
pub fn is_retryable(status: &Status) -> bool {
    match error_kind(status) {
        Some(kind) => kind == "DependencyTimeoutException",
        None => status.code() == tonic::Code::Unavailable,
    }
}

/// How [`with_retries`] retries.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The pause after the first failure; doubled after each next one
    /// (with up to 50 % random jitter), up to `max_backoff`.
    pub first_backoff: std::time::Duration,
    pub max_backoff: std::time::Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 4,
            first_backoff: std::time::Duration::from_millis(200),
            max_backoff: std::time::Duration::from_secs(2),
        }
    }
}

/// Calls `call` with one fresh idempotency token, again with the same
/// token after each [retryable](is_retryable) failure, until it succeeds,
/// fails otherwise, or `retry.attempts` are spent:
///
/// ```ignore
/// let r = with_retries(&Retry::default(), |token| {
///     let mut c = client.clone();
///     async move { c.rotate_key_on_demand(idempotent(req, &token)).await }
/// })
/// .await?;
/// ```
pub async fn with_retries<T, F, Fut>(retry: &Retry, mut call: F) -> Result<T, Status>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let token = idempotency_token();
    let mut backoff = retry.first_backoff;
    let mut attempt = 1;
    loop {
        match call(token.clone()).await {
            Err(status) if attempt < retry.attempts.max(1) && is_retryable(&status) => {
                let jitter_ms = (uuid::Uuid::new_v4().as_u128() % (backoff.as_millis().max(1) / 2 + 1)) as u64;
                tokio::time::sleep(backoff + std::time::Duration::from_millis(jitter_ms)).await;
                backoff = (backoff * 2).min(retry.max_backoff);
                attempt += 1;
            }
            r => return r,
        }
    }
}

/// A boxed error, as tonic's transport expects from a service.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A clock: the current time in milliseconds since the Unix epoch.
pub type Clock = Arc<dyn Fn() -> UnixMillis + Send + Sync>;

/// The client for a tern region, signing every call.
pub type KmsClient = tern_proto::pb::key_management_service_client::KeyManagementServiceClient<SigV4Service<Channel>>;

/// Errors building a client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint { endpoint: String, reason: String },
    #[error("invalid credentials: {0}")]
    InvalidCredentials(&'static str),
    #[error("cannot connect: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// An access key pair. The secret is only ever used to derive signing keys.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl Credentials {
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
        }
    }

    /// The credentials an AWS tool would use: `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`, else the profile `AWS_PROFILE` (default
    /// `default`) of the shared-credentials file `AWS_SHARED_CREDENTIALS_FILE`
    /// (default `~/.aws/credentials`). The error says what was looked at.
    pub fn from_environment() -> Result<Credentials, String> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let (Some(id), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            return Ok(Credentials::new(id, secret));
        }
        let path = match var("AWS_SHARED_CREDENTIALS_FILE") {
            Some(p) => std::path::PathBuf::from(p),
            None => match var("HOME") {
                Some(h) => std::path::Path::new(&h).join(".aws").join("credentials"),
                None => return Err("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set and HOME is unknown".into()),
            },
        };
        let profile = var("AWS_PROFILE").unwrap_or_else(|| "default".into());
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set, and the shared-credentials file {} cannot be read: {e}",
                path.display()
            )
        })?;
        Self::from_shared_credentials(&text, &profile)
            .ok_or_else(|| format!("{} has no complete profile [{profile}]", path.display()))
    }

    /// One profile of an AWS shared-credentials (INI) file.
    pub fn from_shared_credentials(text: &str, profile: &str) -> Option<Credentials> {
        let (mut section, mut id, mut secret) = (String::new(), None, None);
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.trim().to_string();
                continue;
            }
            if section != profile {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                match k.trim() {
                    "aws_access_key_id" => id = Some(v.trim().to_string()),
                    "aws_secret_access_key" => secret = Some(v.trim().to_string()),
                    _ => {}
                }
            }
        }
        Some(Credentials::new(id?, secret?))
    }

    fn validate(&self) -> Result<(), Error> {
        if self.access_key_id.is_empty() || !self.access_key_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::InvalidCredentials(
                "the access key id must be non-empty and alphanumeric",
            ));
        }
        if self.secret_access_key.is_empty() {
            return Err(Error::InvalidCredentials("the secret access key must not be empty"));
        }
        Ok(())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// The system clock.
pub fn system_clock() -> UnixMillis {
    let ms = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    };
    UnixMillis(ms)
}

/// The AWS exception name of a failed call (`NotFoundException`, ...), read
/// from the `x-amzn-errortype` metadata entry.
pub fn error_kind(status: &Status) -> Option<&str> {
    status.metadata().get(ERROR_TYPE_HEADER).and_then(|v| v.to_str().ok())
}

/// What signing needs, shared by the clones of a service.
struct Signer {
    region: String,
    credentials: Credentials,
    /// The `:authority` the transport will send; when `None`, the request
    /// URI's authority (or its `host` header) is signed.
    host: Option<String>,
    clock: Clock,
}

impl Signer {
    /// Adds `x-amz-date`, `x-amz-content-sha256` and `authorization` to a
    /// request head whose body is `body`.
    /// Errors are a boxed [`Status`], which tonic hands to the caller as is.
    fn sign(&self, parts: &mut http::request::Parts, body: &[u8]) -> Result<(), BoxError> {
        let fail = |status: Status| -> BoxError { Box::new(status) };
        let host = match (&self.host, parts.uri.authority(), parts.headers.get(HOST)) {
            (Some(h), _, _) => h.clone(),
            (None, Some(a), _) => a.as_str().to_string(),
            (None, None, Some(h)) => h
                .to_str()
                .map_err(|_| fail(Status::invalid_argument("the host header is not valid ASCII")))?
                .to_string(),
            (None, None, None) => {
                return Err(fail(Status::invalid_argument(
                    "cannot sign the request: it names no host",
                )));
            }
        };
        let amz_date = sigv4::format_amz_date((self.clock)());
        let scope_date = amz_date
            .get(..8)
            .ok_or_else(|| fail(Status::internal("cannot sign the request: the clock is out of range")))?;
        let payload_hash = sigv4::sha256_hex(body);
        let mut headers = vec![
            ("host", host.as_str()),
            (X_AMZ_CONTENT_SHA256, payload_hash.as_str()),
            (X_AMZ_DATE, amz_date.as_str()),
        ];
        // An AWS JSON request names its operation in x-amz-target: sign it
        // and the content type, as the server requires (a replay must not
        // be able to change the operation). An idempotency token is signed
        // too, so nobody on the path can swap it.
        let mut extra: Vec<&str> = Vec::new();
        if parts.headers.contains_key(X_AMZ_TARGET) {
            extra.extend([CONTENT_TYPE, X_AMZ_TARGET]);
        }
        if parts.headers.contains_key(IDEMPOTENCY_TOKEN_HEADER) {
            extra.push(IDEMPOTENCY_TOKEN_HEADER);
        }
        for name in extra {
            let value = parts
                .headers
                .get(name)
                .ok_or_else(|| {
                    fail(Status::invalid_argument(format!(
                        "cannot sign the request: no {name} header"
                    )))
                })?
                .to_str()
                .map_err(|_| {
                    fail(Status::invalid_argument(format!(
                        "the {name} header is not valid ASCII"
                    )))
                })?;
            headers.push((name, value));
        }
        headers.sort_unstable();
        let signed: Vec<String> = headers.iter().map(|(h, _)| h.to_string()).collect();
        let canonical = sigv4::canonical_request(
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query().unwrap_or(""),
            &headers,
            &signed,
            &payload_hash,
        );
        let signature = sigv4::signature(
            &self.credentials.secret_access_key,
            &amz_date,
            scope_date,
            &self.region,
            SERVICE,
            &canonical,
        );
        let scope = format!("{scope_date}/{}/{SERVICE}/aws4_request", self.region);
        let authorization = sigv4::authorization_header(&self.credentials.access_key_id, &scope, &signed, &signature);

        let value = |s: &str| {
            HeaderValue::from_str(s).map_err(|_| {
                fail(Status::invalid_argument(
                    "cannot sign the request: invalid header value",
                ))
            })
        };
        parts.headers.insert(X_AMZ_DATE, value(&amz_date)?);
        parts.headers.insert(X_AMZ_CONTENT_SHA256, value(&payload_hash)?);
        let mut authorization = value(&authorization)?;
        authorization.set_sensitive(true);
        parts.headers.insert(AUTHORIZATION, authorization);
        Ok(())
    }
}

/// A tower layer signing every request with SigV4.
#[derive(Clone)]
pub struct SigV4Layer {
    signer: Arc<Signer>,
}

impl SigV4Layer {
    /// Signs for `region` with `credentials` at the system time. The host
    /// signed is the request URI's authority (or its `host` header) unless
    /// [`with_host`](Self::with_host) sets it.
    pub fn new(region: impl Into<String>, credentials: Credentials) -> Self {
        SigV4Layer {
            signer: Arc::new(Signer {
                region: region.into(),
                credentials,
                host: None,
                clock: Arc::new(system_clock),
            }),
        }
    }

    /// Signs `host` (the `:authority` the transport sends, e.g.
    /// `127.0.0.1:7070`) whatever the request URI says. Needed around a
    /// [`Channel`], which only fills in the authority below this layer.
    pub fn with_host(self, host: impl Into<String>) -> Self {
        self.map_signer(|s| s.host = Some(host.into()))
    }

    /// Signs with the time `clock` gives instead of the system time.
    pub fn with_clock(self, clock: Clock) -> Self {
        self.map_signer(|s| s.clock = clock)
    }

    fn map_signer(self, f: impl FnOnce(&mut Signer)) -> Self {
        let mut signer = Signer {
            region: self.signer.region.clone(),
            credentials: self.signer.credentials.clone(),
            host: self.signer.host.clone(),
            clock: self.signer.clock.clone(),
        };
        f(&mut signer);
        SigV4Layer {
            signer: Arc::new(signer),
        }
    }
}

impl fmt::Debug for SigV4Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Layer")
            .field("region", &self.signer.region)
            .field("credentials", &self.signer.credentials)
            .field("host", &self.signer.host)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for SigV4Layer {
    type Service = SigV4Service<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SigV4Service {
            inner,
            signer: self.signer.clone(),
        }
    }
}

/// The service [`SigV4Layer`] makes: buffers the request body, signs, and
/// forwards. Meant for unary calls (a streaming request body is read to its
/// end before anything is sent).
#[derive(Clone)]
pub struct SigV4Service<S> {
    inner: S,
    signer: Arc<Signer>,
}

impl<S> SigV4Service<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for SigV4Service<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Service")
            .field("inner", &self.inner)
            .field("region", &self.signer.region)
            .field("credentials", &self.signer.credentials)
            .finish_non_exhaustive()
    }
}

impl<S, ResBody> Service<http::Request<BoxBody>> for SigV4Service<S>
where
    S: Service<http::Request<BoxBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = http::Response<ResBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: http::Request<BoxBody>) -> Self::Future {
        // Use the service that was polled ready; leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let signer = self.signer.clone();
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let body: Bytes = body.collect().await.map_err(BoxError::from)?.to_bytes();
            signer.sign(&mut parts, &body)?;
            let body = Full::new(body).map_err(|never| match never {}).boxed_unsync();
            inner
                .call(http::Request::from_parts(parts, body))
                .await
                .map_err(Into::into)
        })
    }
}

/// How to trust a region's TLS client port (an `https://` endpoint).
#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// CA certificates (PEM) to trust, e.g. `tern init`'s `cluster-ca.pem`.
    pub ca_pem: Option<String>,
    /// Check the server's certificate for this name instead of the
    /// endpoint's host (when dialing an address the certificate does not name).
    pub domain: Option<String>,
}

fn endpoint_with(endpoint_uri: &str, tls: &Tls) -> Result<(Endpoint, String), Error> {
    let (ep, host) = endpoint(endpoint_uri)?;
    if !endpoint_uri.starts_with("https://") {
        return Ok((ep, host));
    }
    let Some(ca) = &tls.ca_pem else {
        return Err(Error::InvalidEndpoint {
            endpoint: endpoint_uri.to_string(),
            reason: "an https endpoint needs the CA that issued its certificate (--ca-bundle or AWS_CA_BUNDLE)".into(),
        });
    };
    let mut cfg = tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(ca));
    if let Some(d) = &tls.domain {
        cfg = cfg.domain_name(d.clone());
    }
    Ok((ep.tls_config(cfg)?, host))
}

fn endpoint(endpoint: &str) -> Result<(Endpoint, String), Error> {
    let invalid = |reason: &str| Error::InvalidEndpoint {
        endpoint: endpoint.to_string(),
        reason: reason.to_string(),
    };
    let uri: http::Uri = endpoint.parse().map_err(|_| invalid("not a URI"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(invalid("the scheme must be http or https")),
    }
    let host = uri.authority().ok_or_else(|| invalid("no host"))?.as_str().to_string();
    let ep = Endpoint::from_shared(endpoint.to_string()).map_err(|e| invalid(&e.to_string()))?;
    Ok((ep, host))
}

fn client(channel: Channel, host: String, region: &str, creds: Credentials) -> KmsClient {
    let svc = SigV4Layer::new(region, creds).with_host(host).layer(channel);
    KmsClient::new(svc)
}

/// Connects to a tern node (`http://127.0.0.1:7070`) of `region`, signing
/// every call with `creds`.
pub async fn connect(endpoint_uri: &str, region: &str, creds: Credentials) -> Result<KmsClient, Error> {
    creds.validate()?;
    let (ep, host) = endpoint(endpoint_uri)?;
    let channel = ep.connect().await?;
    Ok(client(channel, host, region, creds))
}

/// Like [`connect`], but connects on the first call. Must be called within a
/// tokio runtime.
pub fn connect_lazy(endpoint_uri: &str, region: &str, creds: Credentials) -> Result<KmsClient, Error> {
    connect_lazy_tls(endpoint_uri, region, creds, &Tls::default())
}

/// [`connect`] to an `http://` or `https://` endpoint, trusting `tls`.
pub async fn connect_tls(endpoint_uri: &str, region: &str, creds: Credentials, tls: &Tls) -> Result<KmsClient, Error> {
    creds.validate()?;
    let (ep, host) = endpoint_with(endpoint_uri, tls)?;
    let channel = ep.connect().await?;
    Ok(client(channel, host, region, creds))
}

/// [`connect_lazy`] to an `http://` or `https://` endpoint, trusting `tls`.
pub fn connect_lazy_tls(endpoint_uri: &str, region: &str, creds: Credentials, tls: &Tls) -> Result<KmsClient, Error> {
    creds.validate()?;
    let (ep, host) = endpoint_with(endpoint_uri, tls)?;
    let channel = ep.connect_lazy();
    Ok(client(channel, host, region, creds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    fn creds() -> Credentials {
        Credentials::new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    }

    #[test]
    fn debug_redacts_the_secret() {
        let c = creds();
        let shown = format!("{c:?} {:?}", SigV4Layer::new("us-east-1", c.clone()));
        assert!(shown.contains("AKIAIOSFODNN7EXAMPLE"));
        assert!(!shown.contains(&c.secret_access_key));
    }

    #[test]
    fn error_kind_reads_the_metadata() {
        let mut s = Status::not_found("Key 'x' does not exist");
        assert_eq!(error_kind(&s), None);
        s.metadata_mut().insert(
            ERROR_TYPE_HEADER,
            tonic::metadata::MetadataValue::from_static("NotFoundException"),
        );
        assert_eq!(error_kind(&s), Some("NotFoundException"));
    }

    #[test]
    fn endpoints_are_checked() {
        assert!(endpoint("http://127.0.0.1:7070").is_ok_and(|(_, h)| h == "127.0.0.1:7070"));
        assert!(endpoint("127.0.0.1:7070").is_err());
        assert!(endpoint("ftp://x").is_err());
        assert!(Credentials::new("", "s").validate().is_err());
        assert!(Credentials::new("AK/ID", "s").validate().is_err());
        assert!(Credentials::new("AKID", "").validate().is_err());
    }

    /// Without a host to sign the call fails with a `Status` tonic can hand
    /// back to the caller, and nothing is sent.
    #[tokio::test]
    async fn no_host_is_a_status_error() {
        let inner = tower::service_fn(|_: http::Request<BoxBody>| async {
            panic!("an unsigned request was sent");
            #[allow(unreachable_code)]
            Ok::<_, Infallible>(http::Response::new(()))
        });
        let mut svc = SigV4Layer::new("us-east-1", creds()).layer(inner);
        let req = http::Request::builder()
            .method("POST")
            .uri("/a/B")
            .body(tonic::body::empty_body())
            .unwrap();
        let err = tower::ServiceExt::ready(&mut svc)
            .await
            .unwrap()
            .call(req)
            .await
            .unwrap_err();
        let status = err.downcast_ref::<Status>().unwrap();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    }

    /// Signs a request and checks the headers against a signature computed
    /// independently from the same inputs.
    #[tokio::test]
    async fn signs_the_whole_body() {
        let seen: Arc<std::sync::Mutex<Option<http::Request<Bytes>>>> = Arc::default();
        let sink = seen.clone();
        let inner = tower::service_fn(move |req: http::Request<BoxBody>| {
            let sink = sink.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                *sink.lock().unwrap() = Some(http::Request::from_parts(parts, body));
                Ok::<_, Infallible>(http::Response::new(()))
            }
        });
        let t = sigv4::parse_amz_date("20150830T123600Z").unwrap();
        let layer = SigV4Layer::new("eu-west-1", creds())
            .with_host("127.0.0.1:7070")
            .with_clock(Arc::new(move || t));
        let mut svc = layer.layer(inner);
        let payload = Bytes::from_static(b"\0\0\0\0\x02\x08\x20");
        let req = http::Request::builder()
            .method("POST")
            .uri("/tern.kms.v1.KeyManagementService/GenerateRandom")
            .body(
                Full::new(payload.clone())
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            )
            .unwrap();
        tower::ServiceExt::ready(&mut svc)
            .await
            .unwrap()
            .call(req)
            .await
            .unwrap();

        let req = seen.lock().unwrap().take().unwrap();
        assert_eq!(req.body(), &payload);
        let h = req.headers();
        let hash = sigv4::sha256_hex(&payload);
        assert_eq!(h["x-amz-date"], "20150830T123600Z");
        assert_eq!(h["x-amz-content-sha256"], hash.as_str());
        let auth = sigv4::parse_authorization(h["authorization"].to_str().unwrap()).unwrap();
        assert_eq!(auth.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(auth.scope(), "20150830/eu-west-1/kms/aws4_request");
        assert_eq!(auth.signed_headers, SIGNED_HEADERS);
        let canonical = sigv4::canonical_request(
            "POST",
            "/tern.kms.v1.KeyManagementService/GenerateRandom",
            "",
            &[
                ("host", "127.0.0.1:7070"),
                ("x-amz-content-sha256", &hash),
                ("x-amz-date", "20150830T123600Z"),
            ],
            &auth.signed_headers,
            &hash,
        );
        let expected = sigv4::signature(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20150830T123600Z",
            "20150830",
            "eu-west-1",
            "kms",
            &canonical,
        );
        assert_eq!(auth.signature, expected);
    }

    #[tokio::test]
    async fn retries_reuse_one_token_and_stop_at_other_errors() {
        let retry = Retry {
            attempts: 4,
            first_backoff: std::time::Duration::from_millis(1),
            max_backoff: std::time::Duration::from_millis(2),
        };
        let timeout = || {
            let mut s = Status::unavailable("timed out");
            s.metadata_mut()
                .insert(ERROR_TYPE_HEADER, "DependencyTimeoutException".parse().unwrap());
            s
        };
        let seen = std::sync::Mutex::new(Vec::new());
        let r = with_retries(&retry, |token| {
            let n = {
                let mut v = seen.lock().unwrap();
                v.push(token);
                v.len()
            };
            async move {
                if n < 3 {
                    Err(timeout())
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(r.unwrap(), 3);
        let tokens = seen.lock().unwrap().clone();
        assert_eq!(tokens.len(), 3);
        assert!(tokens.iter().all(|t| *t == tokens[0] && t.len() == 32));

        // Another exception is final; so is the last attempt.
        let calls = std::sync::atomic::AtomicU32::new(0);
        let r: Result<(), Status> = with_retries(&retry, |_| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Err(Status::not_found("no such key")) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        calls.store(0, std::sync::atomic::Ordering::SeqCst);
        let r: Result<(), Status> = with_retries(&retry, |_| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { Err(timeout()) }
        })
        .await;
        assert_eq!(error_kind(&r.unwrap_err()), Some("DependencyTimeoutException"));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn the_idempotency_token_is_signed() {
        let seen: Arc<std::sync::Mutex<Option<http::request::Parts>>> = Arc::default();
        let sink = seen.clone();
        let inner = tower::service_fn(move |req: http::Request<BoxBody>| {
            let sink = sink.clone();
            async move {
                *sink.lock().unwrap() = Some(req.into_parts().0);
                Ok::<_, Infallible>(http::Response::new(()))
            }
        });
        let mut svc = SigV4Layer::new("eu-west-1", creds())
            .with_host("127.0.0.1:7070")
            .layer(inner);
        let req = http::Request::builder()
            .method("POST")
            .uri("/tern.kms.v1.KeyManagementService/RotateKeyOnDemand")
            .header(IDEMPOTENCY_TOKEN_HEADER, "abc-123")
            .body(Full::new(Bytes::new()).map_err(|never| match never {}).boxed_unsync())
            .unwrap();
        tower::ServiceExt::ready(&mut svc)
            .await
            .unwrap()
            .call(req)
            .await
            .unwrap();
        let parts = seen.lock().unwrap().take().unwrap();
        let auth = sigv4::parse_authorization(parts.headers["authorization"].to_str().unwrap()).unwrap();
        assert!(
            auth.signed_headers.iter().any(|h| h == IDEMPOTENCY_TOKEN_HEADER),
            "{:?}",
            auth.signed_headers
        );
    }
}
