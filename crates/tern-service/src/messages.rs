//! AWS's error messages: one constructor per AWS error case, each with where
//! its wording comes from. Operations build their errors here, so a message
//! is written once and tested once (the tests below hold a row per
//! constructor).
//!
//! Sources, in each constructor's doc:
//! - **recorded**: the exact text of an answer recorded from AWS (public
//!   snapshot tests run against AWS, e.g. LocalStack's
//!   `tests/aws/services/kms/test_kms.snapshot.json`);
//! - **documented**: AWS's API reference or developer guide;
//! - **tern**: AWS's wording is not known; the text is tern's own, and the
//!   README's compatibility table lists it.
//!
//! AWS sends some errors with no message at all (the JSON encoder then
//! leaves the `message` member out): those constructors take no text.

use crate::error::{ErrorKind, KmsError};

fn e(kind: ErrorKind, message: impl Into<String>) -> KmsError {
    KmsError::new(kind, message)
}

// --- Validation: AWS's "1 validation error detected" form ----------------

/// recorded: `1 validation error detected: Value 'HMAC_random' at 'keySpec'
/// failed to satisfy constraint: Member must satisfy enum value set: [...]`.
/// The set is listed in the model's order (AWS's own order is a hash order
/// that changes with the model: tern).
pub fn not_in_enum(value: &str, member: &str, set: &str) -> KmsError {
    KmsError::constraint(
        Some(value),
        member,
        &format!("Member must satisfy enum value set: {set}"),
    )
}

/// recorded: `... Value '<v>' at 'tags.1.member.tagKey' failed to satisfy
/// constraint: Member must have length less than or equal to 128`; a blob
/// member's value is not shown (`Value at 'plaintext' ...`).
pub fn too_long(value: Option<&str>, member: &str, max: usize) -> KmsError {
    KmsError::constraint(
        value,
        member,
        &format!("Member must have length less than or equal to {max}"),
    )
}

/// recorded: `... Member must have length greater than or equal to 1`.
pub fn too_short(value: Option<&str>, member: &str, min: usize) -> KmsError {
    KmsError::constraint(
        value,
        member,
        &format!("Member must have length greater than or equal to {min}"),
    )
}

/// recorded: `... Value '0' at 'numberOfBytes' failed to satisfy
/// constraint: Member must have value greater than or equal to 1`.
pub fn below_minimum(value: i64, member: &str, min: i64) -> KmsError {
    KmsError::constraint(
        Some(&value.to_string()),
        member,
        &format!("Member must have value greater than or equal to {min}"),
    )
}

/// recorded: `... Member must have value less than or equal to 1024`.
pub fn above_maximum(value: i64, member: &str, max: i64) -> KmsError {
    KmsError::constraint(
        Some(&value.to_string()),
        member,
        &format!("Member must have value less than or equal to {max}"),
    )
}

/// documented (the model's `required` trait): `... Value null at '<member>'
/// failed to satisfy constraint: Member must not be null`.
pub fn required(member: &str) -> KmsError {
    KmsError::validation(format!(
        "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
    ))
}

/// recorded: GenerateRandom without NumberOfBytes.
pub fn number_of_bytes_required() -> KmsError {
    KmsError::validation("NumberOfBytes is required.")
}

/// recorded: CreateKey of an asymmetric or HMAC spec without KeyUsage.
pub fn key_usage_required() -> KmsError {
    KmsError::validation("You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.")
}

/// recorded: CreateKey with a KeyUsage the KeySpec does not allow.
pub fn usage_not_for_spec(usage: &str, spec: &str) -> KmsError {
    KmsError::validation(format!("KeyUsage {usage} is not compatible with KeySpec {spec}"))
}

/// recorded: Encrypt with RSA and a plaintext over the padding's limit.
pub fn rsa_plaintext_too_large(algorithm: &str, spec: &str, max: usize) -> KmsError {
    KmsError::validation(format!(
        "Algorithm {algorithm} and key spec {spec} cannot encrypt data larger than {max} bytes."
    ))
}

/// recorded: Sign/Verify with MessageType DIGEST of the wrong length.
pub fn digest_length(algorithm: &str) -> KmsError {
    KmsError::validation(format!("Digest is invalid length for algorithm {algorithm}."))
}

/// recorded: DeriveSharedSecret with a public key that does not parse (no
/// message).
pub fn invalid_public_key() -> KmsError {
    e(ErrorKind::ValidationException, "")
}

