//! UTC time helpers shared by queries, storage and the wire format.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

pub const HOUR_SECONDS: i64 = 3_600;
pub const DAY_SECONDS: i64 = 86_400;

/// ARM's wire format for times: `2026-10-01T00:00:00+00:00`.
pub fn arm_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// Seconds since the Unix epoch, the form times are stored in.
pub fn to_epoch(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

/// The inverse of [`to_epoch`]; out-of-range values (never written by Meterbook) clamp to the epoch.
pub fn from_epoch(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

/// The start of the hour that contains `t`.
pub fn floor_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    from_epoch(t.timestamp().div_euclid(HOUR_SECONDS) * HOUR_SECONDS)
}

/// The start of the UTC day that contains `t`.
pub fn floor_day(t: DateTime<Utc>) -> DateTime<Utc> {
    from_epoch(t.timestamp().div_euclid(DAY_SECONDS) * DAY_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_times_use_a_numeric_utc_offset() {
        let t = Utc.with_ymd_and_hms(2026, 10, 1, 5, 0, 0).unwrap();
        assert_eq!(arm_time(t), "2026-10-01T05:00:00+00:00");
    }

    #[test]
    fn floors_round_down_to_hours_and_days() {
        let t = Utc.with_ymd_and_hms(2026, 10, 1, 5, 59, 59).unwrap();
        assert_eq!(
            floor_hour(t),
            Utc.with_ymd_and_hms(2026, 10, 1, 5, 0, 0).unwrap()
        );
        assert_eq!(
            floor_day(t),
            Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap()
        );
    }
}
