use chrono::{Duration, TimeZone};

use super::*;

const VM_HOURS: &str = "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5";
const GB_HOURS: &str = "B5C15376-6C94-4FDD-B655-1A69D138ACA3";
const SUB_A: &str = "6a5c1b2e-0000-4000-8000-000000000001";
const SUB_B: &str = "6a5c1b2e-0000-4000-8000-000000000002";

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, day, hour, 0, 0).unwrap()
}

fn fact(sub: &str, meter: &str, vm: &str, start: DateTime<Utc>, quantity: f64) -> UsageFact {
    UsageFact {
        usage_start: start,
        subscription_id: sub.into(),
        meter_id: meter.into(),
        resource_uri: format!(
            "/subscriptions/{sub}/resourceGroups/rg-{vm}/providers/Microsoft.Compute/virtualMachines/{vm}"
        ),
        location: "local".into(),
        tags: BTreeMap::from([("team".to_owned(), format!("team-{vm}"))]),
        quantity,
    }
}

/// Two subscriptions, two VMs each, two meters, every hour of three days.
fn facts() -> Vec<UsageFact> {
    let mut out = Vec::new();
    for day in 1..=3 {
        for hour in 0..24 {
            for (sub, vm) in [
                (SUB_A, "web"),
                (SUB_A, "db"),
                (SUB_B, "app"),
                (SUB_B, "web"),
            ] {
                out.push(fact(sub, VM_HOURS, vm, at(day, hour), 1.0));
                out.push(fact(sub, GB_HOURS, vm, at(day, hour), 2.5));
            }
        }
    }
    out
}

fn query(pairs: &[(&str, &str)]) -> ExploreQuery {
    ExploreQuery::from_pairs(pairs.iter().copied()).unwrap()
}

fn explorer(pairs: &[(&str, &str)]) -> Explorer {
    Explorer::new(
        query(pairs),
        at(1, 0),
        at(4, 0),
        &facts(),
        &DirectoryGroups::new(),
    )
}

#[test]
fn rows_sum_facts_per_column_subscription_meter_and_resource() {
    let daily = explorer(&[("rows", "250")]);
    // 3 days x 4 resources x 2 meters.
    assert_eq!(daily.rows().len(), 24);
    let row = &daily.rows()[0];
    assert_eq!(row.end - row.start, Duration::days(1));
    let hourly = explorer(&[("granularity", "hourly"), ("rows", "250")]);
    assert_eq!(hourly.rows().len(), 24 * 24);
    let sum = |e: &Explorer| e.rows().iter().map(|r| r.quantity).sum::<f64>();
    assert_eq!(sum(&daily), sum(&hourly));
    let monthly = explorer(&[("granularity", "monthly")]);
    assert_eq!(monthly.rows().len(), 8);
    for row in monthly.rows() {
        let hourly = if row.meter.id == VM_HOURS { 1.0 } else { 2.5 };
        assert_eq!(row.quantity, hourly * 72.0);
    }
}

#[test]
fn totals_cover_the_whole_query_per_meter_not_the_page() {
    let e = explorer(&[("rows", "25")]);
    let page = e.page(PageAt::First);
    assert_eq!(page.rows.len(), 24, "24 rows fit one page of 25");
    let vm = page.totals.iter().find(|t| t.meter.id == VM_HOURS).unwrap();
    assert_eq!(vm.quantity, 3.0 * 24.0 * 4.0);
    assert_eq!(vm.meter.unit, "virtual core hours");
}

#[test]
fn filters_narrow_to_matching_usage_case_insensitively() {
    let count = |pairs: &[(&str, &str)]| explorer(pairs).rows().len();
    assert_eq!(count(&[("subscription", SUB_B)]), 12);
    assert_eq!(count(&[("meter", &VM_HOURS.to_lowercase())]), 12);
    assert_eq!(count(&[("resource-group", "RG-WEB")]), 12);
    assert_eq!(count(&[("location", "LOCAL")]), 24);
    assert_eq!(count(&[("tag", "team=team-db")]), 6);
    assert_eq!(count(&[("tag", "team")]), 24);
    assert_eq!(count(&[("tag", "owner")]), 0);
    assert_eq!(count(&[("category", "nope")]), 0);
    assert_eq!(count(&[("category", "compute")]), 12);
}

#[test]
fn pages_forward_and_back_visit_each_row_once() {
    for sort in ["time", "-quantity", "resource", "-meter", "location"] {
        let e = explorer(&[("granularity", "hourly"), ("rows", "25"), ("sort", sort)]);
        let mut seen = Vec::new();
        let mut page = e.page(PageAt::First);
        let mut pages = vec![page.clone()];
        loop {
            seen.extend(page.rows.iter().cloned());
            let Some(last) = page.rows.last() else { break };
            let next = e.locate(&row_key(last, &page.query), true);
            if next >= e.rows().len() {
                break;
            }
            page = e.page(PageAt::After(next));
            pages.push(page.clone());
        }
        assert_eq!(seen.len(), e.rows().len(), "{sort}");
        assert_eq!(seen, e.rows(), "{sort}: pages are the rows in order");
        // Back from the last page, one page at a time, lands on the same pages.
        let mut back = pages.pop().unwrap();
        while let Some(expected) = pages.pop() {
            let at = e.locate(&row_key(&back.rows[0], &back.query), false);
            back = e.page(PageAt::Before(at));
            assert_eq!(back.rows, expected.rows, "{sort}");
        }
        assert_eq!(back.first_row, 0);
    }
}

