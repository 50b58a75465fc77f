#!/usr/bin/env bash
# The seed notes' aws-cli commands, verbatim but for --endpoint-url, against
# tern dev's ap-northeast-2; then an envelope-encryption walkthrough with
# generate-data-key and openssl. Usage: seed_commands.sh WORKDIR
set -euo pipefail
cd "$1"
ep="$TERN_AP_NORTHEAST_2"

key_id=$(aws kms create-key --endpoint-url "$ep" --region ap-northeast-2 \
    --description "seed example" --query KeyMetadata.KeyId --output text)
aws kms create-alias --endpoint-url "$ep" --region ap-northeast-2 \
    --alias-name alias/ExampleAlias --target-key-id "$key_id"

printf 'Hello from the seed notes.\n' > ExampleSecretFile.txt
aws kms encrypt --endpoint-url "$ep" --key-id alias/ExampleAlias --plaintext fileb://ExampleSecretFile.txt \
    --output text --query CiphertextBlob --region ap-northeast-2 | base64 --decode > ExampleEncryptedFile
aws kms decrypt --endpoint-url "$ep" --ciphertext-blob fileb://ExampleEncryptedFile \
    --output text --query Plaintext --region ap-northeast-2 | base64 --decode > ExamplePlaintextFile
cmp ExampleSecretFile.txt ExamplePlaintextFile
echo "seed encrypt/decrypt: round trip ok" >&2

# Envelope encryption: a data key from KMS encrypts the file locally; only
# the encrypted data key is kept; KMS decrypts it later.
aws kms generate-data-key --endpoint-url "$ep" --region ap-northeast-2 --key-id alias/ExampleAlias \
    --key-spec AES_256 --output json > datakey.json
python - <<'PY'
import base64, json
d = json.load(open("datakey.json"))
open("datakey.bin", "wb").write(base64.b64decode(d["Plaintext"]))
open("datakey.enc", "wb").write(base64.b64decode(d["CiphertextBlob"]))
assert len(base64.b64decode(d["Plaintext"])) == 32
PY
iv=$(openssl rand -hex 16)
openssl enc -aes-256-cbc -K "$(od -An -tx1 -v datakey.bin | tr -d ' \n')" -iv "$iv" \
    -in ExampleSecretFile.txt -out envelope.enc
rm datakey.bin
aws kms decrypt --endpoint-url "$ep" --region ap-northeast-2 --ciphertext-blob fileb://datakey.enc \
    --output text --query Plaintext | base64 --decode > datakey2.bin
openssl enc -d -aes-256-cbc -K "$(od -An -tx1 -v datakey2.bin | tr -d ' \n')" -iv "$iv" \
    -in envelope.enc -out envelope.dec
cmp ExampleSecretFile.txt envelope.dec
echo "envelope encryption with generate-data-key: ok" >&2
