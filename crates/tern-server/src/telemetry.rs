//! Logging and tracing setup for the node binary: `tracing` with an
//! env-filter (`RUST_LOG`, default `info`). openraft's per-message logs
//! are kept at `warn` unless `RUST_LOG` says otherwise.

/// Installs the global subscriber once; later calls are no-ops.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Colour only on a terminal: `docker logs` and files get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