/// recorded: ImportKeyMaterial with KEY_MATERIAL_EXPIRES and no ValidTo.
pub fn valid_to_required() -> KmsError {
    KmsError::validation("A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
}

/// recorded: an alias name without the `alias/` prefix.
pub fn alias_prefix() -> KmsError {
    KmsError::validation(
        "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
    )
}

// --- Tags ------------------------------------------------------------------

/// recorded: a tag key starting with `aws:` in any case (TagException).
pub fn reserved_tag() -> KmsError {
    e(ErrorKind::TagException, "Tags beginning with aws: are reserved")
}

/// recorded: one request naming a tag key twice.
pub fn duplicate_tag_keys() -> KmsError {
    e(ErrorKind::TagException, "Duplicate tag keys")
}

/// recorded: more than 50 tags on a key.
pub fn too_many_tags() -> KmsError {
    e(ErrorKind::TagException, "Too many tags")
}

// --- Keys: names, states, usages -------------------------------------------

/// recorded: a well-formed key id or ARN that names no key.
pub fn key_not_found(key_arn: &str) -> KmsError {
    e(ErrorKind::NotFoundException, format!("Key '{key_arn}' does not exist"))
}

/// recorded: a key id that is not a key id.
pub fn invalid_key_id(raw: &str) -> KmsError {
    e(ErrorKind::NotFoundException, format!("Invalid keyId '{raw}'"))
}

/// recorded: a key ARN naming another Region than the one called.
pub fn arn_of_other_region(region: &str) -> KmsError {
    e(ErrorKind::NotFoundException, format!("Invalid arn {region}"))
}

/// recorded: an alias that does not exist (`Alias arn:aws:kms:...:alias/x is
/// not found.`).
pub fn alias_not_found(alias_arn: &str) -> KmsError {
    e(ErrorKind::NotFoundException, format!("Alias {alias_arn} is not found."))
}

/// recorded: a cryptographic operation on a disabled key.
pub fn disabled(key_arn: &str) -> KmsError {
    e(ErrorKind::DisabledException, format!("{key_arn} is disabled."))
}

/// recorded (`... is pending import.`) and documented (`pending deletion`):
/// an operation the key's state does not allow.
pub fn key_state(key_arn: &str, phrase: &str) -> KmsError {
    e(ErrorKind::KMSInvalidStateException, format!("{key_arn} is {phrase}."))
}

/// documented: CancelKeyDeletion of a key not pending deletion.
pub fn not_pending_deletion(key_arn: &str) -> KmsError {
    e(
        ErrorKind::KMSInvalidStateException,
        format!("{key_arn} is not pending deletion."),
    )
}

/// recorded: an operation the key's usage does not allow.
pub fn wrong_usage(key_arn: &str, usage: &str, operation: &str) -> KmsError {
    e(
        ErrorKind::InvalidKeyUsageException,
        format!("{key_arn} key usage is {usage} which is not valid for {operation}."),
    )
}

/// recorded: GenerateMac/VerifyMac with an algorithm of another key spec.
pub fn mac_algorithm_for_other_spec(algorithm: &str, spec: &str) -> KmsError {
    e(
        ErrorKind::InvalidKeyUsageException,
        format!("Algorithm {algorithm} is incompatible with key spec {spec}."),
    )
}

/// tern: an encryption or signing algorithm the key's spec does not offer.
pub fn algorithm_not_for_key(what: &str, algorithm: &str, key_arn: &str) -> KmsError {
    e(
        ErrorKind::InvalidKeyUsageException,
        format!("The {what} {algorithm} is not supported by {key_arn}."),
    )
}

/// recorded: an import operation on a key of another origin.
pub fn wrong_origin(key_arn: &str, origin: &str) -> KmsError {
    e(
        ErrorKind::UnsupportedOperationException,
        format!("{key_arn} origin is {origin} which is not valid for this operation."),
    )
}

/// recorded: Decrypt with a KeyId that is not the ciphertext's key.
pub fn incorrect_key() -> KmsError {
    e(
        ErrorKind::IncorrectKeyException,
        "The key ID in the request does not identify a CMK that can perform this operation.",
    )
}

/// recorded: a ciphertext that does not open (no message, whatever the
/// cause, so an attacker learns nothing).
pub fn invalid_ciphertext() -> KmsError {
    e(ErrorKind::InvalidCiphertextException, "")
}

/// recorded: Verify of a signature that does not verify (no message).
pub fn invalid_signature() -> KmsError {
    e(ErrorKind::KMSInvalidSignatureException, "")
}

/// recorded: VerifyMac of a MAC that does not verify (no message).
pub fn invalid_mac() -> KmsError {
    e(ErrorKind::KMSInvalidMacException, "")
}

/// recorded: a DryRun request that would have succeeded.
pub fn dry_run() -> KmsError {
    e(
        ErrorKind::DryRunOperationException,
        "The request would have succeeded, but the DryRun option is set.",
    )
}

// --- Key specs and requests tern does not take ------------------------------

/// tern: both KeySpec and the deprecated CustomerMasterKeySpec.
pub fn key_spec_and_customer_master_key_spec() -> KmsError {
    KmsError::validation(
        "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.",
    )
}

/// tern: an AWS value tern does not implement (`what`: KeySpec, Origin,
/// KeyPairSpec, …).
pub fn not_supported_by_tern(what: &str, value: &str) -> KmsError {
    e(
        ErrorKind::UnsupportedOperationException,
        format!("{what} {value} is not supported by tern."),
    )
}

/// tern: a custom key store.
pub fn custom_key_stores_not_supported() -> KmsError {
    e(
        ErrorKind::UnsupportedOperationException,
        "Custom key stores are not supported by tern.",
    )
}

/// tern: MessageType EXTERNAL_MU (ML-DSA only).
pub fn external_mu_not_supported() -> KmsError {
    e(
        ErrorKind::InvalidKeyUsageException,
        "MessageType EXTERNAL_MU is only valid for ML-DSA keys, which tern does not support.",
    )
}

/// tern: an operation the key's spec does not allow (a data key under an
/// asymmetric key, …).
pub fn wrong_key_spec(key_arn: &str, spec: &str, operation: &str) -> KmsError {
    e(
        ErrorKind::InvalidKeyUsageException,
        format!("{key_arn} key spec is {spec} which is not valid for {operation}."),
    )
}

/// tern: GetPublicKey of a symmetric or HMAC key.
pub fn no_public_key(key_arn: &str, spec: &str) -> KmsError {
    e(
        ErrorKind::UnsupportedOperationException,
        format!("{key_arn} key spec is {spec} which is not valid for GetPublicKey."),
    )
}

/// tern: GenerateDataKey with both or neither of NumberOfBytes and KeySpec.
pub fn number_of_bytes_or_key_spec() -> KmsError {
    KmsError::validation("Please specify either number of bytes or key spec.")
}

/// tern: an encryption context with an asymmetric key.
pub fn context_with_asymmetric_key() -> KmsError {
    KmsError::validation("EncryptionContext is not supported with asymmetric KMS keys.")
}

/// tern: the keys-per-account quota of a Region.
pub fn keys_per_account_quota(quota: usize) -> KmsError {
    e(
        ErrorKind::LimitExceededException,
        format!("The maximum number of KMS keys ({quota}) for this account in this Region has been reached."),
    )
}

/// tern: RotateKeyOnDemand while an automatic rotation is due.
pub fn automatic_rotation_due(key_arn: &str) -> KmsError {
    e(
        ErrorKind::ConflictException,
        format!("{key_arn} has an automatic rotation in progress or due within 20 minutes."),
    )
}

// --- Aliases ---------------------------------------------------------------

/// tern: an alias under `alias/aws/`.
pub fn reserved_alias_name() -> KmsError {
    e(
        ErrorKind::InvalidAliasNameException,
        "Alias names that begin with alias/aws/ are reserved for AWS managed keys.",
    )
}

/// tern: an alias's target named by an alias.
pub fn alias_target_is_an_alias() -> KmsError {
    KmsError::validation("Aliases must refer to keys. Do not specify an alias.")
}

/// recorded (LocalStack's AWS-parity provider): CreateAlias of an existing name.
pub fn alias_exists(alias_arn: &str) -> KmsError {
    e(
        ErrorKind::AlreadyExistsException,
        format!("An alias with the name {alias_arn} already exists"),
    )
}

/// tern: UpdateAlias to a key of another type or usage.
pub fn alias_target_of_another_type(old_arn: &str, new_arn: &str) -> KmsError {
    KmsError::validation(format!(
        "{old_arn} and {new_arn} are not the same key type and key usage. The new target of an alias must have the same type and usage as the current target."
    ))
}

// --- Grants ------------------------------------------------------------------

/// tern: a grant token that does not parse.
pub fn invalid_grant_token() -> KmsError {
    e(ErrorKind::InvalidGrantTokenException, "Invalid grant token.")
}

/// tern: a grant id that is not one.
pub fn invalid_grant_id() -> KmsError {
    e(ErrorKind::InvalidGrantIdException, "Invalid grant ID.")
}

/// tern: no such grant on the key.
pub fn grant_not_found(grant_id: &str) -> KmsError {
    e(ErrorKind::NotFoundException, format!("Grant ID {grant_id} not found"))
}

/// tern: a grantee or retiring principal that is not a principal ARN or
/// service principal (`which`: "grantee" or "retiring").
pub fn invalid_principal(which: &str, principal: &str) -> KmsError {
    e(
        ErrorKind::InvalidArnException,
        format!("The {which} principal {principal} is not a valid principal."),
    )
}

/// tern: an encryption context constraint with too many pairs.
pub fn too_many_constraint_pairs(max: usize) -> KmsError {
    KmsError::validation(format!(
        "An encryption context constraint may hold at most {max} pairs."
    ))
}

/// tern: constraints on a grant whose operations take no encryption context.
pub fn constraints_without_context_operation() -> KmsError {
    KmsError::validation("Encryption context constraints need an operation that takes an encryption context.")
}

/// tern: RetireGrant without a token or a key and grant id.
pub fn grant_token_or_key_and_id() -> KmsError {
    KmsError::validation("Specify either GrantToken or both KeyId and GrantId.")
}

/// tern: ListRetirableGrants for another account's principal.
pub fn not_authorized_to_list_retirable(caller_arn: &str, principal: &str) -> KmsError {
    e(
        ErrorKind::AccessDeniedException,
        format!("User: {caller_arn} is not authorized to list the retirable grants of {principal}"),
    )
}

/// tern: RetireGrant by a principal the grant does not let retire it.
pub fn not_authorized_to_retire(caller_arn: &str, grant_id: &str) -> KmsError {
    e(
        ErrorKind::AccessDeniedException,
        format!("User: {caller_arn} is not authorized to retire grant {grant_id}"),
    )
}

// --- Quotas ------------------------------------------------------------------

/// tern: the aliases-per-key quota.
pub fn aliases_per_key_quota(max: usize, key_arn: &str) -> KmsError {
    e(
        ErrorKind::LimitExceededException,
        format!("The maximum number of aliases ({max}) for {key_arn} has been reached."),
    )
}

/// tern: the grants-per-key quota.
pub fn grants_per_key_quota(max: usize, key_arn: &str) -> KmsError {
    e(
        ErrorKind::LimitExceededException,
        format!("The maximum number of grants ({max}) for {key_arn} has been reached."),
    )
}

/// tern: the grants-per-grantee-per-key quota.
pub fn grants_per_grantee_quota(max: usize, grantee: &str, key_arn: &str) -> KmsError {
    e(
        ErrorKind::LimitExceededException,
        format!(
            "The maximum number of grants ({max}) for the grantee principal {grantee} on {key_arn} has been reached."
        ),
    )
}

// --- Imported key material ----------------------------------------------------

/// tern: KeyMaterialId with ImportType NEW_KEY_MATERIAL.
pub fn key_material_id_with_new_material() -> KmsError {
    KmsError::validation(
        "KeyMaterialId names a material to import again: it is only valid with ImportType EXISTING_KEY_MATERIAL.",
    )
}

/// tern: NEW_KEY_MATERIAL into an HMAC or asymmetric key that has material.
pub fn new_material_for_symmetric_keys_only(key_arn: &str) -> KmsError {
    e(
        ErrorKind::UnsupportedOperationException,
        format!(
            "{key_arn}: only symmetric encryption keys take new imported key material (ImportType NEW_KEY_MATERIAL)."
        ),
    )
}

/// tern: NEW_KEY_MATERIAL of a material the key had before.
pub fn material_imported_before(material: &str, key_arn: &str) -> KmsError {
    e(
        ErrorKind::IncorrectKeyMaterialException,
        format!("This key material ({material}) was imported into {key_arn} before: import it with ImportType EXISTING_KEY_MATERIAL."),
    )
}

/// tern: EXISTING_KEY_MATERIAL whose id is not the KeyMaterialId named.
pub fn material_id_differs(material: &str, want: &str) -> KmsError {
    e(
        ErrorKind::IncorrectKeyMaterialException,
        format!("The key material's id is {material}, not {want}."),
    )
}

/// tern: EXISTING_KEY_MATERIAL that is none of the key's materials.
pub fn material_does_not_match() -> KmsError {
    e(
        ErrorKind::IncorrectKeyMaterialException,
        "The key material does not match the key material previously imported into this key.",
    )
}

/// tern: material that is not a key of the key's spec (`why` says how).
pub fn material_not_of_key_spec(why: &str) -> KmsError {
    e(ErrorKind::IncorrectKeyMaterialException, why)
}

/// tern: ValidTo with KEY_MATERIAL_DOES_NOT_EXPIRE.
pub fn valid_to_not_allowed() -> KmsError {
    KmsError::validation("A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE")
}

/// tern: ValidTo in the past.
pub fn valid_to_in_the_past() -> KmsError {
    KmsError::validation("The validTo date must be in the future.")
}

/// tern: ValidTo beyond the limit.
pub fn valid_to_too_far(days: u32) -> KmsError {
    KmsError::validation(format!("The validTo date must be at most {days} days in the future."))
}

/// tern: an import token that is not the key's latest.
pub fn invalid_import_token() -> KmsError {
    e(
        ErrorKind::InvalidImportTokenException,
        "The import token is invalid for this key: use the token of the key's latest GetParametersForImport.",
    )
}

/// tern: an import token past its 24 hours.
pub fn expired_import_token() -> KmsError {
    e(
        ErrorKind::ExpiredImportTokenException,
        "The import token has expired: call GetParametersForImport again.",
    )
}

/// tern: DeleteImportedKeyMaterial of a KeyMaterialId the key never had.
pub fn no_such_material(material: &str, key_arn: &str) -> KmsError {
    e(
        ErrorKind::NotFoundException,
        format!("Key material {material} does not exist for {key_arn}."),
    )
}

// --- Encryption context and policies ----------------------------------------------

/// tern: an encryption context over the size limit (`why` gives the sizes).
pub fn context_too_large(why: &str) -> KmsError {
    KmsError::validation(format!("Encryption context is too large: {why}"))
}

/// tern: an encryption context with an empty key.
pub fn context_empty_key() -> KmsError {
    KmsError::validation("Encryption context keys must not be empty.")
}

/// tern: a policy name other than `default`.
pub fn no_such_policy(name: &str) -> KmsError {
    e(ErrorKind::NotFoundException, format!("Policy '{name}' does not exist"))
}

// --- Rotation ----------------------------------------------------------------

/// recorded: RotateKeyOnDemand (or rotation settings) on a key that cannot
/// rotate: asymmetric, HMAC (no message).
pub fn rotation_not_supported() -> KmsError {
    e(ErrorKind::UnsupportedOperationException, "")
}

/// recorded: the eleventh on-demand rotation.
pub fn on_demand_rotation_limit(key_arn: &str) -> KmsError {
    e(
        ErrorKind::LimitExceededException,
        format!(
            "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {key_arn}"
        ),
    )
}

/// recorded: RotateKeyOnDemand of an EXTERNAL key with no imported material
/// waiting.
pub fn no_material_pending_rotation(key_arn: &str) -> KmsError {
    e(
        ErrorKind::KMSInvalidStateException,
        format!("No available key material pending rotation for the key: {key_arn}."),
    )
}

/// recorded: a NEW_KEY_MATERIAL import while another import awaits rotation.
pub fn material_already_pending(new_material: &str, key_id: &str, pending_material: &str) -> KmsError {
    e(
        ErrorKind::KMSInvalidStateException,
        format!(
            "New key material (id: {new_material}) cannot be imported into KMS key {key_id}, because another key material (id: {pending_material}) is pending rotation."
        ),
    )
}

/// tern: a ciphertext under an imported material that was deleted or
/// expired (the key itself may be Enabled with another material).
pub fn material_not_imported(material: &tern_core::ids::KeyMaterialId, key_arn: &str) -> KmsError {
    e(
        ErrorKind::KMSInvalidStateException,
        format!("The key material {material} of {key_arn} is pending import: import the same key material again (ImportType EXISTING_KEY_MATERIAL) to use it."),
    )
}

// --- Multi-Region keys ---------------------------------------------------------

/// recorded: ReplicateKey of a replica.
pub fn not_multi_region_primary(key_arn: &str) -> KmsError {
    e(
        ErrorKind::UnsupportedOperationException,
        format!("{key_arn} is not a multi-region primary key."),
    )
}

/// tern: a Multi-Region operation on a node that runs alone.
pub fn single_region_node() -> KmsError {
    e(
        ErrorKind::UnsupportedOperationException,
        "Multi-Region keys need a tern cluster; this node runs as a single Region.",
    )
}

/// tern: ReplicateKey into a Region that already holds the key.
pub fn replica_exists(replica_arn: &str, region: &str) -> KmsError {
    e(
        ErrorKind::AlreadyExistsException,
        format!("Multi-Region key {replica_arn} already has a replica key in {region}."),
    )
}

/// tern: ReplicateKey into a Region outside the cluster.
pub fn not_a_cluster_region(region: &str) -> KmsError {
    e(
        ErrorKind::UnsupportedOperationException,
        format!("{region} is not a Region of this tern cluster."),
    )
}

/// tern: RotateKeyOnDemand while the previous rotation's material is still
/// reaching every Region.
pub fn multi_region_rotation_in_progress(key_arn: &str) -> KmsError {
    e(
        ErrorKind::ConflictException,
        format!("{key_arn} has a rotation in progress: its new key material is still reaching every Region."),
    )
}

/// tern: a Multi-Region operation on a single-Region key.
pub fn not_multi_region(key_arn: &str) -> KmsError {
    e(
        ErrorKind::UnsupportedOperationException,
        format!("{key_arn} is not a multi-region key."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn row(e: KmsError, kind: &str, message: &str) {
        assert_eq!(e.kind.as_str(), kind, "{message}");
        assert_eq!(e.message, message);
    }

    #[test]
    fn validation_rows() {
        row(
            not_in_enum("RANDOM", "keyUsage", "[ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC]"),
            "ValidationException",
            "1 validation error detected: Value 'RANDOM' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: [ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC]",
        );
        row(
            too_long(Some("vvv"), "tags.1.member.tagValue", 256),
            "ValidationException",
            "1 validation error detected: Value 'vvv' at 'tags.1.member.tagValue' failed to satisfy constraint: Member must have length less than or equal to 256",
        );
        row(
            too_long(None, "plaintext", 4096),
            "ValidationException",
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
        );
        row(
            too_short(Some(""), "tags.1.member.tagKey", 1),
            "ValidationException",
            "1 validation error detected: Value '' at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have length greater than or equal to 1",
        );
        row(
            below_minimum(0, "numberOfBytes", 1),
            "ValidationException",
            "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1",
        );
        row(
            above_maximum(1025, "numberOfBytes", 1024),
            "ValidationException",
            "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024",
        );
        row(
            required("retiringPrincipal"),
            "ValidationException",
            "1 validation error detected: Value null at 'retiringPrincipal' failed to satisfy constraint: Member must not be null",
        );
        row(
            number_of_bytes_required(),
            "ValidationException",
            "NumberOfBytes is required.",
        );
        row(
            key_usage_required(),
            "ValidationException",
            "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.",
        );
        row(
            usage_not_for_spec("KEY_AGREEMENT", "RSA_2048"),
            "ValidationException",
            "KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048",
        );
        row(
            rsa_plaintext_too_large("RSAES_OAEP_SHA_1", "RSA_2048", 214),
            "ValidationException",
            "Algorithm RSAES_OAEP_SHA_1 and key spec RSA_2048 cannot encrypt data larger than 214 bytes.",
        );
        row(
            digest_length("ECDSA_SHA_256"),
            "ValidationException",
            "Digest is invalid length for algorithm ECDSA_SHA_256.",
        );
        row(invalid_public_key(), "ValidationException", "");
        row(
            valid_to_required(),
            "ValidationException",
            "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
        );
        row(
            alias_prefix(),
            "ValidationException",
            "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
        );
    }

    #[test]
    fn tag_rows() {
        row(reserved_tag(), "TagException", "Tags beginning with aws: are reserved");
        row(duplicate_tag_keys(), "TagException", "Duplicate tag keys");
        row(too_many_tags(), "TagException", "Too many tags");
    }

    #[test]
    fn key_rows() {
        row(
            key_not_found(ARN),
            "NotFoundException",
            &format!("Key '{ARN}' does not exist"),
        );
        row(
            invalid_key_id("fake-key-id"),
            "NotFoundException",
            "Invalid keyId 'fake-key-id'",
        );
        row(
            arn_of_other_region("eu-west-1"),
            "NotFoundException",
            "Invalid arn eu-west-1",
        );
        row(
            alias_not_found("arn:aws:kms:us-east-1:111122223333:alias/x"),
            "NotFoundException",
            "Alias arn:aws:kms:us-east-1:111122223333:alias/x is not found.",
        );
        row(disabled(ARN), "DisabledException", &format!("{ARN} is disabled."));
        row(
            key_state(ARN, "pending import"),
            "KMSInvalidStateException",
            &format!("{ARN} is pending import."),
        );
        row(
            not_pending_deletion(ARN),
            "KMSInvalidStateException",
            &format!("{ARN} is not pending deletion."),
        );
        row(
            wrong_usage(ARN, "SIGN_VERIFY", "Encrypt"),
            "InvalidKeyUsageException",
            &format!("{ARN} key usage is SIGN_VERIFY which is not valid for Encrypt."),
        );
        row(
            mac_algorithm_for_other_spec("HMAC_SHA_256", "HMAC_224"),
            "InvalidKeyUsageException",
            "Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_224.",
        );
        row(
            algorithm_not_for_key("encryption algorithm", "RSAES_OAEP_SHA_1", ARN),
            "InvalidKeyUsageException",
            &format!("The encryption algorithm RSAES_OAEP_SHA_1 is not supported by {ARN}."),
        );
        row(
            wrong_origin(ARN, "AWS_KMS"),
            "UnsupportedOperationException",
            &format!("{ARN} origin is AWS_KMS which is not valid for this operation."),
        );
        row(
            incorrect_key(),
            "IncorrectKeyException",
            "The key ID in the request does not identify a CMK that can perform this operation.",
        );
        row(invalid_ciphertext(), "InvalidCiphertextException", "");
        row(invalid_signature(), "KMSInvalidSignatureException", "");
        row(invalid_mac(), "KMSInvalidMacException", "");
        row(
            dry_run(),
            "DryRunOperationException",
            "The request would have succeeded, but the DryRun option is set.",
        );
    }

    #[test]
    fn import_context_and_policy_rows() {
        row(
            key_material_id_with_new_material(),
            "ValidationException",
            "KeyMaterialId names a material to import again: it is only valid with ImportType EXISTING_KEY_MATERIAL.",
        );
        row(
            new_material_for_symmetric_keys_only(ARN),
            "UnsupportedOperationException",
            &format!(
                "{ARN}: only symmetric encryption keys take new imported key material (ImportType NEW_KEY_MATERIAL)."
            ),
        );
        row(
            material_imported_before("m", ARN),
            "IncorrectKeyMaterialException",
            &format!("This key material (m) was imported into {ARN} before: import it with ImportType EXISTING_KEY_MATERIAL."),
        );
        row(
            material_id_differs("a", "b"),
            "IncorrectKeyMaterialException",
            "The key material's id is a, not b.",
        );
        row(
            material_does_not_match(),
            "IncorrectKeyMaterialException",
            "The key material does not match the key material previously imported into this key.",
        );
        row(material_not_of_key_spec("why"), "IncorrectKeyMaterialException", "why");
        row(
            valid_to_not_allowed(),
            "ValidationException",
            "A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE",
        );
        row(
            valid_to_in_the_past(),
            "ValidationException",
            "The validTo date must be in the future.",
        );
        row(
            valid_to_too_far(365),
            "ValidationException",
            "The validTo date must be at most 365 days in the future.",
        );
        row(
            invalid_import_token(),
            "InvalidImportTokenException",
            "The import token is invalid for this key: use the token of the key's latest GetParametersForImport.",
        );
        row(
            expired_import_token(),
            "ExpiredImportTokenException",
            "The import token has expired: call GetParametersForImport again.",
        );
        row(
            no_such_material("m", ARN),
            "NotFoundException",
            &format!("Key material m does not exist for {ARN}."),
        );
        row(
            context_too_large("x"),
            "ValidationException",
            "Encryption context is too large: x",
        );
        row(
            context_empty_key(),
            "ValidationException",
            "Encryption context keys must not be empty.",
        );
        row(no_such_policy("p"), "NotFoundException", "Policy 'p' does not exist");
        row(
            single_region_node(),
            "UnsupportedOperationException",
            "Multi-Region keys need a tern cluster; this node runs as a single Region.",
        );
        row(
            replica_exists(ARN, "eu-west-1"),
            "AlreadyExistsException",
            &format!("Multi-Region key {ARN} already has a replica key in eu-west-1."),
        );
        row(
            not_a_cluster_region("sa-east-1"),
            "UnsupportedOperationException",
            "sa-east-1 is not a Region of this tern cluster.",
        );
        row(
            multi_region_rotation_in_progress(ARN),
            "ConflictException",
            &format!("{ARN} has a rotation in progress: its new key material is still reaching every Region."),
        );
    }

    #[test]
    fn request_rows() {
        row(
            key_spec_and_customer_master_key_spec(),
            "ValidationException",
            "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.",
        );
        row(
            not_supported_by_tern("KeySpec", "SM2"),
            "UnsupportedOperationException",
            "KeySpec SM2 is not supported by tern.",
        );
        row(
            custom_key_stores_not_supported(),
            "UnsupportedOperationException",
            "Custom key stores are not supported by tern.",
        );
        row(
            external_mu_not_supported(),
            "InvalidKeyUsageException",
            "MessageType EXTERNAL_MU is only valid for ML-DSA keys, which tern does not support.",
        );
        row(
            wrong_key_spec(ARN, "RSA_2048", "GenerateDataKey"),
            "InvalidKeyUsageException",
            &format!("{ARN} key spec is RSA_2048 which is not valid for GenerateDataKey."),
        );
        row(
            no_public_key(ARN, "SYMMETRIC_DEFAULT"),
            "UnsupportedOperationException",
            &format!("{ARN} key spec is SYMMETRIC_DEFAULT which is not valid for GetPublicKey."),
        );
        row(
            number_of_bytes_or_key_spec(),
            "ValidationException",
            "Please specify either number of bytes or key spec.",
        );
        row(
            context_with_asymmetric_key(),
            "ValidationException",
            "EncryptionContext is not supported with asymmetric KMS keys.",
        );
        row(
            keys_per_account_quota(100000),
            "LimitExceededException",
            "The maximum number of KMS keys (100000) for this account in this Region has been reached.",
        );
        row(
            automatic_rotation_due(ARN),
            "ConflictException",
            &format!("{ARN} has an automatic rotation in progress or due within 20 minutes."),
        );
    }

    #[test]
    fn alias_grant_and_quota_rows() {
        row(
            reserved_alias_name(),
            "InvalidAliasNameException",
            "Alias names that begin with alias/aws/ are reserved for AWS managed keys.",
        );
        row(
            alias_target_is_an_alias(),
            "ValidationException",
            "Aliases must refer to keys. Do not specify an alias.",
        );
        row(
            alias_exists("arn:aws:kms:us-east-1:111122223333:alias/x"),
            "AlreadyExistsException",
            "An alias with the name arn:aws:kms:us-east-1:111122223333:alias/x already exists",
        );
        row(
            alias_target_of_another_type("a", "b"),
            "ValidationException",
            "a and b are not the same key type and key usage. The new target of an alias must have the same type and usage as the current target.",
        );
        row(
            invalid_grant_token(),
            "InvalidGrantTokenException",
            "Invalid grant token.",
        );
        row(invalid_grant_id(), "InvalidGrantIdException", "Invalid grant ID.");
        row(grant_not_found("g"), "NotFoundException", "Grant ID g not found");
        row(
            invalid_principal("grantee", "p"),
            "InvalidArnException",
            "The grantee principal p is not a valid principal.",
        );
        row(
            too_many_constraint_pairs(8),
            "ValidationException",
            "An encryption context constraint may hold at most 8 pairs.",
        );
        row(
            constraints_without_context_operation(),
            "ValidationException",
            "Encryption context constraints need an operation that takes an encryption context.",
        );
        row(
            grant_token_or_key_and_id(),
            "ValidationException",
            "Specify either GrantToken or both KeyId and GrantId.",
        );
        row(
            not_authorized_to_list_retirable("u", "p"),
            "AccessDeniedException",
            "User: u is not authorized to list the retirable grants of p",
        );
        row(
            not_authorized_to_retire("u", "g"),
            "AccessDeniedException",
            "User: u is not authorized to retire grant g",
        );
        row(
            aliases_per_key_quota(50, ARN),
            "LimitExceededException",
            &format!("The maximum number of aliases (50) for {ARN} has been reached."),
        );
        row(
            grants_per_key_quota(50000, ARN),
            "LimitExceededException",
            &format!("The maximum number of grants (50000) for {ARN} has been reached."),
        );
        row(
            grants_per_grantee_quota(500, "p", ARN),
            "LimitExceededException",
            &format!("The maximum number of grants (500) for the grantee principal p on {ARN} has been reached."),
        );
    }

    #[test]
    fn rotation_and_multi_region_rows() {
        row(rotation_not_supported(), "UnsupportedOperationException", "");
        row(
            on_demand_rotation_limit(ARN),
            "LimitExceededException",
            &format!("The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {ARN}"),
        );
        row(
            no_material_pending_rotation(ARN),
            "KMSInvalidStateException",
            &format!("No available key material pending rotation for the key: {ARN}."),
        );
        row(
            material_already_pending("aa", "1234abcd-12ab-34cd-56ef-1234567890ab", "bb"),
            "KMSInvalidStateException",
            "New key material (id: aa) cannot be imported into KMS key 1234abcd-12ab-34cd-56ef-1234567890ab, because another key material (id: bb) is pending rotation.",
        );
        let id = tern_core::ids::KeyMaterialId::from_bytes([0; 32]);
        row(
            material_not_imported(&id, ARN),
            "KMSInvalidStateException",
            &format!("The key material {} of {ARN} is pending import: import the same key material again (ImportType EXISTING_KEY_MATERIAL) to use it.", "0".repeat(64)),
        );
        row(
            not_multi_region_primary(ARN),
            "UnsupportedOperationException",
            &format!("{ARN} is not a multi-region primary key."),
        );
        row(
            not_multi_region(ARN),
            "UnsupportedOperationException",
            &format!("{ARN} is not a multi-region key."),
        );
    }
}
