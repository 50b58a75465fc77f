//! tern-policy: the policy language of a tern region — parse, validate and
//! evaluate key policies and identity policies the way AWS KMS does, and the
//! pure parts of grants.
//!
//! A document is parsed once into a compiled [`Policy`] (patterns split,
//! operators resolved, CIDRs, dates and numbers parsed); evaluating it against
//! a [`Request`] never touches JSON again and allocates nothing on the common
//! path. [`authorize`] ties a key policy, the caller's identity policies and
//! the grant check together into a [`Decision`].
//!
//! Must never: do IO, read a clock, draw randomness, or panic on any input —
//! every document and request is client-controlled. Time-dependent conditions
//! read `aws:CurrentTime` / `aws:EpochTime` from the [`ConditionContext`] the
//! caller fills in.
//!
//! Main types: [`Policy`] (+ [`PolicyKind`], [`PolicyError`]), [`Request`] and
//! [`ConditionContext`], [`Evaluation`], [`Decision`], [`GrantConstraints`] and
//! [`GrantOperation`].
//!
//! # Semantics chosen where AWS is loose or undocumented
//!
//! * **Condition keys** are case-insensitive in full and stored lowercase,
//!   including the part after `kms:EncryptionContext:`, `aws:ResourceTag/` and
//!   `aws:RequestTag/`: AWS documents that the context key / tag key in those
//!   condition keys is not case-sensitive (that is why KMS recommends adding
//!   `kms:EncryptionContextKeys` for a fully case-sensitive check). Values keep
//!   their case; `kms:EncryptionContextKeys` holds the keys as sent.
//! * **Element and operator names** (`Effect`, `StringEquals`, `IfExists`,
//!   `ForAnyValue:`) are case-sensitive, as in AWS's grammar. Unknown elements
//!   and operators are errors, never ignored.
//! * **Policy variables** (`${aws:username}`) are not expanded: they are
//!   accepted and compared literally.
//! * **Multi-valued keys without a set qualifier** behave like `ForAnyValue`
//!   for positive operators; a negated operator is the negation of the positive
//!   one (no request value matches any policy value). An empty multi-valued
//!   key counts as absent (for `Null` too).
//! * **Negated operators on an absent key** are true (AWS: "the condition can
//!   return true"); positive ones false unless `…IfExists`. `ForAllValues` on an
//!   absent key is true; `ForAnyValue` false unless `…IfExists`.
//! * **Numbers** compare as `f64`; **dates** as milliseconds since the epoch
//!   (ISO 8601 `YYYY-MM-DD[Thh:mm[:ss[.fff]]][Z|±hh:mm]`, or epoch seconds).
//!   `IpAddress` treats an IPv4-mapped IPv6 request address as IPv4.
//!   `ArnEquals` and `ArnLike` are the same operator, as in AWS: both match
//!   the six ARN fields one by one with `*`/`?`.
//! * **Resources** match as a whole-string `*`/`?` pattern, case-sensitive.
//!   Actions match case-insensitively.
//! * **Principals**: `"*"`, `{"AWS": …}` (account id, `root`, `user/…`,
//!   `role/…`, `assumed-role/…` session ARNs, `"*"`) and `{"Service": …}`; no
//!   wildcards inside ARNs. A role ARN also matches that role's
//!   `arn:…:sts::<acct>:assumed-role/<name>/<session>` callers. `NotPrincipal`
//!   excludes a caller only when both the caller and its account are listed
//!   (AWS's documented behaviour); a root caller needs only its account.
//! * **Size and characters**: [`MAX_POLICY_BYTES`] and the character rule apply
//!   to identity policies too.

mod condition;
mod context;
mod decision;
mod error;
mod grant;
mod json;
mod pattern;
mod policy;
mod principal;
mod statement;

pub use context::{keys, ConditionContext, Request};
pub use decision::{
    authorize, default_key_policy, would_lock_out, AllowReason, Decision, DenyReason, ImplicitDenyReason,
};
pub use error::PolicyError;
pub use grant::{GrantConstraints, GrantOperation, UnknownGrantOperation, GRANT_OPERATIONS};
pub use policy::{Evaluation, Policy, PolicyKind};
pub use statement::Effect;

/// The largest key policy AWS KMS accepts, in bytes of UTF-8. Larger →
/// [`PolicyError::TooLarge`] (`LimitExceededException`).
pub const MAX_POLICY_BYTES: usize = 32 * 1024;
