//! The `Condition` element: operators, their compiled values, and how a clause
//! is decided against a request.
//!
//! A block `{ "<Operator>": { "<key>": value-or-list } }` compiles to one
//! [`Clause`] per (operator, key). Clauses are ANDed; the values of one clause
//! are ORed.

mod base64;
mod cidr;
mod date;

use std::net::IpAddr;

use crate::context::{normalize_key, Request};
use crate::json::Json;
use crate::pattern::{eq_ignore_case, ArnPattern, Case, Pattern};
use cidr::Cidr;

/// One compiled (operator, key) pair.
#[derive(Debug, Clone)]
pub(crate) struct Clause {
    /// Normalized (lowercase) condition key.
    key: String,
    test: Test,
}

#[derive(Debug, Clone)]
enum Test {
    /// `Null`: each policy value is "the key is absent" (`true`) or "present"
    /// (`false`); ORed.
    Null(Vec<bool>),
    Match {
        values: Values,
        /// `StringNotEquals` and friends: the positive operator, negated.
        negated: bool,
        if_exists: bool,
        set: SetQualifier,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    Single,
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Compare {
    fn holds<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Compare::Eq => request == policy,
            Compare::Lt => request < policy,
            Compare::Le => request <= policy,
            Compare::Gt => request > policy,
            Compare::Ge => request >= policy,
        }
    }
}

/// The policy values of a clause, parsed for their operator.
#[derive(Debug, Clone)]
enum Values {
    StringEquals(Vec<String>),
    StringEqualsIgnoreCase(Vec<String>),
    StringLike(Vec<Pattern>),
    Numeric(Compare, Vec<f64>),
    /// Milliseconds since the epoch.
    Date(Compare, Vec<i64>),
    Bool(Vec<bool>),
    Binary(Vec<Vec<u8>>),
    Ip(Vec<Cidr>),
    Arn(Vec<ArnPattern>),
}

/// The operator family, before its values are parsed.
#[derive(Debug, Clone, Copy)]
enum Kind {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Compare),
    Date(Compare),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// Every operator name without qualifier or `IfExists`: (name, kind, negated).
const OPERATORS: &[(&str, Kind, bool)] = &[
    ("StringEquals", Kind::StringEquals, false),
    ("StringNotEquals", Kind::StringEquals, true),
    ("StringEqualsIgnoreCase", Kind::StringEqualsIgnoreCase, false),
    ("StringNotEqualsIgnoreCase", Kind::StringEqualsIgnoreCase, true),
    ("StringLike", Kind::StringLike, false),
    ("StringNotLike", Kind::StringLike, true),
    ("NumericEquals", Kind::Numeric(Compare::Eq), false),
    ("NumericNotEquals", Kind::Numeric(Compare::Eq), true),
    ("NumericLessThan", Kind::Numeric(Compare::Lt), false),
    ("NumericLessThanEquals", Kind::Numeric(Compare::Le), false),
    ("NumericGreaterThan", Kind::Numeric(Compare::Gt), false),
    ("NumericGreaterThanEquals", Kind::Numeric(Compare::Ge), false),
    ("DateEquals", Kind::Date(Compare::Eq), false),
    ("DateNotEquals", Kind::Date(Compare::Eq), true),
    ("DateLessThan", Kind::Date(Compare::Lt), false),
    ("DateLessThanEquals", Kind::Date(Compare::Le), false),
    ("DateGreaterThan", Kind::Date(Compare::Gt), false),
    ("DateGreaterThanEquals", Kind::Date(Compare::Ge), false),
    ("Bool", Kind::Bool, false),
    ("BinaryEquals", Kind::Binary, false),
    ("IpAddress", Kind::Ip, false),
    ("NotIpAddress", Kind::Ip, true),
    ("ArnEquals", Kind::Arn, false),
    ("ArnLike", Kind::Arn, false),
    ("ArnNotEquals", Kind::Arn, true),
    ("ArnNotLike", Kind::Arn, true),
    ("Null", Kind::Null, false),
];

/// A resolved operator name.
#[derive(Debug, Clone, Copy)]
struct Operator {
    kind: Kind,
    negated: bool,
    if_exists: bool,
    set: SetQualifier,
}

fn parse_operator(name: &str) -> Result<Operator, String> {
    let unknown = || format!("unknown condition operator {name:?}");
    let (set, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
        (SetQualifier::ForAnyValue, r)
    } else if let Some(r) = name.strip_prefix("ForAllValues:") {
        (SetQualifier::ForAllValues, r)
    } else {
        (SetQualifier::Single, name)
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(b) => (b, true),
        None => (rest, false),
    };
    let &(_, kind, negated) = OPERATORS.iter().find(|(n, _, _)| *n == base).ok_or_else(unknown)?;
    if matches!(kind, Kind::Null) && (if_exists || set != SetQualifier::Single) {
        return Err(format!(
            "condition operator {name:?}: Null takes neither IfExists nor ForAnyValue:/ForAllValues:"
        ));
    }
    Ok(Operator {
        kind,
        negated,
        if_exists,
        set,
    })
}

