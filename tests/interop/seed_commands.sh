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

# Rotation of imported key material with aws-cli (ImportType
# NEW_KEY_MATERIAL, then rotate-key-on-demand): the material is wrapped by
# openssl with the wrapping public key, as AWS's guide does.
import_material() { # KEY_ID MATERIAL_FILE [extra aws args...]
    local key="$1" material="$2"
    shift 2
    aws kms get-parameters-for-import --endpoint-url "$ep" --region ap-northeast-2 --key-id "$key" \
        --wrapping-algorithm RSAES_OAEP_SHA_256 --wrapping-key-spec RSA_2048 --output json > params.json
    python -c 'import base64,json; d=json.load(open("params.json")); open("wrap.der","wb").write(base64.b64decode(d["PublicKey"])); open("token.bin","wb").write(base64.b64decode(d["ImportToken"]))'
    openssl pkeyutl -encrypt -pubin -keyform DER -inkey wrap.der -in "$material" -out wrapped.bin \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256
    aws kms import-key-material --endpoint-url "$ep" --region ap-northeast-2 --key-id "$key" \
        --encrypted-key-material fileb://wrapped.bin --import-token fileb://token.bin \
        --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE --query KeyMaterialId --output text "$@"
}
ext=$(aws kms create-key --endpoint-url "$ep" --region ap-northeast-2 --origin EXTERNAL \
    --query KeyMetadata.KeyId --output text)
openssl rand 32 > material1.bin
openssl rand 32 > material2.bin
m1=$(import_material "$ext" material1.bin)
aws kms encrypt --endpoint-url "$ep" --region ap-northeast-2 --key-id "$ext" --plaintext fileb://ExampleSecretFile.txt \
    --output text --query CiphertextBlob | base64 --decode > under1.bin
m2=$(import_material "$ext" material2.bin --import-type NEW_KEY_MATERIAL)
[[ "$(aws kms describe-key --endpoint-url "$ep" --region ap-northeast-2 --key-id "$ext" \
    --query KeyMetadata.CurrentKeyMaterialId --output text)" == "$m1" ]]
aws kms rotate-key-on-demand --endpoint-url "$ep" --region ap-northeast-2 --key-id "$ext" >/dev/null
[[ "$(aws kms describe-key --endpoint-url "$ep" --region ap-northeast-2 --key-id "$ext" \
    --query KeyMetadata.CurrentKeyMaterialId --output text)" == "$m2" ]]
[[ "$(aws kms list-key-rotations --endpoint-url "$ep" --region ap-northeast-2 --key-id "$ext" \
    --include-key-material ALL_KEY_MATERIAL --query 'Rotations[].KeyMaterialState' --output text)" == "NON_CURRENT	CURRENT" ]]
aws kms decrypt --endpoint-url "$ep" --region ap-northeast-2 --ciphertext-blob fileb://under1.bin \
    --output text --query Plaintext | base64 --decode | cmp - ExampleSecretFile.txt
aws kms delete-imported-key-material --endpoint-url "$ep" --region ap-northeast-2 --key-id "$ext" \
    --key-material-id "$m1" >/dev/null
if aws kms decrypt --endpoint-url "$ep" --region ap-northeast-2 --ciphertext-blob fileb://under1.bin 2>err.txt >/dev/null; then
    echo "a ciphertext under deleted material decrypted" >&2
    exit 1
fi
grep -q KMSInvalidStateException err.txt
echo "imported key material: NEW_KEY_MATERIAL, rotate, delete one material: ok" >&2
