use std::str::FromStr;

use chrono::{Duration, TimeZone};

use super::*;
use crate::directory::{CatalogName, Directory};
use crate::rating::csv::rate_card_from_csv;

/// Catalog meters: "Base VM Size Hours" (virtual core hours) and BlockBlobCapacity (GB x hours).
const VM: &str = "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5";
const BLOB: &str = "09F8879E-87E9-4305-A572-4B7BE209F857";
const SUB_A: &str = "11111111-1111-4111-8111-111111111111";
const SUB_B: &str = "22222222-2222-4222-8222-222222222222";

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn october() -> BillingPeriod {
    BillingPeriod::month(2026, 10, chrono_tz::UTC).unwrap()
}

/// VM hours at 0.10 from October; blob capacity is not priced.
fn card() -> RateCard {
    rate_card_from_csv(&format!(
        "kind,currency,effective_from,meter_id,included_quantity,tier_start,unit_price\n\
         price,USD,2026-10-01,{VM},0,0,0.10\n"
    ))
    .unwrap()
}

fn usage(sub: &str, meter: &str, hour: i64, quantity: &str, tag: Option<&str>) -> TaggedUsage {
    TaggedUsage {
        usage: UsageHour {
            subscription_id: SubscriptionId::parse(sub).unwrap(),
            meter_id: meter.to_owned(),
            usage_start: Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap()
                + Duration::hours(hour),
            quantity: d(quantity),
        },
        tag_value: tag.map(str::to_owned),
    }
}

fn computed_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
}

fn build(group_by: GroupBy, usage: Vec<TaggedUsage>) -> Statement {
    build_statement(
        &card(),
        &Directory::default(),
        october(),
        "UTC",
        group_by,
        usage,
        computed_at(),
    )
    .unwrap()
}

#[test]
fn by_subscription_each_tenant_gets_its_lines_subtotal_and_unpriced_usage() {
    // A: 3 hours x 1.5 vCPU = 4.5 x 0.10 = 0.45, plus 2 GB x hours with no price.
    // B: 10 vCPU hours = 1.00. Total 1.45.
    let statement = build(
        GroupBy::Subscription,
        vec![
            usage(SUB_A, VM, 0, "1.5", None),
            usage(SUB_A, VM, 1, "1.5", None),
            usage(SUB_A, VM, 2, "1.5", None),
            usage(SUB_A, BLOB, 0, "2", None),
            usage(SUB_B, VM, 5, "10", None),
        ],
    );
    assert_eq!(statement.total, d("1.45"));
    assert_eq!(statement.groups.len(), 2);
    let a = &statement.groups[0];
    assert_eq!(a.key.as_deref(), Some(SUB_A));
    assert_eq!(a.subtotal, d("0.45"));
    assert_eq!(a.unpriced_lines, 1);
    let lines: Vec<_> = a
        .lines
        .iter()
        .map(|l| (l.meter_name.as_str(), l.unit.as_str(), l.quantity, l.amount))
        .collect();
    assert_eq!(
        lines,
        [
            ("BlockBlobCapacity", "GB x hours", d("2"), None),
            (
                "Base VM Size Hours",
                "virtual core hours",
                d("4.5"),
                Some(d("0.45"))
            ),
        ]
    );
    assert_eq!(statement.groups[1].subtotal, d("1.00"));
}

#[test]
fn usage_outside_the_period_is_left_out() {
    let statement = build(
        GroupBy::Subscription,
        vec![
            usage(SUB_A, VM, -1, "7", None),
            usage(SUB_A, VM, 31 * 24, "7", None),
            usage(SUB_A, VM, 31 * 24 - 1, "1", None),
        ],
    );
    assert_eq!(statement.total, d("0.10"));
}

#[test]
fn by_tag_a_line_is_shared_by_use_and_the_cents_add_up() {
    // 4 vCPU hours at 0.10 = 0.40, used 2 by Finance, 1 by Sales and 1 by untagged resources:
    // 0.20, 0.10 and 0.10.
    let statement = build(
        GroupBy::Tag("Department".into()),
        vec![
            usage(SUB_A, VM, 0, "1", Some("Finance")),
            usage(SUB_A, VM, 0, "1", Some("Sales")),
            usage(SUB_A, VM, 0, "1", None),
            usage(SUB_A, VM, 1, "1", Some("Finance")),
        ],
    );
    let groups: Vec<_> = statement
        .groups
        .iter()
        .map(|g| (g.key.as_deref(), g.subtotal, g.lines[0].quantity))
        .collect();
    assert_eq!(
        groups,
        [
            (None, d("0.1"), d("1")),
            (Some("Finance"), d("0.2"), d("2")),
            (Some("Sales"), d("0.1"), d("1")),
        ]
    );
    assert_eq!(statement.total, d("0.40"));
    // Shared amounts are written in cents, as every other amount is.
    let written: Vec<String> = statement
        .groups
        .iter()
        .map(|g| g.subtotal.to_string())
        .collect();
    assert_eq!(written, ["0.10", "0.20", "0.10"]);
}