/// Compiles a statement's `Condition` element.
pub(crate) fn compile(cond: &Json) -> Result<Vec<Clause>, String> {
    let Json::Object(ops) = cond else {
        return Err(format!("Condition must be an object, not {}", cond.type_name()));
    };
    let mut clauses = Vec::new();
    for (i, (op_name, block)) in ops.iter().enumerate() {
        if ops[..i].iter().any(|(n, _)| n == op_name) {
            return Err(format!("duplicate condition operator {op_name:?}"));
        }
        let op = parse_operator(op_name)?;
        let Json::Object(keys) = block else {
            return Err(format!(
                "condition operator {op_name:?} must map to an object of condition keys, not {}",
                block.type_name()
            ));
        };
        if keys.is_empty() {
            return Err(format!("condition operator {op_name:?} has no condition keys"));
        }
        let first_clause = clauses.len();
        for (key, raw) in keys {
            let key_norm = normalize_key(key);
            if clauses[first_clause..].iter().any(|c: &Clause| c.key == key_norm) {
                return Err(format!("duplicate condition key {key:?} under {op_name:?}"));
            }
            if key.is_empty() || !key.contains(':') || key.chars().any(char::is_whitespace) {
                return Err(format!(
                    "invalid condition key {key:?} under {op_name:?}: expected <prefix>:<name>, e.g. kms:CallerAccount"
                ));
            }
            let strings = value_strings(raw).map_err(|e| format!("condition {op_name:?} key {key:?}: {e}"))?;
            let test = compile_values(op, &strings)
                .map_err(|e| format!("condition {op_name:?} key {key:?}: invalid value {e}"))?;
            clauses.push(Clause { key: key_norm, test });
        }
    }
    Ok(clauses)
}

/// A condition value or list of values, normalized to strings.
fn value_strings(raw: &Json) -> Result<Vec<&str>, String> {
    fn scalar(v: &Json) -> Result<&str, String> {
        match v {
            Json::String(s) | Json::Number(s) => Ok(s),
            Json::Bool(true) => Ok("true"),
            Json::Bool(false) => Ok("false"),
            other => Err(format!(
                "values must be strings, numbers or booleans, not {}",
                other.type_name()
            )),
        }
    }
    match raw {
        Json::Array(items) if items.is_empty() => Err("the value list is empty".to_owned()),
        Json::Array(items) => items.iter().map(scalar).collect(),
        v => Ok(vec![scalar(v)?]),
    }
}

