//! Rate cards and chargeback through the API and the command line: prices in, statements out,
//! each reader in their own scope.

use std::str::FromStr;

use chrono::{TimeZone, Utc};
use meterbook_core::rating::statement::STATEMENT_CSV_COLUMNS;
use meterbook_core::usage::{InstanceData, UsageRecord};
use meterbook_core::SubscriptionId;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::helpers::{as_json, spawn_app, sub, TestApp};

/// "Base VM Size Hours" (virtual core hours) and BlockBlobCapacity (GB x hours).
pub(crate) const VM: &str = "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5";
const BLOB: &str = "09F8879E-87E9-4305-A572-4B7BE209F857";
pub(crate) const HEADER: &str = "kind,subscription_id,currency,effective_from,effective_to,meter_id,included_quantity,tier_start,unit_price,discount_percent";

/// VM cores at 0.10 an hour; the first 10 core hours of a month free for tenant 2, who also
/// gets 10% off. Blob capacity has no price.
pub(crate) fn card_csv() -> String {
    format!(
        "{HEADER}\n\
         price,,USD,2026-01-01,,{VM},0,0,0.10,\n\
         price,{b},USD,2026-01-01,,{VM},10,0,0.10,\n\
         discount,{b},USD,2026-01-01,,,,,,10\n",
        b = sub(2)
    )
}

