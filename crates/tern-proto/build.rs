//! Generates the client API from `proto/` with a vendored protoc, so no system
//! protoc is needed.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let kms = root.join("tern/kms/v1/kms.proto");
    println!("cargo:rerun-if-changed={}", kms.display());
    tonic_build::configure()
        // BTreeMap: deterministic encoding and canonical ordering of contexts.
        .btree_map(["."])
        .compile_protos(&[kms], &[root])?;
    Ok(())
}