fn compile_values(op: Operator, strings: &[&str]) -> Result<Test, String> {
    fn each<T>(strings: &[&str], what: &str, f: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, String> {
        strings
            .iter()
            .map(|s| f(s).ok_or_else(|| format!("{s:?}: expected {what}")))
            .collect()
    }
    let values = match op.kind {
        Kind::Null => return Ok(Test::Null(each(strings, "true or false", parse_bool)?)),
        Kind::StringEquals => Values::StringEquals(strings.iter().map(|s| (*s).to_owned()).collect()),
        Kind::StringEqualsIgnoreCase => {
            Values::StringEqualsIgnoreCase(strings.iter().map(|s| (*s).to_owned()).collect())
        }
        Kind::StringLike => Values::StringLike(strings.iter().map(|s| Pattern::new(s, Case::Sensitive)).collect()),
        Kind::Numeric(c) => Values::Numeric(c, each(strings, "a number", parse_number)?),
        Kind::Date(c) => Values::Date(c, each(strings, "an ISO 8601 date or epoch seconds", date::parse_ms)?),
        Kind::Bool => Values::Bool(each(strings, "true or false", parse_bool)?),
        Kind::Binary => Values::Binary(each(strings, "base64", base64::decode)?),
        Kind::Ip => Values::Ip(each(strings, "an IPv4 or IPv6 address or CIDR block", Cidr::parse)?),
        Kind::Arn => Values::Arn(strings.iter().map(|s| ArnPattern::new(s)).collect()),
    };
    Ok(Test::Match {
        values,
        negated: op.negated,
        if_exists: op.if_exists,
        set: op.set,
    })
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn parse_number(s: &str) -> Option<f64> {
    // `f64::from_str` also takes "inf" and "NaN"; only finite numbers count.
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

impl Values {
    /// Whether one request value matches any of the policy values under the
    /// positive form of the operator.
    fn matches(&self, v: &str) -> bool {
        match self {
            Values::StringEquals(ps) => ps.iter().any(|p| p == v),
            Values::StringEqualsIgnoreCase(ps) => ps.iter().any(|p| eq_ignore_case(p, v)),
            Values::StringLike(ps) => ps.iter().any(|p| p.matches(v)),
            Values::Numeric(c, ps) => parse_number(v).is_some_and(|n| ps.iter().any(|&p| c.holds(n, p))),
            Values::Date(c, ps) => date::parse_ms(v).is_some_and(|t| ps.iter().any(|&p| c.holds(t, p))),
            Values::Bool(ps) => parse_bool(v).is_some_and(|b| ps.contains(&b)),
            // Decoding allocates; BinaryEquals is rare enough not to matter.
            Values::Binary(ps) => base64::decode(v).is_some_and(|b| ps.contains(&b)),
            Values::Ip(ps) => v.parse::<IpAddr>().is_ok_and(|a| ps.iter().any(|c| c.contains(a))),
            Values::Arn(ps) => ps.iter().any(|p| p.matches(v)),
        }
    }
}

impl Clause {
    /// The normalized condition key.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    pub(crate) fn holds(&self, req: &Request<'_>) -> bool {
        let found = req.lookup(&self.key);
        match &self.test {
            Test::Null(absent) => {
                let is_absent = found.is_none();
                absent.contains(&is_absent)
            }
            Test::Match {
                values,
                negated,
                if_exists,
                set,
            } => match (found, set) {
                (None, SetQualifier::ForAllValues) => true,
                (None, SetQualifier::ForAnyValue) => *if_exists,
                (None, SetQualifier::Single) => *if_exists || *negated,
                (Some(vals), SetQualifier::Single) => vals.iter().any(|v| values.matches(v)) != *negated,
                (Some(vals), SetQualifier::ForAnyValue) => vals.iter().any(|v| values.matches(v) != *negated),
                (Some(vals), SetQualifier::ForAllValues) => vals.iter().all(|v| values.matches(v) != *negated),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names() {
        for (name, _, _) in OPERATORS {
            assert!(parse_operator(name).is_ok(), "{name}");
            if *name != "Null" {
                for n in [
                    format!("{name}IfExists"),
                    format!("ForAnyValue:{name}"),
                    format!("ForAllValues:{name}IfExists"),
                ] {
                    assert!(parse_operator(&n).is_ok(), "{n}");
                }
            }
        }
        for bad in [
            "StringEqualz",
            "stringequals",
            "NullIfExists",
            "ForAnyValue:Null",
            "ForAnyValue:",
            "IfExists",
            "ForSomeValues:StringEquals",
            "StringEqualsIfExistsIfExists",
            "",
        ] {
            assert!(parse_operator(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bad_values_are_refused_with_the_key_named() {
        let cases: &[(&str, &str)] = &[
            (r#"{"NumericEquals": {"kms:x": "ten"}}"#, "\"ten\": expected a number"),
            (r#"{"NumericEquals": {"kms:x": "NaN"}}"#, "expected a number"),
            (
                r#"{"DateLessThan": {"aws:CurrentTime": "soon"}}"#,
                "expected an ISO 8601",
            ),
            (r#"{"Bool": {"aws:SecureTransport": "yes"}}"#, "expected true or false"),
            (r#"{"Null": {"kms:x": "maybe"}}"#, "expected true or false"),
            (r#"{"BinaryEquals": {"kms:x": "not base64!"}}"#, "expected base64"),
            (r#"{"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}}"#, "CIDR"),
            (r#"{"StringEquals": {"kms:x": []}}"#, "empty"),
            (r#"{"StringEquals": {"kms:x": [null]}}"#, "not null"),
            (r#"{"StringEquals": {"kms:x": {"a": "b"}}}"#, "not an object"),
            (r#"{"StringEquals": {}}"#, "no condition keys"),
            (r#"{"StringEquals": "x"}"#, "must map to an object"),
            (r#"{"StringEquals": {"nocolon": "x"}}"#, "invalid condition key"),
            (
                r#"{"StringEquals": {"kms:A": "x", "kms:a": "y"}}"#,
                "duplicate condition key",
            ),
            (
                r#"{"StringEquals": {"kms:a": "x"}, "StringEquals": {"kms:b": "y"}}"#,
                "duplicate condition operator",
            ),
            (
                r#"{"StringEqualz": {"kms:a": "x"}}"#,
                "unknown condition operator \"StringEqualz\"",
            ),
            (r#"[]"#, "must be an object"),
        ];
        for (doc, want) in cases {
            let json = crate::json::parse(doc).unwrap();
            let err = compile(&json).expect_err(doc);
            assert!(err.contains(want), "{doc}: {err:?} should contain {want:?}");
        }
    }

    #[test]
    fn scalar_kinds_normalize_to_strings() {
        let json = crate::json::parse(r#"{"StringEquals": {"kms:x": [1, true, "s", 2.5]}}"#).unwrap();
        let clauses = compile(&json).unwrap();
        match &clauses[0].test {
            Test::Match {
                values: Values::StringEquals(v),
                ..
            } => assert_eq!(v, &["1", "true", "s", "2.5"]),
            other => panic!("{other:?}"),
        }
    }
}
