//! At rest: no file of a region's data directory holds a known plaintext or
//! a key's raw material (in raw, hex or base64 form).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use tern_client::{connect, Credentials};
use tern_core::crypto::{unwrap_material, RootKey};
use tern_core::ids::Region;
use tern_proto::pb;
use tern_server::auth::PrincipalRegistry;
use tern_server::{Node, NodeOptions};

const PRINCIPALS: &str = "[[accounts]]\nid = \"111122223333\"\n[[accounts.users]]\nname = \"admin\"\naccess_key_id = \"AKIAIOSFODNN7EXAMPLE\"\nsecret_access_key = \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"\npolicies = ['{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"kms:*\",\"Resource\":\"*\"}]}']\n";

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_or_material_in_any_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = RootKey::from_bytes([0x42; 32]);
    let node = Node::start(NodeOptions {
        region: Region::parse("us-east-1").unwrap(),
        data_dir: dir.path().join("db"),
        listen: "127.0.0.1:0".parse().unwrap(),
        root_key: root.clone(),
        principals: Arc::new(PrincipalRegistry::from_toml(PRINCIPALS).unwrap()),
        clock: Arc::new(tern_service::SystemClock),
        scheduler_interval: None,
        min_free_bytes: tern_server::DEFAULT_MIN_FREE_BYTES,
        limits: tern_server::Limits::default(),
        client_tls: None,
        cluster: None,
    })
    .await
    .unwrap();
    let mut c = connect(
        &node.endpoint(),
        "us-east-1",
        Credentials::new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    )
    .await
    .unwrap();
    let key = c
        .create_key(pb::CreateKeyRequest::default())
        .await
        .unwrap()
        .into_inner()
        .key_metadata
        .unwrap()
        .key_id;
    c.rotate_key_on_demand(pb::RotateKeyOnDemandRequest { key_id: key.clone() })
        .await
        .unwrap();
    let canary = b"TERN-AT-REST-CANARY-7f3a9c1e-plaintext-that-must-never-be-stored".to_vec();
    for _ in 0..50 {
        let blob = c
            .encrypt(pb::EncryptRequest {
                key_id: key.clone(),
                plaintext: canary.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .ciphertext_blob;
        let d = c
            .decrypt(pb::DecryptRequest {
                ciphertext_blob: blob,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(d.plaintext, canary);
    }
    let data_key = c
        .generate_data_key(pb::GenerateDataKeyRequest {
            key_id: key.clone(),
            number_of_bytes: Some(32),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .plaintext;

    // The key's raw materials, unwrapped with the root key the test chose.
    let materials: Vec<Vec<u8>> = {
        let view = node.kms().store().read();
        let rec = view.keys.values().next().unwrap().clone();
        rec.materials
            .iter()
            .map(|m| {
                unwrap_material(&root, &rec.key_id, &m.id, &m.wrapped)
                    .unwrap()
                    .expose()
                    .to_vec()
            })
            .collect()
    };
    assert_eq!(materials.len(), 2);
    node.shutdown().await;

    let mut secrets: Vec<(String, Vec<u8>)> = vec![
        ("plaintext".into(), canary.clone()),
        ("data key".into(), data_key.clone()),
    ];
    for (i, m) in materials.iter().enumerate() {
        secrets.push((format!("material {i} raw"), m.clone()));
        secrets.push((format!("material {i} hex"), hex::encode(m).into_bytes()));
        secrets.push((
            format!("material {i} base64"),
            base64::engine::general_purpose::STANDARD.encode(m).into_bytes(),
        ));
    }
    secrets.push((
        "plaintext base64".into(),
        base64::engine::general_purpose::STANDARD.encode(&canary).into_bytes(),
    ));
    secrets.push(("root key hex".into(), hex::encode([0x42u8; 32]).into_bytes()));

    let mut all = Vec::new();
    files(dir.path(), &mut all);
    assert!(!all.is_empty());
    let mut scanned = 0usize;
    for f in &all {
        let bytes = std::fs::read(f).unwrap();
        scanned += bytes.len();
        for (what, s) in &secrets {
            assert!(!contains(&bytes, s), "{what} found in {}", f.display());
        }
    }
    println!(
        "scanned {} files, {scanned} bytes: no plaintext, data key or material",
        all.len()
    );
}
