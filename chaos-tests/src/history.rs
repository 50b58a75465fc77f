//! The history: every operation the workload invoked, with its outcome and
//! times, plus the windows in which a region was deliberately impaired
//! (killed, paused, out of disk, restarting). The checker reads only this.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Acknowledged.
    Ok,
    /// A definite error answer (the write did not happen).
    Fail,
    /// No answer in time, transport error or DependencyTimeoutException:
    /// the write may or may not have happened.
    Indeterminate,
    /// A decrypt answered with another plaintext than was encrypted.
    Wrong,
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub op: &'static str,
    pub region: String,
    pub key: String,
    /// Milliseconds since the scenario's start.
    pub invoke_ms: u64,
    pub complete_ms: u64,
    pub outcome: Outcome,
    /// The AWS exception name, or the transport error.
    pub error: String,
    /// The message (first 200 characters).
    pub message: String,
}

/// A region deliberately made unable to answer, from `start_ms` to `end_ms`
/// (open while the fault lasts).
#[derive(Debug, Clone, Serialize)]
pub struct Impairment {
    pub region: String,
    pub what: String,
    pub start_ms: u64,
    pub end_ms: Option<u64>,
}

/// A fault or recovery step, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub at_ms: u64,
    pub what: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Recorded {
    pub events: Vec<Event>,
    pub impairments: Vec<Impairment>,
    pub steps: Vec<Step>,
}

/// Shared, append-only.
#[derive(Debug, Clone)]
pub struct History {
    start: Instant,
    inner: Arc<Mutex<Recorded>>,
}

impl History {
    pub fn new() -> History {
        History {
            start: Instant::now(),
            inner: Arc::default(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    pub fn record(&self, e: Event) {
        self.inner.lock().events.push(e);
    }

    pub fn step(&self, what: impl Into<String>) {
        let what = what.into();
        let at_ms = self.now_ms();
        println!("  [{:>7.2}s] {what}", at_ms as f64 / 1000.0);
        self.inner.lock().steps.push(Step { at_ms, what });
    }

    pub fn impair(&self, region: &str, what: &str) {
        let start_ms = self.now_ms();
        self.inner.lock().impairments.push(Impairment {
            region: region.to_string(),
            what: what.to_string(),
            start_ms,
            end_ms: None,
        });
    }

    /// Closes the region's open impairment.
    pub fn restore(&self, region: &str) {
        let now = self.now_ms();
        for i in self.inner.lock().impairments.iter_mut() {
            if i.region == region && i.end_ms.is_none() {
                i.end_ms = Some(now);
            }
        }
    }

    pub fn snapshot(&self) -> Recorded {
        let g = self.inner.lock();
        Recorded {
            events: g.events.clone(),
            impairments: g.impairments.clone(),
            steps: g.steps.clone(),
        }
    }
}

impl Recorded {
    /// Whether `[from, to]` overlaps a window in which `region` was impaired.
    pub fn impaired(&self, region: &str, from: u64, to: u64) -> bool {
        self.impairments
            .iter()
            .any(|i| i.region == region && i.start_ms <= to && i.end_ms.is_none_or(|e| e >= from))
    }
}
