//! Imported key material (`Origin=EXTERNAL`): GetParametersForImport,
//! ImportKeyMaterial, DeleteImportedKeyMaterial, and the expiry of material
//! imported with a `ValidTo`.
//!
//! The wrapping key pair is made per GetParametersForImport call; its
//! private half is kept in the key's record, wrapped under the region root
//! key, with the token that names it. Only the latest parameters are valid,
//! for 24 hours. Every import into a key must be the same material: the
//! first import fixes the key's material id (a commitment to key and
//! material, `tern_core::material::imported_material_id`), and a later
//! import of anything else is IncorrectKeyMaterialException.

use serde_json::json;
use tern_core::crypto::{self, Material};
use tern_core::ids::{KeyId, KeyMaterialId};
use tern_core::key::{
    ExpirationModel, ImportParameters, ImportedMaterial, KeyMaterialState, KeyOp, KeyRecord, KeyState, MaterialRecord,
    Origin, WrappingAlgorithm, WrappingKeySpec,
};
use tern_core::material::{self as km, WrappingKey};
use tern_core::time::{UnixMillis, MILLIS_PER_DAY};
use tern_proto::pb;

use tern_replication::command::Op;

use crate::audit::AuditEvent;
use crate::authz::{condition, Action, Conditions, RequestFacts, StateRule};
use crate::error::{KmsError, KmsResult};
use crate::kms::{random_bytes, wrap, Kms};
use crate::messages;
use crate::resolve::IdForms;
use tern_policy::keys;

/// `kms:ExpirationModel` and `kms:ValidTo` of an ImportKeyMaterial request.
fn import_conditions(req: &pb::ImportKeyMaterialRequest) -> Conditions {
    let model = req.expiration_model.as_deref().unwrap_or("KEY_MATERIAL_EXPIRES");
    let mut c = vec![condition(keys::EXPIRATION_MODEL, model)];
    if let Some(t) = req.valid_to {
        c.push(condition(keys::VALID_TO, t.to_string()));
    }
    c
}
use crate::validate;

/// How long GetParametersForImport's public key and token stay valid.
pub const IMPORT_PARAMETERS_VALID_MILLIS: i64 = MILLIS_PER_DAY;
/// Latest `ValidTo` an import may set, days ahead.
pub const MAX_VALID_TO_DAYS: u32 = 365;
/// Largest import token and wrapped material, bytes.
const MAX_IMPORT_BLOB_BYTES: usize = 6144;
/// Import token layout: magic, key id, random token id.
const TOKEN_MAGIC: &[u8; 4] = b"TIT1";

/// Constant-time equality of two byte strings (lengths are public).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Import operations need an imported key.
fn check_external(k: &KeyRecord) -> KmsResult<()> {
    if k.origin != Origin::External {
        return Err(messages::wrong_origin(&k.arn(), k.origin.as_str()));
    }
    Ok(())
}

fn token_for(key: &KeyId, id: &[u8; 32]) -> Vec<u8> {
    let mut t = Vec::with_capacity(4 + 16 + 32);
    t.extend_from_slice(TOKEN_MAGIC);
    t.extend_from_slice(key.raw());
    t.extend_from_slice(id);
    t
}

/// Deletes the bytes of imported material `id`: its import state becomes
/// PENDING_IMPORT (the same material may be imported again). Deleting the
/// current material puts the key in PendingImport; the others keep their
/// states, and ciphertexts under the deleted one no longer decrypt.
pub(crate) fn delete_material(k: &mut KeyRecord, id: &KeyMaterialId) {
    let Some(import) = k.import.as_mut() else { return };
    import.upgrade(&k.materials);
    k.materials.retain(|m| &m.id != id);
    k.pending_materials.retain(|m| &m.id != id);
    let mut current = false;
    if let Some(e) = import.entry_mut(id) {
        e.present = false;
        current = e.state == KeyMaterialState::Current;
    }
    import.sync_current();
    if current && matches!(k.state, KeyState::Enabled | KeyState::Disabled) {
        k.state = KeyState::PendingImport;
    }
}

/// Deletes every imported material past its own `ValidTo` at `now`
/// (AWS's `DeleteExpiredKeyMaterial`); true when one was.
pub(crate) fn expire_materials(k: &mut KeyRecord, now: UnixMillis) -> bool {
    let Some(import) = k.import.as_mut() else { return false };
    import.upgrade(&k.materials);
    let due: Vec<KeyMaterialId> = import
        .materials
        .iter()
        .filter(|m| m.present && m.valid_to.is_some_and(|v| now >= v))
        .map(|m| m.id)
        .collect();
    for id in &due {
        delete_material(k, id);
    }
    !due.is_empty()
}

