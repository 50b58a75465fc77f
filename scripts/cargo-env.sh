# Sourced (not run) by tern's scripts and by .ci/run: the one build
# configuration every cargo command shares, so RocksDB is compiled once per
# profile and the test build's `tern` binary is the one the chaos image runs.
#
#   source scripts/cargo-env.sh
#
# - CARGO_TARGET_DIR outside the clone (default $HOME/.cache/tern/target), so
#   repeated runs on one machine reuse the build;
# - an explicit target triple, with glibc linked statically (static-pie) into
#   target artifacts only: because a target is given, build scripts and proc
#   macros stay dynamic. Binaries land in
#   $CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/{debug,release}/ and run both on
#   the host and in the FROM-scratch image.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tern/target}"
export CARGO_BUILD_TARGET="${CARGO_BUILD_TARGET:-x86_64-unknown-linux-gnu}"
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="${CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS:--C target-feature=+crt-static}"
tern_bin_dir() { # tern_bin_dir debug|release
    echo "$CARGO_TARGET_DIR/$CARGO_BUILD_TARGET/$1"
}
