//! Ingest and paging benchmark (`cargo xtask bench [--records N]`), measured against baselines
//! run in the same process on the same data:
//!
//! - bulk ingest over HTTP vs. a raw batched SQLite insert of the same rows into the same schema;
//! - a 1,000-aggregate page of the provider API (HTTP, JSON) vs. the plain SQL that computes the
//!   same page directly on the database;
//! - page 500 vs. page 1;
//! - the same pages through a second Meterbook in upstream (proxy) mode vs. read directly;
//! - the server's resident memory.
//!
//! Results print as Markdown for BENCHMARKS.md.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{Duration as ChronoDuration, Utc};
use common::{
    fetch, ms, number_arg, p50, provider_page_url, rss_kb, send_all, serve, token, walk, Workload,
    BATCH,
};
use meterbook_core::access::Role;
use meterbook_core::time::floor_day;
use meterbook_core::usage::UsageRecord;
use meterbook_core::SubscriptionId;
use meterbook_server::source::UpstreamConfig;
use meterbook_server::store::{self, SqliteStore};
use meterbook_server::{Application, ServerConfig, DEFAULT_PROVIDER_SUBSCRIPTION};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite};

#[tokio::main]
async fn main() {
    let wanted = number_arg("--records", 1_000_000);
    let dir = tempfile::tempdir().unwrap();

    // The same demo usage the simulator makes, one tenant after another, made batch by batch so
    // that 10M records need not be in memory at once; making them is never timed.
    let end = floor_day(Utc::now());
    println!("records: {wanted} (demo tenants x 30 days), batches of {BATCH}");

    // Baseline: a raw batched insert of the same rows into the same schema.
    let raw_url = format!("sqlite://{}", dir.path().join("raw.db").display());
    drop(SqliteStore::open(&raw_url).await.unwrap());
    let mut raw = RawWriter::open(&raw_url).await;
    for batch in Workload::new(end, wanted) {
        raw.write(&batch).await;
    }
    let raw_secs = raw.elapsed.as_secs_f64();
    // The same without the subscription-led index tenant reads walk: what that index costs.
    let bare_url = format!("sqlite://{}", dir.path().join("bare.db").display());
    drop(SqliteStore::open(&bare_url).await.unwrap());
    let mut bare = RawWriter::open(&bare_url).await;
    sqlx::query("DROP INDEX usage_records_by_subscription")
        .execute(&bare.pool)
        .await
        .unwrap();
    for batch in Workload::new(end, wanted) {
        bare.write(&batch).await;
    }
    let bare_secs = bare.elapsed.as_secs_f64();
    drop(bare);

    // Meterbook: POST the batches to a real server, two clients at a time.
    let url = format!("sqlite://{}", dir.path().join("meterbook.db").display());
    let store = store::open(&url).await.unwrap();
    let base = serve(store.clone(), dir.path()).await;
    let provider = token(store.as_ref(), Role::Provider, &[]).await;
    let operator = token(store.as_ref(), Role::Operator, &[]).await;
    let client = reqwest::Client::new();
    let (sending, payload) =
        send_all(&client, &base, &provider, Workload::new(end, wanted), 2).await;
    let http_secs = sending.as_secs_f64();
    println!("sent {:.0} MB of JSON", payload as f64 / 1e6);
    assert_eq!(store.record_count().await.unwrap(), wanted as u64);

    // Paging the provider API, hourly with details, over everything reported.
    let start = end - ChronoDuration::days(31);
    let first = provider_page_url(&base, start, end);
    let page_500 = walk(&client, &first, &operator, 500).await;
    let http_page_1 = p50(|| fetch(&client, &first, &operator)).await;
    let http_page_500 = p50(|| fetch(&client, &page_500, &operator)).await;

    // The same pages through a second Meterbook fronting the first as its upstream hub.
    let credential = dir.path().join("hub-token");
    std::fs::write(&credential, &operator).unwrap();
    let proxy_store = store::open(&format!(
        "sqlite://{}",
        dir.path().join("proxy.db").display()
    ))
    .await
    .unwrap();
    let proxy = Application::build(
        ServerConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            public_url: None,
            provider_subscription: SubscriptionId::parse(DEFAULT_PROVIDER_SUBSCRIPTION).unwrap(),
            upstream: Some(UpstreamConfig::new(
                &base,
                meterbook_server::source::credential::UpstreamCredential::TokenFile(credential),
                SubscriptionId::parse(DEFAULT_PROVIDER_SUBSCRIPTION).unwrap(),
            )),
            trust_forwarded_for: false,
            widget_origins: Vec::new(),
            sessions: Default::default(),
            site_root: dir.path().display().to_string(),
            secret: None,
            time_zone: meterbook_core::rating::period::Tz::UTC,
            webhooks: meterbook_server::webhooks::DeliveryPolicy::default(),
            ingest_window: Default::default(),
            webhook_targets: Default::default(),
            timeouts: Default::default(),
            shutdown_delay: Default::default(),
            telemetry: true,
            metrics_addr: None,
            identity: Default::default(),
        },
        proxy_store.clone(),
    )
    .await
    .unwrap();
    let proxy_base = format!("http://127.0.0.1:{}", proxy.port());
    tokio::spawn(proxy.run());
    let proxy_operator = token(proxy_store.as_ref(), Role::Operator, &[]).await;
    let proxy_first = first.replace(&base, &proxy_base);
    let link = walk(&client, &proxy_first, &proxy_operator, 500).await;
    let proxy_page_1 = p50(|| fetch(&client, &proxy_first, &proxy_operator)).await;
    let proxy_page_500 = p50(|| fetch(&client, &link, &proxy_operator)).await;

    // Baseline: the plain SQL that computes page 1 and page 500 on the same database.
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let (rs, re) = (start.timestamp(), end.timestamp());
    let sql_page_1 = p50(|| plain_page_sql(&pool, rs, re, 0)).await;
    let sql_page_500 = p50(|| plain_page_sql(&pool, rs, re, 499_000)).await;
    let rss_mb = rss_kb() as f64 / 1024.0;

    let http_rate = wanted as f64 / http_secs;
    let raw_rate = wanted as f64 / raw_secs;
    let bare_rate = wanted as f64 / bare_secs;
    println!();
    println!("| measure | Meterbook | baseline | ratio | goal |");
    println!("|---|---|---|---|---|");
    println!("| bulk ingest, records/s | {:.0} (HTTP, {http_secs:.1} s) | {:.0} (raw batched SQLite insert, {raw_secs:.1} s) | {:.2}x | >= 100k/s and >= 0.5x |", http_rate, raw_rate, http_rate / raw_rate);
    println!("| bulk ingest against a raw insert without the subscription index, records/s | {:.0} | {:.0} ({bare_secs:.1} s) | {:.2}x | >= 0.5x |", http_rate, bare_rate, http_rate / bare_rate);
    println!("| 1,000-aggregate page 1, p50 | {:.1} ms (HTTP+JSON) | {:.1} ms (plain SQL) | {:.2}x | <= 2x |", ms(http_page_1), ms(sql_page_1), ms(http_page_1) / ms(sql_page_1));
    println!("| 1,000-aggregate page 500, p50 | {:.1} ms (HTTP+JSON) | {:.1} ms (plain SQL with OFFSET) | {:.2}x | <= 2x |", ms(http_page_500), ms(sql_page_500), ms(http_page_500) / ms(sql_page_500));
    println!(
        "| page 500 vs page 1 (HTTP) | {:.1} ms | {:.1} ms | {:.2}x | <= 1.5x |",
        ms(http_page_500),
        ms(http_page_1),
        ms(http_page_500) / ms(http_page_1)
    );
    println!(
        "| page 1 through a proxy Meterbook (upstream mode), p50 | {:.1} ms | {:.1} ms (direct) | {:.2}x | reported |",
        ms(proxy_page_1),
        ms(http_page_1),
        ms(proxy_page_1) / ms(http_page_1)
    );
    println!(
        "| page 500 through a proxy Meterbook (upstream mode), p50 | {:.1} ms | {:.1} ms (direct) | {:.2}x | reported |",
        ms(proxy_page_500),
        ms(http_page_500),
        ms(proxy_page_500) / ms(http_page_500)
    );
    println!(
        "| resident memory (hub, proxy and client in one process) | {rss_mb:.0} MB | | | reported |"
    );
}

