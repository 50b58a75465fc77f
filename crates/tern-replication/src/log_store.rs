//! The Raft log, vote and purge point on their own RocksDB (`<data>/raft`).
//!
//! Every write that openraft relies on for safety (appends before they are
//! reported flushed, votes, truncation, purge) is a synced batch.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader, StorageIOError};
use rocksdb::{
    ColumnFamilyDescriptor, DBCompressionType, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB,
};
use tokio::sync::watch;

use crate::fault::CrashSite;
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};

const CF_LOG: &str = "log";
const CF_META: &str = "meta";
const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const PURGED: &[u8] = b"last_purged";
const INCARNATION: &[u8] = b"incarnation";

/// How a queued write reports back.
enum Done {
    Flushed(LogFlushed<TypeConfig>),
    Reply(tokio::sync::oneshot::Sender<Result<(), String>>),
    /// Nobody waits (the committed-index hint).
    Nothing,
}

/// What a queued batch appends: the highest log index, and the tail's
/// truncation epoch when it was queued.
#[derive(Debug, Clone, Copy)]
struct Appends {
    last: u64,
    epoch: u64,
}

/// A batch for the writer thread, what to tell when it is synced, and what
/// it appends (if it appends).
type Job = (WriteBatch, Done, Option<Appends>);

/// The newest log entries, in memory: appended entries are readable at once
/// (openraft reads an entry to replicate it before the writer thread may
/// have written it), and the leader replicates without reading RocksDB or
/// decoding JSON. Entries leave once written and beyond [`Tail::KEEP`].
#[derive(Debug, Default)]
pub(crate) struct Tail(parking_lot::Mutex<TailState>);

#[derive(Debug, Default)]
pub(crate) struct TailState {
    entries: std::collections::BTreeMap<u64, Entry>,
    /// The highest index known written to RocksDB with the content the
    /// tail holds (0: none yet). Only entries at or below it may leave.
    written: u64,
    /// Bumped by every truncation: a batch queued before a truncation
    /// wrote entries that were cut since, so it never raises `written`
    /// (the index it wrote may now hold a different, unwritten entry).
    epoch: u64,
}

impl Tail {
    const KEEP: usize = 1024;

    fn appended(&self, entries: &[Entry]) -> u64 {
        let mut t = self.0.lock();
        for e in entries {
            t.entries.insert(e.log_id.index, e.clone());
        }
        let written = t.written;
        while t.entries.len() > Self::KEEP {
            match t.entries.first_key_value() {
                Some((i, _)) if *i <= written => {
                    t.entries.pop_first();
                }
                _ => break,
            }
        }
        t.epoch
    }

    /// The writer wrote a batch appending up to `a.last`.
    fn written(&self, a: Appends) {
        let mut t = self.0.lock();
        if t.epoch == a.epoch {
            t.written = t.written.max(a.last);
        }
    }

    fn truncate(&self, from: u64) {
        let mut t = self.0.lock();
        t.entries.split_off(&from);
        t.written = t.written.min(from.saturating_sub(1));
        t.epoch = t.epoch.wrapping_add(1);
    }

    fn purge(&self, upto: u64) {
        let mut t = self.0.lock();
        t.entries = t.entries.split_off(&upto.saturating_add(1));
    }

    /// Entries from `start` on while they are here and `in_range`.
    fn read_from(&self, start: u64, in_range: impl Fn(u64) -> bool) -> Vec<Entry> {
        let t = self.0.lock();
        let mut out = Vec::new();
        let mut next = start;
        for (i, e) in t.entries.range(start..) {
            if *i != next || !in_range(*i) {
                break;
            }
            out.push(e.clone());
            next = i.saturating_add(1);
        }
        out
    }

    fn last(&self) -> Option<Entry> {
        self.0.lock().entries.last_key_value().map(|(_, e)| e.clone())
    }

    fn first_index(&self) -> Option<u64> {
        self.0.lock().entries.first_key_value().map(|(i, _)| *i)
    }
}

