//! The usage explorer over HTTP: paging by continuation tokens forward and back, totals of the
//! whole query equal to its CSV download, filters, the viewer's scope, and clear refusals.

use std::collections::{BTreeMap, HashSet};

use chrono::Duration;
use meterbook_core::access::Role;
use meterbook_core::SubscriptionId;
use serde_json::Value;

use crate::helpers::*;

struct World {
    app: TestApp,
    mine: SubscriptionId,
    theirs: SubscriptionId,
    tina: Session,
    /// The explorer query covering every demo record, hourly.
    query: String,
}

async fn world() -> World {
    let app = spawn_app().await;
    let (records, start, end) = demo_records(2, 3, 11);
    for chunk in as_json(&records).chunks(2_000) {
        app.ingest(chunk).await;
    }
    let subs: std::collections::BTreeSet<_> =
        records.iter().map(|r| r.subscription_id.clone()).collect();
    let mut subs = subs.into_iter();
    let (mine, theirs) = (subs.next().unwrap(), subs.next().unwrap());
    app.add_user("tina", Role::Tenant, std::slice::from_ref(&mine))
        .await;
    let tina = app.sign_in("tina").await;
    let query = format!(
        "period=custom&from={}&to={}&granularity=hourly&rows=250",
        start.date_naive(),
        (end - Duration::days(1)).date_naive()
    );
    World {
        app,
        mine,
        theirs,
        tina,
        query,
    }
}

impl World {
    async fn explore(&self, query: &str) -> reqwest::Response {
        self.app
            .page(&format!("/api/v1/explore?{query}"), &self.tina.cookie)
            .await
    }

    async fn explore_ok(&self, query: &str) -> Value {
        let response = self.explore(query).await;
        assert_eq!(response.status(), 200, "{query}");
        response.json().await.unwrap()
    }
}

type RowId = (String, String, String, String);

fn row_id(row: &Value) -> RowId {
    (
        row["start"].as_str().unwrap().to_owned(),
        row["subscription_id"].as_str().unwrap().to_owned(),
        row["meter"]["id"].as_str().unwrap().to_owned(),
        row["resource_uri"].as_str().unwrap().to_owned(),
    )
}

