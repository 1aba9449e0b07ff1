//! UTC time helpers shared by queries, storage and the wire format.

use chrono::{DateTime, Datelike, SecondsFormat, TimeZone, Timelike, Utc};

pub const HOUR_SECONDS: i64 = 3_600;
pub const DAY_SECONDS: i64 = 86_400;

/// ARM's wire format for times: `2026-10-01T00:00:00+00:00`.
pub fn arm_time(t: DateTime<Utc>) -> String {
    ArmTime(t).to_string()
}

/// A time in ARM's wire format, written in place: a page writes two per line, and `write!` with
/// padded fields costs several times more than filling in the digits.
pub struct ArmTime(pub DateTime<Utc>);

impl std::fmt::Display for ArmTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.0;
        // Four-digit years and whole seconds; anything else (never stored) as chrono writes it.
        let year = t.year();
        if !(0..=9999).contains(&year) || t.nanosecond() >= 1_000_000_000 {
            return f.write_str(&t.to_rfc3339_opts(SecondsFormat::Secs, false));
        }
        let mut text = *b"0000-00-00T00:00:00+00:00";
        for (range, value) in [
            (0..4, year.unsigned_abs()),
            (5..7, t.month()),
            (8..10, t.day()),
            (11..13, t.hour()),
            (14..16, t.minute()),
            (17..19, t.second()),
        ] {
            let mut value = value;
            for digit in text[range].iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        f.write_str(std::str::from_utf8(&text).map_err(|_| std::fmt::Error)?)
    }
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
    fn arm_times_are_written_as_chrono_writes_rfc_3339() {
        let mut secs = -62_167_219_200; // 0000-01-01
        while secs < 253_402_300_800 + 86_400 * 800 {
            // past 9999-12-31
            let t = from_epoch(secs) + chrono::Duration::milliseconds(secs.rem_euclid(1000));
            assert_eq!(arm_time(t), t.to_rfc3339_opts(SecondsFormat::Secs, false));
            secs += 7_654_321; // about 88 days, with every second of the day in turn
        }
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
