//! Fault injection on the peer transport: per directed link between two
//! regions, a cut (partition), a one-way delay with jitter, and a drop
//! probability. Production nodes carry an empty plan; tests share one plan
//! among every node of a cluster and change it while they run.
//!
//! Beside the link faults, a plan holds storage crash points
//! ([`CrashPoint`]): when one fires, the region's node writes nothing more
//! to its Raft storage (that write and every later one fail) and every peer
//! message to or from it is lost, so what its directory holds is what a
//! kill at that point leaves. The test then stops the node and starts it
//! again on the same directory. An empty plan costs one atomic load per
//! check.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::Rng;

/// Faults on one directed link.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkFault {
    /// Every message is lost.
    pub cut: bool,
    /// Added to each direction of each message.
    pub delay: Duration,
    /// Uniform extra delay in `[0, jitter)`.
    pub jitter: Duration,
    /// Probability in `[0, 1]` that a message is lost.
    pub drop: f64,
}

/// What the transport should do with one message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Deliver(Duration),
    Lose,
}

/// Where a region's node dies, as a kill at that instant would leave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// Before the Raft log writer's next batch after `skip` more: appends,
    /// the vote, the committed hint, a truncation or a purge, whichever
    /// comes then. Batches queued behind it are lost too.
    LogWrite { skip: u32 },
    /// A snapshot file written and synced under its temporary name, not yet
    /// renamed into place (after an install has written the snapshot's
    /// state into the store).
    SnapshotRename,
}

/// One region's crash point: armed (with the writes still to let through)
/// or fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CrashState {
    Armed { point: CrashPoint, left: u32 },
    Fired(CrashPoint),
}

/// The faults of a whole cluster, by (from region, to region).
#[derive(Debug, Default)]
pub struct FaultPlan {
    links: Mutex<HashMap<(String, String), LinkFault>>,
    crashes: Mutex<HashMap<String, CrashState>>,
    /// Entries in `crashes`: zero on every production node, so the checks
    /// on the write paths and the transport take no lock.
    crash_entries: AtomicUsize,
    /// Per region, a pause before each apply of committed entries: the
    /// region learns of entries as before and applies them late (forces the
    /// race between a write's answer and a read in a slow region).
    apply_delays: Mutex<HashMap<String, Duration>>,
    /// Entries in `apply_delays` (zero in production: no lock on apply).
    apply_delay_entries: AtomicUsize,
}

/// A region's storage asking its plan whether it is still alive.
#[derive(Debug, Clone)]
pub struct CrashSite {
    plan: Arc<FaultPlan>,
    region: String,
}

impl CrashSite {
    pub fn new(plan: Arc<FaultPlan>, region: &str) -> CrashSite {
        CrashSite {
            plan,
            region: region.to_string(),
        }
    }

    /// Called before each Raft log batch: `true` when the node is dead (the
    /// batch must not be written).
    pub fn log_write_dies(&self) -> bool {
        self.plan
            .reach(&self.region, |p| matches!(p, CrashPoint::LogWrite { .. }))
    }

    /// Called between a snapshot file's sync and its rename: `true` when
    /// the node is dead (the rename must not happen).
    pub fn snapshot_rename_dies(&self) -> bool {
        self.plan.reach(&self.region, |p| p == CrashPoint::SnapshotRename)
    }

    /// Whether the node died at a crash point (nothing more may be written).
    pub fn is_dead(&self) -> bool {
        self.plan.crashed(&self.region)
    }

    /// The pause before this region's next apply (zero unless a test set one).
    pub fn apply_delay(&self) -> Duration {
        self.plan.apply_delay(&self.region)
    }
}