pub(crate) async fn put_rates(
    app: &TestApp,
    body: &str,
    content_type: &str,
    token: &str,
) -> reqwest::Response {
    app.client
        .put(format!("{}/api/v1/rates", app.base))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// A record of `quantity` used by `resource` of `subscription` in October 2026's `hour`.
pub(crate) fn record(
    subscription: &SubscriptionId,
    meter: &str,
    hour: i64,
    quantity: f64,
    department: Option<&str>,
    resource: &str,
) -> UsageRecord {
    let start = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap() + chrono::Duration::hours(hour);
    let tags = department.map(|d| {
        let mut map = serde_json::Map::new();
        map.insert("Department".into(), json!(d));
        map
    });
    UsageRecord {
        subscription_id: subscription.clone(),
        meter_id: meter.to_owned(),
        instance: InstanceData {
            resource_uri: format!("/subscriptions/{subscription}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{resource}"),
            location: "local".into(),
            tags,
            additional_info: None,
        },
        usage_start: start,
        usage_end: start + chrono::Duration::hours(1),
        reported_time: Some(start + chrono::Duration::hours(2)),
        quantity,
    }
}

/// October usage of two tenants in two departments, and the test card: 2.40 in all (tenant 1
/// 0.20 Finance and 0.40 Sales, tenant 2 1.80 Finance).
pub(crate) async fn seed_october(app: &TestApp) {
    assert_eq!(
        put_rates(app, &card_csv(), "text/csv", &app.operator)
            .await
            .status(),
        200
    );
    let records = vec![
        record(&sub(1), VM, 0, 2.0, Some("Finance"), "vm1"),
        record(&sub(1), VM, 1, 4.0, Some("Sales"), "vm2"),
        record(&sub(2), VM, 5, 30.0, Some("Finance"), "vm3"),
    ];
    app.ingest(&as_json(&records)).await;
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn decimal(v: &Value) -> Decimal {
    d(v.as_str()
        .unwrap_or_else(|| panic!("a decimal string: {v}")))
}

#[tokio::test]
async fn operators_save_rate_cards_and_tenants_see_only_their_prices() {
    let app = spawn_app().await;
    let tenant = app.tenant_token(&sub(1)).await;

    let none = app.get("/api/v1/rates", Some(&app.operator)).await;
    assert_eq!(none.status(), 404);
    assert!(none
        .text()
        .await
        .unwrap()
        .contains("meterbook rates import"));

    let refused = put_rates(&app, &card_csv(), "text/csv", &tenant).await;
    assert_eq!(refused.status(), 403);
    let unsupported = put_rates(&app, &card_csv(), "text/plain", &app.operator).await;
    assert_eq!(unsupported.status(), 415);
    let negative = format!(
        "{HEADER}\nprice,,USD,2026-01-01,,{VM},0,0,0.10,\nprice,,USD,2026-01-01,,{BLOB},0,0,-1,\n"
    );
    let invalid = put_rates(&app, &negative, "text/csv", &app.operator).await;
    assert_eq!(invalid.status(), 400);
    let message = invalid.text().await.unwrap();
    assert!(
        message.contains("row 3") && message.contains("nothing changed"),
        "{message}"
    );
    assert_eq!(
        app.get("/api/v1/rates", Some(&app.operator)).await.status(),
        404,
        "a refused card is not saved"
    );

    let saved = put_rates(&app, &card_csv(), "text/csv; charset=utf-8", &app.operator).await;
    assert_eq!(saved.status(), 200);
    assert_eq!(saved.json::<Value>().await.unwrap()["revision"], 1);

    let all: Value = app
        .get("/api/v1/rates", Some(&app.operator))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["revision"], 1);
    assert_eq!(all["card"]["currency"], "USD");
    assert_eq!(all["card"]["versions"].as_array().unwrap().len(), 2);
    assert_eq!(all["card"]["discounts"].as_array().unwrap().len(), 1);

    // Tenant 1 sees the card's prices, not tenant 2's own prices or discount.
    let mine: Value = app
        .get("/api/v1/rates", Some(&tenant))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["card"]["versions"].as_array().unwrap().len(), 1);
    assert!(mine["card"]["versions"][0].get("subscriptionId").is_none());
    assert_eq!(mine["card"]["discounts"], json!([]));
    assert!(all["savedBy"].is_string(), "{all}");
    assert!(
        mine.get("savedBy").is_none(),
        "a tenant sees no operator's name: {mine}"
    );

    // CSV reads back as the same card, and saving the JSON form makes revision 2.
    let csv = app
        .get("/api/v1/rates?format=csv", Some(&app.operator))
        .await;
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with(HEADER));
    assert_eq!(csv.lines().count(), 4);
    let json_body = all["card"].to_string();
    let resaved = put_rates(&app, &json_body, "application/json", &app.operator).await;
    assert_eq!(resaved.json::<Value>().await.unwrap()["revision"], 2);
    let again: Value = app
        .get("/api/v1/rates", Some(&app.operator))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["card"], all["card"]);

    let bad_json = put_rates(
        &app,
        "{\"currency\": \"USD\"",
        "application/json",
        &app.operator,
    )
    .await;
    assert_eq!(bad_json.status(), 400);
    assert!(bad_json.text().await.unwrap().contains("JSON line 1"));
}

