//! The embeddable usage widget: made in the portal for a subscription its creator may read, shown
//! to anyone with its link (framed only by allowed origins), and showing nothing once revoked,
//! expired or its creator loses access.

use chrono::{Datelike, Duration, TimeZone, Utc};
use meterbook_core::access::Role;
use meterbook_core::SubscriptionId;
use meterbook_server::auth::tokens::hash_secret;
use meterbook_server::store::NewWidget;
use serde_json::{json, Value};

use crate::helpers::*;

const VM_HOURS: &str = "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5";
const BLOB_GB_HOURS: &str = "09F8879E-87E9-4305-A572-4B7BE209F857";
const EMBEDDER: &str = "http://embedder.example:8080";

/// Static IP Address Usage (category Network).
const STATIC_IP_HOURS: &str = "F271A8A388C44D93956A063E1D2FA80B";

fn sub(n: u8) -> SubscriptionId {
    SubscriptionId::parse(&format!("{n:08x}-2222-4222-8222-222222222222")).unwrap()
}

/// One hour of usage of `meter` at the start of this month (always in the past, always this
/// month).
fn record(subscription: &SubscriptionId, meter: &str, quantity: f64) -> Value {
    let now = Utc::now();
    let start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .unwrap();
    json!({
        "subscriptionId": subscription.as_str(),
        "meterId": meter,
        "usageStartTime": time_param(start),
        "usageEndTime": time_param(start + Duration::hours(1)),
        "quantity": quantity,
        "instanceData": {"Microsoft.Resources": {
            "resourceUri": format!("/subscriptions/{subscription}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"),
            "location": "local"
        }},
    })
}

struct World {
    app: TestApp,
    user_id: i64,
    tina: Session,
}

async fn world() -> World {
    let app = spawn_app_with(Options {
        widget_origins: vec![EMBEDDER.to_owned()],
        ..Options::default()
    })
    .await;
    app.ingest(&[
        record(&sub(1), VM_HOURS, 7.0),
        record(&sub(1), BLOB_GB_HOURS, 123.5),
        record(&sub(2), VM_HOURS, 999.0),
    ])
    .await;
    let user_id = app.add_user("tina", Role::Tenant, &[sub(1)]).await;
    let tina = app.sign_in("tina").await;
    World { app, user_id, tina }
}

impl World {
    async fn create(&self, subscription: &str, categories: &str) -> reqwest::Response {
        self.app
            .server_fn(
                "create_widget",
                &self.tina.cookie,
                &[
                    ("csrf", &self.tina.csrf),
                    ("name", "Team usage"),
                    ("subscription", subscription),
                    ("categories", categories),
                    ("days", "30"),
                ],
            )
            .await
    }

    /// Creates a widget and returns its path (`/widget?token=…`) and ID.
    async fn widget(&self, categories: &str) -> (String, i64) {
        let response = self.create(sub(1).as_str(), categories).await;
        assert_eq!(response.status(), 200);
        let created: Value = response.json().await.unwrap();
        let url = created["url"].as_str().unwrap();
        let path = &url[url.find("/widget?").unwrap()..];
        assert!(created["iframe"].as_str().unwrap().contains(url));
        assert!(created["script"]
            .as_str()
            .unwrap()
            .contains("/widget.js\" data-token=\"mbw_"));
        (path.to_owned(), created["id"].as_i64().unwrap())
    }
}

