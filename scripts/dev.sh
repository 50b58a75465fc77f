#!/usr/bin/env bash
# Builds (release) and runs a local tern development deployment:
#   scripts/dev.sh [ARGS...]   ARGS go to `tern dev`
#
# Environment: CARGO_TARGET_DIR (default $HOME/.cache/tern/target).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/ensure-deps.sh"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tern/target}"

exec cargo run --release -p tern-cli --bin tern -- dev "$@"
