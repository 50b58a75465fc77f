#!/usr/bin/env bash
# Builds tern's static binary and the `tern:dev` image from it (FROM scratch:
# no image is pulled).
#
#   deploy/build-image.sh          build (reusing an up-to-date binary)
#
# Environment: CARGO_TARGET_DIR (default $HOME/.cache/tern/target),
# TERN_IMAGE (default tern:dev).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$("$root/scripts/build-release.sh")"
image="${TERN_IMAGE:-tern:dev}"

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
# The image carries no debug info (the host build keeps it for profiling).
if command -v strip >/dev/null 2>&1; then
    strip --strip-debug -o "$ctx/tern" "$bin"
else
    cp "$bin" "$ctx/tern"
fi
cp "$root/deploy/Dockerfile" "$ctx/Dockerfile"
echo "+ docker build -t $image $ctx" >&2
docker build -q -t "$image" "$ctx" >/dev/null
echo "$image"
