//! The integration-test harness: a real region node on `127.0.0.1:0` in its
//! own temporary directory, driven by a [`FakeClock`], and SigV4-signing
//! clients (tern-client) for the principals of two accounts.
//!
//! The node's background scheduler is off: a test moves the clock with
//! [`TestNode::advance_days`] and then runs the due work itself with
//! [`TestNode::run_due_tasks`], so nothing ever waits for time to pass.
//! Clients sign with the same fake clock, so moving it never makes a
//! signature look stale.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::RngCore;
use tern_client::{error_kind, Credentials, KmsClient, SigV4Layer};
use tern_core::crypto::RootKey;
use tern_core::ids::Region;
use tern_core::time::UnixMillis;
use tern_proto::pb;
use tern_server::auth::PrincipalRegistry;
use tern_server::{Node, NodeOptions};
use tern_service::{DueReport, FakeClock, Kms};
use tonic::Status;
use tower::Layer;

/// The region tests run in unless they need another.
pub const REGION: &str = "us-east-1";
/// A second region, for cross-region cases.
pub const OTHER_REGION: &str = "eu-west-1";

/// Account 111122223333, user `admin` (the documented example credentials).
pub const ADMIN_ACCOUNT: &str = "111122223333";
pub const ADMIN_ARN: &str = "arn:aws:iam::111122223333:user/admin";
pub const ADMIN_AKID: &str = "AKIAIOSFODNN7EXAMPLE";
pub const ADMIN_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// Account 444455556666, user `carol`.
pub const ALICE_ARN: &str = "arn:aws:iam::111122223333:user/alice";
pub const ALICE_AKID: &str = "AKIAALICEEXAMPLE0001";
pub const ALICE_SECRET: &str = "alice/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub const BOB_ARN: &str = "arn:aws:iam::111122223333:user/bob";
pub const BOB_AKID: &str = "AKIABOBEXAMPLE000001";
pub const BOB_SECRET: &str = "bob/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// An identity with no identity policy at all.
pub const NOBODY_AKID: &str = "AKIANOBODYEXAMPLE001";
pub const NOBODY_SECRET: &str = "nobody/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// dave: kms:* except CreateKey in ap-northeast-2 (`aws:RequestedRegion`).
pub const DAVE_AKID: &str = "AKIADAVEEXAMPLE00001";
pub const DAVE_SECRET: &str = "dave/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub const CAROL_ACCOUNT: &str = "444455556666";
pub const CAROL_ARN: &str = "arn:aws:iam::444455556666:user/carol";
pub const CAROL_AKID: &str = "AKIACAROLEXAMPLE4444";
pub const CAROL_SECRET: &str = "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";

/// Where every test clock starts: 2025-01-01T00:00:00Z.
pub const START: UnixMillis = UnixMillis(1_735_689_600_000);

/// The principals every test node knows.
pub fn principals_toml() -> String {
    format!(
        r#"
[[accounts]]
id = "{ADMIN_ACCOUNT}"
[[accounts.users]]
name = "admin"
access_key_id = "{ADMIN_AKID}"
secret_access_key = "{ADMIN_SECRET}"
policies = ['{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*"}}]}}']
[[accounts.users]]
name = "alice"
access_key_id = "{ALICE_AKID}"
secret_access_key = "{ALICE_SECRET}"
policies = ['{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*"}}]}}']
[[accounts.users]]
name = "bob"
access_key_id = "{BOB_AKID}"
secret_access_key = "{BOB_SECRET}"
policies = ['{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*"}}]}}']
[[accounts.users]]
name = "dave"
access_key_id = "{DAVE_AKID}"
secret_access_key = "{DAVE_SECRET}"
policies = ['{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*"}},{{"Effect":"Deny","Action":"kms:CreateKey","Resource":"*","Condition":{{"StringEquals":{{"aws:RequestedRegion":"ap-northeast-2"}}}}}}]}}']
[[accounts.users]]
name = "nobody"
access_key_id = "{NOBODY_AKID}"
secret_access_key = "{NOBODY_SECRET}"

[[accounts]]
id = "{CAROL_ACCOUNT}"
[[accounts.users]]
name = "carol"
access_key_id = "{CAROL_AKID}"
secret_access_key = "{CAROL_SECRET}"
policies = ['{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*"}}]}}']
"#
    )
}

