//! Group commit, the durability invariant, failure handling and reopen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;

use tern_store::{audit, Store, StoreConfig};

fn open(dir: &std::path::Path) -> Store {
    Store::open(&StoreConfig {
        path: dir.to_path_buf(),
    })
    .unwrap()
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
