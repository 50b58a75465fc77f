//! The published (durable) in-memory view of a region's records, and the
//! overlay a batch builds on top of it before it syncs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tern_core::ids::{AccountId, AliasName, KeyId};
use tern_core::key::KeyRecord;
use tern_core::time::UnixMillis;

use crate::audit::ChainHead;

/// An alias and the key it points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    /// Aliases are scoped to an account within the region.
    pub account: AccountId,
    pub name: AliasName,
    pub target: KeyId,
    pub created: UnixMillis,
    pub last_updated: UnixMillis,
}

/// A grant: temporary, scoped permission on one key for one grantee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    pub key_id: KeyId,
    /// 64 lowercase hex digits.
    pub grant_id: String,
    pub name: Option<String>,
    pub created: UnixMillis,
    pub issuing_account: AccountId,
    pub grantee_principal: String,
    pub retiring_principal: Option<String>,
    pub operations: Vec<String>,
    pub encryption_context_subset: Option<std::collections::BTreeMap<String, String>>,
    pub encryption_context_equals: Option<std::collections::BTreeMap<String, String>>,
}

/// Grants are looked up by key and grant id.
pub type GrantKey = (KeyId, String);

impl GrantRecord {
    pub fn key(&self) -> GrantKey {
        (self.key_id, self.grant_id.clone())
    }
}

/// The column-family key of a grant: `<key id>/<grant id>`.
pub(crate) fn grant_storage_key(key: &KeyId, grant_id: &str) -> String {
    format!("{key}/{grant_id}")
}

/// Aliases are looked up by account and name.
pub type AliasKey = (AccountId, AliasName);

impl AliasRecord {
    pub fn key(&self) -> AliasKey {
        (self.account.clone(), self.name.clone())
    }
}

/// The column-family key of an alias: `<account>/<alias name>`.
pub(crate) fn alias_storage_key(account: &AccountId, name: &AliasName) -> String {
    format!("{account}/{name}")
}

/// What readers see: only state whose batch has synced.
#[derive(Debug, Default)]
pub struct Published {
    pub keys: BTreeMap<KeyId, Arc<KeyRecord>>,
    pub aliases: BTreeMap<AliasKey, Arc<AliasRecord>>,
    pub grants: BTreeMap<GrantKey, Arc<GrantRecord>>,
    /// Reverse index: the aliases pointing at each key.
    pub aliases_by_key: HashMap<KeyId, std::collections::BTreeSet<AliasKey>>,
    pub audit_head: ChainHead,
    /// The replicated column family: what the Multi-Region Raft state
    /// machine owns, as opaque bytes (tern-replication encodes it).
    pub repl: BTreeMap<Vec<u8>, Arc<Vec<u8>>>,
}

impl Published {
    pub fn aliases_of(&self, key: &KeyId) -> impl Iterator<Item = &Arc<AliasRecord>> + '_ {
        self.aliases_by_key
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|k| self.aliases.get(k))
    }

    /// Adds or replaces an alias, keeping the reverse index.
    pub(crate) fn put_alias(&mut self, k: AliasKey, r: Arc<AliasRecord>) {
        self.remove_alias(&k);
        self.aliases_by_key.entry(r.target).or_default().insert(k.clone());
        self.aliases.insert(k, r);
    }

    /// Removes an alias, keeping the reverse index.
    pub(crate) fn remove_alias(&mut self, k: &AliasKey) {
        if let Some(old) = self.aliases.remove(k) {
            if let Some(set) = self.aliases_by_key.get_mut(&old.target) {
                set.remove(k);
                if set.is_empty() {
                    self.aliases_by_key.remove(&old.target);
                }
            }
        }
    }

    pub fn grants_of(&self, key: &KeyId) -> impl Iterator<Item = &Arc<GrantRecord>> + '_ {
        let key = *key;
        self.grants
            .range((key, String::new())..)
            .take_while(move |((k, _), _)| *k == key)
            .map(|(_, g)| g)
    }
}

/// Changes not yet durable: `None` means deleted.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    pub keys: HashMap<KeyId, Option<Arc<KeyRecord>>>,
    pub aliases: HashMap<AliasKey, Option<Arc<AliasRecord>>>,
    pub grants: HashMap<GrantKey, Option<Arc<GrantRecord>>>,
    pub repl: BTreeMap<Vec<u8>, Option<Arc<Vec<u8>>>>,
    /// The replicated family is replaced wholesale (snapshot install):
    /// nothing below this overlay is visible for it.
    pub repl_clear: bool,
}

impl Overlay {
    pub fn merge(&mut self, other: Overlay) {
        self.keys.extend(other.keys);
        self.aliases.extend(other.aliases);
        self.grants.extend(other.grants);
        if other.repl_clear {
            self.repl.clear();
            self.repl_clear = true;
        }
        self.repl.extend(other.repl);
    }

    pub fn apply_to(self, p: &mut Published) {
        for (k, v) in self.keys {
            match v {
                Some(r) => {
                    p.keys.insert(k, r);
                }
                None => {
                    p.keys.remove(&k);
                }
            }
        }
        for (k, v) in self.aliases {
            match v {
                Some(r) => p.put_alias(k, r),
                None => p.remove_alias(&k),
            }
        }
        for (k, v) in self.grants {
            match v {
                Some(r) => {
                    p.grants.insert(k, r);
                }
                None => {
                    p.grants.remove(&k);
                }
            }
        }
        if self.repl_clear {
            p.repl.clear();
        }
        for (k, v) in self.repl {
            match v {
                Some(r) => {
                    p.repl.insert(k, r);
                }
                None => {
                    p.repl.remove(&k);
                }
            }
        }
    }
}
