#!/usr/bin/env bash
# Runs tern's whole test suite: `cargo test --workspace`, then the Python
# interoperability tests (tests/interop/run.sh) when they exist.
#
#   scripts/test.sh [ARGS...]    ARGS go to `cargo test`, e.g. `-- --nocapture`;
#                                with `-p CRATE` only that crate is tested (no --workspace)
#
# Build configuration: scripts/cargo-env.sh (static glibc, explicit target).
# Environment: CARGO_TARGET_DIR (default $HOME/.cache/tern/target),
# TERN_VENV (Python venv for interop tests, see ensure-deps.sh),
# TERN_SKIP_INTEROP=1 skips the interop tests.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

interop="$root/tests/interop/run.sh"
run_interop=0
if [[ -f "$interop" && "${TERN_SKIP_INTEROP:-0}" != 1 ]]; then
    run_interop=1
fi

if [[ $run_interop -eq 1 ]]; then
    "$root/scripts/ensure-deps.sh" --python
else
    "$root/scripts/ensure-deps.sh"
fi

# shellcheck source=scripts/cargo-env.sh
source "$root/scripts/cargo-env.sh"

flags=(--workspace --locked)
if [[ ! -f Cargo.lock ]]; then
    flags=(--workspace)
fi
# `--workspace` would override a `-p`/`--package` given in ARGS: drop it then.
for arg in "$@"; do
    [[ "$arg" == -- ]] && break
    if [[ "$arg" == -p* || "$arg" == --package || "$arg" == --package=* ]]; then
        flags=("${flags[@]:1}")
        break
    fi
done

echo "+ cargo test ${flags[*]} $*" >&2
cargo test "${flags[@]}" "$@"

if [[ $run_interop -eq 1 ]]; then
    export TERN_VENV="${TERN_VENV:-$HOME/.cache/tern/venv}"
    export PATH="$TERN_VENV/bin:$PATH" # python, aws from the venv
    echo "+ $interop" >&2
    if [[ -x "$interop" ]]; then
        "$interop"
    else
        bash "$interop"
    fi
fi
