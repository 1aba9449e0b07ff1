//! Offers and plans from the tenant directory at work: an offer's prices between the card's and a
//! tenant's own, chargeback by offer and by plan, and the explorer filtered and grouped by them,
//! each reader in their own scope.

use serde_json::{json, Value};

use crate::billing::{put_rates, record, HEADER, VM};
use crate::directory::put;
use crate::helpers::{as_json, spawn_app, sub, TestApp};

/// Tenant 1 on Premium (two plans), tenant 2 on Basic; tenant 3 is not in the directory.
async fn seed(app: &TestApp) {
    for (n, name, offer, plans) in [
        (
            1,
            "Contoso Ltd",
            "Premium",
            json!(["compute-premium", "sql-premium"]),
        ),
        (2, "Fabrikam Inc", "Basic", json!(["compute-basic"])),
    ] {
        let entry = json!({
            "displayName": name,
            "owner": format!("admin@tenant{n}.example"),
            "state": "Enabled",
            "offerId": format!("/delegatedProviders/default/offers/{offer}"),
            "plans": plans,
        });
        assert_eq!(put(app, &sub(n), &entry, &app.operator).await.status(), 201);
    }
    // The card: 0.10 a core hour; Premium pays 0.08; Basic's own version lists another meter only.
    let card = format!(
        "{HEADER},offer\n\
         price,,USD,2026-01-01,,{VM},0,0,0.10,,\n\
         price,,USD,2026-01-01,,{VM},0,0,0.08,,Premium\n\
         price,,USD,2026-01-01,,09F8879E-87E9-4305-A572-4B7BE209F857,0,0,0.01,,Basic\n"
    );
    assert_eq!(
        put_rates(app, &card, "text/csv", &app.operator)
            .await
            .status(),
        200
    );
    let records = vec![
        record(&sub(1), VM, 0, 10.0, None, "vm1"),
        record(&sub(2), VM, 1, 10.0, None, "vm2"),
        record(&sub(3), VM, 2, 10.0, None, "vm3"),
    ];
    app.ingest(&as_json(&records)).await;
}

