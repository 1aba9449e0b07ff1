//! `cargo xtask bench-explore [--tenants N] [--days D] [--small-tenants M]`: the usage explorer
//! and a tenant's reads at cloud scale (BENCHMARKS.md), on SQLite, through the usage source the
//! API and portal read (no HTTP).
//!
//! Two stores get the demo usage of D days (7 by default) per tenant, one tenant per seed: a big
//! one of N tenants (1,000) and a small one of M (10); tenant 1 has the same usage in both. Then,
//! p50 of 15 runs each after a warm-up:
//! - the operator's explorer over the whole period, daily, by meter category (totals, chart,
//!   options and the first page of rows), against the plain SQL grouping the same rows by day and
//!   meter, and (up to 1M records) against the in-memory fold the explorer used before;
//! - tenant 1's explorer over the period, its first ARM page and its chargeback usage totals, in
//!   the big store against the small one, and the explorer against the plain SQL of its rows by the subscription index;
//! - resident memory while 8 clients at once run the operator's explorer and stream its CSV rows.

// A benchmark: a failed step should stop it loudly.
#![allow(clippy::unwrap_used)]

#[path = "common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{ms, number_arg, p50, rss_kb};
use futures::StreamExt;
use meterbook_core::access::{Access, ReadScope, Role};
use meterbook_core::explore::{ExploreQuery, Explorer, PageFrom};
use meterbook_core::query::Granularity;
use meterbook_core::SubscriptionId;
use meterbook_server::demo::{self, DemoSpec};
use meterbook_server::source::{AggregateQuery, StoreSource, UsageSource};
use meterbook_server::store::{self, Store};

const CONCURRENT_CLIENTS: usize = 8;

/// A store of the demo usage of `tenants` tenants (seeds 1..=tenants), `days` days each.
async fn fill(
    dir: &std::path::Path,
    name: &str,
    tenants: usize,
    days: u32,
    end: DateTime<Utc>,
) -> (Arc<dyn Store>, Vec<SubscriptionId>, usize) {
    let path = dir.join(format!("{name}.db"));
    let store = store::open(&format!("sqlite://{}", path.display()))
        .await
        .expect("open the store");
    let mut subscriptions = Vec::new();
    let mut count = 0;
    for seed in 1..=tenants as u64 {
        let records = demo::records(&DemoSpec {
            tenants: 1,
            days,
            seed,
            now: end - chrono::Duration::seconds(1),
        });
        subscriptions.push(records[0].subscription_id.clone());
        count += records.len();
        for batch in records.chunks(common::BATCH) {
            store.ingest(batch, end).await.expect("ingest");
        }
    }
    (store, subscriptions, count)
}

fn query(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    subscription: Option<&SubscriptionId>,
) -> ExploreQuery {
    let from = from.date_naive().to_string();
    let to = (to - chrono::Duration::seconds(1)).date_naive().to_string();
    let mut pairs = vec![
        ("period", "custom".to_owned()),
        ("from", from),
        ("to", to),
        ("granularity", "daily".to_owned()),
        ("by", "category".to_owned()),
    ];
    if let Some(sub) = subscription {
        pairs.push(("subscription", sub.as_str().to_owned()));
    }
    ExploreQuery::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str()))).expect("a valid query")
}

fn scope(subscription: Option<&SubscriptionId>) -> ReadScope {
    let operator = Access {
        role: Role::Operator,
        subscriptions: Vec::new(),
    };
    operator
        .read_scope(subscription)
        .expect("an operator reads any scope")
}

async fn explore_p50(source: &StoreSource, query: &ExploreQuery) -> Duration {
    let (from, to) = query.period.window(Utc::now());
    let scope = scope(query.subscription.as_ref());
    p50(|| async {
        let view = source
            .explore(&scope, query, (from, to), &PageFrom::First)
            .await
            .expect("explore");
        assert!(view.total_rows > 0, "the benchmark's view has rows");
    })
    .await
}

/// The plain SQL that groups the same rows (by day and meter; by day, meter and resource for one
/// subscription), with nothing else of the view.
async fn raw_p50(path: &std::path::Path, sql: &str) -> Duration {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open for the baseline");
    p50(|| async {
        let rows = sqlx::query(sql).fetch_all(&pool).await.expect("baseline");
        assert!(!rows.is_empty());
    })
    .await
}

