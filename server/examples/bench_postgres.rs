//! PostgreSQL benchmark (`cargo xtask bench --database postgres://... [--records N]`), measured
//! against baselines run in the same process on the same data:
//!
//! - bulk ingest over HTTP vs. a raw `COPY` of the same rows into the same schema;
//! - a 1,000-aggregate page of the provider API, near the start and deep in the store, vs. the
//!   fastest plain SQL for the same page (a keyset read straight off the primary key);
//! - a tenant's monthly summary as the portal reads it (from the daily rollup) vs. the same
//!   totals summed from the hourly rows.
//!
//! Each run works in two fresh schemas of the given database, `mb_bench_raw` and `mb_bench`,
//! dropped first. Results print as Markdown for BENCHMARKS.md.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Duration as ChronoDuration, TimeZone, Utc};
use common::{
    connect_admin, fetch, fresh_schema, ms, number_arg, p50, provider_page_url, send_all, serve,
    text_arg, token, walk, Workload, BATCH,
};
use meterbook_core::access::Role;
use meterbook_core::time::floor_day;
use meterbook_core::usage::UsageRecord;
use meterbook_core::SubscriptionId;
use meterbook_server::store::{self, PostgresStore};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};

/// The deep page at most: 999,000 aggregates in (halfway for smaller runs).
const DEEP_PAGE: usize = 1_000;

