//! The ingest API: all-or-nothing batches, duplicates and corrections, who may ingest.

use meterbook_core::overview::DailyMeterTotal;
use meterbook_core::rng::SplitMix64;
use meterbook_core::SubscriptionId;
use serde_json::{json, Value};

use crate::helpers::*;

const SUB: &str = "6c3f8e2a-0b1d-4c5e-9f70-1a2b3c4d5e6f";
const VM_HOURS: &str = "6DAB500F-A4FD-49C4-956D-229BB9C8C793";

fn record(hour: u32, quantity: f64) -> Value {
    json!({
        "subscriptionId": SUB,
        "meterId": VM_HOURS.to_lowercase().replace('-', ""),
        "usageStartTime": format!("2026-10-01T{hour:02}:00:00Z"),
        "usageEndTime": format!("2026-10-01T{:02}:00:00Z", hour + 1),
        "reportedTime": "2026-10-02T03:00:00Z",
        "quantity": quantity,
        "instanceData": "{\"Microsoft.Resources\":{\"resourceUri\":\"/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1\",\"location\":\"local\",\"tags\":\"null\",\"additionalInfo\":\"{\\\"ServiceType\\\":\\\"Standard_A1\\\"}\"}}",
    })
}

async fn stored_total(app: &TestApp) -> f64 {
    let sub = SubscriptionId::parse(SUB).unwrap();
    let (all, _) = app
        .all_pages(
            &format!("{}?{API}&reportedStartTime=2026-10-01T00:00:00Z&reportedEndTime=2026-10-03T00:00:00Z", tenant_path(&sub)),
            &app.operator,
        )
        .await;
    quantity_sum(&all)
}

#[tokio::test]
async fn resending_a_batch_counts_duplicates_and_changes_nothing() {
    let app = spawn_app().await;
    let batch: Vec<Value> = (0..10).map(|h| record(h, 1.0)).collect();

    let first = app.ingest(&batch).await;
    let again = app.ingest(&batch).await;

    assert_eq!(
        first,
        json!({"accepted": 10, "duplicates": 0, "corrected": 0})
    );
    assert_eq!(
        again,
        json!({"accepted": 0, "duplicates": 10, "corrected": 0})
    );
    assert_eq!(app.store.record_count().await.unwrap(), 10);
    assert!(close(stored_total(&app).await, 10.0));
}

#[tokio::test]
async fn a_record_with_a_known_key_and_a_new_quantity_is_a_correction() {
    let app = spawn_app().await;
    app.ingest(&[record(0, 1.0), record(1, 1.0)]).await;

    let outcome = app
        .ingest(&[record(0, 0.5), record(1, 1.0), record(2, 1.0)])
        .await;

    assert_eq!(
        outcome,
        json!({"accepted": 1, "duplicates": 1, "corrected": 1})
    );
    assert_eq!(app.store.record_count().await.unwrap(), 3);
    assert!(close(stored_total(&app).await, 2.5));
}

#[tokio::test]
async fn repeats_inside_one_batch_are_judged_in_order() {
    let app = spawn_app().await;
    let outcome = app
        .ingest(&[record(0, 1.0), record(0, 1.0), record(0, 2.0)])
        .await;
    assert_eq!(
        outcome,
        json!({"accepted": 1, "duplicates": 1, "corrected": 1})
    );
    assert!(close(stored_total(&app).await, 2.0));
}

#[tokio::test]
async fn an_invalid_batch_is_refused_whole_with_each_bad_record_named() {
    let app = spawn_app().await;
    let mut bad_meter = record(1, 1.0);
    bad_meter["meterId"] = json!("");
    let mut negative = record(3, 1.0);
    negative["quantity"] = json!(-4);
    let batch = vec![record(0, 1.0), bad_meter, record(2, 1.0), negative];

    let response = app
        .ingest_body(Value::Array(batch).to_string(), &app.provider)
        .await;

    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidUsageRecords");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nothing was written"));
    let targets: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, vec!["[1]", "[3]"]);
    assert_eq!(app.store.record_count().await.unwrap(), 0);
}

#[tokio::test]
async fn ndjson_and_arm_pages_are_accepted() {
    let app = spawn_app().await;
    let ndjson = format!("{}\n{}\n", record(0, 1.0), record(1, 1.0));
    let response = app.ingest_body(ndjson, &app.provider).await;
    assert_eq!(response.status(), 200);

    // What the usage API serves can be fed back in: exports from a real Azure Stack Hub look alike.
    let sub = SubscriptionId::parse(SUB).unwrap();
    let page: Value = app
        .get(
            &format!("{}?{API}&reportedStartTime=2026-10-01T00:00:00Z&reportedEndTime=2026-10-03T00:00:00Z&aggregationGranularity=Hourly", tenant_path(&sub)),
            Some(&app.operator),
        )
        .await
        .json()
        .await
        .unwrap();
    let response = app.ingest_body(page.to_string(), &app.provider).await;
    assert_eq!(response.status(), 200);
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(outcome["duplicates"], 2);
}

