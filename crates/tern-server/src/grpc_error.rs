//! The one mapping from the service's [`KmsError`] to a gRPC status: the code
//! by kind, the AWS message as the status message, and the AWS exception name
//! in the `x-amzn-errortype` metadata entry.

use tern_service::{ErrorKind, KmsError};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

/// The metadata entry carrying the AWS exception name.
pub const ERROR_TYPE_HEADER: &str = "x-amzn-errortype";

/// The gRPC code for an AWS exception.
pub fn grpc_code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::NotFoundException => Code::NotFound,
        ErrorKind::AlreadyExistsException => Code::AlreadyExists,
        ErrorKind::AccessDeniedException => Code::PermissionDenied,
        ErrorKind::UnrecognizedClientException | ErrorKind::InvalidSignatureException => Code::Unauthenticated,
        ErrorKind::ThrottlingException | ErrorKind::LimitExceededException => Code::ResourceExhausted,
        ErrorKind::KMSInternalException => Code::Internal,
        ErrorKind::KeyUnavailableException | ErrorKind::DependencyTimeoutException => Code::Unavailable,
        ErrorKind::DisabledException | ErrorKind::KMSInvalidStateException | ErrorKind::ConflictException => {
            Code::FailedPrecondition
        }
        #[allow(unreachable_patterns)]
        _ => Code::InvalidArgument,
    }
}

/// The gRPC status for a service error.
pub fn status_from_error(e: &KmsError) -> Status {
    let mut metadata = MetadataMap::new();
    // Exception names are ASCII identifiers, always valid metadata values.
    metadata.insert(ERROR_TYPE_HEADER, MetadataValue::from_static(e.kind.as_str()));
    Status::with_metadata(grpc_code(e.kind), e.message.clone(), metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_kind_code_message_and_type() {
        let s = status_from_error(&KmsError::not_found("Key 'x' does not exist"));
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(s.message(), "Key 'x' does not exist");
        assert_eq!(
            s.metadata().get(ERROR_TYPE_HEADER).and_then(|v| v.to_str().ok()),
            Some("NotFoundException")
        );

        let cases = [
            (ErrorKind::AlreadyExistsException, Code::AlreadyExists),
            (ErrorKind::AccessDeniedException, Code::PermissionDenied),
            (ErrorKind::UnrecognizedClientException, Code::Unauthenticated),
            (ErrorKind::InvalidSignatureException, Code::Unauthenticated),
            (ErrorKind::ThrottlingException, Code::ResourceExhausted),
            (ErrorKind::LimitExceededException, Code::ResourceExhausted),
            (ErrorKind::KMSInternalException, Code::Internal),
            (ErrorKind::KeyUnavailableException, Code::Unavailable),
            (ErrorKind::DependencyTimeoutException, Code::Unavailable),
            (ErrorKind::DisabledException, Code::FailedPrecondition),
            (ErrorKind::KMSInvalidStateException, Code::FailedPrecondition),
            (ErrorKind::ConflictException, Code::FailedPrecondition),
            (ErrorKind::ValidationException, Code::InvalidArgument),
            (ErrorKind::InvalidCiphertextException, Code::InvalidArgument),
            (ErrorKind::DryRunOperationException, Code::InvalidArgument),
        ];
        for (kind, code) in cases {
            assert_eq!(grpc_code(kind), code, "{kind:?}");
        }
    }

    #[test]
    fn the_message_survives_the_http_encoding() {
        let e = KmsError::new(ErrorKind::InvalidSignatureException, "a: 100% \"done\"\nnext");
        let resp = status_from_error(&e).into_http();
        assert_eq!(resp.status(), http::StatusCode::OK);
        assert_eq!(resp.headers()["grpc-status"], "16");
        assert_eq!(resp.headers()[ERROR_TYPE_HEADER], "InvalidSignatureException");
        let back = Status::from_header_map(resp.headers()).unwrap();
        assert_eq!(back.message(), e.message);
    }
}