/// Which import an ImportKeyMaterial request makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ImportType {
    /// The key's first material, or (symmetric keys) a new material that
    /// RotateKeyOnDemand makes current.
    New,
    /// One of the key's materials again (after its deletion or expiry, or
    /// to change its expiration).
    Existing,
}

/// The request's `ImportType`: as AWS, NEW_KEY_MATERIAL by default for a
/// key that never had material, EXISTING_KEY_MATERIAL afterwards.
fn import_type(req: &pb::ImportKeyMaterialRequest, k: &KeyRecord) -> KmsResult<ImportType> {
    let first = k.import.as_ref().and_then(|i| i.fingerprint).is_none();
    match req.import_type.as_deref() {
        None if first => Ok(ImportType::New),
        None | Some("EXISTING_KEY_MATERIAL") => Ok(ImportType::Existing),
        Some("NEW_KEY_MATERIAL") => Ok(ImportType::New),
        Some(other) => Err(messages::not_in_enum(
            other,
            "importType",
            "[NEW_KEY_MATERIAL, EXISTING_KEY_MATERIAL]",
        )),
    }
}

/// Records an import into `k` (checked by [`unwrap_import`]): the first
/// material, a new material pending rotation, or a known material again.
fn record_import(
    root: &tern_core::crypto::RootKey,
    k: &mut KeyRecord,
    req: &pb::ImportKeyMaterialRequest,
    checked: (Material, KeyMaterialId, ExpirationModel, Option<UnixMillis>),
    now: UnixMillis,
) -> KmsResult<()> {
    let (material, id, model, valid_to) = checked;
    let kind = import_type(req, k)?;
    let wrapped = wrap(root, &k.key_id, &id, &material)?;
    let arn = k.arn();
    let key_id = k.key_id;
    let import = k.import.get_or_insert_with(Default::default);
    import.upgrade(&k.materials);
    let entry = |state| ImportedMaterial {
        id,
        state,
        present: true,
        first_imported: now,
        description: req.key_material_description.clone(),
        expiration_model: Some(model),
        valid_to,
        rotated: None,
    };
    let first = import.materials.is_empty();
    if kind == ImportType::New && req.key_material_id.is_some() {
        return Err(messages::key_material_id_with_new_material());
    }
    if let Some(want) = req.key_material_id.as_deref().filter(|w| *w != id.to_string()) {
        return Err(messages::material_id_differs(&id.to_string(), want));
    }
    if first {
        // The key's first material (EXISTING on a key without material is
        // taken as its first import, as tern always has).
        import.fingerprint = Some(id);
        import.materials.push(entry(KeyMaterialState::Current));
        k.materials = vec![MaterialRecord {
            id,
            created: now,
            rotation_type: None,
            wrapped,
        }];
    } else if kind == ImportType::New {
        if k.key_spec != tern_core::key::KeySpec::SymmetricDefault {
            return Err(messages::new_material_for_symmetric_keys_only(&arn));
        }
        if let Some(p) = import.pending_rotation() {
            return Err(messages::material_already_pending(
                &id.to_string(),
                &key_id.to_string(),
                &p.id.to_string(),
            ));
        }
        if import.entry(&id).is_some() {
            return Err(messages::material_imported_before(&id.to_string(), &arn));
        }
        import.materials.push(entry(KeyMaterialState::PendingRotation));
        k.pending_materials.push(MaterialRecord {
            id,
            created: now,
            rotation_type: None,
            wrapped,
        });
    } else {
        // The material named (checked above), else the current one.
        let target = match req.key_material_id {
            Some(_) => id,
            None => import.current().map(|c| c.id).unwrap_or(id),
        };
        if target != id || import.entry(&id).is_none() {
            return Err(messages::material_does_not_match());
        }
        let Some(e) = import.entry_mut(&id) else {
            return Err(KmsError::internal("imported material entry vanished"));
        };
        e.present = true;
        e.expiration_model = Some(model);
        e.valid_to = valid_to;
        if req.key_material_description.is_some() {
            e.description = req.key_material_description.clone();
        }
        let (state, became) = (e.state, e.rotated.unwrap_or(e.first_imported));
        let rotation_type = e.rotated.map(|_| tern_core::key::RotationType::OnDemand);
        let held = k.materials.iter().chain(k.pending_materials.iter()).any(|m| m.id == id);
        if !held {
            let record = MaterialRecord {
                id,
                created: became,
                rotation_type,
                wrapped,
            };
            if state == KeyMaterialState::PendingRotation {
                k.pending_materials.push(record);
            } else {
                // In the order the materials became current.
                let at = k
                    .materials
                    .iter()
                    .position(|m| m.created > became)
                    .unwrap_or(k.materials.len());
                k.materials.insert(at, record);
            }
        }
    }
    import.sync_current();
    let current_present = import.current().is_some_and(|c| c.present);
    if k.state == KeyState::PendingImport && current_present {
        k.state = KeyState::Enabled;
    }
    Ok(())
}

