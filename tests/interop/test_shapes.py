"""Every operation tern serves, called with boto3, each raw answer checked
against the output shape of the botocore model installed here (not tern's
copy of it): no member outside the shape, no empty list, map or string
where AWS leaves the member out, errors as {"__type"} plus a message only
when there is one. Whole answers of the kinds AWS has recorded are compared
with ids, ARNs, dates and blobs normalized.

Endpoints come from TERN_US_EAST_1 / TERN_EU_WEST_1 / TERN_AP_NORTHEAST_2
(tests/interop/run.sh starts three regions and sets them)."""

import base64
import json
import os
import re
import subprocess
import sys
import unittest
import uuid

import boto3
import botocore
import botocore.config
import botocore.session
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

ENDPOINTS = {
    "us-east-1": os.environ["TERN_US_EAST_1"],
    "eu-west-1": os.environ["TERN_EU_WEST_1"],
    "ap-northeast-2": os.environ["TERN_AP_NORTHEAST_2"],
}
ACCOUNT = "111122223333"
MODEL = botocore.session.get_session().get_service_model("kms")

# Members AWS returns even when empty (AWS's examples and recorded answers);
# the same rows as tern_server::aws_shape::KEPT_WHEN_EMPTY.
KEPT_WHEN_EMPTY = {
    ("KeyMetadata", "Description"),
    ("MultiRegionConfiguration", "ReplicaKeys"),
    ("ReplicateKeyResponse", "ReplicaTags"),
    ("ListKeysResponse", "Keys"),
    ("ListAliasesResponse", "Aliases"),
    ("ListGrantsResponse", "Grants"),
    ("ListKeyPoliciesResponse", "PolicyNames"),
    ("ListResourceTagsResponse", "Tags"),
    ("ListKeyRotationsResponse", "Rotations"),
    ("DescribeCustomKeyStoresResponse", "CustomKeyStores"),
}

SCALARS = {
    "string": str,
    "blob": str,
    "boolean": bool,
    "integer": int,
    "long": int,
    "timestamp": (int, float),
    "double": (int, float),
    "float": (int, float),
}


def shape_problems(shape, value, path):
    """What in `value` does not fit botocore's `shape`."""
    out = []
    if shape.type_name == "structure":
        if not isinstance(value, dict):
            return ["%s: %r is not a structure" % (path, value)]
        for name, v in value.items():
            p = "%s.%s" % (path, name)
            if name not in shape.members:
                out.append("%s: not a member of %s" % (p, shape.name))
                continue
            required = name in shape.required_members
            empty = v in ("", [], {}, None)
            if empty and not required and (shape.name, name) not in KEPT_WHEN_EMPTY:
                out.append("%s: empty optional member" % p)
                continue
            out += shape_problems(shape.members[name], v, p)
        for name in shape.required_members:
            if name not in value:
                out.append("%s.%s: required member missing" % (path, name))
    elif shape.type_name == "list":
        if not isinstance(value, list):
            return ["%s: %r is not a list" % (path, value)]
        for i, v in enumerate(value):
            out += shape_problems(shape.member, v, "%s[%d]" % (path, i))
    elif shape.type_name == "map":
        if not isinstance(value, dict):
            return ["%s: %r is not a map" % (path, value)]
        for k, v in value.items():
            out += shape_problems(shape.value, v, "%s[%s]" % (path, k))
    else:
        want = SCALARS.get(shape.type_name)
        if want and (not isinstance(value, want) or (want is int and isinstance(value, bool))):
            out.append("%s: %r is not a %s" % (path, value, shape.type_name))
    return out


class Raw:
    """Keeps the last raw answer of a client (status and body)."""

    def __init__(self, client):
        self.status = None
        self.body = None
        client.meta.events.register("after-call.kms", self.keep)

    def keep(self, http_response, **_):
        self.status = http_response.status_code
        self.body = http_response.content


def kms(region="us-east-1"):
    c = boto3.client(
        "kms",
        region_name=region,
        endpoint_url=ENDPOINTS[region],
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )
    return c, Raw(c)


