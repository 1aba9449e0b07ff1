//! UTC time helpers shared by queries, storage and the wire format.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, SecondsFormat, TimeZone, Timelike, Utc};

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

/// The first and last years a date or time from outside may name. Every input (ARM queries, the
/// explorer, OData, ingest, billing periods, rate-card dates) is held to them, so no arithmetic
/// on an accepted time can leave chrono's range or the stores' epoch seconds.
pub const EARLIEST_YEAR: i32 = 1970;
pub const LATEST_YEAR: i32 = 9999;

fn in_range(year: i32) -> Result<(), String> {
    if (EARLIEST_YEAR..=LATEST_YEAR).contains(&year) {
        Ok(())
    } else {
        Err(format!(
            "the year {year} is outside {EARLIEST_YEAR} to {LATEST_YEAR}"
        ))
    }
}

/// Parses an RFC 3339 time from outside input, strictly: ASCII only (chrono also takes a Unicode
/// minus), a four-digit year from [`EARLIEST_YEAR`] to [`LATEST_YEAR`], at most nine fractional
/// digits (chrono would drop the rest and call `.0000000001` whole), any offset. Surrounding
/// spaces are the only leniency; control characters are refused.
pub fn parse_time_input(raw: &str) -> Result<DateTime<FixedOffset>, String> {
    let text = raw.trim_matches(' ');
    let refused = || format!("'{raw}' is not an RFC 3339 time such as 2026-10-01T00:00:00Z");
    if !text.is_ascii() || text.bytes().any(|b| b.is_ascii_control()) {
        return Err(refused());
    }
    if let Some((_, fraction)) = text.split_once('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 9 {
            return Err(format!(
                "'{raw}' has more than nine fractional digits of a second"
            ));
        }
    }
    let t = DateTime::parse_from_rfc3339(text).map_err(|_| refused())?;
    in_range(t.year()).map_err(|e| format!("'{raw}': {e}"))?;
    // The offset may carry the UTC instant outside the years named (9999-12-31T23:00-05:00).
    in_range(t.to_utc().year()).map_err(|e| format!("'{raw}': {e}"))?;
    Ok(t)
}

/// Parses a calendar date from outside input: exactly `YYYY-MM-DD` (chrono's `%Y` would also take
/// `+262142-12-31` or `26-11-01`), in the years [`EARLIEST_YEAR`] to [`LATEST_YEAR`].
pub fn parse_date_input(raw: &str) -> Result<NaiveDate, String> {
    let text = raw.trim_matches(' ');
    let refused = || format!("'{raw}' is not a date such as 2026-10-01");
    let b = text.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shaped {
        return Err(refused());
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| refused())?;
    in_range(date.year()).map_err(|e| format!("'{raw}': {e}"))?;
    Ok(date)
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
    fn outside_times_are_parsed_strictly() {
        let ok = |s: &str| parse_time_input(s).map(|t| t.to_utc());
        assert_eq!(
            ok("2026-11-01T00:00:00.0000000Z").unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
        );
        assert!(ok(" 2026-11-01T00:00:00+01:00 ").is_ok());
        for bad in [
            "2026-11-01T00:00:00.0000000001Z",
            "2026-11-01T00:00:00\u{2212}01:00",
            "2026-11-01T00:00:00Z\r\n",
            "2026-11-01T00:00:00Z\n",
            "0001-01-01T00:00:00Z",
            "1969-12-31T23:00:00Z",
            "9999-12-31T23:00:00-05:00",
            "+262142-12-31T00:00:00Z",
            "",
        ] {
            assert!(ok(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn outside_dates_are_exactly_four_two_two_digits() {
        assert_eq!(
            parse_date_input("2026-10-01").unwrap(),
            NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()
        );
        assert!(parse_date_input("9999-12-31").is_ok());
        for bad in [
            "+262142-12-31",
            "-262143-01-01",
            "26-11-01",
            "02026-11-01",
            "2026-1-01",
            "2026-02-30",
            "0000-01-01",
            "2026-10-01\r\n",
            "２０２６-10-01",
        ] {
            assert!(parse_date_input(bad).is_err(), "{bad:?}");
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
