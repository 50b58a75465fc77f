//! `tern`: run a region (`serve`), a local three-region cluster (`dev`),
//! the Multi-Region walkthrough (`demo`),
//! generate a deployment's keys and configs (`init`), manage access keys
//! (`principals`), call the API in aws-cli style (`kms <op>`), check a node
//! (`health`), run a region-local client (`probe`), and check or export the
//! audit chain (`audit`).

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
mod principals;
mod probe;

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
        /// Reach a peer region at another address than the config says
        /// (`REGION=HOST:PORT`, repeatable): e.g. through a WAN delay proxy.
        #[arg(long = "peer", value_name = "REGION=HOST:PORT")]
        peers: Vec<String>,
    },
    /// Run a local multi-region cluster in one process (the quick start).
    Dev(cluster::DevArgs),
    /// Boot an embedded three-region cluster and walk the Multi-Region scenario.
    Demo(demo::DemoArgs),
    /// Generate root keys, principals and per-region configs into a directory.
    Init(cluster::InitArgs),
    /// Call a KMS operation, aws-cli style: `tern kms encrypt --key-id alias/x --plaintext fileb://f`.
    Kms {
        /// aws-cli's global options (`--region`, `--endpoint-url`,
        /// `--output`, `--query`, `--ca-bundle`, `--profile`, `--debug`)
        /// before or after the operation in kebab case (`create-key`,
        /// `encrypt`), then the operation's members (`--key-id ...`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
    /// Check that a region node answers (gRPC health): exit 0 when it is
    /// serving, 1 when not; the container healthcheck.
    Health {
        /// The node's client endpoint.
        #[arg(long, default_value = "http://127.0.0.1:7070")]
        endpoint: String,
        /// Give up after this long.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
        /// Ask about one service instead of the node: e.g. `tern.raft.Leader`,
        /// SERVING only on the region leading the Multi-Region Raft group.
        #[arg(long, default_value = "")]
        service: String,
        /// The CA of an https endpoint's certificate (default: `AWS_CA_BUNDLE`).
        #[arg(long)]
        ca_bundle: Option<String>,
    },
    /// A region-local client: decrypt and verify in one region, reporting
    /// failures and the longest gap between successes.
    Probe(probe::ProbeArgs),
    /// Add, rotate or remove access keys in a principals file (a running
    /// `tern serve` applies the file on SIGHUP).
    Principals {
        #[command(subcommand)]
        command: principals::PrincipalsCommand,
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
        Command::Kms { args } => {
            let code = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(kms::run(&args));
            std::process::exit(code);
        }
        Command::Audit { command } => std::process::exit(audit::run(command)?),
        Command::Principals { command } => principals::run(command),
        Command::Serve { config, peers } => runtime()?.block_on(cluster::serve(&config, &peers)),
        Command::Dev(args) => runtime()?.block_on(cluster::dev(args)),
        Command::Demo(args) => runtime()?.block_on(demo::run(args)),
        Command::Init(args) => cluster::init(args),
        Command::Health {
            endpoint,
            timeout_ms,
            service,
            ca_bundle,
        } => {
            let tls = kms::ca_bundle(ca_bundle.as_deref())?;
            let code = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(health(
                    &endpoint,
                    &service,
                    &tls,
                    std::time::Duration::from_millis(timeout_ms),
                ));
            std::process::exit(code);
        }
        Command::Probe(args) => std::process::exit(runtime()?.block_on(probe::run(args))?),
    }
}

/// `tern health`: 0 when the node reports SERVING, 1 otherwise.
async fn health(endpoint: &str, service: &str, tls: &tern_client::Tls, timeout: std::time::Duration) -> i32 {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let check = async {
        let mut ep = tonic::transport::Endpoint::from_shared(endpoint.to_string())?;
        if endpoint.starts_with("https://") {
            let mut cfg = tonic::transport::ClientTlsConfig::new();
            if let Some(ca) = &tls.ca_pem {
                cfg = cfg.ca_certificate(tonic::transport::Certificate::from_pem(ca));
            }
            ep = ep.tls_config(cfg)?;
        }
        let channel = ep.connect().await?;
        let r = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await?;
        Ok::<_, Box<dyn std::error::Error>>(r.into_inner().status())
    };
    match tokio::time::timeout(timeout, check).await {
        Ok(Ok(ServingStatus::Serving)) => {
            println!("{endpoint}: SERVING");
            0
        }
        Ok(Ok(status)) => {
            eprintln!("{endpoint}: {}", status.as_str_name());
            1
        }
        Ok(Err(e)) => {
            eprintln!("{endpoint}: {e}");
            1
        }
        Err(_) => {
            eprintln!("{endpoint}: no answer within {timeout:?}");
            1
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}
