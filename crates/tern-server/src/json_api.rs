//! The AWS JSON 1.1 API on the client port, beside gRPC: `POST /` with
//! `Content-Type: application/x-amz-json-1.1` and `X-Amz-Target:
//! TrentService.<Operation>`, the operation's members as JSON (base64 blobs,
//! epoch-second timestamps), answered with the output members or
//! `{"__type", "message"}` and AWS's HTTP status. aws-cli, boto3 and the AWS
//! SDKs talk to it unchanged with `--endpoint-url`.
//!
//! The request was authenticated by the SigV4 layer (which renders its own
//! failures in this format when the request is not gRPC); each operation is
//! the same `Kms::<op>` the gRPC API calls, generated from the one list in
//! `operations.rs`.

use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::{BodyExt, Full};
use tern_proto::pb;
use tern_service::{ErrorKind, Kms, KmsError, RequestContext};
use tonic::body::BoxBody;

/// The content type of AWS JSON 1.1 requests and responses.
pub const CONTENT_TYPE_JSON_1_1: &str = "application/x-amz-json-1.1";
/// The `X-Amz-Target` prefix of every KMS operation.
pub const TARGET_PREFIX: &str = "TrentService.";

/// Whether a request speaks gRPC (else it is treated as AWS JSON).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

fn body(bytes: Vec<u8>) -> BoxBody {
    Full::new(Bytes::from(bytes))
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A JSON response with `status` and `bytes`, and a request id.
fn response(status: StatusCode, bytes: Vec<u8>) -> http::Response<BoxBody> {
    let mut r = http::Response::new(body(bytes));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_JSON_1_1));
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        r.headers_mut().insert("x-amzn-requestid", id);
    }
    r
}

/// An AWS JSON error: `{"__type": "<Exception>", "message": "..."}` with the
/// exception's HTTP status.
pub fn error_response(e: &KmsError) -> http::Response<BoxBody> {
    let status = StatusCode::from_u16(e.kind.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    // AWS sends some errors (InvalidCiphertextException,
    // KMSInvalidSignatureException, ...) with no message member at all.
    let doc = if e.message.is_empty() {
        serde_json::json!({"__type": e.kind.as_str()})
    } else {
        serde_json::json!({"__type": e.kind.as_str(), "message": e.message})
    };
    let mut r = response(status, doc.to_string().into_bytes());
    if let Ok(v) = HeaderValue::from_str(e.kind.as_str()) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

fn decode<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, KmsError> {
    // aws-cli sends an empty body for an operation without members.
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        KmsError::new(
            ErrorKind::SerializationException,
            format!("The request body is not valid for this operation: {e}"),
        )
    })
}

/// `op`'s response as AWS's JSON: the members of AWS's output shape, empty
/// optional members left out (see `aws_shape`).
fn encode<T: serde::Serialize>(op: &str, v: &T) -> Result<Vec<u8>, KmsError> {
    let failed = |e: serde_json::Error| KmsError::internal(format!("cannot encode the response: {e}"));
    let mut value = serde_json::to_value(v).map_err(failed)?;
    crate::aws_shape::shape_output(op, &mut value);
    let bytes = serde_json::to_vec(&value).map_err(failed)?;
    // Operations without output members answer 200 with an empty body.
    Ok(if bytes == b"{}" { Vec::new() } else { bytes })
}

macro_rules! json_api {
    ($($op:ident: $method:ident($req:ident) -> $resp:ident;)+) => {
        /// Every operation name the JSON API answers, in the list's order.
        pub const OPERATIONS: &[&str] = &[$(stringify!($op)),+];

        async fn dispatch(kms: &Kms, ctx: &RequestContext, op: &str, bytes: &[u8]) -> Result<Vec<u8>, KmsError> {
            match op {
                $(
                    stringify!($op) => {
                        let req: pb::$req = decode(bytes)?;
                        let resp: pb::$resp = kms.$method(ctx, req).await?;
                        encode(stringify!($op), &resp)
                    }
                )+
                _ => Err(unknown_operation(op)),
            }
        }
    };
}

crate::operations::for_each_operation!(json_api);

fn unknown_operation(target: &str) -> KmsError {
    KmsError::new(
        ErrorKind::UnknownOperationException,
        format!("The operation {target:?} is not a KMS operation tern serves."),
    )
}

/// Answers one AWS JSON request (already authenticated: the caller is in
/// its extensions).
pub async fn handle(kms: Arc<Kms>, req: http::Request<axum::body::Body>) -> http::Response<BoxBody> {
    let (parts, body) = req.into_parts();
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // JSON 1.0 is accepted too (same members, same errors, for KMS).
    if !(content_type.starts_with(CONTENT_TYPE_JSON_1_1) || content_type.starts_with("application/x-amz-json-1.0")) {
        return error_response(&KmsError::new(
            ErrorKind::UnknownOperationException,
            format!("Content-Type must be {CONTENT_TYPE_JSON_1_1} (got {content_type:?})."),
        ));
    }
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(op) = target.strip_prefix(TARGET_PREFIX) else {
        return error_response(&unknown_operation(target));
    };
    let Some(ctx) = parts.extensions.get::<RequestContext>().cloned() else {
        return error_response(&KmsError::new(
            ErrorKind::UnrecognizedClientException,
            "The request was not authenticated.",
        ));
    };
    // The SigV4 layer has already bounded and buffered the body.
    let bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return error_response(&KmsError::validation("The request body could not be read."));
        }
    };
    match dispatch(&kms, &ctx, op, &bytes).await {
        Ok(out) => response(StatusCode::OK, out),
        Err(e) => error_response(&e),
    }
}

/// The client port's routes: gRPC services plus `POST /` for AWS JSON.
pub fn with_json_api(routes: tonic::service::Routes, kms: Arc<Kms>) -> tonic::service::Routes {
    let router = routes.into_axum_router().route(
        "/",
        axum::routing::post(move |req: axum::extract::Request| {
            let kms = kms.clone();
            async move { handle(kms, req).await }
        }),
    );
    tonic::service::Routes::from(router)
}
