//! Key metadata and the key-state machine: specs, usages, states, and which
//! operation each state allows (AWS's "key state" table).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, KeyId, KeyMaterialId, Region};
use crate::time::UnixMillis;

/// Pending deletion window bounds and default, days.
pub const MIN_PENDING_WINDOW_DAYS: u32 = 7;
pub const MAX_PENDING_WINDOW_DAYS: u32 = 30;
pub const DEFAULT_PENDING_WINDOW_DAYS: u32 = 30;
/// Automatic rotation period bounds and default, days.
pub const MIN_ROTATION_PERIOD_DAYS: u32 = 90;
pub const MAX_ROTATION_PERIOD_DAYS: u32 = 2560;
pub const DEFAULT_ROTATION_PERIOD_DAYS: u32 = 365;
/// On-demand rotations allowed over a key's life.
pub const MAX_ON_DEMAND_ROTATIONS: u32 = 25;
/// Longest description, characters.
pub const MAX_DESCRIPTION_CHARS: usize = 8192;
/// Tag limits.
pub const MAX_TAGS_PER_KEY: usize = 50;
pub const MAX_TAG_KEY_CHARS: usize = 128;
pub const MAX_TAG_VALUE_CHARS: usize = 256;
/// Aliases that may point at one key.
pub const MAX_ALIASES_PER_KEY: usize = 50;
/// Keys one account may hold in one region unless configured otherwise:
/// AWS's default quota (deleted keys free their room; keys pending
/// deletion count).
pub const DEFAULT_KEYS_PER_ACCOUNT: usize = 100_000;

