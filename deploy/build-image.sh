#!/usr/bin/env bash
# Builds the `tern:dev` image (FROM scratch: no image is pulled) from tern's
# static binary.
#
#   deploy/build-image.sh                  build the binary (scripts/build.sh: the test suite's
#                                          build, so nothing new is compiled after scripts/test.sh),
#                                          then the image
#   deploy/build-image.sh --release        the same from the release build (production images)
#   deploy/build-image.sh --binary PATH    use a binary built already (the chaos suite
#                                          passes the test build's static debug binary)
#
# Environment: CARGO_TARGET_DIR (default $HOME/.cache/tern/target),
# TERN_IMAGE (default tern:dev).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image="${TERN_IMAGE:-tern:dev}"
case "${1:-}" in
    --binary) bin="${2:?--binary needs a path}" ;;
    --release) bin="$("$root/scripts/build.sh" --release)" ;;
    "") bin="$("$root/scripts/build.sh")" ;;
    *)
        echo "usage: deploy/build-image.sh [--release | --binary PATH]" >&2
        exit 2
        ;;
esac
if ! file "$bin" 2>/dev/null | grep -q 'static'; then
    # `file` may be missing; ldd says "not a dynamic executable" for static ones.
    if ldd "$bin" >/dev/null 2>&1 && ! ldd "$bin" 2>&1 | grep -q 'statically linked'; then
        echo "build-image.sh: $bin is dynamically linked; a FROM-scratch image needs a static binary (scripts/cargo-env.sh)" >&2
        exit 1
    fi
fi

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
