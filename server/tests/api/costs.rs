//! The portal's costs page: each viewer sees the chargeback of their own scope, rendered on the
//! server; operators replace the rate card with a plain form upload.

use meterbook_core::access::Role;

use crate::billing::{card_csv, seed_october as seed};
use crate::helpers::{spawn_app, sub, Session, TestApp};

async fn html(app: &TestApp, path: &str, session: &Session) -> String {
    let response = app.page(path, &session.cookie).await;
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn each_viewer_sees_the_costs_of_their_own_scope() {
    let app = spawn_app().await;
    seed(&app).await;
    app.add_user("olivia", Role::Operator, &[]).await;
    app.add_user("tina", Role::Tenant, &[sub(1)]).await;
    let (operator, tenant) = (app.sign_in("olivia").await, app.sign_in("tina").await);

    let page = html(&app, "/costs?period=2026-10", &operator).await;
    assert!(page.contains("Total for 2026-10 (UTC)"), "{page}");
    assert!(page.contains("2.40"));
    for (subscription, subtotal) in [(sub(1), "0.60"), (sub(2), "1.80")] {
        assert!(page.contains(subscription.as_str()));
        assert!(page.contains(subtotal));
    }
    assert!(page.contains("75.0%"), "tenant 2's share of the total");
    assert!(
        page.contains("<svg"),
        "the cost chart is drawn on the server"
    );
    assert!(
        page.contains("2026-05") && page.contains("2026-10"),
        "six months"
    );
    assert!(page.contains("Revision 1, saved"));
    assert!(page.contains(r#"action="/costs/rate-card""#));
    assert!(page.contains(&operator.csrf));
    assert!(page.contains("/api/v1/chargeback?period=2026-10&amp;by=subscription&amp;format=csv"));

    let by_department = html(&app, "/costs?period=2026-10&by=tag:Department", &operator).await;
    assert!(by_department.contains("By Department"));
    assert!(by_department.contains("Finance") && by_department.contains("Sales"));

    let own = html(&app, "/costs?period=2026-10", &tenant).await;
    assert!(own.contains("0.60"));
    assert!(
        !own.contains(sub(2).as_str()),
        "another tenant's costs leaked"
    );
    assert!(!own.contains("1.80"));
    assert!(
        !own.contains("/costs/rate-card"),
        "tenants do not change prices"
    );

    let bad = app.page("/costs?period=2026-13", &operator.cookie).await;
    assert_eq!(bad.status(), 400, "a bad period is the asker's to correct");
    let bad = bad.text().await.unwrap();
    assert!(
        bad.contains("Billing period: &#x27;2026-13&#x27; is not a month")
            || bad.contains("Billing period: '2026-13' is not a month"),
        "{bad}"
    );
    assert!(
        bad.contains(r#"value="2026-13""#),
        "the form keeps what was asked"
    );
    let nav = html(&app, "/", &tenant).await;
    assert!(
        nav.contains(r#"href="/costs""#),
        "the costs page is in the navigation"
    );
}

#[tokio::test]
async fn a_large_clouds_costs_list_the_largest_groups_and_find_one() {
    let app = spawn_app().await;
    seed(&app).await;
    let records: Vec<serde_json::Value> = (1..=60)
        .map(|i| {
            serde_json::json!({
                "subscriptionId": format!("{i:08}-3333-4333-8333-333333333333"),
                "meterId": "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5",
                "usageStartTime": "2026-10-10T00:00:00Z",
                "usageEndTime": "2026-10-10T01:00:00Z",
                "quantity": f64::from(i),
            })
        })
        .collect();
    app.ingest(&records).await;
    app.add_user("olivia", Role::Operator, &[]).await;
    let operator = app.sign_in("olivia").await;
    // The rows of the groups table (its header row aside).
    let groups = |page: &str| {
        let table = page.split("By tenant").nth(1).unwrap();
        let table = table.split("class=\"card lines\"").next().unwrap();
        table.matches("<tr").count() - 1
    };

    let page = html(&app, "/costs?period=2026-10", &operator).await;
    assert_eq!(groups(&page), 50, "the fifty largest");
    assert!(page.contains("The 50 largest of 62 groups."), "{page}");
    assert!(page.contains("Show all 62"));
    assert!(
        page.find("00000060-3333").unwrap() < page.find("00000059-3333").unwrap(),
        "largest first"
    );

    let all = html(&app, "/costs?period=2026-10&groups=all", &operator).await;
    assert_eq!(groups(&all), 62);
    assert!(!all.contains("Show all"));

    let found = html(&app, "/costs?period=2026-10&find=00000042", &operator).await;
    assert_eq!(groups(&found), 1);
    assert!(found.contains("lines: 1."), "{found}");
    assert!(!found.contains("00000041-3333"));
    assert!(
        found.contains("Total for 2026-10") && found.contains("185.40"),
        "the total stays the whole statement's (2.40 + 0.10 x 1,830 core hours)"
    );
    let by_meter = html(&app, "/costs?period=2026-10&find=base%20vm", &operator).await;
    assert_eq!(groups(&by_meter), 50, "every group has a VM line; any case");
}

/// A multipart form as a browser sends it: the CSRF field and the file.
fn upload_body(csrf: &str, file_name: &str, content: &str) -> (String, String) {
    let boundary = "----meterbook-test-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"card\"; filename=\"{file_name}\"\r\n\
         Content-Type: text/csv\r\n\r\n{content}\r\n--{boundary}--\r\n"
    );
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(app: &TestApp, session: &Session, csrf: &str, content: &str) -> String {
    let (content_type, body) = upload_body(csrf, "prices.csv", content);
    let response = app
        .client
        .post(format!("{}/costs/rate-card", app.base))
        .header("cookie", &session.cookie)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    urlencoding_decode(&location)
}

fn urlencoding_decode(text: &str) -> String {
    let query = text.split_once('?').map_or("", |(_, q)| q);
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test]
async fn operators_replace_the_rate_card_with_a_form_upload() {
    let app = spawn_app().await;
    seed(&app).await;
    app.add_user("olivia", Role::Operator, &[]).await;
    app.add_user("tina", Role::Tenant, &[sub(1)]).await;
    let operator = app.sign_in("olivia").await;
    let tenant = app.sign_in("tina").await;

    let saved = upload(&app, &operator, &operator.csrf, &card_csv()).await;
    assert_eq!(saved, "saved=2");
    let page = html(&app, "/costs?saved=2", &operator).await;
    assert!(page.contains("Rate card revision 2 is in effect"));
    assert!(page.contains("by user:olivia"));

    let broken = card_csv().replace("0.10", "-0.10");
    let refused = upload(&app, &operator, &operator.csrf, &broken).await;
    assert!(
        refused.starts_with("error=") && refused.contains("row 2"),
        "{refused}"
    );
    assert!(refused.contains("nothing changed"));
    let expired = upload(&app, &operator, "not-the-token", &card_csv()).await;
    assert!(expired.contains("expired"), "{expired}");
    let not_allowed = upload(&app, &tenant, &tenant.csrf, &card_csv()).await;
    assert!(not_allowed.contains("Only operators"), "{not_allowed}");
    let rates: serde_json::Value = app
        .get("/api/v1/rates", Some(&app.operator))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rates["revision"], 2, "refused uploads change nothing");

    // A form posted from another site is refused before it is read.
    let (content_type, body) = upload_body(&operator.csrf, "prices.csv", &card_csv());
    let cross_site = app
        .client
        .post(format!("{}/costs/rate-card", app.base))
        .header("cookie", &operator.cookie)
        .header("origin", "https://evil.example")
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    let anonymous = app
        .client
        .post(format!("{}/costs/rate-card", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303);
    assert!(anonymous.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/sign-in"));
}
