//! tern-store: a region's durable state on RocksDB.
//!
//! Keys (with their wrapped material), aliases, grants and the hash-chained audit log
//! live in column families of one database. All writes go through one
//! committer thread ([`Store::transact`]): it runs each transaction's closure
//! against the state as it will be once the pending batch is durable, group
//! commits many transactions and their audit records in one synced
//! `WriteBatch`, and only then publishes the new state and acknowledges them.
//! Readers see published (durable) state only.
//!
//! Must never: acknowledge anything before its batch has synced, advance the
//! audit chain head past a failed write, or hold key material in plaintext.

pub mod audit;
mod committer;
mod db;
mod state;

pub use audit::{AuditEntry, ChainHead, VerifyReport};
pub use committer::{CommitStats, Completion, Txn};
pub use db::{open_waiting_for_lock, AuditReader, Store, StoreConfig, DEFAULT_MIN_FREE_BYTES};
pub use state::{AliasKey, AliasRecord, GrantKey, GrantRecord, Published};

/// Storage failures. Every one fails the requests of its batch closed; none
/// is ever acknowledged as success.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("storage write failed: {0}")]
    Write(String),
    #[error("storage read failed: {0}")]
    Read(String),
    #[error("storage is shutting down")]
    ShuttingDown,
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    /// The data directory's file system is below the free-space reserve:
    /// client writes (and audited reads) are refused before RocksDB could hit
    /// ENOSPC; replication keeps the reserve.
    #[error(
        "region storage is out of space: {free} bytes free on {path}, below the {reserve}-byte reserve; \
         writes and audited requests are refused until space returns"
    )]
    NoSpace { path: String, free: u64, reserve: u64 },
}
