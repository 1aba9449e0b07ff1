//! An OData v4 feed of usage and chargeback, for BI tools such as Power BI's OData connector:
//! the service document, `$metadata` (CSDL XML), and the entity sets' rows with `$filter` (on
//! time, period and subscription), `$select`, `$top` and server-driven paging (`$skiptoken`,
//! answered as `@odata.nextLink`).
//!
//! Two entity sets:
//! - `UsageAggregates`: usage per subscription, meter and UTC day of usage time.
//! - `ChargebackLines`: the lines of a billing period's statement by subscription.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::SubscriptionId;

/// Rows per page unless `$top` asks for fewer.
pub const ODATA_PAGE_SIZE: usize = 1_000;

/// An entity set: its name, its entity type's name, and its properties as (name, EDM type).
pub type EntitySet = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The entity sets.
pub const ENTITY_SETS: [EntitySet; 2] = [
    (
        "UsageAggregates",
        "UsageAggregate",
        &[
            ("Id", "Edm.String"),
            ("SubscriptionId", "Edm.String"),
            ("MeterId", "Edm.String"),
            ("MeterName", "Edm.String"),
            ("MeterCategory", "Edm.String"),
            ("Unit", "Edm.String"),
            ("UsageDate", "Edm.Date"),
            ("UsageStartTime", "Edm.DateTimeOffset"),
            ("Quantity", "Edm.Double"),
            ("Records", "Edm.Int64"),
        ],
    ),
    (
        "ChargebackLines",
        "ChargebackLine",
        &[
            ("Id", "Edm.String"),
            ("Period", "Edm.String"),
            ("PeriodStart", "Edm.DateTimeOffset"),
            ("SubscriptionId", "Edm.String"),
            ("SubscriptionName", "Edm.String"),
            ("SubscriptionOwner", "Edm.String"),
            ("MeterId", "Edm.String"),
            ("MeterName", "Edm.String"),
            ("Unit", "Edm.String"),
            ("Pricing", "Edm.String"),
            ("UnitPrice", "Edm.Decimal"),
            ("DiscountPercent", "Edm.Decimal"),
            ("Quantity", "Edm.Decimal"),
            ("Currency", "Edm.String"),
            ("Amount", "Edm.Decimal"),
        ],
    ),
];

/// The `$metadata` document.
pub fn metadata_xml() -> String {
    let mut types = String::new();
    let mut sets = String::new();
    for (set, entity, properties) in ENTITY_SETS {
        types.push_str(&format!(
            "<EntityType Name=\"{entity}\"><Key><PropertyRef Name=\"Id\"/></Key>"
        ));
        for (name, edm) in properties {
            let extra = match (*name, *edm) {
                ("Id", _) => " Nullable=\"false\"",
                (_, "Edm.Decimal") => " Scale=\"variable\"",
                _ => "",
            };
            types.push_str(&format!(
                "<Property Name=\"{name}\" Type=\"{edm}\"{extra}/>"
            ));
        }
        types.push_str("</EntityType>");
        sets.push_str(&format!(
            "<EntitySet Name=\"{set}\" EntityType=\"Meterbook.{entity}\"/>"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
         <edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">\
         <edmx:DataServices>\
         <Schema Namespace=\"Meterbook\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">\
         {types}<EntityContainer Name=\"Container\">{sets}</EntityContainer>\
         </Schema></edmx:DataServices></edmx:Edmx>"
    )
}

/// The service document: the entity sets, for a feed at `base` (`https://host/odata`).
pub fn service_document(base: &str) -> Value {
    let sets: Vec<Value> = ENTITY_SETS
        .iter()
        .map(|(set, _, _)| serde_json::json!({"name": set, "kind": "EntitySet", "url": set}))
        .collect();
    serde_json::json!({"@odata.context": format!("{base}/$metadata"), "value": sets})
}

/// A bound of a time filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// `ge` (or `gt` of a day: the next day).
    From(DateTime<Utc>),
    /// `lt` (or `le` of a day: the next day).
    Before(DateTime<Utc>),
}

/// What a `$filter` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ODataFilter {
    /// `UsageStartTime`/`UsageDate` `ge`/`gt` ...: usage from this instant.
    pub from: Option<DateTime<Utc>>,
    /// ... `lt`/`le` ...: usage before this instant.
    pub before: Option<DateTime<Utc>>,
    /// `SubscriptionId eq '...'`.
    pub subscription: Option<SubscriptionId>,
    /// `Period eq '2026-10'`.
    pub period: Option<String>,
}

