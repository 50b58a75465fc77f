//! Identifiers with rules: regions, accounts, key ids, ARNs, alias names and
//! key material ids. Parse at the edge, then trust the type.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest alias name, `alias/` prefix included.
pub const MAX_ALIAS_NAME_CHARS: usize = 256;
/// Prefix every alias name carries.
pub const ALIAS_PREFIX: &str = "alias/";
/// Prefix reserved for AWS managed keys.
pub const RESERVED_ALIAS_PREFIX: &str = "alias/aws/";
/// Longest key id argument accepted before it is rejected as malformed.
pub const MAX_KEY_ID_ARG_CHARS: usize = 2048;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("invalid region '{0}'")]
    Region(String),
    #[error("invalid account id '{0}'")]
    Account(String),
    #[error("Invalid keyId '{0}'")]
    KeyId(String),
    #[error("invalid alias name")]
    AliasName(AliasNameError),
    #[error("invalid key material id '{0}'")]
    MaterialId(String),
}

/// The precise alias-name rule that failed, so the service can pick the AWS
/// exception and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasNameError {
    MissingPrefix,
    Empty,
    TooLong,
    BadCharacters,
    Reserved,
}

/// An AWS region name such as `us-east-1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

impl Region {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && !s.ends_with('-');
        if ok {
            Ok(Region(s.to_string()))
        } else {
            Err(IdError::Region(s.to_string()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(AccountId(s.to_string()))
        } else {
            Err(IdError::Account(s.to_string()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A key's id: the UUID of a single-Region key, or `mrk-` and 32 hex digits
/// for a multi-Region key. The 16 raw bytes are what the ciphertext blob
/// carries.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId {
    bytes: [u8; 16],
    multi_region: bool,
}

impl KeyId {
    pub const MRK_PREFIX: &'static str = "mrk-";

    /// A single-Region key id from 16 random bytes (made a v4 UUID).
    pub fn new_single_region(mut random: [u8; 16]) -> Self {
        random[6] = (random[6] & 0x0f) | 0x40;
        random[8] = (random[8] & 0x3f) | 0x80;
        KeyId {
            bytes: random,
            multi_region: false,
        }
    }

    /// A multi-Region key id from 16 random bytes.
    pub fn new_multi_region(random: [u8; 16]) -> Self {
        KeyId {
            bytes: random,
            multi_region: true,
        }
    }

    pub fn from_raw(bytes: [u8; 16], multi_region: bool) -> Self {
        KeyId { bytes, multi_region }
    }

    pub fn raw(&self) -> &[u8; 16] {
        &self.bytes
    }

    pub fn is_multi_region(&self) -> bool {
        self.multi_region
    }

    /// Parses the bare id form (no ARN, no alias).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::KeyId(s.to_string());
        if let Some(hex_part) = s.strip_prefix(Self::MRK_PREFIX) {
            if hex_part.len() != 32
                || !hex_part
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            {
                return Err(bad());
            }
            let mut bytes = [0u8; 16];
            hex::decode_to_slice(hex_part, &mut bytes).map_err(|_| bad())?;
            return Ok(KeyId {
                bytes,
                multi_region: true,
            });
        }
        // Canonical lowercase 8-4-4-4-12 UUID form only.
        if s.len() != 36 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad());
        }
        let u = uuid::Uuid::parse_str(s).map_err(|_| bad())?;
        if u.hyphenated().to_string() != s {
            return Err(bad());
        }
        Ok(KeyId {
            bytes: *u.as_bytes(),
            multi_region: false,
        })
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.multi_region {
            write!(f, "{}{}", Self::MRK_PREFIX, hex::encode(self.bytes))
        } else {
            write!(f, "{}", uuid::Uuid::from_bytes(self.bytes).hyphenated())
        }
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyId::parse(s)
    }
}

impl Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KeyId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A validated alias name, `alias/` prefix included.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AliasName(String);

impl AliasName {
    /// Parses an alias name a user may create (reserved names refused).
    pub fn parse_user(s: &str) -> Result<Self, IdError> {
        let a = Self::parse_any(s)?;
        if s.starts_with(RESERVED_ALIAS_PREFIX) {
            return Err(IdError::AliasName(AliasNameError::Reserved));
        }
        Ok(a)
    }

    /// Parses any syntactically valid alias name (lookups may name reserved ones).
    pub fn parse_any(s: &str) -> Result<Self, IdError> {
        let Some(rest) = s.strip_prefix(ALIAS_PREFIX) else {
            return Err(IdError::AliasName(AliasNameError::MissingPrefix));
        };
        if rest.is_empty() {
            return Err(IdError::AliasName(AliasNameError::Empty));
        }
        if s.chars().count() > MAX_ALIAS_NAME_CHARS {
            return Err(IdError::AliasName(AliasNameError::TooLong));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'/' | b'_' | b'-'))
        {
            return Err(IdError::AliasName(AliasNameError::BadCharacters));
        }
        Ok(AliasName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_newtype_conversions {
    ($t:ident, $parse:path) => {
        impl TryFrom<String> for $t {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                $parse(&s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
string_newtype_conversions!(Region, Region::parse);
string_newtype_conversions!(AccountId, AccountId::parse);
string_newtype_conversions!(AliasName, AliasName::parse_any);

/// A key material id: 32 random bytes, shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyMaterialId([u8; 32]);

impl KeyMaterialId {
    pub fn from_bytes(b: [u8; 32]) -> Self {
        KeyMaterialId(b)
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::MaterialId(s.to_string());
        if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad());
        }
        let mut b = [0u8; 32];
        hex::decode_to_slice(s, &mut b).map_err(|_| bad())?;
        Ok(KeyMaterialId(b))
    }
}

impl fmt::Display for KeyMaterialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyMaterialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyMaterialId({self})")
    }
}

impl Serialize for KeyMaterialId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KeyMaterialId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KeyMaterialId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The ARN of a key: `arn:aws:kms:<region>:<account>:key/<id>`.
pub fn key_arn(region: &Region, account: &AccountId, key: &KeyId) -> String {
    format!("arn:aws:kms:{}:{}:key/{}", region.as_str(), account.as_str(), key)
}

/// The ARN of an alias: `arn:aws:kms:<region>:<account>:<alias name>`.
pub fn alias_arn(region: &Region, account: &AccountId, alias: &AliasName) -> String {
    format!(
        "arn:aws:kms:{}:{}:{}",
        region.as_str(),
        account.as_str(),
        alias.as_str()
    )
}

/// Any of the forms AWS accepts in a `KeyId` member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    Id(KeyId),
    Arn {
        region: Region,
        account: AccountId,
        key: KeyId,
    },
    AliasName(AliasName),
    AliasArn {
        region: Region,
        account: AccountId,
        alias: AliasName,
    },
}

impl KeyRef {
    /// Parses the four `KeyId` forms. A malformed value is
    /// `IdError::KeyId` (AWS: NotFoundException "Invalid keyId").
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::KeyId(s.to_string());
        if s.is_empty() || s.len() > MAX_KEY_ID_ARG_CHARS {
            return Err(bad());
        }
        if s.starts_with(ALIAS_PREFIX) {
            return AliasName::parse_any(s).map(KeyRef::AliasName).map_err(|_| bad());
        }
        if let Some(rest) = s.strip_prefix("arn:aws:kms:") {
            let mut parts = rest.splitn(3, ':');
            let region = parts.next().ok_or_else(bad)?;
            let account = parts.next().ok_or_else(bad)?;
            let resource = parts.next().ok_or_else(bad)?;
            let region = Region::parse(region).map_err(|_| bad())?;
            let account = AccountId::parse(account).map_err(|_| bad())?;
            if let Some(id) = resource.strip_prefix("key/") {
                let key = KeyId::parse(id).map_err(|_| bad())?;
                return Ok(KeyRef::Arn { region, account, key });
            }
            if resource.starts_with(ALIAS_PREFIX) {
                let alias = AliasName::parse_any(resource).map_err(|_| bad())?;
                return Ok(KeyRef::AliasArn { region, account, alias });
            }
            return Err(bad());
        }
        KeyId::parse(s).map(KeyRef::Id).map_err(|_| bad())
    }

    pub fn is_alias(&self) -> bool {
        matches!(self, KeyRef::AliasName(_) | KeyRef::AliasArn { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_round_trips() {
        let k = KeyId::new_single_region([7u8; 16]);
        let s = k.to_string();
        assert_eq!(s.len(), 36);
        assert_eq!(KeyId::parse(&s).unwrap(), k);
        let m = KeyId::new_multi_region([0xab; 16]);
        assert_eq!(m.to_string(), format!("mrk-{}", "ab".repeat(16)));
        assert_eq!(KeyId::parse(&m.to_string()).unwrap(), m);
    }

    #[test]
    fn key_id_rejects_malformed() {
        for s in [
            "",
            "abc",
            "mrk-12",
            "1234ABCD-12ab-34cd-56ef-1234567890ab",
            "1234abcd12ab34cd56ef1234567890ab",
            "mrk-ZZ",
        ] {
            assert!(KeyId::parse(s).is_err(), "{s}");
        }
        assert!(KeyId::parse("1234abcd-12ab-34cd-56ef-1234567890ab").is_ok());
    }

    #[test]
    fn key_ref_forms() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        assert!(matches!(KeyRef::parse(id), Ok(KeyRef::Id(_))));
        assert!(matches!(
            KeyRef::parse(&format!("arn:aws:kms:us-east-1:111122223333:key/{id}")),
            Ok(KeyRef::Arn { .. })
        ));
        assert!(matches!(KeyRef::parse("alias/my-key"), Ok(KeyRef::AliasName(_))));
        assert!(matches!(
            KeyRef::parse("arn:aws:kms:us-east-1:111122223333:alias/my-key"),
            Ok(KeyRef::AliasArn { .. })
        ));
        for bad in [
            "arn:aws:kms:us-east-1:1111:key/x",
            "arn:aws:kms:us-east-1:111122223333:foo/x",
            "alias/",
            "nope",
        ] {
            assert!(KeyRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn alias_rules() {
        assert_eq!(
            AliasName::parse_user("x"),
            Err(IdError::AliasName(AliasNameError::MissingPrefix))
        );
        assert_eq!(
            AliasName::parse_user("alias/aws/s3"),
            Err(IdError::AliasName(AliasNameError::Reserved))
        );
        assert_eq!(
            AliasName::parse_user("alias/a b"),
            Err(IdError::AliasName(AliasNameError::BadCharacters))
        );
        let long = format!("alias/{}", "a".repeat(251));
        assert_eq!(
            AliasName::parse_user(&long),
            Err(IdError::AliasName(AliasNameError::TooLong))
        );
        let max = format!("alias/{}", "a".repeat(250));
        assert!(AliasName::parse_user(&max[..256]).is_ok());
        assert!(AliasName::parse_user("alias/my_key:prod/x-1").is_ok());
    }

    #[test]
    fn material_id_hex() {
        let m = KeyMaterialId::from_bytes([0x5a; 32]);
        assert_eq!(KeyMaterialId::parse(&m.to_string()).unwrap(), m);
        assert!(KeyMaterialId::parse("5A").is_err());
    }
}
