"""Asymmetric, HMAC and imported keys against the openssl command line, for
every key spec tern supports, through boto3 (AWS JSON 1.1):

- signatures tern makes (RAW and DIGEST, every algorithm) verify with
  `openssl dgst -verify` and the public key from GetPublicKey; tampered
  ones do not, in openssl or in tern's Verify;
- `openssl pkeyutl` OAEP ciphertexts decrypt in tern (SHA-1 and SHA-256,
  up to AWS's size limits);
- HMACs of imported HMAC keys equal `openssl dgst -mac HMAC`;
- ECDH secrets equal `openssl pkeyutl -derive` with a key openssl made;
- data key pairs parse in openssl and match their public keys;
- material wrapped by openssl (`pkeyutl` OAEP, `enc -id-aes256-wrap-pad`)
  imports, and the imported keys behave as the material says;
- misuse gets the AWS error.

Endpoints come from TERN_US_EAST_1 (tests/interop/run.sh sets it)."""

import base64
import datetime
import hashlib
import os
import subprocess
import tempfile
import unittest

import boto3
import botocore.config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["TERN_US_EAST_1"]

SIGNING = {
    "RSA_2048": ["RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
                 "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512"],
    "RSA_3072": ["RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_512"],
    "RSA_4096": ["RSASSA_PSS_SHA_512", "RSASSA_PKCS1_V1_5_SHA_256"],
    "ECC_NIST_P256": ["ECDSA_SHA_256"],
    "ECC_NIST_P384": ["ECDSA_SHA_384"],
    "ECC_NIST_P521": ["ECDSA_SHA_512"],
    "ECC_SECG_P256K1": ["ECDSA_SHA_256"],
}
CURVES = {"ECC_NIST_P256": "P-256", "ECC_NIST_P384": "P-384", "ECC_NIST_P521": "P-521",
          "ECC_SECG_P256K1": "secp256k1"}
OAEP_MAX = {"RSA_2048": (214, 190), "RSA_3072": (342, 318), "RSA_4096": (470, 446)}
HMAC = {"HMAC_224": ("HMAC_SHA_224", "sha224", 28), "HMAC_256": ("HMAC_SHA_256", "sha256", 32),
        "HMAC_384": ("HMAC_SHA_384", "sha384", 48), "HMAC_512": ("HMAC_SHA_512", "sha512", 64)}


