//! Shared helpers for tests that run the `tern` binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const TERN: &str = env!("CARGO_BIN_EXE_tern");

/// The administrator credentials `tern init` generated into `dir`.
pub fn admin_credentials(dir: &Path) -> tern_client::Credentials {
    let text = std::fs::read_to_string(dir.join("admin-credentials")).unwrap();
    tern_client::Credentials::from_shared_credentials(&text, "default").unwrap()
}

/// `tern init` for one region on an ephemeral port; returns its config path.
pub fn init_region(dir: &Path, region: &str) -> std::path::PathBuf {
    let init = std::process::Command::new(TERN)
        .args(["init", "--regions", region, "--base-port", "0", "--out"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    dir.join(format!("{region}.toml"))
}

/// Starts `tern serve` and waits (bounded) for its "listening on" line.
pub async fn serve(config: &Path) -> (Child, String) {
    let mut child = Command::new(TERN)
        .args(["serve", "--config"])
        .arg(config)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn tern serve");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let endpoint = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.trim().to_string();
            }
        }
        panic!("tern serve exited before listening");
    })
    .await
    .expect("tern serve did not start within 60 s");
    // Keep draining stderr so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, endpoint)
}
