//! Randomized properties over generated policies and requests, and parsing of
//! mutated and random documents. Seeded: each test prints its seed and the
//! command that replays it (`TERN_POLICY_SEED=<seed>`).

use super::*;
use crate::{ConditionContext, Policy, PolicyKind};

const ITERATIONS: usize = 10_000;

/// xorshift64*: small, deterministic, good enough to explore inputs.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

fn seed(test: &str) -> u64 {
    let seed = match std::env::var("TERN_POLICY_SEED") {
        Ok(s) => {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => s.parse(),
            };
            parsed.unwrap_or_else(|e| panic!("TERN_POLICY_SEED={s:?}: {e}"))
        }
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5EED),
    };
    println!("{test}: seed {seed:#x}; reproduce with TERN_POLICY_SEED={seed:#x} cargo test -p tern-policy {test}");
    seed
}

const ACCT: &str = "111122223333";
const OTHER: &str = "444455556666";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const OTHER_KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/ffffffff-12ab-34cd-56ef-1234567890ab";
const FOREIGN_KEY: &str = "arn:aws:kms:eu-west-1:444455556666:key/0000";

const PRINCIPALS: &[&str] = &[
    r#""*""#,
    r#"{"AWS": "*"}"#,
    r#"{"AWS": "111122223333"}"#,
    r#"{"AWS": "arn:aws:iam::111122223333:root"}"#,
    r#"{"AWS": "arn:aws:iam::111122223333:user/alice"}"#,
    r#"{"AWS": ["arn:aws:iam::111122223333:user/carol", "arn:aws:iam::444455556666:user/bob"]}"#,
    r#"{"AWS": "arn:aws:iam::444455556666:root"}"#,
    r#"{"AWS": "arn:aws:iam::111122223333:role/ops/Admin"}"#,
    r#"{"Service": "logs.amazonaws.com"}"#,
    r#"{"AWS": ["arn:aws:iam::111122223333:user/alice", "111122223333"]}"#,
];

const ACTIONS: &[&str] = &[
    r#""kms:*""#,
    r#""*""#,
    r#""kms:Decrypt""#,
    r#""kms:encrypt""#,
    r#""kms:Generate*""#,
    r#""kms:*Key*""#,
    r#""kms:?ncrypt""#,
    r#"["kms:Decrypt", "kms:PutKeyPolicy"]"#,
    r#""s3:GetObject""#,
];

const RESOURCES: &[&str] = &[
    r#""*""#,
    r#""arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab""#,
    r#""arn:aws:kms:*:111122223333:key/*""#,
    r#""arn:aws:kms:*:444455556666:key/*""#,
    r#"["arn:aws:kms:us-east-1:111122223333:key/ffffffff-12ab-34cd-56ef-1234567890ab", "arn:aws:kms:eu-*:*:key/*"]"#,
];

const CONDITIONS: &[&str] = &[
    r#"{"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}"#,
    r#"{"StringNotEquals": {"kms:CallerAccount": "111122223333"}}"#,
    r#"{"StringLikeIfExists": {"kms:ViaService": "*.amazonaws.com"}}"#,
    r#"{"Bool": {"aws:SecureTransport": "true"}}"#,
    r#"{"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}}"#,
    r#"{"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}"#,
    r#"{"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}"#,
    r#"{"Null": {"kms:EncryptionContextKeys": "false"}}"#,
    r#"{"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["app", "tenant"]}}"#,
    r#"{"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": "ten*"}}"#,
    r#"{"StringEquals": {"kms:EncryptionContext:app": ["billing", "web"]}}"#,
    r#"{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/*"}}"#,
    r#"{"NumericLessThanEquals": {"kms:x": 3}}"#,
];

const CALLERS: &[(&str, &str)] = &[
    ("arn:aws:iam::111122223333:user/alice", ACCT),
    ("arn:aws:iam::111122223333:user/carol", ACCT),
    ("arn:aws:iam::111122223333:root", ACCT),
    ("arn:aws:sts::111122223333:assumed-role/Admin/s1", ACCT),
    ("arn:aws:iam::444455556666:user/bob", OTHER),
    ("arn:aws:iam::444455556666:root", OTHER),
    ("logs.amazonaws.com", ""),
];