#[tokio::test]
async fn a_widget_shows_its_subscriptions_month_to_anyone_with_the_link() {
    let w = world().await;
    let (path, _) = w.widget("").await;
    let response = w.app.get(&path, None).await;
    assert_eq!(response.status(), 200);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains(&format!("frame-ancestors 'self' {EMBEDDER}")),
        "{csp}"
    );
    assert!(csp.contains("default-src 'none'"), "no script runs in it");
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    let html = response.text().await.unwrap();
    for needle in [
        "Team usage",
        "Compute",
        "Storage",
        "123.5",
        "<svg",
        "Latest usage",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
    assert!(!html.contains("999"), "another subscription's usage");

    // Every other page refuses to be framed.
    let portal = w.app.page("/", &w.tina.cookie).await;
    assert!(portal.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .ends_with("frame-ancestors 'none'"));
    let script = w.app.get("/widget.js", None).await;
    assert_eq!(script.status(), 200);
    assert!(script.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
}

#[tokio::test]
async fn a_widget_can_be_limited_to_some_meter_categories() {
    let w = world().await;
    let (path, _) = w.widget("storage").await;
    let html = w.app.get(&path, None).await.text().await.unwrap();
    assert!(html.contains("123.5"));
    assert!(!html.contains("data-category=\"Compute\""), "{html}");

    // Two of the three categories the subscription used.
    w.app.ingest(&[record(&sub(1), STATIC_IP_HOURS, 3.0)]).await;
    let (path, _) = w.widget("Storage, Network").await;
    let html = w.app.get(&path, None).await.text().await.unwrap();
    assert!(html.contains("data-category=\"Storage\""), "{html}");
    assert!(html.contains("data-category=\"Network\""), "{html}");
    assert!(!html.contains("data-category=\"Compute\""), "{html}");
    assert!(html.contains("Latest usage: "), "{html}");
    assert!(!html.contains("none yet"), "{html}");
    let bad = w.create(sub(1).as_str(), "Storage, Lasers").await;
    assert_eq!(bad.status(), 400);
    assert!(bad
        .text()
        .await
        .unwrap()
        .contains("'Lasers' is not a meter category"));
}

#[tokio::test]
async fn a_revoked_expired_or_orphaned_widget_shows_why_and_no_usage() {
    let w = world().await;
    let (path, id) = w.widget("").await;
    let revoked = w
        .app
        .server_fn(
            "revoke_widget",
            &w.tina.cookie,
            &[("csrf", &w.tina.csrf), ("id", &id.to_string())],
        )
        .await;
    assert_eq!(revoked.status(), 200);
    let gone = w.app.get(&path, None).await;
    assert_eq!(gone.status(), 410);
    let html = gone.text().await.unwrap();
    assert!(html.contains("was revoked"));
    assert!(!html.contains("123.5") && !html.contains("Compute"));

    // Expired.
    let token = "mbw_expired-for-the-test";
    let mut changes = w.app.store.begin().await.unwrap();
    changes
        .create_widget(&NewWidget {
            name: "old",
            token_hash: &hash_secret(token),
            subscription: &sub(1),
            categories: &[],
            created_by: w.user_id,
            expires_at: Utc::now() - Duration::minutes(1),
        })
        .await
        .unwrap();
    changes.commit().await.unwrap();
    let expired = w.app.get(&format!("/widget?token={token}"), None).await;
    assert_eq!(expired.status(), 410);
    assert!(expired.text().await.unwrap().contains("expired"));

    // Its creator loses the grant.
    let (path, _) = w.widget("").await;
    w.app.change_grants(w.user_id, &[sub(1)], false).await;
    let orphaned = w.app.get(&path, None).await;
    assert_eq!(orphaned.status(), 403);
    assert!(!orphaned.text().await.unwrap().contains("123.5"));

    for (path, status) in [
        ("/widget", 400),
        ("/widget?token=nonsense", 400),
        ("/widget?token=mbw_unknown", 404),
    ] {
        assert_eq!(w.app.get(path, None).await.status(), status, "{path}");
    }
}

#[tokio::test]
async fn widgets_are_made_only_for_readable_subscriptions_and_listed_to_their_owner() {
    let w = world().await;
    let theirs = w.create(sub(2).as_str(), "").await;
    assert_eq!(theirs.status(), 403);
    assert!(theirs.text().await.unwrap().contains("no access"));
    let nonsense = w.create("not-a-guid", "").await;
    assert_eq!(nonsense.status(), 400);

    w.widget("").await;
    w.app.add_user("olga", Role::Operator, &[]).await;
    let olga = w.app.sign_in("olga").await;
    w.app.add_user("tom", Role::Tenant, &[sub(1)]).await;
    let tom = w.app.sign_in("tom").await;
    let listed = |session: Session| {
        let app = &w.app;
        async move {
            let data: Value = app
                .server_fn("load_widgets", &session.cookie, &[])
                .await
                .json()
                .await
                .unwrap();
            data["widgets"].as_array().unwrap().len()
        }
    };
    assert_eq!(listed(w.tina.clone()).await, 1);
    assert_eq!(listed(olga).await, 1, "operators see every widget");
    assert_eq!(listed(tom.clone()).await, 0, "tenant users see their own");

    // Tom cannot revoke Tina's widget.
    let id = {
        let data: Value = w
            .app
            .server_fn("load_widgets", &w.tina.cookie, &[])
            .await
            .json()
            .await
            .unwrap();
        data["widgets"][0]["id"].as_i64().unwrap()
    };
    let refused = w
        .app
        .server_fn(
            "revoke_widget",
            &tom.cookie,
            &[("csrf", &tom.csrf), ("id", &id.to_string())],
        )
        .await;
    assert_eq!(
        refused.status(),
        404,
        "another's widget is not found, as in Azure"
    );
}
