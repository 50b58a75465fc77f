//! Crash durability: a `tern serve` child process is killed with SIGKILL in
//! the middle of concurrent writes; after a restart on the same data
//! directory every acknowledged key, alias, rotation, ciphertext and audit
//! record is there and `tern audit verify` passes.
//!
//! SIGKILL keeps the page cache, so this cannot reveal a missing fsync; the
//! store's `concurrent_appends_are_group_committed_and_never_acked_before_sync`
//! test asserts that no acknowledgement precedes the sync of its batch.
//!
//! To run it on a file system that drops unsynced writes (LazyFS), set
//! `TERN_CRASH_DIR` to a directory on that mount and `TERN_CRASH_AFTER_KILL`
//! to a shell command that drops the unsynced data (for LazyFS:
//! `echo lazyfs::clear-cache > <its fifo>`); it runs after the SIGKILL and
//! before the restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{admin_credentials, init_region, serve, TERN};
use tern_client::{connect, Credentials, KmsClient};
use tern_proto::pb;

/// The credentials `tern init` generated for the test's region.
static CREDENTIALS: std::sync::OnceLock<Credentials> = std::sync::OnceLock::new();

fn creds() -> Credentials {
    CREDENTIALS.get().expect("init ran").clone()
}

async fn client(endpoint: &str) -> KmsClient {
    connect(endpoint, "us-east-1", creds()).await.unwrap()
}

#[derive(Default, Debug)]
struct Acked {
    keys: Vec<String>,
    aliases: Vec<(String, String)>,
    rotations: Vec<(String, String)>,
    ciphertexts: Vec<(String, Vec<u8>, Vec<u8>)>,
    requests: usize,
}

/// One writer: create a key, alias it, rotate it, encrypt under it, repeat.
async fn writer(
    endpoint: String,
    id: usize,
    acked: Arc<Mutex<Acked>>,
    progress: Arc<tokio::sync::watch::Sender<usize>>,
) {
    let Ok(mut c) = connect(&endpoint, "us-east-1", creds()).await else {
        return;
    };
    for round in 0.. {
        let Ok(r) = c.create_key(pb::CreateKeyRequest::default()).await else {
            return;
        };
        let key = r.into_inner().key_metadata.unwrap().key_id;
        acked.lock().unwrap().keys.push(key.clone());
        acked.lock().unwrap().requests += 1;
        let alias = format!("alias/w{id}-{round}");
        if c.create_alias(pb::CreateAliasRequest {
            alias_name: alias.clone(),
            target_key_id: key.clone(),
        })
        .await
        .is_err()
        {
            return;
        }
        acked.lock().unwrap().aliases.push((alias, key.clone()));
        acked.lock().unwrap().requests += 1;
        if c.rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key.clone() })
            .await
            .is_err()
        {
            return;
        }
        let Ok(d) = c
            .describe_key(pb::DescribeKeyRequest {
                key_id: key.clone(),
                ..Default::default()
            })
            .await
        else {
            return;
        };
        let material = d.into_inner().key_metadata.unwrap().current_key_material_id.unwrap();
        acked.lock().unwrap().rotations.push((key.clone(), material));
        acked.lock().unwrap().requests += 2;
        let plaintext = format!("secret {id}/{round}").into_bytes();
        let Ok(e) = c
            .encrypt(pb::EncryptRequest {
                key_id: key.clone(),
                plaintext: plaintext.clone(),
                ..Default::default()
            })
            .await
        else {
            return;
        };
        let total = {
            let mut a = acked.lock().unwrap();
            a.ciphertexts.push((key, plaintext, e.into_inner().ciphertext_blob));
            a.requests += 1;
            a.requests
        };
        progress.send_replace(total);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_writes_loses_nothing_acknowledged() {
    let dir = match std::env::var_os("TERN_CRASH_DIR") {
        Some(base) => tempfile::tempdir_in(base).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let config = init_region(dir.path(), "us-east-1");
    let _ = CREDENTIALS.set(admin_credentials(dir.path()));

    let (mut child, endpoint) = serve(&config).await;
    let acked = Arc::new(Mutex::new(Acked::default()));
    let (progress_tx, progress_rx) = tokio::sync::watch::channel(0usize);
    let progress_tx = Arc::new(progress_tx);
    let writers: Vec<_> = (0..8)
        .map(|i| tokio::spawn(writer(endpoint.clone(), i, acked.clone(), progress_tx.clone())))
        .collect();

    // Kill once enough has been acknowledged (a bounded wait on a condition).
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut progress = progress_rx;
    while *progress.borrow_and_update() < 400 {
        let left = deadline.saturating_duration_since(Instant::now());
        let changed = tokio::time::timeout(left, progress.changed()).await;
        assert!(
            matches!(changed, Ok(Ok(()))),
            "only {} requests acknowledged in 120 s",
            *progress.borrow()
        );
    }
    child.start_kill().unwrap(); // SIGKILL: no shutdown path runs
    child.wait().await.unwrap();
    if let Ok(cmd) = std::env::var("TERN_CRASH_AFTER_KILL") {
        let st = std::process::Command::new("sh").args(["-c", &cmd]).status().unwrap();
        assert!(st.success(), "TERN_CRASH_AFTER_KILL failed: {cmd}");
        println!("ran after kill: {cmd}");
    }
    for w in writers {
        w.await.unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    println!(
        "acknowledged before SIGKILL: {} keys, {} aliases, {} rotations, {} ciphertexts, {} requests",
        acked.keys.len(),
        acked.aliases.len(),
        acked.rotations.len(),
        acked.ciphertexts.len(),
        acked.requests
    );

    let (mut child, endpoint) = serve(&config).await;
    let mut c = client(&endpoint).await;
    for k in &acked.keys {
        c.describe_key(pb::DescribeKeyRequest {
            key_id: k.clone(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("acknowledged key {k} lost: {e}"));
    }
    for (alias, key) in &acked.aliases {
        let md = c
            .describe_key(pb::DescribeKeyRequest {
                key_id: alias.clone(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("acknowledged alias {alias} lost: {e}"))
            .into_inner()
            .key_metadata
            .unwrap();
        assert_eq!(&md.key_id, key);
    }
    for (key, material) in &acked.rotations {
        let r = c
            .list_key_rotations(pb::ListKeyRotationsRequest {
                key_id: key.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(
            r.rotations.iter().any(|e| e.key_material_id.as_ref() == Some(material)),
            "acknowledged rotation {material} of {key} lost"
        );
    }
    for (key, plaintext, blob) in &acked.ciphertexts {
        let d = c
            .decrypt(pb::DecryptRequest {
                ciphertext_blob: blob.clone(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("ciphertext under {key} no longer decrypts: {e}"))
            .into_inner();
        assert_eq!(&d.plaintext, plaintext);
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    // The audit chain verifies (read-only open) and holds at least one
    // record per acknowledged request.
    let out = std::process::Command::new(TERN)
        .args(["audit", "verify", "--data-dir"])
        .arg(dir.path().join("data/us-east-1"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "audit verify failed: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: usize = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(
        records >= acked.requests,
        "{records} audit records < {} acknowledged requests",
        acked.requests
    );
}
