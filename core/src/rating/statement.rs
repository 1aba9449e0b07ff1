//! Chargeback statements: a billing period's priced usage, grouped by subscription, by the
//! subscription's offer or plans in the tenant directory, or by the value of a tag (Department,
//! CostCenter, any key), with subtotals and a total.
//!
//! Pricing always happens per subscription ([`price_period`]): the subscription is what a tenant
//! is billed for, so its included quantities and tiers count once. Grouped by a tag, each of a
//! subscription's lines is shared out among the tag's values in proportion to how much of that
//! meter the resources carrying each value used at the line's price (its version and discount). Shared amounts are cut to the
//! currency's minor unit and the leftover minor units go to the largest remainders, so the
//! groups add up exactly to the subscriptions' totals. Usage of resources without the tag goes
//! to a group with no value.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::card::RateCard;
use super::money::Currency;
use super::period::BillingPeriod;
use super::price::{checked_sum, price_period, LinePricing, PricedLine, PricingError, UsageHour};
use crate::csv::write_csv_record;
use crate::directory::Directory;
use crate::meter::catalog;
use crate::SubscriptionId;

/// What a statement's groups are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "key")]
pub enum GroupBy {
    Subscription,
    /// The value of this tag key on the resources that used the meters.
    Tag(String),
    /// The subscription's offer in the tenant directory.
    Offer,
    /// The subscription's plans in the tenant directory, as one value
    /// ([`Directory::plans_label`]): each subscription goes whole to one group.
    Plan,
}

impl GroupBy {
    /// Parses `subscription`, `offer`, `plan` or `tag:KEY` (as the CLI and the API take it).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        for fixed in [Self::Subscription, Self::Offer, Self::Plan] {
            if text.eq_ignore_ascii_case(&fixed.to_string()) {
                return Ok(fixed);
            }
        }
        match text.split_once(':') {
            Some((kind, key)) if kind.eq_ignore_ascii_case("tag") => {
                let key = key.trim();
                if key.is_empty()
                    || key.len() > 512
                    || key.contains(['"', '\\'])
                    || key.chars().any(char::is_control)
                {
                    Err(
                        "a tag key is 1 to 512 characters without \", \\ or control characters: \
                         tag:Department"
                            .to_owned(),
                    )
                } else {
                    Ok(Self::Tag(key.to_owned()))
                }
            }
            _ => Err(format!(
                "'{text}' is not a grouping: use subscription, offer, plan or tag:KEY (such as tag:Department)"
            )),
        }
    }

    /// The tag key to read from usage, if any.
    pub fn tag_key(&self) -> Option<&str> {
        match self {
            Self::Subscription | Self::Offer | Self::Plan => None,
            Self::Tag(key) => Some(key),
        }
    }
}

impl std::fmt::Display for GroupBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Subscription => f.write_str("subscription"),
            Self::Offer => f.write_str("offer"),
            Self::Plan => f.write_str("plan"),
            Self::Tag(key) => write!(f, "tag:{key}"),
        }
    }
}

/// Usage of one meter by one subscription, from resources with one value of the grouping tag
/// (`None`: without the tag, or not grouping by a tag). `usage.usage_start` is an hour's
/// start, or the start of a span of [`price_spans`] whose hours it sums.
#[derive(Debug, Clone, PartialEq)]
pub struct TaggedUsage {
    pub usage: UsageHour,
    pub tag_value: Option<String>,
}

/// The starts of the spans of `period` over which no price or discount of `card` changes: the
/// period's start, then every version's and discount's start or end inside it. Pricing a span's
/// total at its start gives the same lines as pricing its hours one by one (tiers and included
/// quantities count the total, whatever the order within), so a store can sum each span in one
/// pass instead of sending every hour.
pub fn price_spans(card: &RateCard, period: &BillingPeriod) -> Vec<DateTime<Utc>> {
    let edges = card
        .versions()
        .iter()
        .flat_map(|v| [Some(v.effective_from), v.effective_to])
        .chain(
            card.discounts()
                .iter()
                .flat_map(|d| [Some(d.effective_from), d.effective_to]),
        )
        .flatten()
        .filter(|t| period.start < *t && *t < period.end);
    let mut starts: Vec<DateTime<Utc>> = std::iter::once(period.start).chain(edges).collect();
    starts.sort();
    starts.dedup();
    starts
}