async fn arm_page_p50(
    source: &StoreSource,
    sub: &SubscriptionId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Duration {
    let scope = scope(Some(sub));
    let query = AggregateQuery {
        reported_start: from,
        reported_end: to + chrono::Duration::days(2),
        granularity: Granularity::Hourly,
        show_details: true,
    };
    p50(|| async {
        let page = source.aggregates(&scope, &query, None).await.expect("page");
        assert!(!page.items.is_empty());
    })
    .await
}

#[tokio::main]
async fn main() {
    let tenants = number_arg("--tenants", 1_000);
    let small_tenants = number_arg("--small-tenants", 10);
    let days = number_arg("--days", 7) as u32;
    let end = meterbook_core::time::floor_day(Utc::now());
    let from = end - chrono::Duration::days(i64::from(days));
    let dir = tempfile::tempdir().expect("temp dir");

    let t = Instant::now();
    let (big, subs, records) = fill(dir.path(), "big", tenants, days, end).await;
    eprintln!(
        "big store: {tenants} tenants, {records} records in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let (small, _, small_records) = fill(dir.path(), "small", small_tenants, days, end).await;
    eprintln!("small store: {small_tenants} tenants, {small_records} records");
    let big_source = StoreSource { store: big.clone() };
    let small_source = StoreSource {
        store: small.clone(),
    };
    let tenant = &subs[0];
    let rss_start = rss_kb();

    let operator = query(from, end, None);
    let operator_sql = explore_p50(&big_source, &operator).await;
    let (f, e) = (from.timestamp(), end.timestamp());
    let operator_raw = raw_p50(
        &dir.path().join("big.db"),
        &format!(
            "SELECT usage_start / 86400 AS day, meter, SUM(quantity) FROM usage_records \
             WHERE usage_start >= {f} AND usage_start < {e} GROUP BY 1, 2"
        ),
    )
    .await;
    let fold = if records <= meterbook_server::source::MAX_FACTS {
        let scope = scope(None);
        Some(
            p50(|| async {
                let facts = big
                    .facts(
                        scope.subscriptions(),
                        operator.basis,
                        from,
                        end,
                        usize::MAX >> 1,
                    )
                    .await
                    .expect("facts");
                let view =
                    Explorer::new(operator.clone(), from, end, &facts).page_from(&PageFrom::First);
                assert!(view.total_rows > 0);
            })
            .await,
        )
    } else {
        None
    };

    let tenant_query = query(from, end, Some(tenant));
    let tenant_big = explore_p50(&big_source, &tenant_query).await;
    let tenant_small = explore_p50(&small_source, &tenant_query).await;
    let tenant_number: i64 = {
        let url = format!("sqlite://{}", dir.path().join("big.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.expect("open");
        sqlx::query_scalar("SELECT id FROM subscriptions WHERE subscription_id = ?")
            .bind(tenant.as_str())
            .fetch_one(&pool)
            .await
            .expect("the tenant's number")
    };
    let tenant_raw = raw_p50(
        &dir.path().join("big.db"),
        &format!(
            "SELECT usage_start / 86400 AS day, meter, resource, SUM(quantity) FROM usage_records \
             INDEXED BY usage_records_by_subscription \
             WHERE subscription = {tenant_number} AND usage_start >= {f} AND usage_start < {e} \
             GROUP BY 1, 2, 3"
        ),
    )
    .await;
    let chargeback = |store: Arc<dyn Store>| {
        let tenant = tenant.clone();
        async move {
            p50(|| async {
                let totals = store
                    .usage_totals(Some(std::slice::from_ref(&tenant)), &[from], end, None)
                    .await
                    .expect("totals");
                assert!(!totals.is_empty());
            })
            .await
        }
    };
    let chargeback_big = chargeback(big.clone()).await;
    let chargeback_small = chargeback(small.clone()).await;
    let page_big = arm_page_p50(&big_source, tenant, from, end).await;
    let page_small = arm_page_p50(&small_source, tenant, from, end).await;

    // Eight clients at once: each views the operator's period and streams all its CSV rows.
    let source = Arc::new(big_source);
    let peak = Arc::new(AtomicU64::new(rss_kb()));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kb(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let clients: Vec<_> = (0..CONCURRENT_CLIENTS)
        .map(|_| {
            let source = source.clone();
            let operator = operator.clone();
            tokio::spawn(async move {
                let scope = scope(None);
                let window = (from, end);
                source
                    .explore(&scope, &operator, window, &PageFrom::First)
                    .await
                    .expect("explore");
                let mut rows = source
                    .explore_rows(&scope, &operator, window)
                    .await
                    .expect("rows");
                let mut n = 0usize;
                while let Some(row) = rows.next().await {
                    row.expect("row");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut streamed = 0;
    for client in clients {
        streamed += client.await.expect("client");
    }
    sampler.abort();
    let peak = peak.load(Ordering::Relaxed).max(rss_kb());

    println!("Explorer at scale ({tenants} tenants, {records} records, {days} days; small store {small_tenants} tenants), SQLite:\n");
    println!("| measure | Meterbook | baseline | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| operator explorer, whole period, daily by category, p50 | {:.1} ms | {:.1} ms (plain SQL by day and meter) | {:.2}x |",
        ms(operator_sql),
        ms(operator_raw),
        ms(operator_sql) / ms(operator_raw)
    );
    if let Some(fold) = fold {
        println!(
            "| same, against the in-memory fold (before) | {:.1} ms | {:.1} ms (facts read and folded) | {:.2}x |",
            ms(operator_sql),
            ms(fold),
            ms(operator_sql) / ms(fold)
        );
    }
    println!(
        "| tenant explorer, whole period, p50 | {:.1} ms | {:.1} ms (plain SQL by the subscription index) | {:.2}x |",
        ms(tenant_big),
        ms(tenant_raw),
        ms(tenant_big) / ms(tenant_raw)
    );
    println!(
        "| tenant explorer, {tenants} tenants vs {small_tenants} | {:.1} ms | {:.1} ms | {:.2}x |",
        ms(tenant_big),
        ms(tenant_small),
        ms(tenant_big) / ms(tenant_small)
    );
    println!(
        "| tenant ARM page 1, {tenants} tenants vs {small_tenants} | {:.1} ms | {:.1} ms | {:.2}x |",
        ms(page_big),
        ms(page_small),
        ms(page_big) / ms(page_small)
    );
    println!(
        "| tenant chargeback usage totals, {tenants} tenants vs {small_tenants} | {:.1} ms | {:.1} ms | {:.2}x |",
        ms(chargeback_big),
        ms(chargeback_small),
        ms(chargeback_big) / ms(chargeback_small)
    );
    println!(
        "| resident memory, {CONCURRENT_CLIENTS} clients viewing and streaming {streamed} rows | {} MB peak | {} MB before | |",
        peak / 1024,
        rss_start / 1024
    );
}
