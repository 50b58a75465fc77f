//! The data plane: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
//! GenerateDataKeyWithoutPlaintext, GenerateRandom.
//!
//! Hot path: parse blob → look up the key in the published state → cached
//! cipher → AES-GCM → durable audit record. No lock is held across an await.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use tern_core::blob::{self, MAX_CIPHERTEXT_BLOB_BYTES};
use tern_core::context::EncryptionContext;
use tern_core::crypto::MAX_PLAINTEXT_BYTES;
use tern_core::ids::{key_arn, KeyMaterialId};
use tern_core::key::{DataKeySpec, EncryptionAlgorithm, KeyRecord, KeyUsage};
use tern_core::material::MaterialError;
use tern_proto::pb;
use zeroize::Zeroizing;

use crate::audit::AuditEvent;
use crate::authz::{condition, Action, Conditions, RequestFacts, StateRule, Target};
use crate::caller::RequestContext;
use crate::error::{KmsError, KmsResult};
use crate::kms::{random_bytes, Kms};
use crate::messages;
use crate::resolve::{resolve, IdForms};
use crate::validate::{self, MAX_NUMBER_OF_BYTES};
use tern_policy::keys;

fn algorithm(v: Option<&str>, field: &str, key: &KeyRecord) -> KmsResult<EncryptionAlgorithm> {
    let a = match v {
        None => EncryptionAlgorithm::SymmetricDefault,
        Some(s) => EncryptionAlgorithm::parse(s)
            .ok_or_else(|| messages::not_in_enum(s, field, &EncryptionAlgorithm::value_set()))?,
    };
    if !key.key_spec.encryption_algorithms(key.key_usage).contains(&a) {
        return Err(messages::algorithm_not_for_key(
            "encryption algorithm",
            a.as_str(),
            &key.arn(),
        ));
    }
    Ok(a)
}

fn check_usage(key: &KeyRecord, op: Action) -> KmsResult<()> {
    if key.key_usage != KeyUsage::EncryptDecrypt {
        return Err(messages::wrong_usage(
            &key.arn(),
            key.key_usage.as_str(),
            &op.to_string(),
        ));
    }
    Ok(())
}

fn context_params(m: &BTreeMap<String, String>) -> serde_json::Value {
    if m.is_empty() {
        serde_json::Value::Null
    } else {
        json!(m)
    }
}

/// A plaintext that will be encrypted under a key: how many bytes to generate.
fn data_key_len(number_of_bytes: Option<i32>, key_spec: Option<&str>) -> KmsResult<usize> {
    match (number_of_bytes, key_spec) {
        (Some(_), Some(_)) | (None, None) => Err(messages::number_of_bytes_or_key_spec()),
        (Some(n), None) => Ok(validate::int_in_range(Some(n), "numberOfBytes", 1, MAX_NUMBER_OF_BYTES, 0)? as usize),
        (None, Some(s)) => DataKeySpec::parse(s)
            .map(DataKeySpec::len_bytes)
            .ok_or_else(|| messages::not_in_enum(s, "keySpec", &DataKeySpec::value_set())),
    }
}

/// `kms:EncryptionAlgorithm` of a request whose algorithm member is `v`.
pub(crate) fn encryption_algorithm_condition(v: Option<&str>) -> (String, Vec<String>) {
    condition(keys::ENCRYPTION_ALGORITHM, v.unwrap_or("SYMMETRIC_DEFAULT"))
}

/// A ciphertext to open, as a request names it.
struct BlobInput<'a> {
    blob: &'a [u8],
    context: &'a BTreeMap<String, String>,
    key_id: Option<&'a str>,
    algorithm: Option<&'a str>,
}

/// A data key to generate, as a request names it.
struct DataKeyInput<'a> {
    action: Action,
    key_id: &'a str,
    context: &'a BTreeMap<String, String>,
    number_of_bytes: Option<i32>,
    key_spec: Option<&'a str>,
    grant_tokens: &'a [String],
    dry_run: Option<bool>,
}

