//! The one clock. Every time fieldkit stores is UTC Unix milliseconds taken from
//! here, so tests can move time forward instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    pub fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves this clock (and every copy of it) forward; for tests of expiry.
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// Formats Unix milliseconds as an RFC 3339 UTC time for people and exports.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "invalid time".into())
}

/// Unix milliseconds as people in the UK write a moment: "24 November 2026, 12:43 UTC".
pub fn spoken(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%-d %B %Y, %H:%M UTC").to_string())
        .unwrap_or_else(|| "invalid time".into())
}

/// What a day must look like, in the words a form or filter uses.
pub const DAY_FORMAT: &str = "Give a date as YYYY-MM-DD, for example 2026-03-27.";

/// A calendar date written exactly YYYY-MM-DD (2026-03-27, not 2026-3-27,
/// not " 2026-03-27"): the one reading of a day everywhere.
pub fn parse_day(raw: &str) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .filter(|d| d.format("%Y-%m-%d").to_string() == raw)
}

pub const SECOND: i64 = 1000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_a_clone_moves_the_original() {
        let clock = Clock::system();
        let before = clock.now_ms();
        clock.clone().advance(HOUR);
        assert!(clock.now_ms() - before >= HOUR);
    }

    #[test]
    fn formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
