"""boto3 against tern dev over the AWS JSON 1.1 API: every supported
operation's success path and its main errors (HTTP status and __type).

Endpoints come from TERN_US_EAST_1 / TERN_EU_WEST_1 / TERN_AP_NORTHEAST_2
(tests/interop/run.sh starts tern dev and sets them)."""

import base64
import json
import os
import time
import unittest
import uuid

import boto3
import botocore.config
from botocore.exceptions import ClientError

ENDPOINTS = {
    "us-east-1": os.environ["TERN_US_EAST_1"],
    "eu-west-1": os.environ["TERN_EU_WEST_1"],
    "ap-northeast-2": os.environ["TERN_AP_NORTHEAST_2"],
}
ACCOUNT = "111122223333"


def kms(region="us-east-1", **creds):
    return boto3.client(
        "kms",
        region_name=region,
        endpoint_url=ENDPOINTS[region],
        config=botocore.config.Config(retries={"max_attempts": 1}),
        **creds,
    )


class Boto3Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = kms()

    def assertError(self, exc_type, status, fn, *args, **kwargs):
        with self.assertRaises(ClientError) as cm:
            fn(*args, **kwargs)
        err = cm.exception.response
        self.assertEqual(err["Error"]["Code"], exc_type, err)
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], status, err)
        return err

    def new_key(self, c=None, **kw):
        return (c or self.c).create_key(**kw)["KeyMetadata"]

    # --- keys -------------------------------------------------------------
    def test_create_describe_list_enable_disable(self):
        md = self.new_key(Description="boto3 key", Tags=[{"TagKey": "team", "TagValue": "a"}])
        self.assertEqual(md["KeySpec"], "SYMMETRIC_DEFAULT")
        self.assertEqual(md["KeyUsage"], "ENCRYPT_DECRYPT")
        self.assertEqual(md["KeyState"], "Enabled")
        self.assertEqual(md["AWSAccountId"], ACCOUNT)
        self.assertTrue(md["Arn"].startswith("arn:aws:kms:us-east-1:%s:key/" % ACCOUNT))
        # Timestamps are epoch seconds: boto3 parses them into datetimes.
        self.assertLess(abs(md["CreationDate"].timestamp() - time.time()), 300)
        got = self.c.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
        self.assertEqual(got["Description"], "boto3 key")
        ids = [k["KeyId"] for k in self.c.get_paginator("list_keys").paginate().build_full_result()["Keys"]]
        self.assertIn(md["KeyId"], ids)
        self.c.disable_key(KeyId=md["KeyId"])
        self.assertEqual(self.c.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"], "Disabled")
        self.assertError("DisabledException", 400, self.c.encrypt, KeyId=md["KeyId"], Plaintext=b"x")
        self.c.enable_key(KeyId=md["KeyId"])
        self.c.update_key_description(KeyId=md["KeyId"], Description="renamed")
        self.assertEqual(self.c.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["Description"], "renamed")

    def test_imported_key_material_rotates(self):
        """ImportType NEW_KEY_MATERIAL, RotateKeyOnDemand, old ciphertexts
        decrypt, one material deleted: its ciphertexts fail, others work."""
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding

        key = self.new_key(Origin="EXTERNAL")["KeyId"]

        def import_material(material, **kw):
            p = self.c.get_parameters_for_import(
                KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
            public = serialization.load_der_public_key(p["PublicKey"])
            oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
            r = self.c.import_key_material(KeyId=key, ImportToken=p["ImportToken"],
                                           EncryptedKeyMaterial=public.encrypt(material, oaep),
                                           ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", **kw)
            return r["KeyMaterialId"]

        first = import_material(os.urandom(32))
        old = self.c.encrypt(KeyId=key, Plaintext=b"old")["CiphertextBlob"]
        err = self.assertError("KMSInvalidStateException", 400, self.c.rotate_key_on_demand, KeyId=key)
        self.assertEqual(err["Error"]["Message"],
                         "No available key material pending rotation for the key: %s." % self.c.describe_key(
                             KeyId=key)["KeyMetadata"]["Arn"])
        second = import_material(os.urandom(32), ImportType="NEW_KEY_MATERIAL",
                                 KeyMaterialDescription="second")
        self.assertError("KMSInvalidStateException", 400, import_material, os.urandom(32),
                         ImportType="NEW_KEY_MATERIAL")
        self.c.rotate_key_on_demand(KeyId=key)
        self.assertEqual(self.c.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"], second)
        rotations = self.c.list_key_rotations(KeyId=key, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
        for r in rotations:
            r.pop("RotationDate", None)
        self.assertEqual(rotations, [
            {"KeyId": key, "KeyMaterialId": first, "ImportState": "IMPORTED", "KeyMaterialState": "NON_CURRENT",
             "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"},
            {"KeyId": key, "KeyMaterialId": second, "KeyMaterialDescription": "second", "ImportState": "IMPORTED",
             "KeyMaterialState": "CURRENT", "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
             "RotationType": "ON_DEMAND"},
        ])
        new = self.c.encrypt(KeyId=key, Plaintext=b"new")["CiphertextBlob"]
        self.assertEqual(self.c.decrypt(CiphertextBlob=old)["Plaintext"], b"old")
        self.assertEqual(self.c.delete_imported_key_material(KeyId=key, KeyMaterialId=first)["KeyMaterialId"], first)
        self.assertError("KMSInvalidStateException", 400, self.c.decrypt, CiphertextBlob=old)
        self.assertEqual(self.c.decrypt(CiphertextBlob=new)["Plaintext"], b"new")
        self.assertEqual(self.c.describe_key(KeyId=key)["KeyMetadata"]["KeyState"], "Enabled")

    def test_key_errors(self):
        self.assertError("NotFoundException", 400, self.c.describe_key, KeyId=str(uuid.uuid4()))
        self.assertError("NotFoundException", 400, self.c.describe_key, KeyId="alias/does-not-exist")
        self.assertError(
            "ValidationException", 400, self.c.create_key, KeySpec="SYMMETRIC_DEFAULT", KeyUsage="SIGN_VERIFY"
        )

    def test_schedule_and_cancel_deletion(self):
        md = self.new_key()
        self.assertError(
            "ValidationException", 400, self.c.schedule_key_deletion, KeyId=md["KeyId"], PendingWindowInDays=3
        )
        r = self.c.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=7)
        self.assertEqual(r["KeyState"], "PendingDeletion")
        self.assertEqual(r["PendingWindowInDays"], 7)
        self.assertError("KMSInvalidStateException", 400, self.c.encrypt, KeyId=md["KeyId"], Plaintext=b"x")
        self.assertError(
            "KMSInvalidStateException", 400, self.c.schedule_key_deletion, KeyId=md["KeyId"], PendingWindowInDays=7
        )
        self.c.cancel_key_deletion(KeyId=md["KeyId"])
        self.assertEqual(self.c.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"], "Disabled")

    # --- data plane ----------------------------------------------------------
    def test_encrypt_decrypt_reencrypt(self):
        a, b = self.new_key(), self.new_key()
        ctx = {"purpose": "test", "n": "1"}
        ct = self.c.encrypt(KeyId=a["KeyId"], Plaintext=b"secret", EncryptionContext=ctx)
        self.assertEqual(ct["KeyId"], a["Arn"])
        self.assertEqual(ct["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
        pt = self.c.decrypt(CiphertextBlob=ct["CiphertextBlob"], EncryptionContext=ctx)
        self.assertEqual(pt["Plaintext"], b"secret")
        self.assertEqual(pt["KeyId"], a["Arn"])
        self.assertError(
            "InvalidCiphertextException", 400, self.c.decrypt, CiphertextBlob=ct["CiphertextBlob"]
        )
        self.assertError(
            "IncorrectKeyException",
            400,
            self.c.decrypt,
            CiphertextBlob=ct["CiphertextBlob"],
            EncryptionContext=ctx,
            KeyId=b["KeyId"],
        )
        re = self.c.re_encrypt(
            CiphertextBlob=ct["CiphertextBlob"],
            SourceEncryptionContext=ctx,
            DestinationKeyId=b["KeyId"],
        )
        self.assertEqual(re["KeyId"], b["Arn"])
        self.assertEqual(re["SourceKeyId"], a["Arn"])
        self.assertEqual(self.c.decrypt(CiphertextBlob=re["CiphertextBlob"])["Plaintext"], b"secret")
        self.assertError("ValidationException", 400, self.c.encrypt, KeyId=a["KeyId"], Plaintext=b"x" * 4097)
        self.assertError(
            "DryRunOperationException", 400, self.c.encrypt, KeyId=a["KeyId"], Plaintext=b"x", DryRun=True
        )

    def test_data_keys_and_random(self):
        k = self.new_key()
        dk = self.c.generate_data_key(KeyId=k["KeyId"], KeySpec="AES_256")
        self.assertEqual(len(dk["Plaintext"]), 32)
        self.assertEqual(self.c.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"], dk["Plaintext"])
        dk = self.c.generate_data_key(KeyId=k["KeyId"], NumberOfBytes=16)
        self.assertEqual(len(dk["Plaintext"]), 16)
        wp = self.c.generate_data_key_without_plaintext(KeyId=k["KeyId"], KeySpec="AES_128")
        self.assertNotIn("Plaintext", wp)
        self.assertEqual(len(self.c.decrypt(CiphertextBlob=wp["CiphertextBlob"])["Plaintext"]), 16)
        self.assertError("ValidationException", 400, self.c.generate_data_key, KeyId=k["KeyId"])
        self.assertEqual(len(self.c.generate_random(NumberOfBytes=64)["Plaintext"]), 64)
        self.assertError("ValidationException", 400, self.c.generate_random, NumberOfBytes=2048)

    # --- aliases and tags ---------------------------------------------------
    def test_aliases(self):
        a, b = self.new_key(), self.new_key()
        name = "alias/boto3-%s" % uuid.uuid4().hex[:8]
        self.c.create_alias(AliasName=name, TargetKeyId=a["KeyId"])
        self.assertEqual(self.c.describe_key(KeyId=name)["KeyMetadata"]["KeyId"], a["KeyId"])
        self.assertError("AlreadyExistsException", 400, self.c.create_alias, AliasName=name, TargetKeyId=b["KeyId"])
        self.assertError(
            "InvalidAliasNameException", 400, self.c.create_alias, AliasName="alias/aws/x", TargetKeyId=a["KeyId"]
        )
        self.c.update_alias(AliasName=name, TargetKeyId=b["KeyId"])
        listed = self.c.list_aliases(KeyId=b["KeyId"])["Aliases"]
        self.assertEqual([x["AliasName"] for x in listed], [name])
        self.c.delete_alias(AliasName=name)
        self.assertError("NotFoundException", 400, self.c.delete_alias, AliasName=name)

    def test_tags(self):
        k = self.new_key()
        self.c.tag_resource(KeyId=k["KeyId"], Tags=[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "b", "TagValue": "2"}])
        self.c.untag_resource(KeyId=k["KeyId"], TagKeys=["a"])
        tags = self.c.list_resource_tags(KeyId=k["KeyId"])["Tags"]
        self.assertEqual(tags, [{"TagKey": "b", "TagValue": "2"}])
        self.assertError(
            "TagException", 400, self.c.tag_resource, KeyId=k["KeyId"], Tags=[{"TagKey": "aws:x", "TagValue": "1"}]
        )

    # --- rotation -------------------------------------------------------------
    def test_rotation(self):
        k = self.new_key()
        self.assertFalse(self.c.get_key_rotation_status(KeyId=k["KeyId"])["KeyRotationEnabled"])
        self.c.enable_key_rotation(KeyId=k["KeyId"], RotationPeriodInDays=90)
        st = self.c.get_key_rotation_status(KeyId=k["KeyId"])
        self.assertTrue(st["KeyRotationEnabled"])
        self.assertEqual(st["RotationPeriodInDays"], 90)
        self.assertError(
            "ValidationException", 400, self.c.enable_key_rotation, KeyId=k["KeyId"], RotationPeriodInDays=3000
        )
        ct = self.c.encrypt(KeyId=k["KeyId"], Plaintext=b"before")["CiphertextBlob"]
        self.c.rotate_key_on_demand(KeyId=k["KeyId"])
        rotations = self.c.list_key_rotations(KeyId=k["KeyId"])["Rotations"]
        self.assertEqual(len(rotations), 1)
        self.assertEqual(rotations[0]["RotationType"], "ON_DEMAND")
        self.assertEqual(self.c.decrypt(CiphertextBlob=ct)["Plaintext"], b"before")
        self.c.disable_key_rotation(KeyId=k["KeyId"])

    # --- policies and grants -------------------------------------------------
    def test_key_policy(self):
        k = self.new_key()
        self.assertEqual(self.c.list_key_policies(KeyId=k["KeyId"])["PolicyNames"], ["default"])
        pol = json.loads(self.c.get_key_policy(KeyId=k["KeyId"], PolicyName="default")["Policy"])
        self.assertEqual(pol["Version"], "2012-10-17")
        new = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "root",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::%s:root" % ACCOUNT},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        }
        self.c.put_key_policy(KeyId=k["KeyId"], PolicyName="default", Policy=json.dumps(new))
        self.assertEqual(json.loads(self.c.get_key_policy(KeyId=k["KeyId"])["Policy"]), new)
        self.assertError(
            "MalformedPolicyDocumentException", 400, self.c.put_key_policy,
            KeyId=k["KeyId"], PolicyName="default", Policy="{not json",
        )

    def test_access_denied_for_another_account(self):
        k = self.new_key()
        carol = kms(
            aws_access_key_id=os.environ["TERN_CAROL_ACCESS_KEY_ID"],
            aws_secret_access_key=os.environ["TERN_CAROL_SECRET_ACCESS_KEY"],
        )
        self.assertError("AccessDeniedException", 400, carol.encrypt, KeyId=k["Arn"], Plaintext=b"x")

    def test_grants(self):
        k = self.new_key()
        g = self.c.create_grant(
            KeyId=k["KeyId"],
            GranteePrincipal="arn:aws:iam::%s:user/bob" % ACCOUNT,
            Operations=["Encrypt", "Decrypt"],
            Constraints={"EncryptionContextSubset": {"app": "x"}},
            Name="boto3",
        )
        self.assertIn("GrantId", g)
        self.assertIn("GrantToken", g)
        grants = self.c.list_grants(KeyId=k["KeyId"])["Grants"]
        self.assertEqual([x["GrantId"] for x in grants], [g["GrantId"]])
        self.c.revoke_grant(KeyId=k["KeyId"], GrantId=g["GrantId"])
        self.assertEqual(self.c.list_grants(KeyId=k["KeyId"])["Grants"], [])
        self.assertError("NotFoundException", 400, self.c.revoke_grant, KeyId=k["KeyId"], GrantId="0" * 64)
        self.assertEqual(self.c.list_retirable_grants(RetiringPrincipal="arn:aws:iam::%s:user/bob" % ACCOUNT)["Grants"], [])
        admin = "arn:aws:iam::%s:user/admin" % ACCOUNT
        g2 = self.c.create_grant(
            KeyId=k["KeyId"], GranteePrincipal=admin, RetiringPrincipal=admin, Operations=["Decrypt"]
        )
        retirable = self.c.list_retirable_grants(RetiringPrincipal=admin)["Grants"]
        self.assertIn(g2["GrantId"], [x["GrantId"] for x in retirable])
        self.c.retire_grant(KeyId=k["Arn"], GrantId=g2["GrantId"])
        self.assertEqual(self.c.list_grants(KeyId=k["KeyId"])["Grants"], [])

    # --- Multi-Region keys ----------------------------------------------------
    def test_multi_region_key(self):
        md = self.new_key(MultiRegion=True, Description="boto3 mrk")
        self.assertTrue(md["MultiRegion"])
        self.assertTrue(md["KeyId"].startswith("mrk-"))
        self.assertEqual(md["MultiRegionConfiguration"]["MultiRegionKeyType"], "PRIMARY")
        r = self.c.replicate_key(KeyId=md["KeyId"], ReplicaRegion="ap-northeast-2")
        self.assertEqual(r["ReplicaKeyMetadata"]["KeyId"], md["KeyId"])
        ap = kms("ap-northeast-2")
        ct = self.c.encrypt(KeyId=md["KeyId"], Plaintext=b"across regions")["CiphertextBlob"]
        deadline = time.time() + 10
        while True:
            try:
                pt = ap.decrypt(CiphertextBlob=ct)["Plaintext"]
                break
            except ClientError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        self.assertEqual(pt, b"across regions")
        self.assertError(
            "ValidationException", 400, self.c.replicate_key, KeyId=md["KeyId"], ReplicaRegion="Not_A_Region!"
        )
        # A well-formed Region this cluster does not run (documented).
        self.assertError(
            "UnsupportedOperationException", 400, self.c.replicate_key, KeyId=md["KeyId"], ReplicaRegion="xx-nowhere-9"
        )
        self.assertError(
            "AlreadyExistsException", 400, self.c.replicate_key, KeyId=md["KeyId"], ReplicaRegion="ap-northeast-2"
        )
        ap.update_primary_region(KeyId=md["KeyId"], PrimaryRegion="ap-northeast-2")
        cfg = ap.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]
        self.assertEqual(cfg["MultiRegionKeyType"], "PRIMARY")
        self.assertEqual(cfg["PrimaryKey"]["Region"], "ap-northeast-2")
        single = self.new_key()
        self.assertError(
            "UnsupportedOperationException", 400, self.c.replicate_key, KeyId=single["KeyId"], ReplicaRegion="eu-west-1"
        )


class WireTest(unittest.TestCase):
    """The protocol itself: what a request that is not a valid KMS call gets."""

    def raw(self, target, body, content_type="application/x-amz-json-1.1"):
        import botocore.auth
        import botocore.awsrequest
        import botocore.credentials
        import urllib.request

        url = ENDPOINTS["us-east-1"] + "/"
        req = botocore.awsrequest.AWSRequest(
            method="POST", url=url, data=body, headers={"Content-Type": content_type, "X-Amz-Target": target}
        )
        creds = botocore.credentials.Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
        botocore.auth.SigV4Auth(creds, "kms", "us-east-1").add_auth(req)
        r = urllib.request.Request(url, data=body, method="POST", headers=dict(req.headers.items()))
        try:
            with urllib.request.urlopen(r) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def signed(self, target, body, sign_target=True):
        """Headers of a botocore-signed JSON request (optionally without
        X-Amz-Target among the signed headers)."""
        import botocore.auth
        import botocore.awsrequest
        import botocore.credentials

        url = ENDPOINTS["us-east-1"] + "/"
        headers = {"Content-Type": "application/x-amz-json-1.1"}
        if sign_target:
            headers["X-Amz-Target"] = target
        req = botocore.awsrequest.AWSRequest(method="POST", url=url, data=body, headers=headers)
        creds = botocore.credentials.Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
        botocore.auth.SigV4Auth(creds, "kms", "us-east-1").add_auth(req)
        return dict(req.headers.items())

    def send(self, headers, body):
        import urllib.request

        url = ENDPOINTS["us-east-1"] + "/"
        r = urllib.request.Request(url, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(r) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def test_a_replay_cannot_change_the_operation(self):
        # A captured, signed DescribeKey replayed as ScheduleKeyDeletion.
        body = json.dumps({"KeyId": "alias/aws/does-not-matter", "PendingWindowInDays": 7}).encode()
        headers = self.signed("TrentService.DescribeKey", body)
        headers["X-Amz-Target"] = "TrentService.ScheduleKeyDeletion"
        status, out = self.send(headers, body)
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(out)["__type"], "InvalidSignatureException")

    def test_the_operation_must_be_signed(self):
        body = b"{}"
        headers = self.signed(None, body, sign_target=False)
        headers["X-Amz-Target"] = "TrentService.ListKeys"
        status, out = self.send(headers, body)
        self.assertEqual(status, 400)
        err = json.loads(out)
        self.assertEqual(err["__type"], "InvalidSignatureException")
        self.assertEqual(err["message"], "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.")

    def test_unknown_operation(self):
        status, body = self.raw("TrentService.MakeCoffee", b"{}")
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["__type"], "UnknownOperationException")

    def test_malformed_json(self):
        status, body = self.raw("TrentService.DescribeKey", b"{not json")
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["__type"], "SerializationException")

    def test_wrong_content_type(self):
        status, body = self.raw("TrentService.ListKeys", b"{}", content_type="text/plain")
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["__type"], "UnknownOperationException")

    def test_oversized_body(self):
        status, body = self.raw("TrentService.Encrypt", b'{"KeyId":"' + b"x" * (2 << 20) + b'"}')
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["__type"], "ValidationException")

    def test_empty_output_is_an_empty_body(self):
        c = kms()
        k = c.create_key()["KeyMetadata"]["KeyId"]
        status, body = self.raw("TrentService.EnableKey", json.dumps({"KeyId": k}).encode())
        self.assertEqual((status, body), (200, b""))

    def test_bad_credentials(self):
        bad = kms(aws_access_key_id="AKIAUNKNOWNEXAMPLE00", aws_secret_access_key="x" * 40)
        with self.assertRaises(ClientError) as cm:
            bad.list_keys()
        self.assertEqual(cm.exception.response["Error"]["Code"], "UnrecognizedClientException")
        wrong_secret = kms(aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"], aws_secret_access_key="y" * 40)
        with self.assertRaises(ClientError) as cm:
            wrong_secret.list_keys()
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidSignatureException")

    def test_region_must_match_the_endpoint(self):
        c = boto3.client("kms", region_name="eu-west-1", endpoint_url=ENDPOINTS["us-east-1"])
        with self.assertRaises(ClientError) as cm:
            c.list_keys()
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidSignatureException")


if __name__ == "__main__":
    unittest.main()
