//! Rate cards: versioned price lists per meter, with tiers, included quantities, per-offer and
//! per-tenant prices, and discounts. A [`RateCard`] that exists is valid: [`RateCard::parse`] refuses
//! overlapping versions, negative prices, malformed tiers and unknown currencies, naming the
//! offending entry.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::money::Currency;
use crate::directory::CatalogName;
use crate::meter::canonical_meter_id;
use crate::SubscriptionId;

/// Prices above this (per unit) are refused as typing errors; they would also let amounts
/// overflow the decimal range on large quantities.
const MAX_UNIT_PRICE: i64 = 1_000_000_000;

/// A rate card as written (in JSON or assembled from CSV rows): parse it into a [`RateCard`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateCardDraft {
    pub currency: String,
    pub versions: Vec<RateVersion>,
    #[serde(default)]
    pub discounts: Vec<Discount>,
}

/// The prices in effect over `[effective_from, effective_to)`: for every tenant; with an offer,
/// for the subscriptions the tenant directory puts on that offer; or, with a subscription, that
/// tenant's own prices. For the meters it lists, a tenant's own price wins over its offer's, and
/// an offer's over the card's (the way service providers price offers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateVersion {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<SubscriptionId>,
    /// An offer's name (never together with a subscription).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<CatalogName>,
    #[serde(deserialize_with = "strict_time")]
    pub effective_from: DateTime<Utc>,
    /// Open-ended when absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "strict_optional_time"
    )]
    pub effective_to: Option<DateTime<Utc>>,
    pub rates: Vec<MeterRate>,
}

/// A meter's price: the first `included_quantity` units of a billing period are free, and the
/// rest are priced by tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterRate {
    pub meter_id: String,
    #[serde(default)]
    pub included_quantity: Decimal,
    /// Ascending by `from`; the first starts at 0.
    pub tiers: Vec<Tier>,
}

/// From `from` billable units of the period on (after the included quantity), each unit costs
/// `unit_price`, until the next tier starts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tier {
    pub from: Decimal,
    pub unit_price: Decimal,
}

/// A percentage off everything a tenant uses over `[effective_from, effective_to)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Discount {
    pub subscription_id: SubscriptionId,
    pub percent: Decimal,
    #[serde(deserialize_with = "strict_time")]
    pub effective_from: DateTime<Utc>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "strict_optional_time"
    )]
    pub effective_to: Option<DateTime<Utc>>,
}

/// A rate-card time from JSON, held to the parser every outside time meets
/// ([`crate::time::parse_time_input`]); chrono's own would take `2026-01-01 00:00:00` or drop
/// fraction digits past nine.
fn strict_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    crate::time::parse_time_input(&text)
        .map(|t| t.to_utc())
        .map_err(serde::de::Error::custom)
}

fn strict_optional_time<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|text| {
            crate::time::parse_time_input(&text)
                .map(|t| t.to_utc())
                .map_err(serde::de::Error::custom)
        })
        .transpose()
}

/// A valid rate card.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateCard {
    currency: Currency,
    versions: Vec<RateVersion>,
    discounts: Vec<Discount>,
}

/// Why a rate card was refused, and where: `versions[2].rates[0].tiers[1]`, or a CSV row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct RateCardError {
    pub location: String,
    pub message: String,
}

impl RateCardError {
    pub fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            message: message.into(),
        }
    }
}

fn covers(from: DateTime<Utc>, to: Option<DateTime<Utc>>, t: DateTime<Utc>) -> bool {
    from <= t && to.is_none_or(|to| t < to)
}

fn overlap(
    a: (DateTime<Utc>, Option<DateTime<Utc>>),
    b: (DateTime<Utc>, Option<DateTime<Utc>>),
) -> bool {
    a.1.is_none_or(|end| b.0 < end) && b.1.is_none_or(|end| a.0 < end)
}

fn check_period(
    location: &str,
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
) -> Result<(), RateCardError> {
    use crate::time::{EARLIEST_YEAR, LATEST_YEAR};
    for t in std::iter::once(from).chain(to) {
        if !(EARLIEST_YEAR..=LATEST_YEAR).contains(&t.year()) {
            return Err(RateCardError::new(
                location,
                format!("{t} is outside the years {EARLIEST_YEAR} to {LATEST_YEAR}"),
            ));
        }
    }
    match to {
        Some(to) if to <= from => Err(RateCardError::new(
            location,
            format!("effectiveTo {to} is not after effectiveFrom {from}"),
        )),
        _ => Ok(()),
    }
}