#[test]
fn sorting_by_quantity_descending_puts_the_largest_first() {
    let e = explorer(&[("sort", "-quantity")]);
    let q: Vec<f64> = e.rows().iter().map(|r| r.quantity).collect();
    assert!(q.windows(2).all(|w| w[0] >= w[1]), "{q:?}");
}

#[test]
fn the_chart_stacks_one_unit_per_group_and_column() {
    let e = explorer(&[("by", "subscription")]);
    let chart = e.page(PageAt::First).chart.unwrap();
    assert_eq!(chart.columns.len(), 3);
    assert_eq!(chart.units.len(), 2);
    assert_eq!(chart.series.len(), 2);
    let total: f64 = chart.series.iter().flat_map(|s| &s.values).sum();
    let unit_total: f64 = e
        .rows()
        .iter()
        .filter(|r| r.meter.unit == chart.unit)
        .map(|r| r.quantity)
        .sum();
    assert_eq!(total, unit_total);
    let hours = explorer(&[("by", "tag:team"), ("unit", "virtual core hours")]);
    let chart = hours.page(PageAt::First).chart.unwrap();
    assert_eq!(chart.unit, "virtual core hours");
    assert_eq!(chart.series.len(), 3, "team-web, team-db, team-app");
    assert_eq!(chart.series[0].name, "team-web");
}

#[test]
fn many_groups_are_folded_into_other() {
    let mut many = Vec::new();
    for i in 0..20 {
        many.push(fact(
            SUB_A,
            VM_HOURS,
            &format!("vm{i:02}"),
            at(1, 0),
            f64::from(i),
        ));
    }
    let e = Explorer::new(
        query(&[("by", "resource")]),
        at(1, 0),
        at(2, 0),
        &many,
        &DirectoryGroups::new(),
    );
    let chart = e.page(PageAt::First).chart.unwrap();
    assert_eq!(chart.series.len(), CHART_GROUPS + 1);
    assert_eq!(chart.series[0].name, "vm19");
    assert!(chart
        .series
        .last()
        .unwrap()
        .name
        .starts_with("Other (12 more)"));
    let total: f64 = chart.series.iter().flat_map(|s| &s.values).sum();
    assert_eq!(total, (0..20).sum::<i32>() as f64);
}

#[test]
fn filter_options_list_what_the_period_holds() {
    let page = explorer(&[("subscription", SUB_A)]).page(PageAt::First);
    let o = &page.options;
    assert_eq!(o.subscriptions.len(), 2, "options ignore the filters");
    assert_eq!(o.resource_groups.len(), 3);
    assert_eq!(o.tag_names, vec!["team".to_owned()]);
    assert!(o.resources.iter().any(|r| r.label == "db"));
}

#[test]
fn no_usage_gives_an_empty_view_without_a_chart() {
    let e = Explorer::new(query(&[]), at(1, 0), at(4, 0), &[], &DirectoryGroups::new());
    let page = e.page(PageAt::First);
    assert!(page.rows.is_empty());
    assert_eq!(page.total_rows, 0);
    assert!(page.chart.is_none());
}

#[test]
fn by_offer_or_plan_the_chart_stacks_each_subscriptions_directory_group() {
    let groups = DirectoryGroups::from([(SUB_A.to_owned(), "Premium".to_owned())]);
    let by_offer = Explorer::new(
        query(&[("by", "offer"), ("unit", "virtual core hours")]),
        at(1, 0),
        at(4, 0),
        &facts(),
        &groups,
    );
    let chart = by_offer.page(PageAt::First).chart.unwrap();
    assert_eq!(chart.group_label, "Offer");
    let names: Vec<&str> = chart.series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), 2);
    assert!(
        names.contains(&"Premium") && names.contains(&"(no offer)"),
        "{names:?}"
    );
    let premium: f64 = chart
        .series
        .iter()
        .filter(|s| s.name == "Premium")
        .flat_map(|s| &s.values)
        .sum();
    assert_eq!(
        premium,
        2.0 * 24.0 * 3.0,
        "SUB_A's two VMs, every hour of three days"
    );

    let by_plan = Explorer::new(
        query(&[("by", "plan")]),
        at(1, 0),
        at(4, 0),
        &facts(),
        &groups,
    );
    let chart = by_plan.page(PageAt::First).chart.unwrap();
    assert!(chart.series.iter().any(|s| s.name == "(no plan)"));
}

#[test]
fn offer_and_plan_filters_parse_as_catalog_names_and_round_trip() {
    let q = query(&[
        ("offer", "Premium"),
        ("plan", "sql-premium"),
        ("by", "plan"),
    ]);
    assert_eq!(
        q.filters.offer.as_ref().map(|o| o.as_str()),
        Some("Premium")
    );
    assert!(q.filters.reads_directory());
    assert_eq!(
        ExploreQuery::from_pairs(q.to_pairs().iter().map(|(k, v)| (*k, v.as_str()))).unwrap(),
        q
    );
    let refused = ExploreQuery::from_pairs([("offer", "no such offer!")]).unwrap_err();
    assert!(
        refused
            .0
            .starts_with("offer 'no such offer!' is not a name"),
        "{refused}"
    );
}