def kms():
    return boto3.client("kms", region_name="us-east-1", endpoint_url=ENDPOINT,
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def digest_of(alg):
    return "sha" + alg.rsplit("_", 1)[1]


def openssl(*args, check=True, data=None):
    return subprocess.run(["openssl", *args], check=check, capture_output=True, input=data)


class Case(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = kms()
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

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

    def assertError(self, code, fn, **kw):
        with self.assertRaises(ClientError) as cm:
            fn(**kw)
        self.assertEqual(cm.exception.response["Error"]["Code"], code, cm.exception.response)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)

    def key(self, spec, usage, **kw):
        return self.c.create_key(KeySpec=spec, KeyUsage=usage, **kw)["KeyMetadata"]

    def public_pem(self, key_id, name):
        der = self.c.get_public_key(KeyId=key_id)["PublicKey"]
        self.write(name + ".der", der)
        openssl("pkey", "-pubin", "-inform", "DER", "-in", self.path(name + ".der"), "-out", self.path(name + ".pem"))
        return self.path(name + ".pem")

    def openssl_verifies(self, pem, alg, msg_path, sig):
        sig_path = self.write("sig.bin", sig)
        args = ["dgst", "-" + digest_of(alg), "-verify", pem, "-signature", sig_path]
        if "PSS" in alg:
            args += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1"]
        return openssl(*args, msg_path, check=False).returncode == 0


class SignVerify(Case):
    def test_every_signing_spec_and_algorithm_verifies_in_openssl(self):
        msg = b"tern signs, openssl verifies" * 3
        msg_path = self.write("msg.bin", msg)
        for spec, algs in SIGNING.items():
            md = self.key(spec, "SIGN_VERIFY")
            self.assertEqual(set(algs) <= set(md["SigningAlgorithms"]), True, md)
            pem = self.public_pem(md["KeyId"], "pub-" + spec)
            for alg in algs:
                with self.subTest(spec=spec, alg=alg):
                    sig = self.c.sign(KeyId=md["KeyId"], Message=msg, SigningAlgorithm=alg)["Signature"]
                    self.assertTrue(self.openssl_verifies(pem, alg, msg_path, sig))
                    d = hashlib.new(digest_of(alg), msg).digest()
                    dsig = self.c.sign(KeyId=md["KeyId"], Message=d, MessageType="DIGEST",
                                       SigningAlgorithm=alg)["Signature"]
                    self.assertTrue(self.openssl_verifies(pem, alg, msg_path, dsig))
                    self.assertTrue(self.c.verify(KeyId=md["KeyId"], Message=msg, Signature=sig,
                                                  SigningAlgorithm=alg)["SignatureValid"])
                    bad = bytearray(sig)
                    bad[len(bad) // 2] ^= 0x10
                    self.assertFalse(self.openssl_verifies(pem, alg, msg_path, bytes(bad)))
                    self.assertError("KMSInvalidSignatureException", self.c.verify, KeyId=md["KeyId"],
                                     Message=msg, Signature=bytes(bad), SigningAlgorithm=alg)

    def test_signing_misuse(self):
        p256 = self.key("ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
        self.assertError("InvalidKeyUsageException", self.c.sign, KeyId=p256, Message=b"x",
                         SigningAlgorithm="ECDSA_SHA_384")
        self.assertError("InvalidKeyUsageException", self.c.sign, KeyId=p256, Message=b"x",
                         SigningAlgorithm="RSASSA_PSS_SHA_256")
        self.assertError("InvalidKeyUsageException", self.c.encrypt, KeyId=p256, Plaintext=b"x")
        self.assertError("ValidationException", self.c.sign, KeyId=p256, Message=b"x" * 4097,
                         SigningAlgorithm="ECDSA_SHA_256")
        self.assertError("ValidationException", self.c.sign, KeyId=p256, Message=b"x" * 31,
                         MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
        for spec, usage in [("ECC_NIST_P256", "ENCRYPT_DECRYPT"), ("HMAC_256", "SIGN_VERIFY"),
                            ("ECC_SECG_P256K1", "KEY_AGREEMENT"), ("RSA_2048", "GENERATE_VERIFY_MAC")]:
            self.assertError("ValidationException", self.c.create_key, KeySpec=spec, KeyUsage=usage)
        self.assertError("ValidationException", self.c.create_key, KeySpec="RSA_2048")


class RsaOaep(Case):
    def test_openssl_encrypts_tern_decrypts_at_the_size_limits(self):
        for spec, (max1, max256) in OAEP_MAX.items():
            md = self.key(spec, "ENCRYPT_DECRYPT")
            self.assertEqual(md["EncryptionAlgorithms"], ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"])
            pem = self.public_pem(md["KeyId"], "oaep-" + spec)
            for alg, md_name, limit in [("RSAES_OAEP_SHA_1", "sha1", max1), ("RSAES_OAEP_SHA_256", "sha256", max256)]:
                with self.subTest(spec=spec, alg=alg):
                    pt = os.urandom(limit)
                    self.write("pt.bin", pt)
                    openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pem, "-in", self.path("pt.bin"),
                            "-out", self.path("ct.bin"), "-pkeyopt", "rsa_padding_mode:oaep",
                            "-pkeyopt", "rsa_oaep_md:" + md_name, "-pkeyopt", "rsa_mgf1_md:" + md_name)
                    ct = self.read("ct.bin")
                    out = self.c.decrypt(CiphertextBlob=ct, KeyId=md["KeyId"], EncryptionAlgorithm=alg)
                    self.assertEqual(out["Plaintext"], pt)
                    self.assertEqual(out["EncryptionAlgorithm"], alg)
                    self.assertError("ValidationException", self.c.encrypt, KeyId=md["KeyId"],
                                     Plaintext=os.urandom(limit + 1), EncryptionAlgorithm=alg)
                    rt = self.c.encrypt(KeyId=md["KeyId"], Plaintext=pt, EncryptionAlgorithm=alg)["CiphertextBlob"]
                    self.assertEqual(self.c.decrypt(CiphertextBlob=rt, KeyId=md["KeyId"],
                                                    EncryptionAlgorithm=alg)["Plaintext"], pt)
            self.assertError("InvalidCiphertextException", self.c.decrypt, CiphertextBlob=ct,
                             EncryptionAlgorithm="RSAES_OAEP_SHA_256")
            self.assertError("InvalidKeyUsageException", self.c.decrypt, CiphertextBlob=ct, KeyId=md["KeyId"])


class EcdhAndPairs(Case):
    def test_shared_secret_equals_openssl_derive(self):
        for spec in ["ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521"]:
            with self.subTest(spec=spec):
                md = self.key(spec, "KEY_AGREEMENT")
                self.assertEqual(md["KeyAgreementAlgorithms"], ["ECDH"])
                tern_pem = self.public_pem(md["KeyId"], "ecdh-" + spec)
                peer = self.path("peer.pem")
                openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:" + CURVES[spec], "-out", peer)
                peer_der = openssl("pkey", "-in", peer, "-pubout", "-outform", "DER").stdout
                secret = self.c.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH",
                                                     PublicKey=peer_der)["SharedSecret"]
                theirs = openssl("pkeyutl", "-derive", "-inkey", peer, "-peerkey", tern_pem).stdout
                self.assertEqual(secret, theirs)

    def test_data_key_pairs_parse_in_openssl(self):
        sym = self.c.create_key()["KeyMetadata"]["KeyId"]
        for spec in ["RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1"]:
            with self.subTest(spec=spec):
                p = self.c.generate_data_key_pair(KeyId=sym, KeyPairSpec=spec)
                self.write("priv.der", p["PrivateKeyPlaintext"])
                public = openssl("pkey", "-inform", "DER", "-in", self.path("priv.der"),
                                 "-pubout", "-outform", "DER").stdout
                self.assertEqual(public, p["PublicKey"])
                back = self.c.decrypt(CiphertextBlob=p["PrivateKeyCiphertextBlob"])["Plaintext"]
                self.assertEqual(back, p["PrivateKeyPlaintext"])
        w = self.c.generate_data_key_pair_without_plaintext(KeyId=sym, KeyPairSpec="ECC_NIST_P256")
        self.assertNotIn("PrivateKeyPlaintext", w)
        rsa = self.key("RSA_2048", "ENCRYPT_DECRYPT")["KeyId"]
        self.assertError("InvalidKeyUsageException", self.c.generate_data_key_pair, KeyId=rsa,
                         KeyPairSpec="ECC_NIST_P256")


class Import(Case):
    def wrap(self, params, material, alg):
        """Wraps material with openssl as AWS documents it."""
        self.write("wrap.der", params["PublicKey"])
        wrap_pem = self.path("wrap.pem")
        openssl("pkey", "-pubin", "-inform", "DER", "-in", self.path("wrap.der"), "-out", wrap_pem)
        md_name = "sha1" if alg.endswith("SHA_1") else "sha256"
        oaep = ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:" + md_name,
                "-pkeyopt", "rsa_mgf1_md:" + md_name]
        self.write("material.bin", material)
        if alg.startswith("RSAES_OAEP"):
            openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", wrap_pem, "-in", self.path("material.bin"),
                    "-out", self.path("wrapped.bin"), *oaep)
            return self.read("wrapped.bin")
        aes = os.urandom(32)
        self.write("aes.bin", aes)
        openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", wrap_pem, "-in", self.path("aes.bin"),
                "-out", self.path("aes.enc"), *oaep)
        openssl("enc", "-id-aes256-wrap-pad", "-iv", "A65959A6", "-K", aes.hex(),
                "-in", self.path("material.bin"), "-out", self.path("kwp.bin"))
        return self.read("aes.enc") + self.read("kwp.bin")

    def import_material(self, key_id, material, alg="RSA_AES_KEY_WRAP_SHA_256", spec="RSA_2048", **kw):
        params = self.c.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=alg, WrappingKeySpec=spec)
        kw.setdefault("ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE")
        return self.c.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                                          EncryptedKeyMaterial=self.wrap(params, material, alg), **kw)

    def external(self, spec, usage=None):
        kw = {"KeyUsage": usage} if usage else {}
        md = self.c.create_key(KeySpec=spec, Origin="EXTERNAL", **kw)["KeyMetadata"]
        self.assertEqual(md["KeyState"], "PendingImport")
        return md["KeyId"]

    def pkcs8(self, algorithm_args):
        openssl("genpkey", *algorithm_args, "-out", self.path("gen.pem"))
        return openssl("pkcs8", "-topk8", "-nocrypt", "-in", self.path("gen.pem"), "-outform", "DER").stdout

    def test_symmetric_import_with_every_wrapping_algorithm(self):
        for alg in ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"]:
            with self.subTest(alg=alg):
                key = self.external("SYMMETRIC_DEFAULT")
                material = os.urandom(32)
                out = self.import_material(key, material, alg=alg,
                                           spec="RSA_4096" if alg == "RSAES_OAEP_SHA_1" else "RSA_2048")
                self.assertEqual(len(out["KeyMaterialId"]), 64)
                self.assertEqual(self.c.describe_key(KeyId=key)["KeyMetadata"]["KeyState"], "Enabled")
                ct = self.c.encrypt(KeyId=key, Plaintext=b"imported")["CiphertextBlob"]
                self.assertEqual(self.c.decrypt(CiphertextBlob=ct)["Plaintext"], b"imported")

    def test_reimport_expiry_and_token_errors(self):
        key = self.external("SYMMETRIC_DEFAULT")
        material = os.urandom(32)
        valid_to = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)
        first = self.import_material(key, material, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
        md = self.c.describe_key(KeyId=key)["KeyMetadata"]
        self.assertEqual(md["ExpirationModel"], "KEY_MATERIAL_EXPIRES")
        self.assertEqual(int(md["ValidTo"].timestamp()), int(valid_to.timestamp()))
        ct = self.c.encrypt(KeyId=key, Plaintext=b"kept")["CiphertextBlob"]
        self.c.delete_imported_key_material(KeyId=key)
        self.assertEqual(self.c.describe_key(KeyId=key)["KeyMetadata"]["KeyState"], "PendingImport")
        self.assertError("KMSInvalidStateException", self.c.encrypt, KeyId=key, Plaintext=b"x")
        with self.assertRaises(ClientError) as cm:
            self.import_material(key, os.urandom(32))
        self.assertEqual(cm.exception.response["Error"]["Code"], "IncorrectKeyMaterialException")
        again = self.import_material(key, material)
        self.assertEqual(again["KeyMaterialId"], first["KeyMaterialId"])
        self.assertEqual(self.c.decrypt(CiphertextBlob=ct)["Plaintext"], b"kept")
        # Tokens: a superseded one, another key's, and garbage material.
        old = self.c.get_parameters_for_import(KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                               WrappingKeySpec="RSA_2048")
        new = self.c.get_parameters_for_import(KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                               WrappingKeySpec="RSA_2048")
        self.assertError("InvalidImportTokenException", self.c.import_key_material, KeyId=key,
                         ImportToken=old["ImportToken"], EncryptedKeyMaterial=self.wrap(old, material, "RSAES_OAEP_SHA_256"),
                         ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        other = self.external("SYMMETRIC_DEFAULT")
        self.assertError("InvalidImportTokenException", self.c.import_key_material, KeyId=other,
                         ImportToken=new["ImportToken"], EncryptedKeyMaterial=self.wrap(new, material, "RSAES_OAEP_SHA_256"),
                         ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        self.assertError("InvalidCiphertextException", self.c.import_key_material, KeyId=key,
                         ImportToken=new["ImportToken"], EncryptedKeyMaterial=os.urandom(256),
                         ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        self.assertError("ValidationException", self.c.import_key_material, KeyId=key,
                         ImportToken=new["ImportToken"], EncryptedKeyMaterial=self.wrap(new, material, "RSAES_OAEP_SHA_256"))
        native = self.c.create_key()["KeyMetadata"]["KeyId"]
        self.assertError("UnsupportedOperationException", self.c.get_parameters_for_import, KeyId=native,
                         WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")

    def test_imported_hmac_keys_match_openssl(self):
        msg_path = self.write("hmac-msg.bin", b"authenticate me")
        for spec, (alg, md_name, size) in HMAC.items():
            with self.subTest(spec=spec):
                key = self.external(spec, "GENERATE_VERIFY_MAC")
                material = os.urandom(size)
                self.import_material(key, material, alg="RSAES_OAEP_SHA_256")
                mac = self.c.generate_mac(KeyId=key, Message=b"authenticate me", MacAlgorithm=alg)["Mac"]
                theirs = openssl("dgst", "-" + md_name, "-mac", "HMAC", "-macopt", "hexkey:" + material.hex(),
                                 "-binary", msg_path).stdout
                self.assertEqual(mac, theirs)
                self.assertTrue(self.c.verify_mac(KeyId=key, Message=b"authenticate me", MacAlgorithm=alg,
                                                  Mac=mac)["MacValid"])
                self.assertError("KMSInvalidMacException", self.c.verify_mac, KeyId=key,
                                 Message=b"authenticate mE", MacAlgorithm=alg, Mac=mac)
        key = self.external("HMAC_256", "GENERATE_VERIFY_MAC")
        with self.assertRaises(ClientError) as cm:
            self.import_material(key, os.urandom(31), alg="RSAES_OAEP_SHA_256")
        self.assertEqual(cm.exception.response["Error"]["Code"], "IncorrectKeyMaterialException")

    def test_imported_asymmetric_keys_sign_as_their_material(self):
        msg_path = self.write("imp-msg.bin", b"imported key signs")
        cases = [("RSA_2048", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], "RSASSA_PSS_SHA_256")]
        cases += [(spec, ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:" + curve], SIGNING[spec][0])
                  for spec, curve in CURVES.items()]
        for spec, gen, alg in cases:
            with self.subTest(spec=spec):
                der = self.pkcs8(gen)
                key = self.external(spec, "SIGN_VERIFY")
                self.import_material(key, der)
                mine = openssl("pkey", "-inform", "DER", "-in", self.write("imp.der", der),
                               "-pubout", "-outform", "DER").stdout
                self.assertEqual(self.c.get_public_key(KeyId=key)["PublicKey"], mine)
                self.write("imp-pub.der", mine)
                pem = self.path("imp-pub.pem")
                openssl("pkey", "-pubin", "-inform", "DER", "-in", self.path("imp-pub.der"), "-out", pem)
                sig = self.c.sign(KeyId=key, Message=b"imported key signs", SigningAlgorithm=alg)["Signature"]
                self.assertTrue(self.openssl_verifies(pem, alg, msg_path, sig))
        # An RSA key imported for encryption decrypts what openssl encrypts.
        der = self.pkcs8(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        key = self.external("RSA_2048", "ENCRYPT_DECRYPT")
        self.import_material(key, der)
        pem = self.path("rsa-imp.pem")
        openssl("pkey", "-inform", "DER", "-in", self.write("rsa-imp.der", der), "-pubout", "-out", pem)
        self.write("pt.bin", b"to the imported key")
        openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pem, "-in", self.path("pt.bin"), "-out",
                self.path("ct.bin"), "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256",
                "-pkeyopt", "rsa_mgf1_md:sha256")
        out = self.c.decrypt(CiphertextBlob=self.read("ct.bin"), KeyId=key, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
        self.assertEqual(out["Plaintext"], b"to the imported key")
        # Material of the wrong spec: a P-384 key into a P-256 key.
        key = self.external("ECC_NIST_P256", "SIGN_VERIFY")
        with self.assertRaises(ClientError) as cm:
            self.import_material(key, self.pkcs8(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]))
        self.assertEqual(cm.exception.response["Error"]["Code"], "IncorrectKeyMaterialException")


if __name__ == "__main__":
    unittest.main()
