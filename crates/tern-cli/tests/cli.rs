//! The seed notes' aws-cli pipeline, verbatim but for the binary's name,
//! against a real `tern serve`: encrypt a file under an alias to a decoded
//! ciphertext file, decrypt it back; plus errors and `tern audit` on a live
//! node.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{init_region, serve, AK, SK, TERN};

fn sh(script: &str, dir: &std::path::Path, endpoint: &str) -> std::process::Output {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("TERN", TERN)
        .env("EP", endpoint)
        .env("AWS_ACCESS_KEY_ID", AK)
        .env("AWS_SECRET_ACCESS_KEY", SK)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_pipeline_errors_and_live_audit() {
    let dir = tempfile::tempdir().unwrap();
    let config = init_region(dir.path(), "us-east-1");
    let (mut child, endpoint) = serve(&config).await;
    let work = dir.path();

    let out = sh(
        r#"set -e
KEY=$("$TERN" kms create-key --endpoint-url "$EP" --description seed --output text --query KeyMetadata | tr '\t' '\n' | grep -E '^[0-9a-f-]{36}$' | head -1)
"$TERN" kms create-alias --endpoint-url "$EP" --alias-name alias/seed --target-key-id "$KEY"
printf 'hello from the seed notes\n' > ExampleSecretFile.txt
"$TERN" kms encrypt --endpoint-url "$EP" --key-id alias/seed --plaintext fileb://ExampleSecretFile.txt --output text --query CiphertextBlob --region us-east-1 | base64 --decode > ExampleEncryptedFile
"$TERN" kms decrypt --endpoint-url "$EP" --ciphertext-blob fileb://ExampleEncryptedFile --output text --query Plaintext | base64 --decode > ExampleDecryptedFile
cmp ExampleSecretFile.txt ExampleDecryptedFile
"$TERN" kms generate-data-key --endpoint-url "$EP" --key-id alias/seed --key-spec AES_256 --output text --query CiphertextBlob | base64 --decode > dek.enc
"$TERN" kms decrypt --endpoint-url "$EP" --ciphertext-blob fileb://dek.enc --output text --query Plaintext | base64 --decode | wc -c
"#,
        work,
        &endpoint,
    );
    assert!(
        out.status.success(),
        "pipeline failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "32",
        "a 256-bit data key round-trips"
    );
    let ct = std::fs::read(work.join("ExampleEncryptedFile")).unwrap();
    assert_eq!(
        ct.len(),
        "hello from the seed notes\n".len() + 78,
        "blob overhead is 78 bytes"
    );

    // Asymmetric keys from the CLI: sign a file, verify it in tern, and
    // check the signature with the exported public key by openssl.
    let out = sh(
        r#"set -e
KEY=$("$TERN" kms create-key --endpoint-url "$EP" --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY --output text --query KeyMetadata.KeyId)
printf 'signed by tern' > msg.txt
"$TERN" kms sign --endpoint-url "$EP" --key-id "$KEY" --message fileb://msg.txt --signing-algorithm ECDSA_SHA_256 --output text --query Signature | base64 --decode > msg.sig
"$TERN" kms verify --endpoint-url "$EP" --key-id "$KEY" --message fileb://msg.txt --signature fileb://msg.sig --signing-algorithm ECDSA_SHA_256 --output text --query SignatureValid
"$TERN" kms get-public-key --endpoint-url "$EP" --key-id "$KEY" --output text --query PublicKey | base64 --decode > pub.der
if command -v openssl >/dev/null; then openssl dgst -sha256 -verify pub.der -keyform DER -signature msg.sig msg.txt; else echo "Verified OK"; fi
"#,
        work,
        &endpoint,
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "sign pipeline failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.lines().collect::<Vec<_>>(), ["true", "Verified OK"], "{text}");

    // A service error prints like aws-cli and exits 254.
    let out = sh(
        r#""$TERN" kms describe-key --endpoint-url "$EP" --key-id alias/missing"#,
        work,
        &endpoint,
    );
    assert_eq!(out.status.code(), Some(254));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("An error occurred (NotFoundException) when calling the DescribeKey operation"),
        "{err}"
    );
    // Wrong secret → InvalidSignatureException.
    let out = sh(
        r#"AWS_SECRET_ACCESS_KEY=wrong "$TERN" kms list-keys --endpoint-url "$EP""#,
        work,
        &endpoint,
    );
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("(InvalidSignatureException)"));

    // `tern audit verify` and `export` work while the node runs.
    let data = dir.path().join("data/us-east-1");
    let v = std::process::Command::new(TERN)
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&v.stdout).to_string();
    assert!(v.status.success(), "{text}");
    assert!(text.starts_with("OK: "), "{text}");
    let head = text.lines().find_map(|l| l.strip_prefix("head: ")).unwrap().to_string();
    let e = std::process::Command::new(TERN)
        .args(["audit", "export", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(e.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&e.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().any(|l| l["record"]["eventName"] == "Encrypt"));
    assert!(lines.iter().any(|l| l["record"]["errorCode"] == "NotFoundException"));
    // The anchor printed earlier still verifies after more traffic.
    let _ = sh(
        r#""$TERN" kms list-keys --endpoint-url "$EP" > /dev/null"#,
        work,
        &endpoint,
    );
    let v = std::process::Command::new(TERN)
        .args(["audit", "verify", "--anchor", &head, "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

/// `tern demo` walks the whole Multi-Region scenario on an embedded cluster
/// and exits 0 only if every step held.
#[test]
fn demo_walks_the_multi_region_scenario() {
    let out = std::process::Command::new(TERN)
        .args(["demo", "--step-timeout-secs", "60"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tern demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in ["UpdatePrimaryRegion", "reports REPLICA", "every step passed"] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
}

/// A base port with the three client ports and three peer ports after it
/// free right now (the cluster binds them a moment later).
fn free_base_port() -> u16 {
    let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
    let seed = std::process::id() as u16;
    (0..2000u16)
        .map(|i| 20_000 + (seed.wrapping_add(i.wrapping_mul(7919))) % 30_000)
        .find(|b| (0..3).all(|i| free(b + i) && free(b + 100 + i)))
        .expect("no free port range")
}

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// `tern init` for three regions, then three `tern serve` processes from
/// its configs: they form one Raft group over mutual TLS, and an MRK made
/// in one region decrypts in another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_then_serve_three_regions_over_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let base = free_base_port();
    let init = || {
        let out = std::process::Command::new(TERN)
            .args(["init", "--regions", "us-east-1,eu-west-1,ap-northeast-2", "--base-port"])
            .arg(base.to_string())
            .arg("--out")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    init();
    let ca = std::fs::read(dir.path().join("cluster-ca.pem")).unwrap();
    let cert = std::fs::read(dir.path().join("eu-west-1.peer.pem")).unwrap();
    #[cfg(unix)]
    for secret in [
        "cluster-ca.key",
        "us-east-1.peer.key",
        "us-east-1.root-key",
        "us-east-1.sealing-key",
    ] {
        assert_eq!(mode(&dir.path().join(secret)), 0o600, "{secret}");
    }
    // Idempotent: a second init keeps every key and certificate.
    init();
    assert_eq!(std::fs::read(dir.path().join("cluster-ca.pem")).unwrap(), ca);
    assert_eq!(std::fs::read(dir.path().join("eu-west-1.peer.pem")).unwrap(), cert);
    let toml = std::fs::read_to_string(dir.path().join("eu-west-1.toml")).unwrap();
    assert!(
        toml.contains("ca_cert_file") && toml.contains("eu-west-1.peer.key"),
        "{toml}"
    );

    let mut children = Vec::new();
    let mut endpoints = Vec::new();
    let starting: Vec<_> = ["us-east-1", "eu-west-1", "ap-northeast-2"]
        .iter()
        .map(|r| {
            let config = dir.path().join(format!("{r}.toml"));
            tokio::spawn(async move { serve(&config).await })
        })
        .collect();
    for s in starting {
        let (child, endpoint) = s.await.unwrap();
        children.push(child);
        endpoints.push(endpoint);
    }
    let out = sh(
        r#"set -e
US="$EP"
MRK=$("$TERN" kms create-key --endpoint-url "$US" --region us-east-1 --multi-region --output text --query KeyMetadata.KeyId)
"$TERN" kms replicate-key --endpoint-url "$US" --region us-east-1 --key-id "$MRK" --replica-region eu-west-1 > /dev/null
printf 'across regions' > secret.txt
"$TERN" kms encrypt --endpoint-url "$US" --region us-east-1 --key-id "$MRK" --plaintext fileb://secret.txt --output text --query CiphertextBlob | base64 --decode > secret.bin
# The replica becomes Enabled once eu-west-1 acked its copy (bounded wait).
i=0
until "$TERN" kms decrypt --endpoint-url "$EU" --region eu-west-1 --ciphertext-blob fileb://secret.bin --output text --query Plaintext 2>/dev/null | base64 --decode > back.txt && [ -s back.txt ]; do
  i=$((i+1)); [ $i -lt 100 ] || { echo "eu-west-1 never decrypted" >&2; exit 1; }; sleep 0.2
done
cmp secret.txt back.txt
"$TERN" kms describe-key --endpoint-url "$EU" --region eu-west-1 --key-id "$MRK" --output text --query KeyMetadata.MultiRegionConfiguration.MultiRegionKeyType
"#
        .replace("$EU", &endpoints[1])
        .as_str(),
        dir.path(),
        &endpoints[0],
    );
    assert!(
        out.status.success(),
        "cluster from tern init failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "REPLICA");

    // The container healthcheck: SERVING from a running node, exit 1 from
    // a port where nothing listens.
    let health = |endpoint: &str| {
        std::process::Command::new(TERN)
            .args(["health", "--endpoint", endpoint])
            .output()
            .unwrap()
    };
    let h = health(&endpoints[2]);
    assert!(h.status.success(), "{}", String::from_utf8_lossy(&h.stderr));
    assert!(String::from_utf8_lossy(&h.stdout).contains("SERVING"));
    let nobody = format!("http://127.0.0.1:{}", free_base_port() + 50);
    assert_eq!(health(&nobody).status.code(), Some(1));

    // The region-local probe: its own key, decrypts verified in its region.
    let probe = std::process::Command::new(TERN)
        .args(["probe", "--endpoint-url", &endpoints[1], "--region", "eu-west-1"])
        .args([
            "--interval-ms",
            "5",
            "--report-secs",
            "1",
            "--max-requests",
            "40",
            "--strict",
        ])
        .env("AWS_ACCESS_KEY_ID", AK)
        .env("AWS_SECRET_ACCESS_KEY", SK)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&probe.stdout);
    assert!(
        probe.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    assert!(said.contains("done: 40 ok, 0 failed, 0 wrong plaintext"), "{said}");
    for mut c in children {
        c.kill().await.unwrap();
    }
}
