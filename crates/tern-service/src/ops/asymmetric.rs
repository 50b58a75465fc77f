//! Asymmetric and HMAC keys: GetPublicKey, Sign, Verify, GenerateMac,
//! VerifyMac, DeriveSharedSecret, GenerateDataKeyPair(WithoutPlaintext).
//! (RSA encryption shares Encrypt/Decrypt/ReEncrypt in `crypto.rs`.)
//!
//! Each is a read: resolve and authorize the key, check state, usage and
//! algorithm, compute with the cached key handle, then audit durably.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use tern_core::key::{
    DataKeyPairSpec, KeyAgreementAlgorithm, KeyRecord, KeyUsage, MacAlgorithm, MessageType, SigningAlgorithm,
};
use tern_core::material::MaterialError;
use tern_proto::pb;

use crate::audit::AuditEvent;
use crate::authz::{condition, Action, Conditions, RequestFacts, StateRule};
use crate::caller::RequestContext;
use crate::error::{KmsError, KmsResult};
use crate::kms::Kms;
use crate::messages;
use crate::ops::crypto::encryption_algorithm_condition;
use crate::resolve::IdForms;
use crate::validate;
use tern_policy::keys;

/// Largest Sign/Verify/GenerateMac message, bytes.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Largest signature or MAC a request may carry, bytes.
const MAX_SIGNATURE_BYTES: usize = 6144;
/// Largest peer public key (DeriveSharedSecret), bytes.
const MAX_PUBLIC_KEY_BYTES: usize = 8192;

fn message_type(v: Option<&str>) -> KmsResult<MessageType> {
    match v {
        None => Ok(MessageType::Raw),
        Some(s) => {
            let t = validate::required_enum(s, "messageType", MessageType::parse, MessageType::value_set)?;
            if t == MessageType::ExternalMu {
                return Err(messages::external_mu_not_supported());
            }
            Ok(t)
        }
    }
}

fn usage_error(key: &KeyRecord, op: Action) -> KmsError {
    messages::wrong_usage(&key.arn(), key.key_usage.as_str(), &op.to_string())
}

fn algorithm_error(key: &KeyRecord, what: &str, alg: &str) -> KmsError {
    messages::algorithm_not_for_key(what, alg, &key.arn())
}

/// The AWS error for a failed computation on key material.
fn material_error(e: MaterialError) -> KmsError {
    match e {
        MaterialError::DigestLength { alg, .. } => messages::digest_length(alg.as_str()),
        MaterialError::BadPublicKey => messages::invalid_public_key(),
        MaterialError::TooLong { .. } => KmsError::validation(e.to_string()),
        other => KmsError::internal(format!("cryptographic operation failed: {other}")),
    }
}

/// `kms:MessageType` and `kms:SigningAlgorithm` of a Sign or Verify request.
fn signing_conditions(message_type: Option<&str>, algorithm: &str) -> Conditions {
    vec![
        condition(keys::MESSAGE_TYPE, message_type.unwrap_or("RAW")),
        condition(keys::SIGNING_ALGORITHM, algorithm),
    ]
}

/// What a request names and checks before its computation.
struct KeyUse<'a> {
    raw: &'a str,
    action: Action,
    usage: KeyUsage,
    grant_tokens: &'a [String],
    /// The request's condition keys (its algorithm, message type).
    conditions: Conditions,
}

impl Kms {
    /// Resolves, authorizes and checks the key of an asymmetric or HMAC
    /// operation: state (including expired imported material) and usage.
    fn key_for(&self, ctx: &RequestContext, u: KeyUse<'_>, ev: &mut AuditEvent) -> KmsResult<Arc<KeyRecord>> {
        validate::grant_tokens(u.grant_tokens)?;
        let facts = RequestFacts::conditions(u.conditions);
        let key = self.read_key(ctx, u.raw, IdForms::WithAliases, u.action, StateRule::Crypto, facts, ev)?;
        if key.key_usage != u.usage {
            return Err(usage_error(&key, u.action));
        }
        Ok(key)
    }

