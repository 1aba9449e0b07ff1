//! An explorer query as it lives in a portal URL: period, time basis, granularity, filters,
//! grouping, sort and page size. Parsed once (so a query that exists is valid) and written back
//! to a query string, so every view can be bookmarked and shared.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::directory::CatalogName;
use crate::ids::SubscriptionId;
use crate::page::Fingerprint;
use crate::time::floor_day;

/// The longest period one query covers.
pub const MAX_DAYS: i64 = 366;
/// The longest period an hourly view covers (a month of hourly columns is already dense).
pub const MAX_HOURLY_DAYS: i64 = 31;
pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const PAGE_SIZES: [usize; 4] = [25, 50, 100, 250];

/// A bad explorer query, with a sentence for the person who made it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

fn bad(message: impl Into<String>) -> QueryError {
    QueryError(message.into())
}

/// The period a query covers, as people name periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Period {
    Today,
    Last7Days,
    ThisMonth,
    LastMonth,
    /// Whole UTC days, both ends included.
    Custom {
        from: NaiveDate,
        to: NaiveDate,
    },
}

impl Period {
    pub const PRESETS: [(&'static str, &'static str); 4] = [
        ("today", "Today"),
        ("last-7-days", "Last 7 days"),
        ("this-month", "This month"),
        ("last-month", "Last month"),
    ];

    pub fn key(&self) -> &'static str {
        match self {
            Self::Today => "today",
            Self::Last7Days => "last-7-days",
            Self::ThisMonth => "this-month",
            Self::LastMonth => "last-month",
            Self::Custom { .. } => "custom",
        }
    }

    /// `[from, to)` in UTC for a period seen at `now`.
    pub fn window(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let today = floor_day(now);
        let month_start = |d: NaiveDate| {
            let first = NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap_or(d);
            Utc.from_utc_datetime(&first.and_time(chrono::NaiveTime::MIN))
        };
        let next_month = |t: DateTime<Utc>| month_start((t + Duration::days(32)).date_naive());
        match *self {
            Self::Today => (today, today + Duration::days(1)),
            Self::Last7Days => (today - Duration::days(6), today + Duration::days(1)),
            Self::ThisMonth => {
                let start = month_start(today.date_naive());
                (start, next_month(start))
            }
            Self::LastMonth => {
                let this = month_start(today.date_naive());
                (month_start((this - Duration::days(1)).date_naive()), this)
            }
            Self::Custom { from, to } => (
                Utc.from_utc_datetime(&from.and_time(chrono::NaiveTime::MIN)),
                Utc.from_utc_datetime(&to.and_time(chrono::NaiveTime::MIN)) + Duration::days(1),
            ),
        }
    }
}

/// Which time a period filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeBasis {
    /// When the resources were used (what people usually mean).
    Usage,
    /// When the resource provider reported the usage (what Azure Stack Hub's API filters on).
    Reported,
}

/// Column width of the table and chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    Hourly,
    Daily,
    Monthly,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::Hourly, Step::Daily, Step::Monthly];

    pub fn key(self) -> &'static str {
        match self {
            Self::Hourly => "hourly",
            Self::Daily => "daily",
            Self::Monthly => "monthly",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Hourly => "Hourly",
            Self::Daily => "Daily",
            Self::Monthly => "Monthly",
        }
    }

    /// The start of the column `t` falls in.
    pub fn bucket(self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Hourly => crate::time::floor_hour(t),
            Self::Daily => floor_day(t),
            Self::Monthly => {
                let d = t.date_naive();
                let first = NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap_or(d);
                Utc.from_utc_datetime(&first.and_time(chrono::NaiveTime::MIN))
            }
        }
    }

    /// The start of the column after the one starting at `start`.
    pub fn next(self, start: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Hourly => start + Duration::hours(1),
            Self::Daily => start + Duration::days(1),
            Self::Monthly => self.bucket(start + Duration::days(32)),
        }
    }
}

/// What usage can be filtered and grouped by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Dimension {
    Subscription,
    Category,
    Meter,
    ResourceGroup,
    Resource,
    Location,
    /// The value of one tag (usage without it is grouped as "(no tag)").
    Tag(String),
    /// The subscription's offer in the tenant directory.
    Offer,
    /// The subscription's plans in the tenant directory, as one value
    /// ([`crate::directory::plans_label`]).
    Plan,
}