pub mod cluster;

/// A running node, its clock and its data directory (removed on drop).
pub struct TestNode {
    pub node: Node,
    pub clock: Arc<FakeClock>,
    pub region: String,
    /// `None` when the directory belongs to a [`cluster::TestCluster`].
    dir: Option<tempfile::TempDir>,
}

impl TestNode {
    /// Starts a node of `region` with its own fake clock.
    pub async fn start(region: &str) -> TestNode {
        Self::start_with_clock(region, Arc::new(FakeClock::new(START))).await
    }

    /// Starts a node of `region` reading `clock` (several nodes may share one).
    pub async fn start_with_clock(region: &str, clock: Arc<FakeClock>) -> TestNode {
        Self::start_full(region, clock, &principals_toml(), None).await
    }

    /// Starts a node whose client port speaks TLS with a certificate for
    /// `localhost` from a fresh CA; returns the CA certificate (PEM) too.
    pub async fn start_tls(region: &str) -> (TestNode, String) {
        let ca = tern_replication::ClusterCa::generate().unwrap();
        let (cert_pem, key_pem) = ca.issue_endpoint(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let tls = tern_server::client_tls::ClientTls { cert_pem, key_pem };
        let clock = Arc::new(FakeClock::new(START));
        let n = Self::start_full(region, clock, &principals_toml(), Some(tls)).await;
        (n, ca.cert_pem().to_string())
    }

    /// Starts a node of `region` with its own principals configuration.
    pub async fn start_with_principals(region: &str, principals: &str) -> TestNode {
        Self::start_full(region, Arc::new(FakeClock::new(START)), principals, None).await
    }

    /// Starts a node of `region` with these limits.
    pub async fn start_with_limits(region: &str, limits: tern_server::Limits) -> TestNode {
        Self::start_limited(
            region,
            Arc::new(FakeClock::new(START)),
            &principals_toml(),
            None,
            limits,
        )
        .await
    }

    /// [`TestNode::start_tls`] with these limits.
    pub async fn start_tls_with_limits(region: &str, limits: tern_server::Limits) -> (TestNode, String) {
        let ca = tern_replication::ClusterCa::generate().unwrap();
        let (cert_pem, key_pem) = ca.issue_endpoint(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let tls = tern_server::client_tls::ClientTls { cert_pem, key_pem };
        let clock = Arc::new(FakeClock::new(START));
        let n = Self::start_limited(region, clock, &principals_toml(), Some(tls), limits).await;
        (n, ca.cert_pem().to_string())
    }

    async fn start_full(
        region: &str,
        clock: Arc<FakeClock>,
        principals: &str,
        client_tls: Option<tern_server::client_tls::ClientTls>,
    ) -> TestNode {
        Self::start_limited(region, clock, principals, client_tls, tern_server::Limits::default()).await
    }

    async fn start_limited(
        region: &str,
        clock: Arc<FakeClock>,
        principals: &str,
        client_tls: Option<tern_server::client_tls::ClientTls>,
        limits: tern_server::Limits,
    ) -> TestNode {
        let dir = tempfile::Builder::new().prefix("tern-test-").tempdir().unwrap();
        let mut root = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut root);
        let node = Node::start(NodeOptions {
            region: Region::parse(region).unwrap(),
            data_dir: dir.path().join("data"),
            listen: "127.0.0.1:0".parse().unwrap(),
            root_key: RootKey::from_bytes(root),
            principals: Arc::new(PrincipalRegistry::from_toml(principals).unwrap()),
            clock: clock.clone(),
            scheduler_interval: None,
            min_free_bytes: tern_server::DEFAULT_MIN_FREE_BYTES,
            client_tls,
            cluster: None,
            limits,
        })
        .await
        .unwrap();
        TestNode {
            node,
            clock,
            region: region.to_string(),
            dir: Some(dir),
        }
    }

    pub fn kms(&self) -> &Arc<Kms> {
        self.node.kms()
    }

    /// A client for `creds`, signing with the node's fake clock.
    pub async fn client(&self, creds: Credentials) -> KmsClient {
        let endpoint = self.node.endpoint();
        let host = endpoint.trim_start_matches("http://").to_string();
        let channel = tonic::transport::Endpoint::from_shared(endpoint)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let clock = self.clock.clone();
        let svc = SigV4Layer::new(self.region.clone(), creds)
            .with_host(host)
            .with_clock(Arc::new(move || tern_service::Clock::now(&*clock)))
            .layer(channel);
        KmsClient::new(svc)
    }

    /// A SigV4-signing service for `creds` over TLS to this node's client
    /// port (as `localhost`, trusting `ca_pem`), and the host it signs.
    async fn tls_signed(
        &self,
        creds: Credentials,
        ca_pem: &str,
    ) -> (tern_client::SigV4Service<tonic::transport::Channel>, String) {
        use tonic::transport::{Certificate, ClientTlsConfig};
        let addr = self.node.endpoint().trim_start_matches("http://").to_string();
        let port = addr.rsplit(':').next().unwrap().to_string();
        let host = format!("localhost:{port}");
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca_pem))
            .domain_name("localhost");
        let channel = tonic::transport::Endpoint::from_shared(format!("https://{host}"))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let clock = self.clock.clone();
        let svc = SigV4Layer::new(self.region.clone(), creds)
            .with_host(host.clone())
            .with_clock(Arc::new(move || tern_service::Clock::now(&*clock)))
            .layer(channel);
        (svc, host)
    }

    /// A client for `creds` over TLS, trusting `ca_pem`.
    pub async fn tls_client(&self, creds: Credentials, ca_pem: &str) -> KmsClient {
        KmsClient::new(self.tls_signed(creds, ca_pem).await.0)
    }

    /// One AWS JSON call over TLS (HTTP/2 on the client port, as any
    /// TLS client may speak), signed for `creds`: the HTTP status and the
    /// parsed body.
    pub async fn tls_json_call(
        &self,
        creds: Credentials,
        ca_pem: &str,
        operation: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        use http_body_util::{BodyExt, Full};
        let (svc, host) = self.tls_signed(creds, ca_pem).await;
        let bytes = bytes::Bytes::from(serde_json::to_vec(&body).unwrap());
        let req = http::Request::post(format!("https://{host}/"))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("TrentService.{operation}"))
            .body(tonic::body::boxed(Full::new(bytes)))
            .unwrap();
        let resp = tower::ServiceExt::oneshot(svc, req).await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
    }

    /// An AWS JSON client for `creds`, signing with the node's fake clock.
    pub async fn json_client(&self, creds: Credentials) -> tern_client::json::JsonClient {
        let clock = self.clock.clone();
        tern_client::json::JsonClient::connect(&self.node.endpoint(), &self.region, creds)
            .await
            .unwrap()
            .with_clock(Arc::new(move || tern_service::Clock::now(&*clock)))
    }

    /// admin of account 111122223333.
    pub async fn admin(&self) -> KmsClient {
        self.client(Credentials::new(ADMIN_AKID, ADMIN_SECRET)).await
    }

    /// carol of account 444455556666.
    pub async fn carol(&self) -> KmsClient {
        self.client(Credentials::new(CAROL_AKID, CAROL_SECRET)).await
    }

    pub fn advance_days(&self, days: i64) {
        self.clock.advance_days(days);
    }

    pub fn advance_millis(&self, ms: i64) {
        self.clock.advance_millis(ms);
    }

    pub fn now(&self) -> UnixMillis {
        tern_service::Clock::now(&*self.clock)
    }

    /// Runs the work that came due at the clock's current time.
    pub async fn run_due_tasks(&self) -> DueReport {
        self.kms().run_due_tasks().await.unwrap()
    }

    /// The node's audit records, parsed, in order.
    pub fn audit_records(&self) -> Vec<serde_json::Value> {
        self.kms()
            .store()
            .audit_entries()
            .into_iter()
            .map(|e| serde_json::from_slice(&e.unwrap().record).unwrap())
            .collect()
    }

    /// Stops the node; the data directory goes with `self`.
    pub async fn shutdown(self) {
        self.node.shutdown().await;
        drop(self.dir);
    }
}

