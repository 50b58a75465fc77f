//! `tern`: run a region (`serve`), a local three-region cluster (`dev`),
//! the Multi-Region walkthrough (`demo`),
//! generate a deployment's keys and configs (`init`), call the API in
//! aws-cli style (`kms <op>`), and check or export the audit chain (`audit`).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// mimalloc: glibc malloc showed up as ~8% of the decrypt path's CPU
/// (malloc, free, consolidation); mimalloc's thread-local pages avoid it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod audit;
mod cluster;
mod demo;
mod kms;

#[derive(Parser, Debug)]
#[command(name = "tern", version, about = "tern: a multi-region key management service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one region node from a config file.
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// Run a local multi-region cluster in one process (the quick start).
    Dev(cluster::DevArgs),
    /// Boot an embedded three-region cluster and walk the Multi-Region scenario.
    Demo(demo::DemoArgs),
    /// Generate root keys, principals and per-region configs into a directory.
    Init(cluster::InitArgs),
    /// Call a KMS operation, aws-cli style: `tern kms encrypt --key-id alias/x --plaintext fileb://f`.
    Kms {
        /// The operation in kebab case (e.g. `create-key`, `encrypt`).
        op: String,
        /// The operation's arguments (`--key-id ...`, `--endpoint-url ...`, `--output text`, ...).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Audit chain tools.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Kms { op, args } => {
            let code = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(kms::run(&op, &args));
            std::process::exit(code);
        }
        Command::Audit { command } => std::process::exit(audit::run(command)?),
        Command::Serve { config } => runtime()?.block_on(cluster::serve(&config)),
        Command::Dev(args) => runtime()?.block_on(cluster::dev(args)),
        Command::Demo(args) => runtime()?.block_on(demo::run(args)),
        Command::Init(args) => cluster::init(args),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}
