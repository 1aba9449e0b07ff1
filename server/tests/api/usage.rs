//! The ARM usage API: paging, totals, access, validation.

use std::collections::HashMap;

use meterbook_core::SubscriptionId;
use serde_json::Value;

use crate::helpers::*;

async fn app_with_demo_usage() -> (TestApp, Vec<meterbook_core::usage::UsageRecord>, String) {
    let app = spawn_app().await;
    let (records, start, end) = demo_records(3, 4, 11);
    assert!(records.len() >= 5_000, "only {} records", records.len());
    for chunk in as_json(&records).chunks(2_000) {
        app.ingest(chunk).await;
    }
    let window = format!(
        "reportedStartTime={}&reportedEndTime={}",
        time_param(start),
        time_param(end)
    );
    (app, records, window)
}

#[tokio::test]
async fn paging_the_provider_api_returns_every_aggregate_once_with_the_ingested_totals() {
    let (app, records, window) = app_with_demo_usage().await;

    let first = format!(
        "{}?{API}&{window}&aggregationGranularity=Hourly",
        provider_path()
    );
    let (aggregates, pages) = app.all_pages(&first, &app.operator).await;

    assert!(pages >= 5, "{pages} pages");
    assert_eq!(aggregates.len(), records.len());
    assert_eq!(
        keys(&aggregates).len(),
        records.len(),
        "an aggregate was served twice"
    );
    let ingested: f64 = records.iter().map(|r| r.quantity).sum();
    assert!(close(quantity_sum(&aggregates), ingested));
    assert!(aggregates
        .iter()
        .all(|a| a["type"] == "Microsoft.Commerce.Admin/UsageAggregate"));
}

#[tokio::test]
async fn daily_summary_without_details_has_the_same_totals_as_hourly_with_details() {
    let (app, records, window) = app_with_demo_usage().await;
    let ingested: f64 = records.iter().map(|r| r.quantity).sum();

    let (summary, _) = app
        .all_pages(
            &format!("{}?{API}&{window}&showDetails=false", provider_path()),
            &app.operator,
        )
        .await;
    let (detailed, _) = app
        .all_pages(
            &format!("{}?{API}&{window}&showDetails=true", provider_path()),
            &app.operator,
        )
        .await;

    assert!(summary.len() < detailed.len());
    assert!(summary
        .iter()
        .all(|a| a["properties"].get("instanceData").is_none()));
    assert!(close(quantity_sum(&summary), ingested));
    assert!(close(quantity_sum(&detailed), ingested));
    // Per subscription, meter and day, the summary line is the sum of the detailed lines.
    let mut by_key: HashMap<(String, String, String), f64> = HashMap::new();
    for a in &detailed {
        let p = &a["properties"];
        *by_key
            .entry((
                p["subscriptionId"].to_string(),
                p["meterId"].to_string(),
                p["usageStartTime"].to_string(),
            ))
            .or_default() += p["quantity"].as_f64().unwrap();
    }
    assert_eq!(by_key.len(), summary.len());
    for a in &summary {
        let p = &a["properties"];
        let key = (
            p["subscriptionId"].to_string(),
            p["meterId"].to_string(),
            p["usageStartTime"].to_string(),
        );
        assert!(
            close(by_key[&key], p["quantity"].as_f64().unwrap()),
            "{key:?}"
        );
    }
}

#[tokio::test]
async fn a_tenant_pages_through_its_own_subscription_only() {
    let (app, records, window) = app_with_demo_usage().await;
    let mine = records[0].subscription_id.clone();
    let token = app.tenant_token(&mine).await;

    let (aggregates, _) = app
        .all_pages(
            &format!(
                "{}?{API}&{window}&aggregationGranularity=hourly",
                tenant_path(&mine)
            ),
            &token,
        )
        .await;

    let own: Vec<_> = records
        .iter()
        .filter(|r| r.subscription_id == mine)
        .collect();
    assert_eq!(aggregates.len(), own.len());
    assert!(aggregates
        .iter()
        .all(|a| a["properties"]["subscriptionId"] == mine.as_str()));
    assert!(aggregates
        .iter()
        .all(|a| a["type"] == "Microsoft.Commerce/UsageAggregate"));
    assert!(close(
        quantity_sum(&aggregates),
        own.iter().map(|r| r.quantity).sum()
    ));
}

