//! AWS's output shapes, applied in one place to every AWS JSON response (and
//! to `tern kms` output): a member AWS does not return is absent, not empty.
//!
//! The shapes come from botocore's KMS service model
//! (`aws_output_shapes.json`, written by `scripts/gen-aws-shapes.py`): every
//! operation's output structure, its members and which of them the model
//! requires. The rule the encoder applies from them:
//!
//! - a member outside the operation's output shape is dropped (a tern bug:
//!   it is logged);
//! - an optional member whose value is empty (`""`, `[]`, `{}`) is dropped,
//!   unless AWS is recorded returning it empty ([`KEPT_WHEN_EMPTY`]);
//! - required members, booleans and numbers are kept as they are.
//!
//! So the service layer builds protobuf messages (where an unset repeated
//! field is `[]`) and never decides presence member by member.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::Value;

/// Members AWS returns even when empty, as `(structure shape, member)`:
/// each row is from AWS's API reference examples (botocore `examples-1.json`)
/// or a response recorded against AWS.
pub const KEPT_WHEN_EMPTY: &[(&str, &str)] = &[
    // CreateKey/DescribeKey/ReplicateKey examples: `"Description": ""`.
    ("KeyMetadata", "Description"),
    // Recorded CreateKey of a primary without replicas: `"ReplicaKeys": []`.
    ("MultiRegionConfiguration", "ReplicaKeys"),
    // ReplicateKey example without tags: `"ReplicaTags": []`.
    ("ReplicateKeyResponse", "ReplicaTags"),
    // List operations answer an empty page as an empty list (recorded
    // ListResourceTags after every tag is removed: `"Tags": []`).
    ("ListKeysResponse", "Keys"),
    ("ListAliasesResponse", "Aliases"),
    ("ListGrantsResponse", "Grants"),
    ("ListKeyPoliciesResponse", "PolicyNames"),
    ("ListResourceTagsResponse", "Tags"),
    ("ListKeyRotationsResponse", "Rotations"),
    ("DescribeCustomKeyStoresResponse", "CustomKeyStores"),
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Shape {
    Structure(BTreeMap<String, Member>),
    List(String),
    Map(String),
    Scalar(String),
}

#[derive(Debug, Deserialize)]
struct Member {
    shape: String,
    required: bool,
}

#[derive(Debug, Deserialize)]
struct Model {
    operations: BTreeMap<String, Option<String>>,
    shapes: BTreeMap<String, Shape>,
}

static MODEL: LazyLock<Option<Model>> = LazyLock::new(|| {
    match serde_json::from_str(include_str!("aws_output_shapes.json")) {
        Ok(m) => Some(m),
        Err(e) => {
            // Unreachable with the committed file (a unit test parses it);
            // responses then go out unshaped rather than not at all.
            tracing::error!(error = %e, "aws_output_shapes.json does not parse; responses are not shaped");
            None
        }
    }
});

/// What differs between a response and AWS's output shape, one line each
/// (`KeyMetadata.SigningAlgorithms: empty optional member`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Findings {
    /// Differences the encoder repairs: empty optional members.
    pub empty: Vec<String>,
    /// Differences that are tern bugs: members outside the shape, missing
    /// required members, values of the wrong JSON type.
    pub wrong: Vec<String>,
}

impl Findings {
    pub fn is_clean(&self) -> bool {
        self.empty.is_empty() && self.wrong.is_empty()
    }
}

