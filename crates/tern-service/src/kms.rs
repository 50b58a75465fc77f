//! The [`Kms`] service object and the two shapes every operation takes:
//! read (compute, then audit durably) and mutate (decide and persist inside
//! one store transaction, audited in the same batch).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use rand::RngCore;
use tern_core::crypto::{self, Material, RootKey};
use tern_core::ids::{KeyId, KeyMaterialId, Region};
use tern_core::key::{KeyRecord, KeySpec, MaterialRecord, RotationType};
use tern_core::material::KeyHandle;
use tern_core::time::UnixMillis;
use tern_store::{Store, Txn};

use crate::audit::{api_call_record, audit_or_abort, AuditEvent};
use crate::authz::{Access, Action, PolicyCache, RequestFacts, StateRule, Target};
use crate::caller::RequestContext;
use crate::clock::Clock;
use crate::error::{KmsError, KmsResult};
use crate::messages;
use crate::resolve::IdForms;

/// One region's KMS.
pub struct Kms {
    pub(crate) region: Region,
    pub(crate) store: Store,
    pub(crate) root: RootKey,
    pub(crate) clock: Arc<dyn Clock>,
    /// Unwrapped material, parsed and ready to use, by key and material id.
    handles: RwLock<HashMap<(KeyId, KeyMaterialId), Arc<KeyHandle>>>,
    /// Compiled key policies.
    pub(crate) policies: Arc<PolicyCache>,
    /// The Multi-Region group, when this node is part of a cluster.
    pub(crate) repl: Option<tern_replication::Replication>,
    /// Keys one account may hold in this region (AWS's quota).
    pub(crate) keys_per_account: usize,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kms")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Kms {
    pub fn new(region: Region, store: Store, root: RootKey, clock: Arc<dyn Clock>) -> Self {
        Kms {
            region,
            store,
            root,
            clock,
            handles: RwLock::new(HashMap::new()),
            policies: Arc::default(),
            repl: None,
            keys_per_account: tern_core::key::DEFAULT_KEYS_PER_ACCOUNT,
        }
    }

    /// Makes this region part of a Multi-Region cluster.
    /// Sets the keys one account may hold in this region.
    pub fn with_keys_per_account(mut self, quota: usize) -> Self {
        self.keys_per_account = quota;
        self
    }

    pub fn with_replication(mut self, repl: tern_replication::Replication) -> Self {
        self.repl = Some(repl);
        self
    }

    pub fn replication_handle(&self) -> Option<&tern_replication::Replication> {
        self.repl.as_ref()
    }

    pub fn region(&self) -> &Region {
        &self.region
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn now(&self) -> UnixMillis {
        self.clock.now()
    }

    /// Authorization inputs for one request, at the current time.
    pub(crate) fn access<'a>(&'a self, ctx: &'a RequestContext) -> Access<'a> {
        Access {
            policies: &self.policies,
            ctx,
            now: self.clock.now(),
        }
    }

    /// Audits a computed result durably, then returns it. If the audit
    /// record cannot be made durable the request fails closed.
    pub(crate) async fn complete<R>(&self, ctx: &RequestContext, ev: AuditEvent, result: KmsResult<R>) -> KmsResult<R> {
        let record = api_call_record(&self.region, ctx, &ev, result.as_ref().err(), self.clock.now())?;
        self.store.append_audit(record).await?;
        result
    }

    /// Runs `f` inside a store transaction: its changes and its audit record
    /// are written in the same synced batch; a failed `f` changes nothing
    /// but is still audited.
    pub(crate) async fn mutate<R, F>(&self, ctx: &RequestContext, ev: AuditEvent, f: F) -> KmsResult<R>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&mut Txn<'a>, &mut AuditEvent, UnixMillis) -> KmsResult<R> + Send + 'static,
    {
        let now = self.clock.now();
        let region = self.region.clone();
        let ctx = ctx.clone();
        let (result, _) = self
            .store
            .transact(move |txn| {
                let mut ev = ev;
                let r = f(txn, &mut ev, now);
                if r.is_err() {
                    txn.abort();
                }
                audit_or_abort(txn, api_call_record(&region, &ctx, &ev, r.as_ref().err(), now))?;
                r
            })
            .await?;
        result
    }

    /// The authorization path ([`Access::key`]) for a read operation on
    /// the key its `KeyId` member names, against the published state; the
    /// key becomes the audit event's resource.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn read_key(
        &self,
        ctx: &RequestContext,
        raw: &str,
        forms: IdForms,
        action: Action,
        state: StateRule,
        facts: RequestFacts<'_>,
        ev: &mut AuditEvent,
    ) -> KmsResult<Arc<KeyRecord>> {
        crate::validate::required(raw, "keyId")?;
        self.access(ctx).key(
            &*self.store.read(),
            &self.region,
            Target::Named { raw, forms },
            action,
            state,
            facts,
            Some(ev),
        )
    }