macro_rules! aws_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $( #[serde(rename = $s)] $variant ),+ }

        impl $name {
            /// Every AWS value, in the model's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$variant),)+ _ => None }
            }
            /// The value set, as AWS prints it in validation messages.
            pub fn value_set() -> String {
                let v: Vec<&str> = Self::ALL.iter().map(|x| x.as_str()).collect();
                format!("[{}]", v.join(", "))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

aws_enum!(
    /// `KeySpec` values of the AWS model.
    KeySpec {
        Rsa2048 = "RSA_2048", Rsa3072 = "RSA_3072", Rsa4096 = "RSA_4096",
        EccNistP256 = "ECC_NIST_P256", EccNistP384 = "ECC_NIST_P384", EccNistP521 = "ECC_NIST_P521",
        EccSecgP256k1 = "ECC_SECG_P256K1", SymmetricDefault = "SYMMETRIC_DEFAULT",
        Hmac224 = "HMAC_224", Hmac256 = "HMAC_256", Hmac384 = "HMAC_384", Hmac512 = "HMAC_512",
        Sm2 = "SM2", MlDsa44 = "ML_DSA_44", MlDsa65 = "ML_DSA_65", MlDsa87 = "ML_DSA_87",
        EccNistEdwards25519 = "ECC_NIST_EDWARDS25519",
    }
);

aws_enum!(
    /// `KeyUsage` values.
    KeyUsage {
        SignVerify = "SIGN_VERIFY", EncryptDecrypt = "ENCRYPT_DECRYPT",
        GenerateVerifyMac = "GENERATE_VERIFY_MAC", KeyAgreement = "KEY_AGREEMENT",
        EncapsulateDecapsulate = "ENCAPSULATE_DECAPSULATE",
    }
);

aws_enum!(
    /// `Origin` values.
    Origin {
        AwsKms = "AWS_KMS", External = "EXTERNAL", AwsCloudhsm = "AWS_CLOUDHSM",
        ExternalKeyStore = "EXTERNAL_KEY_STORE",
    }
);

aws_enum!(
    /// `KeyState` values.
    KeyState {
        Creating = "Creating", Enabled = "Enabled", Disabled = "Disabled",
        PendingDeletion = "PendingDeletion", PendingImport = "PendingImport",
        PendingReplicaDeletion = "PendingReplicaDeletion", Unavailable = "Unavailable",
        Updating = "Updating",
    }
);

aws_enum!(
    /// `KeyManager` values.
    KeyManager { Aws = "AWS", Customer = "CUSTOMER" }
);

aws_enum!(
    /// Symmetric `EncryptionAlgorithmSpec` values (asymmetric ones come with their keys).
    EncryptionAlgorithm {
        SymmetricDefault = "SYMMETRIC_DEFAULT", RsaesOaepSha1 = "RSAES_OAEP_SHA_1",
        RsaesOaepSha256 = "RSAES_OAEP_SHA_256", Sm2Pke = "SM2PKE",
    }
);

aws_enum!(
    /// `DataKeySpec` values of GenerateDataKey.
    DataKeySpec { Aes256 = "AES_256", Aes128 = "AES_128" }
);

aws_enum!(
    /// `RotationType` of a ListKeyRotations entry.
    RotationType { Automatic = "AUTOMATIC", OnDemand = "ON_DEMAND" }
);

aws_enum!(
    /// `SigningAlgorithmSpec` values tern implements.
    SigningAlgorithm {
        RsassaPssSha256 = "RSASSA_PSS_SHA_256", RsassaPssSha384 = "RSASSA_PSS_SHA_384",
        RsassaPssSha512 = "RSASSA_PSS_SHA_512", RsassaPkcs1V15Sha256 = "RSASSA_PKCS1_V1_5_SHA_256",
        RsassaPkcs1V15Sha384 = "RSASSA_PKCS1_V1_5_SHA_384", RsassaPkcs1V15Sha512 = "RSASSA_PKCS1_V1_5_SHA_512",
        EcdsaSha256 = "ECDSA_SHA_256", EcdsaSha384 = "ECDSA_SHA_384", EcdsaSha512 = "ECDSA_SHA_512",
        Sm2Dsa = "SM2DSA", MlDsaShake256 = "ML_DSA_SHAKE_256", Ed25519Sha512 = "ED25519_SHA_512",
        Ed25519PhSha512 = "ED25519_PH_SHA_512",
    }
);

aws_enum!(
    /// `MessageType` of Sign and Verify.
    MessageType { Raw = "RAW", Digest = "DIGEST", ExternalMu = "EXTERNAL_MU" }
);

aws_enum!(
    /// `MacAlgorithmSpec` values.
    MacAlgorithm {
        HmacSha224 = "HMAC_SHA_224", HmacSha256 = "HMAC_SHA_256", HmacSha384 = "HMAC_SHA_384",
        HmacSha512 = "HMAC_SHA_512",
    }
);

aws_enum!(
    /// `KeyAgreementAlgorithmSpec` values.
    KeyAgreementAlgorithm { Ecdh = "ECDH" }
);

aws_enum!(
    /// `DataKeyPairSpec` values of GenerateDataKeyPair.
    DataKeyPairSpec {
        Rsa2048 = "RSA_2048", Rsa3072 = "RSA_3072", Rsa4096 = "RSA_4096",
        EccNistP256 = "ECC_NIST_P256", EccNistP384 = "ECC_NIST_P384", EccNistP521 = "ECC_NIST_P521",
        EccSecgP256k1 = "ECC_SECG_P256K1", Sm2 = "SM2", EccNistEdwards25519 = "ECC_NIST_EDWARDS25519",
    }
);

aws_enum!(
    /// `WrappingKeySpec` of GetParametersForImport.
    WrappingKeySpec { Rsa2048 = "RSA_2048", Rsa3072 = "RSA_3072", Rsa4096 = "RSA_4096", Sm2 = "SM2" }
);

aws_enum!(
    /// `AlgorithmSpec`: how imported material is wrapped.
    WrappingAlgorithm {
        RsaesPkcs1V15 = "RSAES_PKCS1_V1_5", RsaesOaepSha1 = "RSAES_OAEP_SHA_1",
        RsaesOaepSha256 = "RSAES_OAEP_SHA_256", RsaAesKeyWrapSha1 = "RSA_AES_KEY_WRAP_SHA_1",
        RsaAesKeyWrapSha256 = "RSA_AES_KEY_WRAP_SHA_256", Sm2Pke = "SM2PKE",
    }
);

aws_enum!(
    /// `KeyMaterialState` of one material of a key (ListKeyRotations).
    KeyMaterialState {
        Current = "CURRENT", NonCurrent = "NON_CURRENT", PendingRotation = "PENDING_ROTATION",
    }
);

aws_enum!(
    /// `ExpirationModelType` of imported material.
    ExpirationModel {
        KeyMaterialExpires = "KEY_MATERIAL_EXPIRES", KeyMaterialDoesNotExpire = "KEY_MATERIAL_DOES_NOT_EXPIRE",
    }
);

impl WrappingKeySpec {
    pub fn bits(self) -> Option<usize> {
        match self {
            WrappingKeySpec::Rsa2048 => Some(2048),
            WrappingKeySpec::Rsa3072 => Some(3072),
            WrappingKeySpec::Rsa4096 => Some(4096),
            WrappingKeySpec::Sm2 => None,
        }
    }
}

impl DataKeyPairSpec {
    /// The key spec whose material has the same form (PKCS#8 of the same
    /// algorithm), for the pair specs tern implements.
    pub fn key_spec(self) -> Option<KeySpec> {
        match self {
            DataKeyPairSpec::Rsa2048 => Some(KeySpec::Rsa2048),
            DataKeyPairSpec::Rsa3072 => Some(KeySpec::Rsa3072),
            DataKeyPairSpec::Rsa4096 => Some(KeySpec::Rsa4096),
            DataKeyPairSpec::EccNistP256 => Some(KeySpec::EccNistP256),
            DataKeyPairSpec::EccNistP384 => Some(KeySpec::EccNistP384),
            DataKeyPairSpec::EccNistP521 => Some(KeySpec::EccNistP521),
            DataKeyPairSpec::EccSecgP256k1 => Some(KeySpec::EccSecgP256k1),
            DataKeyPairSpec::Sm2 | DataKeyPairSpec::EccNistEdwards25519 => None,
        }
    }
}

impl SigningAlgorithm {
    /// Bytes of the digest a DIGEST message must have.
    pub fn digest_len(self) -> Option<usize> {
        use SigningAlgorithm as S;
        match self {
            S::RsassaPssSha256 | S::RsassaPkcs1V15Sha256 | S::EcdsaSha256 => Some(32),
            S::RsassaPssSha384 | S::RsassaPkcs1V15Sha384 | S::EcdsaSha384 => Some(48),
            S::RsassaPssSha512 | S::RsassaPkcs1V15Sha512 | S::EcdsaSha512 => Some(64),
            _ => None,
        }
    }
}

impl DataKeySpec {
    pub fn len_bytes(self) -> usize {
        match self {
            DataKeySpec::Aes256 => 32,
            DataKeySpec::Aes128 => 16,
        }
    }
}

/// Operations whose outcome depends on the key state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyOp {
    /// Encrypt, Decrypt, ReEncrypt, GenerateDataKey*, (later Sign, Verify, …).
    Cryptographic,
    DescribeKey,
    EnableKey,
    DisableKey,
    ScheduleKeyDeletion,
    CancelKeyDeletion,
    UpdateKeyDescription,
    /// CreateAlias / UpdateAlias targeting the key.
    AliasTarget,
    TagResource,
    UntagResource,
    ListResourceTags,
    EnableKeyRotation,
    DisableKeyRotation,
    GetKeyRotationStatus,
    RotateKeyOnDemand,
    ListKeyRotations,
    GetKeyPolicy,
    PutKeyPolicy,
    ListKeyPolicies,
    /// GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial.
    Import,
}

/// Why a state refuses an operation; the service turns it into the AWS
/// exception and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateRefusal {
    /// `DisabledException` "<ARN> is disabled."
    Disabled,
    /// `KMSInvalidStateException` "<ARN> is <state phrase>."
    InvalidState(KeyState),
    /// `KMSInvalidStateException` "<ARN> is not pending deletion."
    NotPendingDeletion,
}

