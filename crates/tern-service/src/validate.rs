//! Field rules shared by the operations, with AWS's wording.

use std::collections::{BTreeMap, HashSet};

use base64::Engine as _;
use tern_core::context::{ContextError, EncryptionContext};
use tern_core::key::{MAX_DESCRIPTION_CHARS, MAX_TAGS_PER_KEY, MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS};
use tern_proto::pb;

use crate::error::{ErrorKind, KmsError, KmsResult};
use crate::messages;

/// Largest key policy document, bytes.
pub const MAX_POLICY_BYTES: usize = tern_policy::MAX_POLICY_BYTES;
/// The only key policy name.
pub const DEFAULT_POLICY_NAME: &str = "default";
/// Largest number of bytes GenerateRandom / GenerateDataKey return.
pub const MAX_NUMBER_OF_BYTES: i32 = 1024;
/// Grant tokens one request may carry.
pub const MAX_GRANT_TOKENS: usize = 10;

/// An optional integer member within `[min, max]`, or `default` when absent.
pub fn int_in_range(v: Option<i32>, field: &str, min: i32, max: i32, default: i32) -> KmsResult<i32> {
    let v = v.unwrap_or(default);
    if v < min {
        return Err(messages::below_minimum(v.into(), field, min.into()));
    }
    if v > max {
        return Err(messages::above_maximum(v.into(), field, max.into()));
    }
    Ok(v)
}

/// A required string member that must not be empty.
pub fn required<'a>(v: &'a str, field: &str) -> KmsResult<&'a str> {
    if v.is_empty() {
        return Err(KmsError::constraint(
            None,
            field,
            "Member must have length greater than or equal to 1",
        ));
    }
    Ok(v)
}

/// A required enum member: present, and one of the AWS values (`parse`
/// and `set` are the enum's, see `tern_core::key`).
pub fn required_enum<T>(v: &str, field: &str, parse: fn(&str) -> Option<T>, set: fn() -> String) -> KmsResult<T> {
    required(v, field)?;
    parse(v).ok_or_else(|| messages::not_in_enum(v, field, &set()))
}

/// Bytes member length within `[1, max]`; the value is never echoed.
pub fn blob_len(v: &[u8], field: &str, max: usize) -> KmsResult<()> {
    if v.is_empty() {
        return Err(messages::too_short(None, field, 1));
    }
    if v.len() > max {
        return Err(messages::too_long(None, field, max));
    }
    Ok(())
}

pub fn description(d: &str) -> KmsResult<()> {
    if d.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(KmsError::constraint(
            None,
            "description",
            &format!("Member must have length less than or equal to {MAX_DESCRIPTION_CHARS}"),
        ));
    }
    Ok(())
}

pub fn encryption_context(m: &BTreeMap<String, String>) -> KmsResult<EncryptionContext> {
    EncryptionContext::new(m.clone()).map_err(|e| match e {
        ContextError::TooLarge => messages::context_too_large(&e.to_string()),
        ContextError::EmptyKey => messages::context_empty_key(),
    })
}

pub fn grant_tokens(t: &[String]) -> KmsResult<()> {
    if t.len() > MAX_GRANT_TOKENS {
        return Err(KmsError::constraint(
            None,
            "grantTokens",
            &format!("Member must have length less than or equal to {MAX_GRANT_TOKENS}"),
        ));
    }
    // Grants are visible as soon as they are acknowledged, so a token only
    // has to be well formed; the grant itself is found through the key.
    for token in t {
        crate::ops::grants::parse_grant_token(token)?;
    }
    Ok(())
}

/// The `i`th (0-based) tag of a request: AWS's length rules as validation
/// errors on `tags.<n>.member.tagKey|tagValue`, and the reserved `aws:`
/// prefix (any case) as a TagException.
fn tag(i: usize, t: &pb::Tag) -> KmsResult<()> {
    let member = |m: &str| format!("tags.{}.member.{m}", i + 1);
    let n = t.tag_key.chars().count();
    if n == 0 {
        return Err(messages::too_short(Some(&t.tag_key), &member("tagKey"), 1));
    }
    if n > MAX_TAG_KEY_CHARS {
        return Err(messages::too_long(
            Some(&t.tag_key),
            &member("tagKey"),
            MAX_TAG_KEY_CHARS,
        ));
    }
    if t.tag_value.chars().count() > MAX_TAG_VALUE_CHARS {
        return Err(messages::too_long(
            Some(&t.tag_value),
            &member("tagValue"),
            MAX_TAG_VALUE_CHARS,
        ));
    }
    if t.tag_key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return Err(messages::reserved_tag());
    }
    Ok(())
}

