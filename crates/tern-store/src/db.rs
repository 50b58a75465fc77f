//! Opening the database, loading the published state, and the public
//! [`Store`] handle.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use rocksdb::{ColumnFamilyDescriptor, DBCompressionType, IteratorMode, Options, DB};
use tern_core::key::KeyRecord;
use tokio::sync::{mpsc, oneshot};

use crate::audit::{self, AuditEntry, ChainHead, VerifyReport};
use crate::committer::{self, CommitStats, Job, Txn};
use crate::state::{AliasRecord, GrantRecord, Published};
use crate::StoreError;

pub(crate) const CF_KEYS: &str = "keys";
pub(crate) const CF_ALIASES: &str = "aliases";
pub(crate) const CF_AUDIT: &str = "audit";
pub(crate) const CF_META: &str = "meta";
pub(crate) const CF_GRANTS: &str = "grants";
/// The replicated family: the Multi-Region Raft state machine's state.
pub(crate) const CF_REPL: &str = "repl";
const ALL_CFS: [&str; 6] = [CF_KEYS, CF_ALIASES, CF_AUDIT, CF_META, CF_GRANTS, CF_REPL];
/// Transactions that may wait for the committer before senders wait.
const QUEUE_DEPTH: usize = 8192;

/// Free space the data directory keeps for replication and compaction
/// (64 MiB): below it, client transactions are refused with
/// [`StoreError::NoSpace`].
pub const DEFAULT_MIN_FREE_BYTES: u64 = 64 << 20;

/// Where a region's database lives.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// Free bytes the file system must keep: below it, client transactions
    /// fail closed with [`StoreError::NoSpace`] while reserved ones
    /// ([`Store::transact_reserved`]: replication) still run. 0 turns the
    /// check off.
    pub min_free_bytes: u64,
}

impl StoreConfig {
    /// A store at `path` with the default free-space reserve.
    pub fn new(path: impl Into<PathBuf>) -> StoreConfig {
        StoreConfig {
            path: path.into(),
            min_free_bytes: DEFAULT_MIN_FREE_BYTES,
        }
    }
}

/// A handle to a region's store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<DB>,
    published: Arc<RwLock<Published>>,
    tx: mpsc::Sender<Job>,
    stats: Arc<CommitStats>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.db.path())
            .finish_non_exhaustive()
    }
}

fn db_options() -> Options {
    let mut o = Options::default();
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    o.set_paranoid_checks(true);
    o.set_compression_type(DBCompressionType::None);
    o.set_keep_log_file_num(4);
    o
}

fn cf_descriptors() -> Vec<ColumnFamilyDescriptor> {
    ALL_CFS
        .iter()
        .map(|n| {
            let mut o = Options::default();
            o.set_compression_type(DBCompressionType::None);
            ColumnFamilyDescriptor::new(*n, o)
        })
        .collect()
}

/// How long opening waits for a lock held by an unwinding predecessor.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Opens a RocksDB database. A node restarted inside the same process (tests,
/// `tern demo`) may find its previous incarnation's tasks still unwinding
/// and holding the database lock; opening waits for them, boundedly.
pub fn open_waiting_for_lock<I>(opts: &Options, path: &Path, cfs: impl Fn() -> I) -> Result<DB, rocksdb::Error>
where
    I: IntoIterator<Item = ColumnFamilyDescriptor>,
{
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match DB::open_cf_descriptors(opts, path, cfs()) {
            Err(e) if e.to_string().contains("lock") && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            r => return r,
        }
    }
}

fn read_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Read(e.to_string())
}

fn load(db: &DB) -> Result<Published, StoreError> {
    let mut p = Published::default();
    let cf = db
        .cf_handle(CF_KEYS)
        .ok_or_else(|| read_err("missing keys column family"))?;
    for item in db.iterator_cf(cf, IteratorMode::Start) {
        let (_, v) = item.map_err(read_err)?;
        let r: KeyRecord = serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(format!("key record: {e}")))?;
        p.put_key(r.key_id, Arc::new(r));
    }
    let cf = db
        .cf_handle(CF_ALIASES)
        .ok_or_else(|| read_err("missing aliases column family"))?;
    for item in db.iterator_cf(cf, IteratorMode::Start) {
        let (_, v) = item.map_err(read_err)?;
        let a: AliasRecord = serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(format!("alias: {e}")))?;
        p.put_alias(a.key(), Arc::new(a));
    }
    let cf = db
        .cf_handle(CF_GRANTS)
        .ok_or_else(|| read_err("missing grants column family"))?;
    for item in db.iterator_cf(cf, IteratorMode::Start) {
        let (_, v) = item.map_err(read_err)?;
        let g: GrantRecord = serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(format!("grant: {e}")))?;
        p.put_grant(g.key(), Arc::new(g));
    }
    let cf = db
        .cf_handle(CF_REPL)
        .ok_or_else(|| read_err("missing repl column family"))?;
    for item in db.iterator_cf(cf, IteratorMode::Start) {
        let (k, v) = item.map_err(read_err)?;
        p.repl.insert(k.to_vec(), Arc::new(v.to_vec()));
    }
    p.audit_head = last_audit_head(db)?;
    Ok(p)
}