const REQUEST_ACTIONS: &[&str] = &[
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:DescribeKey",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
];

fn statement(rng: &mut Rng, kind: PolicyKind, effect: &str) -> String {
    let mut parts = vec![format!(r#""Effect": "{effect}""#)];
    if kind == PolicyKind::Key {
        let element = if rng.chance(15) { "NotPrincipal" } else { "Principal" };
        parts.push(format!(r#""{element}": {}"#, rng.pick(PRINCIPALS)));
    }
    let element = if rng.chance(15) { "NotAction" } else { "Action" };
    parts.push(format!(r#""{element}": {}"#, rng.pick(ACTIONS)));
    let element = if rng.chance(15) { "NotResource" } else { "Resource" };
    parts.push(format!(r#""{element}": {}"#, rng.pick(RESOURCES)));
    if rng.chance(40) {
        parts.push(format!(r#""Condition": {}"#, rng.pick(CONDITIONS)));
    }
    format!("{{{}}}", parts.join(", "))
}

fn random_statements(rng: &mut Rng, kind: PolicyKind) -> Vec<String> {
    let n = 1 + rng.below(6);
    (0..n)
        .map(|_| {
            let effect = if rng.chance(25) { "Deny" } else { "Allow" };
            statement(rng, kind, effect)
        })
        .collect()
}

fn document(statements: &[String]) -> String {
    format!(
        r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#,
        statements.join(", ")
    )
}

fn random_context(rng: &mut Rng) -> ConditionContext {
    let mut c = ConditionContext::new();
    if rng.chance(50) {
        c.set(
            "kms:ViaService",
            rng.pick(&["s3.us-east-1.amazonaws.com", "ec2.us-east-1.amazonaws.com"]),
        );
    }
    if rng.chance(50) {
        c.set(
            "aws:SourceIp",
            rng.pick(&["10.1.2.3", "203.0.113.5", "2001:db8::1", "198.51.100.1"]),
        );
    }
    if rng.chance(50) {
        c.set("aws:SecureTransport", rng.pick(&["true", "false"]));
    }
    if rng.chance(50) {
        c.set(
            "aws:CurrentTime",
            rng.pick(&["2025-01-01T00:00:00Z", "2030-01-01T00:00:00Z"]),
        );
    }
    if rng.chance(30) {
        c.set("kms:x", rng.pick(&["1", "3", "7", "x"]));
    }
    let ecs: &[&[(&str, &str)]] = &[
        &[],
        &[("app", "billing")],
        &[("app", "web"), ("tenant", "42")],
        &[("other", "1")],
    ];
    c.set_encryption_context(rng.pick(ecs).iter().copied());
    c
}

struct RandomRequest {
    action: &'static str,
    principal: &'static str,
    account: &'static str,
    resource: &'static str,
    ctx: ConditionContext,
}

impl RandomRequest {
    fn new(rng: &mut Rng) -> RandomRequest {
        let (principal, account) = rng.pick(CALLERS);
        RandomRequest {
            action: rng.pick(REQUEST_ACTIONS),
            principal,
            account,
            resource: rng.pick(&[KEY, KEY, OTHER_KEY, FOREIGN_KEY]),
            ctx: random_context(rng),
        }
    }
    fn req(&self) -> Request<'_> {
        Request {
            action: self.action,
            principal_arn: self.principal,
            principal_account: self.account,
            resource_arn: self.resource,
            context: &self.ctx,
        }
    }
}

fn parse(doc: &str, kind: PolicyKind) -> Policy {
    Policy::parse(doc, kind).unwrap_or_else(|e| panic!("generated policy does not parse: {e}\n{doc}"))
}

#[test]
fn random_deny_all_always_denies() {
    let seed = seed("random_deny_all_always_denies");
    let mut rng = Rng::new(seed);
    let deny_all_key = r#"{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}"#;
    let deny_all_identity = r#"{"Effect": "Deny", "Action": "*", "Resource": "*"}"#;
    let mut outcomes = [0usize; 3];
    for i in 0..ITERATIONS {
        let key_statements = random_statements(&mut rng, PolicyKind::Key);
        let key = parse(&document(&key_statements), PolicyKind::Key);
        let identity: Vec<Policy> = (0..rng.below(3))
            .map(|_| {
                parse(
                    &document(&random_statements(&mut rng, PolicyKind::Identity)),
                    PolicyKind::Identity,
                )
            })
            .collect();
        let identity_refs: Vec<&Policy> = identity.iter().collect();
        let grant = rng.chance(20);
        let r = RandomRequest::new(&mut rng);
        let req = r.req();
        let base = authorize(&key, &identity_refs, grant, &req);
        outcomes[match base {
            Decision::Allow(_) => 0,
            Decision::ExplicitDeny(_) => 1,
            Decision::ImplicitDeny(_) => 2,
        }] += 1;
        let ctx = || format!("iteration {i} (seed {seed:#x}), request {:?}", req);

        // A grant can only add an allow, never remove one or override a deny.
        let with_grant = authorize(&key, &identity_refs, true, &req);
        assert!(
            with_grant.is_allowed() || matches!(with_grant, Decision::ExplicitDeny(_)),
            "{}: with a grant: {with_grant:?}",
            ctx()
        );
        if base.is_allowed() {
            assert!(with_grant.is_allowed(), "{}", ctx());
        }

        // The policy's verdict is the fold of its statements' verdicts.
        let singles: Vec<Evaluation> = key_statements
            .iter()
            .map(|s| parse(&document(std::slice::from_ref(s)), PolicyKind::Key).evaluate(&req))
            .collect();
        let whole = key.evaluate(&req);
        let any_deny = singles.iter().any(|e| matches!(e, Evaluation::ExplicitDeny { .. }));
        let any_allow = singles.iter().any(|e| matches!(e, Evaluation::Allow { .. }));
        match whole {
            Evaluation::ExplicitDeny { statement } => {
                assert!(
                    matches!(singles[statement], Evaluation::ExplicitDeny { .. }),
                    "{}",
                    ctx()
                )
            }
            Evaluation::Allow {
                statement,
                via_account_root,
            } => {
                assert!(!any_deny, "{}", ctx());
                assert_eq!(
                    singles[statement],
                    Evaluation::Allow {
                        statement: 0,
                        via_account_root
                    },
                    "{}",
                    ctx()
                );
                let any_direct = singles.iter().any(|e| {
                    matches!(
                        e,
                        Evaluation::Allow {
                            via_account_root: false,
                            ..
                        }
                    )
                });
                assert_eq!(via_account_root, !any_direct, "{}", ctx());
            }
            Evaluation::NotApplicable => assert!(!any_deny && !any_allow, "{}", ctx()),
        }

        // Adding Deny * * * anywhere in the key policy denies.
        let mut with_deny = key_statements.clone();
        with_deny.insert(rng.below(with_deny.len() + 1), deny_all_key.to_owned());
        let denying = parse(&document(&with_deny), PolicyKind::Key);
        assert!(
            matches!(denying.evaluate(&req), Evaluation::ExplicitDeny { .. }),
            "{}",
            ctx()
        );
        let d = authorize(&denying, &identity_refs, grant, &req);
        assert!(
            matches!(d, Decision::ExplicitDeny(DenyReason::KeyPolicy { .. })),
            "{}: {d:?}",
            ctx()
        );

        // And so does adding it to any identity policy of the caller.
        let mut id_statements = random_statements(&mut rng, PolicyKind::Identity);
        id_statements.insert(rng.below(id_statements.len() + 1), deny_all_identity.to_owned());
        let deny_identity = parse(&document(&id_statements), PolicyKind::Identity);
        let mut refs = identity_refs.clone();
        refs.insert(rng.below(refs.len() + 1), &deny_identity);
        let d = authorize(&key, &refs, grant, &req);
        assert!(matches!(d, Decision::ExplicitDeny(_)), "{}: {d:?}", ctx());
    }
    println!(
        "outcomes over {ITERATIONS} requests: allow {}, explicit deny {}, implicit deny {}",
        outcomes[0], outcomes[1], outcomes[2]
    );
    // The generator must reach every outcome, or the properties test little.
    assert!(
        outcomes.iter().all(|&n| n > ITERATIONS / 50),
        "outcomes too lopsided: {outcomes:?}"
    );
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ",",
    ":",
    " ",
    "null",
    "true",
    "0",
    "-1e999",
    "1.5",
    "\"*\"",
    "\"Effect\"",
    "\"Allow\"",
    "\"Deny\"",
    "\"Principal\"",
    "\"AWS\"",
    "\"Action\"",
    "\"Resource\"",
    "\"Condition\"",
    "\"StringEquals\"",
    "\"ForAllValues:StringLike\"",
    "\"NullIfExists\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "\u{0}",
    "\u{ff}",
    "\u{100}",
    "é",
    "\"arn:aws:iam::111122223333:root\"",
    "\"10.0.0.0/8\"",
    "\"2024-02-30\"",
    "\"Zm9v\"",
];

fn mutate(rng: &mut Rng, doc: &str) -> String {
    let mut bytes = doc.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(6) {
            0 => {
                let end = (at + 1 + rng.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            1 => {
                let t = rng.pick(TOKENS).as_bytes();
                bytes.splice(at..at, t.iter().copied());
            }
            2 => {
                if at < bytes.len() {
                    bytes[at] = rng.next() as u8;
                }
            }
            3 => bytes.truncate(at),
            4 => {
                let end = (at + rng.below(64)).min(bytes.len());
                let slice = bytes[at..end].to_vec();
                bytes.splice(at..at, slice);
            }
            _ => {
                if at < bytes.len() {
                    let other = rng.below(bytes.len());
                    bytes.swap(at, other);
                }
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Parsing never panics, and whatever parses evaluates without panicking.
fn parse_and_poke(rng: &mut Rng, doc: &str) -> bool {
    let mut parsed = false;
    for kind in [PolicyKind::Key, PolicyKind::Identity] {
        match Policy::parse(doc, kind) {
            Ok(p) => {
                parsed = true;
                let r = RandomRequest::new(rng);
                let _ = p.evaluate(&r.req());
                let _ = authorize(&p, &[&p], false, &r.req());
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
            }
        }
    }
    parsed
}

#[test]
fn random_mutations_never_panic() {
    let seed = seed("random_mutations_never_panic");
    let mut rng = Rng::new(seed);
    let mut parsed = 0;
    for _ in 0..ITERATIONS {
        let kind = if rng.chance(50) {
            PolicyKind::Key
        } else {
            PolicyKind::Identity
        };
        let doc = document(&random_statements(&mut rng, kind));
        let mutated = mutate(&mut rng, &doc);
        parsed += usize::from(parse_and_poke(&mut rng, &mutated));
    }
    println!("{parsed} of {ITERATIONS} mutated documents still parsed");
    assert!(
        parsed > 0,
        "no mutated document parsed; the mutator is too destructive to explore"
    );
}

#[test]
fn random_bytes_never_panic() {
    let seed = seed("random_bytes_never_panic");
    let mut rng = Rng::new(seed);
    for _ in 0..ITERATIONS {
        let len = rng.below(256);
        let bytes: Vec<u8> = if rng.chance(50) {
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            // Mostly JSON punctuation and tokens, to get past the first byte.
            let mut s = String::new();
            while s.len() < len {
                s.push_str(rng.pick(TOKENS));
            }
            s.into_bytes()
        };
        let doc = String::from_utf8_lossy(&bytes);
        parse_and_poke(&mut rng, &doc);
    }
}
