//! The pure parts of grants: the operations a grant can allow, and its
//! encryption-context constraints.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::pattern::eq_ignore_case;

/// An operation a grant can allow (`GrantOperation` in the KMS model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrantOperation {
    Decrypt,
    Encrypt,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    ReEncryptFrom,
    ReEncryptTo,
    Sign,
    Verify,
    GetPublicKey,
    CreateGrant,
    RetireGrant,
    DescribeKey,
    GenerateDataKeyPair,
    GenerateDataKeyPairWithoutPlaintext,
    GenerateMac,
    VerifyMac,
    DeriveSharedSecret,
    Encapsulate,
    Decapsulate,
}

/// Every grant operation, in the order of the botocore model's enum (19).
pub const GRANT_OPERATIONS: [GrantOperation; 19] = [
    GrantOperation::Decrypt,
    GrantOperation::Encrypt,
    GrantOperation::GenerateDataKey,
    GrantOperation::GenerateDataKeyWithoutPlaintext,
    GrantOperation::ReEncryptFrom,
    GrantOperation::ReEncryptTo,
    GrantOperation::Sign,
    GrantOperation::Verify,
    GrantOperation::GetPublicKey,
    GrantOperation::CreateGrant,
    GrantOperation::RetireGrant,
    GrantOperation::DescribeKey,
    GrantOperation::GenerateDataKeyPair,
    GrantOperation::GenerateDataKeyPairWithoutPlaintext,
    GrantOperation::GenerateMac,
    GrantOperation::VerifyMac,
    GrantOperation::DeriveSharedSecret,
    GrantOperation::Encapsulate,
    GrantOperation::Decapsulate,
];

impl GrantOperation {
    /// The model's name, e.g. `GenerateDataKey`.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantOperation::Decrypt => "Decrypt",
            GrantOperation::Encrypt => "Encrypt",
            GrantOperation::GenerateDataKey => "GenerateDataKey",
            GrantOperation::GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
            GrantOperation::ReEncryptFrom => "ReEncryptFrom",
            GrantOperation::ReEncryptTo => "ReEncryptTo",
            GrantOperation::Sign => "Sign",
            GrantOperation::Verify => "Verify",
            GrantOperation::GetPublicKey => "GetPublicKey",
            GrantOperation::CreateGrant => "CreateGrant",
            GrantOperation::RetireGrant => "RetireGrant",
            GrantOperation::DescribeKey => "DescribeKey",
            GrantOperation::GenerateDataKeyPair => "GenerateDataKeyPair",
            GrantOperation::GenerateDataKeyPairWithoutPlaintext => "GenerateDataKeyPairWithoutPlaintext",
            GrantOperation::GenerateMac => "GenerateMac",
            GrantOperation::VerifyMac => "VerifyMac",
            GrantOperation::DeriveSharedSecret => "DeriveSharedSecret",
            GrantOperation::Encapsulate => "Encapsulate",
            GrantOperation::Decapsulate => "Decapsulate",
        }
    }

    /// The policy action it corresponds to, e.g. `kms:GenerateDataKey`.
    pub fn action(self) -> &'static str {
        match self {
            GrantOperation::Decrypt => "kms:Decrypt",
            GrantOperation::Encrypt => "kms:Encrypt",
            GrantOperation::GenerateDataKey => "kms:GenerateDataKey",
            GrantOperation::GenerateDataKeyWithoutPlaintext => "kms:GenerateDataKeyWithoutPlaintext",
            GrantOperation::ReEncryptFrom => "kms:ReEncryptFrom",
            GrantOperation::ReEncryptTo => "kms:ReEncryptTo",
            GrantOperation::Sign => "kms:Sign",
            GrantOperation::Verify => "kms:Verify",
            GrantOperation::GetPublicKey => "kms:GetPublicKey",
            GrantOperation::CreateGrant => "kms:CreateGrant",
            GrantOperation::RetireGrant => "kms:RetireGrant",
            GrantOperation::DescribeKey => "kms:DescribeKey",
            GrantOperation::GenerateDataKeyPair => "kms:GenerateDataKeyPair",
            GrantOperation::GenerateDataKeyPairWithoutPlaintext => "kms:GenerateDataKeyPairWithoutPlaintext",
            GrantOperation::GenerateMac => "kms:GenerateMac",
            GrantOperation::VerifyMac => "kms:VerifyMac",
            GrantOperation::DeriveSharedSecret => "kms:DeriveSharedSecret",
            GrantOperation::Encapsulate => "kms:Encapsulate",
            GrantOperation::Decapsulate => "kms:Decapsulate",
        }
    }

    /// Whether the operation takes an encryption context, so encryption
    /// context constraints apply to it (symmetric encryption operations).
    pub fn takes_encryption_context(self) -> bool {
        matches!(
            self,
            GrantOperation::Decrypt
                | GrantOperation::Encrypt
                | GrantOperation::GenerateDataKey
                | GrantOperation::GenerateDataKeyWithoutPlaintext
                | GrantOperation::ReEncryptFrom
                | GrantOperation::ReEncryptTo
                | GrantOperation::GenerateDataKeyPair
                | GrantOperation::GenerateDataKeyPairWithoutPlaintext
        )
    }

    /// Parses a model name, case-sensitively as AWS does.
    pub fn parse(s: &str) -> Result<GrantOperation, UnknownGrantOperation> {
        GRANT_OPERATIONS
            .iter()
            .copied()
            .find(|op| op.as_str() == s)
            .ok_or_else(|| UnknownGrantOperation { name: s.to_owned() })
    }

    /// Parses a list, refusing unknown names and empty lists.
    pub fn parse_list<S: AsRef<str>>(names: &[S]) -> Result<Vec<GrantOperation>, UnknownGrantOperation> {
        if names.is_empty() {
            return Err(UnknownGrantOperation { name: String::new() });
        }
        names.iter().map(|n| GrantOperation::parse(n.as_ref())).collect()
    }
}

