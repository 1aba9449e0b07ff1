//! What metrics and request IDs cost (`cargo xtask bench-telemetry [--records N]`): two servers
//! in this process, one with telemetry (the metrics layer, request IDs, every metric recorded
//! into a Prometheus recorder) and one without (neither layer; the recorder switched off, so
//! every metric call is a no-op), each on a SQLite store of its own holding the same records.
//!
//! - ingest: the same batches POSTed to each server in turn (one client), each batch's time;
//! - ARM page 1: the provider API's first page, hourly with details, asked of each in turn (both
//!   servers on the same store for this).
//!
//! Samples alternate between the two servers so drift (page cache, CPU clock) falls on both. As in
//! a real server, the recorder's upkeep runs every 5 s and it is rendered (scraped) every 15 s.
//! Results print as Markdown for BENCHMARKS.md.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{Duration as ChronoDuration, Utc};
use common::{
    fetch, ms, number_arg, percentile, provider_page_url, serve_with, to_json, token, Workload,
};
use meterbook_core::access::Role;
use meterbook_core::time::floor_day;
use meterbook_server::store;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::PrometheusRecorder;

/// Whether metric calls reach the Prometheus recorder: on while the telemetry server is measured.
static RECORDING: AtomicBool = AtomicBool::new(false);

/// Meterbook's Prometheus recorder behind a switch; off, every handle is a no-op.
struct Switch(PrometheusRecorder);

impl Recorder for Switch {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_counter(key, unit, description)
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_gauge(key, unit, description)
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_histogram(key, unit, description)
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        if RECORDING.load(Ordering::Relaxed) {
            self.0.register_counter(key, metadata)
        } else {
            Counter::noop()
        }
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        if RECORDING.load(Ordering::Relaxed) {
            self.0.register_gauge(key, metadata)
        } else {
            Gauge::noop()
        }
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        if RECORDING.load(Ordering::Relaxed) {
            self.0.register_histogram(key, metadata)
        } else {
            Histogram::noop()
        }
    }
}

#[tokio::main]
async fn main() {
    let wanted = number_arg("--records", 200_000);
    let page_samples = number_arg("--samples", 41);
    let recorder = meterbook_server::metrics::recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(Switch(recorder)).unwrap();
    meterbook_server::metrics::describe();

    // What a real server pays besides recording: upkeep every few seconds, and a scrape.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(meterbook_server::metrics::UPKEEP_EVERY);
        let mut ticks = 0u64;
        loop {
            every.tick().await;
            upkeep.run_upkeep();
            ticks += 1;
            if ticks.is_multiple_of(3) {
                std::hint::black_box(upkeep.render());
            }
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let mut servers = Vec::new();
    let mut stores = Vec::new();
    for (name, telemetry) in [("without", false), ("with", true)] {
        let url = format!(
            "sqlite://{}",
            dir.path().join(format!("{name}.db")).display()
        );
        let store = store::open(&url).await.unwrap();
        let base = serve_with(store.clone(), dir.path(), telemetry).await;
        let provider = token(store.as_ref(), Role::Provider, &[]).await;
        let operator = token(store.as_ref(), Role::Operator, &[]).await;
        servers.push((telemetry, base, provider, operator));
        stores.push(store);
    }
    let client = reqwest::Client::new();
    println!("records: {wanted} (demo tenants x 30 days), each to both servers");

    // Ingest: each batch to one server and then the other, alternating which goes first.
    let end = floor_day(Utc::now());
    let mut ingest: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for (i, batch) in Workload::new(end, wanted).enumerate() {
        let body = to_json(&batch);
        for k in 0..2 {
            let which = (i + k) % 2;
            let (telemetry, base, provider, _) = &servers[which];
            RECORDING.store(*telemetry, Ordering::Relaxed);
            let started = Instant::now();
            let answer = client
                .post(format!("{base}/api/v1/usage-records"))
                .bearer_auth(provider)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200);
            ingest[which].push(started.elapsed());
        }
    }

    // ARM page 1, asked of each in turn after one warm-up each. Both servers read one store
    // here (the one the telemetry server filled), so only telemetry differs between them.
    let store = stores[1].clone();
    let base = serve_with(store.clone(), dir.path(), false).await;
    let operator = token(store.as_ref(), Role::Operator, &[]).await;
    servers[0] = (false, base, String::new(), operator);
    let start = end - ChronoDuration::days(31);
    let mut pages: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for round in 0..=page_samples {
        for k in 0..2 {
            let which = (round + k) % 2;
            let (telemetry, base, _, operator) = &servers[which];
            RECORDING.store(*telemetry, Ordering::Relaxed);
            let url = provider_page_url(base, start, end);
            let started = Instant::now();
            fetch(&client, &url, operator).await;
            if round > 0 {
                pages[which].push(started.elapsed());
            }
        }
    }
    RECORDING.store(true, Ordering::Relaxed);
    let rendered = handle.render();
    assert!(
        rendered.contains("meterbook_http_requests_total"),
        "the telemetry server recorded its requests"
    );

    let p50 = |times: &mut Vec<Duration>| percentile(times, 0.5);
    let (ingest_off, ingest_on) = (p50(&mut ingest[0]), p50(&mut ingest[1]));
    let (page_off, page_on) = (p50(&mut pages[0]), p50(&mut pages[1]));
    println!();
    println!("| measure (p50) | without metrics and request IDs | with them | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| ingest, one {}-record batch ({} batches each) | {:.1} ms | {:.1} ms | {:.3}x |",
        common::BATCH,
        ingest[0].len(),
        ms(ingest_off),
        ms(ingest_on),
        ingest_on.as_secs_f64() / ingest_off.as_secs_f64()
    );
    println!(
        "| ARM page 1, 1,000 hourly aggregates ({} samples each) | {:.2} ms | {:.2} ms | {:.3}x |",
        pages[0].len(),
        ms(page_off),
        ms(page_on),
        page_on.as_secs_f64() / page_off.as_secs_f64()
    );
}