impl ODataFilter {
    /// Parses comparisons joined by `and`: `UsageStartTime ge 2026-10-01T00:00:00Z`,
    /// `UsageDate lt 2026-11-01`, `SubscriptionId eq '...'`, `Period eq '2026-10'`. Anything
    /// else is refused with a message that says what is supported.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut filter = Self::default();
        let text = text.trim();
        if text.is_empty() {
            return Ok(filter);
        }
        for clause in split_on_and(text) {
            let words: Vec<&str> = clause.split_whitespace().collect();
            let [property, op, value] = words[..] else {
                return Err(unsupported(&clause));
            };
            let op = op.to_ascii_lowercase();
            match property {
                "UsageStartTime" | "UsageDate" => {
                    let (t, whole_day) = parse_time(value).ok_or_else(|| {
                        format!("$filter: '{value}' is not a date (2026-10-01) or a time (2026-10-01T00:00:00Z)")
                    })?;
                    let next = |t: DateTime<Utc>| {
                        if whole_day || property == "UsageDate" {
                            t + chrono::Duration::days(1)
                        } else {
                            t + chrono::Duration::seconds(1)
                        }
                    };
                    match op.as_str() {
                        "ge" => filter.from = Some(t),
                        "gt" => filter.from = Some(next(t)),
                        "lt" => filter.before = Some(t),
                        "le" => filter.before = Some(next(t)),
                        "eq" if property == "UsageDate" => {
                            filter.from = Some(t);
                            filter.before = Some(next(t));
                        }
                        _ => return Err(unsupported(&clause)),
                    }
                }
                "SubscriptionId" if op == "eq" => {
                    let id = quoted(value).ok_or_else(|| unsupported(&clause))?;
                    filter.subscription =
                        Some(SubscriptionId::parse(&id).map_err(|e| format!("$filter: {e}"))?);
                }
                "Period" if op == "eq" => {
                    filter.period = Some(quoted(value).ok_or_else(|| unsupported(&clause))?);
                }
                _ => return Err(unsupported(&clause)),
            }
        }
        Ok(filter)
    }
}

fn unsupported(clause: &str) -> String {
    format!(
        "$filter: '{clause}' is not supported; use UsageStartTime or UsageDate with ge, gt, lt, le \
         (UsageDate also eq), SubscriptionId eq '...', or Period eq 'YYYY-MM', joined by and"
    )
}