impl Dimension {
    pub const FIXED: [(&'static str, &'static str); 8] = [
        ("category", "Meter category"),
        ("meter", "Meter"),
        ("resource-group", "Resource group"),
        ("resource", "Resource"),
        ("location", "Location"),
        ("subscription", "Subscription"),
        ("offer", "Offer"),
        ("plan", "Plan"),
    ];

    /// Whether the tenant directory names the groups: usage is grouped by subscription, and each
    /// subscription's group comes from its directory entry.
    pub fn is_directory(&self) -> bool {
        matches!(self, Self::Offer | Self::Plan)
    }

    pub fn key(&self) -> String {
        match self {
            Self::Subscription => "subscription".into(),
            Self::Category => "category".into(),
            Self::Meter => "meter".into(),
            Self::ResourceGroup => "resource-group".into(),
            Self::Resource => "resource".into(),
            Self::Location => "location".into(),
            Self::Tag(key) => format!("tag:{key}"),
            Self::Offer => "offer".into(),
            Self::Plan => "plan".into(),
        }
    }

    /// The tag a tag dimension groups by.
    pub fn tag_name(&self) -> Option<&str> {
        match self {
            Self::Tag(name) => Some(name),
            _ => None,
        }
    }

    pub fn label(&self) -> String {
        match self {
            Self::Tag(key) => format!("Tag {key}"),
            other => Self::FIXED
                .iter()
                .find(|(k, _)| *k == other.key())
                .map(|(_, l)| (*l).to_owned())
                .unwrap_or_default(),
        }
    }

    fn parse(raw: &str) -> Result<Self, QueryError> {
        match raw {
            "subscription" => Ok(Self::Subscription),
            "category" => Ok(Self::Category),
            "meter" => Ok(Self::Meter),
            "resource-group" => Ok(Self::ResourceGroup),
            "resource" => Ok(Self::Resource),
            "location" => Ok(Self::Location),
            "offer" => Ok(Self::Offer),
            "plan" => Ok(Self::Plan),
            _ => match raw.strip_prefix("tag:") {
                Some(key) if !key.trim().is_empty() => Ok(Self::Tag(key.trim().to_owned())),
                _ => Err(bad(format!(
                    "'{raw}' is not something usage can be grouped by; use category, meter, \
                     resource-group, resource, location, subscription, offer, plan or tag:NAME"
                ))),
            },
        }
    }
}

/// Table columns rows can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortColumn {
    Time,
    Subscription,
    Meter,
    Resource,
    Location,
    Quantity,
}

impl SortColumn {
    pub fn key(self) -> &'static str {
        match self {
            Self::Time => "time",
            Self::Subscription => "subscription",
            Self::Meter => "meter",
            Self::Resource => "resource",
            Self::Location => "location",
            Self::Quantity => "quantity",
        }
    }

    fn parse(raw: &str) -> Result<Self, QueryError> {
        [
            Self::Time,
            Self::Subscription,
            Self::Meter,
            Self::Resource,
            Self::Location,
            Self::Quantity,
        ]
        .into_iter()
        .find(|c| c.key() == raw)
        .ok_or_else(|| {
            bad(format!(
                "rows cannot be sorted by '{raw}'; use time, subscription, meter, resource, \
                 location or quantity"
            ))
        })
    }
}

/// Filters: each one set narrows the usage to rows that match it exactly (case-insensitively).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    /// Meter categories, usage of any of which is kept (`category` repeated in a URL); empty
    /// keeps every category.
    pub categories: Vec<String>,
    /// A meter ID in any of its spellings.
    pub meter: Option<String>,
    pub resource_group: Option<String>,
    /// A resource URI.
    pub resource: Option<String>,
    pub location: Option<String>,
    /// `name=value`; a value of `*` keeps usage that has the tag at all.
    pub tag: Option<(String, String)>,
    /// Usage of the subscriptions the tenant directory puts on this offer.
    pub offer: Option<CatalogName>,
    /// Usage of the subscriptions that have this plan (among others).
    pub plan: Option<CatalogName>,
}

impl Filters {
    /// Whether a filter reads the tenant directory (which narrows the subscriptions read).
    pub fn reads_directory(&self) -> bool {
        self.offer.is_some() || self.plan.is_some()
    }
}

/// Everything that decides what an explorer view shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExploreQuery {
    pub period: Period,
    pub basis: TimeBasis,
    pub step: Step,
    /// One subscription of the viewer's, or all they may read.
    pub subscription: Option<SubscriptionId>,
    pub filters: Filters,
    pub group_by: Dimension,
    /// The unit the chart shows (quantities of different units are never stacked); `None` picks
    /// the unit with the most usage.
    pub unit: Option<String>,
    pub sort: SortColumn,
    pub descending: bool,
    pub page_size: usize,
}

