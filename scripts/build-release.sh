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

# shellcheck source=scripts/cargo-env.sh
source "$root/scripts/cargo-env.sh"
cargo build --release --locked -p tern-cli -p tern-bench >&2
echo "$(tern_bin_dir release)/tern"
