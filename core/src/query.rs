//! ARM usage queries: parsed from a query string, validated as Azure Stack Hub validates them.
//!
//! A [`UsageQuery`] that exists is valid: times are UTC and on the hour (midnight for daily), the
//! start is before the end, the end is not in the future and the api-version is supported.

use chrono::{DateTime, Timelike, Utc};

use crate::error::{ArmCode, ArmError};
use crate::ids::SubscriptionId;
use crate::time::{DAY_SECONDS, HOUR_SECONDS};

/// The only api-version the usage API speaks.
pub const API_VERSION: &str = "2015-06-01-preview";

/// Bucket size of aggregates, by usage time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Granularity {
    Hourly,
    Daily,
}

impl Granularity {
    /// Case-insensitive, as Azure accepts it.
    pub fn parse(raw: &str) -> Result<Self, ArmError> {
        match raw.trim_matches(' ').to_ascii_lowercase().as_str() {
            "daily" => Ok(Self::Daily),
            "hourly" => Ok(Self::Hourly),
            _ => Err(ArmError::new(
                ArmCode::InvalidAggregationGranularity,
                format!("aggregationGranularity '{raw}' is not supported; use Daily or Hourly"),
            )),
        }
    }

    pub fn seconds(self) -> i64 {
        match self {
            Self::Hourly => HOUR_SECONDS,
            Self::Daily => DAY_SECONDS,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hourly => "Hourly",
            Self::Daily => "Daily",
        }
    }
}

/// Which aggregates a usage request reads, by reported time, as Azure Stack Hub's API filters:
/// the one query type from the parsed request to the store's SQL (the caller's scope and the
/// page position are added beside it, never re-packed into another type).
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateQuery {
    pub reported_start: DateTime<Utc>,
    pub reported_end: DateTime<Utc>,
    pub granularity: Granularity,
    pub show_details: bool,
}

/// A validated usage query, as both the tenant and provider APIs take it.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageQuery {
    pub aggregate: AggregateQuery,
    /// Provider API only: restrict to one tenant subscription.
    pub subscriber: Option<SubscriptionId>,
    /// The opaque token of the page to continue from, checked later against this query.
    pub continuation_token: Option<String>,
}

/// Query-string parameters in order, as decoded from the URL.
pub type Params = [(String, String)];

/// A parameter's value with surrounding spaces removed (and nothing else: a CR, LF or other
/// control character makes a value invalid rather than being trimmed away).
fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim_matches(' '))
}

impl UsageQuery {
    /// Parses and validates the query string of a usage request, against the current time `now`.
    pub fn parse(params: &Params, now: DateTime<Utc>) -> Result<Self, ArmError> {
        match param(params, "api-version") {
            None | Some("") => {
                return Err(ArmError::new(
                    ArmCode::NoApiVersion,
                    format!(
                    "The api-version query parameter is required; use api-version={API_VERSION}"
                ),
                ))
            }
            Some(API_VERSION) => {}
            Some(other) => {
                return Err(ArmError::invalid(format!(
                    "api-version '{other}' is not supported; use {API_VERSION}"
                )))
            }
        }
        let granularity = match param(params, "aggregationGranularity") {
            None => Granularity::Daily,
            Some("") => Granularity::Daily,
            Some(raw) => Granularity::parse(raw)?,
        };
        let reported_start = parse_query_time(params, "reportedStartTime", granularity)?;
        let reported_end = parse_query_time(params, "reportedEndTime", granularity)?;
        if reported_start >= reported_end {
            return Err(ArmError::invalid(
                "reportedStartTime must be before reportedEndTime",
            ));
        }
        if reported_end > now {
            return Err(ArmError::new(
                ArmCode::RequestEndTimeIsInFuture,
                format!(
                    "reportedEndTime {} is in the future",
                    crate::time::arm_time(reported_end)
                ),
            ));
        }
        let show_details = match param(params, "showDetails") {
            None | Some("") => true,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                return Err(ArmError::invalid(format!(
                    "showDetails '{v}' must be true or false"
                )))
            }
        };
        let subscriber = match param(params, "subscriberId") {
            None | Some("") => None,
            Some(raw) => Some(SubscriptionId::parse(raw).map_err(|e| {
                ArmError::new(
                    ArmCode::SubscriberIdIsNotDirectTenant,
                    format!("subscriberId: {e}"),
                )
            })?),
        };
        let continuation_token = param(params, "continuationToken")
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        Ok(Self {
            aggregate: AggregateQuery {
                reported_start,
                reported_end,
                granularity,
                show_details,
            },
            subscriber,
            continuation_token,
        })
    }
}

