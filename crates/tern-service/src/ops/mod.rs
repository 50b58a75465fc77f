//! The operations, one module per concept. Each is an inherent method of
//! [`crate::Kms`] taking the caller's context and the request message.

mod aliases;
mod asymmetric;
pub(crate) mod crypto;
pub(crate) mod grants;
pub(crate) mod import;
mod keys;
mod multi_region;
mod policy;
pub(crate) mod rotation;
mod tags;
