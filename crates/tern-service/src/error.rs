//! The one service error: its kinds are the AWS exception names, its
//! messages AWS's. Each transport maps it in exactly one place.

use std::fmt;

pub use tern_core::error::ErrorKind;

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
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::KMSInternalException, message)
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