/// RotateKeyOnDemand of an imported (single-Region, symmetric) key: the
/// material imported with NEW_KEY_MATERIAL becomes current; the others keep
/// decrypting.
pub(crate) fn rotate_imported(k: &mut KeyRecord, now: UnixMillis) -> KmsResult<()> {
    if k.key_spec != tern_core::key::KeySpec::SymmetricDefault {
        return Err(messages::rotation_not_supported());
    }
    let pending = k
        .import
        .as_ref()
        .map(|i| i.entries(&k.materials))
        .unwrap_or_default()
        .into_iter()
        .find(|e| e.state == KeyMaterialState::PendingRotation && e.present)
        .map(|e| e.id);
    match pending {
        Some(id) if k.make_imported_current(&id, now) => Ok(()),
        _ => Err(messages::no_material_pending_rotation(&k.arn())),
    }
}

/// The expiration an ImportKeyMaterial request asks for.
fn expiration(req: &pb::ImportKeyMaterialRequest, now: UnixMillis) -> KmsResult<(ExpirationModel, Option<UnixMillis>)> {
    let model = match req.expiration_model.as_deref() {
        None => ExpirationModel::KeyMaterialExpires,
        Some(m) => validate::required_enum(m, "expirationModel", ExpirationModel::parse, ExpirationModel::value_set)?,
    };
    let valid_to = req.valid_to.map(|s| UnixMillis((s * 1000.0) as i64));
    match (model, valid_to) {
        (ExpirationModel::KeyMaterialExpires, None) => Err(messages::valid_to_required()),
        (ExpirationModel::KeyMaterialDoesNotExpire, Some(_)) => Err(messages::valid_to_not_allowed()),
        (ExpirationModel::KeyMaterialExpires, Some(v)) if v <= now => Err(messages::valid_to_in_the_past()),
        (ExpirationModel::KeyMaterialExpires, Some(v)) if v > now.plus_days(MAX_VALID_TO_DAYS) => {
            Err(messages::valid_to_too_far(MAX_VALID_TO_DAYS))
        }
        (m, v) => Ok((m, v)),
    }
}

/// What an ImportKeyMaterial request imports, checked: its arguments, the
/// import token, the unwrapped material (a key of the key's spec) and the
/// material id it gets.
fn unwrap_import(
    root: &tern_core::crypto::RootKey,
    k: &KeyRecord,
    req: &pb::ImportKeyMaterialRequest,
    now: UnixMillis,
) -> KmsResult<(Material, KeyMaterialId, ExpirationModel, Option<UnixMillis>)> {
    validate::blob_len(&req.import_token, "importToken", MAX_IMPORT_BLOB_BYTES)?;
    validate::blob_len(
        &req.encrypted_key_material,
        "encryptedKeyMaterial",
        MAX_IMPORT_BLOB_BYTES,
    )?;
    let (model, valid_to) = expiration(req, now)?;
    check_external(k)?;
    // New material for a key that has some: symmetric encryption keys only
    // (checked before a Multi-Region key's log records it).
    if k.import.as_ref().and_then(|i| i.fingerprint).is_some()
        && import_type(req, k)? == ImportType::New
        && k.key_spec != tern_core::key::KeySpec::SymmetricDefault
    {
        return Err(messages::new_material_for_symmetric_keys_only(&k.arn()));
    }
    let pending = k
        .import
        .as_ref()
        .and_then(|i| i.pending.clone())
        .filter(|p| ct_eq(&p.token, &req.import_token))
        .ok_or_else(messages::invalid_import_token)?;
    if now >= pending.expires {
        return Err(messages::expired_import_token());
    }
    let private = crypto::unwrap_material(
        root,
        &k.key_id,
        &km::wrapping_key_material_id(&pending.token),
        &pending.wrapped_private,
    )
    .map_err(|_| KmsError::internal("The wrapping key could not be unwrapped under the region root key."))?;
    let wk = WrappingKey::from_pkcs8(&private).map_err(|e| KmsError::internal(format!("wrapping key: {e}")))?;
    let material: Material = wk
        .unwrap(pending.algorithm, &req.encrypted_key_material)
        .map_err(|_| messages::invalid_ciphertext())?;
    km::check_import(k.key_spec, k.key_usage, material.expose())
        .map_err(|e| messages::material_not_of_key_spec(&e.to_string()))?;
    let id = km::imported_material_id(&k.key_id, &material);
    Ok((material, id, model, valid_to))
}

