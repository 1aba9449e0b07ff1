//! Pricing a billing period's usage with a rate card, into invoice lines.
//!
//! The rules, in the order they apply to each subscription and meter:
//! 1. Usage hours are taken in usage-time order; each is priced by the version in effect at its
//!    usage start (the tenant's own version if it lists the meter, else its offer's if that lists
//!    it, else the card's; the offer is the tenant directory's).
//! 2. The period's first `includedQuantity` priced units are free; tier thresholds count the
//!    billable units after them. Both count across a price change within the period: a new
//!    version changes prices, not how much the tenant has used.
//! 3. An hour's quantity that crosses a tier threshold is split across the tiers.
//! 4. The tenant's discount in effect at the hour's start takes its percentage off.
//! 5. Lines gather hours of the same meter, version, tier and discount; each line's amount is
//!    computed exactly and rounded once ([`Currency::round`](super::money::Currency::round)).
//! 6. Hours no version prices are listed as unpriced lines (no price, no amount), never dropped,
//!    and do not count toward included quantities or tiers.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::card::RateCard;
use crate::directory::Directory;
use crate::SubscriptionId;

/// One subscription's use of one meter in one usage hour (summed over resources).
#[derive(Debug, Clone, PartialEq)]
pub struct UsageHour {
    pub subscription_id: SubscriptionId,
    /// Canonical meter ID, as the store answers it.
    pub meter_id: String,
    pub usage_start: DateTime<Utc>,
    pub quantity: Decimal,
}

/// What a line's units cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LinePricing {
    /// No version of the card prices this usage.
    Unpriced,
    /// Within the included quantity: free.
    Included,
    /// Tier `n` (from 0) of the version's rate.
    Tier(usize),
}

/// One invoice line: a subscription's units of one meter at one price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PricedLine {
    pub subscription_id: SubscriptionId,
    pub meter_id: String,
    pub pricing: LinePricing,
    /// The start of the version that priced it (`None` when unpriced).
    pub version_from: Option<DateTime<Utc>>,
    /// The list price per unit, before discount (`None` when unpriced).
    pub unit_price: Option<Decimal>,
    pub discount_percent: Decimal,
    pub quantity: Decimal,
    /// Rounded once, to the currency's minor unit (`None` when unpriced).
    pub amount: Option<Decimal>,
}

/// Pricing failed: only when numbers leave the decimal range, which the card's price limit and
/// ingest's quantity limit keep far away. Says what was being added up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an amount out of range adding up {0}")]
pub struct PricingError(pub String);

impl PricingError {
    pub fn meter(subscription_id: &SubscriptionId, meter_id: &str) -> Self {
        Self(format!("meter {meter_id} for {subscription_id}"))
    }
}

/// The sum of `values`, or `None` when it leaves the decimal range (`Sum` would panic).
pub fn checked_sum<'a>(values: impl IntoIterator<Item = &'a Decimal>) -> Option<Decimal> {
    values
        .into_iter()
        .try_fold(Decimal::ZERO, |sum, v| sum.checked_add(*v))
}

/// What gathers hours into one line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct LineKey {
    subscription_id: SubscriptionId,
    meter_id: String,
    version_from: Option<DateTime<Utc>>,
    pricing: LinePricing,
    discount_percent: Decimal,
}

#[derive(Default)]
struct Sums {
    quantity: Decimal,
    unit_price: Option<Decimal>,
    /// Exact, before rounding.
    amount: Decimal,
}

