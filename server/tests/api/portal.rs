//! The portal, served by the same server: signed-in people see what their role allows.

use meterbook_core::access::Role;

use crate::helpers::*;

#[tokio::test]
async fn an_operator_sees_every_subscription_in_the_overview() {
    let app = spawn_app().await;
    let (records, _, _) = demo_records(2, 3, 9);
    for chunk in as_json(&records).chunks(2_000) {
        app.ingest(chunk).await;
    }
    app.add_user("olivia", Role::Operator, &[]).await;
    let session = app.sign_in("olivia").await;

    let response = app.page("/", &session.cookie).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.headers()["referrer-policy"], "same-origin");
    let html = response.text().await.unwrap();
    assert!(html.contains("Usage overview"));
    let subs: std::collections::BTreeSet<_> =
        records.iter().map(|r| r.subscription_id.clone()).collect();
    assert_eq!(subs.len(), 2);
    for sub in &subs {
        assert!(html.contains(sub.as_str()), "{sub} missing");
    }
    assert!(html.contains("<svg"), "the chart is rendered on the server");
    assert!(html.contains("olivia"), "the header names who is signed in");
}

#[tokio::test]
async fn a_tenant_user_sees_only_their_subscription_in_the_overview() {
    let app = spawn_app().await;
    let (records, _, _) = demo_records(3, 2, 4);
    for chunk in as_json(&records).chunks(2_000) {
        app.ingest(chunk).await;
    }
    let subs: std::collections::BTreeSet<_> =
        records.iter().map(|r| r.subscription_id.clone()).collect();
    let mine = subs.iter().next().unwrap().clone();
    app.add_user("tina", Role::Tenant, std::slice::from_ref(&mine))
        .await;
    let session = app.sign_in("tina").await;

    let html = app.page("/", &session.cookie).await.text().await.unwrap();

    assert!(html.contains(mine.as_str()));
    for other in subs.iter().filter(|s| **s != mine) {
        assert!(
            !html.contains(other.as_str()),
            "another tenant's subscription leaked"
        );
    }
}

#[tokio::test]
async fn an_empty_store_says_why_there_is_nothing_to_show() {
    let app = spawn_app().await;
    app.add_user("olivia", Role::Operator, &[]).await;
    let session = app.sign_in("olivia").await;
    let html = app.page("/", &session.cookie).await.text().await.unwrap();
    assert!(html.contains("No usage yet"));
}

#[tokio::test]
async fn a_tenant_user_without_grants_is_told_so() {
    let app = spawn_app().await;
    let sub =
        meterbook_core::SubscriptionId::parse("11111111-2222-3333-4444-555555555555").unwrap();
    let id = app
        .add_user("tina", Role::Tenant, std::slice::from_ref(&sub))
        .await;
    let session = app.sign_in("tina").await;
    app.store.set_grants(id, &[sub], false).await.unwrap();
    let html = app.page("/", &session.cookie).await.text().await.unwrap();
    assert!(html.contains("not been granted any subscription"), "{html}");
}