impl fmt::Display for GrantOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GrantOperation {
    type Err = UnknownGrantOperation;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GrantOperation::parse(s)
    }
}

impl Serialize for GrantOperation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for GrantOperation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        GrantOperation::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A name that is not a grant operation (or an empty operation list). The
/// message is AWS's `ValidationException` wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Value '{name}' at 'operations' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
    all_names()
)]
pub struct UnknownGrantOperation {
    pub name: String,
}

fn all_names() -> String {
    GRANT_OPERATIONS
        .iter()
        .map(|o| o.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A grant's encryption-context constraints (`GrantConstraints`). Serializes
/// with the AWS member names.
///
/// AWS rule: in a constraint the context *key* is compared case-insensitively
/// and the *value* case-sensitively. The constraints apply only to operations
/// that take an encryption context ([`GrantOperation::takes_encryption_context`]);
/// the caller skips [`GrantConstraints::permits`] for the others.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GrantConstraints {
    /// The request's context must be exactly this (same pairs, no more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
    /// The request's context must contain these pairs (more are fine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
}

impl GrantConstraints {
    /// Whether a request with encryption context `ctx` satisfies every
    /// constraint that is set.
    pub fn permits(&self, ctx: &BTreeMap<String, String>) -> bool {
        let has = |map: &BTreeMap<String, String>, k: &str, v: &str| {
            map.iter().any(|(mk, mv)| mv == v && eq_ignore_case(mk, k))
        };
        let equals_ok = self
            .encryption_context_equals
            .as_ref()
            .is_none_or(|want| want.iter().all(|(k, v)| has(ctx, k, v)) && ctx.iter().all(|(k, v)| has(want, k, v)));
        let subset_ok = self
            .encryption_context_subset
            .as_ref()
            .is_none_or(|want| want.iter().all(|(k, v)| has(ctx, k, v)));
        equals_ok && subset_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_model_lists_nineteen_operations() {
        assert_eq!(GRANT_OPERATIONS.len(), 19);
        for op in GRANT_OPERATIONS {
            assert_eq!(GrantOperation::parse(op.as_str()), Ok(op));
            assert_eq!(op.to_string().parse::<GrantOperation>(), Ok(op));
            assert_eq!(op.action(), format!("kms:{}", op.as_str()));
        }
        let mut sorted = GRANT_OPERATIONS.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 19);
        let e = GrantOperation::parse("decrypt").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("Value 'decrypt' at 'operations' failed to satisfy constraint"));
        assert!(e.to_string().contains("Decapsulate]"));
        assert!(GrantOperation::parse("ReEncrypt").is_err());
        assert_eq!(
            GrantOperation::parse_list(&["Encrypt", "Decrypt"]),
            Ok(vec![GrantOperation::Encrypt, GrantOperation::Decrypt])
        );
        assert!(GrantOperation::parse_list::<&str>(&[]).is_err());
        assert!(GrantOperation::parse_list(&["Encrypt", "Nope"]).is_err());
        let json = serde_json::to_string(&[GrantOperation::GenerateMac]).unwrap();
        assert_eq!(json, r#"["GenerateMac"]"#);
        assert!(serde_json::from_str::<GrantOperation>(r#""Bogus""#).is_err());
    }

    #[test]
    fn constraint_table() {
        let eq = |p: &[(&str, &str)]| GrantConstraints {
            encryption_context_equals: Some(map(p)),
            encryption_context_subset: None,
        };
        let sub = |p: &[(&str, &str)]| GrantConstraints {
            encryption_context_equals: None,
            encryption_context_subset: Some(map(p)),
        };
        type Row<'a> = (&'a str, GrantConstraints, &'a [(&'a str, &'a str)], bool);
        let cases: &[Row] = &[
            ("no constraints", GrantConstraints::default(), &[("a", "1")], true),
            (
                "equals: same",
                eq(&[("a", "1"), ("b", "2")]),
                &[("b", "2"), ("a", "1")],
                true,
            ),
            (
                "equals: extra pair",
                eq(&[("a", "1")]),
                &[("a", "1"), ("b", "2")],
                false,
            ),
            (
                "equals: missing pair",
                eq(&[("a", "1"), ("b", "2")]),
                &[("a", "1")],
                false,
            ),
            ("equals: other value", eq(&[("a", "1")]), &[("a", "2")], false),
            (
                "equals: key case ignored",
                eq(&[("Dept", "IT")]),
                &[("dept", "IT")],
                true,
            ),
            (
                "equals: value case kept",
                eq(&[("Dept", "IT")]),
                &[("Dept", "it")],
                false,
            ),
            ("equals: empty vs empty", eq(&[]), &[], true),
            ("equals: empty vs some", eq(&[]), &[("a", "1")], false),
            ("subset: exact", sub(&[("a", "1")]), &[("a", "1")], true),
            (
                "subset: extra allowed",
                sub(&[("a", "1")]),
                &[("a", "1"), ("b", "2")],
                true,
            ),
            (
                "subset: missing",
                sub(&[("a", "1"), ("c", "3")]),
                &[("a", "1"), ("b", "2")],
                false,
            ),
            ("subset: other value", sub(&[("a", "1")]), &[("a", "x")], false),
            ("subset: key case ignored", sub(&[("A", "1")]), &[("a", "1")], true),
            ("subset: value case kept", sub(&[("a", "X")]), &[("a", "x")], false),
            ("subset: empty context", sub(&[("a", "1")]), &[], false),
        ];
        for (name, c, ctx, want) in cases {
            assert_eq!(c.permits(&map(ctx)), *want, "{name}");
        }
        let both = GrantConstraints {
            encryption_context_equals: Some(map(&[("a", "1")])),
            encryption_context_subset: Some(map(&[("a", "1")])),
        };
        assert!(both.permits(&map(&[("a", "1")])));
        assert!(!both.permits(&map(&[("a", "1"), ("b", "2")])));
    }

    #[test]
    fn constraints_serialize_with_aws_names() {
        let c = GrantConstraints {
            encryption_context_equals: None,
            encryption_context_subset: Some(map(&[("k", "v")])),
        };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"EncryptionContextSubset":{"k":"v"}}"#);
        assert_eq!(serde_json::from_str::<GrantConstraints>(&json).unwrap(), c);
    }
}
