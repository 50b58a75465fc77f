#!/usr/bin/env bash
# Builds tern's binaries, statically linked (glibc static-pie, RocksDB
# bundled), so the same build runs on the host and in the FROM-scratch image.
# Prints the path of the `tern` binary.
#
#   scripts/build.sh             the dev/test profile: the very build
#                                scripts/test.sh makes (dependencies optimized,
#                                see Cargo.toml), so `scripts/dev.sh` and
#                                `scripts/test.sh` compile RocksDB and AWS-LC once
#   scripts/build.sh --release   the release profile (benchmarks, production images)
#
# Environment: CARGO_TARGET_DIR (default $HOME/.cache/tern/target).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

profile=debug
cargo_profile=()
case "${1:-}" in
    "") ;;
    --release)
        profile=release
        cargo_profile=(--release)
        ;;
    *)
        echo "usage: scripts/build.sh [--release]" >&2
        exit 2
        ;;
esac

"$root/scripts/ensure-deps.sh" >&2

# shellcheck source=scripts/cargo-env.sh
source "$root/scripts/cargo-env.sh"
cargo build "${cargo_profile[@]}" --locked -p tern-cli -p tern-bench >&2
echo "$(tern_bin_dir "$profile")/tern"
