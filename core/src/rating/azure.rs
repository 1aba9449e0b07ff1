//! The rate card in the shape of Azure's RateCard API
//! (`GET /subscriptions/{id}/providers/Microsoft.Commerce/RateCard`), so Azure tools that read
//! rate cards work unchanged.
//!
//! Azure answers the prices of one offer; Meterbook answers the prices one subscription pays now:
//! the card's prices, overlaid by its offer's and then the tenant's own, with the tenant's
//! discount taken off. Rates
//! are JSON numbers, as Azure sends them (the card itself keeps exact decimals).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

use super::card::RateCard;
use crate::directory::CatalogName;
use crate::meter::catalog;
use crate::SubscriptionId;

/// The `$filter` of a RateCard request: `OfferDurableId eq 'MS-AZR-0003P' and Currency eq 'USD'
/// and Locale eq 'en-US' and RegionInfo eq 'US'` (every clause optional here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateCardFilter {
    pub offer_durable_id: Option<String>,
    pub currency: Option<String>,
    pub locale: Option<String>,
    pub region_info: Option<String>,
}

impl RateCardFilter {
    /// Parses `Name eq 'value'` clauses joined by `and`; names are case-insensitive.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut filter = Self::default();
        if text.trim().is_empty() {
            return Ok(filter);
        }
        for clause in split_and(text) {
            let bad = || {
                format!("$filter: '{clause}' is not Name eq 'value' (OfferDurableId, Currency, Locale or RegionInfo)")
            };
            let mut words = clause.splitn(3, char::is_whitespace);
            let (Some(name), Some(op), Some(value)) = (words.next(), words.next(), words.next())
            else {
                return Err(bad());
            };
            let value = value.trim();
            if !op.eq_ignore_ascii_case("eq")
                || value.len() < 2
                || !value.starts_with('\'')
                || !value.ends_with('\'')
            {
                return Err(bad());
            }
            let value = Some(value[1..value.len() - 1].replace("''", "'"));
            match name.to_ascii_lowercase().as_str() {
                "offerdurableid" => filter.offer_durable_id = value,
                "currency" => filter.currency = value,
                "locale" => filter.locale = value,
                "regioninfo" => filter.region_info = value,
                _ => return Err(bad()),
            }
        }
        Ok(filter)
    }
}

/// The clauses of `a and b and c` (`and` in any case, outside quotes).
fn split_and(text: &str) -> Vec<String> {
    let mut clauses = vec![String::new()];
    let mut quoted = false;
    let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    for word in words {
        if !quoted && word.eq_ignore_ascii_case("and") {
            clauses.push(String::new());
            continue;
        }
        let current = clauses
            .last_mut()
            .unwrap_or_else(|| unreachable!("never empty"));
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
        quoted ^= word.matches('\'').count() % 2 == 1;
    }
    clauses.into_iter().map(|c| c.trim().to_owned()).collect()
}

/// Azure's RateCard answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AzureRateCard {
    /// Azure lists offer-wide credits and commitments here; Meterbook folds discounts into the
    /// rates instead, so this is always empty.
    pub offer_terms: Vec<serde_json::Value>,
    pub meters: Vec<AzureMeter>,
    pub currency: String,
    pub locale: String,
    pub is_tax_included: bool,
}

/// One priced meter, as Azure writes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AzureMeter {
    pub effective_date: DateTime<Utc>,
    #[serde(serialize_with = "as_number")]
    pub included_quantity: Decimal,
    pub meter_category: String,
    pub meter_id: String,
    pub meter_name: String,
    /// Tier start (in billable units) to unit price.
    #[serde(serialize_with = "rates_as_numbers")]
    pub meter_rates: BTreeMap<String, Decimal>,
    pub meter_region: String,
    pub meter_status: String,
    pub meter_sub_category: String,
    pub meter_tags: Vec<String>,
    pub unit: String,
}

fn as_number<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(value.to_f64().unwrap_or(0.0))
}

fn rates_as_numbers<S: Serializer>(
    rates: &BTreeMap<String, Decimal>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(rates.iter().map(|(k, v)| (k, v.to_f64().unwrap_or(0.0))))
}

