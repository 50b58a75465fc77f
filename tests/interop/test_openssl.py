"""tern's asymmetric, HMAC and imported-key operations against the `openssl`
command line (OpenSSL 3.x), for every key spec, through boto3 over the AWS
JSON 1.1 API in us-east-1:

- Sign: every signing algorithm of every SIGN_VERIFY spec (RSA_2048/3072/4096
  PSS and PKCS#1 v1.5 with SHA-256/384/512; ECDSA on P-256, P-384, P-521 and
  secp256k1), MessageType RAW and DIGEST, verifies with `openssl dgst -verify`
  and the GetPublicKey SubjectPublicKeyInfo (PSS with salt length = digest
  length, checked strictly); a tampered signature fails in openssl and in
  tern's Verify (KMSInvalidSignatureException);
- RSA ENCRYPT_DECRYPT: `openssl pkeyutl` OAEP (SHA-1 and SHA-256) ciphertexts
  decrypt in tern, up to AWS's plaintext limits and not beyond;
- HMAC: tern's MACs of imported HMAC keys equal `openssl dgst -mac HMAC`;
- ECDH: DeriveSharedSecret equals `openssl pkeyutl -derive` with a peer key
  openssl made, on P-256, P-384 and P-521;
- GenerateDataKeyPair: the PKCS#8 private keys parse in openssl and match
  their public keys, for every key pair spec;
- imported material wrapped by openssl (`pkeyutl` RSA-OAEP, and RSA-OAEP of an
  AES key + `enc -id-aes256-wrap-pad`, RFC 5649) imports into every key spec,
  and the imported key behaves as the material says (openssl verifies its
  signatures, decrypts its ciphertexts, derives its secrets, computes its
  MACs; tern verifies openssl's signatures);
- each misuse gets its AWS error code and HTTP status.

The endpoint comes from TERN_US_EAST_1 (tests/interop/run.sh starts tern and
sets it, with the AWS_* credentials)."""

import datetime
import hashlib
import os
import subprocess
import tempfile
import unittest

import boto3
import botocore.config
from botocore.exceptions import ClientError

ENDPOINTS = {"us-east-1": os.environ["TERN_US_EAST_1"]}

RSA_SIGNING = [
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
]
# Every SIGN_VERIFY key spec and the algorithms DescribeKey lists for it.
SIGNING = {
    "RSA_2048": RSA_SIGNING,
    "RSA_3072": RSA_SIGNING,
    "RSA_4096": RSA_SIGNING,
    "ECC_NIST_P256": ["ECDSA_SHA_256"],
    "ECC_NIST_P384": ["ECDSA_SHA_384"],
    "ECC_NIST_P521": ["ECDSA_SHA_512"],
    "ECC_SECG_P256K1": ["ECDSA_SHA_256"],
}
RSA_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
# openssl's curve names (genpkey ec_paramgen_curve) and the OID names
# `openssl pkey -text` prints.
CURVES = {
    "ECC_NIST_P256": ("P-256", "prime256v1"),
    "ECC_NIST_P384": ("P-384", "secp384r1"),
    "ECC_NIST_P521": ("P-521", "secp521r1"),
    "ECC_SECG_P256K1": ("secp256k1", "secp256k1"),
}
ECDH_SPECS = ["ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521"]
SECRET_BYTES = {"ECC_NIST_P256": 32, "ECC_NIST_P384": 48, "ECC_NIST_P521": 66}
OAEP = {"RSAES_OAEP_SHA_1": "sha1", "RSAES_OAEP_SHA_256": "sha256"}
# Largest OAEP plaintext, bytes: (SHA-1, SHA-256).
OAEP_MAX = {"RSA_2048": (214, 190), "RSA_3072": (342, 318), "RSA_4096": (470, 446)}
# HMAC key spec: (MAC algorithm, openssl digest, shortest, longest material).
HMAC = {
    "HMAC_224": ("HMAC_SHA_224", "sha224", 28, 64),
    "HMAC_256": ("HMAC_SHA_256", "sha256", 32, 64),
    "HMAC_384": ("HMAC_SHA_384", "sha384", 48, 128),
    "HMAC_512": ("HMAC_SHA_512", "sha512", 64, 128),
}
KEY_PAIR_SPECS = [
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
]
WRAPPING_ALGORITHMS = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"]
DOES_NOT_EXPIRE = "KEY_MATERIAL_DOES_NOT_EXPIRE"


