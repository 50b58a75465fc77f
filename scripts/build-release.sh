#!/usr/bin/env bash
# The release build (benchmarks, production images): scripts/build.sh --release.
# Prints the path of the `tern` binary.
exec "$(dirname "${BASH_SOURCE[0]}")/build.sh" --release "$@"
