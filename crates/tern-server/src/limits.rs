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
    /// The part of that budget one client connection may hold (8 MiB; at
    /// least one maximal body): over it, a request on that connection gets
    /// ThrottlingException at once, so one connection's streams cannot
    /// starve the others.
    pub unauthenticated_body_bytes_per_connection: usize,
    /// How long a request waits for room in that budget before it gets
    /// ThrottlingException (2,000 ms).
    pub body_budget_wait_ms: u64,
    /// How long a request body may take to arrive before the request gets
    /// ValidationException and its budget goes back (10,000 ms).
    pub body_read_timeout_ms: u64,
    /// Connections open at once on each port (client and peer) of the node
    /// (4,096). Over it, a new connection is closed at once.
    pub max_connections: usize,
    /// Connections open at once from one source IP on each port (1,024).
    pub max_connections_per_ip: usize,
    /// A TLS handshake (client and peer port) must finish within this
    /// (10,000 ms).
    pub tls_handshake_timeout_ms: u64,
    /// HTTP/1.1: a request's headers must be complete this long after its
    /// first byte (10,000 ms); then the connection is closed (slowloris).
    pub header_read_timeout_ms: u64,
    /// A client connection with no request in flight is closed after this
    /// (120,000 ms).
    pub idle_timeout_ms: u64,
    /// A request still running after this is answered
    /// DependencyTimeoutException (60,000 ms).
    pub request_timeout_ms: u64,
    /// Concurrent HTTP/2 streams per client connection (128).
    pub max_concurrent_streams: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            keys_per_account: tern_core::key::DEFAULT_KEYS_PER_ACCOUNT,
            unauthenticated_body_bytes: 64 << 20,
            unauthenticated_body_bytes_per_connection: 8 << 20,
            body_budget_wait_ms: 2_000,
            body_read_timeout_ms: 10_000,
            max_connections: 4096,
            max_connections_per_ip: 1024,
            tls_handshake_timeout_ms: 10_000,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 120_000,
            request_timeout_ms: 60_000,
            max_concurrent_streams: 128,
        }
    }
}

impl Limits {
    /// The client port's edge limits.
    pub fn client_edge(&self) -> crate::edge::EdgeLimits {
        crate::edge::EdgeLimits {
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            tls_handshake_timeout: Duration::from_millis(self.tls_handshake_timeout_ms),
            header_read_timeout: Some(Duration::from_millis(self.header_read_timeout_ms)),
            idle_timeout: Some(Duration::from_millis(self.idle_timeout_ms)),
            body_bytes_per_connection: self
                .unauthenticated_body_bytes_per_connection
                .max(crate::auth::MAX_BODY_BYTES),
        }
    }

    /// The peer port's edge limits: connection caps and the handshake
    /// timeout. Its clients hold cluster certificates and keep their
    /// HTTP/2 connections open between messages, so no header or idle
    /// timeout (Raft's own timeouts and keep-alives watch them).
    pub fn peer_edge(&self) -> crate::edge::EdgeLimits {
        crate::edge::EdgeLimits {
            header_read_timeout: None,
            idle_timeout: None,
            ..self.client_edge()
        }
    }

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
