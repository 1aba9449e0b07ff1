//! Starting a real Meterbook for a test, and reading its API the way Azure tools do.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use meterbook_core::access::Role;
use meterbook_core::time::floor_day;
use meterbook_core::usage::{UsageAggregatePage, UsageRecord};
use meterbook_core::SubscriptionId;
use meterbook_server::auth::passwords::hash_password;
use meterbook_server::auth::{issue_token, TokenRequest};
use meterbook_server::demo::{self, DemoSpec};
use meterbook_server::source::UpstreamConfig;
use meterbook_server::state::SessionPolicy;
use meterbook_server::store::{self, Store};
use meterbook_server::webhook_targets::TargetPolicy;
use meterbook_server::webhooks::DeliveryPolicy;
use meterbook_server::{Application, ServerConfig, DEFAULT_PROVIDER_SUBSCRIPTION};
use serde_json::Value;

pub const API: &str = "api-version=2015-06-01-preview";

/// The password of every user the tests add.
pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    pub store: Arc<dyn Store>,
    pub client: reqwest::Client,
    pub operator: String,
    pub provider: String,
    pub database_url: String,
    /// The site root the server serves `/pkg/` from (empty until a test writes into it).
    pub site_root: tempfile::TempDir,
    /// The database this server made, removed when the server's test ends.
    _database: Option<TestDatabase>,
}

/// A fresh, empty database for one test, removed when dropped: a SQLite file, or, when
/// `MB_TEST_POSTGRES` names a PostgreSQL database (`postgres://root@127.0.0.1:5432/test`), a
/// schema of its own in it. The whole suite runs against either backend this way, and runs do
/// not collide.
pub struct TestDatabase {
    pub url: String,
    pub dir: tempfile::TempDir,
    /// The PostgreSQL database and the schema made in it.
    schema: Option<(String, String)>,
}

static SCHEMAS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Runs one statement on its own connection and runtime, so it works from sync tests, async
/// tests and `Drop` alike.
fn run_sql(database: &str, statement: String) -> Result<(), String> {
    use sqlx::{Connection, Executor};
    let database = database.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&database)
                .await
                .map_err(|e| format!("connecting to {database}: {e}"))?;
            conn.execute(statement.as_str())
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        })
    })
    .join()
    .map_err(|_| "the SQL thread panicked".to_owned())?
}

impl TestDatabase {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match std::env::var("MB_TEST_POSTGRES") {
            Ok(database) if !database.is_empty() => {
                let n = SCHEMAS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let schema = format!("mbt_{}_{n}", std::process::id());
                run_sql(&database, format!("CREATE SCHEMA {schema}"))
                    .expect("create a test schema");
                let separator = if database.contains('?') { '&' } else { '?' };
                Self {
                    url: format!("{database}{separator}options=-c%20search_path%3D{schema}"),
                    dir,
                    schema: Some((database, schema)),
                }
            }
            _ => Self {
                url: format!("sqlite://{}", dir.path().join("meterbook.db").display()),
                dir,
                schema: None,
            },
        }
    }
}

impl Default for TestDatabase {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((database, schema)) = self.schema.take() {
            // Best effort: a leftover schema costs disk, not correctness.
            let _ = run_sql(&database, format!("DROP SCHEMA {schema} CASCADE"));
        }
    }
}

#[derive(Default)]
pub struct Options {
    pub public_url: Option<String>,
    pub upstream: Option<UpstreamConfig>,
    pub sessions: Option<SessionPolicy>,
    pub trust_forwarded_for: bool,
    pub widget_origins: Vec<String>,
    pub webhooks: Option<DeliveryPolicy>,
    /// Where webhooks may deliver; tests' receivers listen on loopback, so by default it is
    /// allowed.
    pub webhook_targets: Option<TargetPolicy>,
    pub timeouts: Option<meterbook_server::serve::Timeouts>,
    /// The directory issuers whose tokens the API accepts.
    pub identity: meterbook_server::identity::IdentityConfig,
}

/// Webhook retries in a test come after a second, not half a minute.
pub const FAST_WEBHOOKS: DeliveryPolicy = DeliveryPolicy {
    first_backoff: std::time::Duration::from_secs(1),
    max_backoff: std::time::Duration::from_secs(2),
    max_attempts: 3,
    timeout: std::time::Duration::from_secs(5),
    poll: std::time::Duration::from_millis(200),
};

/// A signed-in browser: its session cookie and the session's CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let database = TestDatabase::new();
    let url = database.url.clone();
    start_server(&url, options, Some(database)).await
}

impl TestApp {
    /// Another server on this one's database, as behind a load balancer: it shares every
    /// session, token and record, and nothing else.
    pub async fn second_server(&self) -> TestApp {
        start_server(&self.database_url, Options::default(), None).await
    }
}