#[tokio::main]
async fn main() {
    let wanted = number_arg("--records", 10_000_000);
    let clients = number_arg("--clients", 4);
    let server = text_arg("--database", "postgres://root@127.0.0.1:5432/test");
    let admin = connect_admin(&server).await;
    let raw_url = fresh_schema(&admin, &server, "mb_bench_raw").await;
    let url = fresh_schema(&admin, &server, "mb_bench").await;
    let dir = tempfile::tempdir().unwrap();
    let end = floor_day(Utc::now());
    println!(
        "records: {wanted} (demo tenants x 30 days), batches of {BATCH}, {clients} ingest clients"
    );

    // Baseline: COPY of the same rows into the same schema, names numbered in memory.
    drop(PostgresStore::open(&raw_url).await.unwrap());
    let mut raw = RawCopier::open(&raw_url, end).await;
    for batch in Workload::new(end, wanted) {
        raw.write(&batch).await;
    }
    let raw_secs = raw.elapsed.as_secs_f64();

    // Meterbook: POST the batches to a real server.
    let store = store::open(&url).await.unwrap();
    let base = serve(store.clone(), dir.path()).await;
    let provider = token(store.as_ref(), Role::Provider, &[]).await;
    let operator = token(store.as_ref(), Role::Operator, &[]).await;
    let client = reqwest::Client::new();
    let (sending, payload) = send_all(
        &client,
        &base,
        &provider,
        Workload::new(end, wanted),
        clients,
    )
    .await;
    let http_secs = sending.as_secs_f64();
    println!(
        "sent {:.0} MB of JSON: {:.0} records/s over HTTP, {:.0} records/s by COPY",
        payload as f64 / 1e6,
        wanted as f64 / sending.as_secs_f64(),
        wanted as f64 / raw.elapsed.as_secs_f64()
    );
    assert_eq!(store.record_count().await.unwrap(), wanted as u64);

    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    // Autovacuum would otherwise work through the rows just written during whichever
    // measurement comes first: both sides are measured on a vacuumed, analyzed store.
    sqlx::query("VACUUM ANALYZE").execute(&pool).await.unwrap();

    // Paging the provider API, hourly with details, over everything reported.
    let (start, stop) = (end - ChronoDuration::days(31), end);
    let first = provider_page_url(&base, start, stop);
    let deep_page = (wanted / 2_000).clamp(2, DEEP_PAGE);
    let deep = walk(&client, &first, &operator, deep_page).await;
    let http_first = p50(|| fetch(&client, &first, &operator)).await;
    let http_deep = p50(|| fetch(&client, &deep, &operator)).await;
    let deep_key = key_at(&pool, (deep_page - 1) * 1_000 - 1).await;
    let (rs, re) = (start.timestamp(), stop.timestamp());
    let sql_first = p50(|| keyset_page_sql(&pool, rs, re, None)).await;
    let sql_deep = p50(|| keyset_page_sql(&pool, rs, re, Some(deep_key))).await;

    // The busiest tenant's summary of the month the data ends in, as the portal reads it.
    let (tenant, tenant_key) = busiest_tenant(&pool).await;
    let month_start = Utc
        .with_ymd_and_hms(end.year(), end.month(), 1, 0, 0, 0)
        .unwrap();
    let month_end = if end.month() == 12 {
        Utc.with_ymd_and_hms(end.year() + 1, 1, 1, 0, 0, 0).unwrap()
    } else {
        Utc.with_ymd_and_hms(end.year(), end.month() + 1, 1, 0, 0, 0)
            .unwrap()
    };
    let tenants = [tenant];
    let summary_rollup = p50(|| async {
        let totals = store
            .daily_totals(Some(&tenants), month_start, month_end)
            .await
            .unwrap();
        assert!(!totals.is_empty());
    })
    .await;
    let summary_hourly =
        p50(|| hourly_summary_sql(&pool, tenant_key, month_start, month_end)).await;

    let http_rate = wanted as f64 / http_secs;
    let raw_rate = wanted as f64 / raw_secs;
    let mut table = String::new();
    writeln!(table, "| measure | Meterbook | baseline | ratio | goal |").unwrap();
    writeln!(table, "|---|---|---|---|---|").unwrap();
    writeln!(table, "| bulk ingest, records/s | {http_rate:.0} (HTTP, {http_secs:.1} s) | {raw_rate:.0} (raw COPY, {raw_secs:.1} s) | {:.2}x | >= 50k/s and >= 0.5x |", http_rate / raw_rate).unwrap();
    writeln!(table, "| 1,000-aggregate page 1, p50 | {:.1} ms (HTTP+JSON) | {:.1} ms (keyset SQL) | {:.2}x | <= 2x |", ms(http_first), ms(sql_first), ms(http_first) / ms(sql_first)).unwrap();
    writeln!(table, "| 1,000-aggregate page {deep_page}, p50 | {:.1} ms (HTTP+JSON) | {:.1} ms (keyset SQL) | {:.2}x | <= 2x |", ms(http_deep), ms(sql_deep), ms(http_deep) / ms(sql_deep)).unwrap();
    writeln!(
        table,
        "| page {deep_page} vs page 1 (HTTP) | {:.1} ms | {:.1} ms | {:.2}x | reported |",
        ms(http_deep),
        ms(http_first),
        ms(http_deep) / ms(http_first)
    )
    .unwrap();
    writeln!(table, "| a tenant's month by meter and day, p50 | {:.1} ms (daily rollup) | {:.1} ms (summed from hourly rows) | {:.3}x | <= 50 ms |", ms(summary_rollup), ms(summary_hourly), ms(summary_rollup) / ms(summary_hourly)).unwrap();
    let sizes = sqlx::query(
        "SELECT pg_size_pretty(SUM(pg_total_relation_size(c.oid))) AS total
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'mb_bench' AND c.relkind = 'r'",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    let total: String = sizes.try_get("total").unwrap();
    writeln!(
        table,
        "| store size on disk (tables and indexes) | {total} | | | reported |"
    )
    .unwrap();
    println!();
    print!("{table}");
}

/// The key of the aggregate at `offset` in page order. Every record is its own hourly aggregate
/// here (records are hourly and unique per key), so aggregate order is the primary key's.
async fn key_at(pool: &PgPool, offset: usize) -> [i64; 4] {
    let row = sqlx::query(
        "SELECT usage_start, subscription, meter, resource FROM usage_records
         ORDER BY 1, 2, 3, 4 OFFSET $1 LIMIT 1",
    )
    .bind(offset as i64)
    .fetch_one(pool)
    .await
    .unwrap();
    [0, 1, 2, 3].map(|i| row.get::<i64, _>(i))
}

/// The fastest plain SQL for a page of hourly aggregates with details: a keyset read straight off
/// the primary key, grouped by its columns (exact only because every record is hourly).
async fn keyset_page_sql(pool: &PgPool, rs: i64, re: i64, after: Option<[i64; 4]>) {
    let after = after.unwrap_or([i64::MIN, 0, 0, 0]);
    let rows = sqlx::query(
        "SELECT u.usage_start, MIN(s.subscription_id), MIN(m.meter_id), MIN(r.resource_uri),
                SUM(u.quantity), MAX(u.location), MAX(u.tags), MAX(u.additional_info)
         FROM usage_records u JOIN subscriptions s ON s.id = u.subscription
         JOIN meters m ON m.id = u.meter JOIN resources r ON r.id = u.resource
         WHERE u.reported_time >= $1 AND u.reported_time < $2
           AND (u.usage_start, u.subscription, u.meter, u.resource) > ($3, $4, $5, $6)
         GROUP BY u.usage_start, u.subscription, u.meter, u.resource
         ORDER BY u.usage_start, u.subscription, u.meter, u.resource LIMIT 1001",
    )
    .bind(rs)
    .bind(re)
    .bind(after[0])
    .bind(after[1])
    .bind(after[2])
    .bind(after[3])
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1001);
}

