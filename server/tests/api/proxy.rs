//! Meterbook in front of an Azure Stack Hub: a second Meterbook in upstream mode, pointed at a
//! first one that holds demo usage, must answer exactly what the first holds, in each caller's
//! scope, and say clearly when the upstream fails.

use std::path::PathBuf;
use std::time::Duration;

use meterbook_core::access::Role;
use meterbook_core::SubscriptionId;
use meterbook_server::source::credential::UpstreamCredential;
use meterbook_server::source::UpstreamConfig;
use serde_json::Value;

use crate::helpers::*;

struct Pair {
    hub: TestApp,
    proxy: TestApp,
    subs: Vec<SubscriptionId>,
    query: String,
    _credential: tempfile::NamedTempFile,
}

pub(crate) fn upstream_config(base: &str, token_file: PathBuf) -> UpstreamConfig {
    upstream_config_with(base, UpstreamCredential::TokenFile(token_file))
}

/// A proxy's upstream settings for tests: a few quick retries, directory syncs only on demand.
pub(crate) fn upstream_config_with(base: &str, credential: UpstreamCredential) -> UpstreamConfig {
    let mut config = UpstreamConfig::new(
        base,
        credential,
        SubscriptionId::parse(meterbook_server::DEFAULT_PROVIDER_SUBSCRIPTION).unwrap(),
    );
    config.attempts = 3;
    config.first_retry_delay = Duration::from_millis(20);
    // Syncs happen when a test asks for them.
    config.directory_sync = None;
    config
}

fn credential_file(token: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), format!("{token}\n")).unwrap();
    file
}

async fn pair() -> Pair {
    let hub = spawn_app().await;
    let (records, start, end) = demo_records(3, 2, 77);
    for chunk in as_json(&records).chunks(2_000) {
        hub.ingest(chunk).await;
    }
    let credential = credential_file(&hub.operator);
    let proxy = spawn_app_with(Options {
        upstream: Some(upstream_config(&hub.base, credential.path().to_owned())),
        ..Options::default()
    })
    .await;
    let subs: std::collections::BTreeSet<_> =
        records.iter().map(|r| r.subscription_id.clone()).collect();
    Pair {
        hub,
        proxy,
        subs: subs.into_iter().collect(),
        query: format!(
            "{API}&reportedStartTime={}&reportedEndTime={}&aggregationGranularity=Hourly",
            time_param(start),
            time_param(end)
        ),
        _credential: credential,
    }
}

#[tokio::test]
async fn an_operator_reads_through_the_proxy_exactly_what_the_hub_holds() {
    let p = pair().await;
    let path = format!("{}?{}", provider_path(), p.query);

    let (direct, direct_pages) = p.hub.all_pages(&path, &p.hub.operator).await;
    let (proxied, proxied_pages) = p.proxy.all_pages(&path, &p.proxy.operator).await;

    assert!(
        direct_pages > 2,
        "the test needs several pages, got {direct_pages}"
    );
    assert_eq!(proxied_pages, direct_pages);
    assert_eq!(proxied, direct, "same aggregates, same order, same bytes");

    let daily = format!(
        "{}?{}&subscriberId={}&showDetails=false",
        provider_path(),
        p.query.replace("Hourly", "Daily"),
        p.subs[1]
    );
    let (direct, _) = p.hub.all_pages(&daily, &p.hub.operator).await;
    let (proxied, _) = p.proxy.all_pages(&daily, &p.proxy.operator).await;
    assert!(!direct.is_empty());
    assert_eq!(proxied, direct);
}

#[tokio::test]
async fn a_tenant_reads_through_the_proxy_its_own_usage_and_nothing_else() {
    let p = pair().await;
    let mine = &p.subs[0];
    let theirs = &p.subs[1];
    let tenant = p.proxy.tenant_token(mine).await;

    let (direct, _) = p
        .hub
        .all_pages(
            &format!("{}?{}", tenant_path(mine), p.query),
            &p.hub.operator,
        )
        .await;
    let (proxied, pages) = p
        .proxy
        .all_pages(&format!("{}?{}", tenant_path(mine), p.query), &tenant)
        .await;
    assert!(pages > 1);
    assert_eq!(proxied, direct);

    for path in [
        format!("{}?{}", tenant_path(theirs), p.query),
        format!(
            "/subscriptions/{}/providers/Microsoft.Commerce/UsageAggregates?{}",
            theirs.as_str().to_uppercase(),
            p.query
        ),
        format!("{}?{}&subscriberId={theirs}", provider_path(), p.query),
        format!("/api/v1/usage/export?{}&subscriberId={theirs}", p.query),
    ] {
        let response = p.proxy.get(&path, Some(&tenant)).await;
        assert_eq!(response.status(), 403, "{path}");
        assert!(!response.text().await.unwrap().contains(theirs.as_str()));
    }
}

