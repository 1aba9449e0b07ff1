//! Load test (`cargo xtask load`): two `meterbook serve` processes on one PostgreSQL, with an
//! hour of a cloud's traffic played at 60 times real speed by many concurrent clients:
//!
//! - resource providers POST each record of the hour in batches at its reported time; some
//!   batches are sent twice (a retry after a lost answer) and some again later with corrected
//!   quantities;
//! - tenants open their usage (the tenant API, the last day hourly with details, every page) a
//!   few times an hour each;
//! - operators export the last two hours of every tenant (the provider API, every page) every
//!   five minutes.
//!
//! Requests alternate between the two servers, so a page's `nextLink` from one server is followed
//! on the other. Before the hour, the store is given the days of history before it. After it,
//! the servers get SIGTERM, and the store must hold every record exactly once with the last
//! quantity sent. Prints throughput, p50/p99 latency and errors as Markdown for BENCHMARKS.md.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{Duration as ChronoDuration, Utc};
use common::{
    connect_admin, fresh_schema, ms, number_arg, percentile, text_arg, time_param, to_json, token,
};
use meterbook_core::access::Role;
use meterbook_core::time::floor_hour;
use meterbook_core::usage::{UsageAggregatePage, UsageRecord};
use meterbook_server::demo::{self, DemoSpec};
use meterbook_server::store;
use meterbook_server::DEFAULT_PROVIDER_SUBSCRIPTION;
use tokio::sync::Semaphore;

const SCHEMA: &str = "mb_load";
/// Records per ingest batch, as a resource provider's reporter might send them.
const RECORDS_PER_BATCH: usize = 250;
/// Every RETRY_EVERY-th batch is sent twice; every CORRECT_EVERY-th again with new quantities.
const RETRY_EVERY: usize = 10;
const CORRECT_EVERY: usize = 20;
/// Simulated seconds between an original batch and its retry or correction.
const RESEND_AFTER: i64 = 120;

/// What one request was, for the report.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
enum Kind {
    Ingest,
    TenantPage,
    OperatorPage,
}

#[derive(Default)]
struct Tally {
    latencies: HashMap<Kind, Vec<Duration>>,
    errors: Vec<String>,
    /// The furthest any operation started behind its schedule.
    worst_lag: Duration,
}

type Shared = Arc<Mutex<Tally>>;

