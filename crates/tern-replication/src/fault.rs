//! Fault injection on the peer transport: per directed link between two
//! regions, a cut (partition), a one-way delay with jitter, and a drop
//! probability. Production nodes carry an empty plan; tests share one plan
//! among every node of a cluster and change it while they run.

use std::collections::HashMap;
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

/// The faults of a whole cluster, by (from region, to region).
#[derive(Debug, Default)]
pub struct FaultPlan {
    links: Mutex<HashMap<(String, String), LinkFault>>,
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

    /// Decides the fate of one message from `from` to `to`.
    pub fn verdict(&self, from: &str, to: &str) -> Verdict {
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
    fn delay_applies_to_each_direction() {
        let p = FaultPlan::new();
        p.delay_all(&["a", "b"], Duration::from_millis(50), Duration::ZERO);
        assert_eq!(p.verdict("a", "b"), Verdict::Deliver(Duration::from_millis(50)));
        assert_eq!(p.verdict("b", "a"), Verdict::Deliver(Duration::from_millis(50)));
    }
}