/// Prices a period's usage hours (in any order) by `card`, each subscription at its offer's
/// prices in `directory`; lines come ordered by subscription, meter, version, then included
/// before tiers.
pub fn price_period(
    card: &RateCard,
    directory: &Directory,
    mut hours: Vec<UsageHour>,
) -> Result<Vec<PricedLine>, PricingError> {
    hours.sort_by(|a, b| {
        (&a.subscription_id, &a.meter_id, a.usage_start).cmp(&(
            &b.subscription_id,
            &b.meter_id,
            b.usage_start,
        ))
    });
    let mut lines: BTreeMap<LineKey, Sums> = BTreeMap::new();
    // Priced units of the current (subscription, meter) so far in the period.
    let mut used = Decimal::ZERO;
    let mut series: Option<(&SubscriptionId, &str)> = None;
    for hour in &hours {
        let this = (&hour.subscription_id, hour.meter_id.as_str());
        if series != Some(this) {
            series = Some(this);
            used = Decimal::ZERO;
        }
        let overflow = || PricingError::meter(&hour.subscription_id, &hour.meter_id);
        let key = |version_from, pricing, discount_percent| LineKey {
            subscription_id: hour.subscription_id.clone(),
            meter_id: hour.meter_id.clone(),
            version_from,
            pricing,
            discount_percent,
        };
        let offer = directory.offer(&hour.subscription_id);
        let Some((rate, version_from)) = card.rate_at(
            &hour.subscription_id,
            offer,
            &hour.meter_id,
            hour.usage_start,
        ) else {
            let sums = lines
                .entry(key(None, LinePricing::Unpriced, Decimal::ZERO))
                .or_default();
            sums.quantity = sums
                .quantity
                .checked_add(hour.quantity)
                .ok_or_else(overflow)?;
            continue;
        };
        let start = used;
        let end = used.checked_add(hour.quantity).ok_or_else(overflow)?;
        used = end;
        let included = rate.included_quantity;
        if start < included {
            let free = end.min(included) - start;
            let sums = lines
                .entry(key(
                    Some(version_from),
                    LinePricing::Included,
                    Decimal::ZERO,
                ))
                .or_default();
            sums.quantity = sums.quantity.checked_add(free).ok_or_else(overflow)?;
            sums.unit_price = Some(Decimal::ZERO);
        }
        if end <= included {
            continue;
        }
        // The hour's billable span, in billable units of the period.
        let (from, to) = (start.max(included) - included, end - included);
        let discount = card.discount_at(&hour.subscription_id, hour.usage_start);
        let keep = (Decimal::ONE_HUNDRED - discount) / Decimal::ONE_HUNDRED;
        for (t, tier) in rate.tiers.iter().enumerate() {
            let tier_end = rate.tiers.get(t + 1).map(|next| next.from);
            let lo = from.max(tier.from);
            let hi = tier_end.map_or(to, |e| to.min(e));
            if hi <= lo {
                continue;
            }
            let units = hi - lo;
            let amount = units
                .checked_mul(tier.unit_price)
                .and_then(|a| a.checked_mul(keep))
                .ok_or_else(overflow)?;
            let sums = lines
                .entry(key(Some(version_from), LinePricing::Tier(t), discount))
                .or_default();
            sums.quantity = sums.quantity.checked_add(units).ok_or_else(overflow)?;
            sums.amount = sums.amount.checked_add(amount).ok_or_else(overflow)?;
            sums.unit_price = Some(tier.unit_price);
        }
    }
    let currency = card.currency();
    Ok(lines
        .into_iter()
        .map(|(key, sums)| PricedLine {
            amount: (key.pricing != LinePricing::Unpriced).then(|| currency.round(sums.amount)),
            subscription_id: key.subscription_id,
            meter_id: key.meter_id,
            pricing: key.pricing,
            version_from: key.version_from,
            unit_price: sums.unit_price,
            discount_percent: key.discount_percent,
            quantity: sums.quantity.normalize(),
        })
        .collect())
}