#[tokio::test]
async fn chargeback_prices_usage_by_subscription_and_by_department_in_each_scope() {
    let app = spawn_app().await;
    let (one, two) = (sub(1), sub(2));
    let records = vec![
        // Tenant 1: 2 + 4 core hours, Finance and Sales; 50 GB x hours of blob (no price).
        record(&one, VM, 0, 2.0, Some("Finance"), "vm1"),
        record(&one, VM, 1, 4.0, Some("Sales"), "vm2"),
        record(&one, BLOB, 0, 50.0, None, "sa1"),
        // Tenant 2: 30 core hours, 10 of them free, 10% off: 20 x 0.10 x 0.9 = 1.80.
        record(&two, VM, 5, 30.0, Some("Finance"), "vm3"),
        // September and November usage is outside October.
        record(&one, VM, -1, 100.0, Some("Finance"), "vm1"),
        record(&one, VM, 31 * 24, 100.0, Some("Finance"), "vm1"),
    ];
    app.ingest(&as_json(&records)).await;
    // The directory names tenant 2; tenant 1 it does not know.
    let named = meterbook_core::directory::EntryDraft {
        subscription_id: Some(two.to_string()),
        display_name: Some("Fabrikam Inc".to_owned()),
        owner: Some("admin@fabrikam.example".to_owned()),
        offer: Some("Premium".to_owned()),
        ..Default::default()
    }
    .into_entry(None)
    .unwrap();
    let mut changes = app.store.begin().await.unwrap();
    changes
        .put_directory_entry(&named, meterbook_server::store::EntrySource::Local)
        .await
        .unwrap();
    changes.commit().await.unwrap();

    let no_card = app
        .get("/api/v1/chargeback?period=2026-10", Some(&app.operator))
        .await;
    assert_eq!(no_card.status(), 404);
    put_rates(&app, &card_csv(), "text/csv", &app.operator).await;

    let statement: Value = app
        .get("/api/v1/chargeback?period=2026-10", Some(&app.operator))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(statement["period"]["label"], "2026-10");
    assert_eq!(statement["currency"], "USD");
    // 6 x 0.10 = 0.60 for tenant 1, 1.80 for tenant 2.
    assert_eq!(decimal(&statement["total"]), d("2.40"));
    let groups = statement["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["key"], one.to_string());
    assert_eq!(decimal(&groups[0]["subtotal"]), d("0.60"));
    assert_eq!(groups[0]["unpricedLines"], 1);
    let unpriced = &groups[0]["lines"][0];
    assert_eq!(
        (unpriced["meterName"].as_str(), unpriced["pricing"].as_str()),
        (Some("BlockBlobCapacity"), Some("unpriced"))
    );
    assert_eq!(decimal(&unpriced["quantity"]), d("50"));
    assert_eq!(decimal(&groups[1]["subtotal"]), d("1.80"));
    let included = &groups[1]["lines"][0];
    assert_eq!(
        (included["pricing"].as_str(), decimal(&included["quantity"])),
        (Some("included"), d("10"))
    );
    // Each line names its subscription and owner, as the directory has them.
    assert_eq!(included["subscriptionName"], "Fabrikam Inc");
    assert_eq!(included["subscriptionOwner"], "admin@fabrikam.example");
    assert_eq!(
        unpriced["subscriptionName"],
        format!("Unknown subscription {one}")
    );

    // By department: Finance 0.20 + 1.80, Sales 0.40; the blob usage has no department.
    let by_department: Value = app
        .get(
            "/api/v1/chargeback?period=2026-10&by=tag:Department",
            Some(&app.operator),
        )
        .await
        .json()
        .await
        .unwrap();
    let subtotals: Vec<(Value, Decimal)> = by_department["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].clone(), decimal(&g["subtotal"])))
        .collect();
    assert_eq!(
        subtotals,
        [
            (Value::Null, d("0")),
            (json!("Finance"), d("2.00")),
            (json!("Sales"), d("0.40"))
        ]
    );
    assert_eq!(decimal(&by_department["total"]), d("2.40"));

    // By offer: tenant 2's Premium, and tenant 1, whom the directory does not know, without one.
    let by_offer: Value = app
        .get(
            "/api/v1/chargeback?period=2026-10&by=offer",
            Some(&app.operator),
        )
        .await
        .json()
        .await
        .unwrap();
    let subtotals: Vec<(Value, Decimal)> = by_offer["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].clone(), decimal(&g["subtotal"])))
        .collect();
    assert_eq!(
        subtotals,
        [(Value::Null, d("0.60")), (json!("Premium"), d("1.80"))]
    );
    assert_eq!(by_offer["groupBy"]["kind"], "offer");

    // A tenant gets its own statement only.
    let tenant = app.tenant_token(&one).await;
    let own: Value = app
        .get("/api/v1/chargeback?period=2026-10", Some(&tenant))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own["groups"].as_array().unwrap().len(), 1);
    assert_eq!(decimal(&own["total"]), d("0.60"));
    let other = app
        .get(
            &format!("/api/v1/chargeback?period=2026-10&subscriberId={two}"),
            Some(&tenant),
        )
        .await;
    assert_eq!(other.status(), 403);
    assert_eq!(
        app.get("/api/v1/chargeback?period=2026-10", None)
            .await
            .status(),
        401
    );

    // CSV, field by field.
    let csv = app
        .get(
            &format!("/api/v1/chargeback?period=2026-10&format=csv&subscriberId={two}"),
            Some(&app.operator),
        )
        .await;
    assert!(csv.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("chargeback-2026-10.csv"));
    let text = csv.text().await.unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], STATEMENT_CSV_COLUMNS.join(","));
    assert_eq!(
        rows[1..],
        [
            format!("2026-10,subscription,{two},{two},{VM},Base VM Size Hours,virtual core hours,included,0,0,10,USD,0,Fabrikam Inc,admin@fabrikam.example"),
            format!("2026-10,subscription,{two},{two},{VM},Base VM Size Hours,virtual core hours,tier 1,0.1,10,20,USD,1.8,Fabrikam Inc,admin@fabrikam.example"),
        ]
    );

    for (query, expected) in [
        ("period=2026-13", "period:"),
        ("period=2026-10&by=meter", "by:"),
        ("period=2026-10&format=xlsx", "format:"),
        ("period=2026-01-01..2027-06-01", "at most 366 days"),
    ] {
        let response = app
            .get(&format!("/api/v1/chargeback?{query}"), Some(&app.operator))
            .await;
        assert_eq!(response.status(), 400, "{query}");
        let body = response.text().await.unwrap();
        assert!(body.contains(expected), "{query}: {body}");
    }
}