#[test]
fn by_tag_leftover_cents_go_to_the_largest_remainders() {
    // One vCPU hour at 0.10 used 0.66 by Finance and 0.34 by Sales: 6.6 and 3.4 cents. Cut to
    // whole cents that is 6 + 3; the cent left goes to Finance's larger remainder.
    let shared = |finance: &str, sales: &str| {
        let statement = build(
            GroupBy::Tag("Department".into()),
            vec![
                usage(SUB_A, VM, 0, finance, Some("Finance")),
                usage(SUB_A, VM, 0, sales, Some("Sales")),
            ],
        );
        assert_eq!(statement.total, d("0.10"));
        statement
            .groups
            .iter()
            .map(|g| g.subtotal)
            .collect::<Vec<_>>()
    };
    assert_eq!(shared("0.66", "0.34"), [d("0.07"), d("0.03")]);
    // 2.5 and 7.5 cents: tied remainders, the first value in order takes the cent.
    assert_eq!(shared("0.25", "0.75"), [d("0.03"), d("0.07")]);
}

#[test]
fn by_tag_tiers_count_over_the_whole_subscription() {
    // Two departments each use 600 GB x hours of a card whose first 1,000 cost 0.10 and the rest
    // 0.05: the subscription pays 100 + 10 = 110, shared 55 / 55, not 60 + 60.
    let card = rate_card_from_csv(&format!(
        "kind,currency,effective_from,meter_id,included_quantity,tier_start,unit_price\n\
         price,USD,2026-10-01,{BLOB},0,0,0.10\n\
         price,USD,2026-10-01,{BLOB},0,1000,0.05\n"
    ))
    .unwrap();
    let statement = build_statement(
        &card,
        &Directory::default(),
        october(),
        "UTC",
        GroupBy::Tag("CostCenter".into()),
        vec![
            usage(SUB_A, BLOB, 0, "600", Some("CC-1")),
            usage(SUB_A, BLOB, 1, "600", Some("CC-2")),
        ],
        computed_at(),
    )
    .unwrap();
    let subtotals: Vec<_> = statement.groups.iter().map(|g| g.subtotal).collect();
    assert_eq!(subtotals, [d("55"), d("55")]);
    assert_eq!(statement.total, d("110"));
}

#[test]
fn groupings_parse_and_print_back() {
    assert_eq!(GroupBy::parse("subscription"), Ok(GroupBy::Subscription));
    assert_eq!(
        GroupBy::parse("tag:Department"),
        Ok(GroupBy::Tag("Department".into()))
    );
    assert_eq!(
        GroupBy::Tag("CostCenter".into()).to_string(),
        "tag:CostCenter"
    );
    assert!(GroupBy::parse("tag:").is_err());
    assert!(GroupBy::parse("tag:\u{0}").is_err());
    assert!(GroupBy::parse("tag:Dep\nartment").is_err());
    assert!(GroupBy::parse("meter")
        .unwrap_err()
        .contains("plan or tag:KEY"));
}

#[test]
fn csv_has_one_row_per_line_field_by_field() {
    let statement = build(
        GroupBy::Subscription,
        vec![
            usage(SUB_A, VM, 0, "4.5", None),
            usage(SUB_A, BLOB, 0, "2", None),
        ],
    );
    let csv = statement_csv(&statement);
    let rows: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(rows[0], STATEMENT_CSV_COLUMNS.join(","));
    assert_eq!(
        rows[1],
        format!("2026-10,subscription,{SUB_A},{SUB_A},{BLOB},BlockBlobCapacity,GB x hours,unpriced,,0,2,USD,,Unknown subscription {SUB_A},")
    );
    assert_eq!(
        rows[2],
        format!("2026-10,subscription,{SUB_A},{SUB_A},{VM},Base VM Size Hours,virtual core hours,tier 1,0.1,0,4.5,USD,0.45,Unknown subscription {SUB_A},")
    );
    assert_eq!(rows[3], "");
    assert_eq!(rows.len(), 4);
}