/// One statement line: a priced line with the meter's name and unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatementLine {
    pub subscription_id: SubscriptionId,
    /// The subscription's display name and owner as the tenant directory had them when the
    /// statement was computed (see [`Statement::name_subscriptions`]).
    #[serde(default)]
    pub subscription_name: String,
    #[serde(default)]
    pub subscription_owner: String,
    pub meter_id: String,
    pub meter_name: String,
    pub unit: String,
    pub pricing: LinePricing,
    pub unit_price: Option<Decimal>,
    pub discount_percent: Decimal,
    pub quantity: Decimal,
    /// `None` when unpriced.
    pub amount: Option<Decimal>,
}

/// The lines of one subscription or one tag value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatementGroup {
    /// The subscription ID or the tag value; `None` for usage without the tag.
    pub key: Option<String>,
    pub subtotal: Decimal,
    /// Lines with usage no version of the card prices.
    pub unpriced_lines: usize,
    pub lines: Vec<StatementLine>,
}

/// A billing period's chargeback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    pub period: BillingPeriod,
    pub time_zone: String,
    pub group_by: GroupBy,
    pub currency: Currency,
    pub total: Decimal,
    pub groups: Vec<StatementGroup>,
    pub computed_at: DateTime<Utc>,
    /// Set when the period is closed: this is its frozen statement.
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
}

