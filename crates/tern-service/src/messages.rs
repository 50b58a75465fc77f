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
