//! tern-service: every KMS operation, written once.
//!
//! Each operation runs authenticate (done by the transport, which passes a
//! [`Caller`]) → authorize → check key state → crypto → persist → audit →
//! respond. Transports (gRPC now, AWS JSON later) decode into the
//! `tern_proto` messages, call [`Kms`], and encode the result or the
//! [`KmsError`] in one place each.
//!
//! Must never: know about a transport, hold a lock across an `.await`, or
//! acknowledge anything before its audit record and state change are durable.

pub mod audit;
pub mod authz;
pub mod caller;
pub mod clock;
pub mod error;
mod kms;
pub mod messages;
mod metadata;
mod ops;
mod resolve;
pub mod scheduler;
pub mod validate;

pub use caller::{Caller, PrincipalKind, RequestContext};
pub use clock::{Clock, FakeClock, SystemClock};
pub use error::{ErrorKind, KmsError, KmsResult};
pub use kms::Kms;
pub use scheduler::DueReport;
