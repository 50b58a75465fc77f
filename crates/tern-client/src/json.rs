//! A minimal AWS JSON 1.1 client: one HTTP/1.1 connection, every request
//! SigV4-signed as the AWS SDKs do. For tests and the JSON load generator;
//! applications use the AWS SDKs.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use crate::{system_clock, Credentials, Error, Signer};

/// One connection to a region's client port speaking AWS JSON 1.1.
pub struct JsonClient {
    sender: SendRequest<Full<Bytes>>,
    signer: Signer,
    host: String,
}

impl std::fmt::Debug for JsonClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonClient")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// An answer: the HTTP status and the body (the output members, or
/// `{"__type", "message"}`).
#[derive(Debug)]
pub struct JsonResponse {
    pub status: StatusCode,
    pub body: Bytes,
}

impl JsonResponse {
    /// The `__type` of an error answer.
    pub fn error_type(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v.get("__type")?.as_str().map(str::to_string)
    }
}

impl JsonClient {
    /// Connects to `http://host:port` (plaintext) for `region`.
    pub async fn connect(endpoint: &str, region: &str, creds: Credentials) -> Result<JsonClient, Error> {
        creds.validate()?;
        let invalid = |reason: &str| Error::InvalidEndpoint {
            endpoint: endpoint.to_string(),
            reason: reason.to_string(),
        };
        let uri: http::Uri = endpoint.parse().map_err(|_| invalid("not a URI"))?;
        if uri.scheme_str() != Some("http") {
            return Err(invalid("the JSON client speaks http:// only"));
        }
        let host = uri.authority().ok_or_else(|| invalid("no host"))?.as_str().to_string();
        let stream = tokio::net::TcpStream::connect(&host)
            .await
            .map_err(|e| invalid(&e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| invalid(&e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(JsonClient {
            sender,
            signer: Signer {
                region: region.to_string(),
                credentials: creds,
                host: Some(host.clone()),
                clock: std::sync::Arc::new(system_clock),
            },
            host,
        })
    }

    /// Signs with `clock` instead of the system clock (tests with a fake
    /// clock on the server).
    pub fn with_clock(mut self, clock: crate::Clock) -> Self {
        self.signer.clock = clock;
        self
    }

    /// Calls `TrentService.<operation>` with a JSON body.
    pub async fn call(&mut self, operation: &str, body: Bytes) -> Result<JsonResponse, Error> {
        self.call_with_token(operation, body, None).await
    }

    /// [`call`](Self::call) carrying an idempotency token
    /// ([`crate::IDEMPOTENCY_TOKEN_HEADER`]): send the same token on each
    /// retry of one request.
    pub async fn call_with_token(
        &mut self,
        operation: &str,
        body: Bytes,
        token: Option<&str>,
    ) -> Result<JsonResponse, Error> {
        let io = |e: &dyn std::fmt::Display| Error::InvalidEndpoint {
            endpoint: self.host.clone(),
            reason: e.to_string(),
        };
        let req = Request::post("/")
            .header(HOST, &self.host)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.1"))
            .header("x-amz-target", format!("TrentService.{operation}"));
        let req = match token {
            Some(t) => req.header(crate::IDEMPOTENCY_TOKEN_HEADER, t),
            None => req,
        };
        let req = req.body(()).map_err(|e| io(&e))?;
        let (mut parts, ()) = req.into_parts();
        self.signer.sign(&mut parts, &body).map_err(|e| io(&e))?;
        self.sender.ready().await.map_err(|e| io(&e))?;
        let resp = self
            .sender
            .send_request(Request::from_parts(parts, Full::new(body)))
            .await
            .map_err(|e| io(&e))?;
        let status = resp.status();
        let body = resp.into_body().collect().await.map_err(|e| io(&e))?.to_bytes();
        Ok(JsonResponse { status, body })
    }
}
