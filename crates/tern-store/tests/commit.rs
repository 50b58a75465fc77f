//! Group commit, the durability invariant, failure handling and reopen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;

use tern_store::{audit, Store, StoreConfig};

fn open(dir: &std::path::Path) -> Store {
    Store::open(&StoreConfig::new(dir)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_are_group_committed_and_never_acked_before_sync() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut tasks = Vec::new();
    for i in 0..64 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for j in 0..50 {
                let seq = s
                    .append_audit(format!("{{\"i\":{i},\"j\":{j}}}").into_bytes())
                    .await
                    .unwrap();
                // The invariant: an acknowledged record is at or below the synced sequence.
                assert!(seq <= s.stats().synced_audit_seq.load(Ordering::SeqCst));
                acked.push(seq);
            }
            acked
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 64 * 50);
    let stats = store.stats();
    println!(
        "batches={} txns/batch={:.1}",
        stats.batches.load(Ordering::Relaxed),
        stats.txns_per_batch()
    );
    assert!(
        stats.txns_per_batch() > 1.0,
        "group commit should batch concurrent writes"
    );
    let report = audit::verify(store.audit_entries(), None);
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.head.seq, 64 * 50);
}

#[tokio::test]
async fn failed_write_acks_nothing_and_keeps_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.append_audit(b"{\"n\":1}".to_vec()).await.unwrap();
    let head = store.read().audit_head;
    store.stats().inject_write_failures.store(1, Ordering::SeqCst);
    assert!(store.append_audit(b"{\"n\":2}".to_vec()).await.is_err());
    assert_eq!(store.read().audit_head, head, "head must not move past a failed write");
    let seq = store.append_audit(b"{\"n\":3}".to_vec()).await.unwrap();
    assert_eq!(seq, head.seq + 1);
    assert!(audit::verify(store.audit_entries(), None).ok());
}

#[tokio::test]
async fn reopen_restores_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let head = {
        let store = open(dir.path());
        for n in 0..10 {
            store.append_audit(format!("{{\"n\":{n}}}").into_bytes()).await.unwrap();
        }
        let h = store.read().audit_head;
        store.shutdown();
        h
    };
    let store = open(dir.path());
    assert_eq!(store.read().audit_head, head);
    let seq = store.append_audit(b"{}".to_vec()).await.unwrap();
    assert_eq!(seq, 11);
    assert!(audit::verify(store.audit_entries(), Some(head)).ok());
}

#[tokio::test]
async fn first_replicated_keys_see_pending_puts_and_deletions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .transact(|t| {
            for i in 0..20u32 {
                t.put_repl(format!("e/{i:04}").into_bytes(), vec![1]);
            }
            t.put_repl(b"f/other".to_vec(), vec![1]);
        })
        .await
        .unwrap();
    let (first, _) = store
        .transact(|t| {
            let before = t.first_repl_keys_with_prefix(b"e/", 3);
            // Deleting the first five and adding one in front: the next
            // three are still found without listing everything.
            for i in 0..5u32 {
                t.delete_repl(format!("e/{i:04}").into_bytes());
            }
            t.put_repl(b"e/0001a".to_vec(), vec![1]);
            (before, t.first_repl_keys_with_prefix(b"e/", 3))
        })
        .await
        .unwrap();
    let names = |v: Vec<Vec<u8>>| v.into_iter().map(|k| String::from_utf8(k).unwrap()).collect::<Vec<_>>();
    assert_eq!(names(first.0), ["e/0000", "e/0001", "e/0002"]);
    assert_eq!(names(first.1), ["e/0001a", "e/0005", "e/0006"]);
    let (after, _) = store
        .transact(|t| t.first_repl_keys_with_prefix(b"e/", 100))
        .await
        .unwrap();
    assert_eq!(after.len(), 16);
    assert!(store
        .transact(|t| t.first_repl_keys_with_prefix(b"x/", 5))
        .await
        .unwrap()
        .0
        .is_empty());
}
