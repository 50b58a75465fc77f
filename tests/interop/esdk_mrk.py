"""The AWS Encryption SDK for Python with tern's Multi-Region keys: encrypt
under the us-east-1 primary with an MRK-aware keyring, stop us-east-1, then
decrypt with the ap-northeast-2 replica's ARN, which only ap-northeast-2 is
asked about. Run by tests/interop/run.sh (TERN_* endpoints, the us-east-1
process id in TERN_US_EAST_1_PID)."""

import os
import signal
import socket
import time
import urllib.parse

import aws_encryption_sdk
import boto3
import botocore.config
from aws_encryption_sdk import CommitmentPolicy

ENDPOINTS = {
    "us-east-1": os.environ["TERN_US_EAST_1"],
    "ap-northeast-2": os.environ["TERN_AP_NORTHEAST_2"],
}


def kms(region):
    return boto3.client(
        "kms",
        region_name=region,
        endpoint_url=ENDPOINTS[region],
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def eventually(fn, secs=20):
    deadline = time.time() + secs
    while True:
        try:
            return fn()
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def port_closed(endpoint):
    u = urllib.parse.urlparse(endpoint)
    try:
        socket.create_connection((u.hostname, u.port), timeout=0.5).close()
        return False
    except OSError:
        return True


def main():
    us, ap = kms("us-east-1"), kms("ap-northeast-2")
    md = us.create_key(MultiRegion=True, Description="Encryption SDK interop")["KeyMetadata"]
    us.replicate_key(KeyId=md["KeyId"], ReplicaRegion="ap-northeast-2")
    primary_arn = md["Arn"]
    replica_arn = primary_arn.replace(":us-east-1:", ":ap-northeast-2:")
    eventually(lambda: ap.describe_key(KeyId=replica_arn))

    plaintext = os.urandom(3000)
    context = {"purpose": "tern interop", "region": "us-east-1"}
    esdk = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )

    try:
        from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
        from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
        from aws_cryptographic_material_providers.mpl.models import CreateAwsKmsMrkKeyringInput

        mpl = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())

        def keyring(arn, client):
            return mpl.create_aws_kms_mrk_keyring(input=CreateAwsKmsMrkKeyringInput(kms_key_id=arn, kms_client=client))

        ciphertext, _ = esdk.encrypt(source=plaintext, keyring=keyring(primary_arn, us), encryption_context=context)
        how = "MRK-aware keyring (aws-cryptographic-material-providers)"

        def decrypt(ct):
            return esdk.decrypt(source=ct, keyring=keyring(replica_arn, ap))

    except ImportError:
        # Without the material providers library: the MRK-aware master key
        # provider, each step's clients pointed at its region by
        # AWS_ENDPOINT_URL_KMS.
        from aws_encryption_sdk.key_providers.kms import MRKAwareStrictAwsKmsMasterKeyProvider

        os.environ["AWS_ENDPOINT_URL_KMS"] = ENDPOINTS["us-east-1"]
        ciphertext, _ = esdk.encrypt(
            source=plaintext,
            key_provider=MRKAwareStrictAwsKmsMasterKeyProvider(key_ids=[primary_arn]),
            encryption_context=context,
        )
        how = "MRK-aware strict master key provider"

        def decrypt(ct):
            os.environ["AWS_ENDPOINT_URL_KMS"] = ENDPOINTS["ap-northeast-2"]
            return esdk.decrypt(source=ct, key_provider=MRKAwareStrictAwsKmsMasterKeyProvider(key_ids=[replica_arn]))

    # Stop us-east-1, and make sure it is gone.
    os.kill(int(os.environ["TERN_US_EAST_1_PID"]), signal.SIGTERM)
    eventually(lambda: None if port_closed(ENDPOINTS["us-east-1"]) else (_ for _ in ()).throw(RuntimeError("up")))

    decrypted, header = decrypt(ciphertext)
    assert decrypted == plaintext, "the Encryption SDK decrypted the wrong plaintext"
    for k, v in context.items():
        assert header.encryption_context.get(k) == v, header.encryption_context
    print(f"Encryption SDK ({how}): encrypted under {primary_arn}, decrypted with {replica_arn} "
          "while us-east-1 was stopped")


if __name__ == "__main__":
    main()