#[tokio::test]
async fn a_tenant_user_sees_the_upstreams_usage_in_the_portal() {
    let p = pair().await;
    let mine = &p.subs[2];
    p.proxy
        .add_user("tina", Role::Tenant, std::slice::from_ref(mine))
        .await;
    let session = p.proxy.sign_in("tina").await;

    let overview: Value = p
        .proxy
        .server_fn("load_overview", &session.cookie, &[])
        .await
        .json()
        .await
        .unwrap();
    let shown: Vec<&str> = overview["overview"]["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subscription_id"].as_str().unwrap())
        .collect();
    assert_eq!(shown, vec![mine.as_str()]);
}

#[tokio::test]
async fn a_refused_read_never_reaches_the_upstream() {
    // The credential file does not exist: any upstream call would fail with 502.
    let hub = spawn_app().await;
    let proxy = spawn_app_with(Options {
        upstream: Some(upstream_config(
            &hub.base,
            PathBuf::from("/nonexistent/credential"),
        )),
        ..Options::default()
    })
    .await;
    let mine = SubscriptionId::parse("aaaaaaaa-0000-4000-8000-000000000001").unwrap();
    let theirs = SubscriptionId::parse("bbbbbbbb-0000-4000-8000-000000000002").unwrap();
    let tenant = proxy.tenant_token(&mine).await;
    let query = format!(
        "{API}&reportedStartTime=2026-01-01T00:00:00Z&reportedEndTime=2026-01-02T00:00:00Z"
    );

    let refused = proxy
        .get(&format!("{}?{query}", tenant_path(&theirs)), Some(&tenant))
        .await;
    let allowed = proxy
        .get(&format!("{}?{query}", tenant_path(&mine)), Some(&tenant))
        .await;

    assert_eq!(refused.status(), 403);
    assert_eq!(allowed.status(), 502);
    let body: Value = allowed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UpstreamFailed");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("credential"));
    assert!(
        !body.to_string().contains("/nonexistent"),
        "paths stay in the log"
    );
}

#[tokio::test]
async fn upstream_failures_are_explained() {
    let hub = spawn_app().await;
    let wrong = credential_file("mbt_not-a-real-token");
    let refused_credential = spawn_app_with(Options {
        upstream: Some(upstream_config(&hub.base, wrong.path().to_owned())),
        ..Options::default()
    })
    .await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let right = credential_file(&hub.operator);
    let unreachable = spawn_app_with(Options {
        upstream: Some(upstream_config(
            &format!("http://{closed}"),
            right.path().to_owned(),
        )),
        ..Options::default()
    })
    .await;
    let query = format!(
        "{}?{API}&reportedStartTime=2026-01-01T00:00:00Z&reportedEndTime=2026-01-02T00:00:00Z",
        provider_path()
    );

    let denied = refused_credential
        .get(&query, Some(&refused_credential.operator))
        .await;
    let down = unreachable.get(&query, Some(&unreachable.operator)).await;

    assert_eq!(denied.status(), 502);
    let denied: Value = denied.json().await.unwrap();
    assert!(denied["error"]["message"]
        .as_str()
        .unwrap()
        .contains("refused Meterbook's credential"));
    assert!(!denied.to_string().contains(&hub.operator));
    assert_eq!(down.status(), 503);
    let down: Value = down.json().await.unwrap();
    assert!(down["error"]["message"]
        .as_str()
        .unwrap()
        .contains("could not be reached after 3 attempts"));
}