/// The baseline writer: names numbered in memory, then multi-row INSERTs of the same columns, one
/// transaction per batch, with the store's SQLite settings. Only the writing is timed.
struct RawWriter {
    pool: sqlx::SqlitePool,
    ids: [HashMap<String, i64>; 3],
    elapsed: Duration,
}

impl RawWriter {
    async fn open(url: &str) -> Self {
        let options: SqliteConnectOptions = url.parse().unwrap();
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .pragma("cache_size", "-65536")
                    .pragma("temp_store", "memory"),
            )
            .await
            .unwrap();
        Self {
            pool,
            ids: Default::default(),
            elapsed: Duration::ZERO,
        }
    }

    async fn write(&mut self, batch: &[UsageRecord]) {
        let started = Instant::now();
        let mut new = Vec::new();
        let ids = &mut self.ids;
        let mut id_of = |table: usize, name: &str| -> i64 {
            let next = ids[table].len() as i64 + 1;
            *ids[table].entry(name.to_owned()).or_insert_with(|| {
                new.push((table, name.to_owned(), next));
                next
            })
        };
        let keyed: Vec<(i64, i64, i64, &UsageRecord)> = batch
            .iter()
            .map(|r| {
                let s = id_of(0, r.subscription_id.as_str());
                let m = id_of(1, &r.meter_id);
                let u = id_of(2, &r.instance.resource_uri);
                (s, m, u, r)
            })
            .collect();
        let mut tx = self.pool.begin().await.unwrap();
        for (table, name, id) in new {
            let sql = [
                "INSERT INTO subscriptions (id, subscription_id) VALUES (?, ?)",
                "INSERT INTO meters (id, meter_id) VALUES (?, ?)",
                "INSERT INTO resources (id, resource_uri) VALUES (?, ?)",
            ][table];
            sqlx::query(sql)
                .bind(id)
                .bind(name)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        for chunk in keyed.chunks(2_500) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO usage_records (usage_start, subscription, meter, resource, usage_end, reported_time, quantity, location, tags, additional_info) ",
            );
            q.push_values(chunk, |mut row, (s, m, u, r)| {
                row.push_bind(r.usage_start.timestamp())
                    .push_bind(*s)
                    .push_bind(*m)
                    .push_bind(*u)
                    .push_bind(r.usage_end.timestamp())
                    .push_bind(r.reported_time.map(|t| t.timestamp()).unwrap_or_default())
                    .push_bind(r.quantity)
                    .push_bind(r.instance.location.as_str())
                    .push_bind(
                        r.instance
                            .tags
                            .as_ref()
                            .map(|t| serde_json::Value::Object(t.clone()).to_string()),
                    )
                    .push_bind(
                        r.instance
                            .additional_info
                            .as_ref()
                            .map(|t| serde_json::Value::Object(t.clone()).to_string()),
                    );
            });
            q.build().execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
        self.elapsed += started.elapsed();
    }
}

/// The straightforward SQL for one page: filter by reported time, group, order, skip, take.
async fn plain_page_sql(pool: &sqlx::SqlitePool, rs: i64, re: i64, offset: i64) {
    let rows = sqlx::query(
        "SELECT (u.usage_start / 3600) * 3600 AS bucket, s.subscription_id, m.meter_id, r.resource_uri, SUM(u.quantity),
                MAX(u.location), MAX(u.tags), MAX(u.additional_info)
         FROM usage_records u JOIN subscriptions s ON s.id = u.subscription
         JOIN meters m ON m.id = u.meter JOIN resources r ON r.id = u.resource
         WHERE u.reported_time >= ? AND u.reported_time < ?
         GROUP BY bucket, s.subscription_id, m.meter_id, r.resource_uri
         ORDER BY bucket, s.subscription_id, m.meter_id, r.resource_uri LIMIT 1001 OFFSET ?",
    )
    .bind(rs)
    .bind(re)
    .bind(offset)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1001);
}