async fn json_at(app: &TestApp, path: &str, token: &str) -> Value {
    let response = app.get(path, Some(token)).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// `(group key, subtotal)` of a statement.
fn subtotals(statement: &Value) -> Vec<(Value, String)> {
    statement["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].clone(), g["subtotal"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn an_offers_prices_apply_to_its_subscriptions_in_statements_and_the_rate_card_api() {
    let app = spawn_app().await;
    seed(&app).await;
    let chargeback = "/api/v1/chargeback?period=2026-10";
    let by_subscription = json_at(&app, chargeback, &app.operator).await;
    assert_eq!(
        subtotals(&by_subscription),
        [
            (json!(sub(1).as_str()), "0.80".to_owned()),
            (json!(sub(2).as_str()), "1.00".to_owned()),
            (json!(sub(3).as_str()), "1.00".to_owned()),
        ]
    );
    let line = &by_subscription["groups"][0]["lines"][0];
    assert_eq!(line["unitPrice"], "0.08");
    assert_eq!(line["subscriptionName"], "Contoso Ltd");

    let by_offer = json_at(&app, &format!("{chargeback}&by=offer"), &app.operator).await;
    assert_eq!(
        subtotals(&by_offer),
        [
            (Value::Null, "1.00".to_owned()),
            (json!("Basic"), "1.00".to_owned()),
            (json!("Premium"), "0.80".to_owned()),
        ]
    );
    let by_plan = json_at(&app, &format!("{chargeback}&by=plan"), &app.operator).await;
    assert_eq!(
        subtotals(&by_plan),
        [
            (Value::Null, "1.00".to_owned()),
            (json!("compute-basic"), "1.00".to_owned()),
            (json!("compute-premium + sql-premium"), "0.80".to_owned()),
        ]
    );
    let csv = app
        .get(
            &format!("{chargeback}&by=plan&format=csv"),
            Some(&app.operator),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains(",plan,compute-premium + sql-premium,"),
        "{csv}"
    );

    // A tenant's statement by offer is theirs alone.
    let tenant = app.tenant_token(&sub(1)).await;
    let own = json_at(&app, &format!("{chargeback}&by=offer"), &tenant).await;
    assert_eq!(subtotals(&own), [(json!("Premium"), "0.80".to_owned())]);

    // Azure's RateCard API answers what the subscription pays: its offer's price.
    let rate_card = |n: u8| {
        format!(
            "/subscriptions/{}/providers/Microsoft.Commerce/RateCard?api-version=2015-06-01-preview",
            sub(n)
        )
    };
    let premium = json_at(&app, &rate_card(1), &app.operator).await;
    assert_eq!(premium["Meters"][0]["MeterRates"], json!({"0": 0.08}));
    let unknown = json_at(&app, &rate_card(3), &app.operator).await;
    let vm_rate = unknown["Meters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["MeterId"] == VM)
        .unwrap()["MeterRates"]
        .clone();
    assert_eq!(vm_rate, json!({"0": 0.1}));

    // A tenant reads the card's prices and its own offer's, never another offer's.
    let card = json_at(&app, "/api/v1/rates", &tenant).await;
    let offers: Vec<&Value> = card["card"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["offer"])
        .collect();
    assert_eq!(offers, [&Value::Null, &json!("Premium")]);
    let exported = app
        .get("/api/v1/rates?format=csv", Some(&app.operator))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        exported.lines().next().unwrap().ends_with(",offer"),
        "{exported}"
    );
    assert!(exported.contains(",Premium\r\n"), "{exported}");
}

#[tokio::test]
async fn an_offer_and_a_subscription_in_one_version_are_refused_naming_the_row() {
    let app = spawn_app().await;
    let card = format!(
        "{HEADER},offer\nprice,{},USD,2026-01-01,,{VM},0,0,0.10,,Premium\n",
        sub(1)
    );
    let response = put_rates(&app, &card, "text/csv", &app.operator).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("row 2") && message.contains("not both"),
        "{message}"
    );
}

#[tokio::test]
async fn the_explorer_filters_and_groups_by_offer_and_plan_in_each_scope() {
    let app = spawn_app().await;
    seed(&app).await;
    let october = "/api/v1/explore?period=custom&from=2026-10-01&to=2026-10-31";
    let subscriptions = |page: &Value| -> Vec<String> {
        let mut ids: Vec<String> = page["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["subscription_id"].as_str().unwrap().to_owned())
            .collect();
        ids.dedup();
        ids
    };
    let premium = json_at(&app, &format!("{october}&offer=premium"), &app.operator).await;
    assert_eq!(subscriptions(&premium), [sub(1).to_string()]);
    let by_plan = json_at(
        &app,
        &format!("{october}&plan=compute-basic"),
        &app.operator,
    )
    .await;
    assert_eq!(subscriptions(&by_plan), [sub(2).to_string()]);
    let everyone = json_at(&app, october, &app.operator).await;
    assert_eq!(
        everyone["options"]["offers"],
        json!([
            {"value": "Basic", "label": "Basic"},
            {"value": "Premium", "label": "Premium"}
        ])
    );

    let grouped = json_at(&app, &format!("{october}&by=offer"), &app.operator).await;
    let mut series: Vec<(String, f64)> = grouped["chart"]["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let total = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_f64)
                .sum();
            (s["name"].as_str().unwrap().to_owned(), total)
        })
        .collect();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        series,
        [
            ("(no offer)".to_owned(), 10.0),
            ("Basic".to_owned(), 10.0),
            ("Premium".to_owned(), 10.0)
        ]
    );
    let plans = json_at(&app, &format!("{october}&by=plan"), &app.operator).await;
    assert_eq!(plans["chart"]["group_label"], "Plan");

    // Tenant 2's filter by tenant 1's offer finds nothing, and its options only its own offer.
    let tenant = app.tenant_token(&sub(2)).await;
    let foreign = json_at(&app, &format!("{october}&offer=Premium"), &tenant).await;
    assert_eq!(foreign["total_rows"], 0);
    let own = json_at(&app, october, &tenant).await;
    assert_eq!(
        own["options"]["offers"],
        json!([{"value": "Basic", "label": "Basic"}])
    );

    // A name that cannot be an offer is a 400 in ARM's envelope.
    let bad = app
        .get(
            &format!("{october}&offer=not%20a%20name"),
            Some(&app.operator),
        )
        .await;
    assert_eq!(bad.status(), 400);

    // The CSV names each row's subscription.
    let csv = app
        .get(
            &october.replace("/api/v1/explore?", "/api/v1/explore/export?"),
            Some(&app.operator),
        )
        .await
        .text()
        .await
        .unwrap();
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("UsageStart,UsageEnd,SubscriptionId,SubscriptionName,"));
    let names: Vec<&str> = lines.map(|l| l.split(',').nth(3).unwrap()).collect();
    assert!(
        names.contains(&"Contoso Ltd") && names.contains(&"Fabrikam Inc"),
        "{names:?}"
    );
    assert!(
        names.contains(&format!("Unknown subscription {}", sub(3)).as_str()),
        "{names:?}"
    );
}