    pub async fn get_public_key(
        &self,
        ctx: &RequestContext,
        req: pb::GetPublicKeyRequest,
    ) -> KmsResult<pb::GetPublicKeyResponse> {
        let mut ev = AuditEvent::new("GetPublicKey", true, json!({"keyId": req.key_id}));
        let r = (|| {
            validate::grant_tokens(&req.grant_tokens)?;
            let key = self.read_key(
                ctx,
                &req.key_id,
                IdForms::WithAliases,
                Action::GetPublicKey,
                StateRule::Crypto,
                RequestFacts::default(),
                &mut ev,
            )?;
            if !key.key_spec.is_asymmetric() {
                return Err(messages::no_public_key(&key.arn(), key.key_spec.as_str()));
            }
            let (_, h) = self.current_handle(&key)?;
            let public_key = h
                .public_key_der()
                .ok_or_else(|| KmsError::internal("asymmetric key without a public key"))?
                .to_vec();
            Ok(pb::GetPublicKeyResponse {
                key_id: key.arn(),
                public_key,
                customer_master_key_spec: key.key_spec.customer_master_key_spec().to_string(),
                key_spec: key.key_spec.to_string(),
                key_usage: key.key_usage.to_string(),
                encryption_algorithms: key
                    .key_spec
                    .encryption_algorithms(key.key_usage)
                    .iter()
                    .map(|a| a.to_string())
                    .collect(),
                signing_algorithms: key
                    .key_spec
                    .signing_algorithms(key.key_usage)
                    .iter()
                    .map(|a| a.to_string())
                    .collect(),
                key_agreement_algorithms: key
                    .key_spec
                    .key_agreement_algorithms(key.key_usage)
                    .iter()
                    .map(|a| a.to_string())
                    .collect(),
            })
        })();
        self.complete(ctx, ev, r).await
    }

    /// The checks Sign and Verify share: message, type, algorithm, key.
    fn signing_input(
        &self,
        ctx: &RequestContext,
        u: KeyUse<'_>,
        message: &[u8],
        message_type_in: Option<&str>,
        alg_in: &str,
        ev: &mut AuditEvent,
    ) -> KmsResult<(Arc<KeyRecord>, MessageType, SigningAlgorithm)> {
        validate::blob_len(message, "message", MAX_MESSAGE_BYTES)?;
        let mt = message_type(message_type_in)?;
        let alg = validate::required_enum(
            alg_in,
            "signingAlgorithm",
            SigningAlgorithm::parse,
            SigningAlgorithm::value_set,
        )?;
        let key = self.key_for(ctx, u, ev)?;
        if !key.key_spec.signing_algorithms(key.key_usage).contains(&alg) {
            return Err(algorithm_error(&key, "signing algorithm", alg.as_str()));
        }
        if mt == MessageType::Digest {
            let want = alg.digest_len().unwrap_or(0);
            if message.len() != want {
                return Err(messages::digest_length(alg.as_str()));
            }
        }
        Ok((key, mt, alg))
    }

    pub async fn sign(&self, ctx: &RequestContext, req: pb::SignRequest) -> KmsResult<pb::SignResponse> {
        let mut ev = AuditEvent::new(
            "Sign",
            true,
            json!({
                "keyId": req.key_id,
                "messageType": req.message_type.as_deref().unwrap_or("RAW"),
                "signingAlgorithm": req.signing_algorithm,
            }),
        );
        let r = (|| {
            let u = KeyUse {
                raw: &req.key_id,
                action: Action::Sign,
                usage: KeyUsage::SignVerify,
                grant_tokens: &req.grant_tokens,
                conditions: signing_conditions(req.message_type.as_deref(), &req.signing_algorithm),
            };
            let (key, mt, alg) = self.signing_input(
                ctx,
                u,
                &req.message,
                req.message_type.as_deref(),
                &req.signing_algorithm,
                &mut ev,
            )?;
            if req.dry_run == Some(true) {
                return Err(messages::dry_run());
            }
            let (_, h) = self.current_handle(&key)?;
            let signature = h.sign(alg, mt, &req.message).map_err(material_error)?;
            Ok(pb::SignResponse {
                key_id: key.arn(),
                signature,
                signing_algorithm: alg.to_string(),
            })
        })();
        self.complete(ctx, ev, r).await
    }

