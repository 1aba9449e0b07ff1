//! Chargeback benchmark (`cargo xtask bench-chargeback [--records N] [--database URL]`): one
//! month's statement over N records (1M by default), against DuckDB doing the same aggregation
//! over a CSV export of the same records, in the same run (BENCHMARKS.md).
//!
//! Both sides start from their stored data and end with priced lines: Meterbook reads its store
//! (SQLite by default, PostgreSQL with `--database`) and prices with the demo rate card; DuckDB
//! reads the CSV, sums per subscription and meter, and prices the sums with the same card's
//! tiers and included quantities in SQL. The card has one version and no discounts, so the two
//! must agree: the run checks the lines match and the totals are within a cent per line (both
//! add floating-point quantities, in different orders). Each side's time is the median of five
//! runs after a warm-up; DuckDB's excludes starting Python and loading the module.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{connect_admin, fresh_schema, ms, number_arg, text_arg, Workload};
use meterbook_core::rating::period::{BillingPeriod, Tz};
use meterbook_core::rating::price::LinePricing;
use meterbook_core::rating::statement::GroupBy;
use meterbook_core::rating::RateCard;
use meterbook_server::chargeback::{self, ChargebackRequest};
use meterbook_server::demo;
use meterbook_server::store::{self, Store};

const RUNS: usize = 5;

/// DuckDB's side: the query, timed inside Python; prints `seconds total lines` of the median run.
const DUCKDB_SCRIPT: &str = r#"
import sys, time, duckdb
usage, prices, start, end = sys.argv[1:5]
con = duckdb.connect()
query = f"""
WITH used AS (
    SELECT subscription_id, meter_id, SUM(quantity) AS quantity
    FROM read_csv('{usage}', header = true, columns = {{
        'subscription_id': 'VARCHAR', 'meter_id': 'VARCHAR', 'usage_start': 'BIGINT',
        'quantity': 'DOUBLE', 'department': 'VARCHAR'}})
    WHERE usage_start >= {start} AND usage_start < {end}
    GROUP BY ALL
), tiers AS (
    SELECT meter_id, included_quantity, tier_start, unit_price,
           LEAD(tier_start) OVER (PARTITION BY meter_id ORDER BY tier_start) AS tier_end
    FROM read_csv('{prices}', header = true, columns = {{
        'meter_id': 'VARCHAR', 'included_quantity': 'DOUBLE', 'tier_start': 'DOUBLE',
        'unit_price': 'DECIMAL(18,9)'}})
), lines AS (
    SELECT u.subscription_id, u.meter_id, t.tier_start,
           LEAST(GREATEST(u.quantity - t.included_quantity, 0), COALESCE(t.tier_end, 1e300))
             - t.tier_start AS units,
           t.unit_price
    FROM used u JOIN tiers t USING (meter_id)
)
SELECT COUNT(*), SUM(ROUND(CAST(units AS DECIMAL(38,9)) * unit_price, 2))
FROM lines WHERE units > 0
"""
times = []
for run in range(6):
    t = time.perf_counter()
    count, total = con.execute(query).fetchone()
    if run > 0:
        times.append(time.perf_counter() - t)