impl Kms {
    pub async fn get_parameters_for_import(
        &self,
        ctx: &crate::caller::RequestContext,
        req: pb::GetParametersForImportRequest,
    ) -> KmsResult<pb::GetParametersForImportResponse> {
        let params = json!({
            "keyId": req.key_id,
            "wrappingAlgorithm": req.wrapping_algorithm,
            "wrappingKeySpec": req.wrapping_key_spec,
        });
        // Validate what needs no key first; then make the wrapping key pair
        // (RSA generation takes up to seconds) off the async workers.
        let checked = (|| {
            let alg = validate::required_enum(
                &req.wrapping_algorithm,
                "wrappingAlgorithm",
                WrappingAlgorithm::parse,
                WrappingAlgorithm::value_set,
            )?;
            let spec = validate::required_enum(
                &req.wrapping_key_spec,
                "wrappingKeySpec",
                WrappingKeySpec::parse,
                WrappingKeySpec::value_set,
            )?;
            if matches!(alg, WrappingAlgorithm::RsaesPkcs1V15 | WrappingAlgorithm::Sm2Pke) {
                return Err(messages::not_supported_by_tern("WrappingAlgorithm", alg.as_str()));
            }
            let bits = spec
                .bits()
                .ok_or_else(|| messages::not_supported_by_tern("WrappingKeySpec", spec.as_str()))?;
            Ok((alg, spec, bits))
        })();
        // Find and authorize the key before paying for an RSA generation:
        // an unknown key or a refused caller costs microseconds.
        let mut ev = AuditEvent::new("GetParametersForImport", false, params.clone());
        let conditions = |alg: &str, spec: &str| {
            vec![
                condition(keys::WRAPPING_ALGORITHM, alg),
                condition(keys::WRAPPING_KEY_SPEC, spec),
            ]
        };
        let checked = checked.and_then(|(alg, spec, bits)| {
            let facts = RequestFacts::conditions(conditions(alg.as_str(), spec.as_str()));
            let state = StateRule::Op(KeyOp::Import);
            let k = self.read_key(
                ctx,
                &req.key_id,
                IdForms::KeysOnly,
                Action::GetParametersForImport,
                state,
                facts,
                &mut ev,
            )?;
            check_external(&k)?;
            Ok((alg, spec, bits))
        });
        let (alg, spec, bits) = match checked {
            Ok(c) => c,
            Err(e) => return self.complete(ctx, ev, Err(e)).await,
        };
        let pair = tokio::task::spawn_blocking(move || WrappingKey::generate(bits))
            .await
            .map_err(|e| KmsError::internal(format!("wrapping key generation: {e}")))
            .and_then(|r| r.map_err(|e| KmsError::internal(format!("wrapping key generation: {e}"))))
            .map(|(private, public)| (alg, spec, private, public));
        let root = self.root.clone();
        self.change_key_with(
            ctx,
            Action::GetParametersForImport,
            req.key_id,
            params,
            KeyOp::Import,
            conditions(alg.as_str(), spec.as_str()),
            move |k, now| {
                check_external(k)?;
                let (alg, spec, private, public) = pair?;
                let id: [u8; 32] = random_bytes();
                let token = token_for(&k.key_id, &id);
                let wrapped_private = wrap(&root, &k.key_id, &km::wrapping_key_material_id(&token), &private)?;
                let expires = now.plus_millis(IMPORT_PARAMETERS_VALID_MILLIS);
                k.import.get_or_insert_with(Default::default).pending = Some(ImportParameters {
                    token: token.clone(),
                    wrapping_spec: spec,
                    algorithm: alg,
                    wrapped_private,
                    expires,
                });
                Ok(pb::GetParametersForImportResponse {
                    key_id: k.arn(),
                    import_token: token,
                    public_key: public,
                    parameters_valid_to: Some(expires.as_epoch_seconds()),
                })
            },
        )
        .await
    }

