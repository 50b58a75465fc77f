//! One policy statement: compiled from JSON, and matched against a request.

use crate::condition::{self, Clause};
use crate::context::Request;
use crate::json::Json;
use crate::pattern::{Case, Pattern};
use crate::policy::PolicyKind;
use crate::principal::{self, PrincipalEntry, PrincipalMatch};

/// A statement's `Effect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    principal: Principals,
    actions: Matcher,
    resources: Matcher,
    conditions: Vec<Clause>,
}

#[derive(Debug, Clone)]
enum Principals {
    /// Identity policies: the identity the policy is attached to.
    Implicit,
    Principal(Vec<PrincipalEntry>),
    NotPrincipal(Vec<PrincipalEntry>),
}

/// `Action`/`NotAction` or `Resource`/`NotResource`.
#[derive(Debug, Clone)]
struct Matcher {
    negated: bool,
    patterns: Vec<Pattern>,
}

impl Matcher {
    fn matches(&self, text: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(text)) != self.negated
    }
}

const FIELDS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

impl Statement {
    /// The condition keys this statement names.
    pub(crate) fn condition_keys(&self) -> impl Iterator<Item = &str> {
        self.conditions.iter().map(|c| c.key())
    }

    /// Compiles one statement; errors are bare descriptions that the caller
    /// prefixes with the statement's position.
    pub(crate) fn compile(json: &Json, kind: PolicyKind) -> Result<Statement, (Option<String>, String)> {
        let Json::Object(fields) = json else {
            return Err((None, format!("must be an object, not {}", json.type_name())));
        };
        let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        // The Sid first, so later errors can name it.
        let sid = match get("Sid") {
            None => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(other) => return Err((None, format!("Sid must be a string, not {}", other.type_name()))),
        };
        let fail = |msg: String| (sid.clone(), msg);
        for (i, (name, _)) in fields.iter().enumerate() {
            if !FIELDS.contains(&name.as_str()) {
                return Err(fail(format!("unknown element {name:?}")));
            }
            if fields[..i].iter().any(|(n, _)| n == name) {
                return Err(fail(format!("duplicate element {name:?}")));
            }
        }

        let effect = match get("Effect") {
            Some(Json::String(s)) if s == "Allow" => Effect::Allow,
            Some(Json::String(s)) if s == "Deny" => Effect::Deny,
            Some(Json::String(s)) => return Err(fail(format!("Effect must be \"Allow\" or \"Deny\", not {s:?}"))),
            Some(other) => return Err(fail(format!("Effect must be a string, not {}", other.type_name()))),
            None => return Err(fail("missing Effect".to_owned())),
        };

        let principal = match (get("Principal"), get("NotPrincipal"), kind) {
            (Some(_), Some(_), _) => return Err(fail("has both Principal and NotPrincipal".to_owned())),
            (Some(_), None, PolicyKind::Identity) | (None, Some(_), PolicyKind::Identity) => {
                return Err(fail(
                    "identity policies must not contain Principal or NotPrincipal".to_owned(),
                ))
            }
            (None, None, PolicyKind::Identity) => Principals::Implicit,
            (None, None, PolicyKind::Key) => return Err(fail("has no Principal".to_owned())),
            (Some(p), None, PolicyKind::Key) => {
                Principals::Principal(principals(p).map_err(|e| fail(format!("Principal: {e}")))?)
            }
            (None, Some(p), PolicyKind::Key) => {
                Principals::NotPrincipal(principals(p).map_err(|e| fail(format!("NotPrincipal: {e}")))?)
            }
        };

        let actions = matcher(
            get("Action"),
            get("NotAction"),
            "Action",
            Case::Insensitive,
            validate_action,
        )
        .map_err(fail)?;
        let resources = matcher(
            get("Resource"),
            get("NotResource"),
            "Resource",
            Case::Sensitive,
            validate_resource,
        )
        .map_err(fail)?;
        let conditions = match get("Condition") {
            None => Vec::new(),
            Some(c) => condition::compile(c).map_err(fail)?,
        };
        Ok(Statement {
            sid,
            effect,
            principal,
            actions,
            resources,
            conditions,
        })
    }