impl Default for ExploreQuery {
    fn default() -> Self {
        Self {
            period: Period::ThisMonth,
            basis: TimeBasis::Usage,
            step: Step::Daily,
            subscription: None,
            filters: Filters::default(),
            group_by: Dimension::Category,
            unit: None,
            sort: SortColumn::Time,
            descending: false,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

/// Query-string names of paging parameters, which are not part of the query itself.
pub const PAGING_PARAMS: [&str; 2] = ["after", "before"];

impl ExploreQuery {
    /// Reads a query from URL parameters; unknown names are ignored (links may carry others) and
    /// empty values mean "not set", as an HTML form sends them.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, QueryError> {
        let mut q = Self::default();
        let mut preset = None;
        let (mut from, mut to) = (None, None);
        for (name, value) in pairs {
            // A NUL or line break is never part of a name, and a store may refuse it outright.
            if value.chars().any(char::is_control) {
                return Err(bad(format!(
                    "the value of '{name}' holds a control character"
                )));
            }
            let value = value.trim_matches(' ');
            if value.is_empty() {
                continue;
            }
            if value.len() > 2_048 {
                return Err(bad(format!("the value of '{name}' is too long")));
            }
            let text = || Some(value.to_owned());
            match name {
                "period" => preset = Some(value),
                "from" => from = Some(parse_date("from", value)?),
                "to" => to = Some(parse_date("to", value)?),
                "basis" => {
                    q.basis = match value {
                        "usage" => TimeBasis::Usage,
                        "reported" => TimeBasis::Reported,
                        _ => return Err(bad("basis must be usage or reported")),
                    }
                }
                "granularity" => {
                    q.step = Step::ALL
                        .into_iter()
                        .find(|s| s.key() == value.to_ascii_lowercase())
                        .ok_or_else(|| bad("granularity must be hourly, daily or monthly"))?;
                }
                "subscription" => {
                    q.subscription =
                        Some(SubscriptionId::parse(value).map_err(|_| {
                            bad(format!("'{value}' is not a subscription ID (a GUID)"))
                        })?)
                }
                "category" => q.filters.categories.extend(text()),
                "meter" => q.filters.meter = text(),
                "resource-group" => q.filters.resource_group = text(),
                "resource" => q.filters.resource = text(),
                "location" => q.filters.location = text(),
                "tag" => {
                    let (k, v) = value.split_once('=').unwrap_or((value, "*"));
                    if k.trim().is_empty() {
                        return Err(bad("a tag filter is NAME=VALUE (or NAME for any value)"));
                    }
                    q.filters.tag = Some((k.trim().to_owned(), v.trim().to_owned()));
                }
                "offer" | "plan" => {
                    let catalog =
                        CatalogName::parse(value).map_err(|e| bad(format!("{name} {e}")))?;
                    match name {
                        "offer" => q.filters.offer = Some(catalog),
                        _ => q.filters.plan = Some(catalog),
                    }
                }
                "by" => q.group_by = Dimension::parse(value)?,
                "unit" => q.unit = text(),
                "sort" => {
                    let (column, descending) = match value.strip_prefix('-') {
                        Some(column) => (column, true),
                        None => (value, false),
                    };
                    q.sort = SortColumn::parse(column)?;
                    q.descending = descending;
                }
                "rows" => {
                    q.page_size = value
                        .parse()
                        .ok()
                        .filter(|n| PAGE_SIZES.contains(n))
                        .ok_or_else(|| {
                            bad(format!("rows per page must be one of {PAGE_SIZES:?}"))
                        })?;
                }
                _ => {}
            }
        }
        q.period = match (preset, from, to) {
            (Some("custom") | None, Some(from), Some(to)) => {
                if to < from {
                    return Err(bad("the period ends before it starts"));
                }
                if (to - from).num_days() + 1 > MAX_DAYS {
                    return Err(bad(format!("a period covers at most {MAX_DAYS} days")));
                }
                Period::Custom { from, to }
            }
            (Some("custom") | None, Some(_), None) | (Some("custom") | None, None, Some(_)) => {
                return Err(bad("a custom period needs both a from and a to date"))
            }
            (Some("custom"), None, None) => {
                return Err(bad("a custom period needs both a from and a to date"))
            }
            (None, None, None) => Period::ThisMonth,
            (Some(key), _, _) => match key {
                "today" => Period::Today,
                "last-7-days" => Period::Last7Days,
                "this-month" => Period::ThisMonth,
                "last-month" => Period::LastMonth,
                _ => {
                    return Err(bad(
                        "period must be today, last-7-days, this-month, last-month or custom",
                    ))
                }
            },
        };
        if q.step == Step::Hourly {
            // Only custom periods can be longer than a month; their span does not depend on now.
            let (start, end) = q.period.window(DateTime::UNIX_EPOCH);
            if (end - start).num_days() > MAX_HOURLY_DAYS {
                return Err(bad(format!(
                    "an hourly view covers at most {MAX_HOURLY_DAYS} days; choose daily or a \
                     shorter period"
                )));
            }
        }
        Ok(q)
    }

    /// The query as URL parameters, defaults left out, in a stable order.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let d = Self::default();
        let mut out = Vec::new();
        match self.period {
            Period::Custom { from, to } => {
                out.push(("period", "custom".to_owned()));
                out.push(("from", from.to_string()));
                out.push(("to", to.to_string()));
            }
            p if p != d.period => out.push(("period", p.key().to_owned())),
            _ => {}
        }
        if self.basis == TimeBasis::Reported {
            out.push(("basis", "reported".to_owned()));
        }
        if self.step != d.step {
            out.push(("granularity", self.step.key().to_owned()));
        }
        if let Some(s) = &self.subscription {
            out.push(("subscription", s.as_str().to_owned()));
        }
        let f = &self.filters;
        for category in &f.categories {
            out.push(("category", category.clone()));
        }
        for (name, value) in [
            ("meter", &f.meter),
            ("resource-group", &f.resource_group),
            ("resource", &f.resource),
            ("location", &f.location),
        ] {
            if let Some(v) = value {
                out.push((name, v.clone()));
            }
        }
        if let Some((k, v)) = &f.tag {
            out.push(("tag", format!("{k}={v}")));
        }
        for (name, value) in [("offer", &f.offer), ("plan", &f.plan)] {
            if let Some(v) = value {
                out.push((name, v.to_string()));
            }
        }
        if self.group_by != d.group_by {
            out.push(("by", self.group_by.key()));
        }
        if let Some(unit) = &self.unit {
            out.push(("unit", unit.clone()));
        }
        if self.sort != d.sort || self.descending {
            let sign = if self.descending { "-" } else { "" };
            out.push(("sort", format!("{sign}{}", self.sort.key())));
        }
        if self.page_size != d.page_size {
            out.push(("rows", self.page_size.to_string()));
        }
        out
    }

    /// The query as a URL query string (without `?`), percent-encoded.
    pub fn to_query_string(&self) -> String {
        encode_pairs(self.to_pairs().iter().map(|(k, v)| (*k, v.as_str())))
    }

    /// The same query with one change, for links that change one thing.
    pub fn with(&self, change: impl FnOnce(&mut Self)) -> Self {
        let mut q = self.clone();
        change(&mut q);
        q
    }

    /// What a continuation token is bound to: the viewer's scope, the query without its page
    /// size, and the dates its period stood for, so a token from one query, one viewer or
    /// yesterday's "today" cannot page another.
    pub fn fingerprint(&self, scope: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
        let unpaged = self.with(|q| q.page_size = Self::default().page_size);
        unpaged
            .to_pairs()
            .into_iter()
            .fold(
                Fingerprint::new("explore")
                    .part(scope)
                    .part(from.timestamp())
                    .part(to.timestamp()),
                |f, (name, value)| f.part(name).part(value),
            )
            .as_str()
            .to_owned()
    }
}

/// Years a custom period may name: far beyond any usage, and far from chrono's limits.
const YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

fn parse_date(name: &str, value: &str) -> Result<NaiveDate, QueryError> {
    let date = crate::time::parse_date_input(value).map_err(|_| {
        bad(format!(
            "'{name}' must be a date like 2026-11-01, not '{value}'"
        ))
    })?;
    if !YEARS.contains(&date.year()) {
        return Err(bad(format!(
            "'{name}' must be a date between {} and {}",
            YEARS.start(),
            YEARS.end()
        )));
    }
    Ok(date)
}

/// `name=value&...`, percent-encoding everything but unreserved characters.
pub fn encode_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        percent_encode(name, &mut out);
        out.push('=');
        percent_encode(value, &mut out);
    }
    out
}