/// The subscription with the most records, and its key.
async fn busiest_tenant(pool: &PgPool) -> (SubscriptionId, i64) {
    let row = sqlx::query(
        "SELECT s.subscription_id, s.id FROM usage_daily d JOIN subscriptions s ON s.id = d.subscription
         GROUP BY s.subscription_id, s.id ORDER BY SUM(d.records) DESC LIMIT 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    (
        SubscriptionId::parse(row.get::<&str, _>(0)).unwrap(),
        row.get(1),
    )
}

/// A tenant's totals by meter and day, summed from the hourly rows.
async fn hourly_summary_sql(pool: &PgPool, tenant: i64, from: DateTime<Utc>, to: DateTime<Utc>) {
    let rows = sqlx::query(
        "SELECT m.meter_id, u.usage_start / 86400 AS day, SUM(u.quantity), COUNT(*)
         FROM usage_records u JOIN meters m ON m.id = u.meter
         WHERE u.subscription = $1 AND u.usage_start >= $2 AND u.usage_start < $3
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(tenant)
    .bind(from.timestamp())
    .bind(to.timestamp())
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(!rows.is_empty());
}

/// The baseline writer: names numbered in memory, then one `COPY ... FROM STDIN (FORMAT csv)`
/// per batch into the same partitioned table, on one connection. Only the COPY is timed.
struct RawCopier {
    pool: PgPool,
    ids: [HashMap<String, i64>; 3],
    elapsed: Duration,
}

impl RawCopier {
    /// Connects, and creates the month partitions the workload's 30 days ending at `end` need.
    async fn open(url: &str, end: DateTime<Utc>) -> Self {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
            .unwrap();
        let mut month = Utc
            .with_ymd_and_hms(end.year(), end.month(), 1, 0, 0, 0)
            .unwrap()
            - chrono::Months::new(2);
        while month <= end {
            let next = month + chrono::Months::new(1);
            sqlx::query(&format!(
                "CREATE TABLE usage_records_{:04}_{:02} PARTITION OF usage_records FOR VALUES FROM ({}) TO ({})",
                month.year(),
                month.month(),
                month.timestamp(),
                next.timestamp()
            ))
            .execute(&pool)
            .await
            .unwrap();
            month = next;
        }
        Self {
            pool,
            ids: Default::default(),
            elapsed: Duration::ZERO,
        }
    }

    async fn write(&mut self, batch: &[UsageRecord]) {
        let mut new: Vec<(usize, String)> = Vec::new();
        let mut csv = String::with_capacity(batch.len() * 200);
        for r in batch {
            let mut id_of = |table: usize, name: &str| -> i64 {
                let next = self.ids[table].len() as i64 + 1;
                *self.ids[table].entry(name.to_owned()).or_insert_with(|| {
                    new.push((table, name.to_owned()));
                    next
                })
            };
            let (s, m, u) = (
                id_of(0, r.subscription_id.as_str()),
                id_of(1, &r.meter_id),
                id_of(2, &r.instance.resource_uri),
            );
            let json = |map: &Option<serde_json::Map<String, serde_json::Value>>| {
                map.as_ref()
                    .map(|m| quoted(&serde_json::Value::Object(m.clone()).to_string()))
                    .unwrap_or_default()
            };
            writeln!(
                csv,
                "{},{s},{m},{u},{},{},{},{},{},{}",
                r.usage_start.timestamp(),
                r.usage_end.timestamp(),
                r.reported_time.map(|t| t.timestamp()).unwrap_or_default(),
                r.quantity,
                quoted(&r.instance.location),
                json(&r.instance.tags),
                json(&r.instance.additional_info),
            )
            .unwrap();
        }
        let started = Instant::now();
        let mut tx = self.pool.begin().await.unwrap();
        for (table, name) in new {
            // Identity columns number from 1 in insertion order, as the map did.
            let sql = [
                "INSERT INTO subscriptions (subscription_id) VALUES ($1)",
                "INSERT INTO meters (meter_id) VALUES ($1)",
                "INSERT INTO resources (resource_uri) VALUES ($1)",
            ][table];
            sqlx::query(sql).bind(name).execute(&mut *tx).await.unwrap();
        }
        let mut copy = tx
            .copy_in_raw(
                "COPY usage_records (usage_start, subscription, meter, resource, usage_end,
                                     reported_time, quantity, location, tags, additional_info)
                 FROM STDIN (FORMAT csv)",
            )
            .await
            .unwrap();
        copy.send(csv.as_bytes()).await.unwrap();
        assert_eq!(copy.finish().await.unwrap(), batch.len() as u64);
        tx.commit().await.unwrap();
        self.elapsed += started.elapsed();
    }
}

/// A CSV field in quotes, its quotes doubled.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}
