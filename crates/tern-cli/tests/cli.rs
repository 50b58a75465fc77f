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