impl KeyState {
    /// The phrase AWS uses in "<ARN> is <phrase>." messages.
    pub fn phrase(self) -> &'static str {
        match self {
            KeyState::Creating => "creating",
            KeyState::Enabled => "enabled",
            KeyState::Disabled => "disabled",
            KeyState::PendingDeletion => "pending deletion",
            KeyState::PendingImport => "pending import",
            KeyState::PendingReplicaDeletion => "pending replica deletion",
            KeyState::Unavailable => "unavailable",
            KeyState::Updating => "updating",
        }
    }

    /// The key-state table (AWS developer guide, "Key states of AWS KMS
    /// keys"): may `op` run on a key in this state?
    pub fn allows(self, op: KeyOp) -> Result<(), StateRefusal> {
        use KeyOp as O;
        use KeyState as S;
        let invalid = Err(StateRefusal::InvalidState(self));
        let pending_deletion = matches!(self, S::PendingDeletion | S::PendingReplicaDeletion);
        match op {
            // Reading metadata and policies works in every state.
            O::DescribeKey
            | O::ListResourceTags
            | O::GetKeyPolicy
            | O::ListKeyPolicies
            | O::ListKeyRotations
            | O::GetKeyRotationStatus
            | O::PutKeyPolicy => Ok(()),
            O::Cryptographic => match self {
                S::Enabled | S::Updating => Ok(()),
                S::Disabled => Err(StateRefusal::Disabled),
                _ => invalid,
            },
            O::EnableKey | O::DisableKey => match self {
                S::Enabled | S::Disabled | S::Unavailable => Ok(()),
                _ => invalid,
            },
            O::ScheduleKeyDeletion => match self {
                S::Enabled | S::Disabled | S::PendingImport | S::Unavailable | S::Creating => Ok(()),
                _ => invalid,
            },
            O::CancelKeyDeletion => {
                if pending_deletion {
                    Ok(())
                } else {
                    Err(StateRefusal::NotPendingDeletion)
                }
            }
            O::UpdateKeyDescription | O::TagResource | O::UntagResource | O::AliasTarget => {
                if pending_deletion {
                    invalid
                } else {
                    Ok(())
                }
            }
            O::Import => match self {
                S::Enabled | S::Disabled | S::PendingImport => Ok(()),
                _ => invalid,
            },
            O::EnableKeyRotation | O::DisableKeyRotation | O::RotateKeyOnDemand => match self {
                S::Enabled | S::Updating => Ok(()),
                S::Disabled => Err(StateRefusal::Disabled),
                _ => invalid,
            },
        }
    }
}

