//! Generates the client API from `proto/` with a vendored protoc, so no system
//! protoc is needed. Messages also derive serde with the AWS JSON member
//! names (PascalCase, base64 blobs, absent members omitted), so the CLI and
//! the AWS JSON API share these types with gRPC.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    // Read at run time, not compiled in: clones sharing one target dir may
    // share this build script's binary, and each must read its own protos.
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let kms = root.join("tern/kms/v1/kms.proto");
    let raft = root.join("tern/raft/v1/raft.proto");
    println!("cargo:rerun-if-changed={}", kms.display());
    println!("cargo:rerun-if-changed={}", raft.display());
    let b64 = "#[serde(with = \"crate::b64\")]";
    tonic_build::configure()
        // BTreeMap: deterministic encoding and canonical ordering of contexts.
        .btree_map(["."])
        .message_attribute(
            ".tern.kms.v1",
            "#[::serde_with::skip_serializing_none] #[derive(::serde::Serialize, ::serde::Deserialize)] #[serde(rename_all = \"PascalCase\", default)]",
        )
        .field_attribute("plaintext", b64)
        .field_attribute("ciphertext_blob", b64)
        .field_attribute("KeyMetadata.aws_account_id", "#[serde(rename = \"AWSAccountId\")]")
        .field_attribute(".tern.kms.v1.SignRequest.message", b64)
        .field_attribute(".tern.kms.v1.VerifyRequest.message", b64)
        .field_attribute(".tern.kms.v1.GenerateMacRequest.message", b64)
        .field_attribute(".tern.kms.v1.VerifyMacRequest.message", b64)
        .field_attribute(".tern.kms.v1.SignResponse.signature", b64)
        .field_attribute(".tern.kms.v1.VerifyRequest.signature", b64)
        .field_attribute(".tern.kms.v1.GenerateMacResponse.mac", b64)
        .field_attribute(".tern.kms.v1.VerifyMacRequest.mac", b64)
        .field_attribute(".tern.kms.v1.GetPublicKeyResponse.public_key", b64)
        .field_attribute(".tern.kms.v1.DeriveSharedSecretRequest.public_key", b64)
        .field_attribute(".tern.kms.v1.DeriveSharedSecretResponse.shared_secret", b64)
        .field_attribute(".tern.kms.v1.GenerateDataKeyPairResponse.public_key", b64)
        .field_attribute(".tern.kms.v1.GenerateDataKeyPairWithoutPlaintextResponse.public_key", b64)
        .field_attribute("private_key_ciphertext_blob", b64)
        .field_attribute("private_key_plaintext", b64)
        .field_attribute(".tern.kms.v1.GetParametersForImportResponse.public_key", b64)
        .field_attribute("import_token", b64)
        .field_attribute("encrypted_key_material", b64)
        .compile_protos(&[kms, raft], &[root])?;
    Ok(())
}
