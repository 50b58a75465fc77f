//! Generated protobuf messages and tonic stubs for tern's client API
//! (`proto/tern/kms/v1/kms.proto`).
//!
//! This crate holds no logic. The service layer uses the messages as its
//! request and response types; only tern-server and tern-client touch the
//! tonic stubs.
#![allow(missing_debug_implementations, clippy::all)]

pub mod kms {
    pub mod v1 {
        tonic::include_proto!("tern.kms.v1");
    }
}

pub use kms::v1 as pb;