impl KeySpec {
    /// Encryption algorithms a key of this spec and usage supports.
    pub fn encryption_algorithms(self, usage: KeyUsage) -> Vec<EncryptionAlgorithm> {
        match (self, usage) {
            (KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt) => vec![EncryptionAlgorithm::SymmetricDefault],
            (KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096, KeyUsage::EncryptDecrypt) => {
                vec![EncryptionAlgorithm::RsaesOaepSha1, EncryptionAlgorithm::RsaesOaepSha256]
            }
            _ => Vec::new(),
        }
    }

    /// Signing algorithms a key of this spec and usage supports.
    pub fn signing_algorithms(self, usage: KeyUsage) -> Vec<SigningAlgorithm> {
        use SigningAlgorithm as S;
        if usage != KeyUsage::SignVerify {
            return Vec::new();
        }
        match self {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => vec![
                S::RsassaPssSha256,
                S::RsassaPssSha384,
                S::RsassaPssSha512,
                S::RsassaPkcs1V15Sha256,
                S::RsassaPkcs1V15Sha384,
                S::RsassaPkcs1V15Sha512,
            ],
            KeySpec::EccNistP256 | KeySpec::EccSecgP256k1 => vec![S::EcdsaSha256],
            KeySpec::EccNistP384 => vec![S::EcdsaSha384],
            KeySpec::EccNistP521 => vec![S::EcdsaSha512],
            _ => Vec::new(),
        }
    }

    /// MAC algorithms (HMAC keys: exactly one).
    pub fn mac_algorithms(self, usage: KeyUsage) -> Vec<MacAlgorithm> {
        if usage != KeyUsage::GenerateVerifyMac {
            return Vec::new();
        }
        match self {
            KeySpec::Hmac224 => vec![MacAlgorithm::HmacSha224],
            KeySpec::Hmac256 => vec![MacAlgorithm::HmacSha256],
            KeySpec::Hmac384 => vec![MacAlgorithm::HmacSha384],
            KeySpec::Hmac512 => vec![MacAlgorithm::HmacSha512],
            _ => Vec::new(),
        }
    }

