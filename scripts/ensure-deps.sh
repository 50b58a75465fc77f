#!/usr/bin/env bash
# Installs what a fresh Debian build machine lacks for tern. Idempotent: every
# step checks first and does nothing when the dependency is already there.
#
#   scripts/ensure-deps.sh            system packages (libclang-dev for RocksDB's bindgen)
#   scripts/ensure-deps.sh --python   ... plus a Python venv with boto3, awscli, aws-encryption-sdk
#                                     and its material providers (MRK-aware keyrings)
#                                     (at ${TERN_VENV:-$HOME/.cache/tern/venv}), for the
#                                     interoperability tests under tests/interop/
#   scripts/ensure-deps.sh --fuzz     ... plus cargo-fuzz (stable Rust is enough, see fuzz.sh)
#
# The flags combine. Environment: TERN_VENV overrides the venv location.
set -euo pipefail

want_python=0
want_fuzz=0
for arg in "$@"; do
    case "$arg" in
        --python) want_python=1 ;;
        --fuzz) want_fuzz=1 ;;
        -h | --help)
            sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "ensure-deps.sh: unknown argument: $arg (expected --python and/or --fuzz)" >&2
            exit 2
            ;;
    esac
done

log() { echo "ensure-deps: $*" >&2; }

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "need root to run '$*' but not root and sudo is missing"
        return 1
    fi
}

apt_updated=0
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get not found; install these packages by hand: $*"
        return 1
    fi
    if [[ $apt_updated -eq 0 ]]; then
        log "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        apt_updated=1
    fi
    log "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# --- system packages -------------------------------------------------------
# libclang-dev: librocksdb-sys runs bindgen (feature bindgen-runtime), which
# loads libclang at build time.
if ! command -v dpkg >/dev/null 2>&1; then
    log "dpkg not found (not Debian?); skipping the libclang-dev check"
elif ! dpkg -s libclang-dev >/dev/null 2>&1; then
    apt_install libclang-dev
else
    log "libclang-dev: present"
fi

# Everything below and every later step needs a Rust toolchain; say so plainly.
if ! command -v cargo >/dev/null 2>&1; then
    log "cargo not found on PATH; install Rust (https://rustup.rs) first"
    exit 1
fi

# --- Python venv for interop tests (--python) -------------------------------
if [[ $want_python -eq 1 ]]; then
    # The envelope-encryption walkthrough encrypts files with the openssl CLI.
    if ! command -v openssl >/dev/null 2>&1; then
        apt_install openssl
    fi
    venv="${TERN_VENV:-$HOME/.cache/tern/venv}"
    if [[ ! -x "$venv/bin/python" ]]; then
        python="$(command -v python3 || true)"
        if [[ -z "$python" ]]; then
            apt_install python3 python3-venv
            python="$(command -v python3)"
        fi
        mkdir -p "$(dirname "$venv")"
        log "creating Python venv at $venv"
        if ! "$python" -m venv "$venv"; then
            # Debian's system python3 ships venv/ensurepip separately.
            rm -rf "$venv"
            apt_install python3-venv
            "$python" -m venv "$venv"
        fi
    fi
    if "$venv/bin/python" -c 'import boto3, aws_encryption_sdk, aws_cryptographic_material_providers' >/dev/null 2>&1 && "$venv/bin/aws" --version >/dev/null 2>&1; then
        log "python venv $venv: boto3, awscli and aws-encryption-sdk present"
    else
        # One resolver run for both, so boto3 and awscli agree on botocore.
        log "installing boto3 and awscli into $venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check boto3 awscli aws-encryption-sdk \
            aws-cryptographic-material-providers
    fi
fi

# --- cargo-fuzz (--fuzz) ----------------------------------------------------
if [[ $want_fuzz -eq 1 ]]; then
    if cargo fuzz --version >/dev/null 2>&1; then
        log "cargo-fuzz: present ($(cargo fuzz --version))"
    else
        log "installing cargo-fuzz"
        # Build it in cargo's own temporary dir, not in a workspace target dir
        # that the caller may have exported.
        env -u CARGO_TARGET_DIR cargo install cargo-fuzz --locked
    fi
fi
