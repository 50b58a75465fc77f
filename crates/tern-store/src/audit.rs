//! The audit chain: every record is stored under its sequence number with the
//! hash of the record before it and its own hash,
//! `hash = SHA-256("tern-audit-v1" | seq (u64 BE) | prev_hash | record bytes)`.
//! A modified, removed or reordered record breaks the chain; an anchor (a
//! head printed earlier) also reveals a cut-off tail.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const DOMAIN: &[u8] = b"tern-audit-v1";
const HASH_LEN: usize = 32;

/// The newest record's sequence number and hash (0 and zeros when empty).
#[derive(Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub seq: u64,
    #[serde(with = "hex_hash")]
    pub hash: [u8; HASH_LEN],
}

impl fmt::Debug for ChainHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHead({}, {})", self.seq, hex::encode(self.hash))
    }
}

impl fmt::Display for ChainHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, hex::encode(self.hash))
    }
}

impl ChainHead {
    /// Parses `<seq>:<64 hex>` as printed by `Display`.
    pub fn parse(s: &str) -> Option<Self> {
        let (seq, hash) = s.trim().split_once(':')?;
        let seq = seq.parse().ok()?;
        let mut h = [0u8; HASH_LEN];
        hex::decode_to_slice(hash, &mut h).ok()?;
        Some(ChainHead { seq, hash: h })
    }
}

mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let mut h = [0u8; 32];
        hex::decode_to_slice(s, &mut h).map_err(serde::de::Error::custom)?;
        Ok(h)
    }
}

pub(crate) fn chain_hash(seq: u64, prev: &[u8; HASH_LEN], record: &[u8]) -> [u8; HASH_LEN] {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(seq.to_be_bytes());
    h.update(prev);
    h.update(record);
    h.finalize().into()
}

pub(crate) fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// Stored value: prev hash | hash | record bytes.
pub(crate) fn encode_value(prev: &[u8; HASH_LEN], hash: &[u8; HASH_LEN], record: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(2 * HASH_LEN + record.len());
    v.extend_from_slice(prev);
    v.extend_from_slice(hash);
    v.extend_from_slice(record);
    v
}

/// One stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: u64,
    pub prev_hash: [u8; HASH_LEN],
    pub hash: [u8; HASH_LEN],
    /// The CloudTrail-shaped record, JSON.
    pub record: Vec<u8>,
}

impl AuditEntry {
    pub(crate) fn decode(key: &[u8], value: &[u8]) -> Option<AuditEntry> {
        let seq = u64::from_be_bytes(key.try_into().ok()?);
        if value.len() < 2 * HASH_LEN {
            return None;
        }
        let mut prev_hash = [0u8; HASH_LEN];
        prev_hash.copy_from_slice(&value[..HASH_LEN]);
        let mut hash = [0u8; HASH_LEN];
        hash.copy_from_slice(&value[HASH_LEN..2 * HASH_LEN]);
        Some(AuditEntry {
            seq,
            prev_hash,
            hash,
            record: value[2 * HASH_LEN..].to_vec(),
        })
    }

    /// JSON line for `tern audit export`.
    pub fn to_json_line(&self) -> String {
        let record: serde_json::Value =
            serde_json::from_slice(&self.record).unwrap_or_else(|_| serde_json::Value::String("<not JSON>".into()));
        serde_json::json!({
            "sequence": self.seq,
            "prevHash": hex::encode(self.prev_hash),
            "hash": hex::encode(self.hash),
            "record": record,
        })
        .to_string()
    }
}

/// The outcome of verifying a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub records: u64,
    pub head: ChainHead,
    /// The first problem found, if any.
    pub problem: Option<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// Verifies entries given in key order, optionally against an anchor.
pub fn verify<I>(entries: I, anchor: Option<ChainHead>) -> VerifyReport
where
    I: IntoIterator<Item = Result<AuditEntry, String>>,
{
    let mut head = ChainHead::default();
    let mut records = 0u64;
    let mut anchor_seen = anchor.map(|a| a.seq == 0);
    let fail = |head, records, p: String| VerifyReport {
        records,
        head,
        problem: Some(p),
    };
    for e in entries {
        let e = match e {
            Ok(e) => e,
            Err(msg) => return fail(head, records, msg),
        };
        if e.seq != head.seq + 1 {
            return fail(
                head,
                records,
                format!("record {} missing: found {} after {}", head.seq + 1, e.seq, head.seq),
            );
        }
        if e.prev_hash != head.hash {
            return fail(
                head,
                records,
                format!("record {}: previous-hash link broken (reordered or replaced)", e.seq),
            );
        }
        if chain_hash(e.seq, &e.prev_hash, &e.record) != e.hash {
            return fail(
                head,
                records,
                format!("record {}: contents do not match its hash (modified)", e.seq),
            );
        }
        head = ChainHead {
            seq: e.seq,
            hash: e.hash,
        };
        records += 1;
        if let Some(a) = anchor {
            if a.seq == e.seq {
                if a.hash != e.hash {
                    return fail(head, records, format!("record {}: hash differs from the anchor", e.seq));
                }
                anchor_seen = Some(true);
            }
        }
    }
    if anchor_seen == Some(false) {
        let a = anchor.unwrap_or_default();
        return fail(
            head,
            records,
            format!("chain ends at {} before the anchor {} (tail cut off)", head.seq, a.seq),
        );
    }
    VerifyReport {
        records,
        head,
        problem: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut prev = [0u8; 32];
        (1..=n)
            .map(|seq| {
                let record = format!("{{\"n\":{seq}}}").into_bytes();
                let hash = chain_hash(seq, &prev, &record);
                let e = AuditEntry {
                    seq,
                    prev_hash: prev,
                    hash,
                    record,
                };
                prev = hash;
                e
            })
            .collect()
    }

    fn run(v: &[AuditEntry], anchor: Option<ChainHead>) -> VerifyReport {
        verify(v.iter().cloned().map(Ok), anchor)
    }

    #[test]
    fn detects_modified_removed_reordered_and_cut() {
        let good = chain(5);
        let r = run(&good, None);
        assert!(r.ok());
        assert_eq!(r.head.seq, 5);

        let mut modified = good.clone();
        modified[2].record = b"{\"n\":99}".to_vec();
        assert!(run(&modified, None).problem.unwrap().contains("modified"));

        let mut removed = good.clone();
        removed.remove(2);
        assert!(run(&removed, None).problem.unwrap().contains("missing"));

        let mut reordered = good.clone();
        reordered.swap(1, 2);
        let (a, b) = (reordered[1].seq, reordered[2].seq);
        reordered[1].seq = b;
        reordered[2].seq = a;
        assert!(!run(&reordered, None).ok());

        let anchor = r.head;
        assert!(run(&good, Some(anchor)).ok());
        let cut = &good[..3];
        assert!(run(cut, None).ok(), "without an anchor a cut tail looks fine");
        assert!(run(cut, Some(anchor)).problem.unwrap().contains("tail cut off"));
        assert_eq!(ChainHead::parse(&anchor.to_string()), Some(anchor));
    }
}
