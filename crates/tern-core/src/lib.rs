//! tern-core: the pure domain of a tern region.
//!
//! Identifiers and ARNs ([`ids`]), key metadata and the key-state machine
//! ([`key`]), the encryption context ([`context`]), the ciphertext blob that
//! lives forever ([`blob`]), AES-256-GCM and material wrapping ([`crypto`]),
//! and SigV4 ([`sigv4`]).
//!
//! Must never: do IO, read a clock, or draw randomness of its own — time and
//! random bytes are passed in, so every rule here is unit-testable.

pub mod b64;
pub mod blob;
pub mod context;
pub mod crypto;
pub mod error;
pub mod ids;
pub mod key;
pub mod material;
pub mod seal;
pub mod sign;
pub mod sigv4;
pub mod time;