impl Statement {
    /// The subscriptions of the statement, once each.
    pub fn subscriptions(&self) -> Vec<SubscriptionId> {
        let mut ids: Vec<SubscriptionId> = self
            .groups
            .iter()
            .flat_map(|g| g.lines.iter().map(|l| l.subscription_id.clone()))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Names the lines not named yet from `directory` (a statement frozen with names keeps
    /// them): a subscription's display name and owner, or that the directory does not know it.
    pub fn name_subscriptions(&mut self, directory: &Directory) {
        for line in self.groups.iter_mut().flat_map(|g| g.lines.iter_mut()) {
            if !line.subscription_name.is_empty() {
                continue;
            }
            let entry = directory.get(&line.subscription_id);
            line.subscription_name = crate::directory::shown_name(&line.subscription_id, entry);
            line.subscription_owner = entry.map(|e| e.owner.clone()).unwrap_or_default();
        }
    }

    /// The part of the statement about `subscriptions` (a tenant's view of an operator's
    /// statement): their lines only, subtotals and total added up again. A part of amounts that
    /// were added up without overflow cannot overflow: amounts are never negative.
    pub fn for_subscriptions(mut self, subscriptions: &[SubscriptionId]) -> Self {
        for group in &mut self.groups {
            group
                .lines
                .retain(|l| subscriptions.contains(&l.subscription_id));
            group.subtotal = group.lines.iter().filter_map(|l| l.amount).sum();
            group.unpriced_lines = group.lines.iter().filter(|l| l.amount.is_none()).count();
        }
        self.groups.retain(|g| !g.lines.is_empty());
        self.total = self.groups.iter().map(|g| g.subtotal).sum();
        self
    }
}

/// Prices the period's usage with `card` (offers' prices by the subscriptions' offers in
/// `directory`), groups it, and names its subscriptions from `directory`.
pub fn build_statement(
    card: &RateCard,
    directory: &Directory,
    period: BillingPeriod,
    time_zone: &str,
    group_by: GroupBy,
    usage: Vec<TaggedUsage>,
    computed_at: DateTime<Utc>,
) -> Result<Statement, PricingError> {
    let currency = card.currency();
    // How much each tag value used of each subscription's meter, per price that applied: a
    // line is shared by the use made at its price.
    let mut shares: BTreeMap<ShareKey, BTreeMap<Option<String>, Decimal>> = BTreeMap::new();
    let mut hours: BTreeMap<(SubscriptionId, String, DateTime<Utc>), Decimal> = BTreeMap::new();
    for TaggedUsage {
        usage: hour,
        tag_value,
    } in usage
    {
        if !period.contains(hour.usage_start) {
            continue;
        }
        if matches!(group_by, GroupBy::Tag(_)) {
            let (subscription, meter, t) =
                (&hour.subscription_id, &hour.meter_id, hour.usage_start);
            let version_from = card
                .rate_at(subscription, directory.offer(subscription), meter, t)
                .map(|(_, from)| from);
            let key = ShareKey {
                subscription_id: subscription.clone(),
                meter_id: meter.clone(),
                version_from,
                // Unpriced lines carry no discount.
                discount_percent: match version_from {
                    Some(_) => card.discount_at(subscription, t),
                    None => Decimal::ZERO,
                },
            };
            let overflow = || PricingError::meter(&hour.subscription_id, &hour.meter_id);
            let share = shares.entry(key).or_default().entry(tag_value).or_default();
            *share = share.checked_add(hour.quantity).ok_or_else(overflow)?;
        }
        match hours.entry((hour.subscription_id, hour.meter_id, hour.usage_start)) {
            Entry::Vacant(v) => {
                v.insert(hour.quantity);
            }
            Entry::Occupied(mut o) => {
                let (subscription, meter, _) = o.key();
                let sum = o
                    .get()
                    .checked_add(hour.quantity)
                    .ok_or_else(|| PricingError::meter(subscription, meter))?;
                *o.get_mut() = sum;
            }
        }
    }
    let hours = hours
        .into_iter()
        .map(
            |((subscription_id, meter_id, usage_start), quantity)| UsageHour {
                subscription_id,
                meter_id,
                usage_start,
                quantity,
            },
        )
        .collect();
    let priced = price_period(card, directory, hours)?;
    let mut groups: BTreeMap<Option<String>, Vec<StatementLine>> = BTreeMap::new();
    for line in priced {
        // Each subscription goes whole to one group, but by tag.
        let whole = match group_by {
            GroupBy::Subscription => Some(Some(line.subscription_id.to_string())),
            GroupBy::Offer => Some(
                directory
                    .offer(&line.subscription_id)
                    .map(|o| o.to_string()),
            ),
            GroupBy::Plan => Some(directory.plans_label(&line.subscription_id)),
            GroupBy::Tag(_) => None,
        };
        if let Some(key) = whole {
            groups
                .entry(key)
                .or_default()
                .push(describe(&line, line.quantity, line.amount));
            continue;
        }
        match group_by {
            GroupBy::Subscription | GroupBy::Offer | GroupBy::Plan => {}
            GroupBy::Tag(_) => {
                let overflow = || PricingError::meter(&line.subscription_id, &line.meter_id);
                let used = use_at_price(&shares, &line).ok_or_else(overflow)?;
                for (value, quantity, amount) in
                    share_out(&line, &used, currency).ok_or_else(overflow)?
                {
                    groups
                        .entry(value)
                        .or_default()
                        .push(describe(&line, quantity, amount));
                }
            }
        }
    }
    let groups = groups
        .into_iter()
        .map(|(key, lines)| {
            let subtotal = checked_sum(lines.iter().filter_map(|l| l.amount.as_ref()))
                .ok_or_else(|| PricingError(format!("the subtotal of {key:?}")))?;
            Ok(StatementGroup {
                key,
                subtotal,
                unpriced_lines: lines.iter().filter(|l| l.amount.is_none()).count(),
                lines,
            })
        })
        .collect::<Result<Vec<_>, PricingError>>()?;
    let mut statement = Statement {
        total: checked_sum(groups.iter().map(|g| &g.subtotal))
            .ok_or_else(|| PricingError("the statement's total".into()))?,
        period,
        time_zone: time_zone.to_owned(),
        group_by,
        currency,
        groups,
        computed_at,
        closed_at: None,
    };
    statement.name_subscriptions(directory);
    Ok(statement)
}

/// Whose use a line's units were: a subscription's meter at one version and discount.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ShareKey {
    subscription_id: SubscriptionId,
    meter_id: String,
    version_from: Option<DateTime<Utc>>,
    discount_percent: Decimal,
}

/// Each tag value's use behind `line`: at the line's version and discount. Included units are
/// listed without a discount, so their line counts the version's use under any discount.
/// `None` when the use leaves the decimal range.
fn use_at_price(
    shares: &BTreeMap<ShareKey, BTreeMap<Option<String>, Decimal>>,
    line: &PricedLine,
) -> Option<BTreeMap<Option<String>, Decimal>> {
    let mut used: BTreeMap<Option<String>, Decimal> = BTreeMap::new();
    let first = ShareKey {
        subscription_id: line.subscription_id.clone(),
        meter_id: line.meter_id.clone(),
        version_from: line.version_from,
        discount_percent: Decimal::MIN,
    };
    let same_version = shares.range(first..).take_while(|(key, _)| {
        key.subscription_id == line.subscription_id
            && key.meter_id == line.meter_id
            && key.version_from == line.version_from
    });
    for (key, values) in same_version {
        if line.pricing == LinePricing::Included || key.discount_percent == line.discount_percent {
            for (value, quantity) in values {
                let sum = used.entry(value.clone()).or_default();
                *sum = sum.checked_add(*quantity)?;
            }
        }
    }
    Some(used)
}

fn describe(line: &PricedLine, quantity: Decimal, amount: Option<Decimal>) -> StatementLine {
    let meter = catalog().describe(&line.meter_id);
    StatementLine {
        subscription_id: line.subscription_id.clone(),
        subscription_name: String::new(),
        subscription_owner: String::new(),
        meter_id: line.meter_id.clone(),
        meter_name: meter.name,
        unit: meter.unit,
        pricing: line.pricing,
        unit_price: line.unit_price,
        discount_percent: line.discount_percent,
        quantity,
        amount,
    }
}

/// Quantities are shared to this many decimal places.
const SHARED_QUANTITY_DP: u32 = 6;

/// A tag value's share of a line: `(value, quantity, amount)`.
type Share = (Option<String>, Decimal, Option<Decimal>);

/// Shares a line out among tag values by their use of its meter, amounts adding up exactly to
/// the line's (largest remainder, in minor units). `None` when a number leaves the decimal range.
fn share_out(
    line: &PricedLine,
    used: &BTreeMap<Option<String>, Decimal>,
    currency: Currency,
) -> Option<Vec<Share>> {
    let total = checked_sum(used.values())?;
    if used.len() <= 1 || total.is_zero() {
        // One value (or no measurable use at all): it takes the whole line.
        let value = used.keys().next().cloned().flatten();
        return Some(vec![(value, line.quantity, line.amount)]);
    }
    let fraction = |q: &Decimal| q.checked_div(total);
    let quantities = used
        .iter()
        .map(|(value, q)| {
            let quantity = line
                .quantity
                .checked_mul(fraction(q)?)?
                .round_dp(SHARED_QUANTITY_DP)
                .normalize();
            Some((value.clone(), quantity))
        })
        .collect::<Option<Vec<_>>>()?;
    let Some(amount) = line.amount else {
        return Some(quantities.into_iter().map(|(v, q)| (v, q, None)).collect());
    };
    let unit = Decimal::new(1, currency.minor_units());
    let minor = amount.checked_div(unit)?;
    let exact = used
        .values()
        .map(|q| minor.checked_mul(fraction(q)?))
        .collect::<Option<Vec<Decimal>>>()?;
    let mut whole: Vec<Decimal> = exact.iter().map(|e| e.trunc()).collect();
    let mut left = minor.checked_sub(checked_sum(&whole)?)?;
    let mut order: Vec<usize> = (0..exact.len()).collect();
    // Largest remainder first; ties keep the values' order, so the result is deterministic.
    order.sort_by(|&a, &b| (exact[b] - whole[b]).cmp(&(exact[a] - whole[a])));
    for i in order {
        if left < Decimal::ONE {
            break;
        }
        whole[i] += Decimal::ONE;
        left -= Decimal::ONE;
    }
    quantities
        .into_iter()
        .zip(whole)
        .map(|((value, quantity), minor)| {
            // Written with the currency's minor units, as every other amount is ("0.20").
            let mut amount = minor.checked_mul(unit)?;
            amount.rescale(currency.minor_units());
            Some((value, quantity, Some(amount)))
        })
        .collect()
}

/// How one line changed between two runs of a statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineChange {
    pub group: Option<String>,
    pub subscription_id: SubscriptionId,
    pub meter_id: String,
    pub meter_name: String,
    pub pricing: LinePricing,
    pub unit_price: Option<Decimal>,
    pub discount_percent: Decimal,
    /// `None`: the line is new.
    pub was_quantity: Option<Decimal>,
    pub was_amount: Option<Decimal>,
    /// `None`: the line is gone.
    pub quantity: Option<Decimal>,
    pub amount: Option<Decimal>,
}