#[test]
fn spans_break_where_a_price_or_discount_changes_inside_the_period() {
    let card = rate_card_from_csv(&format!(
        "kind,subscription_id,currency,effective_from,effective_to,meter_id,included_quantity,tier_start,unit_price,discount_percent\n\
         price,,USD,2026-01-01,2026-10-15,{VM},0,0,0.10,\n\
         price,,USD,2026-10-15,,{VM},0,0,0.20,\n\
         discount,{SUB_A},USD,2026-10-20T12:00:00Z,2026-12-01,,,,,5\n"
    ))
    .unwrap();
    let at = |d, h| Utc.with_ymd_and_hms(2026, 10, d, h, 0, 0).unwrap();
    assert_eq!(
        price_spans(&card, &october()),
        [at(1, 0), at(15, 0), at(20, 12)]
    );
    // A span's total prices as its hours would. One unit every 12 hours from 14 October:
    // 2 at 0.10 before the 15th, 11 at 0.20 before the discount, 7 at 0.20 less 5% after it.
    let hours: Vec<TaggedUsage> = (0..20)
        .map(|i| usage(SUB_A, VM, 13 * 24 + i * 12, "1", None))
        .collect();
    let by_hour = build_statement(
        &card,
        &Directory::default(),
        october(),
        "UTC",
        GroupBy::Subscription,
        hours.clone(),
        computed_at(),
    )
    .unwrap();
    let spans = price_spans(&card, &october());
    let mut totals: Vec<TaggedUsage> = Vec::new();
    for h in hours {
        let start = *spans
            .iter()
            .rev()
            .find(|s| **s <= h.usage.usage_start)
            .unwrap();
        match totals.iter_mut().find(|t| t.usage.usage_start == start) {
            Some(t) => t.usage.quantity += h.usage.quantity,
            None => totals.push(TaggedUsage {
                usage: UsageHour {
                    usage_start: start,
                    ..h.usage
                },
                tag_value: None,
            }),
        }
    }
    let by_span = build_statement(
        &card,
        &Directory::default(),
        october(),
        "UTC",
        GroupBy::Subscription,
        totals,
        computed_at(),
    )
    .unwrap();
    assert_eq!(by_span.groups, by_hour.groups);
    let amounts: Vec<_> = by_hour.groups[0].lines.iter().map(|l| l.amount).collect();
    assert_eq!(amounts, [Some(d("0.20")), Some(d("2.20")), Some(d("1.33"))]);
    assert_eq!(by_hour.total, d("3.73"));
}

#[test]
fn changes_list_lines_added_removed_and_changed_between_runs() {
    let first = build(
        GroupBy::Subscription,
        vec![
            usage(SUB_A, VM, 0, "4", None),
            usage(SUB_B, VM, 0, "1", None),
        ],
    );
    // Late usage for A, B corrected to nothing, new unpriced usage for A.
    let second = build(
        GroupBy::Subscription,
        vec![
            usage(SUB_A, VM, 0, "4", None),
            usage(SUB_A, VM, 1, "2", None),
            usage(SUB_A, BLOB, 1, "5", None),
        ],
    );
    let changes: Vec<_> = statement_changes(&first, &second)
        .into_iter()
        .map(|c| (c.group, c.meter_name, c.was_amount, c.amount, c.quantity))
        .collect();
    assert_eq!(
        changes,
        [
            (
                Some(SUB_A.into()),
                "BlockBlobCapacity".into(),
                None,
                None,
                Some(d("5"))
            ),
            (
                Some(SUB_A.into()),
                "Base VM Size Hours".into(),
                Some(d("0.40")),
                Some(d("0.60")),
                Some(d("6"))
            ),
            (
                Some(SUB_B.into()),
                "Base VM Size Hours".into(),
                Some(d("0.10")),
                None,
                None
            ),
        ]
    );
    assert!(statement_changes(&second, &second).is_empty());
}

#[test]
fn amounts_beyond_the_decimal_range_are_an_error_not_a_panic() {
    // The decimal range ends near 7.9e28: one hour of 5e28 fits, two do not.
    let huge = "50000000000000000000000000000";
    for group_by in [GroupBy::Subscription, GroupBy::Tag("Department".into())] {
        let usage = vec![
            usage(SUB_A, VM, 0, huge, Some("Sales")),
            usage(SUB_A, VM, 1, huge, Some("Ops")),
        ];
        let result = build_statement(
            &card(),
            &Directory::default(),
            october(),
            "UTC",
            group_by.clone(),
            usage,
            computed_at(),
        );
        let err = result.expect_err("the sums overflow");
        assert!(
            err.to_string().contains("out of range"),
            "{group_by:?}: {err}"
        );
    }
    // Each subscription's subtotal fits; the statement's total does not.
    let card = rate_card_from_csv(&format!(
        "kind,currency,effective_from,meter_id,included_quantity,tier_start,unit_price\n\
         price,USD,2026-10-01,{VM},0,0,1\n"
    ))
    .unwrap();
    for group_by in [GroupBy::Subscription, GroupBy::Tag("Department".into())] {
        let usage = vec![
            usage(SUB_A, VM, 0, huge, Some("Sales")),
            usage(SUB_B, VM, 0, huge, Some("Sales")),
        ];
        let result = build_statement(
            &card,
            &Directory::default(),
            october(),
            "UTC",
            group_by.clone(),
            usage,
            computed_at(),
        );
        let err = result.expect_err("the total overflows");
        assert!(
            err.to_string().contains("out of range"),
            "{group_by:?}: {err}"
        );
    }
}

