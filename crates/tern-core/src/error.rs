//! AWS exception names, shared by the service (its errors) and replication
//! (a rejected command's typed reason). Serialized by name, so the wire and
//! log forms are the names themselves; a name this build does not know
//! reads as KMSInternalException.

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

impl serde::Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(ErrorKind::parse(&name).unwrap_or(ErrorKind::KMSInternalException))
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn kinds_serialize_by_name_and_unknown_names_read_as_internal() {
        let j = serde_json::to_string(&ErrorKind::AccessDeniedException).unwrap();
        assert_eq!(j, "\"AccessDeniedException\"");
        assert_eq!(
            serde_json::from_str::<ErrorKind>(&j).unwrap(),
            ErrorKind::AccessDeniedException
        );
        assert_eq!(
            serde_json::from_str::<ErrorKind>("\"SomeFutureException\"").unwrap(),
            ErrorKind::KMSInternalException
        );
    }
}
