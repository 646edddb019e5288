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

/// The time people read and type: the study teams work in the UK.
pub const LOCAL: chrono_tz::Tz = chrono_tz::Europe::London;

/// Unix milliseconds as people in the UK write a moment, in UK time (GMT or
/// BST as the day had it): "24 November 2026, 12:43".
pub fn spoken(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&LOCAL)
                .format("%-d %B %Y, %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| "invalid time".into())
}

/// The UK day of a moment in Unix milliseconds, as YYYY-MM-DD (for file names).
pub fn local_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&LOCAL).format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "invalid-date".into())
}

/// A date and time typed in UK time (an HTML datetime-local value,
/// 2026-07-01T14:30) as Unix milliseconds. The hour the clocks skip in
/// spring has no reading; the one repeated in autumn reads as its first.
pub fn parse_local(raw: &str) -> Option<i64> {
    use chrono::TimeZone;
    let naive = chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M").ok()?;
    LOCAL
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.timestamp_millis())
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

    #[test]
    fn people_read_and_type_uk_time() {
        // 24 November 2026 12:43 UTC is GMT; 1 July 2026 13:30 UTC is 14:30 BST.
        assert_eq!(spoken(1_795_524_180_000), "24 November 2026, 12:43");
        assert_eq!(spoken(1_782_912_600_000), "1 July 2026, 14:30");
        // 23:30 UTC on 1 July is already 2 July in the UK.
        assert_eq!(local_date(1_782_948_600_000), "2026-07-02");
        assert_eq!(parse_local("2026-07-01T14:30"), Some(1_782_912_600_000));
        assert_eq!(parse_local("2026-11-24T12:43"), Some(1_795_524_180_000));
        // 01:30 on 29 March 2026 never happened in the UK.
        assert_eq!(parse_local("2026-03-29T01:30"), None);
        assert_eq!(parse_local("24/11/2026 12:43"), None);
    }
}