/// The AWS exception name and message of a failed call, or a panic naming
/// the unexpected success.
pub fn err<T: std::fmt::Debug>(r: Result<tonic::Response<T>, Status>) -> (String, String) {
    match r {
        Ok(v) => panic!("expected an error, got {:?}", v.get_ref()),
        Err(s) => (
            error_kind(&s).unwrap_or("<no x-amzn-errortype>").to_string(),
            s.message().to_string(),
        ),
    }
}

/// Asserts a call failed with the AWS exception `kind` and exactly `message`.
#[track_caller]
pub fn assert_err<T: std::fmt::Debug>(r: Result<tonic::Response<T>, Status>, kind: &str, message: &str) {
    let (k, m) = err(r);
    assert_eq!((k.as_str(), m.as_str()), (kind, message));
}

/// Asserts a call failed with the AWS exception `kind`, whatever the message.
#[track_caller]
pub fn assert_kind<T: std::fmt::Debug>(r: Result<tonic::Response<T>, Status>, kind: &str) -> String {
    let (k, m) = err(r);
    assert_eq!(k, kind, "message: {m}");
    m
}

/// A successful call's response.
#[track_caller]
pub fn ok<T>(r: Result<tonic::Response<T>, Status>) -> T {
    match r {
        Ok(v) => v.into_inner(),
        Err(s) => panic!(
            "expected success, got {} {:?}",
            error_kind(&s).unwrap_or("<no x-amzn-errortype>"),
            s.message()
        ),
    }
}

