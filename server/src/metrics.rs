//! Prometheus metrics: what a server did, in the text format at `GET /metrics` (operator tokens
//! only) or on `--metrics-addr` (no authentication: bind it to an internal interface).
//!
//! Every metric's name, labels and meaning are declared here, so the Grafana dashboard in
//! `docs/grafana/meterbook.json` and the code that records them agree on one list. Code records
//! through the small functions below rather than the `metrics` macros directly. Labels take
//! bounded values only (route templates, never raw paths), so the series count stays fixed.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::store::PoolUse;

pub const HTTP_REQUESTS: &str = "meterbook_http_requests_total";
pub const HTTP_DURATION: &str = "meterbook_http_request_duration_seconds";
pub const INGEST_RECORDS: &str = "meterbook_ingest_records_total";
pub const STORE_DURATION: &str = "meterbook_store_query_duration_seconds";
pub const STORE_CONNECTIONS: &str = "meterbook_store_pool_connections";
pub const STORE_MAX_CONNECTIONS: &str = "meterbook_store_pool_max_connections";
pub const WEBHOOK_DELIVERIES: &str = "meterbook_webhook_deliveries_total";
pub const SIGN_INS: &str = "meterbook_sign_ins_total";
pub const UPSTREAM_CALLS: &str = "meterbook_upstream_calls_total";
pub const UPSTREAM_DURATION: &str = "meterbook_upstream_call_duration_seconds";

/// Latency buckets from 1 ms to 30 s: pages take milliseconds, exports and upstream walks
/// seconds.
const SECONDS_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often histograms are folded and idle series aged, between scrapes.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// A recorder with Meterbook's buckets, not installed (the benchmark wraps one in a switch).
pub fn recorder() -> metrics_exporter_prometheus::PrometheusRecorder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .expect("the bucket list is not empty")
        .build_recorder()
}

/// The process's recorder, installed on first use; every server in the process shares it.
/// `None` when another recorder was installed first (its owner renders it).
pub fn install() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .clone()
}

/// Help texts, shown by Prometheus and Grafana.
pub fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route template and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time to answer a request (headers sent), by method, route template and status"
    );
    describe_counter!(
        INGEST_RECORDS,
        "Usage records submitted, by outcome: accepted, duplicate, corrected, refused (valid JSON records of a batch refused as invalid)"
    );
    describe_histogram!(
        STORE_DURATION,
        metrics::Unit::Seconds,
        "Time the store took, by operation"
    );
    describe_gauge!(
        STORE_CONNECTIONS,
        "Database connections, by pool and state (idle, in_use)"
    );
    describe_gauge!(STORE_MAX_CONNECTIONS, "Most connections a pool opens");
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Webhook delivery attempts, by outcome: delivered, failed, refused"
    );
    describe_counter!(
        SIGN_INS,
        "Portal sign-in attempts, by outcome: signed_in, refused, throttled"
    );
    describe_counter!(
        UPSTREAM_CALLS,
        "Calls to the upstream Azure Stack Hub (until its answer's headers), by outcome: the status class (2xx...) or network_error"
    );
    describe_histogram!(
        UPSTREAM_DURATION,
        metrics::Unit::Seconds,
        "Time an upstream call took, by outcome"
    );
}

/// Counts and times every request by its route template; a path no route matched is
/// `unmatched`, so scanners cannot add series.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status),
    ];
    counter!(HTTP_REQUESTS, &labels).increment(1);
    histogram!(HTTP_DURATION, &labels).record(started.elapsed());
    response
}

