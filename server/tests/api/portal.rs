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
async fn a_large_clouds_overview_lists_the_first_fifty_subscriptions_until_asked_for_all() {
    let app = spawn_app().await;
    let start = meterbook_core::time::floor_day(chrono::Utc::now()) - chrono::Duration::days(2);
    let records: Vec<serde_json::Value> = (1..=60)
        .map(|i| {
            serde_json::json!({
                "subscriptionId": format!("{i:08}-2222-4222-8222-222222222222"),
                "meterId": "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5",
                "usageStartTime": time_param(start),
                "usageEndTime": time_param(start + chrono::Duration::hours(1)),
                "quantity": f64::from(i),
            })
        })
        .collect();
    app.ingest(&records).await;
    app.add_user("olivia", Role::Operator, &[]).await;
    let session = app.sign_in("olivia").await;
    let rows = |html: &str| {
        html.matches("title=\"Explore this subscription's usage\"")
            .count()
    };

    let html = app.page("/", &session.cookie).await.text().await.unwrap();
    assert_eq!(rows(&html), 50, "the first fifty");
    assert!(html.contains("The first 50 of 60 subscriptions"), "{html}");
    assert!(
        html.contains("00000060-2222"),
        "largest usage first: the top consumer is listed"
    );
    assert!(html.contains("Show all 60"));

    let html = app
        .page("/?sort=-usage&all=1", &session.cookie)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(rows(&html), 60, "all of them");
    assert!(!html.contains("Show all"));
    assert!(html.contains("00000001-2222"));
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
    app.change_grants(id, &[sub], false).await;
    let html = app.page("/", &session.cookie).await.text().await.unwrap();
    assert!(html.contains("not been granted any subscription"), "{html}");
}

#[tokio::test]
async fn site_assets_are_sent_precompressed_and_revalidated() {
    let app = spawn_app().await;
    let pkg = app.site_root.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let wasm = vec![7u8; 4096];
    std::fs::write(pkg.join("meterbook.wasm"), &wasm).unwrap();
    std::fs::write(pkg.join("meterbook.wasm.br"), b"brotli bytes").unwrap();
    std::fs::write(pkg.join("meterbook.wasm.gz"), b"gzip bytes").unwrap();
    // reqwest here decompresses nothing: the bytes are what crossed the wire.
    let client = reqwest::Client::new();
    let url = format!("{}/pkg/meterbook.wasm", app.base);
    let get = |encoding: &'static str| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            client
                .get(url)
                .header("accept-encoding", encoding)
                .send()
                .await
                .unwrap()
        }
    };

    let br = get("gzip, deflate, br").await;
    assert_eq!(br.status(), 200);
    assert_eq!(br.headers()["content-encoding"], "br");
    assert_eq!(br.headers()["content-type"], "application/wasm");
    assert_eq!(br.headers()["cache-control"], "no-cache");
    let modified = br.headers()["last-modified"].to_str().unwrap().to_owned();
    assert_eq!(br.bytes().await.unwrap().as_ref(), b"brotli bytes");

    let gz = get("gzip").await;
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.bytes().await.unwrap().as_ref(), b"gzip bytes");

    let plain = get("identity").await;
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.bytes().await.unwrap().to_vec(), wasm);

    // A repeat visit revalidates and moves no code.
    let again = client
        .get(&url)
        .header("accept-encoding", "br")
        .header("if-modified-since", modified)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());

    let missing = client
        .get(format!("{}/pkg/nothing.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}