    pub async fn verify(&self, ctx: &RequestContext, req: pb::VerifyRequest) -> KmsResult<pb::VerifyResponse> {
        let mut ev = AuditEvent::new(
            "Verify",
            true,
            json!({
                "keyId": req.key_id,
                "messageType": req.message_type.as_deref().unwrap_or("RAW"),
                "signingAlgorithm": req.signing_algorithm,
            }),
        );
        let r = (|| {
            let u = KeyUse {
                raw: &req.key_id,
                action: Action::Verify,
                usage: KeyUsage::SignVerify,
                grant_tokens: &req.grant_tokens,
                conditions: signing_conditions(req.message_type.as_deref(), &req.signing_algorithm),
            };
            validate::blob_len(&req.signature, "signature", MAX_SIGNATURE_BYTES)?;
            let (key, mt, alg) = self.signing_input(
                ctx,
                u,
                &req.message,
                req.message_type.as_deref(),
                &req.signing_algorithm,
                &mut ev,
            )?;
            if req.dry_run == Some(true) {
                return Err(messages::dry_run());
            }
            let (_, h) = self.current_handle(&key)?;
            if !h
                .verify(alg, mt, &req.message, &req.signature)
                .map_err(material_error)?
            {
                // AWS: a signature that does not verify is an error, with no message.
                return Err(messages::invalid_signature());
            }
            Ok(pb::VerifyResponse {
                key_id: key.arn(),
                signature_valid: true,
                signing_algorithm: alg.to_string(),
            })
        })();
        self.complete(ctx, ev, r).await
    }

    /// The checks GenerateMac and VerifyMac share.
    fn mac_input(
        &self,
        ctx: &RequestContext,
        u: KeyUse<'_>,
        message: &[u8],
        alg_in: &str,
        ev: &mut AuditEvent,
    ) -> KmsResult<(Arc<KeyRecord>, MacAlgorithm)> {
        validate::blob_len(message, "message", MAX_MESSAGE_BYTES)?;
        let alg = validate::required_enum(alg_in, "macAlgorithm", MacAlgorithm::parse, MacAlgorithm::value_set)?;
        let key = self.key_for(ctx, u, ev)?;
        if !key.key_spec.mac_algorithms(key.key_usage).contains(&alg) {
            return Err(messages::mac_algorithm_for_other_spec(
                alg.as_str(),
                key.key_spec.as_str(),
            ));
        }
        Ok((key, alg))
    }

    pub async fn generate_mac(
        &self,
        ctx: &RequestContext,
        req: pb::GenerateMacRequest,
    ) -> KmsResult<pb::GenerateMacResponse> {
        let mut ev = AuditEvent::new(
            "GenerateMac",
            true,
            json!({"keyId": req.key_id, "macAlgorithm": req.mac_algorithm}),
        );
        let r = (|| {
            let u = KeyUse {
                raw: &req.key_id,
                action: Action::GenerateMac,
                usage: KeyUsage::GenerateVerifyMac,
                grant_tokens: &req.grant_tokens,
                conditions: vec![condition(keys::MAC_ALGORITHM, req.mac_algorithm.as_str())],
            };
            let (key, alg) = self.mac_input(ctx, u, &req.message, &req.mac_algorithm, &mut ev)?;
            if req.dry_run == Some(true) {
                return Err(messages::dry_run());
            }
            let (_, h) = self.current_handle(&key)?;
            Ok(pb::GenerateMacResponse {
                mac: h.mac(&req.message).map_err(material_error)?,
                mac_algorithm: alg.to_string(),
                key_id: key.arn(),
            })
        })();
        self.complete(ctx, ev, r).await
    }

