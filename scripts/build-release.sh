#!/usr/bin/env bash
# Builds tern's release binaries once for every use: statically linked
# (glibc static-pie, RocksDB bundled), so the same build runs on the host
# (`scripts/dev.sh`, benchmarks) and in the FROM-scratch image.
# Prints the path of the `tern` binary.
#
#   scripts/build-release.sh
#
# Environment: CARGO_TARGET_DIR (default $HOME/.cache/tern/target).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/ensure-deps.sh" >&2

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tern/target}"
target=x86_64-unknown-linux-gnu
# Only target artifacts get the flag (build scripts and proc macros stay
# dynamic), because --target is given.
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --release --locked --target "$target" -p tern-cli -p tern-bench >&2
echo "$CARGO_TARGET_DIR/$target/release/tern"