#[tokio::test]
async fn azure_rate_card_api_answers_the_prices_a_subscription_pays() {
    let app = spawn_app().await;
    put_rates(&app, &card_csv(), "text/csv", &app.operator).await;
    let path = |s: &SubscriptionId, query: &str| {
        format!("/Subscriptions/{s}/providers/Microsoft.Commerce/RateCard?{query}")
    };
    let filter = "api-version=2015-06-01-preview&$filter=OfferDurableId%20eq%20'MS-AZR-0003P'%20and%20Currency%20eq%20'USD'%20and%20Locale%20eq%20'en-US'%20and%20RegionInfo%20eq%20'US'";

    // Tenant 2 pays its own price less 10%, with its 10 included core hours.
    let tenant = app.tenant_token(&sub(2)).await;
    let answer: Value = app
        .get(&path(&sub(2), filter), Some(&tenant))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["Currency"], "USD");
    assert_eq!(answer["Locale"], "en-US");
    assert_eq!(answer["IsTaxIncluded"], false);
    assert_eq!(answer["OfferTerms"], json!([]));
    let meters = answer["Meters"].as_array().unwrap();
    assert_eq!(meters.len(), 1);
    assert_eq!(meters[0]["MeterId"], VM);
    assert_eq!(meters[0]["MeterName"], "Base VM Size Hours");
    assert_eq!(meters[0]["MeterCategory"], "Compute");
    assert_eq!(meters[0]["Unit"], "virtual core hours");
    assert_eq!(meters[0]["IncludedQuantity"], 10.0);
    assert_eq!(meters[0]["MeterRates"], json!({"0": 0.09}));
    assert_eq!(meters[0]["EffectiveDate"], "2026-01-01T00:00:00Z");

    // The operator may read any subscription's card; tenant 2 may not read tenant 1's.
    let operator: Value = app
        .get(&path(&sub(1), filter), Some(&app.operator))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(operator["Meters"][0]["MeterRates"], json!({"0": 0.1}));
    assert_eq!(
        app.get(&path(&sub(1), filter), Some(&tenant))
            .await
            .status(),
        403
    );

    for (query, status) in [
        ("", 400),
        ("api-version=2099-01-01", 400),
        (
            "api-version=2015-06-01-preview&$filter=Currency%20eq%20'EUR'",
            400,
        ),
        (
            "api-version=2015-06-01-preview&$filter=Color%20eq%20'red'",
            400,
        ),
    ] {
        let response = app.get(&path(&sub(2), query), Some(&tenant)).await;
        assert_eq!(response.status(), status, "{query}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"]["message"].as_str().is_some(), "{query}");
    }
}

