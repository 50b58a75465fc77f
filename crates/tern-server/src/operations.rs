//! The one list of KMS operations the client port serves: the gRPC service
//! (`grpc.rs`) and the AWS JSON 1.1 API (`json_api.rs`) are both generated
//! from it, so an operation is added in one place and reaches both.

/// Calls `$m! { Name: method(Request) -> Response; ... }` with every
/// operation (`Name` is the AWS operation name, the `X-Amz-Target` suffix).
/// Exported: the CLI's `tern kms <operation>` is generated from it too.
#[macro_export]
macro_rules! for_each_operation {
    ($m:ident) => {
        $m! {
            CreateKey: create_key(CreateKeyRequest) -> CreateKeyResponse;
            DescribeKey: describe_key(DescribeKeyRequest) -> DescribeKeyResponse;
            ListKeys: list_keys(ListKeysRequest) -> ListKeysResponse;
            EnableKey: enable_key(EnableKeyRequest) -> EnableKeyResponse;
            DisableKey: disable_key(DisableKeyRequest) -> DisableKeyResponse;
            ScheduleKeyDeletion: schedule_key_deletion(ScheduleKeyDeletionRequest) -> ScheduleKeyDeletionResponse;
            CancelKeyDeletion: cancel_key_deletion(CancelKeyDeletionRequest) -> CancelKeyDeletionResponse;
            UpdateKeyDescription: update_key_description(UpdateKeyDescriptionRequest) -> UpdateKeyDescriptionResponse;
            CreateAlias: create_alias(CreateAliasRequest) -> CreateAliasResponse;
            UpdateAlias: update_alias(UpdateAliasRequest) -> UpdateAliasResponse;
            DeleteAlias: delete_alias(DeleteAliasRequest) -> DeleteAliasResponse;
            ListAliases: list_aliases(ListAliasesRequest) -> ListAliasesResponse;
            TagResource: tag_resource(TagResourceRequest) -> TagResourceResponse;
            UntagResource: untag_resource(UntagResourceRequest) -> UntagResourceResponse;
            ListResourceTags: list_resource_tags(ListResourceTagsRequest) -> ListResourceTagsResponse;
            Encrypt: encrypt(EncryptRequest) -> EncryptResponse;
            Decrypt: decrypt(DecryptRequest) -> DecryptResponse;
            ReEncrypt: re_encrypt(ReEncryptRequest) -> ReEncryptResponse;
            GenerateDataKey: generate_data_key(GenerateDataKeyRequest) -> GenerateDataKeyResponse;
            GenerateDataKeyWithoutPlaintext: generate_data_key_without_plaintext(GenerateDataKeyWithoutPlaintextRequest) -> GenerateDataKeyWithoutPlaintextResponse;
            GenerateRandom: generate_random(GenerateRandomRequest) -> GenerateRandomResponse;
            EnableKeyRotation: enable_key_rotation(EnableKeyRotationRequest) -> EnableKeyRotationResponse;
            DisableKeyRotation: disable_key_rotation(DisableKeyRotationRequest) -> DisableKeyRotationResponse;
            GetKeyRotationStatus: get_key_rotation_status(GetKeyRotationStatusRequest) -> GetKeyRotationStatusResponse;
            RotateKeyOnDemand: rotate_key_on_demand(RotateKeyOnDemandRequest) -> RotateKeyOnDemandResponse;
            ReplicateKey: replicate_key(ReplicateKeyRequest) -> ReplicateKeyResponse;
            UpdatePrimaryRegion: update_primary_region(UpdatePrimaryRegionRequest) -> UpdatePrimaryRegionResponse;
            ListKeyRotations: list_key_rotations(ListKeyRotationsRequest) -> ListKeyRotationsResponse;
            CreateGrant: create_grant(CreateGrantRequest) -> CreateGrantResponse;
            ListGrants: list_grants(ListGrantsRequest) -> ListGrantsResponse;
            ListRetirableGrants: list_retirable_grants(ListRetirableGrantsRequest) -> ListGrantsResponse;
            RetireGrant: retire_grant(RetireGrantRequest) -> RetireGrantResponse;
            RevokeGrant: revoke_grant(RevokeGrantRequest) -> RevokeGrantResponse;
            GetPublicKey: get_public_key(GetPublicKeyRequest) -> GetPublicKeyResponse;
            Sign: sign(SignRequest) -> SignResponse;
            Verify: verify(VerifyRequest) -> VerifyResponse;
            GenerateMac: generate_mac(GenerateMacRequest) -> GenerateMacResponse;
            VerifyMac: verify_mac(VerifyMacRequest) -> VerifyMacResponse;
            DeriveSharedSecret: derive_shared_secret(DeriveSharedSecretRequest) -> DeriveSharedSecretResponse;
            GenerateDataKeyPair: generate_data_key_pair(GenerateDataKeyPairRequest) -> GenerateDataKeyPairResponse;
            GenerateDataKeyPairWithoutPlaintext: generate_data_key_pair_without_plaintext(GenerateDataKeyPairWithoutPlaintextRequest) -> GenerateDataKeyPairWithoutPlaintextResponse;
            GetParametersForImport: get_parameters_for_import(GetParametersForImportRequest) -> GetParametersForImportResponse;
            ImportKeyMaterial: import_key_material(ImportKeyMaterialRequest) -> ImportKeyMaterialResponse;
            DeleteImportedKeyMaterial: delete_imported_key_material(DeleteImportedKeyMaterialRequest) -> DeleteImportedKeyMaterialResponse;
            GetKeyPolicy: get_key_policy(GetKeyPolicyRequest) -> GetKeyPolicyResponse;
            PutKeyPolicy: put_key_policy(PutKeyPolicyRequest) -> PutKeyPolicyResponse;
            ListKeyPolicies: list_key_policies(ListKeyPoliciesRequest) -> ListKeyPoliciesResponse;
        }
    };
}
pub(crate) use crate::for_each_operation;
