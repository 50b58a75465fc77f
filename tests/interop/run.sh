#!/usr/bin/env bash
# Interoperability tests with tools nobody here wrote: aws-cli (the seed
# notes' commands verbatim, plus --endpoint-url) and boto3, against three
# `tern serve` regions over the AWS JSON 1.1 API, then the AWS Encryption SDK across regions while
# us-east-1 is stopped. Called by scripts/test.sh with the venv's
# python/aws first on PATH; needs the test build's `tern` binary.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/cargo-env.sh
source "$root/scripts/cargo-env.sh"
tern="$(tern_bin_dir debug)/tern"
if [[ ! -x "$tern" ]]; then
    cargo build --locked -p tern-cli >&2
fi

work="$(mktemp -d)"
base_port="${TERN_INTEROP_BASE_PORT:-17370}"
regions=(us-east-1 eu-west-1 ap-northeast-2)
# Three regions as separate `tern serve` processes (from `tern init`), so the
# Encryption SDK test can stop us-east-1.
"$tern" init --out "$work/cfg" --regions "$(IFS=,; echo "${regions[*]}")" --base-port "$base_port" >/dev/null
# A second account's user for the cross-account tests (tern init makes only
# the administrator, with fresh credentials).
carol="$("$tern" principals add --file "$work/cfg/principals.toml" --account 444455556666 --user carol 2>/dev/null)"
ini_value() { sed -n "s/^$1 = //p"; }
export TERN_CAROL_ACCESS_KEY_ID="$(ini_value aws_access_key_id <<<"$carol")"
export TERN_CAROL_SECRET_ACCESS_KEY="$(ini_value aws_secret_access_key <<<"$carol")"
pids=()
for r in "${regions[@]}"; do
    "$tern" serve --config "$work/cfg/$r.toml" >"$work/$r.log" 2>&1 &
    pids+=($!)
done
export TERN_US_EAST_1_PID="${pids[0]}"
cleanup() {
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The administrator `tern init` generated.
export AWS_ACCESS_KEY_ID="$(ini_value aws_access_key_id <"$work/cfg/admin-credentials")"
export AWS_SECRET_ACCESS_KEY="$(ini_value aws_secret_access_key <"$work/cfg/admin-credentials")"
export AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=""
export TERN_US_EAST_1="http://127.0.0.1:$base_port"
export TERN_EU_WEST_1="http://127.0.0.1:$((base_port + 1))"
export TERN_AP_NORTHEAST_2="http://127.0.0.1:$((base_port + 2))"

# Wait for the three regions (bounded).
for i in $(seq 1 300); do
    ok=0
    for ep in "$TERN_US_EAST_1" "$TERN_EU_WEST_1" "$TERN_AP_NORTHEAST_2"; do
        "$tern" health --endpoint "$ep" >/dev/null 2>&1 && ok=$((ok + 1))
    done
    [[ $ok -eq 3 ]] && break
    for p in "${pids[@]}"; do
        if ! kill -0 "$p" 2>/dev/null; then
            cat "$work"/*.log >&2
            echo "a tern serve process exited" >&2
            exit 1
        fi
    done
    sleep 0.1
done
[[ $ok -eq 3 ]] || { cat "$work"/*.log >&2; echo "the regions did not become healthy" >&2; exit 1; }

echo "+ aws-cli: the seed notes' commands" >&2
bash "$root/tests/interop/seed_commands.sh" "$work"
echo "+ boto3 suite" >&2
python -m unittest -v "$root/tests/interop/test_boto3.py"
echo "+ every operation's raw answer against the installed botocore model's output shape" >&2
python -m unittest -v "$root/tests/interop/test_shapes.py"
echo "+ asymmetric, HMAC and imported keys against the openssl command line" >&2
python -m unittest -v "$root/tests/interop/test_openssl_keys.py"
echo "+ the same, in depth: every algorithm per RSA size, every pair spec, openssl signing and decrypting with imported keys" >&2
python -m unittest -v "$root/tests/interop/test_openssl.py"
echo "+ AWS Encryption SDK: encrypt in us-east-1, decrypt with the ap-northeast-2 replica while us-east-1 is stopped" >&2
python "$root/tests/interop/esdk_mrk.py"
