//! Table-driven authorization cases: every row is one request against one key
//! policy (plus identity policies and a grant), with the decision a user of
//! AWS KMS would expect.

use super::*;
use crate::{ConditionContext, Policy};

const ACCT: &str = "111122223333";
const OTHER: &str = "444455556666";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const OTHER_KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/ffffffff-12ab-34cd-56ef-1234567890ab";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const CAROL: &str = "arn:aws:iam::111122223333:user/carol";
const ROOT: &str = "arn:aws:iam::111122223333:root";
const ROLE: &str = "arn:aws:iam::111122223333:role/ops/Admin";
const ROLE_SESSION: &str = "arn:aws:sts::111122223333:assumed-role/Admin/alice-session";
const BOB: &str = "arn:aws:iam::444455556666:user/bob";
const OTHER_ROOT: &str = "arn:aws:iam::444455556666:root";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Allow,
    Deny,
    Implicit,
}

fn kind(d: &Decision) -> Want {
    match d {
        Decision::Allow(_) => Want::Allow,
        Decision::ExplicitDeny(_) => Want::Deny,
        Decision::ImplicitDeny(_) => Want::Implicit,
    }
}

/// A key policy statement.
fn ks(effect: &str, principal: &str, action: &str, resource: &str, condition: &str) -> String {
    let cond = if condition.is_empty() {
        String::new()
    } else {
        format!(r#", "Condition": {condition}"#)
    };
    format!(r#"{{"Effect": "{effect}", {principal}, {action}, {resource}{cond}}}"#)
}

/// An identity policy statement.
fn is(effect: &str, action: &str, resource: &str, condition: &str) -> String {
    let cond = if condition.is_empty() {
        String::new()
    } else {
        format!(r#", "Condition": {condition}"#)
    };
    format!(r#"{{"Effect": "{effect}", {action}, {resource}{cond}}}"#)
}

fn doc(statements: &[String]) -> String {
    format!(
        r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#,
        statements.join(", ")
    )
}

fn aws(p: &str) -> String {
    format!(r#""Principal": {{"AWS": "{p}"}}"#)
}

const STAR: &str = r#""Principal": "*""#;
const ALL: &str = r#""Action": "kms:*""#;
const ANY_RES: &str = r#""Resource": "*""#;

fn allow_alice_if(condition: &str) -> String {
    doc(&[ks("Allow", &aws(ALICE), ALL, ANY_RES, condition)])
}

fn identity_allow(action: &str, resource: &str) -> String {
    doc(&[is(
        "Allow",
        &format!(r#""Action": "{action}""#),
        &format!(r#""Resource": "{resource}""#),
        "",
    )])
}

struct Case {
    name: String,
    key_policy: String,
    identity: Vec<String>,
    grant: bool,
    action: &'static str,
    principal: &'static str,
    account: &'static str,
    resource: &'static str,
    ctx: ConditionContext,
    want: Want,
}

fn case(name: impl Into<String>, key_policy: impl Into<String>, want: Want) -> Case {
    Case {
        name: name.into(),
        key_policy: key_policy.into(),
        identity: Vec::new(),
        grant: false,
        action: "kms:Decrypt",
        principal: ALICE,
        account: ACCT,
        resource: KEY,
        ctx: ConditionContext::new(),
        want,
    }
}

impl Case {
    fn identity(mut self, doc: impl Into<String>) -> Self {
        self.identity.push(doc.into());
        self
    }
    fn grant(mut self) -> Self {
        self.grant = true;
        self
    }
    fn action(mut self, action: &'static str) -> Self {
        self.action = action;
        self
    }
    fn by(mut self, principal: &'static str, account: &'static str) -> Self {
        self.principal = principal;
        self.account = account;
        self
    }
    fn on(mut self, resource: &'static str) -> Self {
        self.resource = resource;
        self
    }
    fn ctx(mut self, ctx: ConditionContext) -> Self {
        self.ctx = ctx;
        self
    }

    fn run(&self) -> Decision {
        let key = Policy::parse_key_policy(&self.key_policy)
            .unwrap_or_else(|e| panic!("{}: key policy does not parse: {e}\n{}", self.name, self.key_policy));
        let identity: Vec<Policy> = self
            .identity
            .iter()
            .map(|d| {
                Policy::parse_identity_policy(d)
                    .unwrap_or_else(|e| panic!("{}: identity policy does not parse: {e}\n{d}", self.name))
            })
            .collect();
        let identity: Vec<&Policy> = identity.iter().collect();
        let req = Request {
            action: self.action,
            principal_arn: self.principal,
            principal_account: self.account,
            resource_arn: self.resource,
            context: &self.ctx,
        };
        authorize(&key, &identity, self.grant, &req)
    }
}

fn ctx() -> ConditionContext {
    ConditionContext::new()
}

/// One condition row: a key policy allowing alice only under `condition`;
/// allowed iff the condition holds.
fn cond(name: &str, condition: &str, c: ConditionContext, holds: bool) -> Case {
    let want = if holds { Want::Allow } else { Want::Implicit };
    case(format!("condition: {name}"), allow_alice_if(condition), want).ctx(c)
}

fn authorization_cases() -> Vec<Case> {
    use Want::*;
    let default = default_key_policy(ACCT);
    let allow_alice = doc(&[ks("Allow", &aws(ALICE), ALL, ANY_RES, "")]);
    vec![
        // --- The default policy: delegation to the account ---
        case("default: account user without identity policy", &default, Implicit),
        case("default: identity policy allows", &default, Allow).identity(identity_allow("kms:Decrypt", KEY)),
        case("default: identity policy allows via kms:*", &default, Allow).identity(identity_allow("kms:*", "*")),
        case("default: identity policy for another key", &default, Implicit)
            .identity(identity_allow("kms:Decrypt", OTHER_KEY)),
        case("default: identity policy for another action", &default, Implicit)
            .identity(identity_allow("kms:Encrypt", KEY)),
        case("default: identity resource pattern", &default, Allow)
            .identity(identity_allow("kms:Decrypt", "arn:aws:kms:*:111122223333:key/*")),
        case(
            "default: identity resource pattern of another account",
            &default,
            Implicit,
        )
        .identity(identity_allow("kms:Decrypt", "arn:aws:kms:*:444455556666:key/*")),
        case("default: the root user needs no identity policy", &default, Allow).by(ROOT, ACCT),
        case(
            "default: account id form delegates too",
            doc(&[ks("Allow", &aws(ACCT), ALL, ANY_RES, "")]),
            Implicit,
        ),
        case(
            "default: account id form with identity allow",
            doc(&[ks("Allow", &aws(ACCT), ALL, ANY_RES, "")]),
            Allow,
        )
        .identity(identity_allow("kms:Decrypt", "*")),
        // --- Explicit deny wins ---
        case("deny: identity deny beats identity allow", &default, Deny).identity(doc(&[
            is("Allow", ALL, ANY_RES, ""),
            is("Deny", r#""Action": "kms:Decrypt""#, ANY_RES, ""),
        ])),
        case("deny: identity deny in a second policy", &default, Deny)
            .identity(identity_allow("kms:*", "*"))
            .identity(doc(&[is("Deny", ALL, ANY_RES, "")])),
        case(
            "deny: key policy deny beats key policy allow",
            doc(&[
                ks("Allow", &aws(ALICE), ALL, ANY_RES, ""),
                ks("Deny", STAR, r#""Action": "kms:Decrypt""#, ANY_RES, ""),
            ]),
            Deny,
        ),
        case(
            "deny: identity deny beats a direct key policy allow",
            &allow_alice,
            Deny,
        )
        .identity(doc(&[is("Deny", r#""Action": "kms:Decrypt""#, ANY_RES, "")])),
        case(
            "deny: key policy deny beats a grant",
            doc(&[ks("Deny", STAR, ALL, ANY_RES, "")]),
            Deny,
        )
        .grant(),
        case(
            "deny: deny for another action does not apply",
            doc(&[
                ks("Allow", &aws(ALICE), ALL, ANY_RES, ""),
                ks("Deny", STAR, r#""Action": "kms:ScheduleKeyDeletion""#, ANY_RES, ""),
            ]),
            Allow,
        ),
        // --- Direct principals ---
        case("principal: user named directly", &allow_alice, Allow),
        case(
            "principal: other user named",
            doc(&[ks("Allow", &aws(CAROL), ALL, ANY_RES, "")]),
            Implicit,
        ),
        case("principal: star", doc(&[ks("Allow", STAR, ALL, ANY_RES, "")]), Allow),
        case(
            "principal: AWS star",
            doc(&[ks("Allow", &aws("*"), ALL, ANY_RES, "")]),
            Allow,
        ),
        case(
            "principal: role ARN matches its session",
            doc(&[ks("Allow", &aws(ROLE), ALL, ANY_RES, "")]),
            Allow,
        )
        .by(ROLE_SESSION, ACCT),
        case(
            "principal: role ARN matches itself",
            doc(&[ks("Allow", &aws(ROLE), ALL, ANY_RES, "")]),
            Allow,
        )
        .by(ROLE, ACCT),
        case(
            "principal: list",
            doc(&[ks(
                "Allow",
                &format!(r#""Principal": {{"AWS": ["{CAROL}", "{ALICE}"]}}"#),
                ALL,
                ANY_RES,
                "",
            )]),
            Allow,
        ),
        case(
            "principal: service principal",
            doc(&[ks(
                "Allow",
                r#""Principal": {"Service": "logs.amazonaws.com"}"#,
                ALL,
                ANY_RES,
                "",
            )]),
            Allow,
        )
        .by("logs.amazonaws.com", ""),
        // --- Actions ---
        case("action: kms:* ", &allow_alice, Allow).action("kms:ScheduleKeyDeletion"),
        case(
            "action: exact",
            doc(&[ks("Allow", &aws(ALICE), r#""Action": "kms:Decrypt""#, ANY_RES, "")]),
            Allow,
        ),
        case(
            "action: exact, other",
            doc(&[ks("Allow", &aws(ALICE), r#""Action": "kms:Decrypt""#, ANY_RES, "")]),
            Implicit,
        )
        .action("kms:Encrypt"),
        case(
            "action: case-insensitive",
            doc(&[ks("Allow", &aws(ALICE), r#""Action": "KMS:decrypt""#, ANY_RES, "")]),
            Allow,
        ),
        case(
            "action: Generate*",
            doc(&[ks("Allow", &aws(ALICE), r#""Action": "kms:Generate*""#, ANY_RES, "")]),
            Allow,
        )
        .action("kms:GenerateDataKeyWithoutPlaintext"),
        case(
            "action: Generate* not Decrypt",
            doc(&[ks("Allow", &aws(ALICE), r#""Action": "kms:Generate*""#, ANY_RES, "")]),
            Implicit,
        ),
        case(
            "action: *Key*",
            doc(&[ks("Allow", &aws(ALICE), r#""Action": "kms:*Key*""#, ANY_RES, "")]),
            Allow,
        )
        .action("kms:DescribeKey"),
        case(
            "action: *Key* not Encrypt",
            doc(&[ks("Allow", &aws(ALICE), r#""Action": "kms:*Key*""#, ANY_RES, "")]),
            Implicit,
        )
        .action("kms:Encrypt"),
        case(
            "action: star",
            doc(&[ks("Allow", &aws(ALICE), r#""Action": "*""#, ANY_RES, "")]),
            Allow,
        ),
        case(
            "action: other service",
            doc(&[ks("Allow", &aws(ALICE), r#""Action": "s3:*""#, ANY_RES, "")]),
            Implicit,
        ),
        case(
            "action: list",
            doc(&[ks(
                "Allow",
                &aws(ALICE),
                r#""Action": ["kms:Encrypt", "kms:Decrypt"]"#,
                ANY_RES,
                "",
            )]),
            Allow,
        ),
        case(
            "notaction: allow everything but deletion",
            doc(&[ks(
                "Allow",
                &aws(ALICE),
                r#""NotAction": "kms:ScheduleKeyDeletion""#,
                ANY_RES,
                "",
            )]),
            Allow,
        ),
        case(
            "notaction: the excluded action",
            doc(&[ks(
                "Allow",
                &aws(ALICE),
                r#""NotAction": "kms:ScheduleKeyDeletion""#,
                ANY_RES,
                "",
            )]),
            Implicit,
        )
        .action("kms:ScheduleKeyDeletion"),
        case(
            "notaction: deny all but Decrypt, Decrypt",
            doc(&[
                ks("Allow", &aws(ALICE), ALL, ANY_RES, ""),
                ks(
                    "Deny",
                    STAR,
                    r#""NotAction": ["kms:Decrypt", "kms:DescribeKey"]"#,
                    ANY_RES,
                    "",
                ),
            ]),
            Allow,
        ),
        case(
            "notaction: deny all but Decrypt, Encrypt",
            doc(&[
                ks("Allow", &aws(ALICE), ALL, ANY_RES, ""),
                ks(
                    "Deny",
                    STAR,
                    r#""NotAction": ["kms:Decrypt", "kms:DescribeKey"]"#,
                    ANY_RES,
                    "",
                ),
            ]),
            Deny,
        )
        .action("kms:Encrypt"),
        // --- NotPrincipal ---
        case(
            "notprincipal: listed user and account are spared",
            doc(&[
                ks("Allow", STAR, ALL, ANY_RES, ""),
                ks(
                    "Deny",
                    &format!(r#""NotPrincipal": {{"AWS": ["{ALICE}", "{ROOT}"]}}"#),
                    ALL,
                    ANY_RES,
                    "",
                ),
            ]),
            Allow,
        ),
        case(
            "notprincipal: everyone else is denied",
            doc(&[
                ks("Allow", STAR, ALL, ANY_RES, ""),
                ks(
                    "Deny",
                    &format!(r#""NotPrincipal": {{"AWS": ["{ALICE}", "{ROOT}"]}}"#),
                    ALL,
                    ANY_RES,
                    "",
                ),
            ]),
            Deny,
        )
        .by(CAROL, ACCT),
        case(
            "notprincipal: user without its account is still denied (AWS)",
            doc(&[
                ks("Allow", STAR, ALL, ANY_RES, ""),
                ks(
                    "Deny",
                    &format!(r#""NotPrincipal": {{"AWS": "{ALICE}"}}"#),
                    ALL,
                    ANY_RES,
                    "",
                ),
            ]),
            Deny,
        ),
        case(
            "notprincipal: allow to all but carol",
            doc(&[ks(
                "Allow",
                &format!(r#""NotPrincipal": {{"AWS": ["{CAROL}", "{ACCT}"]}}"#),
                ALL,
                ANY_RES,
                "",
            )]),
            Allow,
        ),
        case(
            "notprincipal: allow to all but carol, carol",
            doc(&[ks(
                "Allow",
                &format!(r#""NotPrincipal": {{"AWS": ["{CAROL}", "{ACCT}"]}}"#),
                ALL,
                ANY_RES,
                "",
            )]),
            Implicit,
        )
        .by(CAROL, ACCT),
        // --- Resources ---
        case(
            "resource: key ARN pattern",
            doc(&[ks(
                "Allow",
                &aws(ALICE),
                ALL,
                r#""Resource": "arn:aws:kms:us-east-1:111122223333:key/*""#,
                "",
            )]),
            Allow,
        ),
        case(
            "resource: exact key ARN",
            doc(&[ks("Allow", &aws(ALICE), ALL, &format!(r#""Resource": "{KEY}""#), "")]),
            Allow,
        ),
        case(
            "resource: another key's ARN",
            doc(&[ks(
                "Allow",
                &aws(ALICE),
                ALL,
                &format!(r#""Resource": "{OTHER_KEY}""#),
                "",
            )]),
            Implicit,
        ),
        case(
            "resource: another region",
            doc(&[ks(
                "Allow",
                &aws(ALICE),
                ALL,
                r#""Resource": "arn:aws:kms:eu-west-1:111122223333:key/*""#,
                "",
            )]),
            Implicit,
        ),
        case(
            "resource: ? wildcard",
            doc(&[ks(
                "Allow",
                &aws(ALICE),
                ALL,
                r#""Resource": "arn:aws:kms:us-east-?:111122223333:key/*""#,
                "",
            )]),
            Allow,
        ),
        case(
            "notresource: excludes this key",
            doc(&[ks("Allow", &aws(ALICE), ALL, &format!(r#""NotResource": "{KEY}""#), "")]),
            Implicit,
        ),
        case(
            "notresource: excludes another key",
            doc(&[ks(
                "Allow",
                &aws(ALICE),
                ALL,
                &format!(r#""NotResource": "{OTHER_KEY}""#),
                "",
            )]),
            Allow,
        ),
        // --- Cross-account ---
        case(
            "cross: key policy names the account, identity allows",
            doc(&[ks("Allow", &aws(OTHER_ROOT), ALL, ANY_RES, "")]),
            Allow,
        )
        .by(BOB, OTHER)
        .identity(identity_allow("kms:Decrypt", KEY)),
        case(
            "cross: key policy names the account, no identity",
            doc(&[ks("Allow", &aws(OTHER_ROOT), ALL, ANY_RES, "")]),
            Implicit,
        )
        .by(BOB, OTHER),
        case(
            "cross: key policy names the user, no identity",
            doc(&[ks("Allow", &aws(BOB), ALL, ANY_RES, "")]),
            Implicit,
        )
        .by(BOB, OTHER),
        case(
            "cross: key policy names the user, identity allows",
            doc(&[ks("Allow", &aws(BOB), ALL, ANY_RES, "")]),
            Allow,
        )
        .by(BOB, OTHER)
        .identity(identity_allow("kms:Decrypt", "*")),
        case(
            "cross: principal star still needs identity",
            doc(&[ks("Allow", STAR, ALL, ANY_RES, "")]),
            Implicit,
        )
        .by(BOB, OTHER),
        case(
            "cross: principal star with identity",
            doc(&[ks("Allow", STAR, ALL, ANY_RES, "")]),
            Allow,
        )
        .by(BOB, OTHER)
        .identity(identity_allow("kms:*", "*")),
        case("cross: default policy does not name the account", &default, Implicit)
            .by(BOB, OTHER)
            .identity(identity_allow("kms:*", "*")),
        case(
            "cross: the other account's root user",
            doc(&[ks("Allow", &aws(OTHER), ALL, ANY_RES, "")]),
            Allow,
        )
        .by(OTHER_ROOT, OTHER),
        case(
            "cross: identity deny in the caller's account",
            doc(&[ks("Allow", &aws(OTHER), ALL, ANY_RES, "")]),
            Deny,
        )
        .by(BOB, OTHER)
        .identity(identity_allow("kms:*", "*"))
        .identity(doc(&[is("Deny", r#""Action": "kms:Decrypt""#, ANY_RES, "")])),
        case(
            "cross: kms:CallerAccount limits who",
            doc(&[ks(
                "Allow",
                STAR,
                ALL,
                ANY_RES,
                &format!(r#"{{"StringEquals": {{"kms:CallerAccount": "{ACCT}"}}}}"#),
            )]),
            Implicit,
        )
        .by(BOB, OTHER)
        .identity(identity_allow("kms:*", "*")),
        case(
            "same: kms:CallerAccount derived from the request",
            doc(&[ks(
                "Allow",
                STAR,
                ALL,
                ANY_RES,
                &format!(r#"{{"StringEquals": {{"kms:CallerAccount": "{ACCT}"}}}}"#),
            )]),
            Allow,
        ),
        // --- Grants ---
        case("grant: allows without any policy allow", &default, Allow).grant(),
        case("grant: absent", &default, Implicit),
        case(
            "grant: allows when the key policy names nobody",
            doc(&[ks("Allow", &aws(CAROL), ALL, ANY_RES, "")]),
            Allow,
        )
        .grant(),
        case("grant: cross-account grantee", &default, Allow)
            .by(BOB, OTHER)
            .grant(),
        case("grant: identity deny still wins", &default, Deny)
            .grant()
            .identity(doc(&[is("Deny", ALL, ANY_RES, "")])),
        // --- Conditions, operator by operator ---
        cond(
            "StringEquals true",
            r#"{"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}"#,
            ctx().with("kms:ViaService", "s3.us-east-1.amazonaws.com"),
            true,
        ),
        cond(
            "StringEquals false",
            r#"{"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}"#,
            ctx().with("kms:ViaService", "ec2.us-east-1.amazonaws.com"),
            false,
        ),
        cond(
            "StringEquals is case-sensitive",
            r#"{"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}"#,
            ctx().with("kms:ViaService", "S3.us-east-1.amazonaws.com"),
            false,
        ),
        cond(
            "StringEquals missing key",
            r#"{"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}"#,
            ctx(),
            false,
        ),
        cond(
            "StringEquals key name any case",
            r#"{"StringEquals": {"KMS:VIASERVICE": "s3"}}"#,
            ctx().with("kms:viaService", "s3"),
            true,
        ),
        cond(
            "StringEquals values ORed",
            r#"{"StringEquals": {"kms:ViaService": ["a", "b", "c"]}}"#,
            ctx().with("kms:ViaService", "b"),
            true,
        ),
        cond(
            "StringNotEquals true",
            r#"{"StringNotEquals": {"kms:ViaService": "s3"}}"#,
            ctx().with("kms:ViaService", "ec2"),
            true,
        ),
        cond(
            "StringNotEquals false",
            r#"{"StringNotEquals": {"kms:ViaService": ["ec2", "s3"]}}"#,
            ctx().with("kms:ViaService", "s3"),
            false,
        ),
        cond(
            "StringNotEquals missing key",
            r#"{"StringNotEquals": {"kms:ViaService": "s3"}}"#,
            ctx(),
            true,
        ),
        cond(
            "StringEqualsIgnoreCase true",
            r#"{"StringEqualsIgnoreCase": {"kms:ViaService": "S3.US-EAST-1.AMAZONAWS.COM"}}"#,
            ctx().with("kms:ViaService", "s3.us-east-1.amazonaws.com"),
            true,
        ),
        cond(
            "StringEqualsIgnoreCase false",
            r#"{"StringEqualsIgnoreCase": {"kms:ViaService": "s3"}}"#,
            ctx().with("kms:ViaService", "ec2"),
            false,
        ),
        cond(
            "StringNotEqualsIgnoreCase true",
            r#"{"StringNotEqualsIgnoreCase": {"kms:ViaService": "s3"}}"#,
            ctx().with("kms:ViaService", "ec2"),
            true,
        ),
        cond(
            "StringNotEqualsIgnoreCase false",
            r#"{"StringNotEqualsIgnoreCase": {"kms:ViaService": "S3"}}"#,
            ctx().with("kms:ViaService", "s3"),
            false,
        ),
        cond(
            "StringLike true",
            r#"{"StringLike": {"kms:RequestAlias": "alias/app-*"}}"#,
            ctx().with("kms:RequestAlias", "alias/app-prod"),
            true,
        ),
        cond(
            "StringLike false",
            r#"{"StringLike": {"kms:RequestAlias": "alias/app-?"}}"#,
            ctx().with("kms:RequestAlias", "alias/app-prod"),
            false,
        ),
        cond(
            "StringNotLike true",
            r#"{"StringNotLike": {"kms:RequestAlias": "alias/test-*"}}"#,
            ctx().with("kms:RequestAlias", "alias/app-prod"),
            true,
        ),
        cond(
            "StringNotLike false",
            r#"{"StringNotLike": {"kms:RequestAlias": "alias/*"}}"#,
            ctx().with("kms:RequestAlias", "alias/app-prod"),
            false,
        ),
        cond(
            "NumericEquals true",
            r#"{"NumericEquals": {"kms:x": 5}}"#,
            ctx().with("kms:x", "5.0"),
            true,
        ),
        cond(
            "NumericEquals false",
            r#"{"NumericEquals": {"kms:x": "5"}}"#,
            ctx().with("kms:x", "6"),
            false,
        ),
        cond(
            "NumericEquals non-number",
            r#"{"NumericEquals": {"kms:x": "5"}}"#,
            ctx().with("kms:x", "five"),
            false,
        ),
        cond(
            "NumericNotEquals true",
            r#"{"NumericNotEquals": {"kms:x": "5"}}"#,
            ctx().with("kms:x", "6"),
            true,
        ),
        cond(
            "NumericNotEquals false",
            r#"{"NumericNotEquals": {"kms:x": "5"}}"#,
            ctx().with("kms:x", "5"),
            false,
        ),
        cond(
            "NumericLessThan true",
            r#"{"NumericLessThan": {"kms:x": "10"}}"#,
            ctx().with("kms:x", "9.5"),
            true,
        ),
        cond(
            "NumericLessThan false",
            r#"{"NumericLessThan": {"kms:x": "10"}}"#,
            ctx().with("kms:x", "10"),
            false,
        ),
        cond(
            "NumericLessThanEquals true",
            r#"{"NumericLessThanEquals": {"kms:x": "10"}}"#,
            ctx().with("kms:x", "10"),
            true,
        ),
        cond(
            "NumericLessThanEquals false",
            r#"{"NumericLessThanEquals": {"kms:x": "10"}}"#,
            ctx().with("kms:x", "11"),
            false,
        ),
        cond(
            "NumericGreaterThan true",
            r#"{"NumericGreaterThan": {"kms:x": "10"}}"#,
            ctx().with("kms:x", "11"),
            true,
        ),
        cond(
            "NumericGreaterThan false",
            r#"{"NumericGreaterThan": {"kms:x": "10"}}"#,
            ctx().with("kms:x", "10"),
            false,
        ),
        cond(
            "NumericGreaterThanEquals true",
            r#"{"NumericGreaterThanEquals": {"kms:x": "-1"}}"#,
            ctx().with("kms:x", "-1"),
            true,
        ),
        cond(
            "NumericGreaterThanEquals false",
            r#"{"NumericGreaterThanEquals": {"kms:x": "10"}}"#,
            ctx().with("kms:x", "9"),
            false,
        ),
        cond(
            "DateEquals true (epoch context)",
            r#"{"DateEquals": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}}"#,
            ctx().with("aws:CurrentTime", "1704067200"),
            true,
        ),
        cond(
            "DateEquals false",
            r#"{"DateEquals": {"aws:CurrentTime": "2024-01-01"}}"#,
            ctx().with("aws:CurrentTime", "2024-01-01T00:00:01Z"),
            false,
        ),
        cond(
            "DateNotEquals true",
            r#"{"DateNotEquals": {"aws:CurrentTime": "2024-01-01"}}"#,
            ctx().with("aws:CurrentTime", "2024-01-02T00:00:00Z"),
            true,
        ),
        cond(
            "DateNotEquals false",
            r#"{"DateNotEquals": {"aws:CurrentTime": 1704067200}}"#,
            ctx().with("aws:CurrentTime", "2024-01-01T00:00:00Z"),
            false,
        ),
        cond(
            "DateLessThan true",
            r#"{"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}"#,
            ctx().with("aws:CurrentTime", "2024-05-01T12:00:00Z"),
            true,
        ),
        cond(
            "DateLessThan false",
            r#"{"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}"#,
            ctx().with("aws:CurrentTime", "2031-05-01T12:00:00Z"),
            false,
        ),
        cond(
            "DateLessThanEquals true",
            r#"{"DateLessThanEquals": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}"#,
            ctx().with("aws:CurrentTime", "2030-01-01T01:00:00+01:00"),
            true,
        ),
        cond(
            "DateLessThanEquals false",
            r#"{"DateLessThanEquals": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}"#,
            ctx().with("aws:CurrentTime", "2030-01-01T00:00:00.001Z"),
            false,
        ),
        cond(
            "DateGreaterThan true",
            r#"{"DateGreaterThan": {"aws:EpochTime": "2020-01-01T00:00:00Z"}}"#,
            ctx().with("aws:EpochTime", "1714564800"),
            true,
        ),
        cond(
            "DateGreaterThan false",
            r#"{"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}"#,
            ctx().with("aws:CurrentTime", "2020-01-01T00:00:00Z"),
            false,
        ),
        cond(
            "DateGreaterThanEquals true",
            r#"{"DateGreaterThanEquals": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}"#,
            ctx().with("aws:CurrentTime", "2020-01-01T00:00:00Z"),
            true,
        ),
        cond(
            "DateGreaterThanEquals false",
            r#"{"DateGreaterThanEquals": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}"#,
            ctx().with("aws:CurrentTime", "2019-12-31T23:59:59Z"),
            false,
        ),
        cond(
            "Date with unparsable context",
            r#"{"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}}"#,
            ctx().with("aws:CurrentTime", "tomorrow"),
            false,
        ),
        cond(
            "Bool true",
            r#"{"Bool": {"aws:SecureTransport": "true"}}"#,
            ctx().with("aws:SecureTransport", "TRUE"),
            true,
        ),
        cond(
            "Bool false",
            r#"{"Bool": {"aws:SecureTransport": true}}"#,
            ctx().with("aws:SecureTransport", "false"),
            false,
        ),
        cond(
            "Bool missing key",
            r#"{"Bool": {"aws:SecureTransport": "true"}}"#,
            ctx(),
            false,
        ),
        cond(
            "BinaryEquals true",
            r#"{"BinaryEquals": {"kms:blob": "Zm9vYmFy"}}"#,
            ctx().with("kms:blob", "Zm9vYmFy"),
            true,
        ),
        cond(
            "BinaryEquals false",
            r#"{"BinaryEquals": {"kms:blob": "Zm9vYmFy"}}"#,
            ctx().with("kms:blob", "Zm9vYmF6"),
            false,
        ),
        cond(
            "IpAddress v4 in range",
            r#"{"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}}"#,
            ctx().with("aws:SourceIp", "203.0.113.9"),
            true,
        ),
        cond(
            "IpAddress v6 in range",
            r#"{"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}}"#,
            ctx().with("aws:SourceIp", "2001:db8:aa::5"),
            true,
        ),
        cond(
            "IpAddress out of range",
            r#"{"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}}"#,
            ctx().with("aws:SourceIp", "198.51.100.1"),
            false,
        ),
        cond(
            "IpAddress bad context value",
            r#"{"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}"#,
            ctx().with("aws:SourceIp", "localhost"),
            false,
        ),
        cond(
            "NotIpAddress true",
            r#"{"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#,
            ctx().with("aws:SourceIp", "192.168.1.1"),
            true,
        ),
        cond(
            "NotIpAddress false",
            r#"{"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#,
            ctx().with("aws:SourceIp", "10.2.3.4"),
            false,
        ),
        cond(
            "ArnEquals on derived aws:PrincipalArn",
            &format!(r#"{{"ArnEquals": {{"aws:PrincipalArn": "{ALICE}"}}}}"#),
            ctx(),
            true,
        ),
        cond(
            "ArnLike true",
            r#"{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/*"}}"#,
            ctx(),
            true,
        ),
        cond(
            "ArnLike false",
            r#"{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::444455556666:*"}}"#,
            ctx(),
            false,
        ),
        cond(
            "ArnLike does not cross fields",
            r#"{"ArnLike": {"aws:PrincipalArn": "arn:aws:*:user/alice"}}"#,
            ctx(),
            false,
        ),
        cond(
            "ArnNotEquals true",
            &format!(r#"{{"ArnNotEquals": {{"aws:PrincipalArn": "{CAROL}"}}}}"#),
            ctx(),
            true,
        ),
        cond(
            "ArnNotEquals false",
            &format!(r#"{{"ArnNotEquals": {{"aws:PrincipalArn": "{ALICE}"}}}}"#),
            ctx(),
            false,
        ),
        cond(
            "ArnNotLike true",
            r#"{"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}"#,
            ctx(),
            true,
        ),
        cond(
            "ArnNotLike false",
            r#"{"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/*"}}"#,
            ctx(),
            false,
        ),
        cond(
            "aws:PrincipalArn set in context wins",
            r#"{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}"#,
            ctx().with("aws:PrincipalArn", ROLE),
            true,
        ),
        // IfExists
        cond(
            "IfExists without the key",
            r#"{"StringEqualsIfExists": {"kms:ViaService": "s3"}}"#,
            ctx(),
            true,
        ),
        cond(
            "IfExists with a matching key",
            r#"{"StringEqualsIfExists": {"kms:ViaService": "s3"}}"#,
            ctx().with("kms:ViaService", "s3"),
            true,
        ),
        cond(
            "IfExists with another value",
            r#"{"StringEqualsIfExists": {"kms:ViaService": "s3"}}"#,
            ctx().with("kms:ViaService", "ec2"),
            false,
        ),
        cond(
            "NumericLessThanIfExists without the key",
            r#"{"NumericLessThanIfExists": {"kms:x": "1"}}"#,
            ctx(),
            true,
        ),
        cond(
            "IpAddressIfExists with an outside address",
            r#"{"IpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}}"#,
            ctx().with("aws:SourceIp", "11.0.0.1"),
            false,
        ),
        // Null
        cond(
            "Null true, key absent",
            r#"{"Null": {"kms:ViaService": "true"}}"#,
            ctx(),
            true,
        ),
        cond(
            "Null true, key present",
            r#"{"Null": {"kms:ViaService": "true"}}"#,
            ctx().with("kms:ViaService", "s3"),
            false,
        ),
        cond(
            "Null false, key present",
            r#"{"Null": {"kms:EncryptionContextKeys": false}}"#,
            ctx().with_multi("kms:EncryptionContextKeys", ["a"]),
            true,
        ),
        cond(
            "Null false, key absent",
            r#"{"Null": {"kms:EncryptionContextKeys": "false"}}"#,
            ctx(),
            false,
        ),
        cond(
            "Null false, empty encryption context",
            r#"{"Null": {"kms:EncryptionContextKeys": "false"}}"#,
            {
                let mut c = ctx();
                c.set_encryption_context([]);
                c
            },
            false,
        ),
        // Set operators
        cond(
            "ForAnyValue one matches",
            r#"{"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["Dept", "Project"]}}"#,
            ctx().with_multi("kms:EncryptionContextKeys", ["Dept", "Other"]),
            true,
        ),
        cond(
            "ForAnyValue none matches",
            r#"{"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["Dept", "Project"]}}"#,
            ctx().with_multi("kms:EncryptionContextKeys", ["Other"]),
            false,
        ),
        cond(
            "ForAnyValue missing key",
            r#"{"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "Dept"}}"#,
            ctx(),
            false,
        ),
        cond(
            "ForAnyValue IfExists missing key",
            r#"{"ForAnyValue:StringEqualsIfExists": {"kms:EncryptionContextKeys": "Dept"}}"#,
            ctx(),
            true,
        ),
        cond(
            "ForAllValues all match",
            r#"{"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["Dept", "Project"]}}"#,
            ctx().with_multi("kms:EncryptionContextKeys", ["Project", "Dept"]),
            true,
        ),
        cond(
            "ForAllValues one does not",
            r#"{"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["Dept", "Project"]}}"#,
            ctx().with_multi("kms:EncryptionContextKeys", ["Dept", "Other"]),
            false,
        ),
        cond(
            "ForAllValues missing key",
            r#"{"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": "Dept"}}"#,
            ctx(),
            true,
        ),
        cond(
            "ForAllValues empty set",
            r#"{"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": "Dept"}}"#,
            ctx().with_multi("kms:EncryptionContextKeys", Vec::<String>::new()),
            true,
        ),
        cond(
            "ForAllValues is case-sensitive on values",
            r#"{"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": "Dept"}}"#,
            ctx().with_multi("kms:EncryptionContextKeys", ["dept"]),
            false,
        ),
        cond(
            "ForAllValues:StringLike",
            r#"{"ForAllValues:StringLike": {"kms:GrantOperations": ["Decrypt", "Generate*"]}}"#,
            ctx().with_multi("kms:GrantOperations", ["Decrypt", "GenerateDataKey"]),
            true,
        ),
        cond(
            "ForAnyValue:StringNotEquals true",
            r#"{"ForAnyValue:StringNotEquals": {"kms:GrantOperations": "Decrypt"}}"#,
            ctx().with_multi("kms:GrantOperations", ["Decrypt", "Encrypt"]),
            true,
        ),
        cond(
            "ForAnyValue:StringNotEquals false",
            r#"{"ForAnyValue:StringNotEquals": {"kms:GrantOperations": "Decrypt"}}"#,
            ctx().with_multi("kms:GrantOperations", ["Decrypt"]),
            false,
        ),
        cond(
            "ForAllValues:StringNotEquals true",
            r#"{"ForAllValues:StringNotEquals": {"kms:GrantOperations": ["CreateGrant", "RetireGrant"]}}"#,
            ctx().with_multi("kms:GrantOperations", ["Decrypt", "Encrypt"]),
            true,
        ),
        cond(
            "ForAllValues:StringNotEquals false",
            r#"{"ForAllValues:StringNotEquals": {"kms:GrantOperations": ["CreateGrant"]}}"#,
            ctx().with_multi("kms:GrantOperations", ["Decrypt", "CreateGrant"]),
            false,
        ),
        cond(
            "multi-valued key without qualifier",
            r#"{"StringEquals": {"kms:ResourceAliases": "alias/b"}}"#,
            ctx().with_multi("kms:ResourceAliases", ["alias/a", "alias/b"]),
            true,
        ),
        // Encryption context, caller, tags
        cond(
            "kms:EncryptionContext:<k> true",
            r#"{"StringEquals": {"kms:EncryptionContext:Department": "IT"}}"#,
            {
                let mut c = ctx();
                c.set_encryption_context([("Department", "IT"), ("Project", "X")]);
                c
            },
            true,
        ),
        cond(
            "kms:EncryptionContext:<k> other value",
            r#"{"StringEquals": {"kms:EncryptionContext:Department": "IT"}}"#,
            {
                let mut c = ctx();
                c.set_encryption_context([("Department", "HR")]);
                c
            },
            false,
        ),
        cond(
            "kms:EncryptionContext:<k> value is case-sensitive",
            r#"{"StringEquals": {"kms:EncryptionContext:Department": "IT"}}"#,
            {
                let mut c = ctx();
                c.set_encryption_context([("Department", "it")]);
                c
            },
            false,
        ),
        cond(
            "kms:EncryptionContext:<k> key is case-insensitive",
            r#"{"StringEquals": {"kms:EncryptionContext:Department": "IT"}}"#,
            {
                let mut c = ctx();
                c.set_encryption_context([("department", "IT")]);
                c
            },
            true,
        ),
        cond(
            "kms:EncryptionContext:<k> absent",
            r#"{"StringEquals": {"kms:EncryptionContext:Department": "IT"}}"#,
            {
                let mut c = ctx();
                c.set_encryption_context([("Project", "X")]);
                c
            },
            false,
        ),
        cond(
            "kms:EncryptionContextKeys exact key case",
            r#"{"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "Department"}}"#,
            {
                let mut c = ctx();
                c.set_encryption_context([("department", "IT")]);
                c
            },
            false,
        ),
        cond(
            "aws:ResourceTag/<k> true",
            r#"{"StringEquals": {"aws:ResourceTag/Env": "Prod"}}"#,
            {
                let mut c = ctx();
                c.set_resource_tags([("Env", "Prod")]);
                c
            },
            true,
        ),
        cond(
            "aws:ResourceTag/<k> tag key any case",
            r#"{"StringEquals": {"aws:ResourceTag/Env": "Prod"}}"#,
            {
                let mut c = ctx();
                c.set_resource_tags([("ENV", "Prod")]);
                c
            },
            true,
        ),
        cond(
            "aws:ResourceTag/<k> other value",
            r#"{"StringEquals": {"aws:ResourceTag/Env": "Prod"}}"#,
            {
                let mut c = ctx();
                c.set_resource_tags([("Env", "Dev")]);
                c
            },
            false,
        ),
        cond(
            "kms:CallerAccount false",
            r#"{"StringEquals": {"kms:CallerAccount": "444455556666"}}"#,
            ctx(),
            false,
        ),
        // Blocks: operators and keys ANDed
        cond(
            "two operators, both hold",
            r#"{"StringEquals": {"kms:ViaService": "s3"}, "Bool": {"aws:SecureTransport": "true"}}"#,
            ctx().with("kms:ViaService", "s3").with("aws:SecureTransport", "true"),
            true,
        ),
        cond(
            "two operators, one fails",
            r#"{"StringEquals": {"kms:ViaService": "s3"}, "Bool": {"aws:SecureTransport": "true"}}"#,
            ctx().with("kms:ViaService", "s3").with("aws:SecureTransport", "false"),
            false,
        ),
        cond(
            "two keys under one operator, one fails",
            r#"{"StringEquals": {"kms:ViaService": "s3", "kms:KeySpec": "SYMMETRIC_DEFAULT"}}"#,
            ctx().with("kms:ViaService", "s3").with("kms:KeySpec", "RSA_2048"),
            false,
        ),
        // A deny with a condition applies only when it holds.
        case(
            "deny if not over TLS, over TLS",
            doc(&[
                ks("Allow", &aws(ALICE), ALL, ANY_RES, ""),
                ks(
                    "Deny",
                    STAR,
                    ALL,
                    ANY_RES,
                    r#"{"Bool": {"aws:SecureTransport": "false"}}"#,
                ),
            ]),
            Allow,
        )
        .ctx(ctx().with("aws:SecureTransport", "true")),
        case(
            "deny if not over TLS, plain",
            doc(&[
                ks("Allow", &aws(ALICE), ALL, ANY_RES, ""),
                ks(
                    "Deny",
                    STAR,
                    ALL,
                    ANY_RES,
                    r#"{"Bool": {"aws:SecureTransport": "false"}}"#,
                ),
            ]),
            Deny,
        )
        .ctx(ctx().with("aws:SecureTransport", "false")),
        case(
            "deny outside the office network",
            doc(&[
                ks("Allow", &aws(ALICE), ALL, ANY_RES, ""),
                ks(
                    "Deny",
                    STAR,
                    ALL,
                    ANY_RES,
                    r#"{"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}"#,
                ),
            ]),
            Deny,
        )
        .ctx(ctx().with("aws:SourceIp", "198.51.100.7")),
        case("identity policy condition on the encryption context", &default, Allow)
            .identity(doc(&[is(
                "Allow",
                ALL,
                ANY_RES,
                r#"{"StringEquals": {"kms:EncryptionContext:app": "billing"}}"#,
            )]))
            .ctx({
                let mut c = ctx();
                c.set_encryption_context([("app", "billing")]);
                c
            }),
        case("resource on a different key with kms:*", &allow_alice, Allow).on(OTHER_KEY),
    ]
}

#[test]
fn authorization_table() {
    let cases = authorization_cases();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let got = c.run();
        if kind(&got) != c.want {
            failures.push(format!("{}: want {:?}, got {got:?}", c.name, c.want));
        }
    }
    println!("{} authorization cases", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn reasons_are_reported() {
    let default = default_key_policy(ACCT);
    let d = case("", &default, Want::Implicit).run();
    assert_eq!(
        d,
        Decision::ImplicitDeny(ImplicitDenyReason::NoIdentityPolicyAllow { cross_account: false })
    );
    assert_eq!(d.to_string(), "because no identity-based policy allows the action");

    let d = case("", &default, Want::Allow)
        .identity(identity_allow("kms:*", "*"))
        .run();
    assert_eq!(
        d,
        Decision::Allow(AllowReason::KeyPolicyAndIdentityPolicy {
            key_statement: 0,
            identity_policy: 0,
            identity_statement: 0
        })
    );

    let d = case("", &default, Want::Deny)
        .identity(identity_allow("kms:*", "*"))
        .identity(doc(&[is("Allow", ALL, ANY_RES, ""), is("Deny", ALL, ANY_RES, "")]))
        .run();
    assert_eq!(
        d,
        Decision::ExplicitDeny(DenyReason::IdentityPolicy {
            policy: 1,
            statement: 1
        })
    );
    assert_eq!(d.to_string(), "with an explicit deny in an identity-based policy");

    let two = doc(&[
        ks("Allow", &aws(CAROL), ALL, ANY_RES, ""),
        ks("Deny", STAR, ALL, ANY_RES, ""),
    ]);
    let d = case("", &two, Want::Deny).run();
    assert_eq!(d, Decision::ExplicitDeny(DenyReason::KeyPolicy { statement: 1 }));
    assert_eq!(d.to_string(), "with an explicit deny in a resource-based policy");

    let d = case("", doc(&[ks("Allow", &aws(CAROL), ALL, ANY_RES, "")]), Want::Implicit).run();
    assert_eq!(d, Decision::ImplicitDeny(ImplicitDenyReason::NoKeyPolicyAllow));
    assert_eq!(d.to_string(), "because no resource-based policy allows the action");

    let d = case("", doc(&[ks("Allow", &aws(OTHER), ALL, ANY_RES, "")]), Want::Implicit)
        .by(BOB, OTHER)
        .run();
    assert_eq!(
        d,
        Decision::ImplicitDeny(ImplicitDenyReason::NoIdentityPolicyAllow { cross_account: true })
    );

    let d = case("", &default, Want::Allow).grant().run();
    assert_eq!(d, Decision::Allow(AllowReason::Grant));
    assert!(d.is_allowed());

    // A direct allow is preferred over an account allow when both match.
    let both = doc(&[
        ks("Allow", &aws(ROOT), ALL, ANY_RES, ""),
        ks("Allow", &aws(ALICE), ALL, ANY_RES, ""),
    ]);
    let d = case("", &both, Want::Allow).run();
    assert_eq!(d, Decision::Allow(AllowReason::KeyPolicy { statement: 1 }));
}

#[test]
fn evaluate_and_delegation() {
    let p = Policy::parse_key_policy(&default_key_policy(ACCT)).unwrap();
    let c = ConditionContext::new();
    let req = |principal, account| Request {
        action: "kms:Encrypt",
        principal_arn: principal,
        principal_account: account,
        resource_arn: KEY,
        context: &c,
    };
    assert_eq!(
        p.evaluate(&req(ALICE, ACCT)),
        Evaluation::Allow {
            statement: 0,
            via_account_root: true
        }
    );
    assert!(p.delegates_to_account(&req(ALICE, ACCT)));
    assert!(!p.delegates_to_account(&req(ROOT, ACCT)));
    assert_eq!(p.evaluate(&req(BOB, OTHER)), Evaluation::NotApplicable);
}

#[test]
fn default_key_policy_is_aws_shaped() {
    let text = default_key_policy(ACCT);
    let p = Policy::parse_key_policy(&text).unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p.id(), Some("key-default-1"));
    assert_eq!(p.version(), Some("2012-10-17"));
    assert_eq!(p.sid(0), Some("Enable IAM User Permissions"));
    assert_eq!(p.effect(0), Some(crate::Effect::Allow));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["Statement"][0]["Principal"]["AWS"],
        format!("arn:aws:iam::{ACCT}:root")
    );
    assert_eq!(v["Statement"][0]["Action"], "kms:*");
    assert_eq!(v["Statement"][0]["Resource"], "*");
}

#[test]
fn lockout_safety_check() {
    let parse = |d: &str| Policy::parse_key_policy(d).unwrap();
    let idp = |d: &str| Policy::parse_identity_policy(d).unwrap();
    let default = parse(&default_key_policy(ACCT));
    let admin = idp(&identity_allow("kms:*", "*"));
    let only_encrypt = idp(&identity_allow("kms:Encrypt", "*"));
    let only_carol = parse(&doc(&[ks("Allow", &aws(CAROL), ALL, ANY_RES, "")]));
    let deny_put = parse(&doc(&[
        ks("Allow", &aws(ALICE), ALL, ANY_RES, ""),
        ks("Deny", STAR, r#""Action": "kms:PutKeyPolicy""#, ANY_RES, ""),
    ]));
    let alice_conditional = parse(&allow_alice_if(r#"{"Bool": {"aws:SecureTransport": "true"}}"#));
    let alice_caller_account = parse(&allow_alice_if(&format!(
        r#"{{"StringEquals": {{"kms:CallerAccount": "{ACCT}"}}}}"#
    )));
    type LockoutCase<'a> = (&'a str, &'a Policy, &'a str, &'a str, &'a [&'a Policy], bool);
    let cases: &[LockoutCase] = &[
        ("default, admin identity", &default, ALICE, ACCT, &[&admin], false),
        ("default, no identity policy", &default, ALICE, ACCT, &[], true),
        (
            "default, identity without PutKeyPolicy",
            &default,
            ALICE,
            ACCT,
            &[&only_encrypt],
            true,
        ),
        ("default, root user", &default, ROOT, ACCT, &[], false),
        ("only carol, alice calls", &only_carol, ALICE, ACCT, &[&admin], true),
        ("only carol, carol calls", &only_carol, CAROL, ACCT, &[], false),
        ("PutKeyPolicy denied", &deny_put, ALICE, ACCT, &[&admin], true),
        (
            "allowed only under a context condition",
            &alice_conditional,
            ALICE,
            ACCT,
            &[],
            true,
        ),
        (
            "derived kms:CallerAccount is available",
            &alice_caller_account,
            ALICE,
            ACCT,
            &[],
            false,
        ),
    ];
    for (name, policy, principal, account, identity, want) in cases {
        assert_eq!(
            would_lock_out(policy, principal, account, KEY, identity),
            *want,
            "{name}"
        );
    }
}

/// Rough timing: `cargo test -p tern-policy --release -- --ignored --nocapture bench`.
#[test]
#[ignore]
fn bench_twenty_statement_policy() {
    let mut statements = Vec::new();
    for i in 0..19 {
        statements.push(ks(
            if i % 5 == 4 { "Deny" } else { "Allow" },
            &format!(r#""Principal": {{"AWS": ["arn:aws:iam::111122223333:user/u{i}", "arn:aws:iam::111122223333:role/r{i}"]}}"#),
            r#""Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]"#,
            ANY_RES,
            r#"{"StringEquals": {"kms:ViaService": ["s3.us-east-1.amazonaws.com", "ec2.us-east-1.amazonaws.com"], "kms:EncryptionContext:app": "billing"}, "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "203.0.113.0/24"]}, "Bool": {"aws:SecureTransport": "true"}}"#,
        ));
    }
    statements.push(ks(
        "Allow",
        &aws(ALICE),
        ALL,
        ANY_RES,
        r#"{"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com", "kms:EncryptionContext:app": "billing"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}"#,
    ));
    let key = Policy::parse_key_policy(&doc(&statements)).unwrap();
    let identity = Policy::parse_identity_policy(&identity_allow("kms:*", "*")).unwrap();
    let mut c = ConditionContext::new();
    c.set("kms:ViaService", "s3.us-east-1.amazonaws.com")
        .set("aws:SourceIp", "10.1.2.3")
        .set("aws:SecureTransport", "true")
        .set("aws:CurrentTime", "2025-06-01T12:00:00Z")
        .set_encryption_context([("app", "billing"), ("tenant", "42")]);
    let req = Request {
        action: "kms:Decrypt",
        principal_arn: ALICE,
        principal_account: ACCT,
        resource_arn: KEY,
        context: &c,
    };
    assert!(authorize(&key, &[&identity], false, &req).is_allowed());
    let iterations = 200_000u32;
    let start = std::time::Instant::now();
    let mut allowed = 0u32;
    for _ in 0..iterations {
        allowed += u32::from(
            std::hint::black_box(authorize(&key, &[&identity], false, std::hint::black_box(&req))).is_allowed(),
        );
    }
    let per = start.elapsed() / iterations;
    assert_eq!(allowed, iterations);
    println!("authorize, 20-statement key policy with conditions + 1 identity policy: {per:?} per request");
}
