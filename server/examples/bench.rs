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

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{Duration as ChronoDuration, Utc};
use meterbook_core::access::Role;
use meterbook_core::time::floor_day;
use meterbook_core::usage::{UsageAggregatePage, UsageRecord};
use meterbook_core::SubscriptionId;
use meterbook_server::auth::{issue_token, TokenRequest};
use meterbook_server::demo::{self, DemoSpec};
use meterbook_server::source::UpstreamConfig;
use meterbook_server::store::{self, SqliteStore};
use meterbook_server::{Application, ServerConfig, DEFAULT_PROVIDER_SUBSCRIPTION};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite};

const BATCH: usize = 10_000;
const REPEATS: usize = 15;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let wanted: usize = args
        .iter()
        .position(|a| a == "--records")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.replace('_', "").parse().expect("--records N"))
        .unwrap_or(1_000_000);
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

    // Meterbook: POST the batches to a real server, two clients at a time.
    let url = format!("sqlite://{}", dir.path().join("meterbook.db").display());
    let store = store::open(&url).await.unwrap();
    let app = Application::build(
        ServerConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            public_url: None,
            provider_subscription: SubscriptionId::parse(DEFAULT_PROVIDER_SUBSCRIPTION).unwrap(),
            upstream: None,
            trust_forwarded_for: false,
            widget_origins: Vec::new(),
            sessions: Default::default(),
            site_root: dir.path().display().to_string(),
            secret: None,
        },
        store.clone(),
    )
    .await
    .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run());
    let (_, provider) = issue_token(
        store.as_ref(),
        &TokenRequest {
            name: "bench-provider",
            role: Role::Provider,
            subscriptions: &[],
            created_by: None,
        },
    )
    .await
    .unwrap();
    let (_, operator) = issue_token(
        store.as_ref(),
        &TokenRequest {
            name: "bench-operator",
            role: Role::Operator,
            subscriptions: &[],
            created_by: None,
        },
    )
    .await
    .unwrap();
    let client = reqwest::Client::new();
    // JSON is made two batches at a time (so 10M records fit in memory) and only the sending is
    // timed: the client's serialization is not the server's cost.
    let mut sending = Duration::ZERO;
    let mut payload = 0usize;
    let mut workload = Workload::new(end, wanted);
    loop {
        let pair: Vec<String> = workload
            .by_ref()
            .take(2)
            .map(|batch| to_json(&batch))
            .collect();
        if pair.is_empty() {
            break;
        }
        payload += pair.iter().map(String::len).sum::<usize>();
        let started = Instant::now();
        let sends = pair.into_iter().map(|body| {
            let (client, base, provider) = (client.clone(), base.clone(), provider.clone());
            tokio::spawn(async move {
                let r = client
                    .post(format!("{base}/api/v1/usage-records"))
                    .bearer_auth(provider)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{:?}", r.text().await);
            })
        });
        for send in sends.collect::<Vec<_>>() {
            send.await.unwrap();
        }
        sending += started.elapsed();
    }
    let http_secs = sending.as_secs_f64();
    println!("sent {:.0} MB of JSON", payload as f64 / 1e6);
    assert_eq!(store.record_count().await.unwrap(), wanted as u64);

    // Paging the provider API, hourly with details, over everything reported.
    let start = end - ChronoDuration::days(31);
    let first = format!(
        "{base}/subscriptions/{DEFAULT_PROVIDER_SUBSCRIPTION}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates?api-version=2015-06-01-preview&reportedStartTime={}&reportedEndTime={}&aggregationGranularity=Hourly",
        start.format("%Y-%m-%dT%H:%M:%SZ"),
        end.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let mut link = first.clone();
    let mut page_500 = None;
    for page in 1..=500 {
        let body: UsageAggregatePage = client
            .get(&link)
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body.value.len(), 1_000);
        if page == 500 {
            page_500 = Some(link.clone());
        }
        link = body.next_link.expect("more pages");
    }
    let page_500 = page_500.unwrap();
    let http_page_1 = p50(REPEATS, || fetch(&client, &first, &operator)).await;
    let http_page_500 = p50(REPEATS, || fetch(&client, &page_500, &operator)).await;

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
                credential,
                SubscriptionId::parse(DEFAULT_PROVIDER_SUBSCRIPTION).unwrap(),
            )),
            trust_forwarded_for: false,
            widget_origins: Vec::new(),
            sessions: Default::default(),
            site_root: dir.path().display().to_string(),
            secret: None,
        },
        proxy_store.clone(),
    )
    .await
    .unwrap();
    let proxy_base = format!("http://127.0.0.1:{}", proxy.port());
    tokio::spawn(proxy.run());
    let (_, proxy_operator) = issue_token(
        proxy_store.as_ref(),
        &TokenRequest {
            name: "bench-operator",
            role: Role::Operator,
            subscriptions: &[],
            created_by: None,
        },
    )
    .await
    .unwrap();
    let proxy_first = first.replace(&base, &proxy_base);
    let mut link = proxy_first.clone();
    for _ in 1..500 {
        let body: UsageAggregatePage = client
            .get(&link)
            .bearer_auth(&proxy_operator)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        link = body.next_link.expect("more pages");
    }
    let proxy_page_1 = p50(REPEATS, || fetch(&client, &proxy_first, &proxy_operator)).await;
    let proxy_page_500 = p50(REPEATS, || fetch(&client, &link, &proxy_operator)).await;

    // Baseline: the plain SQL that computes page 1 and page 500 on the same database.
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let (rs, re) = (start.timestamp(), end.timestamp());
    let sql_page_1 = p50(REPEATS, || plain_page_sql(&pool, rs, re, 0)).await;
    let sql_page_500 = p50(REPEATS, || plain_page_sql(&pool, rs, re, 499_000)).await;
    let rss_mb = rss_kb() as f64 / 1024.0;

    let http_rate = wanted as f64 / http_secs;
    let raw_rate = wanted as f64 / raw_secs;
    println!();
    println!("| measure | Meterbook | baseline | ratio | goal |");
    println!("|---|---|---|---|---|");
    println!("| bulk ingest, records/s | {:.0} (HTTP, {http_secs:.1} s) | {:.0} (raw batched SQLite insert, {raw_secs:.1} s) | {:.2}x | >= 100k/s and >= 0.5x |", http_rate, raw_rate, http_rate / raw_rate);
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

