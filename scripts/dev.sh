#!/usr/bin/env bash
# Builds (release, statically linked: the same build as the docker image and
# the benchmarks) and runs a local tern development deployment:
#   scripts/dev.sh [ARGS...]   ARGS go to `tern dev`
#
# Environment: CARGO_TARGET_DIR (default $HOME/.cache/tern/target).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$("$root/scripts/build-release.sh")"
exec "$bin" dev "$@"