    /// [`Kms::mutate`] for operations that authorize inside the transaction:
    /// the closure also gets the request's [`Access`] (at the transaction's
    /// time) and the region.
    pub(crate) async fn mutate_authorized<R, F>(&self, ctx: &RequestContext, ev: AuditEvent, f: F) -> KmsResult<R>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&mut Txn<'a>, &mut AuditEvent, &Access<'_>, &Region) -> KmsResult<R> + Send + 'static,
    {
        let (region, ctx2, policies) = (self.region.clone(), ctx.clone(), self.policies.clone());
        self.mutate(ctx, ev, move |txn, ev, now| {
            let access = Access {
                policies: &policies,
                ctx: &ctx2,
                now,
            };
            f(txn, ev, &access, &region)
        })
        .await
    }

    /// One material of `key`, unwrapped and parsed once, then cached.
    /// A material the key does not hold (deleted imported material, a
    /// foreign blob) is InvalidCiphertextException.
    pub(crate) fn handle(&self, key: &KeyRecord, material: &KeyMaterialId) -> KmsResult<Arc<KeyHandle>> {
        if let Some(c) = self.handles.read().get(&(key.key_id, *material)) {
            return Ok(c.clone());
        }
        let Some(m) = key.material(material) else {
            // Imported material deleted or expired: the same material,
            // imported again, decrypts it.
            if key
                .import
                .as_ref()
                .and_then(|i| i.entry(material))
                .is_some_and(|e| !e.present)
            {
                return Err(messages::material_not_imported(material, &key.arn()));
            }
            return Err(messages::invalid_ciphertext());
        };
        let unwrapped = crypto::unwrap_material(&self.root, &key.key_id, material, &m.wrapped)
            .map_err(|_| KmsError::internal("Key material could not be unwrapped under the region root key."))?;
        let h = KeyHandle::load(key.key_spec, key.key_usage, &unwrapped)
            .map_err(|e| KmsError::internal(format!("Stored key material does not load: {e}")))?;
        let h = Arc::new(h);
        self.handles.write().insert((key.key_id, *material), h.clone());
        Ok(h)
    }

    /// The key's current material, ready to use.
    pub(crate) fn current_handle(&self, key: &KeyRecord) -> KmsResult<(KeyMaterialId, Arc<KeyHandle>)> {
        // An imported key's current material is the one its import state
        // names (reimporting an older material does not make it current).
        let current = key
            .current_material_id()
            .filter(|id| key.materials.iter().any(|m| &m.id == id))
            .ok_or_else(|| messages::key_state(&key.arn(), tern_core::key::KeyState::PendingImport.phrase()))?;
        Ok((current, self.handle(key, &current)?))
    }

    /// Drops cached material of a key that no longer exists.
    pub(crate) fn forget_key(&self, key: &KeyId) {
        self.policies.forget(key);
        self.handles.write().retain(|(k, _), _| k != key);
    }

    /// Drops one cached material (deleted or expired imported material).
    pub(crate) fn forget_material(&self, key: &KeyId) {
        self.handles.write().retain(|(k, _), _| k != key);
    }
}

/// Fresh material with a random 256-bit material id, wrapped under `root`.
pub(crate) fn fresh_material(
    root: &RootKey,
    key: &KeyId,
    now: UnixMillis,
    rotation_type: Option<RotationType>,
) -> KmsResult<MaterialRecord> {
    let (id, material) = fresh_raw_material();
    let wrapped = wrap(root, key, &id, &material)?;
    Ok(MaterialRecord {
        id,
        created: now,
        rotation_type,
        wrapped,
    })
}

/// Fresh material of `spec` with a random material id, wrapped under `root`.
pub(crate) async fn fresh_material_for(
    root: &RootKey,
    key: &KeyId,
    spec: KeySpec,
    now: UnixMillis,
) -> KmsResult<MaterialRecord> {
    let (id, material) = generate_raw_material(spec).await?;
    Ok(MaterialRecord {
        id,
        created: now,
        rotation_type: None,
        wrapped: wrap(root, key, &id, &material)?,
    })
}

/// `material` wrapped under `root` with a fresh nonce.
pub(crate) fn wrap(root: &RootKey, key: &KeyId, id: &KeyMaterialId, material: &Material) -> KmsResult<Vec<u8>> {
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    crypto::wrap_material(root, key, id, material, nonce)
        .map_err(|e| KmsError::internal(format!("wrapping key material: {e}")))
}

/// [`fresh_raw_material_for`], off the async workers for RSA (generating an
/// RSA_4096 key takes up to seconds).
pub(crate) async fn generate_raw_material(spec: KeySpec) -> KmsResult<(KeyMaterialId, Material)> {
    if !matches!(spec, KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096) {
        return fresh_raw_material_for(spec);
    }
    tokio::task::spawn_blocking(move || fresh_raw_material_for(spec))
        .await
        .map_err(|e| KmsError::internal(format!("generating key material: {e}")))?
}

/// Fresh material of `spec` (RSA and ECC keys: a new key pair) and a random
/// material id.
pub(crate) fn fresh_raw_material_for(spec: KeySpec) -> KmsResult<(KeyMaterialId, Material)> {
    let material =
        tern_core::material::generate(spec).map_err(|e| KmsError::internal(format!("generating key material: {e}")))?;
    let mut id = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut id);
    Ok((KeyMaterialId::from_bytes(id), material))
}

/// Fresh material and a random 256-bit material id, not yet wrapped.
pub(crate) fn fresh_raw_material() -> (KeyMaterialId, Material) {
    let mut rng = rand::rngs::OsRng;
    let mut bytes = zeroize::Zeroizing::new([0u8; crypto::KEY_LEN]);
    rng.fill_bytes(bytes.as_mut());
    let material = Material::from_bytes(*bytes);
    let mut id = [0u8; 32];
    rng.fill_bytes(&mut id);
    (KeyMaterialId::from_bytes(id), material)
}

/// Fresh random bytes for the data plane (nonces, data keys).
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::thread_rng().fill_bytes(&mut b);
    b
}