/// What `subscription` (on `offer`, as the tenant directory has it) pays at `now`, per meter,
/// ordered by meter name.
pub fn azure_rate_card(
    card: &RateCard,
    subscription: &SubscriptionId,
    offer: Option<&CatalogName>,
    now: DateTime<Utc>,
    locale: &str,
) -> AzureRateCard {
    let keep = (Decimal::ONE_HUNDRED - card.discount_at(subscription, now)) / Decimal::ONE_HUNDRED;
    let meter_ids: std::collections::BTreeSet<&str> = card
        .versions()
        .iter()
        .flat_map(|v| v.rates.iter().map(|r| r.meter_id.as_str()))
        .collect();
    let mut meters: Vec<AzureMeter> = meter_ids
        .into_iter()
        .filter_map(|id| {
            let (rate, from) = card.rate_at(subscription, offer, id, now)?;
            let info = catalog().describe(id);
            let provider = catalog()
                .get(id)
                .map(|m| m.resource_provider.clone())
                .unwrap_or_default();
            Some(AzureMeter {
                effective_date: from,
                included_quantity: rate.included_quantity,
                meter_category: info.category,
                meter_id: id.to_owned(),
                meter_name: info.name,
                meter_rates: rate
                    .tiers
                    .iter()
                    .map(|t| {
                        (
                            t.from.normalize().to_string(),
                            (t.unit_price * keep).normalize(),
                        )
                    })
                    .collect(),
                meter_region: String::new(),
                meter_status: "Active".to_owned(),
                meter_sub_category: provider,
                meter_tags: Vec::new(),
                unit: info.unit,
            })
        })
        .collect();
    meters.sort_by(|a, b| (&a.meter_name, &a.meter_id).cmp(&(&b.meter_name, &b.meter_id)));
    AzureRateCard {
        offer_terms: Vec::new(),
        meters,
        currency: card.currency().code().to_owned(),
        locale: locale.to_owned(),
        is_tax_included: false,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::rating::csv::rate_card_from_csv;

    const BLOB: &str = "09F8879E-87E9-4305-A572-4B7BE209F857";
    const VM: &str = "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5";
    const TENANT: &str = "11111111-1111-4111-8111-111111111111";

    #[test]
    fn a_tenant_sees_its_own_prices_less_its_discount_as_azure_writes_them() {
        let card = rate_card_from_csv(&format!(
            "kind,subscription_id,currency,effective_from,effective_to,meter_id,included_quantity,tier_start,unit_price,discount_percent\n\
             price,,USD,2026-01-01,2026-10-01,{BLOB},0,0,0.20,\n\
             price,,USD,2026-10-01,,{BLOB},100,0,0.10,\n\
             price,,USD,2026-10-01,,{BLOB},100,1000,0.05,\n\
             price,,USD,2026-10-01,,{VM},0,0,0.01,\n\
             price,{TENANT},USD,2026-01-01,,{VM},0,0,0.008,\n\
             discount,{TENANT},USD,2026-01-01,,,,,,25\n"
        ))
        .unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
        let tenant = SubscriptionId::parse(TENANT).unwrap();
        let answer =
            serde_json::to_value(azure_rate_card(&card, &tenant, None, now, "en-US")).unwrap();
        assert_eq!(
            answer,
            json!({
                "OfferTerms": [],
                "Currency": "USD",
                "Locale": "en-US",
                "IsTaxIncluded": false,
                "Meters": [
                    {
                        "EffectiveDate": "2026-01-01T00:00:00Z",
                        "IncludedQuantity": 0.0,
                        "MeterCategory": "Compute",
                        "MeterId": VM,
                        "MeterName": "Base VM Size Hours",
                        "MeterRates": {"0": 0.006},
                        "MeterRegion": "",
                        "MeterStatus": "Active",
                        "MeterSubCategory": "Microsoft.Compute",
                        "MeterTags": [],
                        "Unit": "virtual core hours"
                    },
                    {
                        "EffectiveDate": "2026-10-01T00:00:00Z",
                        "IncludedQuantity": 100.0,
                        "MeterCategory": "Storage",
                        "MeterId": BLOB,
                        "MeterName": "BlockBlobCapacity",
                        "MeterRates": {"0": 0.075, "1000": 0.0375},
                        "MeterRegion": "",
                        "MeterStatus": "Active",
                        "MeterSubCategory": "Microsoft.Storage",
                        "MeterTags": [],
                        "Unit": "GB x hours"
                    }
                ]
            })
        );
        // Another tenant pays the card's prices.
        let other = SubscriptionId::parse("22222222-2222-4222-8222-222222222222").unwrap();
        let answer = azure_rate_card(&card, &other, None, now, "en-US");
        assert_eq!(answer.meters[0].meter_rates["0"], Decimal::new(1, 2));
    }

    #[test]
    fn filters_read_azure_clauses_in_any_case() {
        let filter = RateCardFilter::parse(
            "OfferDurableId eq 'MS-AZR-0003P' AND currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'",
        )
        .unwrap();
        assert_eq!(filter.offer_durable_id.as_deref(), Some("MS-AZR-0003P"));
        assert_eq!(filter.currency.as_deref(), Some("USD"));
        assert_eq!(filter.locale.as_deref(), Some("en-US"));
        assert_eq!(filter.region_info.as_deref(), Some("US"));
        assert_eq!(
            RateCardFilter::parse("").unwrap(),
            RateCardFilter::default()
        );
        assert!(RateCardFilter::parse("Currency ne 'USD'").is_err());
        assert!(RateCardFilter::parse("Color eq 'red'").is_err());
        assert!(RateCardFilter::parse("Currency eq USD").is_err());
    }
}
