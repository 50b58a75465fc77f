//! SigV4 over real gRPC: a tonic server behind `SigV4AuthLayer`, called with
//! tern-client.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use tern_client::{error_kind, Credentials, SigV4Layer};
use tern_core::time::UnixMillis;
use tern_proto::pb;
use tern_proto::pb::key_management_service_client::KeyManagementServiceClient;
use tern_proto::pb::key_management_service_server::{KeyManagementService, KeyManagementServiceServer};
use tern_server::auth::{system_clock, PrincipalRegistry, SigV4AuthLayer};
use tern_service::RequestContext;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, Request, Response, Status};
use tower::Layer;

const REGION: &str = "eu-central-1";
const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const ROOT_AKID: &str = "AKIAI44QH8DHBEXAMPLE";
const ROOT_SECRET: &str = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY";
const CALLER_ARN: &str = "x-test-caller-arn";

/// A KMS that only generates "random" bytes (all 7s) and says who called.
struct TestKms;

macro_rules! test_kms {
    ($($method:ident($req:ident) -> $resp:ident;)*) => {
        #[tonic::async_trait]
        impl KeyManagementService for TestKms {
            async fn generate_random(
                &self,
                request: Request<pb::GenerateRandomRequest>,
            ) -> Result<Response<pb::GenerateRandomResponse>, Status> {
                let caller = request
                    .extensions()
                    .get::<RequestContext>()
                    .map(|c| c.caller.clone())
                    .ok_or_else(|| Status::internal("no caller"))?;
                let n = usize::try_from(request.get_ref().number_of_bytes.unwrap_or(0))
                    .map_err(|_| Status::invalid_argument("negative"))?;
                let mut response = Response::new(pb::GenerateRandomResponse { plaintext: vec![7; n] });
                let arn = caller.arn.parse().map_err(|_| Status::internal("arn"))?;
                response.metadata_mut().insert(CALLER_ARN, arn);
                Ok(response)
            }
            $(
                async fn $method(&self, _: Request<pb::$req>) -> Result<Response<pb::$resp>, Status> {
                    Err(Status::unimplemented(stringify!($method)))
                }
            )*
        }
    };
}

