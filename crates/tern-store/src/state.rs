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
    /// Index: the grant ids on each key for each grantee principal, so an
    /// authorization reads only the caller's own grants.
    pub grants_by_grantee: HashMap<(KeyId, String), std::collections::BTreeSet<String>>,
    /// Keys held in this region per account (for the per-account quota).
    pub keys_per_account: HashMap<AccountId, usize>,
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

    /// Adds or replaces a key, keeping the per-account counts.
    pub(crate) fn put_key(&mut self, id: KeyId, r: Arc<KeyRecord>) {
        self.remove_key(&id);
        *self.keys_per_account.entry(r.account.clone()).or_default() += 1;
        self.keys.insert(id, r);
    }

    /// Removes a key, keeping the per-account counts.
    pub(crate) fn remove_key(&mut self, id: &KeyId) {
        if let Some(old) = self.keys.remove(id) {
            if let Some(n) = self.keys_per_account.get_mut(&old.account) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.keys_per_account.remove(&old.account);
                }
            }
        }
    }

    /// Keys `account` holds in this region.
    pub fn key_count_of(&self, account: &AccountId) -> usize {
        self.keys_per_account.get(account).copied().unwrap_or(0)
    }

    /// Adds or replaces a grant, keeping the grantee index.
    pub(crate) fn put_grant(&mut self, k: GrantKey, g: Arc<GrantRecord>) {
        self.remove_grant(&k);
        self.grants_by_grantee
            .entry((k.0, g.grantee_principal.clone()))
            .or_default()
            .insert(k.1.clone());
        self.grants.insert(k, g);
    }

    /// Removes a grant, keeping the grantee index.
    pub(crate) fn remove_grant(&mut self, k: &GrantKey) {
        if let Some(old) = self.grants.remove(k) {
            let ik = (k.0, old.grantee_principal.clone());
            if let Some(set) = self.grants_by_grantee.get_mut(&ik) {
                set.remove(&k.1);
                if set.is_empty() {
                    self.grants_by_grantee.remove(&ik);
                }
            }
        }
    }

    /// The grants on `key` whose grantee is `grantee`, from the index.
    pub fn grants_for<'a>(&'a self, key: &KeyId, grantee: &str) -> impl Iterator<Item = &'a Arc<GrantRecord>> + 'a {
        let key = *key;
        self.grants_by_grantee
            .get(&(key, grantee.to_string()))
            .into_iter()
            .flatten()
            .filter_map(move |id| self.grants.get(&(key, id.clone())))
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
                Some(r) => p.put_key(k, r),
                None => p.remove_key(&k),
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
                Some(r) => p.put_grant(k, r),
                None => p.remove_grant(&k),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn grant(key: KeyId, id: &str, grantee: &str) -> Arc<GrantRecord> {
        Arc::new(GrantRecord {
            key_id: key,
            grant_id: id.into(),
            name: None,
            created: UnixMillis(0),
            issuing_account: AccountId::parse("111122223333").unwrap(),
            grantee_principal: grantee.into(),
            retiring_principal: None,
            operations: vec!["Decrypt".into()],
            encryption_context_subset: None,
            encryption_context_equals: None,
        })
    }

    fn ids(p: &Published, key: &KeyId, grantee: &str) -> Vec<String> {
        p.grants_for(key, grantee).map(|g| g.grant_id.clone()).collect()
    }

    #[test]
    fn the_grantee_index_follows_puts_replacements_and_removals() {
        let (k1, k2) = (KeyId::new_multi_region([1; 16]), KeyId::new_multi_region([2; 16]));
        let mut p = Published::default();
        p.put_grant((k1, "a".into()), grant(k1, "a", "alice"));
        p.put_grant((k1, "b".into()), grant(k1, "b", "bob"));
        p.put_grant((k2, "c".into()), grant(k2, "c", "alice"));
        assert_eq!(ids(&p, &k1, "alice"), ["a"]);
        assert_eq!(ids(&p, &k1, "bob"), ["b"]);
        assert_eq!(ids(&p, &k2, "alice"), ["c"]);
        // A replacement with another grantee moves in the index.
        p.put_grant((k1, "a".into()), grant(k1, "a", "bob"));
        assert!(ids(&p, &k1, "alice").is_empty());
        assert_eq!(ids(&p, &k1, "bob"), ["a", "b"]);
        p.remove_grant(&(k1, "a".into()));
        p.remove_grant(&(k1, "b".into()));
        assert!(ids(&p, &k1, "bob").is_empty());
        assert!(!p.grants_by_grantee.contains_key(&(k1, "bob".into())), "empty sets go");
        assert_eq!(ids(&p, &k2, "alice"), ["c"]);
    }
}
