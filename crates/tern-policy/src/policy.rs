//! A whole policy document: parsed and validated once into a [`Policy`], then
//! evaluated against requests.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::context::Request;
use crate::error::PolicyError;
use crate::json::{self, Json};
use crate::principal::PrincipalMatch;
use crate::statement::{Effect, Statement};
use crate::MAX_POLICY_BYTES;

/// Which grammar a document follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// A key policy: every statement names a `Principal` or `NotPrincipal`.
    Key,
    /// An identity (IAM) policy attached to a user or role: no `Principal`.
    Identity,
}

/// The policy versions AWS accepts.
const VERSIONS: &[&str] = &["2012-10-17", "2008-10-17"];

/// A compiled policy. Cheap to clone (one `Arc`), `Send + Sync`, immutable.
#[derive(Debug, Clone)]
pub struct Policy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    kind: PolicyKind,
    version: Option<String>,
    id: Option<String>,
    statements: Vec<Statement>,
}

/// What one policy says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Evaluation {
    /// A matching `Deny` statement (the first one, 0-based). Wins over any
    /// `Allow` in the same policy.
    ExplicitDeny { statement: usize },
    /// A matching `Allow` and no matching `Deny`. `via_account_root` is true
    /// when the only allowing statements name the caller's account (its id or
    /// `arn:…:root`) rather than the caller itself: the account's identity
    /// policies must allow the request too. `statement` is a direct allow when
    /// there is one, else the first account allow.
    Allow { statement: usize, via_account_root: bool },
    /// No statement applies.
    NotApplicable,
}

