//! tern-server: the node binary's insides — configuration, the gRPC API,
//! SigV4 authentication, health and tracing.
//!
//! Transports live here; KMS semantics do not. This crate decodes requests,
//! authenticates them ([`auth`]), hands them to `tern-service`, and maps the
//! result or the service error ([`grpc_error`]) back in exactly one place.
//!
//! Must never: contain KMS logic (authorization, key state, crypto, audit),
//! log or return a secret, or let a request reach the service without a
//! verified caller.

pub mod auth;
pub mod aws_shape;
pub mod client_tls;
pub mod config;
pub mod edge;
pub mod grpc;
pub mod grpc_error;
pub mod json_api;
pub mod limits;
pub mod node;
mod operations;
pub mod telemetry;

pub use limits::Limits;
pub use node::{ClusterOptions, Node, NodeError, NodeOptions};
pub use tern_store::DEFAULT_MIN_FREE_BYTES;