/// SUB_A on Premium with two plans, SUB_B on Basic with one; a third subscription unknown.
fn directory() -> Directory {
    let entry = |sub: &str, offer: &str, plans: &[&str]| crate::directory::DirectoryEntry {
        offer: Some(CatalogName::parse(offer).unwrap()),
        plans: plans
            .iter()
            .map(|p| CatalogName::parse(p).unwrap())
            .collect(),
        ..crate::directory::DirectoryEntry::unknown(&SubscriptionId::parse(sub).unwrap())
    };
    Directory::new([
        entry(SUB_A, "Premium", &["compute-premium", "sql-premium"]),
        entry(SUB_B, "Basic", &["compute-basic"]),
    ])
}

const SUB_C: &str = "33333333-3333-4333-8333-333333333333";

fn build_in(directory: &Directory, card: &RateCard, group_by: GroupBy) -> Statement {
    let usage = vec![
        usage(SUB_A, VM, 0, "4.5", None),
        usage(SUB_B, VM, 0, "10", None),
        usage(SUB_C, VM, 0, "1", None),
    ];
    build_statement(
        card,
        directory,
        october(),
        "UTC",
        group_by,
        usage,
        computed_at(),
    )
    .unwrap()
}

#[test]
fn by_offer_and_by_plan_each_subscription_goes_whole_to_its_group() {
    let by_offer = build_in(&directory(), &card(), GroupBy::Offer);
    let groups: Vec<(Option<&str>, Decimal)> = by_offer
        .groups
        .iter()
        .map(|g| (g.key.as_deref(), g.subtotal))
        .collect();
    assert_eq!(
        groups,
        [
            (None, d("0.10")),
            (Some("Basic"), d("1.00")),
            (Some("Premium"), d("0.45"))
        ]
    );
    assert_eq!(by_offer.total, d("1.55"));

    let by_plan = build_in(&directory(), &card(), GroupBy::Plan);
    let keys: Vec<Option<&str>> = by_plan.groups.iter().map(|g| g.key.as_deref()).collect();
    assert_eq!(
        keys,
        [
            None,
            Some("compute-basic"),
            Some("compute-premium + sql-premium")
        ]
    );
    assert_eq!(by_plan.total, by_offer.total);
    for fixed in [GroupBy::Offer, GroupBy::Plan] {
        assert_eq!(
            GroupBy::parse(&fixed.to_string().to_uppercase()),
            Ok(fixed.clone())
        );
        assert_eq!(fixed.tag_key(), None);
    }
}

#[test]
fn an_offers_prices_apply_to_the_subscriptions_the_directory_puts_on_it() {
    // The card: 0.10 a vCPU hour; Premium pays 0.08; SUB_A's own price would win, but it has none.
    let card = rate_card_from_csv(&format!(
        "kind,offer,currency,effective_from,meter_id,unit_price\n\
         price,,USD,2026-10-01,{VM},0.10\n\
         price,Premium,USD,2026-10-01,{VM},0.08\n"
    ))
    .unwrap();
    let statement = build_in(&directory(), &card, GroupBy::Subscription);
    let price_of = |sub: &str| {
        statement
            .groups
            .iter()
            .find(|g| g.key.as_deref() == Some(sub))
            .map(|g| (g.lines[0].unit_price, g.subtotal))
    };
    assert_eq!(
        price_of(SUB_A),
        Some((Some(d("0.08")), d("0.36"))),
        "Premium"
    );
    assert_eq!(price_of(SUB_B), Some((Some(d("0.10")), d("1.00"))), "Basic");
    assert_eq!(
        price_of(SUB_C),
        Some((Some(d("0.10")), d("0.10"))),
        "unknown"
    );
    // Moved to Basic in the directory, SUB_A pays the card's price.
    let mut moved = directory();
    moved = Directory::new(
        [SUB_A, SUB_B]
            .iter()
            .map(|s| {
                let mut e = moved
                    .get(&SubscriptionId::parse(s).unwrap())
                    .unwrap()
                    .clone();
                e.offer = Some(CatalogName::parse("Basic").unwrap());
                e
            })
            .collect::<Vec<_>>(),
    );
    let statement = build_in(&moved, &card, GroupBy::Subscription);
    assert_eq!(statement.total, d("1.55"));
    // Names come from the same directory.
    assert_eq!(
        statement.groups[2].lines[0].subscription_name,
        format!("Unknown subscription {SUB_C}")
    );
}