/// A server on the database at `url`; `owned` is dropped (removing the database) with it.
async fn start_server(url: &str, options: Options, owned: Option<TestDatabase>) -> TestApp {
    let store = store::open(url).await.expect("open store");
    let site_root = tempfile::tempdir().expect("site root");
    let app = Application::build(
        ServerConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            public_url: options.public_url,
            provider_subscription: SubscriptionId::parse(DEFAULT_PROVIDER_SUBSCRIPTION)
                .expect("id"),
            upstream: options.upstream,
            trust_forwarded_for: options.trust_forwarded_for,
            widget_origins: options.widget_origins,
            sessions: options.sessions.unwrap_or_default(),
            site_root: site_root.path().display().to_string(),
            secret: None,
            time_zone: meterbook_core::rating::period::Tz::UTC,
            webhooks: options.webhooks.unwrap_or(FAST_WEBHOOKS),
            ingest_window: Default::default(),
            webhook_targets: options
                .webhook_targets
                .unwrap_or_else(|| TargetPolicy::parse("127.0.0.0/8").expect("range")),
            timeouts: options.timeouts.unwrap_or_default(),
            shutdown_delay: Default::default(),
            telemetry: true,
            metrics_addr: None,
            identity: options.identity,
        },
        store.clone(),
    )
    .await
    .expect("build app");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run());
    let operator = token(store.as_ref(), "test-operator", Role::Operator, &[]).await;
    let provider = token(store.as_ref(), "test-provider", Role::Provider, &[]).await;
    TestApp {
        base,
        store,
        // Redirects are part of what the tests check, so they are not followed.
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A request that hangs fails its test with its URL instead of stalling the run.
            .timeout(std::time::Duration::from_secs(60))
            // Idle connections are dropped before the server's keep-alive wait (30 s) ends, so
            // a request never goes out on a connection the server is closing.
            .pool_idle_timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("client"),
        operator,
        provider,
        database_url: url.to_owned(),
        site_root,
        _database: owned,
    }
}

pub async fn token(
    store: &dyn Store,
    name: &str,
    role: Role,
    subscriptions: &[SubscriptionId],
) -> String {
    let mut changes = store.begin().await.expect("begin");
    let (_, token) = issue_token(
        &mut changes,
        &TokenRequest {
            name,
            role,
            subscriptions,
            created_by: None,
        },
    )
    .await
    .expect("token");
    changes.commit().await.expect("commit");
    token
}

/// The value of a hidden `csrf` input in a page.
pub fn csrf_in(html: &str) -> Option<String> {
    let start = html.find(r#"name="csrf" value=""#)? + r#"name="csrf" value=""#.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

impl TestApp {
    pub async fn tenant_token(&self, subscription: &SubscriptionId) -> String {
        token(
            self.store.as_ref(),
            "test-tenant",
            Role::Tenant,
            std::slice::from_ref(subscription),
        )
        .await
    }

    /// Adds a user with [`PASSWORD`]; returns their ID.
    pub async fn add_user(&self, name: &str, role: Role, subscriptions: &[SubscriptionId]) -> i64 {
        let hash = hash_password(PASSWORD).await.expect("hash");
        let mut changes = self.store.begin().await.expect("begin");
        let id = changes
            .create_user(name, role, &hash, subscriptions)
            .await
            .expect("user");
        changes.commit().await.expect("commit");
        id
    }

    /// Grants (or takes away) subscriptions behind the portal's back, as another server would.
    pub async fn change_grants(
        &self,
        user_id: i64,
        subscriptions: &[SubscriptionId],
        granted: bool,
    ) {
        let mut changes = self.store.begin().await.expect("begin");
        changes
            .set_grants(user_id, subscriptions, granted)
            .await
            .expect("grants");
        changes.commit().await.expect("commit");
    }

    /// Posts the sign-in form as a browser would.
    pub async fn post_sign_in(&self, username: &str, password: &str) -> reqwest::Response {
        self.post_sign_in_via(None, username, password).await
    }

    /// Posts the sign-in form from `address`, as a reverse proxy names it in `X-Forwarded-For`
    /// (the app must trust it).
    pub async fn post_sign_in_from(
        &self,
        address: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        self.post_sign_in_via(Some(address), username, password)
            .await
    }

    async fn post_sign_in_via(
        &self,
        forwarded_for: Option<&str>,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let mut request = self.client.post(format!("{}/auth/sign-in", self.base));
        if let Some(address) = forwarded_for {
            request = request.header("x-forwarded-for", address);
        }
        request
            .form(&[
                ("username", username),
                ("password", password),
                ("next", "/"),
            ])
            .send()
            .await
            .expect("request")
    }

    /// Signs in and reads the session's CSRF token from a page, as a browser would.
    pub async fn sign_in(&self, username: &str) -> Session {
        let response = self.post_sign_in(username, PASSWORD).await;
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers()["location"], "/");
        let set_cookie = response.headers()["set-cookie"].to_str().expect("cookie");
        let cookie = set_cookie.split(';').next().expect("pair").to_owned();
        let html = self
            .page("/tokens", &cookie)
            .await
            .text()
            .await
            .expect("html");
        let csrf = csrf_in(&html).expect("csrf token in the page");
        Session { cookie, csrf }
    }

    /// GETs a page (or API path) with a session cookie.
    pub async fn page(&self, path: &str, cookie: &str) -> reqwest::Response {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        self.client
            .get(url)
            .header("cookie", cookie)
            .send()
            .await
            .expect("request")
    }

    /// Calls a server function the way the hydrated portal does (a form-encoded POST).
    pub async fn server_fn(
        &self,
        name: &str,
        cookie: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.client
            .post(format!("{}/api/{name}", self.base))
            .header("cookie", cookie)
            .header("accept", "application/json")
            .form(form)
            .send()
            .await
            .expect("request")
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

/// A made-up subscription ID for tenant `n` (1 to 9): `11111111-1111-4111-8111-111111111111`.
pub fn sub(n: u8) -> SubscriptionId {
    SubscriptionId::parse(&format!(
        "{n}{n}{n}{n}{n}{n}{n}{n}-1111-4111-8111-111111111111"
    ))
    .expect("a subscription ID")
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

/// A form post's redirect target, decoded.
pub async fn redirected(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let query = location.split_once('?').map_or("", |(_, q)| q).to_owned();
    serde_urlencoded::from_str::<Vec<(String, String)>>(&query)
        .unwrap()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}