/// A generated data key, in plaintext and sealed.
struct DataKey {
    plaintext: Zeroizing<Vec<u8>>,
    blob: Vec<u8>,
    key: Arc<KeyRecord>,
    material: KeyMaterialId,
}

/// What decrypting a blob found.
struct Opened {
    key: Arc<KeyRecord>,
    material: KeyMaterialId,
    plaintext: Zeroizing<Vec<u8>>,
    algorithm: EncryptionAlgorithm,
}

/// Asymmetric keys take no encryption context (AWS binds none to RSA
/// ciphertexts).
fn no_context_for_asymmetric(key: &KeyRecord, context: &EncryptionContext) -> KmsResult<()> {
    if key.key_spec.is_asymmetric() && !context.is_empty() {
        return Err(messages::context_with_asymmetric_key());
    }
    Ok(())
}

/// GenerateDataKey* and GenerateDataKeyPair* need a symmetric key.
pub(crate) fn check_symmetric(key: &KeyRecord, op: Action) -> KmsResult<()> {
    if key.key_spec != tern_core::key::KeySpec::SymmetricDefault {
        return Err(messages::wrong_key_spec(
            &key.arn(),
            key.key_spec.as_str(),
            &op.to_string(),
        ));
    }
    Ok(())
}

/// The AWS error for a failed RSA OAEP encryption under `key` with `alg`.
fn oaep_error(key: &KeyRecord, alg: EncryptionAlgorithm, e: MaterialError) -> KmsError {
    match e {
        MaterialError::TooLong { max, .. } => {
            messages::rsa_plaintext_too_large(alg.as_str(), key.key_spec.as_str(), max)
        }
        other => KmsError::internal(format!("RSA encryption failed: {other}")),
    }
}

impl Kms {
    /// Encrypts `plaintext` under the key's current material: a symmetric
    /// ciphertext blob, or for an RSA key the raw RSA-OAEP ciphertext.
    pub(crate) fn seal(
        &self,
        key: &KeyRecord,
        alg: EncryptionAlgorithm,
        context: &EncryptionContext,
        plaintext: &[u8],
    ) -> KmsResult<(Vec<u8>, KeyMaterialId)> {
        no_context_for_asymmetric(key, context)?;
        let (id, h) = self.current_handle(key)?;
        let out = match h.symmetric() {
            Some(cipher) => cipher
                .seal_blob(&key.key_id, &id, context, random_bytes(), plaintext)
                .map_err(|e| KmsError::internal(format!("encrypting: {e}")))?,
            None => h.oaep_encrypt(alg, plaintext).map_err(|e| oaep_error(key, alg, e))?,
        };
        Ok((out, id))
    }