#[tokio::test]
async fn malformed_bodies_get_a_clear_client_error() {
    let app = spawn_app().await;
    for body in ["", "{not json", "[1, 2]", "\"text\"", "[]"] {
        let response = app.ingest_body(body.to_owned(), &app.provider).await;
        assert_eq!(response.status(), 400, "{body:?}");
        let parsed: Value = response.json().await.unwrap();
        assert_eq!(parsed["error"]["code"], "InvalidUsageRecords", "{body:?}");
    }
    let mut future = record(0, 1.0);
    future["usageStartTime"] = json!("2099-01-01T00:00:00Z");
    future["usageEndTime"] = json!("2099-01-01T01:00:00Z");
    let response = app
        .ingest_body(Value::Array(vec![future]).to_string(), &app.provider)
        .await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn only_provider_and_operator_tokens_may_ingest() {
    let app = spawn_app().await;
    let body = Value::Array(vec![record(0, 1.0)]).to_string();
    let tenant = app.tenant_token(&SubscriptionId::parse(SUB).unwrap()).await;

    let as_tenant = app.ingest_body(body.clone(), &tenant).await;
    let anonymous = app
        .client
        .post(format!("{}/api/v1/usage-records", app.base))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let as_operator = app.ingest_body(body, &app.operator).await;

    assert_eq!(as_tenant.status(), 403);
    assert_eq!(anonymous.status(), 401);
    assert_eq!(as_operator.status(), 200);
}

/// Property: for random usage, each day's total by usage time equals the sum of its hours.
#[tokio::test]
async fn daily_totals_equal_the_sum_of_hourly_totals() {
    let app = spawn_app().await;
    let mut rng = SplitMix64::new(2026);
    for case in 0..20 {
        let subs = [
            "7d1f0000-0000-4000-8000-000000000001",
            "7d1f0000-0000-4000-8000-000000000002",
        ];
        let meters = [
            VM_HOURS,
            "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5",
            "09F8879E-87E9-4305-A572-4B7BE209F857",
        ];
        let batch: Vec<Value> = (0..rng.range(1, 200))
            .map(|i| {
                let hour = rng.range(0, 24 * 5) as i64;
                let start = chrono::DateTime::parse_from_rfc3339("2026-09-01T00:00:00Z").unwrap()
                    + chrono::Duration::hours(hour);
                json!({
                    "subscriptionId": rng.pick(&subs),
                    "meterId": rng.pick(&meters),
                    "usageStartTime": start.to_rfc3339(),
                    "usageEndTime": (start + chrono::Duration::hours(1)).to_rfc3339(),
                    "reportedTime": (start + chrono::Duration::hours(2)).to_rfc3339(),
                    "quantity": (rng.unit() * 1000.0).round() / 100.0,
                    "instanceData": {"resourceUri": format!("/case{case}/r{}", i % 7)},
                })
            })
            .collect();
        app.ingest(&batch).await;
        let window = "reportedStartTime=2026-08-31T00:00:00Z&reportedEndTime=2026-09-10T00:00:00Z";
        let (hourly, _) = app
            .all_pages(
                &format!(
                    "{}?{API}&{window}&aggregationGranularity=Hourly",
                    provider_path()
                ),
                &app.operator,
            )
            .await;
        let (daily, _) = app
            .all_pages(
                &format!(
                    "{}?{API}&{window}&aggregationGranularity=Daily",
                    provider_path()
                ),
                &app.operator,
            )
            .await;
        let mut from_hours: std::collections::HashMap<(String, String, String, String), f64> =
            Default::default();
        for a in &hourly {
            let p = &a["properties"];
            let day = p["usageStartTime"].as_str().unwrap()[..10].to_owned();
            let uri: Value = serde_json::from_str(p["instanceData"].as_str().unwrap()).unwrap();
            let key = (
                p["subscriptionId"].to_string(),
                p["meterId"].to_string(),
                uri["Microsoft.Resources"]["resourceUri"].to_string(),
                day,
            );
            *from_hours.entry(key).or_default() += p["quantity"].as_f64().unwrap();
        }
        assert_eq!(from_hours.len(), daily.len(), "case {case}");
        for a in &daily {
            let p = &a["properties"];
            let uri: Value = serde_json::from_str(p["instanceData"].as_str().unwrap()).unwrap();
            let key = (
                p["subscriptionId"].to_string(),
                p["meterId"].to_string(),
                uri["Microsoft.Resources"]["resourceUri"].to_string(),
                p["usageStartTime"].as_str().unwrap()[..10].to_owned(),
            );
            assert!(
                close(from_hours[&key], p["quantity"].as_f64().unwrap()),
                "case {case}: {key:?}"
            );
        }
        // The store's own daily totals (the portal's source) agree as well.
        let from = chrono::DateTime::parse_from_rfc3339("2026-09-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let portal: Vec<DailyMeterTotal> = app
            .store
            .daily_totals(None, from, from + chrono::Duration::days(6))
            .await
            .unwrap();
        let portal_sum: f64 = portal.iter().map(|d| d.quantity).sum();
        assert!(close(portal_sum, quantity_sum(&hourly)), "case {case}");
    }
}

#[tokio::test]
async fn concurrent_batches_all_land() {
    let app = spawn_app().await;
    let (records, _, _) = demo_records(2, 2, 21);
    let bodies: Vec<String> = as_json(&records)
        .chunks(300)
        .map(|c| Value::Array(c.to_vec()).to_string())
        .collect();
    let sends: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let (client, url, token) = (
                app.client.clone(),
                format!("{}/api/v1/usage-records", app.base),
                app.provider.clone(),
            );
            tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(token)
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for send in sends {
        assert_eq!(send.await.unwrap(), 200);
    }
    assert_eq!(
        app.store.record_count().await.unwrap(),
        records.len() as u64
    );
}
