#!/usr/bin/env bash
# Runs every cargo-fuzz target under fuzz/ for SECONDS each (default 60).
#
#   scripts/fuzz.sh [SECONDS]
#
# Works on stable Rust: `-s none` turns off the sanitizer, which is the only
# part of cargo-fuzz that needs nightly (-Zsanitizer=address). Coverage
# instrumentation (-Cpasses=sancov-module, -Cllvm-args=...) is stable.
#
# The fuzz crate is its own workspace with its own target dir
# (TERN_FUZZ_TARGET_DIR, default $HOME/.cache/tern/fuzz-target); a
# CARGO_TARGET_DIR exported for the main workspace is ignored here, because the
# instrumented build would otherwise thrash the main workspace's cache.
# Corpus: fuzz/corpus/<target> (grows, git-ignored) plus the committed seeds in
# fuzz/seeds/<target>. Crashes land in fuzz/artifacts/<target>, and cargo-fuzz
# prints the exact command that reproduces one, of the form
#   cd fuzz && cargo fuzz run -s none --target-dir DIR <target> artifacts/<target>/<crash-file>
# No sanitizer means no ASan; tern-core forbids unsafe code, so panics (failed
# asserts, overflow with the debug assertions cargo-fuzz enables, out-of-bounds
# indexing) are what the targets catch.
set -euo pipefail

secs="${1:-60}"
if ! [[ "$secs" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/fuzz.sh [SECONDS]   (SECONDS a positive integer, default 60)" >&2
    exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/ensure-deps.sh" --fuzz

fuzz_dir="$root/fuzz"
target_dir="${TERN_FUZZ_TARGET_DIR:-$HOME/.cache/tern/fuzz-target}"
unset CARGO_TARGET_DIR CARGO_BUILD_TARGET CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS
cd "$fuzz_dir"

listing="$(cargo fuzz list)"
mapfile -t targets <<<"$listing"
if [[ -z "$listing" ]]; then
    echo "fuzz.sh: no fuzz targets found in $fuzz_dir" >&2
    exit 1
fi

# Build all targets once up front so each target's time budget is spent fuzzing.
echo "+ cargo fuzz build -s none" >&2
cargo fuzz build -s none --target-dir "$target_dir"

failed=()
for t in "${targets[@]}"; do
    corpora=("$fuzz_dir/corpus/$t")
    mkdir -p "${corpora[0]}"
    if [[ -d "$fuzz_dir/seeds/$t" ]]; then
        corpora+=("$fuzz_dir/seeds/$t")
    fi
    echo "+ cargo fuzz run -s none $t (${secs}s)" >&2
    if ! cargo fuzz run -s none --target-dir "$target_dir" "$t" "${corpora[@]}" -- \
        -max_total_time="$secs" -print_final_stats=1; then
        echo "fuzz.sh: target $t FAILED; see $fuzz_dir/artifacts/$t/" >&2
        failed+=("$t")
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz.sh: failing targets: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets ran ${secs}s without a crash" >&2