/// What changed from `old` to `new` (late usage, corrections, new prices): every line added,
/// removed or with another quantity or amount, ordered by group and line.
pub fn statement_changes(old: &Statement, new: &Statement) -> Vec<LineChange> {
    type Key = (
        Option<String>,
        SubscriptionId,
        String,
        LinePricing,
        Option<Decimal>,
        Decimal,
    );
    let lines = |s: &Statement| -> BTreeMap<Key, StatementLine> {
        s.groups
            .iter()
            .flat_map(|g| {
                g.lines.iter().map(|l| {
                    let key = (
                        g.key.clone(),
                        l.subscription_id.clone(),
                        l.meter_id.clone(),
                        l.pricing,
                        l.unit_price,
                        l.discount_percent,
                    );
                    (key, l.clone())
                })
            })
            .collect()
    };
    let (before, after) = (lines(old), lines(new));
    let keys: std::collections::BTreeSet<&Key> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let (was, is) = (before.get(key), after.get(key));
            let same = matches!((was, is), (Some(a), Some(b)) if a.quantity == b.quantity && a.amount == b.amount);
            if same {
                return None;
            }
            let line = is.or(was)?;
            Some(LineChange {
                group: key.0.clone(),
                subscription_id: line.subscription_id.clone(),
                meter_id: line.meter_id.clone(),
                meter_name: line.meter_name.clone(),
                pricing: line.pricing,
                unit_price: line.unit_price,
                discount_percent: line.discount_percent,
                was_quantity: was.map(|l| l.quantity),
                was_amount: was.and_then(|l| l.amount),
                quantity: is.map(|l| l.quantity),
                amount: is.and_then(|l| l.amount),
            })
        })
        .collect()
}