def kms(region="us-east-1"):
    return boto3.client(
        "kms",
        region_name=region,
        endpoint_url=ENDPOINTS[region],
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def openssl(*args, check=True):
    """Runs `openssl *args`; with check, a failure raises with openssl's stderr."""
    try:
        return subprocess.run(["openssl", *args], check=check, capture_output=True)
    except subprocess.CalledProcessError as e:
        raise AssertionError(
            "openssl %s exited %d: %s" % (" ".join(args), e.returncode, e.stderr.decode(errors="replace"))
        ) from e


def digest_name(algorithm):
    """The openssl digest of a signing or MAC algorithm: RSASSA_PSS_SHA_384 -> sha384."""
    return "sha" + algorithm.rsplit("_", 1)[1]


def tampered(data):
    b = bytearray(data)
    b[len(b) // 2] ^= 0x01
    return bytes(b)


def flip_last(data):
    return data[:-1] + bytes([data[-1] ^ 0x01])


class OpensslTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = kms("us-east-1")

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name

    # --- files ------------------------------------------------------------
    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, data):
        p = self.path(name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    # --- tern -------------------------------------------------------------
    def assertError(self, exc_type, status, fn, *args, **kwargs):
        with self.assertRaises(ClientError) as cm:
            fn(*args, **kwargs)
        err = cm.exception.response
        self.assertEqual(err["Error"]["Code"], exc_type, err)
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], status, err)
        return err

    def new_key(self, **kw):
        return self.c.create_key(**kw)["KeyMetadata"]

    # --- openssl ----------------------------------------------------------
    def pem_of_der(self, der, name):
        """A DER SubjectPublicKeyInfo as a PEM file openssl reads."""
        self.write(name + ".der", der)
        pem = self.path(name + ".pem")
        openssl("pkey", "-pubin", "-inform", "DER", "-in", self.path(name + ".der"), "-out", pem)
        return pem

    def public_pem(self, key_id, name="tern-pub"):
        return self.pem_of_der(self.c.get_public_key(KeyId=key_id)["PublicKey"], name)

    def openssl_verify(self, pem, algorithm, msg_path, signature):
        """openssl's exit status verifying `signature` of the file at msg_path."""
        sig = self.write("sig.bin", signature)
        args = ["dgst", "-" + digest_name(algorithm), "-verify", pem, "-signature", sig]
        if "_PSS_" in algorithm:
            # -1: the salt is exactly the digest length (AWS's PSS salt).
            args += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1"]
        return openssl(*args, msg_path, check=False).returncode

    def openssl_sign(self, private_pem, algorithm, msg_path):
        out = self.path("openssl-sig.bin")
        args = ["dgst", "-" + digest_name(algorithm), "-sign", private_pem, "-out", out]
        if "_PSS_" in algorithm:
            args += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1"]
        openssl(*args, msg_path)
        return self.read("openssl-sig.bin")

    def oaep_encrypt(self, pem, plaintext, md):
        """RSA-OAEP with `md` for both the label hash and MGF1."""
        pt = self.write("oaep-pt.bin", plaintext)
        ct = self.path("oaep-ct.bin")
        openssl(
            "pkeyutl", "-encrypt", "-pubin", "-inkey", pem, "-in", pt, "-out", ct,
            "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:" + md, "-pkeyopt", "rsa_mgf1_md:" + md,
        )
        return self.read("oaep-ct.bin")

    def oaep_decrypt(self, private_pem, ciphertext, md):
        ct = self.write("oaep-ct.bin", ciphertext)
        pt = self.path("oaep-pt.bin")
        openssl(
            "pkeyutl", "-decrypt", "-inkey", private_pem, "-in", ct, "-out", pt,
            "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:" + md, "-pkeyopt", "rsa_mgf1_md:" + md,
        )
        return self.read("oaep-pt.bin")

    def private_key(self, name, *genpkey_args):
        """A fresh openssl private key: (PEM path, PKCS#8 DER bytes).
        (OpenSSL 3.0's `genpkey -outform DER` writes PKCS#1/SEC1, so the DER
        goes through `pkcs8 -topk8`.)"""
        pem = self.path(name + ".pem")
        openssl("genpkey", *genpkey_args, "-out", pem)
        der = self.path(name + ".p8.der")
        openssl("pkcs8", "-topk8", "-nocrypt", "-in", pem, "-outform", "DER", "-out", der)
        return pem, self.read(name + ".p8.der")

    def rsa_private_key(self, name, bits=2048):
        return self.private_key(name, "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:%d" % bits)

    def ec_private_key(self, name, spec):
        return self.private_key(name, "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:" + CURVES[spec][0])

    def public_der_of_private(self, private_pem):
        return openssl("pkey", "-in", private_pem, "-pubout", "-outform", "DER").stdout

    # --- import -----------------------------------------------------------
    def external(self, spec, usage=None):
        kw = {"KeyUsage": usage} if usage else {}
        md = self.new_key(KeySpec=spec, Origin="EXTERNAL", **kw)
        self.assertEqual(md["KeyState"], "PendingImport", md)
        self.assertEqual(md["Origin"], "EXTERNAL", md)
        return md["KeyId"]

    def parameters(self, key_id, algorithm="RSA_AES_KEY_WRAP_SHA_256", wrapping_spec="RSA_2048"):
        return self.c.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=wrapping_spec
        )

    def wrap(self, params, material, algorithm):
        """EncryptedKeyMaterial as AWS documents it, made by openssl with the
        GetParametersForImport public key."""
        pem = self.pem_of_der(params["PublicKey"], "wrapping")
        md = "sha1" if algorithm.endswith("_SHA_1") else "sha256"
        if algorithm.startswith("RSAES_OAEP_"):
            return self.oaep_encrypt(pem, material, md)
        # RSA_AES_KEY_WRAP_*: RSA-OAEP of a fresh AES-256 key, then the
        # material under that key with AES key wrap with padding (RFC 5649).
        aes = os.urandom(32)
        encrypted_aes = self.oaep_encrypt(pem, aes, md)
        m = self.write("material.bin", material)
        openssl("enc", "-id-aes256-wrap-pad", "-iv", "A65959A6", "-K", aes.hex(), "-in", m, "-out", self.path("kwp.bin"))
        kwp = self.read("kwp.bin")
        # RFC 5649: the material padded to 8 bytes, plus the 8-byte AIV block.
        self.assertEqual(len(kwp), (len(material) + 7) // 8 * 8 + 8)
        return encrypted_aes + kwp

    def import_material(self, key_id, material, algorithm="RSA_AES_KEY_WRAP_SHA_256", wrapping_spec="RSA_2048", **kw):
        """GetParametersForImport, wrap with openssl, ImportKeyMaterial."""
        params = self.parameters(key_id, algorithm, wrapping_spec)
        if "ValidTo" not in kw:
            kw.setdefault("ExpirationModel", DOES_NOT_EXPIRE)
        return self.c.import_key_material(
            KeyId=key_id,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=self.wrap(params, material, algorithm),
            **kw,
        )

    def assertImportFails(self, code, key_id, material, algorithm="RSA_AES_KEY_WRAP_SHA_256"):
        params = self.parameters(key_id, algorithm)
        self.assertError(
            code, 400, self.c.import_key_material, KeyId=key_id, ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=self.wrap(params, material, algorithm), ExpirationModel=DOES_NOT_EXPIRE,
        )


class KeySpecTest(OpensslTest):
    def test_invalid_spec_and_usage_pairs(self):
        for spec, usage in [
            ("ECC_NIST_P256", "ENCRYPT_DECRYPT"),
            ("HMAC_256", "SIGN_VERIFY"),
            ("HMAC_512", "ENCRYPT_DECRYPT"),
            ("ECC_SECG_P256K1", "KEY_AGREEMENT"),
            ("ECC_NIST_P384", "GENERATE_VERIFY_MAC"),
            ("RSA_2048", "GENERATE_VERIFY_MAC"),
            ("RSA_2048", "KEY_AGREEMENT"),
            ("SYMMETRIC_DEFAULT", "SIGN_VERIFY"),
        ]:
            with self.subTest(spec=spec, usage=usage):
                self.assertError("ValidationException", 400, self.c.create_key, KeySpec=spec, KeyUsage=usage)

    def test_non_symmetric_spec_needs_a_key_usage(self):
        for spec in ["RSA_2048", "ECC_NIST_P256", "HMAC_256"]:
            with self.subTest(spec=spec):
                self.assertError("ValidationException", 400, self.c.create_key, KeySpec=spec)


class SignVerifyTest(OpensslTest):
    MESSAGE = b"tern signs, openssl verifies. " * 5

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.keys = {
            spec: cls.c.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"] for spec in SIGNING
        }

    def each_algorithm(self):
        """(spec, key id, public key PEM, algorithm) for every signing algorithm of every spec."""
        for spec, algorithms in SIGNING.items():
            pem = self.public_pem(self.keys[spec]["KeyId"], "pub-" + spec)
            for alg in algorithms:
                yield spec, self.keys[spec]["KeyId"], pem, alg

    def test_metadata_lists_the_signing_algorithms(self):
        for spec, algorithms in SIGNING.items():
            with self.subTest(spec=spec):
                md = self.c.describe_key(KeyId=self.keys[spec]["KeyId"])["KeyMetadata"]
                self.assertEqual(md["KeySpec"], spec)
                self.assertEqual(md["KeyUsage"], "SIGN_VERIFY")
                self.assertEqual(md["KeyState"], "Enabled")
                self.assertEqual(sorted(md["SigningAlgorithms"]), sorted(algorithms))
                self.assertFalse(md.get("EncryptionAlgorithms"), md)

    def test_public_key_is_a_subject_public_key_info_openssl_reads(self):
        for spec, algorithms in SIGNING.items():
            with self.subTest(spec=spec):
                out = self.c.get_public_key(KeyId=self.keys[spec]["KeyId"])
                self.assertEqual(out["KeySpec"], spec)
                self.assertEqual(out["KeyUsage"], "SIGN_VERIFY")
                self.assertEqual(sorted(out["SigningAlgorithms"]), sorted(algorithms))
                der = self.write("pub.der", out["PublicKey"])
                text = openssl("pkey", "-pubin", "-inform", "DER", "-in", der, "-text", "-noout").stdout.decode()
                if spec in RSA_BITS:
                    self.assertIn("Public-Key: (%d bit)" % RSA_BITS[spec], text)
                else:
                    self.assertIn("ASN1 OID: " + CURVES[spec][1], text)
                # DER in, the same DER out: tern's encoding is canonical.
                again = openssl("pkey", "-pubin", "-inform", "DER", "-in", der, "-outform", "DER").stdout
                self.assertEqual(again, out["PublicKey"])

    def test_raw_signatures_verify_in_openssl(self):
        msg = self.write("msg.bin", self.MESSAGE)
        for spec, key, pem, alg in self.each_algorithm():
            with self.subTest(spec=spec, alg=alg):
                out = self.c.sign(KeyId=key, Message=self.MESSAGE, MessageType="RAW", SigningAlgorithm=alg)
                self.assertEqual(out["SigningAlgorithm"], alg)
                self.assertEqual(out["KeyId"], self.keys[spec]["Arn"])
                self.assertEqual(self.openssl_verify(pem, alg, msg, out["Signature"]), 0)

    def test_digest_signatures_verify_in_openssl_against_the_message(self):
        msg = self.write("msg.bin", self.MESSAGE)
        for spec, key, pem, alg in self.each_algorithm():
            with self.subTest(spec=spec, alg=alg):
                digest = hashlib.new(digest_name(alg), self.MESSAGE).digest()
                sig = self.c.sign(KeyId=key, Message=digest, MessageType="DIGEST", SigningAlgorithm=alg)["Signature"]
                self.assertEqual(self.openssl_verify(pem, alg, msg, sig), 0)

    def test_tern_verify_accepts_its_signatures_raw_and_digest(self):
        for spec, key, pem, alg in self.each_algorithm():
            with self.subTest(spec=spec, alg=alg):
                sig = self.c.sign(KeyId=key, Message=self.MESSAGE, SigningAlgorithm=alg)["Signature"]
                out = self.c.verify(KeyId=key, Message=self.MESSAGE, Signature=sig, SigningAlgorithm=alg)
                self.assertTrue(out["SignatureValid"])
                digest = hashlib.new(digest_name(alg), self.MESSAGE).digest()
                out = self.c.verify(KeyId=key, Message=digest, MessageType="DIGEST", Signature=sig, SigningAlgorithm=alg)
                self.assertTrue(out["SignatureValid"])

    def test_tampered_signatures_fail_in_openssl_and_tern(self):
        msg = self.write("msg.bin", self.MESSAGE)
        for spec, key, pem, alg in self.each_algorithm():
            with self.subTest(spec=spec, alg=alg):
                sig = self.c.sign(KeyId=key, Message=self.MESSAGE, SigningAlgorithm=alg)["Signature"]
                bad = tampered(sig)
                self.assertNotEqual(self.openssl_verify(pem, alg, msg, bad), 0)
                self.assertError(
                    "KMSInvalidSignatureException", 400, self.c.verify,
                    KeyId=key, Message=self.MESSAGE, Signature=bad, SigningAlgorithm=alg,
                )
                # The right signature of another message fails too.
                other = self.write("other.bin", tampered(self.MESSAGE))
                self.assertNotEqual(self.openssl_verify(pem, alg, other, sig), 0)
                self.assertError(
                    "KMSInvalidSignatureException", 400, self.c.verify,
                    KeyId=key, Message=tampered(self.MESSAGE), Signature=sig, SigningAlgorithm=alg,
                )

    def test_pss_salt_is_the_digest_length(self):
        # openssl's -1 checks the salt length exactly; a PKCS#1 v1.5 check of
        # a PSS signature fails (the padding really is PSS).
        msg = self.write("msg.bin", self.MESSAGE)
        key = self.keys["RSA_2048"]["KeyId"]
        pem = self.public_pem(key)
        sig = self.c.sign(KeyId=key, Message=self.MESSAGE, SigningAlgorithm="RSASSA_PSS_SHA_384")["Signature"]
        self.assertEqual(self.openssl_verify(pem, "RSASSA_PSS_SHA_384", msg, sig), 0)
        self.assertNotEqual(self.openssl_verify(pem, "RSASSA_PKCS1_V1_5_SHA_384", msg, sig), 0)
        self.assertNotEqual(self.openssl_verify(pem, "RSASSA_PSS_SHA_256", msg, sig), 0)

    def test_wrong_algorithm_or_usage_is_invalid_key_usage(self):
        p256 = self.keys["ECC_NIST_P256"]["KeyId"]
        rsa = self.keys["RSA_2048"]["KeyId"]
        for key, alg in [
            (p256, "ECDSA_SHA_384"),
            (p256, "RSASSA_PSS_SHA_256"),
            (self.keys["ECC_SECG_P256K1"]["KeyId"], "ECDSA_SHA_512"),
            (self.keys["ECC_NIST_P521"]["KeyId"], "ECDSA_SHA_256"),
            (rsa, "ECDSA_SHA_256"),
        ]:
            with self.subTest(key=key, alg=alg):
                self.assertError("InvalidKeyUsageException", 400, self.c.sign, KeyId=key, Message=b"x",
                                 SigningAlgorithm=alg)
        sig = self.c.sign(KeyId=p256, Message=b"x", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
        self.assertError("InvalidKeyUsageException", 400, self.c.verify, KeyId=p256, Message=b"x", Signature=sig,
                         SigningAlgorithm="ECDSA_SHA_384")
        self.assertError("InvalidKeyUsageException", 400, self.c.encrypt, KeyId=p256, Plaintext=b"x")
        self.assertError("InvalidKeyUsageException", 400, self.c.encrypt, KeyId=rsa, Plaintext=b"x",
                         EncryptionAlgorithm="RSAES_OAEP_SHA_256")
        self.assertError("InvalidKeyUsageException", 400, self.c.generate_mac, KeyId=rsa, Message=b"x",
                         MacAlgorithm="HMAC_SHA_256")
        symmetric = self.new_key()["KeyId"]
        self.assertError("InvalidKeyUsageException", 400, self.c.sign, KeyId=symmetric, Message=b"x",
                         SigningAlgorithm="ECDSA_SHA_256")

    def test_message_and_digest_lengths(self):
        p256 = self.keys["ECC_NIST_P256"]["KeyId"]
        self.c.sign(KeyId=p256, Message=b"x" * 4096, SigningAlgorithm="ECDSA_SHA_256")
        self.assertError("ValidationException", 400, self.c.sign, KeyId=p256, Message=b"x" * 4097,
                         SigningAlgorithm="ECDSA_SHA_256")
        for key, alg, length in [
            (p256, "ECDSA_SHA_256", 31),
            (p256, "ECDSA_SHA_256", 33),
            (self.keys["ECC_NIST_P384"]["KeyId"], "ECDSA_SHA_384", 32),
            (self.keys["RSA_2048"]["KeyId"], "RSASSA_PSS_SHA_512", 48),
            (self.keys["RSA_2048"]["KeyId"], "RSASSA_PKCS1_V1_5_SHA_256", 64),
        ]:
            with self.subTest(alg=alg, length=length):
                self.assertError("ValidationException", 400, self.c.sign, KeyId=key, Message=b"d" * length,
                                 MessageType="DIGEST", SigningAlgorithm=alg)


class RsaEncryptionTest(OpensslTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.keys = {
            spec: cls.c.create_key(KeySpec=spec, KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"] for spec in OAEP_MAX
        }

    def test_metadata_lists_the_encryption_algorithms(self):
        for spec, md in self.keys.items():
            with self.subTest(spec=spec):
                self.assertEqual(md["KeySpec"], spec)
                self.assertEqual(md["KeyUsage"], "ENCRYPT_DECRYPT")
                self.assertEqual(sorted(md["EncryptionAlgorithms"]), ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"])
                self.assertFalse(md.get("SigningAlgorithms"), md)
                text = openssl("pkey", "-pubin", "-in", self.public_pem(md["KeyId"]), "-text", "-noout").stdout
                self.assertIn(b"Public-Key: (%d bit)" % RSA_BITS[spec], text)

    def test_openssl_encrypts_tern_decrypts_up_to_the_limit(self):
        for spec, (max_sha1, max_sha256) in OAEP_MAX.items():
            key = self.keys[spec]["KeyId"]
            pem = self.public_pem(key, "pub-" + spec)
            for alg, limit in [("RSAES_OAEP_SHA_1", max_sha1), ("RSAES_OAEP_SHA_256", max_sha256)]:
                for size in [1, limit]:
                    with self.subTest(spec=spec, alg=alg, size=size):
                        pt = os.urandom(size)
                        ct = self.oaep_encrypt(pem, pt, OAEP[alg])
                        self.assertEqual(len(ct), RSA_BITS[spec] // 8)
                        out = self.c.decrypt(CiphertextBlob=ct, KeyId=key, EncryptionAlgorithm=alg)
                        self.assertEqual(out["Plaintext"], pt)
                        self.assertEqual(out["EncryptionAlgorithm"], alg)
                        self.assertEqual(out["KeyId"], self.keys[spec]["Arn"])

    def test_tern_encrypt_size_limits_and_round_trip(self):
        for spec, (max_sha1, max_sha256) in OAEP_MAX.items():
            key = self.keys[spec]["KeyId"]
            for alg, limit in [("RSAES_OAEP_SHA_1", max_sha1), ("RSAES_OAEP_SHA_256", max_sha256)]:
                with self.subTest(spec=spec, alg=alg):
                    pt = os.urandom(limit)
                    out = self.c.encrypt(KeyId=key, Plaintext=pt, EncryptionAlgorithm=alg)
                    self.assertEqual(out["EncryptionAlgorithm"], alg)
                    self.assertEqual(len(out["CiphertextBlob"]), RSA_BITS[spec] // 8)
                    again = self.c.encrypt(KeyId=key, Plaintext=pt, EncryptionAlgorithm=alg)["CiphertextBlob"]
                    self.assertNotEqual(again, out["CiphertextBlob"])  # OAEP is randomized
                    back = self.c.decrypt(CiphertextBlob=out["CiphertextBlob"], KeyId=key, EncryptionAlgorithm=alg)
                    self.assertEqual(back["Plaintext"], pt)
                    self.assertError("ValidationException", 400, self.c.encrypt, KeyId=key,
                                     Plaintext=os.urandom(limit + 1), EncryptionAlgorithm=alg)

    def test_decrypt_errors(self):
        key = self.keys["RSA_2048"]["KeyId"]
        ct = self.oaep_encrypt(self.public_pem(key), b"secret", "sha256")
        # An RSA ciphertext names no key: without KeyId tern tries it as a
        # symmetric ciphertext.
        self.assertError("InvalidCiphertextException", 400, self.c.decrypt, CiphertextBlob=ct,
                         EncryptionAlgorithm="RSAES_OAEP_SHA_256")
        self.assertError("InvalidKeyUsageException", 400, self.c.decrypt, CiphertextBlob=ct, KeyId=key)
        self.assertError("InvalidKeyUsageException", 400, self.c.decrypt, CiphertextBlob=ct, KeyId=key,
                         EncryptionAlgorithm="SYMMETRIC_DEFAULT")
        self.assertError("InvalidKeyUsageException", 400, self.c.encrypt, KeyId=key, Plaintext=b"x")
        # OAEP with the other hash, or a damaged ciphertext, does not decrypt.
        self.assertError("InvalidCiphertextException", 400, self.c.decrypt, CiphertextBlob=ct, KeyId=key,
                         EncryptionAlgorithm="RSAES_OAEP_SHA_1")
        self.assertError("InvalidCiphertextException", 400, self.c.decrypt, CiphertextBlob=tampered(ct), KeyId=key,
                         EncryptionAlgorithm="RSAES_OAEP_SHA_256")
        self.assertError("InvalidKeyUsageException", 400, self.c.sign, KeyId=key, Message=b"x",
                         SigningAlgorithm="RSASSA_PSS_SHA_256")


class HmacTest(OpensslTest):
    MESSAGE = b"authenticate me, openssl"

    def test_generated_hmac_keys_mac_and_verify(self):
        for spec, (alg, md_name, _, _) in HMAC.items():
            with self.subTest(spec=spec):
                md = self.new_key(KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")
                self.assertEqual(md["MacAlgorithms"], [alg])
                key = md["KeyId"]
                out = self.c.generate_mac(KeyId=key, Message=self.MESSAGE, MacAlgorithm=alg)
                self.assertEqual(out["MacAlgorithm"], alg)
                self.assertEqual(len(out["Mac"]), hashlib.new(md_name).digest_size)
                ok = self.c.verify_mac(KeyId=key, Message=self.MESSAGE, MacAlgorithm=alg, Mac=out["Mac"])
                self.assertTrue(ok["MacValid"])
                self.assertError("KMSInvalidMacException", 400, self.c.verify_mac, KeyId=key, Message=self.MESSAGE,
                                 MacAlgorithm=alg, Mac=tampered(out["Mac"]))
                self.assertError("KMSInvalidMacException", 400, self.c.verify_mac, KeyId=key,
                                 Message=tampered(self.MESSAGE), MacAlgorithm=alg, Mac=out["Mac"])
                wrong = "HMAC_SHA_512" if alg != "HMAC_SHA_512" else "HMAC_SHA_256"
                self.assertError("InvalidKeyUsageException", 400, self.c.generate_mac, KeyId=key,
                                 Message=self.MESSAGE, MacAlgorithm=wrong)
                self.assertError("InvalidKeyUsageException", 400, self.c.encrypt, KeyId=key, Plaintext=b"x")
        symmetric = self.new_key()["KeyId"]
        self.assertError("InvalidKeyUsageException", 400, self.c.generate_mac, KeyId=symmetric,
                         Message=self.MESSAGE, MacAlgorithm="HMAC_SHA_256")

    def test_imported_hmac_keys_equal_openssl_dgst(self):
        msg = self.write("msg.bin", self.MESSAGE)
        for spec, (alg, md_name, shortest, longest) in HMAC.items():
            for size in [shortest, longest]:
                with self.subTest(spec=spec, material_bytes=size):
                    key = self.external(spec, "GENERATE_VERIFY_MAC")
                    material = os.urandom(size)
                    self.import_material(key, material, algorithm="RSAES_OAEP_SHA_256")
                    mac = self.c.generate_mac(KeyId=key, Message=self.MESSAGE, MacAlgorithm=alg)["Mac"]
                    theirs = openssl(
                        "dgst", "-" + md_name, "-mac", "HMAC", "-macopt", "hexkey:" + material.hex(), "-binary", msg
                    ).stdout
                    self.assertEqual(mac, theirs)
                    self.assertTrue(
                        self.c.verify_mac(KeyId=key, Message=self.MESSAGE, MacAlgorithm=alg, Mac=theirs)["MacValid"]
                    )

    def test_hmac_material_of_the_wrong_length(self):
        for spec, (_, _, shortest, longest) in HMAC.items():
            key = self.external(spec, "GENERATE_VERIFY_MAC")
            for size in [shortest - 1, longest + 1]:
                with self.subTest(spec=spec, material_bytes=size):
                    self.assertImportFails("IncorrectKeyMaterialException", key, os.urandom(size),
                                           algorithm="RSAES_OAEP_SHA_256")

    def test_message_limit(self):
        key = self.new_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
        self.c.generate_mac(KeyId=key, Message=b"m" * 4096, MacAlgorithm="HMAC_SHA_256")
        self.assertError("ValidationException", 400, self.c.generate_mac, KeyId=key, Message=b"m" * 4097,
                         MacAlgorithm="HMAC_SHA_256")


class KeyAgreementTest(OpensslTest):
    def derive(self, key, peer_public_der):
        return self.c.derive_shared_secret(
            KeyId=key, KeyAgreementAlgorithm="ECDH", PublicKey=peer_public_der
        )["SharedSecret"]

    def test_shared_secret_equals_openssl_derive(self):
        for spec in ECDH_SPECS:
            with self.subTest(spec=spec):
                md = self.new_key(KeySpec=spec, KeyUsage="KEY_AGREEMENT")
                self.assertEqual(md["KeyAgreementAlgorithms"], ["ECDH"])
                self.assertFalse(md.get("SigningAlgorithms"), md)
                tern_pem = self.public_pem(md["KeyId"], "tern-" + spec)
                peer_pem, _ = self.ec_private_key("peer", spec)
                secret = self.derive(md["KeyId"], self.public_der_of_private(peer_pem))
                self.assertEqual(len(secret), SECRET_BYTES[spec])
                out = self.path("secret.bin")
                openssl("pkeyutl", "-derive", "-inkey", peer_pem, "-peerkey", tern_pem, "-out", out)
                self.assertEqual(secret, self.read("secret.bin"))
                # Another peer, another secret.
                other_pem, _ = self.ec_private_key("other", spec)
                self.assertNotEqual(self.derive(md["KeyId"], self.public_der_of_private(other_pem)), secret)

    def test_key_agreement_misuse(self):
        p256 = self.new_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyId"]
        p384_pem, _ = self.ec_private_key("p384", "ECC_NIST_P384")
        self.assertError("ValidationException", 400, self.derive, p256, self.public_der_of_private(p384_pem))
        self.assertError("ValidationException", 400, self.derive, p256, b"\x30\x03\x02\x01\x00")
        self.assertError("InvalidKeyUsageException", 400, self.c.sign, KeyId=p256, Message=b"x",
                         SigningAlgorithm="ECDSA_SHA_256")
        signer = self.new_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyId"]
        peer_pem, _ = self.ec_private_key("peer", "ECC_NIST_P256")
        self.assertError("InvalidKeyUsageException", 400, self.derive, signer, self.public_der_of_private(peer_pem))


class DataKeyPairTest(OpensslTest):
    def test_private_keys_parse_in_openssl_and_match_the_public_key(self):
        sym = self.new_key()["KeyId"]
        for spec in KEY_PAIR_SPECS:
            with self.subTest(spec=spec):
                out = self.c.generate_data_key_pair(KeyId=sym, KeyPairSpec=spec)
                self.assertEqual(out["KeyPairSpec"], spec)
                priv = self.write("priv.der", out["PrivateKeyPlaintext"])
                # `openssl pkcs8` (without -topk8) reads PKCS#8 only.
                openssl("pkcs8", "-nocrypt", "-inform", "DER", "-in", priv, "-out", self.path("priv.pem"))
                openssl("pkey", "-in", self.path("priv.pem"), "-check", "-noout")
                public = openssl("pkey", "-inform", "DER", "-in", priv, "-pubout", "-outform", "DER").stdout
                self.assertEqual(public, out["PublicKey"])
                back = self.c.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"])
                self.assertEqual(back["Plaintext"], out["PrivateKeyPlaintext"])
                self.assertEqual(back["KeyId"], out["KeyId"])

    def test_without_plaintext(self):
        sym = self.new_key()["KeyId"]
        out = self.c.generate_data_key_pair_without_plaintext(KeyId=sym, KeyPairSpec="ECC_NIST_P384")
        self.assertNotIn("PrivateKeyPlaintext", out)
        private = self.c.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"])["Plaintext"]
        priv = self.write("priv.der", private)
        public = openssl("pkey", "-inform", "DER", "-in", priv, "-pubout", "-outform", "DER").stdout
        self.assertEqual(public, out["PublicKey"])

    def test_asymmetric_key_is_invalid_key_usage(self):
        for spec, usage in [("ECC_NIST_P256", "SIGN_VERIFY"), ("HMAC_256", "GENERATE_VERIFY_MAC")]:
            with self.subTest(spec=spec):
                key = self.new_key(KeySpec=spec, KeyUsage=usage)["KeyId"]
                self.assertError("InvalidKeyUsageException", 400, self.c.generate_data_key_pair, KeyId=key,
                                 KeyPairSpec="ECC_NIST_P256")
                self.assertError("InvalidKeyUsageException", 400, self.c.generate_data_key_pair_without_plaintext,
                                 KeyId=key, KeyPairSpec="ECC_NIST_P256")


class ImportTest(OpensslTest):
    def test_pending_import_and_parameters(self):
        key = self.external("SYMMETRIC_DEFAULT")
        self.assertError("KMSInvalidStateException", 400, self.c.encrypt, KeyId=key, Plaintext=b"x")
        params = self.parameters(key, "RSAES_OAEP_SHA_256", "RSA_2048")
        text = openssl("pkey", "-pubin", "-in", self.pem_of_der(params["PublicKey"], "wrap"), "-text", "-noout").stdout
        self.assertIn(b"Public-Key: (2048 bit)", text)
        self.assertTrue(params["ImportToken"])
        ahead = params["ParametersValidTo"] - datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs(ahead - datetime.timedelta(hours=24)), datetime.timedelta(minutes=5))

    def test_symmetric_material_with_every_wrapping_algorithm(self):
        for alg in WRAPPING_ALGORITHMS:
            # One RSA_4096 wrapping key; RSA_2048 for the rest.
            wrapping_spec = "RSA_4096" if alg == "RSA_AES_KEY_WRAP_SHA_1" else "RSA_2048"
            with self.subTest(alg=alg, wrapping_spec=wrapping_spec):
                key = self.external("SYMMETRIC_DEFAULT")
                out = self.import_material(key, os.urandom(32), algorithm=alg, wrapping_spec=wrapping_spec)
                self.assertTrue(out["KeyMaterialId"])
                md = self.c.describe_key(KeyId=key)["KeyMetadata"]
                self.assertEqual(md["KeyState"], "Enabled")
                self.assertEqual(md["ExpirationModel"], DOES_NOT_EXPIRE)
                ct = self.c.encrypt(KeyId=key, Plaintext=b"imported")["CiphertextBlob"]
                self.assertEqual(self.c.decrypt(CiphertextBlob=ct)["Plaintext"], b"imported")

    def test_material_that_expires(self):
        key = self.external("SYMMETRIC_DEFAULT")
        valid_to = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)
        self.import_material(key, os.urandom(32), ValidTo=valid_to)
        md = self.c.describe_key(KeyId=key)["KeyMetadata"]
        self.assertEqual(md["KeyState"], "Enabled")
        self.assertEqual(md["ExpirationModel"], "KEY_MATERIAL_EXPIRES")
        self.assertLess(abs(md["ValidTo"].timestamp() - valid_to.timestamp()), 1.0)

    def test_imported_signing_keys_interoperate_with_openssl(self):
        message = b"imported key signs"
        msg = self.write("msg.bin", message)
        for spec in ["RSA_2048", *CURVES]:
            with self.subTest(spec=spec):
                if spec == "RSA_2048":
                    priv_pem, der = self.rsa_private_key("mine")
                else:
                    priv_pem, der = self.ec_private_key("mine", spec)
                key = self.external(spec, "SIGN_VERIFY")
                self.import_material(key, der)
                mine = self.public_der_of_private(priv_pem)
                self.assertEqual(self.c.get_public_key(KeyId=key)["PublicKey"], mine)
                my_pem = self.pem_of_der(mine, "mine-pub")
                for alg in SIGNING[spec]:
                    with self.subTest(alg=alg):
                        sig = self.c.sign(KeyId=key, Message=message, SigningAlgorithm=alg)["Signature"]
                        self.assertEqual(self.openssl_verify(my_pem, alg, msg, sig), 0)
                        # openssl signs with the private key; tern verifies.
                        theirs = self.openssl_sign(priv_pem, alg, msg)
                        out = self.c.verify(KeyId=key, Message=message, Signature=theirs, SigningAlgorithm=alg)
                        self.assertTrue(out["SignatureValid"])
                        self.assertError("KMSInvalidSignatureException", 400, self.c.verify, KeyId=key,
                                         Message=message, Signature=tampered(theirs), SigningAlgorithm=alg)

    def test_imported_rsa_encryption_key_interoperates_with_openssl(self):
        priv_pem, der = self.rsa_private_key("mine")
        key = self.external("RSA_2048", "ENCRYPT_DECRYPT")
        self.import_material(key, der)
        my_pem = self.pem_of_der(self.public_der_of_private(priv_pem), "mine-pub")
        self.assertEqual(self.c.get_public_key(KeyId=key)["PublicKey"], self.read("mine-pub.der"))
        for alg, md_name in OAEP.items():
            with self.subTest(alg=alg):
                ct = self.oaep_encrypt(my_pem, b"to the imported key", md_name)
                out = self.c.decrypt(CiphertextBlob=ct, KeyId=key, EncryptionAlgorithm=alg)
                self.assertEqual(out["Plaintext"], b"to the imported key")
                # tern encrypts; openssl decrypts with the private key.
                ct = self.c.encrypt(KeyId=key, Plaintext=b"from tern", EncryptionAlgorithm=alg)["CiphertextBlob"]
                self.assertEqual(self.oaep_decrypt(priv_pem, ct, md_name), b"from tern")

    def test_imported_key_agreement_keys_interoperate_with_openssl(self):
        for spec in ECDH_SPECS:
            with self.subTest(spec=spec):
                priv_pem, der = self.ec_private_key("mine", spec)
                key = self.external(spec, "KEY_AGREEMENT")
                self.import_material(key, der)
                self.assertEqual(self.c.get_public_key(KeyId=key)["PublicKey"], self.public_der_of_private(priv_pem))
                peer_pem, _ = self.ec_private_key("peer", spec)
                peer_der = self.public_der_of_private(peer_pem)
                secret = self.c.derive_shared_secret(KeyId=key, KeyAgreementAlgorithm="ECDH",
                                                     PublicKey=peer_der)["SharedSecret"]
                peer_pub = self.pem_of_der(peer_der, "peer-pub")
                openssl("pkeyutl", "-derive", "-inkey", priv_pem, "-peerkey", peer_pub, "-out", self.path("s.bin"))
                self.assertEqual(secret, self.read("s.bin"))

    def test_reimport_needs_the_same_material(self):
        key = self.external("SYMMETRIC_DEFAULT")
        material = os.urandom(32)
        first = self.import_material(key, material)
        ct = self.c.encrypt(KeyId=key, Plaintext=b"kept")["CiphertextBlob"]
        self.assertError("IncorrectKeyMaterialException", 400, self.import_material, key, os.urandom(32))
        self.c.delete_imported_key_material(KeyId=key)
        self.assertEqual(self.c.describe_key(KeyId=key)["KeyMetadata"]["KeyState"], "PendingImport")
        self.assertError("KMSInvalidStateException", 400, self.c.encrypt, KeyId=key, Plaintext=b"x")
        self.assertError("KMSInvalidStateException", 400, self.c.decrypt, CiphertextBlob=ct)
        self.assertError("IncorrectKeyMaterialException", 400, self.import_material, key, os.urandom(32))
        again = self.import_material(key, material, algorithm="RSAES_OAEP_SHA_256")
        self.assertEqual(again["KeyMaterialId"], first["KeyMaterialId"])
        self.assertEqual(self.c.describe_key(KeyId=key)["KeyMetadata"]["KeyState"], "Enabled")
        self.assertEqual(self.c.decrypt(CiphertextBlob=ct)["Plaintext"], b"kept")
        # The same for an asymmetric key: only its own private key re-imports.
        priv_pem, der = self.ec_private_key("mine", "ECC_NIST_P256")
        _, other = self.ec_private_key("other", "ECC_NIST_P256")
        key = self.external("ECC_NIST_P256", "SIGN_VERIFY")
        self.import_material(key, der)
        sig = self.c.sign(KeyId=key, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
        self.c.delete_imported_key_material(KeyId=key)
        self.assertError("IncorrectKeyMaterialException", 400, self.import_material, key, other)
        self.import_material(key, der)
        self.assertTrue(self.c.verify(KeyId=key, Message=b"m", Signature=sig,
                                      SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"])

    def test_material_of_the_wrong_spec(self):
        _, p384 = self.ec_private_key("p384", "ECC_NIST_P384")
        _, k1 = self.ec_private_key("k1", "ECC_SECG_P256K1")
        _, p256 = self.ec_private_key("p256", "ECC_NIST_P256")
        _, rsa2048 = self.rsa_private_key("rsa")
        for spec, usage, material in [
            ("ECC_NIST_P256", "SIGN_VERIFY", p384),
            ("ECC_NIST_P256", "SIGN_VERIFY", k1),
            ("ECC_SECG_P256K1", "SIGN_VERIFY", p256),
            ("ECC_NIST_P384", "KEY_AGREEMENT", p256),
            ("RSA_3072", "SIGN_VERIFY", rsa2048),
            ("RSA_2048", "ENCRYPT_DECRYPT", p256),
            ("ECC_NIST_P256", "SIGN_VERIFY", rsa2048),
            ("SYMMETRIC_DEFAULT", None, os.urandom(16)),
            ("SYMMETRIC_DEFAULT", None, os.urandom(31)),
        ]:
            with self.subTest(spec=spec, usage=usage, material_bytes=len(material)):
                key = self.external(spec, usage)
                self.assertImportFails("IncorrectKeyMaterialException", key, material)
                self.assertEqual(self.c.describe_key(KeyId=key)["KeyMetadata"]["KeyState"], "PendingImport")

    def test_import_token_errors(self):
        key = self.external("SYMMETRIC_DEFAULT")
        material = os.urandom(32)
        old = self.parameters(key, "RSAES_OAEP_SHA_256")
        new = self.parameters(key, "RSAES_OAEP_SHA_256")
        # A superseded token, with material wrapped for it.
        self.assertError("InvalidImportTokenException", 400, self.c.import_key_material, KeyId=key,
                         ImportToken=old["ImportToken"], EncryptedKeyMaterial=self.wrap(old, material, "RSAES_OAEP_SHA_256"),
                         ExpirationModel=DOES_NOT_EXPIRE)
        # Another key's (current) token.
        other = self.external("SYMMETRIC_DEFAULT")
        theirs = self.parameters(other, "RSAES_OAEP_SHA_256")
        self.assertError("InvalidImportTokenException", 400, self.c.import_key_material, KeyId=key,
                         ImportToken=theirs["ImportToken"],
                         EncryptedKeyMaterial=self.wrap(theirs, material, "RSAES_OAEP_SHA_256"),
                         ExpirationModel=DOES_NOT_EXPIRE)
        self.assertEqual(self.c.describe_key(KeyId=key)["KeyMetadata"]["KeyState"], "PendingImport")
        # The current token still works.
        self.c.import_key_material(KeyId=key, ImportToken=new["ImportToken"],
                                   EncryptedKeyMaterial=self.wrap(new, material, "RSAES_OAEP_SHA_256"),
                                   ExpirationModel=DOES_NOT_EXPIRE)
        self.assertEqual(self.c.describe_key(KeyId=key)["KeyMetadata"]["KeyState"], "Enabled")

    def test_undecryptable_material(self):
        key = self.external("SYMMETRIC_DEFAULT")
        material = os.urandom(32)
        for alg, encrypted in [
            ("RSAES_OAEP_SHA_256", lambda p: os.urandom(256)),
            ("RSA_AES_KEY_WRAP_SHA_256", lambda p: os.urandom(256 + 40)),
            # Wrapped with the other OAEP hash than the parameters say.
            ("RSAES_OAEP_SHA_256", lambda p: self.wrap(p, material, "RSAES_OAEP_SHA_1")),
            # The right RSA part, a damaged AES key wrap part (its last byte).
            ("RSA_AES_KEY_WRAP_SHA_256", lambda p: flip_last(self.wrap(p, material, "RSA_AES_KEY_WRAP_SHA_256"))),
        ]:
            with self.subTest(alg=alg):
                params = self.parameters(key, alg)
                self.assertError("InvalidCiphertextException", 400, self.c.import_key_material, KeyId=key,
                                 ImportToken=params["ImportToken"], EncryptedKeyMaterial=encrypted(params),
                                 ExpirationModel=DOES_NOT_EXPIRE)

    def test_expiration_model_validation(self):
        key = self.external("SYMMETRIC_DEFAULT")
        material = os.urandom(32)
        params = self.parameters(key, "RSAES_OAEP_SHA_256")
        wrapped = self.wrap(params, material, "RSAES_OAEP_SHA_256")
        common = dict(KeyId=key, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped)
        # KEY_MATERIAL_EXPIRES (explicit or the default) needs a ValidTo.
        self.assertError("ValidationException", 400, self.c.import_key_material, ExpirationModel="KEY_MATERIAL_EXPIRES",
                         **common)
        self.assertError("ValidationException", 400, self.c.import_key_material, **common)
        later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
        self.assertError("ValidationException", 400, self.c.import_key_material, ExpirationModel=DOES_NOT_EXPIRE,
                         ValidTo=later, **common)
        self.c.import_key_material(ExpirationModel=DOES_NOT_EXPIRE, **common)

    def test_aws_kms_origin_keys_take_no_import(self):
        native = self.new_key()["KeyId"]
        self.assertError("UnsupportedOperationException", 400, self.c.get_parameters_for_import, KeyId=native,
                         WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
        external = self.external("SYMMETRIC_DEFAULT")
        params = self.parameters(external, "RSAES_OAEP_SHA_256")
        self.assertError("UnsupportedOperationException", 400, self.c.import_key_material, KeyId=native,
                         ImportToken=params["ImportToken"],
                         EncryptedKeyMaterial=self.wrap(params, os.urandom(32), "RSAES_OAEP_SHA_256"),
                         ExpirationModel=DOES_NOT_EXPIRE)
        self.assertError("UnsupportedOperationException", 400, self.c.delete_imported_key_material, KeyId=native)


if __name__ == "__main__":
    unittest.main()