#[tokio::test]
async fn a_price_change_inside_the_period_prices_each_side_at_its_own_price() {
    let app = spawn_app().await;
    let one = sub(1);
    app.ingest(&as_json(&[
        record(&one, VM, 0, 1.0, Some("Finance"), "vm1"),
        record(&one, VM, 14 * 24 - 1, 2.0, Some(""), "vm2"),
        record(&one, VM, 19 * 24, 4.0, None, "vm3"),
        record(&one, VM, 24 * 24 + 5, 10.0, Some("Finance"), "vm1"),
    ]))
    .await;
    // The discount starts at noon: the store reads that day's hours, not its daily total.
    let card = format!(
        "{HEADER}\n\
         price,,USD,2026-01-01,2026-10-15,{VM},0,0,0.10,\n\
         price,,USD,2026-10-15,,{VM},0,0,0.20,\n\
         discount,{one},USD,2026-10-20T12:00:00Z,,,,,,50\n"
    );
    put_rates(&app, &card, "text/csv", &app.operator).await;
    let statement: Value = app
        .get("/api/v1/chargeback?period=2026-10", Some(&app.operator))
        .await
        .json()
        .await
        .unwrap();
    // 3 units at 0.10 before the 15th, 4 at 0.20 after, 10 at 0.20 less half.
    let lines: Vec<(Decimal, Decimal)> = statement["groups"][0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (decimal(&l["quantity"]), decimal(&l["amount"])))
        .collect();
    assert_eq!(
        lines,
        [
            (d("3"), d("0.30")),
            (d("4"), d("0.80")),
            (d("10"), d("1.00"))
        ]
    );

    // An empty tag value is a department of its own, apart from untagged usage.
    let by_department: Value = app
        .get(
            "/api/v1/chargeback?period=2026-10&by=tag:Department",
            Some(&app.operator),
        )
        .await
        .json()
        .await
        .unwrap();
    let groups: Vec<(Value, Decimal)> = by_department["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].clone(), decimal(&g["subtotal"])))
        .collect();
    assert_eq!(
        groups,
        [
            (Value::Null, d("0.80")),
            (json!(""), d("0.20")),
            (json!("Finance"), d("1.10"))
        ]
    );
}

#[tokio::test]
async fn runs_show_late_usage_and_a_closed_period_stays_frozen() {
    let app = spawn_app().await;
    let (one, two) = (sub(1), sub(2));
    app.ingest(&as_json(&[record(
        &one,
        VM,
        0,
        2.0,
        Some("Finance"),
        "vm1",
    )]))
    .await;
    put_rates(&app, &card_csv(), "text/csv", &app.operator).await;
    let post = |path: String, token: String| {
        let request = app
            .client
            .post(format!("{}{path}", app.base))
            .bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    let runs = "/api/v1/chargeback/runs?period=2026-10".to_owned();
    let tenant = app.tenant_token(&one).await;
    assert_eq!(post(runs.clone(), tenant.clone()).await.status(), 403);

    let first: Value = post(runs.clone(), app.operator.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["previousRunAt"], Value::Null);
    assert_eq!(first["changes"], json!([]));
    assert_eq!(decimal(&first["statement"]["total"]), d("0.20"));

    // Late usage: the next run lists the line that changed, with before and after.
    app.ingest(&as_json(&[record(
        &one,
        VM,
        3,
        1.0,
        Some("Finance"),
        "vm1",
    )]))
    .await;
    let second: Value = post(runs.clone(), app.operator.clone())
        .await
        .json()
        .await
        .unwrap();
    assert!(second["previousRunAt"].is_string());
    let changes = second["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["meterName"], "Base VM Size Hours");
    assert_eq!(
        (
            decimal(&changes[0]["wasAmount"]),
            decimal(&changes[0]["amount"])
        ),
        (d("0.20"), d("0.30"))
    );

    // Closing freezes the statements: later usage no longer changes them.
    let close = "/api/v1/chargeback/close?period=2026-10".to_owned();
    assert_eq!(post(close.clone(), tenant.clone()).await.status(), 403);
    let closed: Value = post(close.clone(), app.operator.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(closed["period"], "2026-10");
    assert_eq!(closed["frozen"].as_array().unwrap().len(), 1);
    assert_eq!(
        post(close.clone(), app.operator.clone()).await.status(),
        409
    );
    assert_eq!(post(runs.clone(), app.operator.clone()).await.status(), 409);

    app.ingest(&as_json(&[
        record(&one, VM, 4, 50.0, None, "vm9"),
        record(&two, VM, 4, 50.0, None, "vm8"),
    ]))
    .await;
    let frozen: Value = app
        .get("/api/v1/chargeback?period=2026-10", Some(&app.operator))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(decimal(&frozen["total"]), d("0.30"));
    assert!(frozen["closedAt"].is_string());
    let own: Value = app
        .get("/api/v1/chargeback?period=2026-10", Some(&tenant))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(decimal(&own["total"]), d("0.30"));
    let tenant_two = app.tenant_token(&two).await;
    let none: Value = app
        .get("/api/v1/chargeback?period=2026-10", Some(&tenant_two))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        none["groups"],
        json!([]),
        "tenant 2 had no usage when the period closed"
    );
    let unfrozen = app
        .get(
            "/api/v1/chargeback?period=2026-10&by=tag:Department",
            Some(&app.operator),
        )
        .await;
    assert_eq!(unfrozen.status(), 409);
    // November is still open.
    let november: Value = app
        .get("/api/v1/chargeback?period=2026-11", Some(&app.operator))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(november["closedAt"], Value::Null);
}

/// Makes every write to the audit log fail, as a full disk or a lost connection would.
async fn break_the_audit_log(database_url: &str) {
    use sqlx::Executor;
    let sql = if database_url.starts_with("sqlite:") {
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log
         BEGIN SELECT RAISE(ABORT, 'the audit log is unavailable'); END"
    } else {
        "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN RAISE EXCEPTION 'the audit log is unavailable'; END $$;
         CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log
             FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
    };
    let pool = sqlx::AnyPool::connect(database_url).await.expect("connect");
    pool.execute(sql).await.expect("trigger");
    pool.close().await;
}

#[tokio::test]
async fn an_action_whose_audit_entry_cannot_be_written_is_not_kept() {
    sqlx::any::install_default_drivers();
    let app = spawn_app().await;
    let created = app
        .client
        .post(format!("{}/api/v1/webhooks", app.base))
        .bearer_auth(&app.operator)
        .json(&json!({"url": "http://127.0.0.1:9/hook"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{:?}", created.text().await);
    break_the_audit_log(&app.database_url).await;

    let refused = put_rates(&app, &card_csv(), "text/csv", &app.operator).await;
    assert_eq!(refused.status(), 500);
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"]["code"].is_string(), "{body}");
    let none = app.get("/api/v1/rates", Some(&app.operator)).await;
    assert_eq!(
        none.status(),
        404,
        "the rate card was kept without its entry"
    );

    let removed = app
        .client
        .delete(format!("{}/api/v1/webhooks/1", app.base))
        .bearer_auth(&app.operator)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 500);
    let hooks: Value = app
        .get("/api/v1/webhooks", Some(&app.operator))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hooks["value"].as_array().map(Vec::len), Some(1), "{hooks}");
}