/// The CSV header of statement lines.
pub const STATEMENT_CSV_COLUMNS: [&str; 15] = [
    "period",
    "group_by",
    "group",
    "subscription_id",
    "meter_id",
    "meter_name",
    "unit",
    "pricing",
    "unit_price",
    "discount_percent",
    "quantity",
    "currency",
    "amount",
    "subscription_name",
    "subscription_owner",
];

/// A statement as CSV: one row per line (unpriced lines have empty price and amount).
pub fn statement_csv(statement: &Statement) -> String {
    let mut out = String::new();
    write_csv_record(&mut out, &STATEMENT_CSV_COLUMNS);
    let text = |d: Option<Decimal>| d.map(|d| d.normalize().to_string()).unwrap_or_default();
    for group in &statement.groups {
        for line in &group.lines {
            write_csv_record(
                &mut out,
                &[
                    statement.period.label.clone(),
                    statement.group_by.to_string(),
                    group.key.clone().unwrap_or_default(),
                    line.subscription_id.to_string(),
                    line.meter_id.clone(),
                    line.meter_name.clone(),
                    line.unit.clone(),
                    pricing_label(line.pricing),
                    text(line.unit_price),
                    line.discount_percent.normalize().to_string(),
                    line.quantity.normalize().to_string(),
                    statement.currency.code().to_owned(),
                    text(line.amount),
                    line.subscription_name.clone(),
                    line.subscription_owner.clone(),
                ],
            );
        }
    }
    out
}

/// `unpriced`, `included` or `tier 1` (tiers counted from 1, as people read them).
pub fn pricing_label(pricing: LinePricing) -> String {
    match pricing {
        LinePricing::Unpriced => "unpriced".to_owned(),
        LinePricing::Included => "included".to_owned(),
        LinePricing::Tier(n) => format!("tier {}", n + 1),
    }
}

#[cfg(test)]
mod tests;
