//! What the benchmark and load-test examples share: the workload, a server to measure, tokens,
//! and timing.

#![allow(dead_code)] // Each example uses its own part of this.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use meterbook_core::access::Role;
use meterbook_core::usage::{UsageAggregatePage, UsageRecord};
use meterbook_core::SubscriptionId;
use meterbook_server::auth::{issue_token, TokenRequest};
use meterbook_server::demo::{self, DemoSpec};
use meterbook_server::store::Store;
use meterbook_server::{Application, ServerConfig, DEFAULT_PROVIDER_SUBSCRIPTION};

/// Records per ingest batch.
pub const BATCH: usize = 10_000;
/// Timed repetitions behind each median.
pub const REPEATS: usize = 15;

/// The value of `--name N` (underscores allowed), or `default`.
pub fn number_arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.replace('_', "")
                .parse()
                .unwrap_or_else(|_| panic!("{name} takes a number, not {v}"))
        })
        .unwrap_or(default)
}

/// The value of `--name TEXT`, or `default`.
pub fn text_arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_owned())
}

/// The ingest API's JSON for a batch.
pub fn to_json(records: &[UsageRecord]) -> String {
    serde_json::Value::Array(records.iter().map(UsageRecord::to_ingest_json).collect()).to_string()
}

/// The demo usage of one tenant after another (each its own seed, 30 days ending at `end`), in
/// batches of [`BATCH`], up to a count; made batch by batch so that 10M records need not be in
/// memory at once.
pub struct Workload {
    end: DateTime<Utc>,
    left: usize,
    next_seed: u64,
    buffer: Vec<UsageRecord>,
}