times.sort()
print(times[len(times) // 2], total, count)
"#;

#[tokio::main]
async fn main() {
    let wanted = number_arg("--records", 1_000_000);
    let database = text_arg("--database", "");
    let dir = tempfile::tempdir().unwrap();

    // October 2026 in UTC: 30 days of demo usage ending at midnight on 1 November.
    let zone = Tz::UTC;
    let period = BillingPeriod::month(2026, 10, zone).unwrap();
    let url = if database.is_empty() {
        format!("sqlite://{}", dir.path().join("meterbook.db").display())
    } else {
        fresh_schema(&connect_admin(&database).await, &database, "mb_chargeback").await
    };
    let store = store::open(&url).await.unwrap();
    println!(
        "records: {wanted} (demo tenants x 30 days of {}), store: {}",
        period.label,
        if database.is_empty() {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );

    // The same records into the store and into the CSV DuckDB reads; neither is timed.
    let usage_csv = dir.path().join("usage.csv");
    let mut csv = std::io::BufWriter::new(std::fs::File::create(&usage_csv).unwrap());
    writeln!(
        csv,
        "subscription_id,meter_id,usage_start,quantity,department"
    )
    .unwrap();
    for batch in Workload::new(period.end, wanted) {
        for r in &batch {
            let department = r
                .instance
                .tags
                .as_ref()
                .and_then(|t| t.get("Department"))
                .and_then(|d| d.as_str())
                .unwrap_or("");
            writeln!(
                csv,
                "{},{},{},{},{department}",
                r.subscription_id,
                meterbook_core::meter::canonical_meter_id(&r.meter_id),
                r.usage_start.timestamp(),
                r.quantity
            )
            .unwrap();
        }
        store.ingest(&batch, period.end).await.unwrap();
    }
    csv.flush().unwrap();
    drop(csv);
    let card = demo::rate_card();
    let mut changes = store.begin().await.unwrap();
    changes.save_rate_card(&card, "bench").await.unwrap();
    changes.commit().await.unwrap();
    let prices_csv = dir.path().join("prices.csv");
    std::fs::write(&prices_csv, price_table(&card)).unwrap();
    println!(
        "CSV export: {:.0} MB",
        std::fs::metadata(&usage_csv).unwrap().len() as f64 / 1e6
    );

    for tag in [None, Some("Department")] {
        let t = Instant::now();
        let rows = store
            .usage_totals(None, &[period.start], period.end, tag)
            .await
            .unwrap();
        println!(
            "reading usage totals (tag {tag:?}): {} rows in {:.1} ms",
            rows.len(),
            ms(t.elapsed())
        );
    }
    let by_subscription =
        time_statement(store.as_ref(), &period, zone, GroupBy::Subscription).await;
    let by_department = time_statement(
        store.as_ref(),
        &period,
        zone,
        GroupBy::Tag("Department".into()),
    )
    .await;

    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(DUCKDB_SCRIPT)
        .arg(&usage_csv)
        .arg(&prices_csv)
        .arg(period.start.timestamp().to_string())
        .arg(period.end.timestamp().to_string())
        .output()
        .expect("python3 with duckdb (cargo xtask bench-chargeback installs it)");
    assert!(
        output.status.success(),
        "DuckDB failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer = String::from_utf8(output.stdout).unwrap();
    let mut fields = answer.split_whitespace();
    let duck = Duration::from_secs_f64(fields.next().unwrap().parse().unwrap());
    let duck_total: rust_decimal::Decimal = fields.next().unwrap().parse().unwrap();
    let duck_lines: usize = fields.next().unwrap().parse().unwrap();

    let (time, total, lines) = &by_subscription;
    println!();
    println!("| measure | Meterbook | DuckDB over CSV | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| {} statement by subscription, median of {RUNS} | {:.1} ms | {:.1} ms | {:.2}x |",
        period.label,
        ms(*time),
        ms(duck),
        time.as_secs_f64() / duck.as_secs_f64()
    );
    println!(
        "| {} statement by tag:Department, median of {RUNS} | {:.1} ms | (same query) | {:.2}x |",
        period.label,
        ms(by_department.0),
        by_department.0.as_secs_f64() / duck.as_secs_f64()
    );
    println!(
        "| total | {total} USD, {lines} priced lines | {duck_total} USD, {duck_lines} lines | |"
    );
    // Stored quantities are floating point and each read adds them up in its own order (DuckDB,
    // and Meterbook by subscription or by tag): a line whose amount lands on half a cent may
    // round either way, so totals may differ by a cent per line, never more.
    let within_a_cent_per_line = |a: rust_decimal::Decimal, b: rust_decimal::Decimal| {
        (a - b).abs() <= rust_decimal::Decimal::new(1, 2) * rust_decimal::Decimal::from(*lines)
    };
    assert!(
        within_a_cent_per_line(*total, duck_total),
        "Meterbook and DuckDB disagree on the total by more than a cent per line"
    );
    assert_eq!(
        *lines, duck_lines,
        "Meterbook and DuckDB priced different lines"
    );
    assert!(
        within_a_cent_per_line(by_department.1, *total),
        "the departments do not add up to the subscriptions"
    );
    println!("| by tag:Department total | {} USD | | |", by_department.1);
    if !database.is_empty() {
        let admin = connect_admin(&database).await;
        sqlx::query("DROP SCHEMA mb_chargeback CASCADE")
            .execute(&admin)
            .await
            .unwrap();
    }
}

/// The median time of [`RUNS`] statements after a warm-up, the total, and the tier lines (the
/// lines DuckDB's query makes: it has none for included units).
async fn time_statement(
    store: &dyn Store,
    period: &BillingPeriod,
    zone: Tz,
    group_by: GroupBy,
) -> (Duration, rust_decimal::Decimal, usize) {
    let request = ChargebackRequest {
        period: period.clone(),
        zone,
        group_by,
        subscriptions: None,
    };
    let mut statement = chargeback::statement(store, &request).await.unwrap();
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        statement = chargeback::statement(store, &request).await.unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    let lines = statement
        .groups
        .iter()
        .flat_map(|g| &g.lines)
        .filter(|l| matches!(l.pricing, LinePricing::Tier(_)) && !l.quantity.is_zero())
        .count();
    (times[RUNS / 2], statement.total, lines)
}

/// The card's one version as a price table: meter, included quantity, tier start, unit price.
fn price_table(card: &RateCard) -> String {
    let mut out = String::from("meter_id,included_quantity,tier_start,unit_price\n");
    let [version] = card.versions() else {
        panic!("the demo card has one version");
    };
    for rate in &version.rates {
        for tier in &rate.tiers {
            out.push_str(&format!(
                "{},{},{},{}\n",
                rate.meter_id, rate.included_quantity, tier.from, tier.unit_price
            ));
        }
    }
    out
}
