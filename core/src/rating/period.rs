//! Billing periods: a calendar month in the operator's IANA time zone, or a custom range.
//!
//! A period is a half-open UTC range `[start, end)`. A month starts at local midnight on its
//! first day, so a month in a zone with daylight saving has one hour more or less than its days
//! times 24. A usage hour belongs to the period holding its usage start (in zones whose offset is
//! not whole hours, such as Asia/Kolkata, the hour that straddles midnight goes to the period it
//! starts in).

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
pub use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The longest custom period: a year, leap or not.
pub const MAX_PERIOD_DAYS: i64 = 366;

/// A billing period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingPeriod {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `2026-10` for a month, `2026-10-03..2026-10-17` for a custom range.
    pub label: String,
}

/// Parses an IANA time zone name (`Europe/Berlin`, `UTC`).
pub fn parse_time_zone(name: &str) -> Result<Tz, String> {
    name.trim().parse::<Tz>().map_err(|_| {
        format!(
            "'{}' is not an IANA time zone (such as Europe/Berlin or UTC)",
            name.trim()
        )
    })
}

/// The first instant of local day `date` in `zone` (the first that exists, where a daylight
/// saving change skips midnight).
fn local_midnight(zone: Tz, date: NaiveDate) -> DateTime<Utc> {
    let mut t = date.and_time(chrono::NaiveTime::MIN);
    for _ in 0..48 {
        if let Some(instant) = zone.from_local_datetime(&t).earliest() {
            return instant.to_utc();
        }
        t += chrono::Duration::minutes(30);
    }
    // No zone skips a whole day's first 24 hours; UTC midnight keeps this total.
    date.and_time(chrono::NaiveTime::MIN).and_utc()
}

impl BillingPeriod {
    /// Calendar month `year-month` in `zone`.
    pub fn month(year: i32, month: u32, zone: Tz) -> Result<Self, String> {
        let first = NaiveDate::from_ymd_opt(year, month, 1)
            .ok_or_else(|| format!("{year}-{month:02} is not a month"))?;
        let next = first
            .checked_add_months(chrono::Months::new(1))
            .ok_or_else(|| format!("{year}-{month:02} is out of range"))?;
        Ok(Self {
            start: local_midnight(zone, first),
            end: local_midnight(zone, next),
            label: format!("{year:04}-{month:02}"),
        })
    }

    /// Exactly `YYYY-MM` in `zone` (not `2026-1`, `26-11` or `02026-11`).
    pub fn parse_month(text: &str, zone: Tz) -> Result<Self, String> {
        let text = text.trim_matches(' ');
        let bad = || format!("'{text}' is not a month (YYYY-MM, in the years 1970 to 9999)");
        if text.len() != 7 {
            return Err(bad());
        }
        let first = crate::time::parse_date_input(&format!("{text}-01")).map_err(|_| bad())?;
        Self::month(first.year(), first.month(), zone)
    }

    /// A month (`2026-10`) or a range of local days (`2026-10-03..2026-10-17`, end exclusive,
    /// at most [`MAX_PERIOD_DAYS`]) in `zone`: the label a period prints as reads back.
    pub fn parse(text: &str, zone: Tz) -> Result<Self, String> {
        let text = text.trim_matches(' ');
        let Some((from, to)) = text.split_once("..") else {
            return Self::parse_month(text, zone);
        };
        let day = |d: &str| {
            crate::time::parse_date_input(d)
                .map_err(|e| format!("{e} (a period's days are YYYY-MM-DD)"))
        };
        let (from, to) = (day(from)?, day(to)?);
        if (to - from).num_days() > MAX_PERIOD_DAYS {
            return Err(format!(
                "a period is at most {MAX_PERIOD_DAYS} days; {from}..{to} is longer"
            ));
        }
        Self::days(from, to, zone)
    }

    /// The month holding `t` in `zone`.
    pub fn month_of(t: DateTime<Utc>, zone: Tz) -> Self {
        let local = t.with_timezone(&zone);
        Self::month(local.year(), local.month(), zone)
            .unwrap_or_else(|_| unreachable!("a real instant's month exists"))
    }

    /// The local days `[from, to)` in `zone` (both `YYYY-MM-DD`, `to` exclusive).
    pub fn days(from: NaiveDate, to: NaiveDate, zone: Tz) -> Result<Self, String> {
        if to <= from {
            return Err(format!(
                "the period's end {to} is not after its start {from}"
            ));
        }
        Ok(Self {
            start: local_midnight(zone, from),
            end: local_midnight(zone, to),
            label: format!("{from}..{to}"),
        })
    }

    /// Whether usage starting at `t` belongs to this period.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }

