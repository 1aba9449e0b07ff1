//! Starting a real Meterbook for a test, and reading its API the way Azure tools do.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use meterbook_core::access::Role;
use meterbook_core::time::floor_day;
use meterbook_core::usage::{UsageAggregatePage, UsageRecord};
use meterbook_core::SubscriptionId;
use meterbook_server::auth::issue_token;
use meterbook_server::demo::{self, DemoSpec};
use meterbook_server::store::{self, UsageStore};
use meterbook_server::{Application, ServerConfig, DEFAULT_PROVIDER_SUBSCRIPTION};
use serde_json::Value;

pub const API: &str = "api-version=2015-06-01-preview";

pub struct TestApp {
    pub base: String,
    pub store: Arc<dyn UsageStore>,
    pub client: reqwest::Client,
    pub operator: String,
    pub provider: String,
    _dir: tempfile::TempDir,
}

#[derive(Default)]
pub struct Options {
    pub demo: bool,
    pub public_url: Option<String>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("meterbook.db").display());
    let store = store::open(&url).await.expect("open store");
    let app = Application::build(
        ServerConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            public_url: options.public_url,
            provider_subscription: SubscriptionId::parse(DEFAULT_PROVIDER_SUBSCRIPTION)
                .expect("id"),
            demo: options.demo,
            site_root: dir.path().display().to_string(),
            secret: None,
        },
        store.clone(),
    )
    .await
    .expect("build app");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run());
    let (_, operator) = issue_token(store.as_ref(), "test-operator", Role::Operator, &[])
        .await
        .expect("token");
    let (_, provider) = issue_token(store.as_ref(), "test-provider", Role::Provider, &[])
        .await
        .expect("token");
    TestApp {
        base,
        store,
        client: reqwest::Client::new(),
        operator,
        provider,
        _dir: dir,
    }
}

impl TestApp {
    pub async fn tenant_token(&self, subscription: &SubscriptionId) -> String {
        issue_token(
            self.store.as_ref(),
            "test-tenant",
            Role::Tenant,
            std::slice::from_ref(subscription),
        )
        .await
        .expect("token")
        .1
    }

    pub async fn get(&self, path_and_query: &str, token: Option<&str>) -> reqwest::Response {
        let url = if path_and_query.starts_with("http") {
            path_and_query.to_owned()
        } else {
            format!("{}{path_and_query}", self.base)
        };
        let mut request = self.client.get(url);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send().await.expect("request")
    }

    pub async fn ingest_body(&self, body: String, token: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/api/v1/usage-records", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn ingest(&self, records: &[Value]) -> Value {
        let response = self
            .ingest_body(Value::Array(records.to_vec()).to_string(), &self.provider)
            .await;
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
        response.json().await.expect("json")
    }

    /// Follows `nextLink` from `first` to the end; returns every aggregate and the page count.
    pub async fn all_pages(&self, first: &str, token: &str) -> (Vec<Value>, usize) {
        let mut url = first.to_owned();
        let mut all = Vec::new();
        let mut pages = 0;
        loop {
            let response = self.get(&url, Some(token)).await;
            assert_eq!(response.status(), 200, "{url}: {:?}", response.text().await);
            let page: UsageAggregatePage = response.json().await.expect("page");
            assert!(page.value.len() <= 1_000);
            pages += 1;
            all.extend(
                page.value
                    .into_iter()
                    .map(|a| serde_json::to_value(a).expect("json")),
            );
            match page.next_link {
                Some(next) => url = next,
                None => return (all, pages),
            }
        }
    }
}

/// The provider API's path.
pub fn provider_path() -> String {
    format!("/subscriptions/{DEFAULT_PROVIDER_SUBSCRIPTION}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates")
}

pub fn tenant_path(sub: &SubscriptionId) -> String {
    format!("/subscriptions/{sub}/providers/Microsoft.Commerce/UsageAggregates")
}

/// Demo records whose reported times all lie before today (UTC), so a query ending at midnight
/// sees every one, for hourly and daily aggregation alike.
pub fn demo_records(
    tenants: usize,
    days: u32,
    seed: u64,
) -> (Vec<UsageRecord>, DateTime<Utc>, DateTime<Utc>) {
    let end = floor_day(Utc::now());
    let spec = DemoSpec {
        tenants,
        days,
        seed,
        now: end - Duration::seconds(1),
    };
    let records = demo::records(&spec);
    let start = end - Duration::days(i64::from(days) + 1);
    (records, start, end)
}

pub fn as_json(records: &[UsageRecord]) -> Vec<Value> {
    records.iter().map(UsageRecord::to_ingest_json).collect()
}

pub fn time_param(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn quantity_sum(aggregates: &[Value]) -> f64 {
    aggregates
        .iter()
        .map(|a| a["properties"]["quantity"].as_f64().expect("quantity"))
        .sum()
}

/// (subscription, meter, resource, usage start): what identifies an aggregate with details.
pub fn keys(aggregates: &[Value]) -> HashSet<(String, String, String, String)> {
    aggregates
        .iter()
        .map(|a| {
            let p = &a["properties"];
            let instance: Value = p["instanceData"]
                .as_str()
                .map(|s| serde_json::from_str(s).expect("instanceData"))
                .unwrap_or(Value::Null);
            (
                p["subscriptionId"].as_str().unwrap_or_default().to_owned(),
                p["meterId"].as_str().unwrap_or_default().to_owned(),
                instance["Microsoft.Resources"]["resourceUri"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                p["usageStartTime"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}