    pub async fn import_key_material(
        &self,
        ctx: &crate::caller::RequestContext,
        req: pb::ImportKeyMaterialRequest,
    ) -> KmsResult<pb::ImportKeyMaterialResponse> {
        let params = json!({
            "keyId": req.key_id,
            "validTo": req.valid_to,
            "expirationModel": req.expiration_model.as_deref().unwrap_or("KEY_MATERIAL_EXPIRES"),
            "importType": req.import_type,
        });
        // A Multi-Region key's regions must all import the same material:
        // its id goes through the log first (the first import fixes it).
        if req.key_id.contains("mrk-") {
            let mut ev = AuditEvent::new("ImportKeyMaterial", false, params.clone());
            let prepared = (|| {
                let k = self.read_key(
                    ctx,
                    &req.key_id,
                    IdForms::KeysOnly,
                    Action::ImportKeyMaterial,
                    StateRule::Op(KeyOp::Import),
                    RequestFacts::conditions(import_conditions(&req)),
                    &mut ev,
                )?;
                let (_, id, _, _) = unwrap_import(&self.root, &k, &req, self.now())?;
                let new = import_type(&req, &k)? == ImportType::New
                    && k.import.as_ref().and_then(|i| i.fingerprint).is_some();
                Ok((k.key_id, id, new))
            })();
            let checked = match prepared {
                // New material for rotation: the log fixes its id and
                // counts the Regions that imported it.
                Ok((key, material, true)) if key.is_multi_region() => {
                    let op = Op::ImportNewMaterial {
                        key,
                        material,
                        region: self.region.clone(),
                    };
                    self.propose_mrk(ctx, &ev, op).await
                }
                Ok((key, material, false)) if key.is_multi_region() => {
                    self.propose_mrk(ctx, &ev, Op::SetImportedMaterial { key, material })
                        .await
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = checked {
                return self.complete(ctx, ev, Err(e)).await;
            }
        }
        let root = self.root.clone();
        let key_id = req.key_id.clone();
        let conditions = import_conditions(&req);
        let r = self
            .change_key_with(
                ctx,
                Action::ImportKeyMaterial,
                key_id,
                params,
                KeyOp::Import,
                conditions,
                move |k, now| {
                    let checked = unwrap_import(&root, k, &req, now)?;
                    let id = checked.1;
                    record_import(&root, k, &req, checked, now)?;
                    Ok(pb::ImportKeyMaterialResponse {
                        key_id: k.arn(),
                        key_material_id: Some(id.to_string()),
                    })
                },
            )
            .await;
        r
    }

    pub async fn delete_imported_key_material(
        &self,
        ctx: &crate::caller::RequestContext,
        req: pb::DeleteImportedKeyMaterialRequest,
    ) -> KmsResult<pb::DeleteImportedKeyMaterialResponse> {
        let params = json!({"keyId": req.key_id, "keyMaterialId": req.key_material_id});
        let r = self
            .change_key(
                ctx,
                Action::DeleteImportedKeyMaterial,
                req.key_id.clone(),
                params,
                KeyOp::Import,
                move |k, _now| {
                    check_external(k)?;
                    let entries = k.import.as_ref().map(|i| i.entries(&k.materials)).unwrap_or_default();
                    let target = match req.key_material_id.as_deref() {
                        Some(want) => match entries.iter().find(|e| e.id.to_string() == want) {
                            Some(e) => Some(e.id),
                            None => return Err(messages::no_such_material(want, &k.arn())),
                        },
                        None => k.current_material_id(),
                    };
                    if let Some(id) = &target {
                        delete_material(k, id);
                    }
                    Ok((
                        k.key_id,
                        pb::DeleteImportedKeyMaterialResponse {
                            key_id: k.arn(),
                            key_material_id: target.map(|c| c.to_string()),
                        },
                    ))
                },
            )
            .await;
        r.map(|(id, resp)| {
            self.forget_material(&id);
            resp
        })
    }
}