    /// Key agreement algorithms (ECC NIST keys with KEY_AGREEMENT usage).
    pub fn key_agreement_algorithms(self, usage: KeyUsage) -> Vec<KeyAgreementAlgorithm> {
        match (self, usage) {
            (KeySpec::EccNistP256 | KeySpec::EccNistP384 | KeySpec::EccNistP521, KeyUsage::KeyAgreement) => {
                vec![KeyAgreementAlgorithm::Ecdh]
            }
            _ => Vec::new(),
        }
    }

    /// Usages AWS allows for this spec, for the specs tern implements
    /// (`None`: tern does not implement the spec).
    pub fn usages(self) -> Option<&'static [KeyUsage]> {
        use KeyUsage as U;
        match self {
            KeySpec::SymmetricDefault => Some(&[U::EncryptDecrypt]),
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => Some(&[U::EncryptDecrypt, U::SignVerify]),
            KeySpec::EccNistP256 | KeySpec::EccNistP384 | KeySpec::EccNistP521 => {
                Some(&[U::SignVerify, U::KeyAgreement])
            }
            KeySpec::EccSecgP256k1 => Some(&[U::SignVerify]),
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => Some(&[U::GenerateVerifyMac]),
            KeySpec::Sm2 | KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 | KeySpec::EccNistEdwards25519 => {
                None
            }
        }
    }

    /// Public-key specs (GetPublicKey applies).
    pub fn is_asymmetric(self) -> bool {
        !matches!(
            self,
            KeySpec::SymmetricDefault | KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512
        )
    }

    pub fn is_hmac(self) -> bool {
        matches!(
            self,
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512
        )
    }

    /// The deprecated `CustomerMasterKeySpec` AWS still returns.
    pub fn customer_master_key_spec(self) -> &'static str {
        self.as_str()
    }
}

/// Imported material of an `EXTERNAL` key: what the last import set, and
/// the outstanding import parameters.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ImportState {
    /// The material id every import into this key must reproduce: the
    /// fingerprint of the first material imported (AWS: the same key
    /// material must be reimported). `None` until the first import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<KeyMaterialId>,
    /// When the current material expires (KEY_MATERIAL_EXPIRES).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<UnixMillis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<ExpirationModel>,
    /// The latest GetParametersForImport answer, while unused and unexpired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<ImportParameters>,
    /// Every material imported into the key, oldest first, with its own
    /// state and expiration (AWS 2025: imported material rotates with
    /// `ImportType NEW_KEY_MATERIAL` then RotateKeyOnDemand). Empty in
    /// records written before rotation of imported material: see
    /// [`ImportState::upgrade`]. `valid_to` and `expiration_model` above
    /// always mirror the current material's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub materials: Vec<ImportedMaterial>,
}

/// One material imported into an `EXTERNAL` key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedMaterial {
    pub id: KeyMaterialId,
    pub state: KeyMaterialState,
    /// Whether this region holds its bytes (`IMPORTED`), or they were
    /// deleted or expired (`PENDING_IMPORT`: the same material may be
    /// imported again).
    pub present: bool,
    pub first_imported: UnixMillis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<ExpirationModel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<UnixMillis>,
    /// When RotateKeyOnDemand made it current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated: Option<UnixMillis>,
}

impl ImportState {
    /// Fills `materials` for a record written before it existed: its one
    /// material (the fingerprint), current, present when `held` has it.
    pub fn upgrade(&mut self, held: &[MaterialRecord]) {
        if !self.materials.is_empty() {
            return;
        }
        let Some(id) = self.fingerprint else { return };
        let present = held.iter().find(|m| m.id == id);
        self.materials.push(ImportedMaterial {
            id,
            state: KeyMaterialState::Current,
            present: present.is_some(),
            first_imported: present.map(|m| m.created).unwrap_or(UnixMillis(0)),
            description: None,
            expiration_model: self.expiration_model,
            valid_to: self.valid_to,
            rotated: None,
        });
    }

