//! `tern audit verify` and `tern audit export`: read a region's audit chain
//! from its data directory, through a RocksDB secondary instance so it works
//! while the node runs.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use tern_store::{AuditReader, ChainHead};

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify the hash chain; print the head to anchor elsewhere.
    Verify {
        /// The region's data directory (the RocksDB directory).
        #[arg(long)]
        data_dir: PathBuf,
        /// A head printed earlier (`SEQ:HASH`): also detects a cut-off tail.
        #[arg(long)]
        anchor: Option<String>,
    },
    /// Print every record as a JSON line.
    Export {
        #[arg(long)]
        data_dir: PathBuf,
    },
}

fn open(data_dir: &std::path::Path) -> Result<(AuditReader, tempfile::TempDir)> {
    let secondary = tempfile::Builder::new().prefix("tern-audit-").tempdir()?;
    let reader = AuditReader::open(data_dir, secondary.path())
        .with_context(|| format!("opening {} read-only", data_dir.display()))?;
    Ok((reader, secondary))
}

/// Returns the process exit code.
pub fn run(cmd: AuditCommand) -> Result<i32> {
    match cmd {
        AuditCommand::Verify { data_dir, anchor } => {
            let anchor = match anchor {
                Some(a) => Some(ChainHead::parse(&a).context("--anchor must be SEQ:HASH (64 hex digits)")?),
                None => None,
            };
            let (reader, _secondary) = open(&data_dir)?;
            let report = reader.verify(anchor);
            match &report.problem {
                None => {
                    println!("OK: {} records verified", report.records);
                    println!("head: {}", report.head);
                    Ok(0)
                }
                Some(p) => {
                    println!("FAILED after {} good records: {p}", report.records);
                    println!("last good head: {}", report.head);
                    Ok(1)
                }
            }
        }
        AuditCommand::Export { data_dir } => {
            let (reader, _secondary) = open(&data_dir)?;
            let mut code = 0;
            for e in reader.entries() {
                match e {
                    Ok(e) => println!("{}", e.to_json_line()),
                    Err(msg) => {
                        eprintln!("unreadable entry: {msg}");
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
    }
}