/// Parses one of the reported-time bounds: RFC 3339 in UTC (`Z` or `+00:00`, fractions allowed),
/// on the hour, and at midnight for daily queries.
fn parse_query_time(
    params: &Params,
    name: &str,
    granularity: Granularity,
) -> Result<DateTime<Utc>, ArmError> {
    let raw = param(params, name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ArmError::invalid(format!(
                "{name} is required, e.g. {name}=2026-10-01T00:00:00Z"
            ))
        })?;
    // An unencoded `+00:00` reaches us as ` 00:00` after form decoding; accept what was meant.
    let repaired = match raw.strip_suffix(" 00:00") {
        Some(head) => format!("{head}+00:00"),
        None => raw.to_owned(),
    };
    let parsed = crate::time::parse_time_input(&repaired)
        .map_err(|e| ArmError::invalid(format!("{name}: {e}")))?;
    if parsed.offset().local_minus_utc() != 0 {
        return Err(ArmError::invalid(format!(
            "{name} '{raw}' must be in UTC (Z or +00:00)"
        )));
    }
    let t = parsed.with_timezone(&Utc);
    if t.minute() != 0 || t.second() != 0 || t.nanosecond() != 0 {
        return Err(ArmError::invalid(format!(
            "{name} '{raw}' must be on the hour"
        )));
    }
    if granularity == Granularity::Daily && t.hour() != 0 {
        return Err(ArmError::invalid(format!(
            "{name} '{raw}' must be at midnight UTC for Daily aggregation"
        )));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 12, 30, 0).unwrap()
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn valid() -> Vec<(&'static str, &'static str)> {
        vec![
            ("api-version", API_VERSION),
            ("reportedStartTime", "2026-10-01T00:00:00Z"),
            ("reportedEndTime", "2026-11-01T00:00:00+00:00"),
        ]
    }

    fn code_of(pairs: &[(&str, &str)]) -> ArmCode {
        UsageQuery::parse(&params(pairs), now()).unwrap_err().code
    }

    fn with(overrides: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut v: Vec<_> = valid()
            .into_iter()
            .filter(|(k, _)| !overrides.iter().any(|(o, _)| o == k))
            .collect();
        v.extend(
            overrides
                .iter()
                .copied()
                .filter(|(_, val)| *val != "<drop>"),
        );
        v
    }

    #[test]
    fn a_valid_query_defaults_to_daily_with_details() {
        let q = UsageQuery::parse(&params(&valid()), now()).unwrap();
        assert_eq!(q.aggregate.granularity, Granularity::Daily);
        assert!(q.aggregate.show_details);
        assert_eq!(q.subscriber, None);
        assert_eq!(q.continuation_token, None);
    }

    #[test]
    fn parameter_names_and_granularity_are_case_insensitive() {
        let q = UsageQuery::parse(
            &params(&[
                ("API-VERSION", API_VERSION),
                ("reportedstarttime", "2026-10-01T05:00:00.000Z"),
                ("ReportedEndTime", "2026-10-01T06:00:00 00:00"),
                ("aggregationGranularity", "hOURLY"),
                ("showDetails", "FALSE"),
            ]),
            now(),
        )
        .unwrap();
        assert_eq!(q.aggregate.granularity, Granularity::Hourly);
        assert!(!q.aggregate.show_details);
    }

    #[test]
    fn every_validation_error_has_its_arm_code() {
        assert_eq!(
            code_of(&with(&[("api-version", "<drop>")])),
            ArmCode::NoApiVersion
        );
        assert_eq!(
            code_of(&with(&[("api-version", "2020-01-01")])),
            ArmCode::InvalidProperty
        );
        assert_eq!(
            code_of(&with(&[("reportedStartTime", "<drop>")])),
            ArmCode::InvalidProperty
        );
        assert_eq!(
            code_of(&with(&[("reportedStartTime", "yesterday")])),
            ArmCode::InvalidProperty
        );
        assert_eq!(
            code_of(&with(&[("reportedStartTime", "2026-10-01T00:00:00+02:00")])),
            ArmCode::InvalidProperty
        );
        assert_eq!(
            code_of(&with(&[("reportedStartTime", "2026-10-01T00:30:00Z")])),
            ArmCode::InvalidProperty
        );
        assert_eq!(
            code_of(&with(&[("reportedStartTime", "2026-10-01T00:00:00.5Z")])),
            ArmCode::InvalidProperty
        );
        assert_eq!(
            code_of(&with(&[("reportedStartTime", "2026-10-01T05:00:00Z")])),
            ArmCode::InvalidProperty
        );
        assert_eq!(
            code_of(&with(&[("reportedStartTime", "2026-11-01T00:00:00Z")])),
            ArmCode::InvalidProperty
        );
        assert_eq!(
            code_of(&with(&[("reportedEndTime", "2026-12-01T00:00:00Z")])),
            ArmCode::RequestEndTimeIsInFuture
        );
        assert_eq!(
            code_of(&with(&[("aggregationGranularity", "Weekly")])),
            ArmCode::InvalidAggregationGranularity
        );
        assert_eq!(
            code_of(&with(&[("showDetails", "maybe")])),
            ArmCode::InvalidProperty
        );
        assert_eq!(
            code_of(&with(&[("subscriberId", "not-a-guid")])),
            ArmCode::SubscriberIdIsNotDirectTenant
        );
    }

    #[test]
    fn hourly_queries_may_start_at_any_hour() {
        let q = UsageQuery::parse(
            &params(&with(&[
                ("aggregationGranularity", "Hourly"),
                ("reportedStartTime", "2026-10-01T05:00:00Z"),
            ])),
            now(),
        )
        .unwrap();
        assert_eq!(q.aggregate.reported_start.hour(), 5);
    }

    #[test]
    fn the_end_may_be_the_current_hour_but_not_later() {
        let ok = with(&[
            ("aggregationGranularity", "Hourly"),
            ("reportedEndTime", "2026-11-26T12:00:00Z"),
        ]);
        assert!(UsageQuery::parse(&params(&ok), now()).is_ok());
        let late = with(&[
            ("aggregationGranularity", "Hourly"),
            ("reportedEndTime", "2026-11-26T13:00:00Z"),
        ]);
        assert_eq!(code_of(&late), ArmCode::RequestEndTimeIsInFuture);
    }

    #[test]
    fn times_and_versions_with_hidden_characters_or_extra_digits_are_refused() {
        for (name, value) in [
            ("reportedStartTime", "2026-11-01T00:00:00.0000000001Z"),
            ("reportedStartTime", "2026-11-01T00:00:00.000000001Z"),
            ("reportedStartTime", "2026-11-01T00:00:00\u{2212}00:00"),
            ("reportedStartTime", "2026-11-01T00:00:00Z\r\n"),
            ("reportedStartTime", "0001-01-01T00:00:00Z"),
            ("api-version", "2015-06-01-preview\r\n"),
            ("aggregationGranularity", "Daily\n"),
        ] {
            let pairs = with(&[(name, value)]);
            assert!(
                UsageQuery::parse(&params(&pairs), now()).is_err(),
                "{name}={value:?}"
            );
        }
        let spaced = with(&[("reportedStartTime", " 2026-10-01T00:00:00.0000000Z ")]);
        assert!(UsageQuery::parse(&params(&spaced), now()).is_ok());
    }
}