impl Workload {
    pub fn new(end: DateTime<Utc>, wanted: usize) -> Self {
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

/// Batches made into JSON ahead of each timed round of sending, per client.
const AHEAD: usize = 8;

/// POSTs every batch of `workload` to the ingest API from `clients` concurrent clients; returns
/// the time spent sending and the JSON bytes sent. JSON is made `clients x AHEAD` batches at a
/// time, untimed (the client's serialization is not the server's cost), then sent with each
/// client taking the next batch as soon as its last is answered.
pub async fn send_all(
    client: &reqwest::Client,
    base: &str,
    provider: &str,
    mut workload: Workload,
    clients: usize,
) -> (Duration, usize) {
    let url = format!("{base}/api/v1/usage-records");
    let mut sending = Duration::ZERO;
    let mut payload = 0usize;
    loop {
        let round: Vec<String> = workload
            .by_ref()
            .take(clients * AHEAD)
            .map(|batch| to_json(&batch))
            .collect();
        if round.is_empty() {
            return (sending, payload);
        }
        payload += round.iter().map(String::len).sum::<usize>();
        let queue = Arc::new(std::sync::Mutex::new(round));
        let started = Instant::now();
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                let (client, url, provider, queue) = (
                    client.clone(),
                    url.clone(),
                    provider.to_owned(),
                    queue.clone(),
                );
                tokio::spawn(async move {
                    loop {
                        let Some(body) = queue.lock().unwrap().pop() else {
                            return;
                        };
                        let r = client
                            .post(&url)
                            .bearer_auth(&provider)
                            .body(body)
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(r.status(), 200, "{:?}", r.text().await);
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await.unwrap();
        }
        sending += started.elapsed();
    }
}

/// A Meterbook serving `store` in this process; returns its base URL.
pub async fn serve(store: Arc<dyn Store>, site_root: &std::path::Path) -> String {
    serve_with(store, site_root, true).await
}

/// A server as [`serve`] starts it, with metrics and request IDs on or off.
pub async fn serve_with(
    store: Arc<dyn Store>,
    site_root: &std::path::Path,
    telemetry: bool,
) -> String {
    start(store, site_root, telemetry, Default::default()).await
}

/// A server as [`serve`] starts it, trusting the issuers of `identity`.
pub async fn serve_identity(
    store: Arc<dyn Store>,
    site_root: &std::path::Path,
    identity: meterbook_server::identity::IdentityConfig,
) -> String {
    start(store, site_root, true, identity).await
}

async fn start(
    store: Arc<dyn Store>,
    site_root: &std::path::Path,
    telemetry: bool,
    identity: meterbook_server::identity::IdentityConfig,
) -> String {
    let app = Application::build(
        ServerConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            public_url: None,
            provider_subscription: SubscriptionId::parse(DEFAULT_PROVIDER_SUBSCRIPTION).unwrap(),
            upstream: None,
            trust_forwarded_for: false,
            widget_origins: Vec::new(),
            sessions: Default::default(),
            site_root: site_root.display().to_string(),
            secret: None,
            time_zone: meterbook_core::rating::period::Tz::UTC,
            webhooks: meterbook_server::webhooks::DeliveryPolicy::default(),
            ingest_window: Default::default(),
            webhook_targets: Default::default(),
            timeouts: Default::default(),
            shutdown_delay: Default::default(),
            telemetry,
            metrics_addr: None,
            identity,
        },
        store,
    )
    .await
    .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run());
    base
}

/// A new API token of `role` (tenants: for `subscriptions`).
pub async fn token(store: &dyn Store, role: Role, subscriptions: &[SubscriptionId]) -> String {
    let mut changes = store.begin().await.unwrap();
    let (_, token) = issue_token(
        &mut changes,
        &TokenRequest {
            name: "bench",
            role,
            subscriptions,
            created_by: None,
        },
    )
    .await
    .unwrap();
    changes.commit().await.unwrap();
    token
}

/// A connection to the PostgreSQL server at `server`, for setting up schemas.
pub async fn connect_admin(server: &str) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(server)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {server}: {e}"))
}

/// Drops and recreates `schema` on `server`; returns the URL that selects it.
pub async fn fresh_schema(admin: &sqlx::PgPool, server: &str, schema: &str) -> String {
    for statement in [
        format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        format!("CREATE SCHEMA {schema}"),
    ] {
        sqlx::query(&statement).execute(admin).await.unwrap();
    }
    let joiner = if server.contains('?') { '&' } else { '?' };
    format!("{server}{joiner}options=-c%20search_path%3D{schema}")
}

/// A time as the usage APIs take it.
pub fn time_param(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The provider API's first page of hourly aggregates with details, reported in `[start, end)`.
pub fn provider_page_url(base: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    format!(
        "{base}/subscriptions/{DEFAULT_PROVIDER_SUBSCRIPTION}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates?api-version=2015-06-01-preview&reportedStartTime={}&reportedEndTime={}&aggregationGranularity=Hourly",
        time_param(start),
        time_param(end)
    )
}

/// Follows `nextLink` from `first` to page `page` (1-based), checking that every page is full;
/// returns page `page`'s link.
pub async fn walk(client: &reqwest::Client, first: &str, token: &str, page: usize) -> String {
    let mut link = first.to_owned();
    for _ in 1..page {
        let body: UsageAggregatePage = client
            .get(&link)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body.value.len(), 1_000);
        link = body.next_link.expect("more pages");
    }
    link
}

/// Reads a page whole (at least 100 kB: a full page of aggregates with details).
pub async fn fetch(client: &reqwest::Client, url: &str, token: &str) {
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

/// The median of [`REPEATS`] timed runs, after one untimed warm-up run.
pub async fn p50<F, Fut>(mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    f().await;
    let mut times = Vec::with_capacity(REPEATS);
    for _ in 0..REPEATS {
        let t = Instant::now();
        f().await;
        times.push(t.elapsed());
    }
    percentile(&mut times, 0.5)
}

/// The p50s of `a` and `b`, run in turn `PAIRED_REPEATS` times each after a warm-up: a slow
/// spell of the machine falls on both, so the ratio of two costs of a few milliseconds holds
/// from run to run.
pub async fn p50_pair<A, FutA, B, FutB>(mut a: A, mut b: B) -> (Duration, Duration)
where
    A: FnMut() -> FutA,
    FutA: std::future::Future<Output = ()>,
    B: FnMut() -> FutB,
    FutB: std::future::Future<Output = ()>,
{
    a().await;
    b().await;
    let (mut times_a, mut times_b) = (Vec::new(), Vec::new());
    for _ in 0..PAIRED_REPEATS {
        let t = Instant::now();
        a().await;
        times_a.push(t.elapsed());
        let t = Instant::now();
        b().await;
        times_b.push(t.elapsed());
    }
    (percentile(&mut times_a, 0.5), percentile(&mut times_b, 0.5))
}

/// Runs of each side of [`p50_pair`]: its costs are small, so more of them.
pub const PAIRED_REPEATS: usize = 61;

/// The `q` quantile (0..=1) of `times`, nearest rank.
pub fn percentile(times: &mut [Duration], q: f64) -> Duration {
    if times.is_empty() {
        return Duration::ZERO;
    }
    times.sort();
    let rank = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len());
    times[rank - 1]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// This process's resident memory in kB.
pub fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