    /// The materials as [`ImportState::upgrade`] would leave them.
    pub fn entries(&self, held: &[MaterialRecord]) -> Vec<ImportedMaterial> {
        let mut s = self.clone();
        s.upgrade(held);
        s.materials
    }

    pub fn entry(&self, id: &KeyMaterialId) -> Option<&ImportedMaterial> {
        self.materials.iter().find(|m| &m.id == id)
    }

    pub fn entry_mut(&mut self, id: &KeyMaterialId) -> Option<&mut ImportedMaterial> {
        self.materials.iter_mut().find(|m| &m.id == id)
    }

    /// The material waiting for RotateKeyOnDemand, if one is.
    pub fn pending_rotation(&self) -> Option<&ImportedMaterial> {
        self.materials
            .iter()
            .find(|m| m.state == KeyMaterialState::PendingRotation)
    }

    /// The current material (present or not).
    pub fn current(&self) -> Option<&ImportedMaterial> {
        self.materials.iter().find(|m| m.state == KeyMaterialState::Current)
    }

    /// Mirrors the current material's expiration into `valid_to` and
    /// `expiration_model` (what DescribeKey shows and the expiry check reads).
    pub fn sync_current(&mut self) {
        let (model, valid_to) = match self.current().filter(|c| c.present) {
            Some(c) => (c.expiration_model, c.valid_to),
            None => (None, None),
        };
        self.expiration_model = model;
        self.valid_to = valid_to;
    }
}

impl fmt::Debug for ImportState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportState")
            .field("fingerprint", &self.fingerprint)
            .field("valid_to", &self.valid_to)
            .field("expiration_model", &self.expiration_model)
            .field("pending", &self.pending.as_ref().map(|p| p.expires))
            .field("materials", &self.materials)
            .finish()
    }
}

/// One GetParametersForImport answer: the wrapping key pair (its private
/// half wrapped under the region root key) and the token naming it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportParameters {
    /// Random token id; the import token carries it.
    #[serde(with = "crate::b64")]
    pub token: Vec<u8>,
    pub wrapping_spec: WrappingKeySpec,
    pub algorithm: WrappingAlgorithm,
    /// PKCS#8 of the wrapping private key, wrapped under the root key.
    #[serde(with = "crate::b64")]
    pub wrapped_private: Vec<u8>,
    pub expires: UnixMillis,
}

impl fmt::Debug for ImportParameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportParameters")
            .field("wrapping_spec", &self.wrapping_spec)
            .field("algorithm", &self.algorithm)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// One key material version of a key. The material itself is wrapped under
/// the region root key (see [`crate::crypto::wrap_material`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaterialRecord {
    pub id: KeyMaterialId,
    pub created: UnixMillis,
    /// `None` for the key's first material.
    pub rotation_type: Option<RotationType>,
    /// AES-256-GCM of the material under the root key; AAD binds key and material id.
    #[serde(with = "crate::b64")]
    pub wrapped: Vec<u8>,
}

impl fmt::Debug for MaterialRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaterialRecord")
            .field("id", &self.id)
            .field("created", &self.created)
            .field("rotation_type", &self.rotation_type)
            .field("wrapped", &"<wrapped material>")
            .finish()
    }
}

/// Automatic and on-demand rotation bookkeeping (default: disabled, none yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RotationConfig {
    pub enabled: bool,
    pub period_days: Option<u32>,
    /// When automatic rotation next fires (set while enabled).
    pub next_rotation: Option<UnixMillis>,
    pub on_demand_count: u32,
    /// Start of the latest on-demand rotation.
    pub on_demand_started: Option<UnixMillis>,
}