fn totals_of(page: &Value) -> BTreeMap<String, f64> {
    page["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["meter"]["id"].as_str().unwrap().to_owned(),
                t["quantity"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_tenant_pages_forward_and_back_and_sees_each_of_its_rows_once() {
    let w = world().await;
    let first = w.explore_ok(&w.query).await;
    let total = first["total_rows"].as_u64().unwrap() as usize;
    assert!(total > 250 * 3, "the test needs several pages, got {total}");
    assert!(first["previous"].is_null());

    let mut pages = vec![first];
    while let Some(token) = pages.last().unwrap()["next"].as_str() {
        let next = w.explore_ok(&format!("{}&after={token}", w.query)).await;
        pages.push(next);
    }
    let rows: Vec<&Value> = pages
        .iter()
        .flat_map(|p| p["rows"].as_array().unwrap())
        .collect();
    assert_eq!(rows.len(), total);
    let ids: HashSet<RowId> = rows.iter().map(|r| row_id(r)).collect();
    assert_eq!(ids.len(), total, "every row once");
    assert!(rows.iter().all(|r| r["subscription_id"] == w.mine.as_str()));

    // Totals are of the whole query, and equal the rows' sums.
    let mut sums: BTreeMap<String, f64> = BTreeMap::new();
    for r in &rows {
        *sums
            .entry(r["meter"]["id"].as_str().unwrap().to_owned())
            .or_default() += r["quantity"].as_f64().unwrap();
    }
    let totals = totals_of(&pages[0]);
    assert_eq!(
        totals.keys().collect::<Vec<_>>(),
        sums.keys().collect::<Vec<_>>()
    );
    for (meter, total) in &totals {
        assert!(
            close(*total, sums[meter]),
            "{meter}: {total} vs {}",
            sums[meter]
        );
    }

    // Back from the last page, page by page, to the first.
    let mut back = pages.pop().unwrap();
    while let Some(expected) = pages.pop() {
        let token = back["previous"].as_str().expect("a previous page");
        back = w.explore_ok(&format!("{}&before={token}", w.query)).await;
        assert_eq!(back["rows"], expected["rows"]);
        assert_eq!(back["first_row"], expected["first_row"]);
    }
    assert!(back["previous"].is_null());
}

#[tokio::test]
async fn the_csv_download_holds_every_row_with_the_pages_totals() {
    let w = world().await;
    let page = w.explore_ok(&w.query).await;
    let response = w
        .app
        .page(
            &format!("/api/v1/explore/export?{}", w.query),
            &w.tina.cookie,
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let csv = response.text().await.unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let meter_col = header.iter().position(|h| *h == "MeterId").unwrap();
    let quantity_col = header.iter().position(|h| *h == "Quantity").unwrap();
    let mut sums: BTreeMap<String, f64> = BTreeMap::new();
    let mut count = 0;
    for line in lines {
        // Demo resource URIs and names hold no commas or quotes.
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), header.len(), "{line}");
        *sums.entry(fields[meter_col].to_owned()).or_default() +=
            fields[quantity_col].parse::<f64>().unwrap();
        count += 1;
    }
    assert_eq!(count, page["total_rows"].as_u64().unwrap());
    for (meter, total) in totals_of(&page) {
        assert!(
            close(total, sums[&meter]),
            "{meter}: {total} vs {}",
            sums[&meter]
        );
    }
    assert!(!csv.contains(w.theirs.as_str()));
}

#[tokio::test]
async fn filters_grouping_and_time_basis_narrow_the_view() {
    let w = world().await;
    let all = w.explore_ok(&w.query).await;
    let compute = w
        .explore_ok(&format!("{}&category=compute&by=meter", w.query))
        .await;
    let compute_rows = compute["total_rows"].as_u64().unwrap();
    assert!(compute_rows > 0 && compute_rows < all["total_rows"].as_u64().unwrap());
    assert!(compute["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["meter"]["category"] == "Compute"));
    assert_eq!(compute["chart"]["group_label"], "Meter");

    let resource = all["rows"][0]["resource_uri"].as_str().unwrap().to_owned();
    let one = w
        .explore_ok(&format!(
            "{}&resource={}",
            w.query,
            resource.replace('/', "%2F")
        ))
        .await;
    assert!(one["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["resource_uri"] == resource.as_str()));

    let daily = w
        .explore_ok(&w.query.replace("granularity=hourly", "granularity=daily"))
        .await;
    let sum = |p: &Value| totals_of(p).values().sum::<f64>();
    assert!(
        close(sum(&daily), sum(&all)),
        "daily and hourly totals agree"
    );

    // Usage is reported after it happens: by reported time, the same days hold no more.
    let reported = w.explore_ok(&format!("{}&basis=reported", w.query)).await;
    assert!(reported["total_rows"].as_u64().unwrap() > 0);
    assert!(sum(&reported) <= sum(&all) + 1e-6);
}

#[tokio::test]
async fn the_explorer_refuses_what_the_viewer_may_not_see_and_explains_bad_input() {
    let w = world().await;
    let anonymous = w
        .app
        .get(&format!("/api/v1/explore?{}", w.query), None)
        .await;
    assert_eq!(anonymous.status(), 401);

    let theirs = w
        .explore(&format!("{}&subscription={}", w.query, w.theirs))
        .await;
    assert_eq!(theirs.status(), 403);

    for (query, needle) in [
        ("period=yesterday", "period must be"),
        ("granularity=weekly", "hourly, daily or monthly"),
        ("period=custom&from=2026-01-05&to=2026-01-01", "ends before"),
        ("after=x&before=y", "not both"),
        ("after=garbage", "continuation token"),
    ] {
        let response = w.explore(query).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{query}: {message}");
    }

    // A token works only for the query and the viewer it was made for.
    let page = w.explore_ok(&w.query).await;
    let token = page["next"].as_str().unwrap();
    let other_query = w
        .explore(&format!("{}&sort=-quantity&after={token}", w.query))
        .await;
    assert_eq!(other_query.status(), 400);
    let operator = w
        .app
        .get(
            &format!("/api/v1/explore?{}&after={token}", w.query),
            Some(&w.app.operator),
        )
        .await;
    assert_eq!(operator.status(), 400, "another viewer's token");
}

#[tokio::test]
async fn the_explorer_page_is_complete_before_any_script_runs() {
    let w = world().await;
    let html = w
        .app
        .page(&format!("/usage?{}", w.query), &w.tina.cookie)
        .await
        .text()
        .await
        .unwrap();
    for needle in [
        "Usage explorer",
        "Totals for the whole query",
        "Usage rows",
        "<svg",
        "rel=\"next\"",
        "Download CSV",
        w.mine.as_str(),
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
    assert!(!html.contains(w.theirs.as_str()));
    let bad = w
        .app
        .page("/usage?period=yesterday", &w.tina.cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        bad.contains("period must be"),
        "the page explains a bad query"
    );
}