    /// Parses and decrypts a blob, checking the key named in the request
    /// (if any), authorization, state and usage.
    fn open(
        &self,
        ctx: &RequestContext,
        action: Action,
        input: BlobInput<'_>,
        ev: &mut AuditEvent,
    ) -> KmsResult<Opened> {
        let BlobInput {
            blob: blob_bytes,
            context: raw_context,
            key_id,
            algorithm: algorithm_in,
        } = input;
        validate::blob_len(blob_bytes, "ciphertextBlob", MAX_CIPHERTEXT_BLOB_BYTES)?;
        let context = validate::encryption_context(raw_context)?;
        let (key, parsed) = {
            let view = self.store.read();
            let named = match key_id {
                Some(raw) if !raw.is_empty() => {
                    Some(resolve(&*view, &self.region, &ctx.caller, raw, IdForms::WithAliases)?)
                }
                _ => None,
            };
            let (key, parsed) = match named {
                // An asymmetric key's ciphertext is the raw RSA ciphertext,
                // with no header naming the key: the request's KeyId does.
                Some(n) if n.key_spec.is_asymmetric() => (n, None),
                named => {
                    let parsed = blob::parse(blob_bytes).map_err(|_| messages::invalid_ciphertext())?;
                    let key = view.keys.get(&parsed.key_id).cloned().ok_or_else(|| {
                        messages::key_not_found(&key_arn(&self.region, &ctx.caller.account, &parsed.key_id))
                    })?;
                    if named.is_some_and(|n| n.key_id != key.key_id) {
                        return Err(messages::incorrect_key());
                    }
                    (key, Some(parsed))
                }
            };
            let facts = RequestFacts {
                encryption_context: Some(raw_context),
                conditions: vec![encryption_algorithm_condition(algorithm_in)],
                ..Default::default()
            };
            let target = Target::Found { key, raw: key_id };
            let key = self
                .access(ctx)
                .key(&*view, &self.region, target, action, StateRule::Crypto, facts, Some(ev))?;
            (key, parsed)
        };
        check_usage(&key, action)?;
        let alg = algorithm(algorithm_in, "encryptionAlgorithm", &key)?;
        let (material, plaintext) = match parsed {
            Some(parsed) => {
                let h = self.handle(&key, &parsed.material_id)?;
                let cipher = h.symmetric().ok_or_else(messages::invalid_ciphertext)?;
                let pt = cipher
                    .open_blob(&parsed, &context)
                    .map_err(|_| messages::invalid_ciphertext())?;
                (parsed.material_id, pt)
            }
            None => {
                no_context_for_asymmetric(&key, &context)?;
                let (id, h) = self.current_handle(&key)?;
                let pt = h
                    .oaep_decrypt(alg, blob_bytes)
                    .map_err(|_| messages::invalid_ciphertext())?;
                (id, pt)
            }
        };
        Ok(Opened {
            key,
            material,
            plaintext,
            algorithm: alg,
        })
    }

    /// Resolves and checks a key for encryption.
    /// `conditions` are the request's condition keys (at least
    /// `kms:EncryptionAlgorithm`).
    pub(crate) fn encrypt_key(
        &self,
        ctx: &RequestContext,
        raw: &str,
        action: Action,
        context: &BTreeMap<String, String>,
        conditions: Conditions,
        ev: &mut AuditEvent,
    ) -> KmsResult<Arc<KeyRecord>> {
        let facts = RequestFacts {
            encryption_context: Some(context),
            conditions,
            ..Default::default()
        };
        let key = self.read_key(ctx, raw, IdForms::WithAliases, action, StateRule::Crypto, facts, ev)?;
        check_usage(&key, action)?;
        Ok(key)
    }

    pub async fn encrypt(&self, ctx: &RequestContext, req: pb::EncryptRequest) -> KmsResult<pb::EncryptResponse> {
        let mut ev = AuditEvent::new(
            "Encrypt",
            true,
            json!({
                "keyId": req.key_id,
                "encryptionContext": context_params(&req.encryption_context),
                "encryptionAlgorithm": req.encryption_algorithm.as_deref().unwrap_or("SYMMETRIC_DEFAULT"),
            }),
        );
        let r = (|| {
            validate::blob_len(&req.plaintext, "plaintext", MAX_PLAINTEXT_BYTES)?;
            let context = validate::encryption_context(&req.encryption_context)?;
            validate::grant_tokens(&req.grant_tokens)?;
            let key = self.encrypt_key(
                ctx,
                &req.key_id,
                Action::Encrypt,
                &req.encryption_context,
                vec![encryption_algorithm_condition(req.encryption_algorithm.as_deref())],
                &mut ev,
            )?;
            let alg = algorithm(req.encryption_algorithm.as_deref(), "encryptionAlgorithm", &key)?;
            if req.dry_run == Some(true) {
                return Err(messages::dry_run());
            }
            let (blob, _) = self.seal(&key, alg, &context, &req.plaintext)?;
            Ok(pb::EncryptResponse {
                ciphertext_blob: blob,
                key_id: key.arn(),
                encryption_algorithm: alg.to_string(),
            })
        })();
        self.complete(ctx, ev, r).await
    }

