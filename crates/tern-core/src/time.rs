//! Time as tern passes it around: milliseconds since the Unix epoch, taken
//! from a clock the caller owns (tern-core never reads the clock itself).

use serde::{Deserialize, Serialize};

pub const MILLIS_PER_DAY: i64 = 24 * 60 * 60 * 1000;

/// A point in time, milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    pub fn plus_days(self, days: u32) -> Self {
        UnixMillis(self.0.saturating_add(i64::from(days).saturating_mul(MILLIS_PER_DAY)))
    }
    pub fn plus_millis(self, ms: i64) -> Self {
        UnixMillis(self.0.saturating_add(ms))
    }
    /// Seconds since the epoch, as the AWS JSON wire shows timestamps.
    pub fn as_epoch_seconds(self) -> f64 {
        self.0 as f64 / 1000.0
    }
    /// ISO-8601 UTC with a `Z`, second precision (CloudTrail's `eventTime`).
    /// A time outside what ISO-8601 years can show (beyond ±9999) reads as
    /// the epoch's start rather than an empty string.
    pub fn to_rfc3339(self) -> String {
        const OUT_OF_RANGE: &str = "1970-01-01T00:00:00Z";
        let secs = self.0.div_euclid(1000);
        match time::OffsetDateTime::from_unix_timestamp(secs) {
            Ok(t) => {
                let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
                t.format(&f).unwrap_or_else(|_| OUT_OF_RANGE.to_string())
            }
            Err(_) => OUT_OF_RANGE.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(UnixMillis(1_440_938_160_000).to_rfc3339(), "2015-08-30T12:36:00Z");
        assert_eq!(UnixMillis(0).plus_days(1).0, MILLIS_PER_DAY);
    }
}