    pub async fn verify_mac(
        &self,
        ctx: &RequestContext,
        req: pb::VerifyMacRequest,
    ) -> KmsResult<pb::VerifyMacResponse> {
        let mut ev = AuditEvent::new(
            "VerifyMac",
            true,
            json!({"keyId": req.key_id, "macAlgorithm": req.mac_algorithm}),
        );
        let r = (|| {
            let u = KeyUse {
                raw: &req.key_id,
                action: Action::VerifyMac,
                usage: KeyUsage::GenerateVerifyMac,
                grant_tokens: &req.grant_tokens,
                conditions: vec![condition(keys::MAC_ALGORITHM, req.mac_algorithm.as_str())],
            };
            validate::blob_len(&req.mac, "mac", MAX_SIGNATURE_BYTES)?;
            let (key, alg) = self.mac_input(ctx, u, &req.message, &req.mac_algorithm, &mut ev)?;
            if req.dry_run == Some(true) {
                return Err(messages::dry_run());
            }
            let (_, h) = self.current_handle(&key)?;
            if !h.verify_mac(&req.message, &req.mac).map_err(material_error)? {
                return Err(messages::invalid_mac());
            }
            Ok(pb::VerifyMacResponse {
                key_id: key.arn(),
                mac_valid: true,
                mac_algorithm: alg.to_string(),
            })
        })();
        self.complete(ctx, ev, r).await
    }

    pub async fn derive_shared_secret(
        &self,
        ctx: &RequestContext,
        req: pb::DeriveSharedSecretRequest,
    ) -> KmsResult<pb::DeriveSharedSecretResponse> {
        let mut ev = AuditEvent::new(
            "DeriveSharedSecret",
            true,
            json!({"keyId": req.key_id, "keyAgreementAlgorithm": req.key_agreement_algorithm}),
        );
        let r = (|| {
            let alg = validate::required_enum(
                &req.key_agreement_algorithm,
                "keyAgreementAlgorithm",
                KeyAgreementAlgorithm::parse,
                KeyAgreementAlgorithm::value_set,
            )?;
            validate::blob_len(&req.public_key, "publicKey", MAX_PUBLIC_KEY_BYTES)?;
            let u = KeyUse {
                raw: &req.key_id,
                action: Action::DeriveSharedSecret,
                usage: KeyUsage::KeyAgreement,
                grant_tokens: &req.grant_tokens,
                conditions: vec![condition(keys::KEY_AGREEMENT_ALGORITHM, alg.as_str())],
            };
            let key = self.key_for(ctx, u, &mut ev)?;
            if !key.key_spec.key_agreement_algorithms(key.key_usage).contains(&alg) {
                return Err(algorithm_error(&key, "key agreement algorithm", alg.as_str()));
            }
            if req.dry_run == Some(true) {
                return Err(messages::dry_run());
            }
            let (_, h) = self.current_handle(&key)?;
            let secret = h.derive_shared_secret(&req.public_key).map_err(material_error)?;
            Ok(pb::DeriveSharedSecretResponse {
                key_id: key.arn(),
                shared_secret: secret.to_vec(),
                key_agreement_algorithm: alg.to_string(),
                key_origin: key.origin.to_string(),
            })
        })();
        self.complete(ctx, ev, r).await
    }

    /// Shared body of the two GenerateDataKeyPair operations: a fresh key
    /// pair, its private key encrypted under a symmetric key.
    async fn data_key_pair(
        &self,
        ctx: &RequestContext,
        i: DataKeyPairInput<'_>,
        ev: &mut AuditEvent,
    ) -> KmsResult<DataKeyPair> {
        let spec = validate::required_enum(
            i.key_pair_spec,
            "keyPairSpec",
            DataKeyPairSpec::parse,
            DataKeyPairSpec::value_set,
        )?;
        let key_spec = spec
            .key_spec()
            .ok_or_else(|| messages::not_supported_by_tern("KeyPairSpec", spec.as_str()))?;
        let context = validate::encryption_context(i.context)?;
        validate::grant_tokens(i.grant_tokens)?;
        let conditions = vec![
            encryption_algorithm_condition(None),
            condition(keys::DATA_KEY_PAIR_SPEC, spec.to_string()),
        ];
        let key = self.encrypt_key(ctx, i.key_id, i.action, i.context, conditions, ev)?;
        crate::ops::crypto::check_symmetric(&key, i.action)?;
        if i.dry_run == Some(true) {
            return Err(messages::dry_run());
        }
        // RSA key generation takes up to seconds: off the async workers.
        let (private, public) = tokio::task::spawn_blocking(move || tern_core::material::generate_pair(key_spec))
            .await
            .map_err(|e| KmsError::internal(format!("key pair generation: {e}")))?
            .map_err(material_error)?;
        let (blob, material) = self.seal(
            &key,
            tern_core::key::EncryptionAlgorithm::SymmetricDefault,
            &context,
            private.expose(),
        )?;
        Ok(DataKeyPair {
            private,
            public,
            blob,
            key,
            material,
            spec,
        })
    }

