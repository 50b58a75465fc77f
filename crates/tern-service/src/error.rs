//! The one service error: its kinds are the AWS exception names, its
//! messages AWS's. Each transport maps it in exactly one place.

use std::fmt;

macro_rules! error_kinds {
    ($($kind:ident => $status:literal),+ $(,)?) => {
        /// AWS exception names.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(clippy::enum_variant_names)]
        pub enum ErrorKind { $($kind),+ }

        impl ErrorKind {
            /// The exception name clients read from `__type`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorKind::$kind => stringify!($kind)),+ }
            }
            /// The HTTP status AWS answers with.
            pub fn http_status(self) -> u16 {
                match self { $(ErrorKind::$kind => $status),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $(stringify!($kind) => Some(ErrorKind::$kind),)+ _ => None }
            }
        }
    };
}

error_kinds! {
    NotFoundException => 400,
    DisabledException => 400,
    KMSInvalidStateException => 400,
    InvalidCiphertextException => 400,
    IncorrectKeyException => 400,
    InvalidKeyUsageException => 400,
    InvalidAliasNameException => 400,
    InvalidArnException => 400,
    InvalidMarkerException => 400,
    InvalidGrantTokenException => 400,
    InvalidGrantIdException => 400,
    AlreadyExistsException => 400,
    MalformedPolicyDocumentException => 400,
    LimitExceededException => 400,
    ThrottlingException => 400,
    TagException => 400,
    UnsupportedOperationException => 400,
    ValidationException => 400,
    AccessDeniedException => 400,
    DryRunOperationException => 400,
    ConflictException => 400,
    UnrecognizedClientException => 400,
    InvalidSignatureException => 400,
    SerializationException => 400,
    UnknownOperationException => 400,
    KMSInvalidSignatureException => 400,
    KMSInvalidMacException => 400,
    ExpiredImportTokenException => 400,
    IncorrectKeyMaterialException => 400,
    InvalidImportTokenException => 400,
    KMSInternalException => 500,
    KeyUnavailableException => 500,
    DependencyTimeoutException => 503,
}

/// A failed request: an AWS exception and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsError {
    pub kind: ErrorKind,
    pub message: String,
}

impl fmt::Display for KmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for KmsError {}

pub type KmsResult<T> = Result<T, KmsError>;

impl KmsError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        KmsError {
            kind,
            message: message.into(),
        }
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ValidationException, message)
    }
    /// "1 validation error detected: Value '<v>' at '<field>' failed to satisfy constraint: <c>"
    pub fn constraint(value: Option<&str>, field: &str, constraint: &str) -> Self {
        let value = match value {
            Some(v) => format!("Value '{v}' at"),
            None => "Value at".to_string(),
        };
        Self::validation(format!(
            "1 validation error detected: {value} '{field}' failed to satisfy constraint: {constraint}"
        ))
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFoundException, message)
    }
    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::KMSInvalidStateException, message)
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UnsupportedOperationException, message)
    }
    /// InvalidCiphertextException with AWS's empty message.
    pub fn invalid_ciphertext() -> Self {
        Self::new(ErrorKind::InvalidCiphertextException, "")
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::KMSInternalException, message)
    }
    pub fn tag(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::TagException, message)
    }
    pub fn dry_run() -> Self {
        Self::new(
            ErrorKind::DryRunOperationException,
            "The request would have succeeded, but the DryRun option is set.",
        )
    }
}

impl From<tern_store::StoreError> for KmsError {
    fn from(e: tern_store::StoreError) -> Self {
        // Fail closed: nothing was acknowledged.
        KmsError::internal(format!("The request could not be made durable: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_statuses() {
        assert_eq!(ErrorKind::NotFoundException.as_str(), "NotFoundException");
        assert_eq!(ErrorKind::NotFoundException.http_status(), 400);
        assert_eq!(ErrorKind::KMSInternalException.http_status(), 500);
        assert_eq!(ErrorKind::parse("TagException"), Some(ErrorKind::TagException));
        let e = KmsError::constraint(
            Some("1025"),
            "numberOfBytes",
            "Member must have value less than or equal to 1024",
        );
        assert_eq!(
            e.message,
            "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"
        );
    }
}