    /// Whole hours in the period.
    pub fn hours(&self) -> i64 {
        (self.end - self.start).num_hours()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_exactly_four_digits_a_dash_and_two() {
        for bad in [
            "2026-1",
            "26-11",
            "1-1",
            "02026-11",
            "2026-13",
            "+262142-12",
            "2026-11\r\n",
            "0001-01",
        ] {
            assert!(
                BillingPeriod::parse(bad, chrono_tz::UTC).is_err(),
                "{bad:?}"
            );
        }
        for bad in ["+262142-12-31..2026-01-01", "2026-10-01..2026-1-02"] {
            assert!(
                BillingPeriod::parse(bad, chrono_tz::UTC).is_err(),
                "{bad:?}"
            );
        }
        assert!(BillingPeriod::parse("9999-12", chrono_tz::UTC).is_ok());
    }

    #[test]
    fn a_period_parses_from_a_month_or_a_range_of_days_and_its_label_reads_back() {
        let berlin = parse_time_zone("Europe/Berlin").unwrap();
        let month = BillingPeriod::parse("2026-10", berlin).unwrap();
        assert_eq!(month, BillingPeriod::month(2026, 10, berlin).unwrap());
        let range = BillingPeriod::parse(" 2026-10-03..2026-10-17 ", berlin).unwrap();
        assert_eq!(range.start, at("2026-10-02T22:00:00Z"));
        assert_eq!(range.end, at("2026-10-16T22:00:00Z"));
        assert_eq!(BillingPeriod::parse(&range.label, berlin).unwrap(), range);
        assert!(BillingPeriod::parse("2026-10-17..2026-10-03", berlin)
            .unwrap_err()
            .contains("not after"));
        assert!(BillingPeriod::parse("2026-01-01..2027-01-03", berlin)
            .unwrap_err()
            .contains("at most 366 days"));
        assert!(BillingPeriod::parse("2026-13", berlin).is_err());
        assert!(BillingPeriod::parse("2026-10-03..soon", berlin)
            .unwrap_err()
            .contains("'soon' is not a date"));
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn zone(name: &str) -> Tz {
        parse_time_zone(name).unwrap()
    }

    #[test]
    fn months_of_28_30_and_31_days_have_that_many_days_of_hours_in_utc() {
        let utc = zone("UTC");
        assert_eq!(BillingPeriod::month(2026, 2, utc).unwrap().hours(), 28 * 24);
        assert_eq!(BillingPeriod::month(2028, 2, utc).unwrap().hours(), 29 * 24);
        assert_eq!(BillingPeriod::month(2026, 4, utc).unwrap().hours(), 30 * 24);
        assert_eq!(
            BillingPeriod::month(2026, 12, utc).unwrap().hours(),
            31 * 24
        );
        let december = BillingPeriod::parse_month("2026-12", utc).unwrap();
        assert_eq!(december.end, at("2027-01-01T00:00:00Z"));
    }

    #[test]
    fn a_daylight_saving_change_makes_a_month_an_hour_longer_or_shorter() {
        let berlin = zone("Europe/Berlin");
        // Summer time ends on 25 October 2026: October has 31 x 24 + 1 hours.
        let october = BillingPeriod::month(2026, 10, berlin).unwrap();
        assert_eq!(october.start, at("2026-09-30T22:00:00Z"));
        assert_eq!(october.end, at("2026-10-31T23:00:00Z"));
        assert_eq!(october.hours(), 31 * 24 + 1);
        // It begins on 29 March 2026: March has one hour fewer.
        assert_eq!(
            BillingPeriod::month(2026, 3, berlin).unwrap().hours(),
            31 * 24 - 1
        );
    }

    #[test]
    fn an_hour_belongs_to_the_period_its_usage_starts_in() {
        let kolkata = zone("Asia/Kolkata"); // UTC+5:30: months start at 18:30 UTC
        let november = BillingPeriod::month(2026, 11, kolkata).unwrap();
        assert_eq!(november.start, at("2026-10-31T18:30:00Z"));
        assert!(!november.contains(at("2026-10-31T18:00:00Z")));
        assert!(november.contains(at("2026-10-31T19:00:00Z")));
        assert_eq!(
            BillingPeriod::month_of(at("2026-10-31T19:00:00Z"), kolkata).label,
            "2026-11"
        );
    }

    #[test]
    fn a_midnight_skipped_by_daylight_saving_starts_the_day_at_its_first_hour() {
        // Chile moves clocks from 00:00 to 01:00 on the first Sunday of September.
        let santiago = zone("America/Santiago");
        let day = BillingPeriod::days(
            NaiveDate::from_ymd_opt(2026, 9, 6).unwrap(),
            NaiveDate::from_ymd_opt(2026, 9, 7).unwrap(),
            santiago,
        )
        .unwrap();
        assert_eq!(day.hours(), 23);
    }

    #[test]
    fn bad_zones_months_and_ranges_are_refused_with_a_reason() {
        assert!(parse_time_zone("Mars/Olympus")
            .unwrap_err()
            .contains("IANA"));
        assert!(BillingPeriod::parse_month("2026-13", zone("UTC")).is_err());
        assert!(BillingPeriod::parse_month("October", zone("UTC"))
            .unwrap_err()
            .contains("YYYY-MM"));
        let d = NaiveDate::from_ymd_opt(2026, 10, 3).unwrap();
        assert!(BillingPeriod::days(d, d, zone("UTC")).is_err());
    }
}
