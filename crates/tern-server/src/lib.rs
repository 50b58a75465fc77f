//! tern-server