test_kms! {
    create_key(CreateKeyRequest) -> CreateKeyResponse;
    describe_key(DescribeKeyRequest) -> DescribeKeyResponse;
    list_keys(ListKeysRequest) -> ListKeysResponse;
    enable_key(EnableKeyRequest) -> EnableKeyResponse;
    disable_key(DisableKeyRequest) -> DisableKeyResponse;
    schedule_key_deletion(ScheduleKeyDeletionRequest) -> ScheduleKeyDeletionResponse;
    cancel_key_deletion(CancelKeyDeletionRequest) -> CancelKeyDeletionResponse;
    update_key_description(UpdateKeyDescriptionRequest) -> UpdateKeyDescriptionResponse;
    create_alias(CreateAliasRequest) -> CreateAliasResponse;
    update_alias(UpdateAliasRequest) -> UpdateAliasResponse;
    delete_alias(DeleteAliasRequest) -> DeleteAliasResponse;
    list_aliases(ListAliasesRequest) -> ListAliasesResponse;
    tag_resource(TagResourceRequest) -> TagResourceResponse;
    untag_resource(UntagResourceRequest) -> UntagResourceResponse;
    list_resource_tags(ListResourceTagsRequest) -> ListResourceTagsResponse;
    encrypt(EncryptRequest) -> EncryptResponse;
    decrypt(DecryptRequest) -> DecryptResponse;
    re_encrypt(ReEncryptRequest) -> ReEncryptResponse;
    generate_data_key(GenerateDataKeyRequest) -> GenerateDataKeyResponse;
    generate_data_key_without_plaintext(GenerateDataKeyWithoutPlaintextRequest) -> GenerateDataKeyWithoutPlaintextResponse;
    enable_key_rotation(EnableKeyRotationRequest) -> EnableKeyRotationResponse;
    disable_key_rotation(DisableKeyRotationRequest) -> DisableKeyRotationResponse;
    get_key_rotation_status(GetKeyRotationStatusRequest) -> GetKeyRotationStatusResponse;
    replicate_key(ReplicateKeyRequest) -> ReplicateKeyResponse;
    update_primary_region(UpdatePrimaryRegionRequest) -> UpdatePrimaryRegionResponse;
    rotate_key_on_demand(RotateKeyOnDemandRequest) -> RotateKeyOnDemandResponse;
    list_key_rotations(ListKeyRotationsRequest) -> ListKeyRotationsResponse;
    create_grant(CreateGrantRequest) -> CreateGrantResponse;
    list_grants(ListGrantsRequest) -> ListGrantsResponse;
    list_retirable_grants(ListRetirableGrantsRequest) -> ListGrantsResponse;
    retire_grant(RetireGrantRequest) -> RetireGrantResponse;
    revoke_grant(RevokeGrantRequest) -> RevokeGrantResponse;
    get_key_policy(GetKeyPolicyRequest) -> GetKeyPolicyResponse;
    put_key_policy(PutKeyPolicyRequest) -> PutKeyPolicyResponse;
    list_key_policies(ListKeyPoliciesRequest) -> ListKeyPoliciesResponse;
    get_public_key(GetPublicKeyRequest) -> GetPublicKeyResponse;
    sign(SignRequest) -> SignResponse;
    verify(VerifyRequest) -> VerifyResponse;
    generate_mac(GenerateMacRequest) -> GenerateMacResponse;
    verify_mac(VerifyMacRequest) -> VerifyMacResponse;
    derive_shared_secret(DeriveSharedSecretRequest) -> DeriveSharedSecretResponse;
    generate_data_key_pair(GenerateDataKeyPairRequest) -> GenerateDataKeyPairResponse;
    generate_data_key_pair_without_plaintext(GenerateDataKeyPairWithoutPlaintextRequest) -> GenerateDataKeyPairWithoutPlaintextResponse;
    get_parameters_for_import(GetParametersForImportRequest) -> GetParametersForImportResponse;
    import_key_material(ImportKeyMaterialRequest) -> ImportKeyMaterialResponse;
    delete_imported_key_material(DeleteImportedKeyMaterialRequest) -> DeleteImportedKeyMaterialResponse;
}

fn registry() -> PrincipalRegistry {
    PrincipalRegistry::from_toml(&format!(
        r#"
        [[accounts]]
        id = "111122223333"
        [[accounts.users]]
        name = "admin"
        access_key_id = "{AKID}"
        secret_access_key = "{SECRET}"
        [[accounts.users]]
        name = "root"
        access_key_id = "{ROOT_AKID}"
        secret_access_key = "{ROOT_SECRET}"
        "#
    ))
    .unwrap()
}