    pub async fn generate_data_key_pair(
        &self,
        ctx: &RequestContext,
        req: pb::GenerateDataKeyPairRequest,
    ) -> KmsResult<pb::GenerateDataKeyPairResponse> {
        let mut ev = pair_event(
            "GenerateDataKeyPair",
            &req.key_id,
            &req.key_pair_spec,
            &req.encryption_context,
        );
        let i = DataKeyPairInput {
            action: Action::GenerateDataKeyPair,
            key_id: &req.key_id,
            key_pair_spec: &req.key_pair_spec,
            context: &req.encryption_context,
            grant_tokens: &req.grant_tokens,
            dry_run: req.dry_run,
        };
        let r = self
            .data_key_pair(ctx, i, &mut ev)
            .await
            .map(|p| pb::GenerateDataKeyPairResponse {
                private_key_ciphertext_blob: p.blob,
                private_key_plaintext: p.private.expose().to_vec(),
                public_key: p.public,
                key_id: p.key.arn(),
                key_pair_spec: p.spec.to_string(),
                key_material_id: Some(p.material.to_string()),
            });
        self.complete(ctx, ev, r).await
    }

    pub async fn generate_data_key_pair_without_plaintext(
        &self,
        ctx: &RequestContext,
        req: pb::GenerateDataKeyPairWithoutPlaintextRequest,
    ) -> KmsResult<pb::GenerateDataKeyPairWithoutPlaintextResponse> {
        let mut ev = pair_event(
            "GenerateDataKeyPairWithoutPlaintext",
            &req.key_id,
            &req.key_pair_spec,
            &req.encryption_context,
        );
        let i = DataKeyPairInput {
            action: Action::GenerateDataKeyPairWithoutPlaintext,
            key_id: &req.key_id,
            key_pair_spec: &req.key_pair_spec,
            context: &req.encryption_context,
            grant_tokens: &req.grant_tokens,
            dry_run: req.dry_run,
        };
        let r = self
            .data_key_pair(ctx, i, &mut ev)
            .await
            .map(|p| pb::GenerateDataKeyPairWithoutPlaintextResponse {
                private_key_ciphertext_blob: p.blob,
                public_key: p.public,
                key_id: p.key.arn(),
                key_pair_spec: p.spec.to_string(),
                key_material_id: Some(p.material.to_string()),
            });
        self.complete(ctx, ev, r).await
    }
}

fn pair_event(name: &'static str, key_id: &str, spec: &str, context: &BTreeMap<String, String>) -> AuditEvent {
    AuditEvent::new(
        name,
        true,
        json!({
            "keyId": key_id,
            "keyPairSpec": spec,
            "encryptionContext": if context.is_empty() { serde_json::Value::Null } else { json!(context) },
        }),
    )
}

struct DataKeyPairInput<'a> {
    action: Action,
    key_id: &'a str,
    key_pair_spec: &'a str,
    context: &'a BTreeMap<String, String>,
    grant_tokens: &'a [String],
    dry_run: Option<bool>,
}

struct DataKeyPair {
    private: tern_core::crypto::Material,
    public: Vec<u8>,
    blob: Vec<u8>,
    key: Arc<KeyRecord>,
    material: tern_core::ids::KeyMaterialId,
    spec: DataKeyPairSpec,
}