/// Checks tags to add and merges them into `existing` (same key: value
/// replaced), enforcing the per-key limit.
pub fn merge_tags(existing: &mut Vec<(String, String)>, new: &[pb::Tag]) -> KmsResult<()> {
    let mut seen = HashSet::new();
    for (i, t) in new.iter().enumerate() {
        tag(i, t)?;
        if !seen.insert(t.tag_key.as_str()) {
            return Err(messages::duplicate_tag_keys());
        }
    }
    for t in new {
        match existing.iter_mut().find(|(k, _)| *k == t.tag_key) {
            Some(slot) => slot.1 = t.tag_value.clone(),
            None => existing.push((t.tag_key.clone(), t.tag_value.clone())),
        }
    }
    if existing.len() > MAX_TAGS_PER_KEY {
        return Err(messages::too_many_tags());
    }
    Ok(())
}

pub fn untag_keys(keys: &[String]) -> KmsResult<()> {
    if keys.is_empty() {
        return Err(KmsError::constraint(None, "tagKeys", "Member must not be null"));
    }
    for (i, k) in keys.iter().enumerate() {
        let member = format!("tagKeys.{}.member", i + 1);
        let n = k.chars().count();
        if n == 0 {
            return Err(messages::too_short(Some(k), &member, 1));
        }
        if n > MAX_TAG_KEY_CHARS {
            return Err(messages::too_long(Some(k), &member, MAX_TAG_KEY_CHARS));
        }
        if k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return Err(messages::reserved_tag());
        }
    }
    Ok(())
}

/// A key policy document, checked with the full grammar (tern-policy):
/// size → LimitExceededException, characters → ValidationException,
/// anything else → MalformedPolicyDocumentException pointing at the problem.
pub fn policy(doc: &str) -> KmsResult<()> {
    if doc.is_empty() {
        return Err(KmsError::constraint(
            None,
            "policy",
            "Member must have length greater than or equal to 1",
        ));
    }
    tern_policy::Policy::parse_key_policy(doc)
        .map(|_| ())
        .map_err(crate::authz::policy_error)
}

pub fn policy_name(name: Option<&str>) -> KmsResult<()> {
    match name {
        None | Some(DEFAULT_POLICY_NAME) => Ok(()),
        Some(n) if n.is_empty() || n.len() > 128 || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            Err(KmsError::constraint(
                Some(n),
                "policyName",
                "Member must satisfy regular expression pattern: [\\w]+",
            ))
        }
        Some(n) => Err(messages::no_such_policy(n)),
    }
}

/// The default key policy: the account root may do everything, which
/// delegates to the account's identity policies.
pub fn default_policy(account: &str) -> String {
    tern_policy::default_key_policy(account)
}

/// Opaque paging markers: the URL-safe base64 of the last item's sort key.
pub fn encode_marker(sort_key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sort_key)
}

pub fn decode_marker(m: Option<&str>) -> KmsResult<Option<String>> {
    let Some(m) = m else { return Ok(None) };
    let bad = || KmsError::new(ErrorKind::InvalidMarkerException, "Invalid marker.");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(m)
        .map_err(|_| bad())?;
    String::from_utf8(bytes).map(Some).map_err(|_| bad())
}

