//! How numbers and times are written for people.

/// A quantity with thousands separators and at most two decimals (`12,345.67`, `0.25`, `3`).
/// Tiny non-zero amounts keep enough digits to be seen (`0.0014`).
pub fn amount(value: f64) -> String {
    if !value.is_finite() {
        return "—".to_owned();
    }
    let decimals = if value != 0.0 && value.abs() < 0.01 {
        4
    } else {
        2
    };
    let fixed = format!("{:.*}", decimals, value.abs());
    let (int, frac) = fixed.split_once('.').unwrap_or((&fixed, ""));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let frac = frac.trim_end_matches('0');
    let sign = if value < 0.0 && fixed.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn month_name<T: chrono::Datelike>(t: &T) -> &'static str {
    MONTHS[t.month0() as usize % 12]
}

// Dates are written by hand rather than with chrono's `format`: its strftime machinery costs the
// browser bundle tens of kilobytes for five patterns.

/// `Nov 27, 2026`.
pub fn day_label<T: chrono::Datelike>(t: &T) -> String {
    format!("{} {:02}, {}", &month_name(t)[..3], t.day(), t.year())
}

/// `2026-11-27`.
pub fn iso_day<T: chrono::Datelike>(t: &T) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day())
}

/// `2026-11-27 13:00`.
pub fn iso_hour(t: &chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Timelike;
    format!("{} {:02}:00", iso_day(t), t.hour())
}

/// `November 2026`.
pub fn month_label<T: chrono::Datelike>(t: &T) -> String {
    format!("{} {}", month_name(t), t.year())
}

/// The first block of a subscription ID: enough to tell tenants apart in a legend.
pub fn short_id(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_grouped_and_trimmed() {
        assert_eq!(amount(0.0), "0");
        assert_eq!(amount(3.0), "3");
        assert_eq!(amount(1234567.891), "1,234,567.89");
        assert_eq!(amount(999.5), "999.5");
        assert_eq!(amount(0.0014), "0.0014");
        assert_eq!(amount(-1500.0), "-1,500");
        assert_eq!(amount(f64::NAN), "—");
    }

    #[test]
    fn dates_are_written_as_chrono_would() {
        use chrono::TimeZone;
        let t = chrono::Utc.with_ymd_and_hms(2026, 3, 7, 9, 0, 0).unwrap();
        assert_eq!(day_label(&t), t.format("%b %d, %Y").to_string());
        assert_eq!(iso_day(&t), t.format("%Y-%m-%d").to_string());
        assert_eq!(iso_hour(&t), t.format("%Y-%m-%d %H:00").to_string());
        assert_eq!(month_label(&t), t.format("%B %Y").to_string());
    }

    #[test]
    fn short_ids_keep_the_first_block() {
        assert_eq!(short_id("0f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5b"), "0f0a4a7b");
    }
}