impl Policy {
    /// Parses and validates a document.
    pub fn parse(doc: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        if doc.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge {
                len_bytes: doc.len(),
                max_bytes: MAX_POLICY_BYTES,
            });
        }
        if let Some((offset_bytes, character)) = doc
            .char_indices()
            .find(|&(_, c)| !matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FF}'))
        {
            return Err(PolicyError::InvalidCharacter {
                character,
                offset_bytes,
            });
        }
        let json = json::parse(doc)
            .map_err(|e| PolicyError::malformed(format!("The policy document is not valid JSON: {e}")))?;
        Self::compile(&json, kind).map_err(PolicyError::malformed)
    }

    /// [`Policy::parse`] with [`PolicyKind::Key`].
    pub fn parse_key_policy(doc: &str) -> Result<Policy, PolicyError> {
        Self::parse(doc, PolicyKind::Key)
    }

    /// [`Policy::parse`] with [`PolicyKind::Identity`].
    pub fn parse_identity_policy(doc: &str) -> Result<Policy, PolicyError> {
        Self::parse(doc, PolicyKind::Identity)
    }

    fn compile(json: &Json, kind: PolicyKind) -> Result<Policy, String> {
        let Json::Object(fields) = json else {
            return Err(format!(
                "The policy document must be a JSON object, not {}.",
                json.type_name()
            ));
        };
        let mut version = None;
        let mut id = None;
        let mut statement = None;
        for (name, value) in fields {
            let slot_taken = match name.as_str() {
                "Version" => version.replace(value).is_some(),
                "Id" => id.replace(value).is_some(),
                "Statement" => statement.replace(value).is_some(),
                other => return Err(format!("The policy document has an unknown element {other:?}.")),
            };
            if slot_taken {
                return Err(format!("The policy document has more than one {name:?} element."));
            }
        }
        let version = match version {
            None => None,
            Some(Json::String(v)) if VERSIONS.contains(&v.as_str()) => Some(v.clone()),
            Some(Json::String(v)) => return Err(format!("Unsupported policy Version {v:?}; use \"2012-10-17\".")),
            Some(other) => return Err(format!("Version must be a string, not {}.", other.type_name())),
        };
        let id = match id {
            None => None,
            Some(Json::String(v)) => Some(v.clone()),
            Some(other) => return Err(format!("Id must be a string, not {}.", other.type_name())),
        };
        let items: &[Json] = match statement {
            None => return Err("The policy document has no Statement.".to_owned()),
            Some(Json::Array(items)) if items.is_empty() => {
                return Err("The policy document's Statement list is empty.".to_owned())
            }
            Some(Json::Array(items)) => items,
            Some(one @ Json::Object(_)) => std::slice::from_ref(one),
            Some(other) => {
                return Err(format!(
                    "Statement must be an object or a list of objects, not {}.",
                    other.type_name()
                ))
            }
        };
        let mut statements: Vec<Statement> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let s = Statement::compile(item, kind).map_err(|(sid, msg)| at(i, sid.as_deref(), &msg))?;
            if let Some(sid) = &s.sid {
                if statements.iter().any(|o| o.sid.as_ref() == Some(sid)) {
                    return Err(at(i, Some(sid), "duplicate Sid; Sids must be unique within a policy"));
                }
            }
            statements.push(s);
        }
        Ok(Policy {
            inner: Arc::new(Inner {
                kind,
                version,
                id,
                statements,
            }),
        })
    }

    /// Every condition key the policy names (normalized, lowercase), once.
    pub fn condition_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.inner.statements.iter().flat_map(|s| s.condition_keys()).collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    pub fn kind(&self) -> PolicyKind {
        self.inner.kind
    }

    pub fn version(&self) -> Option<&str> {
        self.inner.version.as_deref()
    }

    pub fn id(&self) -> Option<&str> {
        self.inner.id.as_deref()
    }

    /// How many statements the policy has.
    pub fn len(&self) -> usize {
        self.inner.statements.len()
    }

    /// Always false: a valid policy has at least one statement.
    pub fn is_empty(&self) -> bool {
        self.inner.statements.is_empty()
    }

    /// The `Sid` of statement `index` (0-based), if it has one.
    pub fn sid(&self, index: usize) -> Option<&str> {
        self.inner.statements.get(index).and_then(|s| s.sid.as_deref())
    }

    /// The `Effect` of statement `index` (0-based).
    pub fn effect(&self, index: usize) -> Option<Effect> {
        self.inner.statements.get(index).map(|s| s.effect)
    }

    /// Evaluates the policy alone: explicit deny wins, then allow, else not
    /// applicable. Allocates nothing.
    pub fn evaluate(&self, req: &Request<'_>) -> Evaluation {
        let mut direct = None;
        let mut via_account = None;
        for (i, s) in self.inner.statements.iter().enumerate() {
            let Some(how) = s.applies(req) else {
                continue;
            };
            match (s.effect, how) {
                (Effect::Deny, _) => return Evaluation::ExplicitDeny { statement: i },
                (Effect::Allow, PrincipalMatch::Direct) => {
                    direct.get_or_insert(i);
                }
                (Effect::Allow, PrincipalMatch::ViaAccount) => {
                    via_account.get_or_insert(i);
                }
            }
        }
        match (direct, via_account) {
            (Some(statement), _) => Evaluation::Allow {
                statement,
                via_account_root: false,
            },
            (None, Some(statement)) => Evaluation::Allow {
                statement,
                via_account_root: true,
            },
            (None, None) => Evaluation::NotApplicable,
        }
    }

    /// Whether the policy allows the request only by naming the caller's
    /// account (its id or root ARN), so the caller's identity policies must
    /// allow it too.
    pub fn delegates_to_account(&self, req: &Request<'_>) -> bool {
        matches!(
            self.evaluate(req),
            Evaluation::Allow {
                via_account_root: true,
                ..
            }
        )
    }
}