/// The writer thread's queue. When the last [`LogStore`] clone goes, the
/// queue closes and the drop waits for the thread, so the database is
/// closed by the time the store is gone (never while the process exits).
struct Writer {
    tx: parking_lot::Mutex<Option<tokio::sync::mpsc::Sender<Job>>>,
    handle: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Batches queued for the writer thread. When full, openraft's storage call
/// waits for room: backpressure, not an unbounded queue.
pub const WRITER_QUEUE: usize = 1024;

impl Writer {
    async fn send(&self, job: Job) -> Result<(), ()> {
        let tx = self.tx.lock().clone();
        match tx {
            Some(tx) => tx.send(job).await.map_err(|_| ()),
            None => Err(()),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.tx.lock().take();
        if let Some(h) = self.handle.lock().take() {
            let _ = h.join();
        }
    }
}

/// The log store. Cheap to clone (the reader is a clone). Every write goes
/// through one writer thread, so writes are synced in the order openraft
/// issued them and no async worker blocks on an fsync.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
    writer: Arc<Writer>,
    tail: Arc<Tail>,
    /// The highest committed log id this region has heard of.
    committed: Arc<watch::Sender<Option<LogId>>>,
    /// When recent entries reached this region's log (in memory only; for
    /// replication lag in time).
    arrivals: Arc<Arrivals>,
}

/// When each recent log entry was appended here, oldest first; at most
/// [`Arrivals::CAPACITY`] entries (older ones are forgotten, so the lag of
/// a region further behind than that reads as the oldest arrival's age).
#[derive(Debug, Default)]
pub(crate) struct Arrivals(parking_lot::Mutex<std::collections::VecDeque<(u64, std::time::Instant)>>);

impl Arrivals {
    const CAPACITY: usize = 1 << 16;

    fn record(&self, index: u64, at: std::time::Instant) {
        let mut q = self.0.lock();
        // A re-appended index (after a truncation) replaces what follows.
        while q.back().is_some_and(|(i, _)| *i >= index) {
            q.pop_back();
        }
        if q.len() == Self::CAPACITY {
            q.pop_front();
        }
        q.push_back((index, at));
    }

    fn truncate(&self, from: u64) {
        let mut q = self.0.lock();
        while q.back().is_some_and(|(i, _)| *i >= from) {
            q.pop_back();
        }
    }

    /// When the first entry after `index` arrived (the oldest known one if
    /// that entry was forgotten); `None` when nothing after `index` arrived.
    fn after(&self, index: Option<u64>) -> Option<std::time::Instant> {
        let q = self.0.lock();
        let next = index.map_or(0, |i| i.saturating_add(1));
        q.get(q.partition_point(|(i, _)| *i < next)).map(|(_, t)| *t)
    }
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore").field("path", &self.db.path()).finish()
    }
}

fn io_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_logs(&e).into()
}
fn read_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read_logs(&e).into()
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Msg(String);

fn index_key(i: u64) -> [u8; 8] {
    i.to_be_bytes()
}

fn synced() -> WriteOptions {
    let mut o = WriteOptions::default();
    o.set_sync(true);
    o
}

impl LogStore {
    pub fn open(path: &Path) -> Result<LogStore, String> {
        Self::open_with_crash_site(path, None)
    }

