//! Named limits on what one node holds for its clients, with defaults;
//! set in the node configuration's `[limits]` table (unknown names are
//! refused). The README's "Limits" table lists each with its default.

use std::time::Duration;

use serde::Deserialize;

/// A node's limits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// KMS keys one account may hold in this region, keys pending deletion
    /// included (AWS's quota, 100,000 by default). Over it, CreateKey gets
    /// LimitExceededException; other accounts are not affected.
    pub keys_per_account: usize,
    /// Body bytes that requests whose signature is not checked yet may hold
    /// at once, node-wide (64 MiB; at least 2 MiB, two maximal bodies).
    pub unauthenticated_body_bytes: usize,
    /// How long a request waits for room in that budget before it gets
    /// ThrottlingException (2,000 ms).
    pub body_budget_wait_ms: u64,
    /// How long a request body may take to arrive before the request gets
    /// ValidationException and its budget goes back (10,000 ms).
    pub body_read_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            keys_per_account: tern_core::key::DEFAULT_KEYS_PER_ACCOUNT,
            unauthenticated_body_bytes: 64 << 20,
            body_budget_wait_ms: 2_000,
            body_read_timeout_ms: 10_000,
        }
    }
}

impl Limits {
    /// The unauthenticated-body budget these limits describe.
    pub fn body_budget(&self) -> crate::auth::BodyBudget {
        crate::auth::BodyBudget::new(
            self.unauthenticated_body_bytes,
            Duration::from_millis(self.body_budget_wait_ms),
            Duration::from_millis(self.body_read_timeout_ms),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn limits_default_and_can_be_set() {
        let l: Limits = toml::from_str("").unwrap();
        assert_eq!(l, Limits::default());
        assert_eq!(l.keys_per_account, 100_000);
        let l: Limits = toml::from_str("keys_per_account = 5\nbody_read_timeout_ms = 300").unwrap();
        assert_eq!(l.keys_per_account, 5);
        assert_eq!(l.body_read_timeout_ms, 300);
        assert_eq!(l.unauthenticated_body_bytes, 64 << 20);
        let e = toml::from_str::<Limits>("keys_per_acount = 5").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }
}