fn to_json(records: &[UsageRecord]) -> String {
    serde_json::Value::Array(records.iter().map(UsageRecord::to_ingest_json).collect()).to_string()
}

/// The demo usage of one tenant after another (each its own seed), in batches, up to a count.
struct Workload {
    end: chrono::DateTime<Utc>,
    left: usize,
    next_seed: u64,
    buffer: Vec<UsageRecord>,
}

impl Workload {
    fn new(end: chrono::DateTime<Utc>, wanted: usize) -> Self {
        Self {
            end,
            left: wanted,
            next_seed: 1,
            buffer: Vec::new(),
        }
    }
}

impl Iterator for Workload {
    type Item = Vec<UsageRecord>;

    fn next(&mut self) -> Option<Vec<UsageRecord>> {
        let size = BATCH.min(self.left);
        if size == 0 {
            return None;
        }
        while self.buffer.len() < size {
            let spec = DemoSpec {
                tenants: 1,
                days: 30,
                seed: self.next_seed,
                now: self.end - ChronoDuration::seconds(1),
            };
            self.buffer.extend(demo::records(&spec));
            self.next_seed += 1;
        }
        self.left -= size;
        Some(self.buffer.drain(..size).collect())
    }
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

async fn fetch(client: &reqwest::Client, url: &str, token: &str) {
    let body = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(body.len() > 100_000);
}

async fn p50<F, Fut>(n: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    f().await; // warm-up
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await;
        times.push(t.elapsed());
    }
    times.sort();
    times[n / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