    pub async fn decrypt(&self, ctx: &RequestContext, req: pb::DecryptRequest) -> KmsResult<pb::DecryptResponse> {
        let mut ev = AuditEvent::new(
            "Decrypt",
            true,
            json!({
                "encryptionContext": context_params(&req.encryption_context),
                "encryptionAlgorithm": req.encryption_algorithm.as_deref().unwrap_or("SYMMETRIC_DEFAULT"),
            }),
        );
        self.await_material(&req.ciphertext_blob).await;
        let r = (|| {
            validate::grant_tokens(&req.grant_tokens)?;
            let input = BlobInput {
                blob: &req.ciphertext_blob,
                context: &req.encryption_context,
                key_id: req.key_id.as_deref(),
                algorithm: req.encryption_algorithm.as_deref(),
            };
            let o = self.open(ctx, Action::Decrypt, input, &mut ev)?;
            if req.dry_run == Some(true) {
                return Err(messages::dry_run());
            }
            Ok(pb::DecryptResponse {
                key_id: o.key.arn(),
                plaintext: o.plaintext.to_vec(),
                encryption_algorithm: o.algorithm.to_string(),
                key_material_id: Some(o.material.to_string()),
            })
        })();
        self.complete(ctx, ev, r).await
    }

    pub async fn re_encrypt(
        &self,
        ctx: &RequestContext,
        req: pb::ReEncryptRequest,
    ) -> KmsResult<pb::ReEncryptResponse> {
        let mut ev = AuditEvent::new(
            "ReEncrypt",
            true,
            json!({
                "sourceEncryptionContext": context_params(&req.source_encryption_context),
                "destinationKeyId": req.destination_key_id,
                "destinationEncryptionContext": context_params(&req.destination_encryption_context),
                "sourceEncryptionAlgorithm": req.source_encryption_algorithm.as_deref().unwrap_or("SYMMETRIC_DEFAULT"),
                "destinationEncryptionAlgorithm": req.destination_encryption_algorithm.as_deref().unwrap_or("SYMMETRIC_DEFAULT"),
            }),
        );
        self.await_material(&req.ciphertext_blob).await;
        let r = (|| {
            validate::grant_tokens(&req.grant_tokens)?;
            validate::required(&req.destination_key_id, "destinationKeyId")?;
            let dest_context = validate::encryption_context(&req.destination_encryption_context)?;
            let input = BlobInput {
                blob: &req.ciphertext_blob,
                context: &req.source_encryption_context,
                key_id: req.source_key_id.as_deref(),
                algorithm: req.source_encryption_algorithm.as_deref(),
            };
            let src = self.open(ctx, Action::ReEncryptFrom, input, &mut ev)?;
            let mut dest_ev = AuditEvent::new("ReEncrypt", true, serde_json::Value::Null);
            let dest = self.encrypt_key(
                ctx,
                &req.destination_key_id,
                Action::ReEncryptTo,
                &req.destination_encryption_context,
                vec![encryption_algorithm_condition(
                    req.destination_encryption_algorithm.as_deref(),
                )],
                &mut dest_ev,
            )?;
            let alg = algorithm(
                req.destination_encryption_algorithm.as_deref(),
                "destinationEncryptionAlgorithm",
                &dest,
            )?;
            if req.dry_run == Some(true) {
                return Err(messages::dry_run());
            }
            let (blob, dest_material) = self.seal(&dest, alg, &dest_context, &src.plaintext)?;
            Ok(pb::ReEncryptResponse {
                ciphertext_blob: blob,
                source_key_id: src.key.arn(),
                key_id: dest.arn(),
                source_encryption_algorithm: src.algorithm.to_string(),
                destination_encryption_algorithm: alg.to_string(),
                source_key_material_id: Some(src.material.to_string()),
                destination_key_material_id: Some(dest_material.to_string()),
            })
        })();
        self.complete(ctx, ev, r).await
    }