/// One page of items sorted by `sort_key`, after `marker`.
pub fn page<T>(
    items: impl Iterator<Item = (String, T)>,
    marker: Option<&str>,
    limit: usize,
) -> KmsResult<(Vec<T>, Option<String>)> {
    let after = decode_marker(marker)?;
    let mut out = Vec::with_capacity(limit.min(128));
    let mut last = None;
    let mut more = false;
    for (k, v) in items {
        if after.as_ref().is_some_and(|a| k.as_str() <= a.as_str()) {
            continue;
        }
        if out.len() == limit {
            more = true;
            break;
        }
        last = Some(k);
        out.push(v);
    }
    Ok((out, if more { last.map(|k| encode_marker(&k)) } else { None }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(int_in_range(None, "limit", 1, 1000, 100).unwrap(), 100);
        let e = int_in_range(Some(1025), "numberOfBytes", 1, 1024, 0).unwrap_err();
        assert!(e.message.contains("less than or equal to 1024"), "{}", e.message);
        assert!(int_in_range(Some(0), "limit", 1, 10, 5).is_err());
    }

    #[test]
    fn tags() {
        let t = |k: &str, v: &str| pb::Tag {
            tag_key: k.into(),
            tag_value: v.into(),
        };
        let mut ex = vec![];
        merge_tags(&mut ex, &[t("a", "1"), t("b", "")]).unwrap();
        merge_tags(&mut ex, &[t("a", "2")]).unwrap();
        assert_eq!(
            ex,
            vec![("a".to_string(), "2".to_string()), ("b".to_string(), String::new())]
        );
        assert_eq!(
            merge_tags(&mut ex, &[t("aws:x", "1")]).unwrap_err().message,
            "Tags beginning with aws: are reserved"
        );
        assert_eq!(
            merge_tags(&mut ex, &[t("c", "1"), t("c", "2")]).unwrap_err().message,
            "Duplicate tag keys"
        );
        let many: Vec<_> = (0..49).map(|i| t(&format!("k{i}"), "v")).collect();
        assert_eq!(merge_tags(&mut ex, &many).unwrap_err().message, "Too many tags");
        // The reserved prefix in any case.
        for k in ["AWS:x", "Aws:x", "aWs:"] {
            assert_eq!(
                merge_tags(&mut ex, &[t(k, "1")]).unwrap_err().kind,
                ErrorKind::TagException,
                "{k}"
            );
        }
        // Lengths are validation errors naming the member, as AWS's are.
        let long_key = "a".repeat(129);
        let e = merge_tags(&mut ex, &[t("ok", "1"), t(&long_key, "1")]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ValidationException);
        assert_eq!(
            e.message,
            format!("1 validation error detected: Value '{long_key}' at 'tags.2.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128")
        );
        let long_value = "v".repeat(257);
        let e = merge_tags(&mut ex, &[t("ok", &long_value)]).unwrap_err();
        assert_eq!(
            e.message,
            format!("1 validation error detected: Value '{long_value}' at 'tags.1.member.tagValue' failed to satisfy constraint: Member must have length less than or equal to 256")
        );
        let e = merge_tags(&mut ex, &[t("", "1")]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ValidationException);
        assert!(e.message.contains("'tags.1.member.tagKey'"), "{}", e.message);
        let e = untag_keys(&["a".into(), "AWS:b".into()]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TagException);
        let e = untag_keys(std::slice::from_ref(&long_key)).unwrap_err();
        assert!(e.message.contains("'tagKeys.1.member'"), "{}", e.message);
    }

    #[test]
    fn policies() {
        assert!(policy(&default_policy("111122223333")).is_ok());
        assert_eq!(
            policy("not json").unwrap_err().kind,
            ErrorKind::MalformedPolicyDocumentException
        );
        assert_eq!(
            policy("{}").unwrap_err().kind,
            ErrorKind::MalformedPolicyDocumentException
        );
        let big = format!("{{\"Statement\":[],\"x\":\"{}\"}}", "a".repeat(MAX_POLICY_BYTES));
        assert_eq!(policy(&big).unwrap_err().kind, ErrorKind::LimitExceededException);
        let doc = default_policy("111122223333").replace("Enable IAM User Permissions", "\u{2603}");
        assert_eq!(policy(&doc).unwrap_err().kind, ErrorKind::ValidationException);
    }

    #[test]
    fn paging() {
        let items = || (0..5).map(|i| (format!("k{i}"), i));
        let (p1, m1) = page(items(), None, 2).unwrap();
        assert_eq!(p1, vec![0, 1]);
        let (p2, m2) = page(items(), m1.as_deref(), 2).unwrap();
        assert_eq!(p2, vec![2, 3]);
        let (p3, m3) = page(items(), m2.as_deref(), 2).unwrap();
        assert_eq!((p3, m3), (vec![4], None));
        assert_eq!(
            page(items(), Some("!!"), 2).unwrap_err().kind,
            ErrorKind::InvalidMarkerException
        );
    }
}