/// A running server; aborted when dropped.
struct TestServer {
    endpoint: String,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start() -> TestServer {
    // Bound before the server task runs, so connecting needs no waiting.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer = SigV4AuthLayer::new(Arc::new(registry()), REGION);
    let task = tokio::spawn(
        tonic::transport::Server::builder()
            .layer(layer)
            .add_service(KeyManagementServiceServer::new(TestKms))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    TestServer {
        endpoint: format!("http://{addr}"),
        task,
    }
}

fn generate_random(n: i32) -> pb::GenerateRandomRequest {
    pb::GenerateRandomRequest {
        number_of_bytes: Some(n),
        custom_key_store_id: None,
    }
}

fn assert_auth_error(status: &Status, kind: &str, message_starts: &str) {
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(error_kind(status), Some(kind), "{status:?}");
    assert!(status.message().starts_with(message_starts), "{status:?}");
}

#[tokio::test]
async fn good_credentials_are_accepted_and_the_caller_reaches_the_handler() {
    let server = start().await;
    let mut client = tern_client::connect(&server.endpoint, REGION, Credentials::new(AKID, SECRET))
        .await
        .unwrap();
    let response = client.generate_random(generate_random(32)).await.unwrap();
    assert_eq!(
        response.metadata().get(CALLER_ARN).unwrap(),
        "arn:aws:iam::111122223333:user/admin"
    );
    assert_eq!(response.get_ref().plaintext, vec![7; 32]);

    // The same client, again (fresh date and signature per call).
    let response = client.generate_random(generate_random(0)).await.unwrap();
    assert!(response.get_ref().plaintext.is_empty());

    // Methods other than GenerateRandom are authenticated and forwarded too.
    let status = client.list_keys(pb::ListKeysRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);

    let mut root =
        tern_client::connect_lazy(&server.endpoint, REGION, Credentials::new(ROOT_AKID, ROOT_SECRET)).unwrap();
    let response = root.generate_random(generate_random(1)).await.unwrap();
    assert_eq!(
        response.metadata().get(CALLER_ARN).unwrap(),
        "arn:aws:iam::111122223333:root"
    );
}

#[tokio::test]
async fn a_wrong_secret_is_an_invalid_signature() {
    let server = start().await;
    let mut client = tern_client::connect(&server.endpoint, REGION, Credentials::new(AKID, "not-the-secret"))
        .await
        .unwrap();
    let status = client.generate_random(generate_random(32)).await.unwrap_err();
    assert_auth_error(
        &status,
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided.",
    );
}

#[tokio::test]
async fn an_unknown_access_key_is_unrecognized() {
    let server = start().await;
    let mut client = tern_client::connect(
        &server.endpoint,
        REGION,
        Credentials::new("AKIAUNKNOWNEXAMPLE00", SECRET),
    )
    .await
    .unwrap();
    let status = client.generate_random(generate_random(32)).await.unwrap_err();
    assert_auth_error(
        &status,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    );
}

#[tokio::test]
async fn an_unsigned_request_is_unrecognized() {
    let server = start().await;
    let mut client = KeyManagementServiceClient::connect(server.endpoint.clone())
        .await
        .unwrap();
    let status = client.generate_random(generate_random(32)).await.unwrap_err();
    assert_auth_error(
        &status,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    );
}

#[tokio::test]
async fn another_region_is_refused() {
    let server = start().await;
    let mut client = tern_client::connect(&server.endpoint, "us-east-1", Credentials::new(AKID, SECRET))
        .await
        .unwrap();
    let status = client.generate_random(generate_random(32)).await.unwrap_err();
    assert_auth_error(
        &status,
        "InvalidSignatureException",
        "Credential should be scoped to a valid region. ",
    );
}

#[tokio::test]
async fn a_skewed_client_clock_is_refused() {
    let server = start().await;
    let host = server.endpoint.trim_start_matches("http://").to_string();
    let channel = tonic::transport::Endpoint::from_shared(server.endpoint.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let late: Arc<dyn Fn() -> UnixMillis + Send + Sync> = Arc::new(|| system_clock().plus_millis(-10 * 60 * 1000));
    let svc = SigV4Layer::new(REGION, Credentials::new(AKID, SECRET))
        .with_host(host)
        .with_clock(late)
        .layer(channel);
    let mut client = KeyManagementServiceClient::new(svc);
    let status = client.generate_random(generate_random(32)).await.unwrap_err();
    assert_auth_error(&status, "InvalidSignatureException", "Signature expired: ");
}

#[tokio::test]
async fn a_signature_for_another_host_is_refused() {
    let server = start().await;
    let channel = tonic::transport::Endpoint::from_shared(server.endpoint.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let svc = SigV4Layer::new(REGION, Credentials::new(AKID, SECRET))
        .with_host("kms.example.com")
        .layer(channel);
    let mut client = KeyManagementServiceClient::new(svc);
    let status = client.generate_random(generate_random(32)).await.unwrap_err();
    assert_auth_error(
        &status,
        "InvalidSignatureException",
        "The request signature we calculated does not match",
    );
}

#[tokio::test]
async fn an_oversized_request_is_refused() {
    let server = start().await;
    let mut client = tern_client::connect(&server.endpoint, REGION, Credentials::new(AKID, SECRET))
        .await
        .unwrap();
    let request = pb::GenerateRandomRequest {
        number_of_bytes: Some(1),
        custom_key_store_id: Some("x".repeat(2 * 1024 * 1024)),
    };
    let status = client.generate_random(request).await.unwrap_err();
    assert_eq!(error_kind(&status), Some("ValidationException"), "{status:?}");
    assert_eq!(status.code(), Code::InvalidArgument);
}
