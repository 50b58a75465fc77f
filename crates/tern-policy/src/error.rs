//! Why a policy document was refused, and which AWS exception that is.

use thiserror::Error;

/// A refused policy document. Each variant maps to one AWS exception
/// ([`PolicyError::aws_error_code`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// Over [`crate::MAX_POLICY_BYTES`] → `LimitExceededException`.
    #[error("The policy document is {len_bytes} bytes, larger than the maximum of {max_bytes} bytes.")]
    TooLarge { len_bytes: usize, max_bytes: usize },
    /// A character other than tab, LF, CR or U+0020–U+00FF →
    /// `ValidationException`.
    #[error(
        "The policy document contains U+{:04X} at byte {offset_bytes}; only tab, LF, CR and U+0020-U+00FF are allowed.",
        u32::from(*.character)
    )]
    InvalidCharacter { character: char, offset_bytes: usize },
    /// Anything else wrong with the document → `MalformedPolicyDocumentException`.
    /// The message names the statement and element at fault.
    #[error("{message}")]
    Malformed { message: String },
}

impl PolicyError {
    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        PolicyError::Malformed {
            message: message.into(),
        }
    }

    /// The AWS exception name (`__type`) this error is answered with.
    pub fn aws_error_code(&self) -> &'static str {
        match self {
            PolicyError::TooLarge { .. } => "LimitExceededException",
            PolicyError::InvalidCharacter { .. } => "ValidationException",
            PolicyError::Malformed { .. } => "MalformedPolicyDocumentException",
        }
    }
}