/// Everything a region stores about one of its keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key_id: KeyId,
    pub account: AccountId,
    pub region: Region,
    pub created: UnixMillis,
    pub description: String,
    pub key_spec: KeySpec,
    pub key_usage: KeyUsage,
    pub origin: Origin,
    pub key_manager: KeyManager,
    pub state: KeyState,
    pub deletion_date: Option<UnixMillis>,
    pub pending_window_days: Option<u32>,
    pub policy: String,
    /// Tags in the order they were first set.
    pub tags: Vec<(String, String)>,
    pub rotation: RotationConfig,
    /// Oldest first; the last one encrypts.
    pub materials: Vec<MaterialRecord>,
    /// Multi-Region keys: material this region holds but that does not
    /// encrypt yet, because not every replica region has acknowledged it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_materials: Vec<MaterialRecord>,
    /// Multi-Region keys: this region's copy of the replicated shared state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_region: Option<MultiRegionView>,
    /// `EXTERNAL` keys: imported material bookkeeping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<ImportState>,
}

/// A Multi-Region key's shared properties as one region last applied them
/// from the replication log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiRegionView {
    pub primary: Region,
    /// Replica regions (the primary excluded), in the order they were added.
    pub replicas: Vec<Region>,
}

impl MultiRegionView {
    /// Every region holding the key, primary first.
    pub fn regions(&self) -> impl Iterator<Item = &Region> {
        std::iter::once(&self.primary).chain(self.replicas.iter())
    }
    pub fn is_primary(&self, r: &Region) -> bool {
        &self.primary == r
    }
}

impl KeyRecord {
    pub fn arn(&self) -> String {
        crate::ids::key_arn(&self.region, &self.account, &self.key_id)
    }

    pub fn current_material(&self) -> Option<&MaterialRecord> {
        self.materials.last()
    }

    /// The id of the key's current material: for an imported key, the
    /// current one even while its bytes are deleted (AWS still shows it);
    /// otherwise the material that encrypts.
    pub fn current_material_id(&self) -> Option<KeyMaterialId> {
        let imported = self.import.as_ref().and_then(|i| {
            i.current()
                .map(|c| c.id)
                .or_else(|| i.materials.is_empty().then_some(i.fingerprint).flatten())
        });
        imported.or_else(|| self.current_material().map(|m| m.id))
    }

    /// Makes imported material `id`, held pending rotation, the current one
    /// (RotateKeyOnDemand of an imported key; for a Multi-Region key, when
    /// the log says so). The previous current material stays and decrypts.
    /// False when `id` is not held pending rotation here.
    pub fn make_imported_current(&mut self, id: &KeyMaterialId, now: UnixMillis) -> bool {
        let Some(import) = self.import.as_mut() else {
            return false;
        };
        import.upgrade(&self.materials);
        let pending = import
            .entry(id)
            .is_some_and(|e| e.present && e.state == KeyMaterialState::PendingRotation);
        let Some(at) = self
            .pending_materials
            .iter()
            .position(|m| &m.id == id)
            .filter(|_| pending)
        else {
            return false;
        };
        let mut m = self.pending_materials.remove(at);
        m.created = now;
        m.rotation_type = Some(RotationType::OnDemand);
        self.materials.push(m);
        for e in import.materials.iter_mut() {
            if e.state == KeyMaterialState::Current {
                e.state = KeyMaterialState::NonCurrent;
            }
            if &e.id == id {
                e.state = KeyMaterialState::Current;
                e.rotated = Some(now);
            }
        }
        import.sync_current();
        true
    }

    /// Whether some imported material this region holds has passed its own
    /// `ValidTo` at `now` (the expiry sweep deletes it).
    pub fn imported_material_past_valid_to(&self, now: UnixMillis) -> bool {
        self.material_expired(now)
            || self.import.as_ref().is_some_and(|i| {
                i.materials
                    .iter()
                    .any(|m| m.present && m.valid_to.is_some_and(|v| now >= v))
            })
    }

    /// A material this region holds, current, old or awaiting activation.
    pub fn material(&self, id: &KeyMaterialId) -> Option<&MaterialRecord> {
        self.materials
            .iter()
            .chain(self.pending_materials.iter())
            .find(|m| &m.id == id)
    }