#[tokio::test]
async fn a_proxy_takes_no_ingest() {
    let p = pair().await;
    let response = p.proxy.ingest_body("[]".into(), &p.proxy.provider).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn the_proxy_names_subscriptions_as_the_hub_does() {
    let p = pair().await;
    let admin = |app: &TestApp, id: &SubscriptionId| {
        format!(
            "{}/subscriptions/{}/providers/Microsoft.Subscriptions.Admin/subscriptions/{id}?api-version=2015-11-01",
            app.base,
            meterbook_server::DEFAULT_PROVIDER_SUBSCRIPTION
        )
    };
    let put = |app: &TestApp, id: &SubscriptionId, body: Value| {
        let request = p
            .hub
            .client
            .put(admin(app, id))
            .bearer_auth(app.operator.clone())
            .json(&body);
        async move { request.send().await.unwrap().status() }
    };
    let named =
        serde_json::json!({"displayName": "Fabrikam Inc", "owner": "admin@fabrikam.example"});
    assert_eq!(put(&p.hub, &p.subs[0], named).await, 201);
    let other = serde_json::json!({"displayName": "Contoso Ltd", "state": "Disabled"});
    assert_eq!(put(&p.hub, &p.subs[1], other).await, 201);
    // A local name the hub's replaces at the next sync.
    let local = serde_json::json!({"displayName": "Fabrikam (old name)"});
    assert!(put(&p.proxy, &p.subs[0], local).await.is_success());

    let sync = |token: String| {
        let request = p
            .proxy
            .client
            .post(format!("{}/api/v1/directory/sync", p.proxy.base))
            .bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    let first = sync(p.proxy.operator.clone()).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(
        first["changed"].as_u64().unwrap() + first["added"].as_u64().unwrap(),
        2,
        "{first}"
    );

    let listed: Value = p
        .proxy
        .get(
            "/subscriptions?api-version=2016-06-01",
            Some(&p.proxy.operator),
        )
        .await
        .json()
        .await
        .unwrap();
    let names: std::collections::BTreeMap<String, String> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["subscriptionId"].as_str().unwrap().to_owned(),
                s["displayName"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(names[p.subs[0].as_str()], "Fabrikam Inc");
    assert_eq!(names[p.subs[1].as_str()], "Contoso Ltd");
    let entry = p
        .proxy
        .store
        .directory_entry(&p.subs[1])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.state.as_str(), "Disabled");

    let again: Value = sync(p.proxy.operator.clone()).await.json().await.unwrap();
    assert_eq!(
        (again["added"].as_u64(), again["changed"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );
    let tenant = p.proxy.tenant_token(&p.subs[0]).await;
    assert_eq!(sync(tenant).await.status(), 403);
    let embedded = p
        .hub
        .client
        .post(format!("{}/api/v1/directory/sync", p.hub.base))
        .bearer_auth(&p.hub.operator)
        .send()
        .await
        .unwrap();
    assert_eq!(embedded.status(), 404);
    let audit = p.proxy.store.audit_entries(20, None).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action.as_str() == "subscription.import"
                && e.detail.contains("from the upstream hub")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_proxy_reads_the_hubs_directory_when_it_starts() {
    let hub = spawn_app().await;
    let id = SubscriptionId::parse("aaaaaaaa-0000-4000-8000-000000000001").unwrap();
    let named = hub
        .client
        .put(format!(
            "{}/subscriptions/{}/providers/Microsoft.Subscriptions.Admin/subscriptions/{id}?api-version=2015-11-01",
            hub.base,
            meterbook_server::DEFAULT_PROVIDER_SUBSCRIPTION
        ))
        .bearer_auth(&hub.operator)
        .json(&serde_json::json!({"displayName": "Woodgrove Bank"}))
        .send()
        .await
        .unwrap();
    assert_eq!(named.status(), 201);
    let credential = credential_file(&hub.operator);
    let mut config = upstream_config(&hub.base, credential.path().to_owned());
    config.directory_sync = Some(Duration::from_secs(3_600));
    let proxy = spawn_app_with(Options {
        upstream: Some(config),
        ..Options::default()
    })
    .await;
    for _ in 0..100 {
        if let Some(entry) = proxy.store.directory_entry(&id).await.unwrap() {
            assert_eq!(entry.display_name, "Woodgrove Bank");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the proxy did not read the hub's directory at start");
}