/// `'text'` (with `''` for a quote) as text.
fn quoted(value: &str) -> Option<String> {
    let inner = value.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

/// A date (midnight UTC, and whether it was a whole day) or an RFC 3339 time, held to the years
/// every outside time is.
fn parse_time(value: &str) -> Option<(DateTime<Utc>, bool)> {
    if let Ok(day) = crate::time::parse_date_input(value) {
        return Some((day.and_time(chrono::NaiveTime::MIN).and_utc(), true));
    }
    crate::time::parse_time_input(value)
        .ok()
        .map(|t| (t.to_utc(), false))
}

/// The clauses of `a and b` (`and` in any case, outside quotes).
fn split_on_and(text: &str) -> Vec<String> {
    let mut clauses = vec![String::new()];
    let mut quoted = false;
    for word in text.split_whitespace() {
        if !quoted && word.eq_ignore_ascii_case("and") {
            clauses.push(String::new());
            continue;
        }
        if let Some(current) = clauses.last_mut() {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
        quoted ^= word.matches('\'').count() % 2 == 1;
    }
    clauses
}

/// `$select`: the properties to keep (all when `None`), each checked against the entity set.
pub fn parse_select(text: Option<&str>, set: &str) -> Result<Option<Vec<String>>, String> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty() && *t != "*") else {
        return Ok(None);
    };
    let properties = ENTITY_SETS
        .iter()
        .find(|(name, _, _)| *name == set)
        .map(|(_, _, p)| *p)
        .unwrap_or_default();
    text.split(',')
        .map(|name| {
            let name = name.trim();
            properties
                .iter()
                .find(|(p, _)| *p == name)
                .map(|(p, _)| (*p).to_owned())
                .ok_or_else(|| format!("$select: {set} has no property '{name}'"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Keeps only the selected properties of a row.
pub fn select(row: Map<String, Value>, selected: Option<&[String]>) -> Value {
    match selected {
        None => Value::Object(row),
        Some(names) => Value::Object(
            row.into_iter()
                .filter(|(k, _)| names.iter().any(|n| n == k))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn filters_read_time_ranges_subscriptions_and_periods() {
        let f = ODataFilter::parse(
            "UsageStartTime ge 2026-10-01T00:00:00Z and UsageStartTime lt 2026-11-01T00:00:00Z \
             and SubscriptionId eq '11111111-1111-4111-8111-111111111111'",
        )
        .unwrap();
        assert_eq!(
            f.from,
            Some(Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap())
        );
        assert_eq!(
            f.before,
            Some(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap())
        );
        assert_eq!(
            f.subscription.unwrap().as_str(),
            "11111111-1111-4111-8111-111111111111"
        );
        // A day compared with le or gt is the whole day.
        let f = ODataFilter::parse("UsageDate gt 2026-10-01 AND UsageDate le 2026-10-31").unwrap();
        assert_eq!(
            f.from,
            Some(Utc.with_ymd_and_hms(2026, 10, 2, 0, 0, 0).unwrap())
        );
        assert_eq!(
            f.before,
            Some(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap())
        );
        let f = ODataFilter::parse("UsageDate eq 2026-10-05").unwrap();
        assert_eq!(
            f.from,
            Some(Utc.with_ymd_and_hms(2026, 10, 5, 0, 0, 0).unwrap())
        );
        assert_eq!(
            f.before,
            Some(Utc.with_ymd_and_hms(2026, 10, 6, 0, 0, 0).unwrap())
        );
        assert_eq!(
            ODataFilter::parse("Period eq '2026-10'")
                .unwrap()
                .period
                .as_deref(),
            Some("2026-10")
        );
        assert_eq!(ODataFilter::parse(" ").unwrap(), ODataFilter::default());
    }

    #[test]
    fn unsupported_filters_say_what_is_supported() {
        for bad in [
            "Quantity gt 5",
            "SubscriptionId ne 'x'",
            "UsageStartTime ge yesterday",
            "SubscriptionId eq 11111111-1111-4111-8111-111111111111",
            "contains(MeterName, 'VM')",
        ] {
            let err = ODataFilter::parse(bad).unwrap_err();
            assert!(err.starts_with("$filter:"), "{bad}: {err}");
        }
    }

    #[test]
    fn select_keeps_known_properties_only() {
        assert_eq!(
            parse_select(Some("MeterName, Quantity"), "UsageAggregates").unwrap(),
            Some(vec!["MeterName".to_owned(), "Quantity".to_owned()])
        );
        assert_eq!(parse_select(Some("*"), "UsageAggregates").unwrap(), None);
        assert!(parse_select(Some("Amount"), "UsageAggregates")
            .unwrap_err()
            .contains("no property 'Amount'"));
        let mut row = Map::new();
        row.insert("MeterName".into(), Value::from("S10"));
        row.insert("Quantity".into(), Value::from(1.5));
        assert_eq!(
            select(row, Some(&["Quantity".to_owned()])),
            serde_json::json!({"Quantity": 1.5})
        );
    }

    #[test]
    fn metadata_declares_both_entity_sets_with_their_keys() {
        let xml = metadata_xml();
        assert!(xml.starts_with("<?xml"));
        assert!(xml.contains(
            "<EntitySet Name=\"UsageAggregates\" EntityType=\"Meterbook.UsageAggregate\"/>"
        ));
        assert!(xml.contains(
            "<EntitySet Name=\"ChargebackLines\" EntityType=\"Meterbook.ChargebackLine\"/>"
        ));
        assert!(xml.contains("<Property Name=\"UsageStartTime\" Type=\"Edm.DateTimeOffset\"/>"));
        assert!(xml.contains("<Property Name=\"Amount\" Type=\"Edm.Decimal\" Scale=\"variable\"/>"));
        assert_eq!(
            xml.matches("<Key><PropertyRef Name=\"Id\"/></Key>").count(),
            2
        );
        let doc = service_document("http://h/odata");
        assert_eq!(doc["@odata.context"], "http://h/odata/$metadata");
        assert_eq!(doc["value"][1]["url"], "ChargebackLines");
    }
}
