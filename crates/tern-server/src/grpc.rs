//! The gRPC API: each rpc takes the authenticated [`Caller`] the SigV4 layer
//! put in the request's extensions, calls the one service operation, and
//! maps errors in one place ([`crate::grpc_error`]).

use std::sync::Arc;

use tern_proto::pb;
use tern_proto::pb::key_management_service_server::KeyManagementService;
use tern_service::{Caller, Kms, RequestContext};
use tonic::{Request, Response, Status};

use crate::grpc_error::status_from_error;

/// The tonic service over one region's [`Kms`].
#[derive(Debug, Clone)]
pub struct GrpcApi {
    kms: Arc<Kms>,
}

impl GrpcApi {
    pub fn new(kms: Arc<Kms>) -> Self {
        GrpcApi { kms }
    }
}

#[allow(clippy::result_large_err)] // tonic::Status is what every handler returns anyway.
fn context<T>(req: &Request<T>) -> Result<RequestContext, Status> {
    let caller = req
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("request was not authenticated"))?;
    let mut ctx = RequestContext::new(caller);
    ctx.source_ip = req.remote_addr().map(|a| a.ip().to_string());
    ctx.user_agent = req
        .metadata()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok(ctx)
}

macro_rules! grpc_api {
    ($($method:ident($req:ident) -> $resp:ident;)+) => {
        #[tonic::async_trait]
        impl KeyManagementService for GrpcApi {
            $(
                async fn $method(&self, request: Request<pb::$req>) -> Result<Response<pb::$resp>, Status> {
                    let ctx = context(&request)?;
                    self.kms
                        .$method(&ctx, request.into_inner())
                        .await
                        .map(Response::new)
                        .map_err(|e| status_from_error(&e))
                }
            )+
        }
    };
}

grpc_api! {
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
    generate_random(GenerateRandomRequest) -> GenerateRandomResponse;
    enable_key_rotation(EnableKeyRotationRequest) -> EnableKeyRotationResponse;
    disable_key_rotation(DisableKeyRotationRequest) -> DisableKeyRotationResponse;
    get_key_rotation_status(GetKeyRotationStatusRequest) -> GetKeyRotationStatusResponse;
    rotate_key_on_demand(RotateKeyOnDemandRequest) -> RotateKeyOnDemandResponse;
    replicate_key(ReplicateKeyRequest) -> ReplicateKeyResponse;
    update_primary_region(UpdatePrimaryRegionRequest) -> UpdatePrimaryRegionResponse;
    list_key_rotations(ListKeyRotationsRequest) -> ListKeyRotationsResponse;
    create_grant(CreateGrantRequest) -> CreateGrantResponse;
    list_grants(ListGrantsRequest) -> ListGrantsResponse;
    list_retirable_grants(ListRetirableGrantsRequest) -> ListGrantsResponse;
    retire_grant(RetireGrantRequest) -> RetireGrantResponse;
    revoke_grant(RevokeGrantRequest) -> RevokeGrantResponse;
    get_key_policy(GetKeyPolicyRequest) -> GetKeyPolicyResponse;
    put_key_policy(PutKeyPolicyRequest) -> PutKeyPolicyResponse;
    list_key_policies(ListKeyPoliciesRequest) -> ListKeyPoliciesResponse;
}