/// Methods outside the usual ones share a label.
fn method_label(method: &axum::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// What one ingest batch did.
pub fn ingested(accepted: u64, duplicates: u64, corrected: u64) {
    counter!(INGEST_RECORDS, "outcome" => "accepted").increment(accepted);
    counter!(INGEST_RECORDS, "outcome" => "duplicate").increment(duplicates);
    counter!(INGEST_RECORDS, "outcome" => "corrected").increment(corrected);
}

/// Records of a batch refused as invalid (the whole batch is refused with them).
pub fn ingest_refused(records: u64) {
    counter!(INGEST_RECORDS, "outcome" => "refused").increment(records);
}

/// Times a store operation.
pub async fn timed<T>(operation: &'static str, work: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let out = work.await;
    histogram!(STORE_DURATION, "operation" => operation).record(started.elapsed());
    out
}

/// A webhook delivery attempt's outcome.
pub fn webhook_attempt(outcome: &'static str) {
    counter!(WEBHOOK_DELIVERIES, "outcome" => outcome).increment(1);
}

/// A sign-in attempt's outcome.
pub fn sign_in(outcome: &'static str) {
    counter!(SIGN_INS, "outcome" => outcome).increment(1);
}

/// One call to the upstream hub: its status class, or `network_error`.
pub fn upstream_call(status: Option<StatusCode>, took: Duration) {
    let outcome = match status.map(|s| s.as_u16() / 100) {
        Some(1) => "1xx",
        Some(2) => "2xx",
        Some(3) => "3xx",
        Some(4) => "4xx",
        Some(_) => "5xx",
        None => "network_error",
    };
    counter!(UPSTREAM_CALLS, "outcome" => outcome).increment(1);
    histogram!(UPSTREAM_DURATION, "outcome" => outcome).record(took);
}

/// The store's pools as they are now (gauges are set at scrape time).
fn pools(pools: &[PoolUse]) {
    for pool in pools {
        let in_use = pool.size.saturating_sub(pool.idle);
        gauge!(STORE_CONNECTIONS, "pool" => pool.name, "state" => "idle").set(f64::from(pool.idle));
        gauge!(STORE_CONNECTIONS, "pool" => pool.name, "state" => "in_use").set(f64::from(in_use));
        gauge!(STORE_MAX_CONNECTIONS, "pool" => pool.name).set(f64::from(pool.max));
    }
}

/// The text exposition, with the pool gauges read now.
pub fn render(handle: &PrometheusHandle, store_pools: &[PoolUse]) -> Response {
    pools(store_pools);
    handle.run_upkeep();
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The router of `--metrics-addr`: `/metrics` only, without authentication.
pub fn listener_router(
    handle: PrometheusHandle,
    store: std::sync::Arc<dyn crate::store::Store>,
) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            let store = store.clone();
            async move { render(&handle, &store.pools()) }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECLARED: [&str; 10] = [
        HTTP_REQUESTS,
        HTTP_DURATION,
        INGEST_RECORDS,
        STORE_DURATION,
        STORE_CONNECTIONS,
        STORE_MAX_CONNECTIONS,
        WEBHOOK_DELIVERIES,
        SIGN_INS,
        UPSTREAM_CALLS,
        UPSTREAM_DURATION,
    ];

    /// The dashboard in the repo reads only metrics this module records, and shows each of them.
    #[test]
    fn the_grafana_dashboard_uses_the_declared_metrics() {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../docs/grafana/meterbook.json"))
                .expect("the dashboard is JSON");
        let exprs: Vec<String> = dashboard["panels"]
            .as_array()
            .expect("panels")
            .iter()
            .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
            .map(|t| t["expr"].as_str().expect("expr").to_owned())
            .collect();
        let used: std::collections::BTreeSet<String> = exprs
            .iter()
            .flat_map(|e| {
                e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|w| w.starts_with("meterbook_"))
                    .map(|w| {
                        ["_bucket", "_count", "_sum"]
                            .iter()
                            .fold(w, |w, suffix| w.strip_suffix(suffix).unwrap_or(w))
                            .to_owned()
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        for name in &used {
            assert!(DECLARED.contains(&name.as_str()), "{name} is not recorded");
        }
        for name in DECLARED {
            assert!(used.contains(name), "{name} is on no panel");
        }
    }
}