/// The operations botocore's model lists.
pub fn model_operations() -> Vec<&'static str> {
    MODEL
        .as_ref()
        .map(|m| m.operations.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Shapes `value`, the JSON of `op`'s response, as AWS would send it: drops
/// members outside the shape and empty optional members. Returns what it
/// found (the `wrong` ones are logged).
pub fn shape_output(op: &str, value: &mut Value) -> Findings {
    let mut f = Findings::default();
    walk_output(op, value, true, &mut f);
    if !f.wrong.is_empty() {
        tracing::warn!(operation = op, findings = ?f.wrong, "a response did not fit AWS's output shape; the extra members were dropped");
    }
    f
}

/// What in `value` differs from `op`'s output shape, changing nothing.
pub fn check_output(op: &str, value: &Value) -> Findings {
    let mut v = value.clone();
    let mut f = Findings::default();
    walk_output(op, &mut v, false, &mut f);
    f
}

fn walk_output(op: &str, value: &mut Value, fix: bool, f: &mut Findings) {
    let Some(model) = MODEL.as_ref() else { return };
    match model.operations.get(op) {
        None => f.wrong.push(format!("{op}: not an operation in AWS's model")),
        Some(None) => {
            if value.as_object().is_some_and(|o| !o.is_empty()) {
                f.wrong
                    .push(format!("{op}: AWS answers this operation with no members"));
                if fix {
                    *value = Value::Object(Default::default());
                }
            }
        }
        Some(Some(shape)) => walk(model, shape, value, op, fix, f),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

fn walk(model: &Model, shape_name: &str, value: &mut Value, path: &str, fix: bool, f: &mut Findings) {
    let Some(shape) = model.shapes.get(shape_name) else {
        f.wrong.push(format!("{path}: shape {shape_name} is not in the model"));
        return;
    };
    match (shape, value) {
        (Shape::Structure(members), Value::Object(obj)) => {
            let names: Vec<String> = obj.keys().cloned().collect();
            for name in names {
                let p = format!("{path}.{name}");
                let Some(m) = members.get(&name) else {
                    f.wrong.push(format!("{p}: not a member of {shape_name}"));
                    if fix {
                        obj.remove(&name);
                    }
                    continue;
                };
                let empty = obj.get(&name).is_some_and(is_empty);
                if empty && !m.required && !KEPT_WHEN_EMPTY.contains(&(shape_name, name.as_str())) {
                    f.empty.push(format!("{p}: empty optional member"));
                    if fix {
                        obj.remove(&name);
                    }
                    continue;
                }
                if let Some(child) = obj.get_mut(&name) {
                    walk(model, &m.shape, child, &p, fix, f);
                }
            }
            for (name, m) in members {
                if m.required && !obj.contains_key(name) {
                    f.wrong.push(format!("{path}.{name}: required member missing"));
                }
            }
        }
        (Shape::List(item), Value::Array(items)) => {
            for (i, v) in items.iter_mut().enumerate() {
                walk(model, item, v, &format!("{path}[{i}]"), fix, f);
            }
        }
        (Shape::Map(item), Value::Object(obj)) => {
            for (k, v) in obj.iter_mut() {
                walk(model, item, v, &format!("{path}[{k}]"), fix, f);
            }
        }
        (Shape::Scalar(t), v) => {
            let fits = match t.as_str() {
                "string" | "blob" => v.is_string(),
                "boolean" => v.is_boolean(),
                "integer" | "long" => v.is_i64() || v.is_u64(),
                "timestamp" | "double" | "float" => v.is_number(),
                _ => true,
            };
            if !fits {
                f.wrong.push(format!("{path}: {v} is not a {t}"));
            }
        }
        (_, v) => f.wrong.push(format!("{path}: {v} does not fit shape {shape_name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_model_parses_and_lists_every_operation_tern_serves() {
        let ops = model_operations();
        assert!(ops.len() >= 54, "{ops:?}");
        for op in crate::json_api::OPERATIONS {
            assert!(ops.contains(op), "{op} is not in AWS's model");
        }
        let model = MODEL.as_ref().unwrap();
        for (shape, member) in KEPT_WHEN_EMPTY {
            match model.shapes.get(*shape) {
                Some(Shape::Structure(m)) => assert!(m.contains_key(*member), "{shape}.{member}"),
                other => panic!("{shape}: {other:?}"),
            }
        }
    }

    #[test]
    fn empty_optional_members_are_dropped_and_kept_ones_stay() {
        let mut v = json!({"KeyMetadata": {
            "KeyId": "k", "Description": "", "EncryptionAlgorithms": [],
            "SigningAlgorithms": ["ECDSA_SHA_256"], "Enabled": false,
            "MultiRegionConfiguration": {"MultiRegionKeyType": "PRIMARY", "ReplicaKeys": []},
            "Bogus": 1,
        }});
        let f = shape_output("DescribeKey", &mut v);
        assert_eq!(
            v,
            json!({"KeyMetadata": {
                "KeyId": "k", "Description": "", "SigningAlgorithms": ["ECDSA_SHA_256"], "Enabled": false,
                "MultiRegionConfiguration": {"MultiRegionKeyType": "PRIMARY", "ReplicaKeys": []},
            }})
        );
        assert_eq!(
            f.empty,
            vec!["DescribeKey.KeyMetadata.EncryptionAlgorithms: empty optional member"]
        );
        assert_eq!(
            f.wrong,
            vec!["DescribeKey.KeyMetadata.Bogus: not a member of KeyMetadata"]
        );
        assert!(check_output("DescribeKey", &v).is_clean());
    }

    #[test]
    fn wrong_types_and_missing_required_members_are_reported() {
        let v = json!({"KeyMetadata": {"Enabled": "yes"}});
        let f = check_output("DescribeKey", &v);
        assert!(
            f.wrong.iter().any(|w| w.contains("Enabled") && w.contains("boolean")),
            "{f:?}"
        );
        assert!(
            f.wrong.iter().any(|w| w.contains("KeyId: required member missing")),
            "{f:?}"
        );
        let f = check_output("EnableKey", &json!({"KeyId": "k"}));
        assert_eq!(f.wrong.len(), 1, "{f:?}");
        assert!(check_output("ListAliases", &json!({"Aliases": [], "Truncated": false})).is_clean());
        let mut grants = json!({"Grants": [{"KeyId": "k", "Name": "", "Constraints": {"EncryptionContextSubset": {"a": "b"}, "EncryptionContextEquals": {}}}], "Truncated": false});
        shape_output("ListGrants", &mut grants);
        assert_eq!(
            grants,
            json!({"Grants": [{"KeyId": "k", "Constraints": {"EncryptionContextSubset": {"a": "b"}}}], "Truncated": false})
        );
    }
}