pub fn tag(k: &str, v: &str) -> pb::Tag {
    pb::Tag {
        tag_key: k.to_string(),
        tag_value: v.to_string(),
    }
}

pub fn context(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Creates a default symmetric key and returns its metadata.
pub async fn create_key(c: &mut KmsClient) -> pb::KeyMetadata {
    create_key_with(c, pb::CreateKeyRequest::default()).await
}

pub async fn create_key_with(c: &mut KmsClient, req: pb::CreateKeyRequest) -> pb::KeyMetadata {
    ok(c.create_key(req).await).key_metadata.unwrap()
}

pub async fn describe(c: &mut KmsClient, key_id: &str) -> pb::KeyMetadata {
    ok(c.describe_key(pb::DescribeKeyRequest {
        key_id: key_id.to_string(),
        grant_tokens: vec![],
    })
    .await)
    .key_metadata
    .unwrap()
}

pub async fn encrypt(c: &mut KmsClient, key_id: &str, plaintext: &[u8]) -> pb::EncryptResponse {
    ok(c.encrypt(pb::EncryptRequest {
        key_id: key_id.to_string(),
        plaintext: plaintext.to_vec(),
        ..Default::default()
    })
    .await)
}

pub fn decrypt_req(blob: &[u8]) -> pb::DecryptRequest {
    pb::DecryptRequest {
        ciphertext_blob: blob.to_vec(),
        ..Default::default()
    }
}

pub async fn decrypt(c: &mut KmsClient, blob: &[u8]) -> pb::DecryptResponse {
    ok(c.decrypt(decrypt_req(blob)).await)
}

/// Wraps `material` for an import as the caller would: RSA-OAEP-SHA-256
/// directly, or RSA-OAEP of an AES key plus AES key wrap with padding.
pub fn wrap_for_import(public_der: &[u8], alg: &str, material: &[u8]) -> Vec<u8> {
    let public = aws_lc_rs::rsa::PublicEncryptingKey::from_der(public_der).unwrap();
    let enc = aws_lc_rs::rsa::OaepPublicEncryptingKey::new(public).unwrap();
    let mut out = vec![0u8; enc.ciphertext_size()];
    match alg {
        "RSAES_OAEP_SHA_256" => enc
            .encrypt(&aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256, material, &mut out, None)
            .unwrap()
            .to_vec(),
        "RSA_AES_KEY_WRAP_SHA_256" => {
            let aes = [0x42u8; 32];
            let mut wrapped = enc
                .encrypt(&aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256, &aes, &mut out, None)
                .unwrap()
                .to_vec();
            let kek = aws_lc_rs::key_wrap::AesKek::new(&aws_lc_rs::key_wrap::AES_256, &aes).unwrap();
            let mut kwp = vec![0u8; material.len() + 16];
            let n = aws_lc_rs::key_wrap::KeyWrapPadded::wrap_with_padding(kek, material, &mut kwp)
                .unwrap()
                .len();
            wrapped.extend_from_slice(&kwp[..n]);
            wrapped
        }
        other => panic!("{other}"),
    }
}