impl FaultPlan {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&self, from: &str, to: &str, f: LinkFault) {
        self.links.lock().insert((from.to_string(), to.to_string()), f);
    }

    pub fn get(&self, from: &str, to: &str) -> LinkFault {
        self.links
            .lock()
            .get(&(from.to_string(), to.to_string()))
            .copied()
            .unwrap_or_default()
    }

    /// Cuts both directions between `a` and every region in `others`.
    pub fn isolate(&self, a: &str, others: &[&str]) {
        for b in others {
            self.update(a, b, |f| f.cut = true);
            self.update(b, a, |f| f.cut = true);
        }
    }

    /// Cuts both directions between two regions.
    pub fn partition(&self, a: &str, b: &str) {
        self.isolate(a, &[b]);
    }

    /// The same one-way delay (and jitter) on every link among `regions`.
    pub fn delay_all(&self, regions: &[&str], delay: Duration, jitter: Duration) {
        for a in regions {
            for b in regions.iter().filter(|b| *b != a) {
                self.update(a, b, |f| {
                    f.delay = delay;
                    f.jitter = jitter;
                });
            }
        }
    }

    fn update(&self, from: &str, to: &str, g: impl FnOnce(&mut LinkFault)) {
        let mut links = self.links.lock();
        g(links.entry((from.to_string(), to.to_string())).or_default());
    }

    /// Removes every fault.
    pub fn heal(&self) {
        self.links.lock().clear();
    }

    /// Arms a crash point for `region` (replacing any armed or fired one).
    pub fn arm_crash(&self, region: &str, point: CrashPoint) {
        let left = match point {
            CrashPoint::LogWrite { skip } => skip,
            CrashPoint::SnapshotRename => 0,
        };
        let mut c = self.crashes.lock();
        c.insert(region.to_string(), CrashState::Armed { point, left });
        self.crash_entries.store(c.len(), Ordering::Release);
    }

    /// The crash point `region` died at, if one fired.
    pub fn crashed_at(&self, region: &str) -> Option<CrashPoint> {
        if self.crash_entries.load(Ordering::Acquire) == 0 {
            return None;
        }
        match self.crashes.lock().get(region) {
            Some(CrashState::Fired(p)) => Some(*p),
            _ => None,
        }
    }

    /// Whether `region`'s node died at a crash point.
    pub fn crashed(&self, region: &str) -> bool {
        self.crashed_at(region).is_some()
    }

    /// Delays each apply of committed entries in `region` by `delay` (zero:
    /// no delay).
    pub fn delay_apply(&self, region: &str, delay: Duration) {
        let mut d = self.apply_delays.lock();
        if delay.is_zero() {
            d.remove(region);
        } else {
            d.insert(region.to_string(), delay);
        }
        self.apply_delay_entries.store(d.len(), Ordering::Release);
    }

    /// The pause before each apply in `region`.
    pub fn apply_delay(&self, region: &str) -> Duration {
        if self.apply_delay_entries.load(Ordering::Acquire) == 0 {
            return Duration::ZERO;
        }
        self.apply_delays.lock().get(region).copied().unwrap_or_default()
    }

    /// Forgets `region`'s crash point, armed or fired (before the region
    /// starts again on its directory, or when a test gives up waiting).
    pub fn revive(&self, region: &str) {
        let mut c = self.crashes.lock();
        c.remove(region);
        self.crash_entries.store(c.len(), Ordering::Release);
    }

    /// A storage step of `region` of the kind `is_point` matches: whether
    /// the node is (now) dead.
    fn reach(&self, region: &str, is_point: impl Fn(CrashPoint) -> bool) -> bool {
        if self.crash_entries.load(Ordering::Acquire) == 0 {
            return false;
        }
        let mut c = self.crashes.lock();
        let Some(state) = c.get_mut(region) else {
            return false;
        };
        match *state {
            CrashState::Fired(_) => true,
            CrashState::Armed { point, left } if is_point(point) => {
                if left == 0 {
                    *state = CrashState::Fired(point);
                    tracing::warn!(
                        region,
                        ?point,
                        "injected crash point fired: the node writes nothing more"
                    );
                    true
                } else {
                    *state = CrashState::Armed { point, left: left - 1 };
                    false
                }
            }
            CrashState::Armed { .. } => false,
        }
    }

    /// Decides the fate of one message from `from` to `to`.
    pub fn verdict(&self, from: &str, to: &str) -> Verdict {
        if self.crashed(from) || self.crashed(to) {
            return Verdict::Lose;
        }
        let f = self.get(from, to);
        if f.cut {
            return Verdict::Lose;
        }
        let mut rng = rand::thread_rng();
        if f.drop > 0.0 && rng.gen_bool(f.drop.clamp(0.0, 1.0)) {
            return Verdict::Lose;
        }
        let jitter = if f.jitter.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(rng.gen_range(0..f.jitter.as_nanos().min(u64::MAX as u128) as u64))
        };
        Verdict::Deliver(f.delay + jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_is_symmetric_and_heals() {
        let p = FaultPlan::new();
        p.partition("a", "b");
        assert_eq!(p.verdict("a", "b"), Verdict::Lose);
        assert_eq!(p.verdict("b", "a"), Verdict::Lose);
        assert_eq!(p.verdict("a", "c"), Verdict::Deliver(Duration::ZERO));
        p.heal();
        assert_eq!(p.verdict("a", "b"), Verdict::Deliver(Duration::ZERO));
    }

    #[test]
    fn a_log_write_crash_point_fires_after_its_skips_and_cuts_the_region_off() {
        let p = Arc::new(FaultPlan::new());
        let site = CrashSite::new(p.clone(), "a");
        assert!(!site.log_write_dies());
        p.arm_crash("a", CrashPoint::LogWrite { skip: 2 });
        // A snapshot rename is not this crash point.
        assert!(!site.snapshot_rename_dies());
        assert!(!site.log_write_dies());
        assert!(!site.log_write_dies());
        assert!(!p.crashed("a"));
        assert!(site.log_write_dies());
        assert_eq!(p.crashed_at("a"), Some(CrashPoint::LogWrite { skip: 2 }));
        // Dead: every later write fails, every message is lost.
        assert!(site.log_write_dies());
        assert!(site.snapshot_rename_dies());
        assert!(site.is_dead());
        assert_eq!(p.verdict("a", "b"), Verdict::Lose);
        assert_eq!(p.verdict("b", "a"), Verdict::Lose);
        assert_eq!(p.verdict("b", "c"), Verdict::Deliver(Duration::ZERO));
        p.revive("a");
        assert!(!site.log_write_dies());
        assert_eq!(p.verdict("a", "b"), Verdict::Deliver(Duration::ZERO));
    }

    #[test]
    fn delay_applies_to_each_direction() {
        let p = FaultPlan::new();
        p.delay_all(&["a", "b"], Duration::from_millis(50), Duration::ZERO);
        assert_eq!(p.verdict("a", "b"), Verdict::Deliver(Duration::from_millis(50)));
        assert_eq!(p.verdict("b", "a"), Verdict::Deliver(Duration::from_millis(50)));
    }
}