/// The sum of the lines' (rounded) amounts: what a statement totals to.
pub fn total(lines: &[PricedLine]) -> Result<Decimal, PricingError> {
    checked_sum(lines.iter().filter_map(|l| l.amount.as_ref()))
        .ok_or_else(|| PricingError("the lines' total".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Directory;
    use crate::rating::card::{Discount, MeterRate, RateCardDraft, RateVersion, Tier};
    use chrono::Duration;
    use std::str::FromStr;

    const VM: &str = "6DAB500F-A4FD-49C4-956D-229BB9C8C793";
    const BLOB: &str = "B5C15376-6C94-4FDD-B655-1A69D138ACA3";

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn tenant() -> SubscriptionId {
        SubscriptionId::parse("11111111-1111-4111-8111-111111111111").unwrap()
    }

    fn tiers(list: &[(&str, &str)]) -> Vec<Tier> {
        list.iter()
            .map(|(from, price)| Tier {
                from: d(from),
                unit_price: d(price),
            })
            .collect()
    }

    fn card(versions: Vec<RateVersion>, discounts: Vec<Discount>) -> RateCard {
        RateCard::parse(RateCardDraft {
            currency: "USD".into(),
            versions,
            discounts,
        })
        .unwrap()
    }

    fn version(from: &str, to: Option<&str>, rates: Vec<MeterRate>) -> RateVersion {
        RateVersion {
            subscription_id: None,
            offer: None,
            effective_from: at(from),
            effective_to: to.map(at),
            rates,
        }
    }

    fn rate(meter: &str, included: &str, list: &[(&str, &str)]) -> MeterRate {
        MeterRate {
            meter_id: meter.into(),
            included_quantity: d(included),
            tiers: tiers(list),
        }
    }

    /// `quantities` hourly from `start`.
    fn hours(meter: &str, start: &str, quantities: &[&str]) -> Vec<UsageHour> {
        quantities
            .iter()
            .enumerate()
            .map(|(i, q)| UsageHour {
                subscription_id: tenant(),
                meter_id: meter.into(),
                usage_start: at(start) + Duration::hours(i as i64),
                quantity: d(q),
            })
            .collect()
    }

    fn summary(
        lines: &[PricedLine],
    ) -> Vec<(LinePricing, Decimal, Option<Decimal>, Option<Decimal>)> {
        lines
            .iter()
            .map(|l| (l.pricing, l.quantity, l.unit_price, l.amount))
            .collect()
    }

    #[test]
    fn tiers_price_the_first_thousand_units_at_one_price_and_the_rest_at_another() {
        // 1,000 GB x hours at 0.10, the rest at 0.05: 600 + 600 crosses in the second hour.
        let card = card(
            vec![version(
                "2026-10-01T00:00:00Z",
                None,
                vec![rate(BLOB, "0", &[("0", "0.10"), ("1000", "0.05")])],
            )],
            vec![],
        );
        let lines = price_period(
            &card,
            &Directory::default(),
            hours(BLOB, "2026-10-01T00:00:00Z", &["600", "600"]),
        )
        .unwrap();
        assert_eq!(
            summary(&lines),
            vec![
                (
                    LinePricing::Tier(0),
                    d("1000"),
                    Some(d("0.10")),
                    Some(d("100.00"))
                ),
                (
                    LinePricing::Tier(1),
                    d("200"),
                    Some(d("0.05")),
                    Some(d("10.00"))
                ),
            ]
        );
        assert_eq!(total(&lines).unwrap(), d("110.00"));
    }

    #[test]
    fn included_units_are_free_and_tiers_count_after_them() {
        // 100 included, then 50 at 1.00, then 0.50: 250 units = 100 free + 50 x 1 + 100 x 0.5.
        let card = card(
            vec![version(
                "2026-10-01T00:00:00Z",
                None,
                vec![rate(BLOB, "100", &[("0", "1"), ("50", "0.5")])],
            )],
            vec![],
        );
        let lines = price_period(
            &card,
            &Directory::default(),
            hours(BLOB, "2026-10-01T00:00:00Z", &["80", "170"]),
        )
        .unwrap();
        assert_eq!(
            summary(&lines),
            vec![
                (
                    LinePricing::Included,
                    d("100"),
                    Some(d("0")),
                    Some(d("0.00"))
                ),
                (
                    LinePricing::Tier(0),
                    d("50"),
                    Some(d("1")),
                    Some(d("50.00"))
                ),
                (
                    LinePricing::Tier(1),
                    d("100"),
                    Some(d("0.5")),
                    Some(d("50.00"))
                ),
            ]
        );
    }

    #[test]
    fn a_price_change_mid_month_prices_each_hour_by_the_version_in_effect() {
        // One VM all of October (31 days): 1.00 an hour until the 15th, 1.20 from then on.
        let card = card(
            vec![
                version(
                    "2026-01-01T00:00:00Z",
                    Some("2026-10-15T00:00:00Z"),
                    vec![rate(VM, "0", &[("0", "1.00")])],
                ),
                version(
                    "2026-10-15T00:00:00Z",
                    None,
                    vec![rate(VM, "0", &[("0", "1.20")])],
                ),
            ],
            vec![],
        );
        let lines = price_period(
            &card,
            &Directory::default(),
            hours(VM, "2026-10-01T00:00:00Z", &["1"; 31 * 24]),
        )
        .unwrap();
        assert_eq!(
            summary(&lines),
            vec![
                (
                    LinePricing::Tier(0),
                    d("336"),
                    Some(d("1.00")),
                    Some(d("336.00"))
                ),
                (
                    LinePricing::Tier(0),
                    d("408"),
                    Some(d("1.20")),
                    Some(d("489.60"))
                ),
            ]
        );
        assert_eq!(lines[1].version_from, Some(at("2026-10-15T00:00:00Z")));
    }

    #[test]
    fn included_quantity_and_tiers_carry_across_a_price_change() {
        // 10 included; both versions tier at 20 billable units. 15 units before the change (10
        // free, 5 billed), 25 after: 15 more in tier 0, then 10 in tier 1.
        let card = card(
            vec![
                version(
                    "2026-10-01T00:00:00Z",
                    Some("2026-10-01T01:00:00Z"),
                    vec![rate(VM, "10", &[("0", "1"), ("20", "0.5")])],
                ),
                version(
                    "2026-10-01T01:00:00Z",
                    None,
                    vec![rate(VM, "10", &[("0", "2"), ("20", "1")])],
                ),
            ],
            vec![],
        );
        let lines = price_period(
            &card,
            &Directory::default(),
            hours(VM, "2026-10-01T00:00:00Z", &["15", "25"]),
        )
        .unwrap();
        assert_eq!(
            summary(&lines),
            vec![
                (
                    LinePricing::Included,
                    d("10"),
                    Some(d("0")),
                    Some(d("0.00"))
                ),
                (LinePricing::Tier(0), d("5"), Some(d("1")), Some(d("5.00"))),
                (
                    LinePricing::Tier(0),
                    d("15"),
                    Some(d("2")),
                    Some(d("30.00"))
                ),
                (
                    LinePricing::Tier(1),
                    d("10"),
                    Some(d("1")),
                    Some(d("10.00"))
                ),
            ]
        );
    }

    #[test]
    fn a_tenants_own_price_and_discount_apply_to_it_alone() {
        let mut own = version(
            "2026-10-01T00:00:00Z",
            None,
            vec![rate(VM, "0", &[("0", "0.50")])],
        );
        own.subscription_id = Some(tenant());
        let card = card(
            vec![
                version(
                    "2026-10-01T00:00:00Z",
                    None,
                    vec![rate(VM, "0", &[("0", "1.00")])],
                ),
                own,
            ],
            vec![Discount {
                subscription_id: tenant(),
                percent: d("10"),
                effective_from: at("2026-10-01T00:00:00Z"),
                effective_to: None,
            }],
        );
        let mut usage = hours(VM, "2026-10-01T00:00:00Z", &["100"]);
        let other = SubscriptionId::parse("22222222-2222-4222-8222-222222222222").unwrap();
        usage.push(UsageHour {
            subscription_id: other.clone(),
            ..usage[0].clone()
        });
        let lines = price_period(&card, &Directory::default(), usage).unwrap();
        // 100 x 0.50 less 10% = 45.00 for the tenant; 100 x 1.00 for the other.
        assert_eq!(lines[0].subscription_id, tenant());
        assert_eq!(
            (lines[0].amount, lines[0].discount_percent),
            (Some(d("45.00")), d("10"))
        );
        assert_eq!(
            (lines[1].subscription_id.clone(), lines[1].amount),
            (other, Some(d("100.00")))
        );
    }

    #[test]
    fn a_line_is_rounded_once_not_hour_by_hour() {
        // Three hours of 0.3333 units at 0.10: 0.09999 rounds to 0.10 (hour by hour it would be
        // 3 x 0.03 = 0.09).
        let card = card(
            vec![version(
                "2026-10-01T00:00:00Z",
                None,
                vec![rate(VM, "0", &[("0", "0.10")])],
            )],
            vec![],
        );
        let lines = price_period(
            &card,
            &Directory::default(),
            hours(VM, "2026-10-01T00:00:00Z", &["0.3333"; 3]),
        )
        .unwrap();
        assert_eq!(lines[0].amount, Some(d("0.10")));
        assert_eq!(lines[0].quantity, d("0.9999"));
    }

    #[test]
    fn usage_without_a_price_is_listed_as_unpriced() {
        let card = card(
            vec![version(
                "2026-10-02T00:00:00Z",
                None,
                vec![rate(VM, "0", &[("0", "1")])],
            )],
            vec![],
        );
        // One hour before the card starts, one after; and a meter the card does not price.
        let mut usage = hours(VM, "2026-10-01T23:00:00Z", &["1", "1"]);
        usage.extend(hours(BLOB, "2026-10-02T00:00:00Z", &["7"]));
        let lines = price_period(&card, &Directory::default(), usage).unwrap();
        assert_eq!(
            summary(&lines),
            vec![
                (LinePricing::Unpriced, d("1"), None, None),
                (LinePricing::Tier(0), d("1"), Some(d("1")), Some(d("1.00"))),
                (LinePricing::Unpriced, d("7"), None, None),
            ]
        );
        assert_eq!(total(&lines).unwrap(), d("1.00"));
    }

    #[test]
    fn amounts_in_a_currency_without_cents_round_to_whole_units() {
        let draft = RateCardDraft {
            currency: "JPY".into(),
            versions: vec![version(
                "2026-10-01T00:00:00Z",
                None,
                vec![rate(VM, "0", &[("0", "12.5")])],
            )],
            discounts: vec![],
        };
        let card = RateCard::parse(draft).unwrap();
        let lines = price_period(
            &card,
            &Directory::default(),
            hours(VM, "2026-10-01T00:00:00Z", &["1"; 3]),
        )
        .unwrap();
        assert_eq!(lines[0].amount, Some(d("38")));
    }
}
