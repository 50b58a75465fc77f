//! The seed notes' aws-cli pipeline, verbatim but for the binary's name,
//! against a real `tern serve`: encrypt a file under an alias to a decoded
//! ciphertext file, decrypt it back; plus errors and `tern audit` on a live
//! node.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{init_region, serve, TERN};

fn sh(script: &str, dir: &std::path::Path, endpoint: &str) -> std::process::Output {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("TERN", TERN)
        .env("EP", endpoint)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("admin-credentials"))
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
    assert_eq!(text.lines().collect::<Vec<_>>(), ["True", "Verified OK"], "{text}");

    // aws-cli's global options before or after the operation, --profile
    // from the shared files, and JMESPath --query.
    let out = sh(
        r#"set -e
printf '[profile eu]\nregion = eu-west-1\n' > config
"$TERN" kms --region us-east-1 --output text --endpoint-url "$EP" create-key --description q1 --query KeyMetadata.Description
"$TERN" kms list-keys --endpoint-url "$EP" --output json --query 'length(Keys[?starts_with(KeyId, `"0"`) || KeyId != `"x"`])' --region us-east-1
"$TERN" kms --profile default --endpoint-url "$EP" --output text list-aliases --query 'Aliases[?AliasName==`"alias/seed"`].AliasName | [0]'
if AWS_CONFIG_FILE=config "$TERN" kms --profile eu --endpoint-url "$EP" list-keys 2>err.txt; then exit 1; fi
grep -q 'could not be found' err.txt
{ sed 's/^\[default\]/[eu]/' "$AWS_SHARED_CREDENTIALS_FILE"; } > creds-eu
env -u AWS_DEFAULT_REGION AWS_CONFIG_FILE=config AWS_SHARED_CREDENTIALS_FILE=creds-eu AWS_PROFILE=eu "$TERN" kms --debug --endpoint-url "$EP" list-keys --output text --query 'Truncated' 2>debug.txt || true
grep -q 'region eu-west-1' debug.txt
"#,
        work,
        &endpoint,
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "global options: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "q1", "{text}");
    assert!(lines[1].parse::<u32>().unwrap() >= 3, "{text}");
    // (The last call signs for eu-west-1, the profile's region, and this
    // node is us-east-1's: it is refused after the debug line.)
    assert_eq!(&lines[2..], ["alias/seed"], "{text}");

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
        r#"AWS_ACCESS_KEY_ID=$(sed -n 's/^aws_access_key_id = //p' "$AWS_SHARED_CREDENTIALS_FILE") AWS_SECRET_ACCESS_KEY=wrong "$TERN" kms list-keys --endpoint-url "$EP""#,
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
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("admin-credentials"))
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

/// `tern init` makes fresh credentials for one administrator, in files of
/// mode 0600, and never the README's example keys; `--per-region-dirs`
/// gives each region only its own secrets and keeps the CA key apart.
#[test]
fn init_makes_fresh_deployment_credentials() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for dir in [a.path(), b.path()] {
        init_region(dir, "us-east-1");
        #[cfg(unix)]
        for secret in ["principals.toml", "admin-credentials"] {
            assert_eq!(mode(&dir.join(secret)), 0o600, "{secret}");
        }
        let principals = std::fs::read_to_string(dir.join("principals.toml")).unwrap();
        assert!(!principals.contains("EXAMPLE"), "{principals}");
        for dev_user in ["alice", "bob", "carol"] {
            assert!(!principals.contains(dev_user), "{principals}");
        }
    }
    let (ca, cb) = (common::admin_credentials(a.path()), common::admin_credentials(b.path()));
    assert_ne!(ca.access_key_id, cb.access_key_id);
    assert_ne!(ca.secret_access_key, cb.secret_access_key);
    assert!(ca.access_key_id.starts_with("AKIA") && ca.access_key_id.len() == 20);
    // A re-run keeps the credentials.
    init_region(a.path(), "us-east-1");
    assert_eq!(common::admin_credentials(a.path()), ca);

    // One directory per region, the CA's key apart.
    let split = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(TERN)
        .args([
            "init",
            "--regions",
            "us-east-1,eu-west-1",
            "--base-port",
            "7070",
            "--per-region-dirs",
            "--out",
        ])
        .arg(split.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let us = split.path().join("us-east-1");
    let names = |d: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let files = names(&us);
    assert!(
        files
            .iter()
            .all(|f| !f.starts_with("eu-west-1.") && f != "cluster-ca.key"),
        "{files:?}"
    );
    for f in [
        "us-east-1.toml",
        "us-east-1.root-key",
        "principals.toml",
        "cluster-ca.pem",
        "us-east-1.peer.key",
    ] {
        assert!(files.contains(&f.to_string()), "{f} missing from {files:?}");
    }
    assert!(names(&split.path().join("ca")).contains(&"cluster-ca.key".to_string()));
    assert_eq!(
        names(&split.path().join("client")),
        vec!["admin-credentials".to_string(), "cluster-ca.pem".to_string()]
    );
}