#[tokio::test]
async fn a_tenant_token_is_refused_other_subscriptions_and_the_provider_api() {
    let (app, records, window) = app_with_demo_usage().await;
    let mine = records[0].subscription_id.clone();
    let theirs = records
        .iter()
        .map(|r| r.subscription_id.clone())
        .find(|s| *s != mine)
        .unwrap();
    let token = app.tenant_token(&mine).await;

    for path in [tenant_path(&theirs), provider_path()] {
        let response = app
            .get(&format!("{path}?{API}&{window}"), Some(&token))
            .await;
        assert_eq!(response.status(), 403, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "AuthorizationFailed");
    }
    // Another spelling of the same foreign subscription is still the foreign subscription.
    let shouting = theirs.as_str().to_uppercase();
    let response = app.get(&format!("/subscriptions/{shouting}/providers/Microsoft.Commerce/UsageAggregates?{API}&{window}"), Some(&token)).await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused() {
    let app = spawn_app().await;
    let path = format!(
        "{}?{API}&reportedStartTime=2026-01-01T00:00:00Z&reportedEndTime=2026-01-02T00:00:00Z",
        provider_path()
    );
    for token in [None, Some("mbt_not-a-real-token"), Some("")] {
        let response = app.get(&path, token).await;
        assert_eq!(response.status(), 401, "{token:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    }
    let response = app
        .client
        .get(format!("{}{path}", app.base))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_continuation_token_works_only_for_the_query_it_came_from() {
    let (app, records, window) = app_with_demo_usage().await;
    let a = records[0].subscription_id.clone();
    let b = records
        .iter()
        .map(|r| r.subscription_id.clone())
        .find(|s| *s != a)
        .unwrap();
    let first = app
        .get(
            &format!(
                "{}?{API}&{window}&aggregationGranularity=Hourly",
                tenant_path(&a)
            ),
            Some(&app.operator),
        )
        .await;
    let page: Value = first.json().await.unwrap();
    let next = page["nextLink"].as_str().expect("a second page").to_owned();
    let token = next.split("continuationToken=").nth(1).unwrap().to_owned();

    let foreign = format!(
        "{}?{API}&{window}&aggregationGranularity=Hourly&continuationToken={token}",
        tenant_path(&b)
    );
    let tampered = format!(
        "{}?{API}&{window}&aggregationGranularity=Hourly&continuationToken=x{token}",
        tenant_path(&a)
    );
    let other_query = format!(
        "{}?{API}&{window}&aggregationGranularity=Daily&continuationToken={token}",
        tenant_path(&a)
    );
    for url in [
        foreign,
        tampered,
        other_query,
        format!(
            "{}?{API}&{window}&continuationToken=%00%41",
            tenant_path(&a)
        ),
    ] {
        let response = app.get(&url, Some(&app.operator)).await;
        assert_eq!(response.status(), 400, "{url}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "InvalidProperty");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("continuationToken"),
            "{body}"
        );
    }
    let undecodable = app
        .get(
            &format!("{}?{API}&{window}&continuationToken=%ff", tenant_path(&a)),
            Some(&app.operator),
        )
        .await;
    assert_eq!(undecodable.status(), 400);
    // The genuine next page works.
    assert_eq!(app.get(&next, Some(&app.operator)).await.status(), 200);
}

#[tokio::test]
async fn bad_queries_get_arm_errors_not_server_errors() {
    let app = spawn_app().await;
    let sub = SubscriptionId::parse("11111111-2222-4333-8444-555555555555").unwrap();
    let ok = "reportedStartTime=2026-01-01T00:00:00Z&reportedEndTime=2026-01-02T00:00:00Z";
    let cases = [
        (format!("{}?{ok}", tenant_path(&sub)), 400, "NoApiVersion"),
        (format!("{}?{API}&reportedStartTime=2026-01-01T00:30:00Z&reportedEndTime=2026-01-02T00:00:00Z", tenant_path(&sub)), 400, "InvalidProperty"),
        (format!("{}?{API}&reportedStartTime=2026-01-01T00:00:00Z&reportedEndTime=2099-01-01T00:00:00Z", tenant_path(&sub)), 400, "RequestEndTimeIsInFuture"),
        (format!("{}?{API}&{ok}&aggregationGranularity=Minutely", tenant_path(&sub)), 400, "InvalidAggregationGranularity"),
        (format!("{}?{API}&{ok}&subscriberId=bogus", provider_path()), 400, "SubscriberIdIsNotDirectTenant"),
        (format!("/subscriptions/not-a-guid/providers/Microsoft.Commerce/UsageAggregates?{API}&{ok}"), 400, "SubscriptionIdMissingInRequest"),
        (format!("/subscriptions/{sub}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates?{API}&{ok}"), 404, "SubscriptionNotFound"),
        (format!("/subscriptions/{sub}/providers/Microsoft.Nope/Things?{API}&{ok}"), 404, "NotFound"),
        (format!("{}?{API}&{ok}&showDetails=perhaps", tenant_path(&sub)), 400, "InvalidProperty"),
        (format!("{}?%zz=1", tenant_path(&sub)), 400, "NoApiVersion"),
    ];
    for (url, status, code) in cases {
        let response = app.get(&url, Some(&app.operator)).await;
        assert_eq!(response.status(), status, "{url}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{url}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn path_segments_are_matched_case_insensitively() {
    let (app, records, window) = app_with_demo_usage().await;
    let sub = records[0].subscription_id.as_str().to_uppercase();
    let url =
        format!("/Subscriptions/{sub}/Providers/microsoft.commerce/usageaggregates?{API}&{window}");
    let response = app.get(&url, Some(&app.operator)).await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    assert!(!page["value"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn next_links_use_the_public_url_behind_a_proxy() {
    let app = spawn_app_with(Options {
        public_url: Some("https://usage.example.test/".into()),
        ..Options::default()
    })
    .await;
    let (records, start, end) = demo_records(1, 3, 5);
    for chunk in as_json(&records).chunks(2_000) {
        app.ingest(chunk).await;
    }
    let window = format!(
        "reportedStartTime={}&reportedEndTime={}",
        time_param(start),
        time_param(end)
    );
    let page: Value = app
        .get(
            &format!(
                "{}?{API}&{window}&aggregationGranularity=Hourly",
                provider_path()
            ),
            Some(&app.operator),
        )
        .await
        .json()
        .await
        .unwrap();
    let next = page["nextLink"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("https://usage.example.test{}?", provider_path())),
        "{next}"
    );
    assert_eq!(next.matches("continuationToken=").count(), 1);
    assert!(next.contains("aggregationGranularity=Hourly"));
}

#[tokio::test]
async fn the_provider_api_filters_by_subscriber_and_by_reported_time() {
    let (app, records, window) = app_with_demo_usage().await;
    let sub = records[0].subscription_id.clone();
    let (one, _) = app
        .all_pages(
            &format!(
                "{}?{API}&{window}&subscriberId={}",
                provider_path(),
                sub.as_str().to_uppercase()
            ),
            &app.operator,
        )
        .await;
    assert!(!one.is_empty());
    assert!(one
        .iter()
        .all(|a| a["properties"]["subscriptionId"] == sub.as_str()));

    // A window before anything was reported is empty, with no nextLink.
    let page: Value = app
        .get(&format!("{}?{API}&reportedStartTime=2020-01-01T00:00:00Z&reportedEndTime=2020-02-01T00:00:00Z", provider_path()), Some(&app.operator))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["value"].as_array().unwrap().len(), 0);
    assert!(page.get("nextLink").is_none());
}
