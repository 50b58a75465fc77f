//! tern-service