/// "Statement 2 (Sid \"AllowUse\"): <msg>" — 1-based, as people count.
fn at(index: usize, sid: Option<&str>, msg: &str) -> String {
    let mut out = format!("Statement {}", index + 1);
    if let Some(sid) = sid {
        let _ = write!(out, " (Sid {sid:?})");
    }
    let _ = write!(out, ": {msg}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE_ALLOW: &str = r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"}, "Action": "kms:*", "Resource": "*"}"#;

    fn doc(statements: &str) -> String {
        format!(r#"{{"Version": "2012-10-17", "Statement": [{statements}]}}"#)
    }

    #[test]
    fn send_sync_and_cheap_clone() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Policy>();
        let p = Policy::parse_key_policy(&doc(ALICE_ALLOW)).unwrap();
        let q = p.clone();
        assert!(Arc::ptr_eq(&p.inner, &q.inner));
    }

    #[test]
    fn accepts_valid_shapes() {
        let ok: &[(&str, PolicyKind)] = &[
            (&doc(ALICE_ALLOW), PolicyKind::Key),
            // Statement as a single object, no Version, an Id.
            (
                r#"{"Id": "k", "Statement": {"Effect": "Deny", "Principal": "*", "NotAction": ["kms:Decrypt"], "NotResource": "arn:aws:kms:*:*:key/*"}}"#,
                PolicyKind::Key,
            ),
            (
                r#"{"Version": "2008-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ["111122223333", "arn:aws:iam::444455556666:root"], "Service": "logs.amazonaws.com"}, "Action": ["kms:Encrypt", "kms:Generate*"], "Resource": ["*"]}]}"#,
                PolicyKind::Key,
            ),
            (
                r#"{"Statement": [{"Sid": "A", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:us-east-1:111122223333:key/*"}]}"#,
                PolicyKind::Identity,
            ),
            // Policy variables are accepted and compared literally.
            (
                r#"{"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "${aws:username}"}}}]}"#,
                PolicyKind::Identity,
            ),
            (
                r#"{"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": "111122223333"}, "Action": "*", "Resource": "*", "Condition": {}}]}"#,
                PolicyKind::Key,
            ),
        ];
        for (d, kind) in ok {
            if let Err(e) = Policy::parse(d, *kind) {
                panic!("{d} should parse as {kind:?}: {e}");
            }
        }
        let p = Policy::parse_key_policy(ok[2].0).unwrap();
        assert_eq!(p.version(), Some("2008-10-17"));
        assert_eq!(p.len(), 1);
        assert!(!p.is_empty());
        assert_eq!(Policy::parse_key_policy(ok[1].0).unwrap().id(), Some("k"));
    }

    #[test]
    fn refuses_malformed_documents_with_a_pointed_message() {
        let alice = ALICE_ALLOW;
        let cases: Vec<(String, PolicyKind, &str)> = vec![
            ("".into(), PolicyKind::Key, "not valid JSON"),
            ("{".into(), PolicyKind::Key, "not valid JSON"),
            (format!("{} x", doc(alice)), PolicyKind::Key, "not valid JSON"),
            ("[]".into(), PolicyKind::Key, "must be a JSON object"),
            ("{}".into(), PolicyKind::Key, "no Statement"),
            (
                r#"{"Statement": []}"#.into(),
                PolicyKind::Key,
                "Statement list is empty",
            ),
            (
                r#"{"Statement": "x"}"#.into(),
                PolicyKind::Key,
                "Statement must be an object or a list",
            ),
            (
                r#"{"Statement": [1]}"#.into(),
                PolicyKind::Key,
                "Statement 1: must be an object",
            ),
            (
                format!(r#"{{"Version": "2020-01-01", "Statement": [{alice}]}}"#),
                PolicyKind::Key,
                "Unsupported policy Version",
            ),
            (
                format!(r#"{{"Version": 1, "Statement": [{alice}]}}"#),
                PolicyKind::Key,
                "Version must be a string",
            ),
            (
                format!(r#"{{"Id": 1, "Statement": [{alice}]}}"#),
                PolicyKind::Key,
                "Id must be a string",
            ),
            (
                format!(r#"{{"Extra": 1, "Statement": [{alice}]}}"#),
                PolicyKind::Key,
                "unknown element \"Extra\"",
            ),
            (
                format!(r#"{{"Statement": [{alice}], "Statement": [{alice}]}}"#),
                PolicyKind::Key,
                "more than one \"Statement\"",
            ),
            (
                doc(
                    r#"{"Sid": "S", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*", "Colour": "red"}"#,
                ),
                PolicyKind::Key,
                "Statement 1 (Sid \"S\"): unknown element \"Colour\"",
            ),
            (
                doc(r#"{"Effect": "Allow", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}"#),
                PolicyKind::Key,
                "duplicate element \"Effect\"",
            ),
            (
                doc(r#"{"Principal": "*", "Action": "kms:*", "Resource": "*"}"#),
                PolicyKind::Key,
                "missing Effect",
            ),
            (
                doc(r#"{"Effect": "allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}"#),
                PolicyKind::Key,
                "Effect must be",
            ),
            (
                doc(r#"{"Effect": true, "Principal": "*", "Action": "kms:*", "Resource": "*"}"#),
                PolicyKind::Key,
                "Effect must be a string",
            ),
            (
                doc(r#"{"Sid": 3, "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}"#),
                PolicyKind::Key,
                "Sid must be a string",
            ),
            (
                doc(r#"{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}"#),
                PolicyKind::Key,
                "Statement 1: has no Principal",
            ),
            (
                doc(alice),
                PolicyKind::Identity,
                "identity policies must not contain Principal",
            ),
            (
                doc(r#"{"Effect": "Allow", "NotPrincipal": "*", "Action": "kms:*", "Resource": "*"}"#),
                PolicyKind::Identity,
                "must not contain Principal or NotPrincipal",
            ),
            (
                doc(
                    r#"{"Effect": "Allow", "Principal": "*", "NotPrincipal": "*", "Action": "kms:*", "Resource": "*"}"#,
                ),
                PolicyKind::Key,
                "both Principal and NotPrincipal",
            ),
            (
                doc(r#"{"Effect": "Allow", "Principal": "alice", "Action": "kms:*", "Resource": "*"}"#),
                PolicyKind::Key,
                "is not a principal",
            ),
            (
                doc(r#"{"Effect": "Allow", "Principal": {}, "Action": "kms:*", "Resource": "*"}"#),
                PolicyKind::Key,
                "principal object is empty",
            ),
            (
                doc(r#"{"Effect": "Allow", "Principal": {"AWS": []}, "Action": "kms:*", "Resource": "*"}"#),
                PolicyKind::Key,
                "empty list",
            ),
            (
                doc(
                    r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::*:root"}, "Action": "kms:*", "Resource": "*"}"#,
                ),
                PolicyKind::Key,
                "wildcards are not allowed",
            ),
            (
                doc(r#"{"Effect": "Allow", "Principal": {"AWS": "12345"}, "Action": "kms:*", "Resource": "*"}"#),
                PolicyKind::Key,
                "invalid principal \"12345\"",
            ),
            (
                doc(
                    r#"{"Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"}, "Action": "kms:*", "Resource": "*"}"#,
                ),
                PolicyKind::Key,
                "unsupported principal type \"Federated\"",
            ),
            (
                doc(r#"{"Effect": "Allow", "Principal": {"AWS": 111122223333}, "Action": "kms:*", "Resource": "*"}"#),
                PolicyKind::Key,
                "AWS must be a string",
            ),
            (
                doc(r#"{"Effect": "Allow", "Principal": "*", "Resource": "*"}"#),
                PolicyKind::Key,
                "neither Action nor NotAction",
            ),
            (
                doc(
                    r#"{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "NotAction": "kms:Decrypt", "Resource": "*"}"#,
                ),
                PolicyKind::Key,
                "both Action and NotAction",
            ),
            (
                doc(r#"{"Effect": "Allow", "Principal": "*", "Action": [], "Resource": "*"}"#),
                PolicyKind::Key,
                "Action must not be an empty list",
            ),
            (
                doc(r#"{"Effect": "Allow", "Principal": "*", "Action": "", "Resource": "*"}"#),
                PolicyKind::Key,
                "Action \"\"",
            ),
            (
                doc(r#"{"Effect": "Allow", "Principal": "*", "Action": "Decrypt", "Resource": "*"}"#),
                PolicyKind::Key,
                "<service>:<action>",
            ),
            (
                doc(r#"{"Effect": "Allow", "Principal": "*", "Action": "*:Decrypt", "Resource": "*"}"#),
                PolicyKind::Key,
                "service prefix",
            ),
            (
                doc(r#"{"Effect": "Allow", "Principal": "*", "Action": "kms:", "Resource": "*"}"#),
                PolicyKind::Key,
                "action name",
            ),
            (
                doc(r#"{"Effect": "Allow", "Principal": "*", "Action": [1], "Resource": "*"}"#),
                PolicyKind::Key,
                "Action values must be strings",
            ),
            (
                doc(r#"{"Effect": "Allow", "Principal": "*", "Action": "kms:*"}"#),
                PolicyKind::Key,
                "neither Resource nor NotResource",
            ),
            (
                doc(r#"{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*", "NotResource": "*"}"#),
                PolicyKind::Key,
                "both Resource and NotResource",
            ),
            (
                doc(r#"{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "key/1"}"#),
                PolicyKind::Key,
                "a resource must be",
            ),
            (
                doc(r#"{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "arn:aws:kms"}"#),
                PolicyKind::Key,
                "a resource must be",
            ),
            (
                doc(r#"{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*", "Condition": "x"}"#),
                PolicyKind::Key,
                "Condition must be an object",
            ),
            (
                doc(
                    r#"{"Sid": "AllowUse", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}, {"Sid": "AllowUse2", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*", "Condition": {"StringEqualz": {"kms:CallerAccount": "1"}}}"#,
                ),
                PolicyKind::Key,
                "Statement 2 (Sid \"AllowUse2\"): unknown condition operator \"StringEqualz\"",
            ),
            (
                doc(
                    r#"{"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}, {"Sid": "A", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}"#,
                ),
                PolicyKind::Key,
                "Statement 2 (Sid \"A\"): duplicate Sid",
            ),
        ];
        for (d, kind, want) in cases {
            match Policy::parse(&d, kind) {
                Ok(_) => panic!("{d} should be refused as {kind:?}"),
                Err(e) => {
                    assert_eq!(e.aws_error_code(), "MalformedPolicyDocumentException", "{d}");
                    let msg = e.to_string();
                    assert!(msg.contains(want), "{d}\n  got: {msg}\n  want: {want}");
                }
            }
        }
    }

    #[test]
    fn size_and_character_limits() {
        let pad = " ".repeat(MAX_POLICY_BYTES);
        let big = format!("{}{pad}", doc(ALICE_ALLOW));
        let e = Policy::parse_key_policy(&big).unwrap_err();
        assert!(
            matches!(
                e,
                PolicyError::TooLarge {
                    max_bytes: MAX_POLICY_BYTES,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.aws_error_code(), "LimitExceededException");

        // Exactly at the limit is fine.
        let base = doc(ALICE_ALLOW);
        let exact = format!("{base}{}", " ".repeat(MAX_POLICY_BYTES - base.len()));
        assert!(Policy::parse_key_policy(&exact).is_ok());

        // Latin-1 is allowed (in a Sid), anything above U+00FF or a control char is not.
        let latin1 = doc(&ALICE_ALLOW.replace("{\"Effect\"", "{\"Sid\": \"caf\u{e9}\", \"Effect\""));
        assert_eq!(Policy::parse_key_policy(&latin1).unwrap().sid(0), Some("caf\u{e9}"));
        for bad in ['\u{100}', '\u{1F600}', '\u{0}', '\u{7}', '\u{0B}'] {
            let d = doc(&ALICE_ALLOW.replace("alice", &format!("al{bad}ice")));
            let e = Policy::parse_key_policy(&d).unwrap_err();
            assert!(
                matches!(e, PolicyError::InvalidCharacter { character, .. } if character == bad),
                "{bad:?}: {e:?}"
            );
            assert_eq!(e.aws_error_code(), "ValidationException");
        }
        for ok in ["\t", "\r\n"] {
            assert!(Policy::parse_key_policy(&format!("{ok}{}{ok}", doc(ALICE_ALLOW))).is_ok());
        }
    }
}