impl RateCard {
    /// Checks a draft and canonicalizes its meter IDs; the error names the first bad entry.
    pub fn parse(draft: RateCardDraft) -> Result<Self, RateCardError> {
        let currency =
            Currency::parse(&draft.currency).map_err(|e| RateCardError::new("currency", e))?;
        let mut versions = draft.versions;
        if versions.is_empty() {
            return Err(RateCardError::new(
                "versions",
                "a rate card needs at least one version",
            ));
        }
        for (v, version) in versions.iter_mut().enumerate() {
            let at = format!("versions[{v}]");
            check_period(&at, version.effective_from, version.effective_to)?;
            if let (Some(sub), Some(offer)) = (&version.subscription_id, &version.offer) {
                return Err(RateCardError::new(
                    at,
                    format!(
                        "a version prices one subscription ({sub}) or one offer ({offer}), not both"
                    ),
                ));
            }
            let mut meters = HashSet::new();
            for (r, rate) in version.rates.iter_mut().enumerate() {
                let at = format!("{at}.rates[{r}]");
                rate.meter_id = canonical_meter_id(&rate.meter_id);
                if rate.meter_id.is_empty() {
                    return Err(RateCardError::new(at, "meterId is empty"));
                }
                if !meters.insert(rate.meter_id.clone()) {
                    return Err(RateCardError::new(
                        at,
                        format!("meter {} is priced twice in this version", rate.meter_id),
                    ));
                }
                check_rate(&at, rate)?;
            }
        }
        for (a, first) in versions.iter().enumerate() {
            for (b, second) in versions.iter().enumerate().skip(a + 1) {
                if first.scope() == second.scope()
                    && overlap(
                        (first.effective_from, first.effective_to),
                        (second.effective_from, second.effective_to),
                    )
                {
                    let scope = match first.scope() {
                        PriceScope::Subscription(sub) => format!("subscription {sub}'s prices"),
                        PriceScope::Offer(offer) => format!("offer {offer}'s prices"),
                        PriceScope::Card => "the card's prices".to_owned(),
                    };
                    return Err(RateCardError::new(
                        format!("versions[{b}]"),
                        format!("overlaps versions[{a}] ({scope} may have one version in effect at a time)"),
                    ));
                }
            }
        }
        for (d, discount) in draft.discounts.iter().enumerate() {
            let at = format!("discounts[{d}]");
            check_period(&at, discount.effective_from, discount.effective_to)?;
            if discount.percent < Decimal::ZERO || discount.percent > Decimal::ONE_HUNDRED {
                return Err(RateCardError::new(
                    at,
                    format!("percent {} is not between 0 and 100", discount.percent),
                ));
            }
            if let Some(e) = draft.discounts[..d].iter().position(|earlier| {
                earlier.subscription_id == discount.subscription_id
                    && overlap(
                        (earlier.effective_from, earlier.effective_to),
                        (discount.effective_from, discount.effective_to),
                    )
            }) {
                return Err(RateCardError::new(
                    at,
                    format!("overlaps discounts[{e}] for the same subscription"),
                ));
            }
        }
        versions.sort_by(|a, b| (a.scope(), a.effective_from).cmp(&(b.scope(), b.effective_from)));
        Ok(Self {
            currency,
            versions,
            discounts: draft.discounts,
        })
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn versions(&self) -> &[RateVersion] {
        &self.versions
    }

    pub fn discounts(&self) -> &[Discount] {
        &self.discounts
    }

    /// The draft this card was parsed from (meter IDs canonical, versions sorted).
    pub fn to_draft(&self) -> RateCardDraft {
        RateCardDraft {
            currency: self.currency.code().to_owned(),
            versions: self.versions.clone(),
            discounts: self.discounts.clone(),
        }
    }

    /// The part of the card that applies to `subscriptions` on `offers`: the prices for every
    /// tenant, their offers' prices, and their own prices and discounts (what a tenant may see of
    /// it).
    pub fn for_subscriptions(
        &self,
        subscriptions: &[SubscriptionId],
        offers: &[CatalogName],
    ) -> Self {
        let mine = |s: &SubscriptionId| subscriptions.contains(s);
        Self {
            currency: self.currency,
            versions: self
                .versions
                .iter()
                .filter(|v| match v.scope() {
                    PriceScope::Card => true,
                    PriceScope::Offer(offer) => offers.contains(offer),
                    PriceScope::Subscription(sub) => mine(sub),
                })
                .cloned()
                .collect(),
            discounts: self
                .discounts
                .iter()
                .filter(|d| mine(&d.subscription_id))
                .cloned()
                .collect(),
        }
    }

    /// The price of `meter_id` (canonical) for `subscription` (on `offer`, as the tenant
    /// directory has it) at `t`: the tenant's own version in effect if it lists the meter, else
    /// its offer's if that lists it, else the card's. Also returns the version's start, which
    /// tells apart lines priced by different versions.
    pub fn rate_at(
        &self,
        subscription: &SubscriptionId,
        offer: Option<&CatalogName>,
        meter_id: &str,
        t: DateTime<Utc>,
    ) -> Option<(&MeterRate, DateTime<Utc>)> {
        let in_scope = |scope: PriceScope<'_>| {
            self.versions
                .iter()
                .filter(|v| v.scope() == scope)
                .find(|v| covers(v.effective_from, v.effective_to, t))
                .and_then(|v| {
                    v.rates
                        .iter()
                        .find(|r| r.meter_id == meter_id)
                        .map(|r| (r, v.effective_from))
                })
        };
        in_scope(PriceScope::Subscription(subscription))
            .or_else(|| offer.and_then(|offer| in_scope(PriceScope::Offer(offer))))
            .or_else(|| in_scope(PriceScope::Card))
    }