#[tokio::main]
async fn main() {
    let server = text_arg("--database", "postgres://root@127.0.0.1:5432/test");
    let binary = text_arg("--server-bin", "target/release/meterbook");
    let tenants = number_arg("--tenants", 200);
    let history_days = number_arg("--history-days", 3) as u32;
    let views = number_arg("--views", 6);
    let speedup = number_arg("--speedup", 60) as f64;
    let clients = number_arg("--clients", 64);

    let url = fresh_schema(&connect_admin(&server).await, &server, SCHEMA).await;
    let store = store::open(&url).await.unwrap();
    let now = floor_hour(Utc::now());
    let hour_start = now - ChronoDuration::hours(1);
    let spec = DemoSpec {
        tenants,
        days: history_days + 1,
        seed: 11,
        now,
    };
    let (history, live): (Vec<UsageRecord>, Vec<UsageRecord>) = demo::records(&spec)
        .into_iter()
        .partition(|r| r.reported_time.is_some_and(|t| t < hour_start));
    let started = Instant::now();
    for batch in history.chunks(10_000) {
        store.ingest(batch, now).await.unwrap();
    }
    println!(
        "history: {} records ({tenants} tenants, {history_days} days) stored in {:.1} s",
        history.len(),
        started.elapsed().as_secs_f64()
    );

    let provider = token(store.as_ref(), Role::Provider, &[]).await;
    let operator = token(store.as_ref(), Role::Operator, &[]).await;
    let mut tenant_tokens = Vec::new();
    for tenant in demo::tenants(&spec) {
        let sub = tenant.subscription_id;
        tenant_tokens.push((
            token(store.as_ref(), Role::Tenant, std::slice::from_ref(&sub)).await,
            sub,
        ));
    }
    let site = tempfile::tempdir().unwrap();
    let mut servers = Vec::new();
    let mut bases = Vec::new();
    for _ in 0..2 {
        let (child, base) = start_server(&binary, &url, site.path()).await;
        servers.push(child);
        bases.push(base);
    }

    // The hour's schedule, in simulated seconds from its start.
    let mut live = live;
    live.sort_by_key(|r| r.reported_time);
    let batches: Vec<Vec<UsageRecord>> = live
        .chunks(RECORDS_PER_BATCH)
        .map(<[UsageRecord]>::to_vec)
        .collect();
    let mut expected: HashMap<String, f64> = HashMap::new();
    let key = |r: &UsageRecord| {
        format!(
            "{}|{}|{}|{}",
            r.usage_start.timestamp(),
            r.subscription_id,
            r.meter_id,
            r.instance.resource_uri
        )
    };
    for r in &history {
        expected.insert(key(r), r.quantity);
    }

    let tally: Shared = Arc::default();
    let permits = Arc::new(Semaphore::new(clients));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let clock = Instant::now();
    let real = move |simulated: i64| Duration::from_secs_f64(simulated as f64 / speedup);
    let mut tasks = Vec::new();
    let mut requests = 0usize;

    for (n, batch) in batches.into_iter().enumerate() {
        let at = batch[0]
            .reported_time
            .map_or(0, |t| (t - hour_start).num_seconds());
        let mut sends = vec![(at, to_json(&batch))];
        if n % RETRY_EVERY == 0 {
            sends.push((at + RESEND_AFTER, to_json(&batch)));
        }
        let mut last = batch.clone();
        if n % CORRECT_EVERY == 0 {
            for r in &mut last {
                r.quantity *= 1.5;
            }
            sends.push((at + 2 * RESEND_AFTER, to_json(&last)));
        }
        for r in &last {
            expected.insert(key(r), r.quantity);
        }
        requests += sends.len();
        let url = format!("{}/api/v1/usage-records", bases[n % 2]);
        let (client, provider, tally, permits) = (
            client.clone(),
            provider.clone(),
            tally.clone(),
            permits.clone(),
        );
        // One task per batch: its resends go out after it was answered, as a reporter's would.
        tasks.push(tokio::spawn(async move {
            for (at, body) in sends {
                wait_until(clock, real(at), &tally).await;
                let _permit = permits.acquire().await.unwrap();
                let t = Instant::now();
                let answer = client
                    .post(&url)
                    .bearer_auth(&provider)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let outcome = match answer {
                    Ok(r) if r.status().is_success() => {
                        r.bytes().await.map(|_| ()).map_err(|e| e.to_string())
                    }
                    Ok(r) => Err(format!(
                        "ingest: {} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(e) => Err(format!("ingest: {e}")),
                };
                record(&tally, Kind::Ingest, t.elapsed(), outcome);
            }
        }));
    }

    let read_end = now;
    let context: ReadContext = (
        client.clone(),
        bases.clone(),
        tally.clone(),
        permits.clone(),
    );
    let mut rng = meterbook_core::rng::SplitMix64::new(7);
    for (t, (tenant_token, sub)) in tenant_tokens.iter().enumerate() {
        for v in 0..views {
            let at = rng.range(0, 3_600) as i64;
            let first = format!(
                "/subscriptions/{sub}/providers/Microsoft.Commerce/UsageAggregates?api-version=2015-06-01-preview&reportedStartTime={}&reportedEndTime={}&aggregationGranularity=Hourly&showDetails=true",
                time_param(read_end - ChronoDuration::days(1)),
                time_param(read_end)
            );
            tasks.push(spawn_walk(
                &context,
                clock,
                real(at),
                t + v,
                first,
                tenant_token.clone(),
                Kind::TenantPage,
            ));
        }
    }
    for (e, at) in (0..3_600).step_by(300).enumerate() {
        let first = format!(
            "/subscriptions/{DEFAULT_PROVIDER_SUBSCRIPTION}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates?api-version=2015-06-01-preview&reportedStartTime={}&reportedEndTime={}&aggregationGranularity=Hourly&showDetails=true",
            time_param(read_end - ChronoDuration::hours(2)),
            time_param(read_end)
        );
        tasks.push(spawn_walk(
            &context,
            clock,
            real(at),
            e,
            first,
            operator.clone(),
            Kind::OperatorPage,
        ));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = clock.elapsed();

    // Graceful stop, then the books must balance.
    for server in &mut servers {
        let stopped = Command::new("kill")
            .args(["-TERM", &server.id().to_string()])
            .status()
            .unwrap();
        assert!(stopped.success());
        let status = server.wait().unwrap();
        assert!(status.success(), "a server exited with {status}");
    }
    let stored = store.record_count().await.unwrap();
    let totals = store
        .daily_totals(
            None,
            now - ChronoDuration::days(i64::from(history_days) + 3),
            now + ChronoDuration::days(1),
        )
        .await
        .unwrap();
    let stored_sum: f64 = totals.iter().map(|t| t.quantity).sum();
    let expected_sum: f64 = expected.values().sum();
    let lost = expected.len() as i64 - stored as i64;

    let tally = tally.lock().unwrap();
    let all: usize = tally.latencies.values().map(Vec::len).sum();
    println!();
    println!(
        "hour of traffic played in {:.1} s ({speedup}x): {} requests ({requests} ingest), {:.0} requests/s, {} records in the hour, {clients} clients, 2 servers",
        elapsed.as_secs_f64(),
        all + tally.errors.len(),
        all as f64 / elapsed.as_secs_f64(),
        live.len(),
    );
    println!();
    println!("| requests | count | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    let mut kinds: Vec<_> = tally.latencies.keys().copied().collect();
    kinds.sort();
    for kind in kinds {
        let mut times = tally.latencies[&kind].clone();
        let p50 = percentile(&mut times, 0.5);
        let p99 = percentile(&mut times, 0.99);
        let max = percentile(&mut times, 1.0);
        println!(
            "| {kind:?} | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
            times.len(),
            ms(p50),
            ms(p99),
            ms(max)
        );
    }
    println!();
    println!("| check | result |");
    println!("|---|---|");
    println!(
        "| errors (non-2xx or failed requests) | {} |",
        tally.errors.len()
    );
    println!(
        "| records expected / stored / lost | {} / {stored} / {lost} |",
        expected.len()
    );
    println!("| quantity expected / stored | {expected_sum:.3} / {stored_sum:.3} |");
    println!(
        "| worst start behind schedule | {:.0} ms |",
        ms(tally.worst_lag)
    );
    for e in tally.errors.iter().take(10) {
        println!("error: {e}");
    }
    let balanced = lost == 0 && (stored_sum - expected_sum).abs() <= 1e-6 * expected_sum.max(1.0);
    if !tally.errors.is_empty() || !balanced {
        eprintln!("load test FAILED");
        std::process::exit(1);
    }
}

/// `meterbook serve` on a free port over `url`, once it accepts connections.
async fn start_server(binary: &str, url: &str, site: &std::path::Path) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(binary)
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--site-root",
        ])
        .arg(site)
        .env("MB_DATABASE_URL", url)
        .env("MB_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (child, format!("http://127.0.0.1:{port}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("{binary} did not start on port {port}");
}

/// Sleeps until `at` after `clock`, noting how late that is when the client is already behind.
async fn wait_until(clock: Instant, at: Duration, tally: &Shared) {
    let now = clock.elapsed();
    if now < at {
        tokio::time::sleep(at - now).await;
    } else {
        let mut tally = tally.lock().unwrap();
        tally.worst_lag = tally.worst_lag.max(now - at);
    }
}

fn record(tally: &Shared, kind: Kind, took: Duration, outcome: Result<(), String>) {
    let mut tally = tally.lock().unwrap();
    match outcome {
        Ok(()) => tally.latencies.entry(kind).or_default().push(took),
        Err(e) => tally.errors.push(e),
    }
}

type ReadContext = (reqwest::Client, Vec<String>, Shared, Arc<Semaphore>);

/// Starts reading every page from `first` at `at` after `clock`.
fn spawn_walk(
    context: &ReadContext,
    clock: Instant,
    at: Duration,
    turn: usize,
    first: String,
    token: String,
    kind: Kind,
) -> tokio::task::JoinHandle<()> {
    let context = context.clone();
    tokio::spawn(async move {
        wait_until(clock, at, &context.2).await;
        walk_pages(&context, turn, &first, &token, kind).await;
    })
}

/// Reads every page from `first` (a path), each page from the other server than the last.
async fn walk_pages(
    (client, bases, tally, permits): &ReadContext,
    turn: usize,
    first: &str,
    token: &str,
    kind: Kind,
) {
    let mut link = format!("{}{first}", bases[turn % 2]);
    for page in 0.. {
        let _permit = permits.acquire().await.unwrap();
        let t = Instant::now();
        let answer = client.get(&link).bearer_auth(token).send().await;
        let body: Result<UsageAggregatePage, String> = match answer {
            Ok(r) if r.status().is_success() => r.json().await.map_err(|e| e.to_string()),
            Ok(r) => Err(format!(
                "{kind:?}: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            )),
            Err(e) => Err(format!("{kind:?}: {e}")),
        };
        let took = t.elapsed();
        match body {
            Ok(body) => {
                record(tally, kind, took, Ok(()));
                let Some(next) = body.next_link else { return };
                // The next page from the other server: its token must be honoured there too.
                let (this, other) = (&bases[(turn + page) % 2], &bases[(turn + page + 1) % 2]);
                link = next.replacen(this.as_str(), other, 1);
            }
            Err(e) => {
                record(tally, kind, took, Err(e));
                return;
            }
        }
    }
}