    /// [`LogStore::open`] with a test crash point in front of every batch
    /// the writer writes (see [`crate::fault::CrashPoint::LogWrite`]).
    pub fn open_with_crash_site(path: &Path, crash: Option<CrashSite>) -> Result<LogStore, String> {
        std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
        let mut o = Options::default();
        o.create_if_missing(true);
        o.create_missing_column_families(true);
        o.set_paranoid_checks(true);
        o.set_compression_type(DBCompressionType::None);
        o.set_keep_log_file_num(4);
        let cfs = || {
            [CF_LOG, CF_META].map(|n| {
                let mut c = Options::default();
                c.set_compression_type(DBCompressionType::None);
                ColumnFamilyDescriptor::new(n, c)
            })
        };
        let db = Arc::new(tern_store::open_waiting_for_lock(&o, path, cfs).map_err(|e| e.to_string())?);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Job>(WRITER_QUEUE);
        let tail = Arc::new(Tail::default());
        let handle = {
            let (db, tail) = (db.clone(), tail.clone());
            std::thread::Builder::new()
                .name("tern-raft-log".into())
                .spawn(move || {
                    let opts = synced();
                    while let Some((batch, done, appends)) = rx.blocking_recv() {
                        #[cfg(test)]
                        tests::writer_gate();
                        let r = if crash.as_ref().is_some_and(|c| c.log_write_dies()) {
                            Err("the node died at an injected crash point".to_string())
                        } else {
                            db.write_opt(batch, &opts).map_err(|e| e.to_string())
                        };
                        if let (Ok(()), Some(a)) = (&r, appends) {
                            tail.written(a);
                        }
                        match done {
                            Done::Flushed(cb) => cb.log_io_completed(r.map_err(std::io::Error::other)),
                            Done::Reply(tx) => {
                                let _ = tx.send(r);
                            }
                            Done::Nothing => {
                                if let Err(e) = r {
                                    tracing::warn!(error = %e, "raft log: the committed-index hint was not written");
                                }
                            }
                        }
                    }
                })
                .map_err(|e| e.to_string())?
        };
        let s = LogStore {
            db,
            writer: Arc::new(Writer {
                tx: parking_lot::Mutex::new(Some(tx)),
                handle: parking_lot::Mutex::new(Some(handle)),
            }),
            tail,
            committed: Arc::new(watch::channel(None).0),
            arrivals: Arc::default(),
        };
        let c = s
            .get_meta::<Option<LogId>>(COMMITTED)
            .map_err(|e| e.to_string())?
            .flatten();
        s.committed.send_replace(c);
        Ok(s)
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, StorageError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| read_err(Msg(format!("missing column family {name}"))))
    }

    fn get_meta<T: for<'de> serde::Deserialize<'de>>(&self, k: &[u8]) -> Result<Option<T>, StorageError> {
        let cf = self.cf(CF_META)?;
        match self.db.get_cf(cf, k).map_err(read_err)? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b).map(Some).map_err(read_err),
        }
    }

    /// Queues a batch on the writer thread and waits for its sync.
    async fn write(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.writer
            .send((batch, Done::Reply(tx), None))
            .await
            .map_err(|_| io_err(Msg("raft log writer stopped".into())))?;
        rx.await
            .map_err(|_| io_err(Msg("raft log writer stopped".into())))?
            .map_err(|e| io_err(Msg(e)))
    }

    fn meta_batch<T: serde::Serialize>(&self, k: &[u8], v: &T) -> Result<WriteBatch, StorageError> {
        let cf = self.cf(CF_META)?;
        let b = serde_json::to_vec(v).map_err(io_err)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(cf, k, b);
        Ok(batch)
    }

    /// A random id made when this data directory was first used.
    pub fn incarnation(&self) -> Result<String, String> {
        if let Some(id) = self.get_meta::<String>(INCARNATION).map_err(|e| e.to_string())? {
            return Ok(id);
        }
        let id = uuid::Uuid::new_v4().to_string();
        let batch = self.meta_batch(INCARNATION, &id).map_err(|e| e.to_string())?;
        self.db.write_opt(batch, &synced()).map_err(|e| e.to_string())?;
        Ok(id)
    }

    /// Whether this directory has ever held a vote or a log entry.
    pub fn is_fresh(&self) -> Result<bool, String> {
        let vote: Option<Vote> = self.get_meta(VOTE).map_err(|e| e.to_string())?;
        Ok(vote.is_none() && self.last_entry().map_err(|e| e.to_string())?.is_none())
    }

    /// The committed log id this region knows of (it may not have applied it yet).
    pub fn committed(&self) -> watch::Receiver<Option<LogId>> {
        self.committed.subscribe()
    }

    fn last_entry(&self) -> Result<Option<Entry>, StorageError> {
        if let Some(e) = self.tail.last() {
            return Ok(Some(e));
        }
        let cf = self.cf(CF_LOG)?;
        match self.db.iterator_cf(cf, IteratorMode::End).next() {
            None => Ok(None),
            Some(item) => {
                let (_, v) = item.map_err(read_err)?;
                serde_json::from_slice(&v).map(Some).map_err(read_err)
            }
        }
    }

    /// How long the oldest entry after `index` has been in this region's
    /// log: how far (in time) a region that has reached `index` is behind
    /// this one. Zero when nothing after `index` is here.
    pub fn lag_behind(&self, index: Option<u64>) -> std::time::Duration {
        self.arrivals.after(index).map(|t| t.elapsed()).unwrap_or_default()
    }

    /// Entries in the log (for tests and metrics).
    pub fn len(&self) -> usize {
        self.cf(CF_LOG)
            .map(|cf| self.db.iterator_cf(cf, IteratorMode::Start).count())
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(x) => *x,
            Bound::Excluded(x) => x.saturating_add(1),
            Bound::Unbounded => 0,
        };
        // The tail in memory first: the common case (replicating what was
        // just appended) reads no RocksDB and decodes no JSON.
        if self.tail.first_index().is_some_and(|f| f <= start) {
            return Ok(self.tail.read_from(start, |i| range.contains(&i)));
        }
        let tail_start = self.tail.first_index().unwrap_or(u64::MAX);
        let cf = self.cf(CF_LOG)?;
        let mut out: Vec<Entry> = Vec::new();
        for item in self
            .db
            .iterator_cf(cf, IteratorMode::From(&index_key(start), Direction::Forward))
        {
            let (k, v) = item.map_err(read_err)?;
            let idx = u64::from_be_bytes(k.as_ref().try_into().map_err(|_| read_err(Msg("bad log key".into())))?);
            if !range.contains(&idx) {
                break;
            }
            if idx >= tail_start {
                break;
            }
            out.push(serde_json::from_slice(&v).map_err(read_err)?);
        }
        // Whatever follows is in the tail (entries the writer may not have
        // written yet among them).
        // (With nothing read from RocksDB, the tail's first entry follows:
        // a range may start before the first entry held.)
        let next = out
            .last()
            .map_or(start.max(tail_start), |e| e.log_id.index.saturating_add(1));
        if range.contains(&next) {
            out.extend(self.tail.read_from(next, |i| range.contains(&i)));
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.get_meta(PURGED)?;
        let last = self.last_entry()?.map(|e| e.log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id: last.or(last_purged_log_id),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let b = self.meta_batch(VOTE, vote)?;
        self.write(b).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.get_meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // A hint for restart; not needed for safety, so nobody waits for
        // it. It goes through the writer queue, behind every append queued
        // before it: a process killed in between never leaves a committed
        // index past the last written entry (a restart would then fail to
        // read the entries it claims are committed).
        let b = self.meta_batch(COMMITTED, &committed)?;
        self.writer
            .send((b, Done::Nothing, None))
            .await
            .map_err(|_| io_err(Msg("raft log writer stopped".into())))?;
        self.committed.send_if_modified(|c| {
            if committed > *c {
                *c = committed;
                true
            } else {
                false
            }
        });
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let committed = self.get_meta::<Option<LogId>>(COMMITTED)?.flatten();
        // Never past the last entry this log holds (a data directory written
        // by an older tern could have one): openraft would fail to read the
        // entries to apply and refuse to start.
        let last = self.get_log_state().await?.last_log_id;
        Ok(match (committed, last) {
            (Some(c), Some(l)) if c.index > l.index => Some(l),
            (Some(_), None) => None,
            (c, _) => c,
        })
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::default();
        let now = std::time::Instant::now();
        let entries: Vec<Entry> = entries.into_iter().collect();
        {
            let cf = self.cf(CF_LOG)?;
            for e in &entries {
                self.arrivals.record(e.log_id.index, now);
                let b = serde_json::to_vec(e).map_err(io_err)?;
                batch.put_cf(cf, index_key(e.log_id.index), b);
            }
        }
        let last = entries.last().map(|e| e.log_id.index);
        // Readable from now on, durable once the writer calls back.
        let epoch = self.tail.appended(&entries);
        // openraft learns the entries are durable only through the
        // callback, after the sync.
        self.writer
            .send((batch, Done::Flushed(callback), last.map(|last| Appends { last, epoch })))
            .await
            .map_err(|_| io_err(Msg("raft log writer stopped".into())))
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.arrivals.truncate(log_id.index);
        self.tail.truncate(log_id.index);
        let cf = self.cf(CF_LOG)?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(cf, index_key(log_id.index), index_key(u64::MAX));
        batch.delete_cf(cf, index_key(u64::MAX));
        self.write(batch).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.tail.purge(log_id.index);
        let mut batch = self.meta_batch(PURGED, &log_id)?;
        let cf = self.cf(CF_LOG)?;
        batch.delete_range_cf(cf, index_key(0), index_key(log_id.index.saturating_add(1)));
        self.write(batch).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::Arrivals;

    #[test]
    fn arrivals_give_the_age_of_the_first_entry_not_yet_reached() {
        let a = Arrivals::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        for i in 1..=5 {
            a.record(i, at(i));
        }
        assert_eq!(a.after(None), Some(at(1)));
        assert_eq!(a.after(Some(0)), Some(at(1)));
        assert_eq!(a.after(Some(2)), Some(at(3)));
        assert_eq!(a.after(Some(5)), None, "caught up");
        // A truncation and re-append replaces the tail.
        a.truncate(4);
        assert_eq!(a.after(Some(3)), None);
        a.record(4, at(10));
        assert_eq!(a.after(Some(3)), Some(at(10)));
        a.record(3, at(11));
        assert_eq!(a.after(Some(2)), Some(at(11)));
        assert_eq!(a.after(Some(3)), None);
    }

    #[test]
    fn arrivals_are_bounded_and_a_forgotten_entry_reads_as_the_oldest_known() {
        let a = Arrivals::default();
        let t0 = Instant::now();
        let n = Arrivals::CAPACITY as u64 + 10;
        for i in 1..=n {
            a.record(i, t0 + Duration::from_millis(i));
        }
        assert_eq!(a.0.lock().len(), Arrivals::CAPACITY);
        assert_eq!(a.after(Some(1)), Some(t0 + Duration::from_millis(11)));
    }

    fn blank(i: u64) -> super::Entry {
        openraft::Entry {
            log_id: openraft::LogId::new(openraft::CommittedLeaderId::new(1, 1), i),
            payload: openraft::EntryPayload::Blank,
        }
    }

    fn indices(v: &[super::Entry]) -> Vec<u64> {
        v.iter().map(|e| e.log_id.index).collect()
    }

    #[test]
    fn the_tail_serves_unwritten_entries_and_keeps_them_until_written() {
        use super::Tail;
        let t = Tail::default();
        let n = Tail::KEEP as u64 + 10;
        t.appended(&(1..=n).map(blank).collect::<Vec<_>>());
        // Nothing written yet: nothing may leave, however many.
        assert_eq!(t.first_index(), Some(1));
        assert_eq!(indices(&t.read_from(5, |i| i < 8)), [5, 6, 7]);
        t.written(super::Appends { last: n, epoch: 0 });
        t.appended(&[blank(n + 1)]);
        assert_eq!(t.0.lock().entries.len(), Tail::KEEP);
        assert_eq!(t.first_index(), Some(n + 2 - Tail::KEEP as u64));
        // A conflicting suffix is cut; purge drops the front.
        t.truncate(n);
        assert_eq!(t.last().map(|e| e.log_id.index), Some(n - 1));
        t.purge(n - 3);
        assert_eq!(indices(&t.read_from(n - 3, |_| true)), Vec::<u64>::new());
        assert_eq!(indices(&t.read_from(n - 2, |_| true)), [n - 2, n - 1]);
    }

    /// A truncation lowers the written mark, and a batch queued before it
    /// cannot raise it again: entries re-appended at the cut indexes stay in
    /// the tail until their own batch is written.
    #[test]
    fn a_truncation_resets_the_written_mark() {
        use super::{Appends, Tail};
        let t = Tail::default();
        let n = Tail::KEEP as u64 + 100;
        let old_epoch = t.appended(&(1..=n).map(blank).collect::<Vec<_>>());
        // The conflicting suffix from n - 50 is cut, then re-appended, while
        // the batch that wrote the old entries is still queued.
        t.truncate(n - 50);
        assert_eq!(t.0.lock().written, 0);
        let new_epoch = t.appended(&(n - 50..=n).map(blank).collect::<Vec<_>>());
        assert_ne!(old_epoch, new_epoch);
        // The old batch completes: it must not vouch for the new entries.
        t.written(Appends {
            last: n,
            epoch: old_epoch,
        });
        t.appended(&[blank(n + 1)]);
        assert_eq!(t.first_index(), Some(1), "unwritten entries left the tail");
        // Once the new batch is written they may go.
        t.written(Appends {
            last: n + 1,
            epoch: new_epoch,
        });
        t.appended(&[blank(n + 2)]);
        assert_eq!(t.0.lock().entries.len(), Tail::KEEP);
    }

    static GATED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    /// Test fault point: while [`GATED`], the writer thread stops before
    /// its next write (the process is then killed with the batches queued).
    pub(super) fn writer_gate() {
        while GATED.load(std::sync::atomic::Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    const CHILD_DIR: &str = "TERN_LOG_STORE_CRASH_DIR";

    /// Appends queued, the committed index saved, then the process dies
    /// before the writer wrote anything: on restart the committed index
    /// must not point past the last entry, or openraft cannot start
    /// ("Failed to get log entries"). The child is this test binary, run
    /// again with the fault point armed; it aborts itself.
    #[test]
    fn a_kill_between_append_and_committed_leaves_a_startable_log() {
        use openraft::storage::{RaftLogReader, RaftLogStorage};
        if let Ok(dir) = std::env::var(CHILD_DIR) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut log = super::LogStore::open(std::path::Path::new(&dir)).unwrap();
                // The first batch is written; then the writer stalls.
                let (tx, rx) = tokio::sync::oneshot::channel();
                let mut b = rocksdb::WriteBatch::default();
                b.put_cf(
                    log.cf(super::CF_LOG).unwrap(),
                    super::index_key(1),
                    serde_json::to_vec(&blank(1)).unwrap(),
                );
                log.writer.send((b, super::Done::Reply(tx), None)).await.unwrap();
                rx.await.unwrap().unwrap();
                GATED.store(true, std::sync::atomic::Ordering::Release);
                let entries: Vec<_> = (2..=5).map(blank).collect();
                let mut batch = rocksdb::WriteBatch::default();
                for e in &entries {
                    batch.put_cf(
                        log.cf(super::CF_LOG).unwrap(),
                        super::index_key(e.log_id.index),
                        serde_json::to_vec(e).unwrap(),
                    );
                }
                let epoch = log.tail.appended(&entries);
                log.writer
                    .send((batch, super::Done::Nothing, Some(super::Appends { last: 5, epoch })))
                    .await
                    .unwrap();
                // A follower learns the leader committed 5 before its own
                // writer wrote 2..5.
                log.save_committed(Some(blank(5).log_id)).await.unwrap();
                std::process::abort();
            });
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let exe = std::env::current_exe().unwrap();
        let status = std::process::Command::new(exe)
            .args([
                "--exact",
                "log_store::tests::a_kill_between_append_and_committed_leaves_a_startable_log",
                "--nocapture",
            ])
            .env(CHILD_DIR, dir.path())
            .status()
            .unwrap();
        assert!(!status.success(), "the child must die at the fault point");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut log = super::LogStore::open(dir.path()).unwrap();
            let last = log.get_log_state().await.unwrap().last_log_id.map(|l| l.index);
            let committed = log.read_committed().await.unwrap().map(|c| c.index);
            assert!(
                committed <= last,
                "committed {committed:?} past the last entry {last:?}"
            );
            // Everything up to the committed index reads back.
            if let Some(c) = committed {
                let got = log.try_get_log_entries(1..=c).await.unwrap();
                assert_eq!(got.len() as u64, c);
            }
        });
    }
}