    /// Shared body of the two GenerateDataKey operations.
    fn generate_data_key_inner(
        &self,
        ctx: &RequestContext,
        i: DataKeyInput<'_>,
        ev: &mut AuditEvent,
    ) -> KmsResult<DataKey> {
        let len = data_key_len(i.number_of_bytes, i.key_spec)?;
        let context = validate::encryption_context(i.context)?;
        validate::grant_tokens(i.grant_tokens)?;
        let conditions = vec![encryption_algorithm_condition(None)];
        let key = self.encrypt_key(ctx, i.key_id, i.action, i.context, conditions, ev)?;
        check_symmetric(&key, i.action)?;
        if i.dry_run == Some(true) {
            return Err(messages::dry_run());
        }
        let mut plaintext = Zeroizing::new(vec![0u8; len]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, plaintext.as_mut_slice());
        let (blob, material) = self.seal(&key, EncryptionAlgorithm::SymmetricDefault, &context, &plaintext)?;
        Ok(DataKey {
            plaintext,
            blob,
            key,
            material,
        })
    }

    pub async fn generate_data_key(
        &self,
        ctx: &RequestContext,
        req: pb::GenerateDataKeyRequest,
    ) -> KmsResult<pb::GenerateDataKeyResponse> {
        let mut ev = AuditEvent::new(
            "GenerateDataKey",
            true,
            json!({
                "keyId": req.key_id,
                "encryptionContext": context_params(&req.encryption_context),
                "numberOfBytes": req.number_of_bytes,
                "keySpec": req.key_spec,
            }),
        );
        let r = self
            .generate_data_key_inner(
                ctx,
                DataKeyInput {
                    action: Action::GenerateDataKey,
                    key_id: &req.key_id,
                    context: &req.encryption_context,
                    number_of_bytes: req.number_of_bytes,
                    key_spec: req.key_spec.as_deref(),
                    grant_tokens: &req.grant_tokens,
                    dry_run: req.dry_run,
                },
                &mut ev,
            )
            .map(|d| pb::GenerateDataKeyResponse {
                ciphertext_blob: d.blob,
                plaintext: d.plaintext.to_vec(),
                key_id: d.key.arn(),
                key_material_id: Some(d.material.to_string()),
            });
        self.complete(ctx, ev, r).await
    }

    pub async fn generate_data_key_without_plaintext(
        &self,
        ctx: &RequestContext,
        req: pb::GenerateDataKeyWithoutPlaintextRequest,
    ) -> KmsResult<pb::GenerateDataKeyWithoutPlaintextResponse> {
        let mut ev = AuditEvent::new(
            "GenerateDataKeyWithoutPlaintext",
            true,
            json!({
                "keyId": req.key_id,
                "encryptionContext": context_params(&req.encryption_context),
                "numberOfBytes": req.number_of_bytes,
                "keySpec": req.key_spec,
            }),
        );
        let r = self
            .generate_data_key_inner(
                ctx,
                DataKeyInput {
                    action: Action::GenerateDataKeyWithoutPlaintext,
                    key_id: &req.key_id,
                    context: &req.encryption_context,
                    number_of_bytes: req.number_of_bytes,
                    key_spec: req.key_spec.as_deref(),
                    grant_tokens: &req.grant_tokens,
                    dry_run: req.dry_run,
                },
                &mut ev,
            )
            .map(|d| pb::GenerateDataKeyWithoutPlaintextResponse {
                ciphertext_blob: d.blob,
                key_id: d.key.arn(),
                key_material_id: Some(d.material.to_string()),
            });
        self.complete(ctx, ev, r).await
    }

    pub async fn generate_random(
        &self,
        ctx: &RequestContext,
        req: pb::GenerateRandomRequest,
    ) -> KmsResult<pb::GenerateRandomResponse> {
        let ev = AuditEvent::new("GenerateRandom", true, json!({"numberOfBytes": req.number_of_bytes}));
        let r = (|| {
            if req.custom_key_store_id.is_some() {
                return Err(messages::custom_key_stores_not_supported());
            }
            self.access(ctx).identity(Action::GenerateRandom, None, &[])?;
            let n = req.number_of_bytes.ok_or_else(messages::number_of_bytes_required)?;
            let n = validate::int_in_range(Some(n), "numberOfBytes", 1, MAX_NUMBER_OF_BYTES, 0)? as usize;
            let mut out = vec![0u8; n];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut out);
            Ok(pb::GenerateRandomResponse { plaintext: out })
        })();
        self.complete(ctx, ev, r).await
    }
}
