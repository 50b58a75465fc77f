//! `tern_policy::Policy::parse` must never panic on any text, as a key policy
//! or as an identity policy; its errors must describe the input truthfully;
//! and whatever it accepts must evaluate without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_policy::{authorize, ConditionContext, Policy, PolicyError, PolicyKind, Request, MAX_POLICY_BYTES};

fuzz_target!(|data: &[u8]| {
    let doc = String::from_utf8_lossy(data);
    let mut ctx = ConditionContext::new();
    ctx.set("kms:ViaService", "s3.us-east-1.amazonaws.com")
        .set("aws:SourceIp", "10.1.2.3")
        .set("aws:CurrentTime", "2025-06-01T12:00:00Z")
        .set("aws:SecureTransport", "true")
        .set_encryption_context([("app", "billing"), ("Tenant", "42")])
        .set_resource_tags([("Env", "prod")]);
    let callers = [
        ("arn:aws:iam::111122223333:user/alice", "111122223333"),
        ("arn:aws:iam::111122223333:root", "111122223333"),
        ("arn:aws:sts::444455556666:assumed-role/Admin/s", "444455556666"),
        ("logs.amazonaws.com", ""),
    ];
    for kind in [PolicyKind::Key, PolicyKind::Identity] {
        match Policy::parse(&doc, kind) {
            Ok(p) => {
                assert!(doc.len() <= MAX_POLICY_BYTES);
                assert!(!p.is_empty());
                for (principal_arn, principal_account) in callers {
                    for action in ["kms:Decrypt", "kms:PutKeyPolicy"] {
                        let req = Request {
                            action,
                            principal_arn,
                            principal_account,
                            resource_arn: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                            context: &ctx,
                        };
                        let _ = p.evaluate(&req);
                        let _ = authorize(&p, &[&p], false, &req);
                    }
                }
            }
            Err(PolicyError::TooLarge { len_bytes, max_bytes }) => {
                assert_eq!(len_bytes, doc.len());
                assert!(len_bytes > max_bytes);
            }
            Err(PolicyError::InvalidCharacter {
                character,
                offset_bytes,
            }) => {
                assert_eq!(doc[offset_bytes..].chars().next(), Some(character));
                assert!(!matches!(character, '\t' | '\n' | '\r' | '\u{20}'..='\u{FF}'));
            }
            Err(e @ PolicyError::Malformed { .. }) => {
                assert!(!e.to_string().is_empty());
                assert_eq!(e.aws_error_code(), "MalformedPolicyDocumentException");
            }
        }
    }
});