DATES = {"CreationDate", "DeletionDate", "ValidTo", "NextRotationDate", "RotationDate", "ParametersValidTo",
         "LastUpdatedDate", "OnDemandRotationStartDate"}
BLOBS = {"CiphertextBlob", "Plaintext", "PublicKey", "Signature", "Mac", "SharedSecret", "PrivateKeyCiphertextBlob",
         "PrivateKeyPlaintext", "ImportToken", "GrantToken", "GrantId", "Policy", "ReplicaPolicy"}
KEY_ID = re.compile(r"^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")


def norm(v, member=None):
    """`v` with ids, ARNs, dates and blobs replaced by placeholders."""
    if isinstance(v, dict):
        return {k: norm(x, k) for k, x in v.items()}
    if isinstance(v, list):
        return [norm(x) for x in v]
    if member in DATES and isinstance(v, (int, float)):
        return "<date>"
    if member in BLOBS and isinstance(v, str):
        return "<blob>"
    if isinstance(v, str):
        if v.startswith("arn:aws:kms:") and ":key/" in v:
            return "<key-arn>"
        if KEY_ID.match(v):
            return "<key-id>"
        if re.fullmatch(r"[0-9a-f]{64}", v):
            return "<material-id>"
    return v


class ShapeTest(unittest.TestCase):
    covered_ok = set()
    covered_err = set()

    def call(self, c, raw, op, **kw):
        """Calls `op`, checks the raw answer's shape; returns the raw JSON."""
        method = getattr(c, re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower())
        try:
            method(**kw)
            ok = True
        except ClientError:
            ok = False
        body = json.loads(raw.body) if raw.body else {}
        if ok:
            shape = MODEL.operation_model(op).output_shape
            problems = shape_problems(shape, body, op) if shape else (["%s: members %r" % (op, body)] if body else [])
            self.assertEqual(problems, [], "%s %r -> %r" % (op, kw, body))
            self.covered_ok.add(op)
        else:
            self.assertLessEqual(set(body), {"__type", "message"}, body)
            self.assertNotEqual(body.get("message"), "", "an empty message is absent in AWS's answers: %r" % body)
            self.covered_err.add(op)
        return ok, body

    def ok(self, c, raw, op, **kw):
        ok, body = self.call(c, raw, op, **kw)
        self.assertTrue(ok, "%s %r: %r" % (op, kw, body))
        return body

    def err(self, c, raw, op, kind, **kw):
        ok, body = self.call(c, raw, op, **kw)
        self.assertFalse(ok, "%s %r answered %r, expected %s" % (op, kw, body, kind))
        self.assertEqual(body["__type"], kind, body)
        return body.get("message")

    def test_every_operation(self):
        c, raw = kms()
        md = self.ok(c, raw, "CreateKey")
        self.assertEqual(norm(md), {"KeyMetadata": {
            "AWSAccountId": ACCOUNT, "Arn": "<key-arn>", "CreationDate": "<date>",
            "CurrentKeyMaterialId": "<material-id>", "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT", "Description": "",
            "Enabled": True, "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"], "KeyId": "<key-id>", "KeyManager": "CUSTOMER",
            "KeySpec": "SYMMETRIC_DEFAULT", "KeyState": "Enabled", "KeyUsage": "ENCRYPT_DECRYPT", "MultiRegion": False,
            "Origin": "AWS_KMS"}})
        key, arn = md["KeyMetadata"]["KeyId"], md["KeyMetadata"]["Arn"]
        hmac = self.ok(c, raw, "CreateKey", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
        self.assertNotIn("EncryptionAlgorithms", hmac)
        self.assertNotIn("CurrentKeyMaterialId", hmac)
        self.assertEqual(hmac["MacAlgorithms"], ["HMAC_SHA_256"])
        ecc = self.ok(c, raw, "CreateKey", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        agree = self.ok(c, raw, "CreateKey", KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
        external = self.ok(c, raw, "CreateKey", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        self.err(c, raw, "CreateKey", "ValidationException", KeySpec="RSA_2048")
        self.ok(c, raw, "DescribeKey", KeyId=key)
        self.err(c, raw, "DescribeKey", "NotFoundException", KeyId="alias/none-%s" % uuid.uuid4())
        self.assertEqual(
            self.err(c, raw, "DescribeKey", "NotFoundException", KeyId=arn.replace("us-east-1", "eu-west-1")),
            "Invalid arn eu-west-1")
        self.ok(c, raw, "ListKeys", Limit=1)
        self.err(c, raw, "ListKeys", "InvalidMarkerException", Marker="nope")
        self.ok(c, raw, "UpdateKeyDescription", KeyId=key, Description="shapes")
        self.err(c, raw, "UpdateKeyDescription", "NotFoundException", KeyId=str(uuid.uuid4()), Description="x")
        self.ok(c, raw, "DisableKey", KeyId=key)
        self.err(c, raw, "DisableKey", "NotFoundException", KeyId=str(uuid.uuid4()))
        self.ok(c, raw, "EnableKey", KeyId=key)
        self.err(c, raw, "EnableKey", "NotFoundException", KeyId=str(uuid.uuid4()))

        alias = "alias/shapes-%s" % uuid.uuid4().hex[:8]
        self.ok(c, raw, "CreateAlias", AliasName=alias, TargetKeyId=key)
        self.err(c, raw, "CreateAlias", "AlreadyExistsException", AliasName=alias, TargetKeyId=key)
        self.ok(c, raw, "UpdateAlias", AliasName=alias, TargetKeyId=key)
        self.err(c, raw, "UpdateAlias", "NotFoundException", AliasName=alias + "-none", TargetKeyId=key)
        self.assertEqual(self.ok(c, raw, "ListAliases", KeyId=hmac["KeyId"]), {"Aliases": [], "Truncated": False})
        self.err(c, raw, "ListAliases", "NotFoundException", KeyId=str(uuid.uuid4()))
        self.ok(c, raw, "DeleteAlias", AliasName=alias)
        self.err(c, raw, "DeleteAlias", "NotFoundException", AliasName=alias)
        self.ok(c, raw, "TagResource", KeyId=key, Tags=[{"TagKey": "t", "TagValue": ""}])
        self.assertEqual(
            self.err(c, raw, "TagResource", "TagException", KeyId=key, Tags=[{"TagKey": "AWS:x", "TagValue": "v"}]),
            "Tags beginning with aws: are reserved")
        self.assertEqual(self.ok(c, raw, "ListResourceTags", KeyId=key),
                         {"Tags": [{"TagKey": "t", "TagValue": ""}], "Truncated": False})
        self.ok(c, raw, "UntagResource", KeyId=key, TagKeys=["t"])
        self.err(c, raw, "UntagResource", "NotFoundException", KeyId=str(uuid.uuid4()), TagKeys=["t"])
        self.assertEqual(self.ok(c, raw, "ListResourceTags", KeyId=key), {"Tags": [], "Truncated": False})
        self.err(c, raw, "ListResourceTags", "NotFoundException", KeyId=str(uuid.uuid4()))
        policy = self.ok(c, raw, "GetKeyPolicy", KeyId=key)["Policy"]
        self.err(c, raw, "GetKeyPolicy", "NotFoundException", KeyId=str(uuid.uuid4()))
        self.ok(c, raw, "PutKeyPolicy", KeyId=key, Policy=policy)
        self.err(c, raw, "PutKeyPolicy", "MalformedPolicyDocumentException", KeyId=key, Policy="{")
        self.ok(c, raw, "ListKeyPolicies", KeyId=key)
        self.err(c, raw, "ListKeyPolicies", "NotFoundException", KeyId=str(uuid.uuid4()))

        enc = self.ok(c, raw, "Encrypt", KeyId=key, Plaintext=b"shapes")
        self.assertEqual(norm(enc), {"CiphertextBlob": "<blob>", "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
                                     "KeyId": "<key-arn>"})
        self.err(c, raw, "Encrypt", "InvalidKeyUsageException", KeyId=ecc, Plaintext=b"x")
        blob = base64.b64decode(enc["CiphertextBlob"])
        dec = self.ok(c, raw, "Decrypt", CiphertextBlob=blob)
        self.assertEqual(norm(dec), {"EncryptionAlgorithm": "SYMMETRIC_DEFAULT", "KeyId": "<key-arn>",
                                     "KeyMaterialId": "<material-id>", "Plaintext": "<blob>"})
        self.assertIsNone(self.err(c, raw, "Decrypt", "InvalidCiphertextException", CiphertextBlob=b"\x07" * 80))
        self.ok(c, raw, "ReEncrypt", CiphertextBlob=blob, DestinationKeyId=key)
        self.err(c, raw, "ReEncrypt", "InvalidCiphertextException", CiphertextBlob=b"\x07" * 80, DestinationKeyId=key)
        self.ok(c, raw, "GenerateDataKey", KeyId=key, KeySpec="AES_256")
        self.err(c, raw, "GenerateDataKey", "ValidationException", KeyId=key)
        self.ok(c, raw, "GenerateDataKeyWithoutPlaintext", KeyId=key, NumberOfBytes=16)
        self.err(c, raw, "GenerateDataKeyWithoutPlaintext", "NotFoundException", KeyId=str(uuid.uuid4()),
                 NumberOfBytes=16)
        self.ok(c, raw, "GenerateDataKeyPair", KeyId=key, KeyPairSpec="ECC_NIST_P256")
        self.err(c, raw, "GenerateDataKeyPair", "NotFoundException", KeyId=str(uuid.uuid4()),
                 KeyPairSpec="ECC_NIST_P256")
        self.ok(c, raw, "GenerateDataKeyPairWithoutPlaintext", KeyId=key, KeyPairSpec="ECC_NIST_P256")
        self.err(c, raw, "GenerateDataKeyPairWithoutPlaintext", "NotFoundException", KeyId=str(uuid.uuid4()),
                 KeyPairSpec="ECC_NIST_P256")
        self.ok(c, raw, "GenerateRandom", NumberOfBytes=8)
        self.err(c, raw, "GenerateRandom", "ValidationException", NumberOfBytes=1025)

        self.ok(c, raw, "EnableKeyRotation", KeyId=key)
        self.err(c, raw, "EnableKeyRotation", "UnsupportedOperationException", KeyId=ecc)
        st = self.ok(c, raw, "GetKeyRotationStatus", KeyId=arn)
        self.assertEqual(st["KeyId"], key, "GetKeyRotationStatus answers the bare key id")
        self.err(c, raw, "GetKeyRotationStatus", "NotFoundException", KeyId=str(uuid.uuid4()))
        self.ok(c, raw, "DisableKeyRotation", KeyId=key)
        self.err(c, raw, "DisableKeyRotation", "NotFoundException", KeyId=str(uuid.uuid4()))
        self.assertEqual(self.ok(c, raw, "RotateKeyOnDemand", KeyId=key), {"KeyId": arn},
                         "RotateKeyOnDemand answers the key ARN")
        self.assertIsNone(self.err(c, raw, "RotateKeyOnDemand", "UnsupportedOperationException", KeyId=ecc))
        rotations = self.ok(c, raw, "ListKeyRotations", KeyId=key)
        self.assertEqual(norm(rotations), {"Rotations": [{
            "KeyId": "<key-id>", "KeyMaterialId": "<material-id>", "KeyMaterialState": "CURRENT",
            "RotationDate": "<date>", "RotationType": "ON_DEMAND"}], "Truncated": False})
        self.err(c, raw, "ListKeyRotations", "NotFoundException", KeyId=str(uuid.uuid4()))

        me = "arn:aws:iam::%s:user/admin" % ACCOUNT
        g = self.ok(c, raw, "CreateGrant", KeyId=key, GranteePrincipal=me, RetiringPrincipal=me,
                    Operations=["Decrypt"], Constraints={"EncryptionContextSubset": {"a": "b"}})
        self.err(c, raw, "CreateGrant", "NotFoundException", KeyId=str(uuid.uuid4()), GranteePrincipal=me,
                 Operations=["Decrypt"])
        grants = self.ok(c, raw, "ListGrants", KeyId=key)
        entry = grants["Grants"][0]
        self.assertEqual(entry["KeyId"], arn, "a grant's KeyId is the key ARN")
        self.assertEqual(entry["Constraints"], {"EncryptionContextSubset": {"a": "b"}})
        self.assertNotIn("Name", entry)
        self.err(c, raw, "ListGrants", "NotFoundException", KeyId=str(uuid.uuid4()))
        self.ok(c, raw, "ListRetirableGrants", RetiringPrincipal=me)
        self.err(c, raw, "ListRetirableGrants", "AccessDeniedException",
                 RetiringPrincipal="arn:aws:iam::444455556666:root")
        self.ok(c, raw, "RetireGrant", GrantToken=g["GrantToken"])
        self.err(c, raw, "RetireGrant", "NotFoundException", KeyId=arn, GrantId="0" * 64)
        g2 = self.ok(c, raw, "CreateGrant", KeyId=key, GranteePrincipal=me, Operations=["Encrypt"])
        self.ok(c, raw, "RevokeGrant", KeyId=key, GrantId=g2["GrantId"])
        self.err(c, raw, "RevokeGrant", "NotFoundException", KeyId=key, GrantId=g2["GrantId"])

        pk = self.ok(c, raw, "GetPublicKey", KeyId=ecc)
        self.assertEqual(set(pk), {"CustomerMasterKeySpec", "KeyId", "KeySpec", "KeyUsage", "PublicKey",
                                   "SigningAlgorithms"})
        self.err(c, raw, "GetPublicKey", "UnsupportedOperationException", KeyId=key)
        sig = self.ok(c, raw, "Sign", KeyId=ecc, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
        self.err(c, raw, "Sign", "ValidationException", KeyId=ecc, Message=b"m", MessageType="DIGEST",
                 SigningAlgorithm="ECDSA_SHA_256")
        sig = base64.b64decode(sig["Signature"])
        self.ok(c, raw, "Verify", KeyId=ecc, Message=b"m", Signature=sig, SigningAlgorithm="ECDSA_SHA_256")
        self.assertIsNone(self.err(c, raw, "Verify", "KMSInvalidSignatureException", KeyId=ecc, Message=b"x",
                                   Signature=sig, SigningAlgorithm="ECDSA_SHA_256"))
        mac = self.ok(c, raw, "GenerateMac", KeyId=hmac["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")
        self.assertEqual(
            self.err(c, raw, "GenerateMac", "InvalidKeyUsageException", KeyId=hmac["KeyId"], Message=b"m",
                     MacAlgorithm="HMAC_SHA_512"),
            "Algorithm HMAC_SHA_512 is incompatible with key spec HMAC_256.")
        mac = base64.b64decode(mac["Mac"])
        self.ok(c, raw, "VerifyMac", KeyId=hmac["KeyId"], Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256")
        self.assertIsNone(self.err(c, raw, "VerifyMac", "KMSInvalidMacException", KeyId=hmac["KeyId"], Message=b"x",
                                   Mac=mac, MacAlgorithm="HMAC_SHA_256"))
        peer = base64.b64decode(self.ok(c, raw, "GetPublicKey", KeyId=agree)["PublicKey"])
        self.ok(c, raw, "DeriveSharedSecret", KeyId=agree, KeyAgreementAlgorithm="ECDH", PublicKey=peer)
        self.err(c, raw, "DeriveSharedSecret", "InvalidKeyUsageException", KeyId=ecc, KeyAgreementAlgorithm="ECDH",
                 PublicKey=peer)

        params = self.ok(c, raw, "GetParametersForImport", KeyId=external, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                         WrappingKeySpec="RSA_2048")
        self.err(c, raw, "GetParametersForImport", "UnsupportedOperationException", KeyId=key,
                 WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
        public = serialization.load_der_public_key(base64.b64decode(params["PublicKey"]))
        oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        imported = self.ok(c, raw, "ImportKeyMaterial", KeyId=external,
                           ImportToken=base64.b64decode(params["ImportToken"]),
                           EncryptedKeyMaterial=public.encrypt(os.urandom(32), oaep),
                           ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        self.assertEqual(norm(imported), {"KeyId": "<key-arn>", "KeyMaterialId": "<material-id>"})
        self.err(c, raw, "ImportKeyMaterial", "InvalidImportTokenException", KeyId=external,
                 ImportToken=b"bad", EncryptedKeyMaterial=b"\x01" * 256,
                 ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        self.err(c, raw, "DeleteImportedKeyMaterial", "UnsupportedOperationException", KeyId=key)
        self.assertEqual(norm(self.ok(c, raw, "DeleteImportedKeyMaterial", KeyId=external)),
                         {"KeyId": "<key-arn>", "KeyMaterialId": "<material-id>"})

        d = self.ok(c, raw, "ScheduleKeyDeletion", KeyId=hmac["KeyId"], PendingWindowInDays=7)
        self.assertEqual(norm(d), {"DeletionDate": "<date>", "KeyId": "<key-arn>", "KeyState": "PendingDeletion",
                                   "PendingWindowInDays": 7})
        self.err(c, raw, "ScheduleKeyDeletion", "ValidationException", KeyId=key, PendingWindowInDays=1)
        self.assertEqual(self.ok(c, raw, "CancelKeyDeletion", KeyId=hmac["KeyId"]), {"KeyId": hmac["Arn"]})
        self.err(c, raw, "CancelKeyDeletion", "KMSInvalidStateException", KeyId=hmac["KeyId"])

        # Multi-Region: the replica answers as AWS's example, and the replica
        # Region finds it right after.
        mrk = self.ok(c, raw, "CreateKey", MultiRegion=True)["KeyMetadata"]
        self.assertEqual(mrk["MultiRegionConfiguration"]["ReplicaKeys"], [])
        rep = self.ok(c, raw, "ReplicateKey", KeyId=mrk["KeyId"], ReplicaRegion="eu-west-1")
        self.assertEqual(rep["ReplicaTags"], [])
        self.assertEqual(rep["ReplicaKeyMetadata"]["KeyState"], "Creating")
        self.err(c, raw, "ReplicateKey", "AlreadyExistsException", KeyId=mrk["KeyId"], ReplicaRegion="eu-west-1")
        eu, eu_raw = kms("eu-west-1")
        state = self.ok(eu, eu_raw, "DescribeKey", KeyId=mrk["KeyId"])["KeyMetadata"]["KeyState"]
        self.assertIn(state, ("Creating", "Enabled"))
        self.ok(c, raw, "UpdatePrimaryRegion", KeyId=mrk["KeyId"], PrimaryRegion="eu-west-1")
        cfg = self.ok(eu, eu_raw, "DescribeKey", KeyId=mrk["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]
        self.assertEqual(cfg["MultiRegionKeyType"], "PRIMARY")
        self.err(c, raw, "UpdatePrimaryRegion", "UnsupportedOperationException", KeyId=key,
                 PrimaryRegion="eu-west-1")

        served = set(MODEL.operation_names) - {
            # Custom key stores, key last usage and the ML-KEM operations:
            # not served (README, compatibility table).
            "ConnectCustomKeyStore", "CreateCustomKeyStore", "DeleteCustomKeyStore", "DescribeCustomKeyStores",
            "DisconnectCustomKeyStore", "UpdateCustomKeyStore", "GetKeyLastUsage", "Encapsulate", "Decapsulate",
        }
        self.assertEqual(served - self.covered_err, set(), "operations without a checked error answer")
        self.assertEqual(served - self.covered_ok, set(),
                         "operations without a checked success answer")


class GeneratedShapesTest(unittest.TestCase):
    def test_tern_copy_of_the_model_is_current(self):
        """The same botocore as the one tern's copy came from: identical.
        A newer one (AWS adds members over time): reported, not a failure;
        test_every_operation checks against the installed model anyway."""
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
        path = os.path.join(root, "crates", "tern-server", "src", "aws_output_shapes.json")
        with open(path) as f:
            source = json.load(f)["source"]
        r = subprocess.run([sys.executable, os.path.join(root, "scripts", "gen-aws-shapes.py"), "--check"],
                           capture_output=True, text=True)
        if r.returncode != 0 and not source.startswith("botocore %s," % botocore.__version__):
            self.skipTest("tern's copy is from %s, botocore %s is installed: run scripts/gen-aws-shapes.py "
                          "to take its changes" % (source, botocore.__version__))
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
