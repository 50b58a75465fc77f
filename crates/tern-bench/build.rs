//! Generates the echo baseline service with a vendored protoc.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?);
    // At run time (see tern-proto's build script): clones may share it.
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let echo = root.join("tern/bench/v1/echo.proto");
    println!("cargo:rerun-if-changed={}", echo.display());
    tonic_build::configure().compile_protos(&[echo], &[root])?;
    Ok(())
}