    pub fn tag_map(&self) -> BTreeMap<&str, &str> {
        self.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    /// Whether imported material has passed its `ValidTo` at `now` (the key
    /// then acts as PendingImport until the expiry sweep persists it).
    pub fn material_expired(&self, now: UnixMillis) -> bool {
        self.import.as_ref().and_then(|i| i.valid_to).is_some_and(|v| now >= v) && !self.materials.is_empty()
    }

    /// Whether automatic rotation applies to this key at all.
    pub fn rotatable(&self) -> bool {
        self.key_spec == KeySpec::SymmetricDefault && self.origin == Origin::AwsKms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_round_trip() {
        for s in KeyState::ALL {
            assert_eq!(KeyState::parse(s.as_str()), Some(*s));
        }
        assert_eq!(KeySpec::parse("SYMMETRIC_DEFAULT"), Some(KeySpec::SymmetricDefault));
        assert_eq!(KeySpec::parse("symmetric_default"), None);
        assert!(KeyUsage::value_set().starts_with("[SIGN_VERIFY, "));
    }

    /// The state × operation table, one row per state.
    #[test]
    fn state_table() {
        use KeyOp::*;
        use StateRefusal::*;
        let ok = Ok(());
        let cases: &[(KeyState, KeyOp, Result<(), StateRefusal>)] = &[
            (KeyState::Enabled, Cryptographic, ok),
            (KeyState::Updating, Cryptographic, ok),
            (KeyState::Disabled, Cryptographic, Err(Disabled)),
            (
                KeyState::PendingDeletion,
                Cryptographic,
                Err(InvalidState(KeyState::PendingDeletion)),
            ),
            (
                KeyState::PendingImport,
                Cryptographic,
                Err(InvalidState(KeyState::PendingImport)),
            ),
            (KeyState::Creating, Cryptographic, Err(InvalidState(KeyState::Creating))),
            (KeyState::PendingDeletion, DescribeKey, ok),
            (
                KeyState::PendingDeletion,
                EnableKey,
                Err(InvalidState(KeyState::PendingDeletion)),
            ),
            (KeyState::Disabled, EnableKey, ok),
            (KeyState::Enabled, CancelKeyDeletion, Err(NotPendingDeletion)),
            (KeyState::Disabled, CancelKeyDeletion, Err(NotPendingDeletion)),
            (KeyState::PendingDeletion, PutKeyPolicy, ok),
            (
                KeyState::Updating,
                ScheduleKeyDeletion,
                Err(InvalidState(KeyState::Updating)),
            ),
            (KeyState::PendingImport, ScheduleKeyDeletion, ok),
            (
                KeyState::PendingImport,
                EnableKey,
                Err(InvalidState(KeyState::PendingImport)),
            ),
            (
                KeyState::PendingDeletion,
                EnableKeyRotation,
                Err(InvalidState(KeyState::PendingDeletion)),
            ),
            (
                KeyState::PendingDeletion,
                UntagResource,
                Err(InvalidState(KeyState::PendingDeletion)),
            ),
            (
                KeyState::PendingDeletion,
                UpdateKeyDescription,
                Err(InvalidState(KeyState::PendingDeletion)),
            ),
            (KeyState::Disabled, UpdateKeyDescription, ok),
            (KeyState::PendingDeletion, CancelKeyDeletion, ok),
            (
                KeyState::PendingDeletion,
                ScheduleKeyDeletion,
                Err(InvalidState(KeyState::PendingDeletion)),
            ),
            (KeyState::Disabled, EnableKeyRotation, Err(Disabled)),
            (KeyState::Disabled, RotateKeyOnDemand, Err(Disabled)),
            (KeyState::Disabled, GetKeyRotationStatus, ok),
            (
                KeyState::PendingDeletion,
                TagResource,
                Err(InvalidState(KeyState::PendingDeletion)),
            ),
            (
                KeyState::PendingDeletion,
                AliasTarget,
                Err(InvalidState(KeyState::PendingDeletion)),
            ),
            (KeyState::Disabled, PutKeyPolicy, ok),
            (KeyState::PendingDeletion, GetKeyPolicy, ok),
        ];
        for (state, op, want) in cases {
            assert_eq!(state.allows(*op), *want, "{state:?} × {op:?}");
        }
    }
}