fn last_audit_head(db: &DB) -> Result<ChainHead, StoreError> {
    let cf = db
        .cf_handle(CF_AUDIT)
        .ok_or_else(|| read_err("missing audit column family"))?;
    match db.iterator_cf(cf, IteratorMode::End).next() {
        None => Ok(ChainHead::default()),
        Some(item) => {
            let (k, v) = item.map_err(read_err)?;
            let e = AuditEntry::decode(&k, &v).ok_or_else(|| StoreError::Corrupt("audit entry".into()))?;
            Ok(ChainHead {
                seq: e.seq,
                hash: e.hash,
            })
        }
    }
}

fn entries(db: &DB) -> impl Iterator<Item = Result<AuditEntry, String>> + '_ {
    let cf = db.cf_handle(CF_AUDIT);
    cf.into_iter().flat_map(move |cf| {
        db.iterator_cf(cf, IteratorMode::Start).map(|item| {
            let (k, v) = item.map_err(|e| e.to_string())?;
            AuditEntry::decode(&k, &v).ok_or_else(|| "undecodable audit entry".to_string())
        })
    })
}

impl Store {
    /// Opens (or creates) the store and starts its committer thread.
    pub fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        std::fs::create_dir_all(&config.path).map_err(read_err)?;
        let db = open_waiting_for_lock(&db_options(), &config.path, cf_descriptors).map_err(read_err)?;
        let db = Arc::new(db);
        let published = Arc::new(RwLock::new(load(&db)?));
        let stats = Arc::new(CommitStats::default());
        stats
            .synced_audit_seq
            .store(published.read().audit_head.seq, std::sync::atomic::Ordering::SeqCst);
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let thread = {
            let (db, published, stats) = (db.clone(), published.clone(), stats.clone());
            let space = committer::SpaceGuard::new(config.path.clone(), config.min_free_bytes);
            std::thread::Builder::new()
                .name("tern-committer".into())
                .spawn(move || committer::run(db, published, rx, stats, space))
                .map_err(read_err)?
        };
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                published,
                tx,
                stats,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// The durable state. Never hold the guard across an `.await`.
    pub fn read(&self) -> RwLockReadGuard<'_, Published> {
        self.inner.published.read()
    }

    pub fn stats(&self) -> &CommitStats {
        &self.inner.stats
    }

    pub fn path(&self) -> &Path {
        self.inner.db.path()
    }

    /// Runs `f` in the committer against the pending state; returns its
    /// result and the sequence number of its last audit record once the
    /// batch holding it has synced. `f` must be quick and must not block.
    pub async fn transact<R, F>(&self, f: F) -> Result<(R, u64), StoreError>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&mut Txn<'a>) -> R + Send + 'static,
    {
        self.submit(f, false).await
    }

    /// [`Store::transact`] for replication: runs even when the file system is
    /// below the free-space reserve (the reserve exists so that applying the
    /// replicated log never stops on a region's full disk first).
    pub async fn transact_reserved<R, F>(&self, f: F) -> Result<(R, u64), StoreError>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&mut Txn<'a>) -> R + Send + 'static,
    {
        self.submit(f, true).await
    }

    async fn submit<R, F>(&self, f: F, reserved: bool) -> Result<(R, u64), StoreError>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&mut Txn<'a>) -> R + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: committer::JobFn = Box::new(move |txn: &mut Txn<'_>| {
            let r = f(txn);
            Box::new(move |res: Result<u64, StoreError>| {
                let _ = tx.send(res.map(|seq| (r, seq)));
            })
        });
        self.inner
            .tx
            .send(Job::Run(job, reserved))
            .await
            .map_err(|_| StoreError::ShuttingDown)?;
        rx.await.map_err(|_| StoreError::ShuttingDown)?
    }

    /// Appends one audit record durably; returns its sequence number.
    pub async fn append_audit(&self, record: Vec<u8>) -> Result<u64, StoreError> {
        self.transact(move |t| t.audit(record)).await.map(|(_, seq)| seq)
    }

    /// Every audit entry, oldest first.
    pub fn audit_entries(&self) -> Vec<Result<AuditEntry, String>> {
        entries(&self.inner.db).collect()
    }

    /// Stops the committer after the queued transactions and waits for it.
    pub fn shutdown(&self) {
        let _ = self.inner.tx.try_send(Job::Shutdown);
        if let Some(t) = self.inner.thread.lock().take() {
            let _ = t.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.tx.try_send(Job::Shutdown);
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

/// A read-only view of a live (or stopped) node's database, opened as a
/// RocksDB secondary so it works while the node runs.
#[derive(Debug)]
pub struct AuditReader {
    db: DB,
    _secondary_dir: Option<PathBuf>,
}

impl AuditReader {
    pub fn open(primary: &Path, secondary_dir: &Path) -> Result<AuditReader, StoreError> {
        let mut o = Options::default();
        o.set_max_open_files(-1);
        let db = DB::open_cf_as_secondary(&o, primary, secondary_dir, ALL_CFS).map_err(read_err)?;
        db.try_catch_up_with_primary().map_err(read_err)?;
        Ok(AuditReader {
            db,
            _secondary_dir: Some(secondary_dir.to_path_buf()),
        })
    }

    pub fn entries(&self) -> impl Iterator<Item = Result<AuditEntry, String>> + '_ {
        entries(&self.db)
    }

    pub fn verify(&self, anchor: Option<ChainHead>) -> VerifyReport {
        audit::verify(self.entries(), anchor)
    }
}
