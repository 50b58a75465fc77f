//! Turning a `KeyId` member into a key record: the four id forms, the
//! region and account they name, and the key-state rules. The
//! authorization path that uses them is [`crate::authz::Access::key`].

use std::sync::Arc;

use tern_core::ids::{key_arn, AccountId, AliasName, IdError, KeyId, KeyRef, Region};
use tern_core::key::{KeyOp, KeyRecord, StateRefusal};
use tern_store::{AliasRecord, GrantRecord, Published, Txn};

use crate::caller::Caller;
use crate::error::{KmsError, KmsResult};
use crate::messages;

/// Read access to keys and aliases: the published state, or a transaction's
/// pending view.
pub(crate) trait KeyLookup {
    fn key(&self, id: &KeyId) -> Option<Arc<KeyRecord>>;
    fn alias(&self, account: &AccountId, name: &AliasName) -> Option<Arc<AliasRecord>>;
    /// The grants on `key` for `grantee` (the caller), by index.
    fn grants_for(&self, key: &KeyId, grantee: &str) -> Vec<Arc<GrantRecord>>;
    /// Names of the aliases pointing at `key`.
    fn alias_names_of(&self, key: &KeyId) -> Vec<String>;
}

impl KeyLookup for Published {
    fn key(&self, id: &KeyId) -> Option<Arc<KeyRecord>> {
        self.keys.get(id).cloned()
    }
    fn alias(&self, account: &AccountId, name: &AliasName) -> Option<Arc<AliasRecord>> {
        self.aliases.get(&(account.clone(), name.clone())).cloned()
    }
    fn grants_for(&self, key: &KeyId, grantee: &str) -> Vec<Arc<GrantRecord>> {
        Published::grants_for(self, key, grantee).cloned().collect()
    }
    fn alias_names_of(&self, key: &KeyId) -> Vec<String> {
        Published::aliases_of(self, key).map(|a| a.name.to_string()).collect()
    }
}

impl KeyLookup for Txn<'_> {
    fn key(&self, id: &KeyId) -> Option<Arc<KeyRecord>> {
        Txn::key(self, id)
    }
    fn alias(&self, account: &AccountId, name: &AliasName) -> Option<Arc<AliasRecord>> {
        Txn::alias(self, account, name)
    }
    fn grants_for(&self, key: &KeyId, grantee: &str) -> Vec<Arc<GrantRecord>> {
        Txn::grants_for(self, key, grantee)
    }
    fn alias_names_of(&self, key: &KeyId) -> Vec<String> {
        Txn::aliases_of(self, key).iter().map(|a| a.name.to_string()).collect()
    }
}

/// Which id forms an operation accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdForms {
    /// Key id, key ARN, alias name, alias ARN (cryptographic ops, DescribeKey).
    WithAliases,
    /// Key id or key ARN (management ops).
    KeysOnly,
}

fn not_found_key(region: &Region, account: &AccountId, key: &KeyId) -> KmsError {
    messages::key_not_found(&key_arn(region, account, key))
}

/// Resolves a `KeyId` member to the key it names in this region, or the
/// AWS error. Does not check authorization or state.
pub(crate) fn resolve(
    view: &impl KeyLookup,
    region: &Region,
    caller: &Caller,
    raw: &str,
    forms: IdForms,
) -> KmsResult<Arc<KeyRecord>> {
    let parsed = KeyRef::parse(raw).map_err(|e| match e {
        IdError::KeyId(_) => messages::invalid_key_id(raw),
        _ => messages::invalid_key_id(raw),
    })?;
    if forms == IdForms::KeysOnly && parsed.is_alias() {
        return Err(messages::invalid_key_id(raw));
    }
    match parsed {
        KeyRef::Id(id) => match view.key(&id) {
            // A bare id names a key of the caller's own account.
            Some(k) if k.account == caller.account => Ok(k),
            _ => Err(not_found_key(region, &caller.account, &id)),
        },
        KeyRef::Arn {
            region: r,
            account,
            key,
        } => {
            // AWS: a key ARN of another Region is "Invalid arn <its region>".
            if &r != region {
                return Err(messages::arn_of_other_region(r.as_str()));
            }
            match view.key(&key) {
                Some(k) if k.account == account => Ok(k),
                _ => Err(not_found_key(region, &account, &key)),
            }
        }
        KeyRef::AliasName(name) => resolve_alias(view, region, &caller.account, &name),
        KeyRef::AliasArn {
            region: r,
            account,
            alias,
        } => {
            if &r != region {
                return Err(alias_not_found(&r, &account, &alias));
            }
            resolve_alias(view, region, &account, &alias)
        }
    }
}

pub(crate) fn alias_not_found(region: &Region, account: &AccountId, alias: &AliasName) -> KmsError {
    messages::alias_not_found(&tern_core::ids::alias_arn(region, account, alias))
}

fn resolve_alias(
    view: &impl KeyLookup,
    region: &Region,
    account: &AccountId,
    alias: &AliasName,
) -> KmsResult<Arc<KeyRecord>> {
    let a = view
        .alias(account, alias)
        .ok_or_else(|| alias_not_found(region, account, alias))?;
    view.key(&a.target)
        .ok_or_else(|| alias_not_found(region, account, alias))
}

/// The key-state rule for `op`, as the AWS error.
pub(crate) fn check_state(key: &KeyRecord, op: KeyOp) -> KmsResult<()> {
    key.state.allows(op).map_err(|r| match r {
        StateRefusal::Disabled => messages::disabled(&key.arn()),
        StateRefusal::InvalidState(s) => messages::key_state(&key.arn(), s.phrase()),
        StateRefusal::NotPendingDeletion => messages::not_pending_deletion(&key.arn()),
    })
}

/// The key-state rule for cryptographic operations, plus imported
/// material past its `ValidTo` (the key is PendingImport from that moment,
/// even before the expiry sweep records it).
pub(crate) fn check_crypto_state(key: &KeyRecord, now: tern_core::time::UnixMillis) -> KmsResult<()> {
    check_state(key, KeyOp::Cryptographic)?;
    if key.material_expired(now) || key.materials.is_empty() {
        return Err(messages::key_state(
            &key.arn(),
            tern_core::key::KeyState::PendingImport.phrase(),
        ));
    }
    Ok(())
}

/// The alias a `KeyId` member names, for `kms:RequestAlias`.
pub(crate) fn request_alias(raw: &str) -> Option<&str> {
    match raw.find("alias/") {
        Some(i) if raw.starts_with("alias/") || raw.starts_with("arn:") => Some(&raw[i..]),
        _ => None,
    }
}