    /// Whether the statement applies to the request, and if so how the
    /// principal matched.
    pub(crate) fn applies(&self, req: &Request<'_>) -> Option<PrincipalMatch> {
        if !self.actions.matches(req.action) || !self.resources.matches(req.resource_arn) {
            return None;
        }
        let how = match &self.principal {
            Principals::Implicit => PrincipalMatch::Direct,
            Principals::Principal(entries) => principal::match_any(entries, req.principal_arn, req.principal_account)?,
            Principals::NotPrincipal(entries) => {
                if principal::excluded(entries, req.principal_arn, req.principal_account) {
                    return None;
                }
                PrincipalMatch::Direct
            }
        };
        self.conditions.iter().all(|c| c.holds(req)).then_some(how)
    }
}

/// `Principal` / `NotPrincipal`: `"*"` or an object of `AWS` / `Service`.
fn principals(p: &Json) -> Result<Vec<PrincipalEntry>, String> {
    match p {
        Json::String(s) if s == "*" => Ok(vec![PrincipalEntry::Any]),
        Json::String(s) => Err(format!(
            "{s:?} is not a principal; use \"*\" or an object such as {{\"AWS\": \"arn:aws:iam::111122223333:root\"}}"
        )),
        Json::Object(kinds) if kinds.is_empty() => Err("the principal object is empty".to_owned()),
        Json::Object(kinds) => {
            let mut out = Vec::new();
            for (i, (kind, value)) in kinds.iter().enumerate() {
                if kinds[..i].iter().any(|(k, _)| k == kind) {
                    return Err(format!("duplicate principal type {kind:?}"));
                }
                let parse: fn(&str) -> Result<PrincipalEntry, String> = match kind.as_str() {
                    "AWS" => PrincipalEntry::parse_aws,
                    "Service" => PrincipalEntry::parse_service,
                    other => return Err(format!("unsupported principal type {other:?} (use AWS or Service)")),
                };
                for s in string_list(value, kind)? {
                    out.push(parse(s)?);
                }
            }
            Ok(out)
        }
        other => Err(format!("must be \"*\" or an object, not {}", other.type_name())),
    }
}

/// A string or a non-empty list of strings.
fn string_list<'j>(v: &'j Json, what: &str) -> Result<Vec<&'j str>, String> {
    match v {
        Json::String(s) => Ok(vec![s.as_str()]),
        Json::Array(items) if items.is_empty() => Err(format!("{what} must not be an empty list")),
        Json::Array(items) => items
            .iter()
            .map(|i| match i {
                Json::String(s) => Ok(s.as_str()),
                other => Err(format!("{what} values must be strings, not {}", other.type_name())),
            })
            .collect(),
        other => Err(format!(
            "{what} must be a string or a list of strings, not {}",
            other.type_name()
        )),
    }
}

/// `X` / `NotX`: exactly one of them, each value validated and compiled.
fn matcher(
    plain: Option<&Json>,
    not: Option<&Json>,
    name: &str,
    case: Case,
    validate: fn(&str) -> Result<(), String>,
) -> Result<Matcher, String> {
    let (negated, value, shown) = match (plain, not) {
        (Some(_), Some(_)) => return Err(format!("has both {name} and Not{name}")),
        (None, None) => return Err(format!("has neither {name} nor Not{name}")),
        (Some(v), None) => (false, v, name.to_owned()),
        (None, Some(v)) => (true, v, format!("Not{name}")),
    };
    let mut patterns = Vec::new();
    for s in string_list(value, &shown)? {
        validate(s).map_err(|e| format!("{shown} {s:?}: {e}"))?;
        patterns.push(Pattern::new(s, case));
    }
    Ok(Matcher { negated, patterns })
}

/// `*` or `<service>:<action pattern>`.
fn validate_action(s: &str) -> Result<(), String> {
    if s == "*" {
        return Ok(());
    }
    let Some((service, action)) = s.split_once(':') else {
        return Err("an action must be \"*\" or <service>:<action>, e.g. kms:Encrypt".to_owned());
    };
    if service.is_empty() || !service.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err("the service prefix must be letters, digits or '-', without wildcards".to_owned());
    }
    if action.is_empty()
        || !action
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
    {
        return Err("the action name must be letters and digits, with optional * or ? wildcards".to_owned());
    }
    Ok(())
}

/// `*` or an ARN (pattern) with its six fields.
fn validate_resource(s: &str) -> Result<(), String> {
    if s == "*" || (s.starts_with("arn:") && s.splitn(6, ':').count() == 6) {
        return Ok(());
    }
    Err("a resource must be \"*\" or an ARN such as arn:aws:kms:us-east-1:111122223333:key/*".to_owned())
}
