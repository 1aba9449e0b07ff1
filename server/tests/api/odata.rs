//! The OData v4 feed as Power BI's connector reads it: service document, `$metadata`, entity
//! sets with `$filter`, `$select`, `$top` and `@odata.nextLink`, in each caller's scope.

use base64::Engine;
use chrono::{TimeZone, Utc};
use meterbook_core::usage::{InstanceData, UsageRecord};
use meterbook_core::SubscriptionId;
use serde_json::Value;

use crate::helpers::{as_json, spawn_app, sub};

const VM: &str = "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5";

/// `quantity` used by `resource` of `subscription` on October 2026's `day` (from 1).
fn record(subscription: &SubscriptionId, day: u32, resource: u32, quantity: f64) -> UsageRecord {
    let start = Utc.with_ymd_and_hms(2026, 10, day, 3, 0, 0).unwrap();
    UsageRecord {
        subscription_id: subscription.clone(),
        meter_id: VM.to_owned(),
        instance: InstanceData {
            resource_uri: format!("/subscriptions/{subscription}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm{resource}"),
            location: "local".into(),
            tags: None,
            additional_info: None,
        },
        usage_start: start,
        usage_end: start + chrono::Duration::hours(1),
        reported_time: Some(start + chrono::Duration::hours(1)),
        quantity,
    }
}

#[tokio::test]
async fn power_bi_reads_the_service_metadata_and_pages_of_usage_in_scope() {
    let app = spawn_app().await;
    // 31 days x 40 subscriptions = 1,240 daily rows: two pages.
    let mut records = Vec::new();
    for s in 1..=40u8 {
        let id = SubscriptionId::parse(&format!("{s:08x}-2222-4222-8222-222222222222")).unwrap();
        for day in 1..=31 {
            records.push(record(&id, day, 1, 2.0));
        }
    }
    records.push(record(&sub(1), 5, 1, 1.5));
    records.push(record(&sub(1), 5, 2, 1.0));
    app.ingest(&as_json(&records)).await;

    let service: Value = app
        .get("/odata/", Some(&app.operator))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(service["value"][0]["name"], "UsageAggregates");
    // Without the slash too, with a token alone (schemathesis found it sent to sign in).
    let bare = app.get("/odata", Some(&app.operator)).await;
    assert_eq!(bare.status(), 200);
    assert_eq!(bare.json::<Value>().await.unwrap(), service);
    assert!(service["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/odata/$metadata"));
    let metadata = app.get("/odata/$metadata", Some(&app.operator)).await;
    assert_eq!(metadata.headers()["content-type"], "application/xml");
    assert!(metadata
        .text()
        .await
        .unwrap()
        .contains("EntitySet Name=\"ChargebackLines\""));

    // Power BI's Basic credentials: any user name, the API token as the password.
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("powerbi:{}", app.operator));
    let month = "$filter=UsageDate%20ge%202026-10-01%20and%20UsageDate%20lt%202026-11-01";
    let first = app
        .client
        .get(format!("{}/odata/UsageAggregates?{month}", app.base))
        .header("authorization", format!("Basic {basic}"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["odata-version"], "4.0");
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["value"].as_array().unwrap().len(), 1_000);
    let next = first["@odata.nextLink"].as_str().unwrap().to_owned();
    let second: Value = app
        .get(&next, Some(&app.operator))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["value"].as_array().unwrap().len(), 241);
    assert!(second.get("@odata.nextLink").is_none());
    let row = &first["value"][0];
    assert_eq!(row["UsageDate"], "2026-10-01");
    assert_eq!(row["MeterName"], "Base VM Size Hours");
    assert_eq!(row["UsageStartTime"], "2026-10-01T00:00:00Z");

    // A tenant reads its own subscription only; $select and $top shape the answer.
    let tenant = app.tenant_token(&sub(1)).await;
    let own: Value = app
        .get("/odata/UsageAggregates?$filter=UsageDate%20eq%202026-10-05&$select=UsageDate,Quantity,Records", Some(&tenant))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        own["value"],
        serde_json::json!([{"UsageDate": "2026-10-05", "Quantity": 2.5, "Records": 2}])
    );
    let other = app
        .get(
            &format!(
                "/odata/UsageAggregates?$filter=SubscriptionId%20eq%20'{}'",
                sub(2)
            ),
            Some(&tenant),
        )
        .await;
    assert_eq!(other.status(), 403);
    let top: Value = app
        .get(
            &format!("/odata/UsageAggregates?{month}&$top=3"),
            Some(&app.operator),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(top["value"].as_array().unwrap().len(), 3);
    assert!(top.get("@odata.nextLink").is_none());

    for (query, expected) in [
        ("$filter=Quantity%20gt%201", "not supported"),
        ("$select=Amount", "no property 'Amount'"),
        ("$top=lots", "not a whole number"),
        (
            "$filter=UsageDate%20ge%202020-01-01%20and%20UsageDate%20lt%202026-01-01",
            "366 days",
        ),
    ] {
        let response = app
            .get(
                &format!("/odata/UsageAggregates?{query}"),
                Some(&app.operator),
            )
            .await;
        assert_eq!(response.status(), 400, "{query}");
        assert!(response.text().await.unwrap().contains(expected), "{query}");
    }
    assert_eq!(app.get("/odata/UsageAggregates", None).await.status(), 401);
    assert_eq!(
        app.get("/odata/Nothing", Some(&app.operator))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn chargeback_lines_come_as_numbers_or_exact_strings() {
    let app = spawn_app().await;
    app.ingest(&as_json(&[record(&sub(1), 2, 1, 3.0)])).await;
    let card = format!(
        "kind,currency,effective_from,meter_id,included_quantity,tier_start,unit_price\n\
         price,USD,2026-01-01,{VM},0,0,0.10\n"
    );
    app.client
        .put(format!("{}/api/v1/rates", app.base))
        .bearer_auth(&app.operator)
        .header("content-type", "text/csv")
        .body(card)
        .send()
        .await
        .unwrap();
    let path = "/odata/ChargebackLines?$filter=Period%20eq%20'2026-10'";
    let lines: Value = app
        .get(path, Some(&app.operator))
        .await
        .json()
        .await
        .unwrap();
    let line = &lines["value"][0];
    assert_eq!(line["Period"], "2026-10");
    assert_eq!(line["SubscriptionId"], sub(1).to_string());
    assert_eq!(line["Pricing"], "tier 1");
    assert_eq!(line["Quantity"], 3.0);
    assert_eq!(line["Amount"], 0.3);
    assert_eq!(line["Currency"], "USD");
    let exact: Value = app
        .client
        .get(format!("{}{path}", app.base))
        .bearer_auth(&app.operator)
        .header("accept", "application/json;IEEE754Compatible=true")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(exact["value"][0]["Amount"], "0.3");
    let none: Value = app
        .get(path, Some(&app.tenant_token(&sub(2)).await))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["value"], serde_json::json!([]));
}