    /// The discount percentage `subscription` has at `t` (0 when none).
    pub fn discount_at(&self, subscription: &SubscriptionId, t: DateTime<Utc>) -> Decimal {
        self.discounts
            .iter()
            .find(|d| {
                &d.subscription_id == subscription && covers(d.effective_from, d.effective_to, t)
            })
            .map_or(Decimal::ZERO, |d| d.percent)
    }
}

/// Whose prices a version holds. Ordered card, offers, subscriptions: the order a card lists
/// its versions in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PriceScope<'a> {
    Card,
    Offer(&'a CatalogName),
    Subscription(&'a SubscriptionId),
}

impl RateVersion {
    /// Whose prices these are ([`RateCard::parse`] refuses a version with both a subscription
    /// and an offer).
    pub fn scope(&self) -> PriceScope<'_> {
        match (&self.subscription_id, &self.offer) {
            (Some(sub), _) => PriceScope::Subscription(sub),
            (None, Some(offer)) => PriceScope::Offer(offer),
            (None, None) => PriceScope::Card,
        }
    }
}

fn check_rate(at: &str, rate: &MeterRate) -> Result<(), RateCardError> {
    if rate.included_quantity < Decimal::ZERO {
        return Err(RateCardError::new(
            at,
            format!("includedQuantity {} is negative", rate.included_quantity),
        ));
    }
    if rate.tiers.is_empty() {
        return Err(RateCardError::new(
            at,
            "a meter's rate needs at least one tier",
        ));
    }
    for (t, tier) in rate.tiers.iter().enumerate() {
        let at = format!("{at}.tiers[{t}]");
        if tier.unit_price < Decimal::ZERO {
            return Err(RateCardError::new(
                at,
                format!("unitPrice {} is negative", tier.unit_price),
            ));
        }
        if tier.unit_price > Decimal::from(MAX_UNIT_PRICE) {
            return Err(RateCardError::new(
                at,
                format!("unitPrice {} is above {MAX_UNIT_PRICE}", tier.unit_price),
            ));
        }
        let expected_first = t == 0 && !tier.from.is_zero();
        if expected_first {
            return Err(RateCardError::new(
                at,
                format!("the first tier must start at 0, not {}", tier.from),
            ));
        }
        if t > 0 && tier.from <= rate.tiers[t - 1].from {
            return Err(RateCardError::new(
                at,
                format!(
                    "tier starts must increase: {} follows {}",
                    tier.from,
                    rate.tiers[t - 1].from
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn rate(meter: &str, price: &str) -> MeterRate {
        MeterRate {
            meter_id: meter.into(),
            included_quantity: Decimal::ZERO,
            tiers: vec![Tier {
                from: Decimal::ZERO,
                unit_price: d(price),
            }],
        }
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

    fn draft(versions: Vec<RateVersion>) -> RateCardDraft {
        RateCardDraft {
            currency: "usd".into(),
            versions,
            discounts: Vec::new(),
        }
    }

    /// Canonical (catalog) forms, as the store answers them.
    const VM: &str = "6DAB500F-A4FD-49C4-956D-229BB9C8C793";

    #[test]
    fn overlapping_versions_are_refused_naming_the_later_one() {
        let error = RateCard::parse(draft(vec![
            version(
                "2026-01-01T00:00:00Z",
                Some("2026-07-01T00:00:00Z"),
                vec![rate(VM, "1")],
            ),
            version("2026-06-01T00:00:00Z", None, vec![rate(VM, "2")]),
        ]))
        .unwrap_err();
        assert_eq!(error.location, "versions[1]");
        assert!(error.message.contains("overlaps versions[0]"), "{error}");
    }

    #[test]
    fn back_to_back_versions_and_tenant_versions_may_share_time() {
        let mut tenant = version("2026-01-01T00:00:00Z", None, vec![rate(VM, "0.5")]);
        tenant.subscription_id =
            Some(SubscriptionId::parse("11111111-1111-4111-8111-111111111111").unwrap());
        let card = RateCard::parse(draft(vec![
            version(
                "2026-01-01T00:00:00Z",
                Some("2026-07-01T00:00:00Z"),
                vec![rate(VM, "1")],
            ),
            version("2026-07-01T00:00:00Z", None, vec![rate(VM, "2")]),
            tenant,
        ]))
        .unwrap();
        assert_eq!(card.currency().code(), "USD");
    }

    #[test]
    fn negative_prices_name_their_tier() {
        let mut bad = rate(VM, "1");
        bad.tiers.push(Tier {
            from: d("100"),
            unit_price: d("-0.5"),
        });
        let error = RateCard::parse(draft(vec![version(
            "2026-01-01T00:00:00Z",
            None,
            vec![bad],
        )]))
        .unwrap_err();
        assert_eq!(error.location, "versions[0].rates[0].tiers[1]");
        assert!(error.message.contains("negative"));
    }

    #[test]
    fn unknown_currencies_and_malformed_tiers_are_refused() {
        let mut unknown = draft(vec![version(
            "2026-01-01T00:00:00Z",
            None,
            vec![rate(VM, "1")],
        )]);
        unknown.currency = "DOGE".into();
        assert_eq!(RateCard::parse(unknown).unwrap_err().location, "currency");

        let mut late_start = rate(VM, "1");
        late_start.tiers[0].from = d("10");
        let error = RateCard::parse(draft(vec![version(
            "2026-01-01T00:00:00Z",
            None,
            vec![late_start],
        )]))
        .unwrap_err();
        assert!(error.message.contains("start at 0"), "{error}");

        let mut unordered = rate(VM, "1");
        unordered.tiers.push(Tier {
            from: Decimal::ZERO,
            unit_price: d("1"),
        });
        let error = RateCard::parse(draft(vec![version(
            "2026-01-01T00:00:00Z",
            None,
            vec![unordered],
        )]))
        .unwrap_err();
        assert!(error.message.contains("must increase"), "{error}");

        let error = RateCard::parse(draft(vec![version(
            "2026-01-01T00:00:00Z",
            Some("2026-01-01T00:00:00Z"),
            vec![rate(VM, "1")],
        )]))
        .unwrap_err();
        assert!(error.message.contains("not after"), "{error}");
    }

    #[test]
    fn a_meter_priced_twice_in_one_version_is_refused_whatever_its_spelling() {
        let error = RateCard::parse(draft(vec![version(
            "2026-01-01T00:00:00Z",
            None,
            vec![rate(VM, "1"), rate("6dab500fa4fd49c4956d229bb9c8c793", "2")],
        )]))
        .unwrap_err();
        assert_eq!(error.location, "versions[0].rates[1]");
    }

    #[test]
    fn tenant_prices_win_for_the_meters_they_list() {
        let sub = SubscriptionId::parse("11111111-1111-4111-8111-111111111111").unwrap();
        let other = SubscriptionId::parse("22222222-2222-4222-8222-222222222222").unwrap();
        let disk = "B5C15376-6C94-4FDD-B655-1A69D138ACA3";
        let mut tenant = version("2026-01-01T00:00:00Z", None, vec![rate(VM, "0.5")]);
        tenant.subscription_id = Some(sub.clone());
        let card = RateCard::parse(draft(vec![
            version(
                "2026-01-01T00:00:00Z",
                None,
                vec![rate(VM, "1"), rate(disk, "0.1")],
            ),
            tenant,
        ]))
        .unwrap();
        let t = at("2026-03-01T00:00:00Z");
        let price = |s: &SubscriptionId, m: &str| {
            card.rate_at(s, None, m, t).unwrap().0.tiers[0].unit_price
        };
        assert_eq!(price(&sub, VM), d("0.5"));
        assert_eq!(price(&sub, disk), d("0.1"));
        assert_eq!(price(&other, VM), d("1"));
        assert!(card
            .rate_at(&sub, None, VM, at("2025-12-31T23:00:00Z"))
            .is_none());
    }

    #[test]
    fn discounts_must_be_percentages_that_do_not_overlap() {
        let sub = SubscriptionId::parse("11111111-1111-4111-8111-111111111111").unwrap();
        let discount = |percent: &str, from: &str| Discount {
            subscription_id: sub.clone(),
            percent: d(percent),
            effective_from: at(from),
            effective_to: None,
        };
        let mut with = draft(vec![version(
            "2026-01-01T00:00:00Z",
            None,
            vec![rate(VM, "1")],
        )]);
        with.discounts = vec![discount("120", "2026-01-01T00:00:00Z")];
        assert_eq!(
            RateCard::parse(with.clone()).unwrap_err().location,
            "discounts[0]"
        );
        with.discounts = vec![
            discount("10", "2026-01-01T00:00:00Z"),
            discount("20", "2026-02-01T00:00:00Z"),
        ];
        let error = RateCard::parse(with).unwrap_err();
        assert_eq!(error.location, "discounts[1]");
    }

    #[test]
    fn an_offers_prices_sit_between_the_cards_and_a_tenants_own() {
        let sub = SubscriptionId::parse("11111111-1111-4111-8111-111111111111").unwrap();
        let other = SubscriptionId::parse("22222222-2222-4222-8222-222222222222").unwrap();
        let disk = "B5C15376-6C94-4FDD-B655-1A69D138ACA3";
        let premium = CatalogName::parse("Premium").unwrap();
        let basic = CatalogName::parse("Basic").unwrap();
        let mut offer = version(
            "2026-01-01T00:00:00Z",
            None,
            vec![rate(VM, "0.8"), rate(disk, "0.05")],
        );
        offer.offer = Some(premium.clone());
        let mut own = version("2026-01-01T00:00:00Z", None, vec![rate(VM, "0.5")]);
        own.subscription_id = Some(sub.clone());
        let card = RateCard::parse(draft(vec![
            own,
            offer,
            version(
                "2026-01-01T00:00:00Z",
                None,
                vec![rate(VM, "1"), rate(disk, "0.1")],
            ),
        ]))
        .unwrap();
        let t = at("2026-03-01T00:00:00Z");
        let price = |s: &SubscriptionId, o: Option<&CatalogName>, m: &str| {
            card.rate_at(s, o, m, t).unwrap().0.tiers[0].unit_price
        };
        assert_eq!(price(&sub, Some(&premium), VM), d("0.5"), "own wins");
        assert_eq!(price(&sub, Some(&premium), disk), d("0.05"), "offer next");
        assert_eq!(price(&other, Some(&premium), VM), d("0.8"));
        assert_eq!(price(&other, Some(&basic), VM), d("1"), "another offer");
        assert_eq!(price(&other, None, disk), d("0.1"), "no offer");
        assert_eq!(
            card.versions()
                .iter()
                .map(RateVersion::scope)
                .collect::<Vec<_>>(),
            [
                PriceScope::Card,
                PriceScope::Offer(&premium),
                PriceScope::Subscription(&sub)
            ],
            "listed card, offers, subscriptions"
        );
        let tenant_view = card.for_subscriptions(std::slice::from_ref(&other), &[basic]);
        assert_eq!(
            tenant_view.versions().len(),
            1,
            "neither Premium's nor another's"
        );
    }

    #[test]
    fn offer_versions_are_refused_when_they_overlap_or_name_a_subscription_too() {
        let offer = |from: &str| {
            let mut v = version(from, None, vec![rate(VM, "1")]);
            v.offer = Some(CatalogName::parse("Standard").unwrap());
            v
        };
        let error = RateCard::parse(draft(vec![
            offer("2026-01-01T00:00:00Z"),
            offer("2026-02-01T00:00:00Z"),
        ]))
        .unwrap_err();
        assert_eq!(error.location, "versions[1]");
        assert!(error.message.contains("offer Standard's prices"), "{error}");

        let mut both = offer("2026-01-01T00:00:00Z");
        both.subscription_id =
            Some(SubscriptionId::parse("11111111-1111-4111-8111-111111111111").unwrap());
        let error = RateCard::parse(draft(vec![both])).unwrap_err();
        assert!(error.message.contains("not both"), "{error}");

        let json = r#"{"currency":"USD","versions":[{"offer":"no spaces allowed",
            "effectiveFrom":"2026-01-01T00:00:00Z","rates":[]}]}"#;
        let refused = serde_json::from_str::<RateCardDraft>(json).unwrap_err();
        assert!(refused.to_string().contains("is not a name"), "{refused}");
    }
}
