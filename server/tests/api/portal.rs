//! The portal page, served by the same server: open in demo mode, closed otherwise.

use crate::helpers::*;

#[tokio::test]
async fn the_overview_shows_the_stored_subscriptions_in_demo_mode() {
    let app = spawn_app_with(Options {
        demo: true,
        ..Options::default()
    })
    .await;
    let (records, _, _) = demo_records(2, 3, 9);
    for chunk in as_json(&records).chunks(2_000) {
        app.ingest(chunk).await;
    }

    let response = app.get("/", None).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.headers()["referrer-policy"], "same-origin");
    let html = response.text().await.unwrap();
    assert!(html.contains("Usage overview"));
    assert!(html.contains(records[0].subscription_id.as_str()));
    assert!(html.contains("<svg"), "the chart is rendered on the server");
    assert!(html.contains("VM hours"));
}

#[tokio::test]
async fn the_overview_is_closed_without_demo_mode() {
    let app = spawn_app().await;
    let response = app.get("/", None).await;
    assert_eq!(response.status(), 403);
    let html = response.text().await.unwrap();
    assert!(html.contains("The portal needs sign-in"));
}

#[tokio::test]
async fn an_empty_store_says_why_there_is_nothing_to_show() {
    let app = spawn_app_with(Options {
        demo: true,
        ..Options::default()
    })
    .await;
    let html = app.get("/", None).await.text().await.unwrap();
    assert!(html.contains("No usage yet"));
}