fn percent_encode(raw: &str, out: &mut String) {
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<ExploreQuery, QueryError> {
        ExploreQuery::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn an_empty_query_is_this_month_daily_by_category() {
        assert_eq!(parse(&[]).unwrap(), ExploreQuery::default());
        assert_eq!(ExploreQuery::default().to_query_string(), "");
    }

    #[test]
    fn a_query_survives_its_url() {
        let q = parse(&[
            ("period", "custom"),
            ("from", "2026-10-01"),
            ("to", "2026-10-15"),
            ("basis", "reported"),
            ("granularity", "hourly"),
            ("subscription", "6a5c1b2e-0000-4000-8000-000000000001"),
            ("category", "Virtual Machines"),
            ("category", "Storage"),
            ("tag", "costCenter=R&D"),
            ("by", "tag:costCenter"),
            ("sort", "-quantity"),
            ("rows", "100"),
            ("ignored", "x"),
        ])
        .unwrap();
        assert!(q.descending);
        assert_eq!(q.filters.categories, ["Virtual Machines", "Storage"]);
        assert_eq!(q.group_by, Dimension::Tag("costCenter".into()));
        let qs = q.to_query_string();
        assert!(qs.contains("tag=costCenter%3DR%26D"), "{qs}");
        let decoded: Vec<(String, String)> = q
            .to_pairs()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let again = ExploreQuery::from_pairs(decoded.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .unwrap();
        assert_eq!(again, q);
    }

    #[test]
    fn bad_queries_say_what_is_wrong() {
        for (pairs, needle) in [
            (vec![("period", "yesterday")], "period must be"),
            (vec![("from", "2026-10-01")], "both a from and a to"),
            (
                vec![("from", "2026-10-05"), ("to", "2026-10-01")],
                "ends before it starts",
            ),
            (
                vec![("from", "2024-01-01"), ("to", "2026-01-01")],
                "at most 366 days",
            ),
            (
                vec![("from", "01/10/2026"), ("to", "2026-10-01")],
                "a date like",
            ),
            (
                vec![("from", "9999-12-30"), ("to", "9999-12-31")],
                "between 2000 and 2100",
            ),
            (
                vec![("from", "9999-12-30"), ("to", "9999-12-31")],
                "between 2000 and 2100",
            ),
            (vec![("granularity", "weekly")], "hourly, daily or monthly"),
            (
                vec![
                    ("granularity", "hourly"),
                    ("from", "2026-01-01"),
                    ("to", "2026-02-15"),
                ],
                "at most 31 days",
            ),
            (
                vec![("by", "colour")],
                "not something usage can be grouped by",
            ),
            (vec![("sort", "name")], "cannot be sorted"),
            (vec![("rows", "7")], "rows per page"),
            (vec![("subscription", "nope")], "not a subscription ID"),
            (vec![("tag", "=x")], "NAME=VALUE"),
        ] {
            let e = parse(&pairs).unwrap_err();
            assert!(e.0.contains(needle), "{pairs:?}: {e}");
        }
    }

    #[test]
    fn periods_cover_whole_days_and_months() {
        let now = Utc.with_ymd_and_hms(2026, 3, 10, 15, 30, 0).unwrap();
        let day = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap();
        assert_eq!(
            Period::Today.window(now),
            (day(2026, 3, 10), day(2026, 3, 11))
        );
        assert_eq!(
            Period::Last7Days.window(now),
            (day(2026, 3, 4), day(2026, 3, 11))
        );
        assert_eq!(
            Period::ThisMonth.window(now),
            (day(2026, 3, 1), day(2026, 4, 1))
        );
        assert_eq!(
            Period::LastMonth.window(now),
            (day(2026, 2, 1), day(2026, 3, 1))
        );
        let jan = Utc.with_ymd_and_hms(2026, 1, 31, 23, 0, 0).unwrap();
        assert_eq!(
            Period::LastMonth.window(jan),
            (day(2025, 12, 1), day(2026, 1, 1))
        );
        assert_eq!(
            Period::ThisMonth.window(jan),
            (day(2026, 1, 1), day(2026, 2, 1))
        );
    }

    #[test]
    fn monthly_buckets_start_on_the_first() {
        let t = Utc.with_ymd_and_hms(2026, 12, 31, 23, 0, 0).unwrap();
        let start = Step::Monthly.bucket(t);
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
        assert_eq!(
            Step::Monthly.next(start),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
    }
}
