#!/usr/bin/env bash
# Builds and runs a local tern development deployment (an embedded
# three-region cluster):
#   scripts/dev.sh [ARGS...]   ARGS go to `tern dev`
#
# The build is scripts/test.sh's own (dev/test profile with optimized
# dependencies, static glibc): running one command after the other compiles
# RocksDB and AWS-LC once. TERN_PROFILE=release uses the release build.
#
# Environment: CARGO_TARGET_DIR (default $HOME/.cache/tern/target).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "${TERN_PROFILE:-debug}" == release ]]; then
    bin="$("$root/scripts/build.sh" --release)"
else
    bin="$("$root/scripts/build.sh")"
fi
exec "$bin" dev "$@"