/// `tern serve` refuses a principals file others can read, and says how to
/// fix it.
#[cfg(unix)]
#[test]
fn serve_refuses_a_readable_principals_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let config = init_region(dir.path(), "us-east-1");
    let principals = dir.path().join("principals.toml");
    std::fs::set_permissions(&principals, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = std::process::Command::new(TERN)
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let p = principals.display().to_string();
    assert!(
        err.contains(&p) && err.contains("0644") && err.contains(&format!("chmod 600 {p}")),
        "{err}"
    );
}

/// Access keys are added, rotated and removed with `tern principals`, and
/// a running `tern serve` applies them on SIGHUP, without a restart.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn principals_change_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = init_region(dir.path(), "us-east-1");
    let (mut child, endpoint) = serve(&config).await;
    let file = dir.path().join("principals.toml");
    let principals = |args: &[&str]| {
        let out = std::process::Command::new(TERN)
            .arg("principals")
            .args(args)
            .arg("--file")
            .arg(&file)
            .args(["--account", "111122223333"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        tern_client::Credentials::from_shared_credentials(&String::from_utf8_lossy(&out.stdout), "default")
    };
    let hup = || {
        let pid = child.id().unwrap().to_string();
        let s = std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap();
        assert!(s.success());
    };
    let list_keys = |creds: tern_client::Credentials| {
        let endpoint = endpoint.clone();
        async move {
            let mut c = tern_client::connect(&endpoint, "us-east-1", creds).await.unwrap();
            c.list_keys(tern_proto::pb::ListKeysRequest::default())
                .await
                .map(|_| ())
                .map_err(|s| tern_client::error_kind(&s).unwrap_or("").to_string())
        }
    };
    // Waits (bounded) until `creds` get `want`.
    let until = |creds: tern_client::Credentials, want: Result<(), &'static str>| async move {
        for _ in 0..200 {
            let got = list_keys(creds.clone()).await;
            if got.as_ref().map_err(String::as_str) == want.as_ref().map_err(|e| *e) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("credentials never reached {want:?}");
    };

    let dana = principals(&["add", "--user", "dana"]).unwrap();
    assert_eq!(list_keys(dana.clone()).await, Err("UnrecognizedClientException".into()));
    hup();
    until(dana.clone(), Ok(())).await;

    let rotated = principals(&["rotate", "--user", "dana"]).unwrap();
    hup();
    until(rotated.clone(), Ok(())).await;
    assert_eq!(list_keys(dana).await, Err("UnrecognizedClientException".into()));

    // The same key into another region's file (the secret through the
    // environment): one access key for the user in every region.
    let other = tempfile::tempdir().unwrap();
    init_region(other.path(), "eu-west-1");
    let copy = std::process::Command::new(TERN)
        .args(["principals", "add", "--user", "dana", "--account", "111122223333"])
        .args(["--access-key-id", &rotated.access_key_id, "--file"])
        .arg(other.path().join("principals.toml"))
        .env("TERN_SECRET_ACCESS_KEY", &rotated.secret_access_key)
        .output()
        .unwrap();
    assert!(copy.status.success(), "{}", String::from_utf8_lossy(&copy.stderr));
    let text = std::fs::read_to_string(other.path().join("principals.toml")).unwrap();
    let reg = tern_server::auth::PrincipalRegistry::from_toml(&text).unwrap();
    assert_eq!(
        reg.get(&rotated.access_key_id).unwrap().secret_access_key,
        rotated.secret_access_key
    );

    assert!(principals(&["remove", "--user", "dana"]).is_none());
    hup();
    until(rotated, Err("UnrecognizedClientException")).await;
    // The administrator was never affected.
    list_keys(common::admin_credentials(dir.path())).await.unwrap();

    // A broken file leaves the keys in force.
    std::fs::write(&file, "not toml [[[").unwrap();
    hup();
    list_keys(common::admin_credentials(dir.path())).await.unwrap();
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}
