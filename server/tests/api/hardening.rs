//! Abuse and bad input, as an attacker would send it: every route answers malformed requests
//! with a 4xx (ARM's envelope on the API), never a 5xx or a dropped connection; slow or oversized
//! requests cannot hold a connection; links never point where a Host header says.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// Every route Meterbook serves, with the methods it takes (server functions by two of their
/// names; they share one handler).
const ROUTES: &[(&str, &str)] = &[
    (
        "GET",
        "/subscriptions/{sub}/providers/Microsoft.Commerce/UsageAggregates",
    ),
    (
        "GET",
        "/subscriptions/{provider}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates",
    ),
    (
        "GET",
        "/subscriptions/{sub}/providers/Microsoft.Commerce/RateCard",
    ),
    ("GET", "/api/v1/usage/export"),
    ("GET", "/api/v1/explore"),
    ("GET", "/api/v1/explore/export"),
    ("GET", "/api/v1/rates"),
    ("PUT", "/api/v1/rates"),
    ("GET", "/api/v1/chargeback"),
    ("POST", "/api/v1/chargeback/runs"),
    ("POST", "/api/v1/chargeback/close"),
    ("POST", "/api/v1/chargeback/push"),
    ("GET", "/api/v1/webhooks"),
    ("POST", "/api/v1/webhooks"),
    ("DELETE", "/api/v1/webhooks/{garbage}"),
    ("GET", "/api/v1/webhooks/deliveries"),
    ("POST", "/api/v1/webhooks/deliveries/{garbage}/retry"),
    ("POST", "/api/v1/usage-records"),
    ("GET", "/odata/"),
    ("GET", "/odata/$metadata"),
    ("GET", "/odata/UsageAggregates"),
    ("GET", "/odata/ChargebackLines"),
    ("GET", "/widget"),
    ("GET", "/widget.js"),
    ("POST", "/auth/sign-in"),
    ("POST", "/auth/sign-out"),
    ("POST", "/costs/rate-card"),
    ("POST", "/costs/deliveries/retry"),
    ("POST", "/api/load_people"),
    ("POST", "/api/change_person"),
    ("GET", "/"),
    ("GET", "/usage"),
    ("GET", "/costs"),
    ("GET", "/people"),
    ("GET", "/sign-in"),
    ("GET", "/no/such/page"),
    ("GET", "/api/v1/no-such-api"),
];

/// Query strings an attacker would try: what the black-box fuzzer found, and worse.
const QUERIES: &[&str] = &[
    "",
    "%zz%%&&==",
    "api-version=2015-06-01-preview%0D%0A&reportedStartTime=2026-11-01T00:00:00.0000000001Z&reportedEndTime=9999-12-31T23:00:00Z",
    "api-version=2015-06-01-preview&reportedStartTime=%2B262142-12-31T00:00:00Z&reportedEndTime=-262143-01-01T00:00:00Z",
    "api-version=2015-06-01-preview&reportedStartTime=2026-11-01T00:00:00%E2%88%9200:00&reportedEndTime=2026-11-02T00:00:00Z&continuationToken=%00%FF",
    "$filter=UsageDate%20eq%20%2B262142-12-31&$top=18446744073709551615",
    "$filter=UsageDate%20lt%20-262143-01-01&$skiptoken=-1&$select=%00",
    "period=02026-11&by=tag:%00",
    "period=26-11&by=tag:",
    "period=1-1&format=%00",
    "period=2026-11&by=tag:%00&subscriberId=%00",
    "from=-262143-01-01&to=%2B262142-12-31&granularity=%00&by=tag:%0A&tag=%00=%00",
    "token=mbw_%00&after=%FF",
    "next=%2F%2Fevil.example&error=%3Cscript%3E",
];

/// Bodies for the routes that take one.
fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("application/json", b"[1,1,1,[],{},null]".to_vec()),
        ("application/json", b"{\"value\":[{\"quantity\":5e28}]}".to_vec()),
        ("application/json", br#"[{"subscriptionId":"00000001-2222-4333-8444-555555555555","meterId":"FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5","usageStartTime":"0001-01-01T00:00:00Z","usageEndTime":"9999-12-31T23:00:00Z","quantity":5e28}]"#.to_vec()),
        ("application/json", b"{\"url\": \"http://169.254.169.254/\"}".to_vec()),
        ("application/json", b"{".to_vec()),
        ("text/csv", b"kind,currency,effective_from\nprice,USD,+262142-12-31\n".to_vec()),
        ("application/x-www-form-urlencoded", b"username=%00&password=&next=%2F%2Fevil&csrf=%FF".to_vec()),
        ("application/octet-stream", vec![0xff, 0xfe, 0x00, 0x80]),
        ("multipart/form-data; boundary=x", b"--x\r\ngarbage".to_vec()),
    ]
}

#[tokio::test]
async fn malformed_requests_to_every_route_get_a_4xx_and_the_server_stays_up() {
    let app = spawn_app().await;
    app.add_user("olga", meterbook_core::access::Role::Operator, &[])
        .await;
    let session = app.sign_in("olga").await;
    let sub = sub(1).to_string();
    let provider = meterbook_server::DEFAULT_PROVIDER_SUBSCRIPTION;
    let mut checked = 0;
    for (method, template) in ROUTES {
        let path = template
            .replace("{sub}", &sub)
            .replace("{provider}", provider)
            .replace("{garbage}", "%00x");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let has_body = method != reqwest::Method::GET;
        // Writes take every body with a few queries; reads every query.
        let (bodies, queries) = if has_body {
            (bodies(), &QUERIES[..4])
        } else {
            (vec![("", Vec::new())], QUERIES)
        };
        for query in queries {
            for (content_type, body) in &bodies {
                for who in ["operator", "session", "garbage token", "nobody"] {
                    let url = format!("{}{path}?{query}", app.base);
                    let mut request = app.client.request(method.clone(), &url);
                    request = match who {
                        "operator" => request.bearer_auth(&app.operator),
                        "session" => request.header("cookie", &session.cookie),
                        "garbage token" => request.header("authorization", "Bearer mbt_%%%garbage"),
                        _ => request,
                    };
                    if has_body {
                        request = request
                            .header("content-type", *content_type)
                            .body(body.clone());
                    }
                    let response = request
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("{method} {url} ({who}): connection lost: {e}"));
                    let status = response.status();
                    let is_api = path.starts_with("/api/v1/")
                        || path.starts_with("/subscriptions/")
                        || path.starts_with("/odata/");
                    let json = response
                        .headers()
                        .get("content-type")
                        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("application/json"));
                    let text = response.text().await.unwrap_or_default();
                    assert!(
                        status.as_u16() < 500,
                        "{method} {url} ({who}, {content_type}): {status} {text}"
                    );
                    if is_api && status.is_client_error() && json {
                        let envelope: Value = serde_json::from_str(&text)
                            .unwrap_or_else(|_| panic!("{method} {url}: not JSON: {text}"));
                        assert!(
                            envelope["error"]["code"].is_string()
                                && envelope["error"]["message"].is_string(),
                            "{method} {url} ({who}): not ARM's envelope: {text}"
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 1_000, "{checked} requests");
    // Still up, still right.
    let page = app.page("/sign-in", "").await;
    assert_eq!(page.status(), 200);
}

/// Sends raw bytes and reads what comes back until the server answers or closes; `None` when it
/// closed without answering.
async fn raw(port: u16, request: &[u8], wait: Duration) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(wait, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    seen.extend_from_slice(&buf[..n]);
                    if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server held the connection open for {wait:?}"
    );
    let text = String::from_utf8_lossy(&seen).into_owned();
    (!text.is_empty()).then(|| text.lines().next().unwrap_or_default().to_owned())
}

fn port_of(app: &TestApp) -> u16 {
    app.base.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_body_declared_larger_than_any_route_takes_is_refused_before_it_is_read() {
    let app = spawn_app().await;
    let request = format!(
        "POST /api/v1/usage-records HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n[]",
        app.provider
    );
    let status = raw(port_of(&app), request.as_bytes(), Duration::from_secs(5)).await;
    assert!(
        status.as_deref().is_some_and(|s| s.contains(" 413 ")),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_stalled_body_and_slow_headers_are_cut_off() {
    let app = spawn_app_with(Options {
        timeouts: Some(meterbook_server::serve::Timeouts {
            header_read: Duration::from_secs(1),
            body_idle: Duration::from_secs(1),
        }),
        ..Options::default()
    })
    .await;
    let port = port_of(&app);

    // A chunk of 2^64 - 1 bytes of which two arrive: the body times out and gets a 4xx.
    let request = format!(
        "POST /api/v1/usage-records HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n[1",
        app.provider
    );
    let status = raw(port, request.as_bytes(), Duration::from_secs(10)).await;
    assert!(
        status.as_deref().is_none_or(|s| s.contains(" 4")),
        "{status:?}"
    );

    // Headers that never end: the connection is closed (hyper may say 408 first).
    let status = raw(
        port,
        b"GET /sign-in HTTP/1.1\r\nHost: local",
        Duration::from_secs(10),
    )
    .await;
    assert!(
        status.as_deref().is_none_or(|s| s.contains(" 408 ")),
        "{status:?}"
    );

    // And the server still serves everyone else.
    assert_eq!(app.page("/sign-in", "").await.status(), 200);
}

#[tokio::test]
async fn the_host_header_does_not_choose_where_links_point() {
    let app = spawn_app().await;
    let base = app.base.clone();
    let records: Vec<Value> = (0..1_001)
        .map(|k| {
            json!({
                "subscriptionId": sub(1).as_str(),
                "meterId": "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5",
                "usageStartTime": "2026-10-01T00:00:00Z",
                "usageEndTime": "2026-10-01T01:00:00Z",
                "reportedTime": "2026-10-01T02:00:00Z",
                "quantity": 1.0,
                "instanceData": format!("{{\"Microsoft.Resources\":{{\"resourceUri\":\"/r/{k}\",\"location\":\"local\"}}}}"),
            })
        })
        .collect();
    app.ingest(&records).await;
    let evil = |path: String| {
        app.client
            .get(format!("{base}{path}"))
            .bearer_auth(&app.operator)
            .header("host", "evil.example")
            .send()
    };

    let page: Value = evil(format!(
        "{}?{API}&reportedStartTime=2026-10-01T00:00:00Z&reportedEndTime=2026-10-02T00:00:00Z",
        provider_path()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let next = page["nextLink"].as_str().expect("a second page");
    assert!(next.starts_with(&format!("{base}/")), "{next}");

    let feed: Value = evil("/odata/UsageAggregates?$top=1".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let context = feed["@odata.context"].as_str().unwrap();
    assert!(context.starts_with(&format!("{base}/odata")), "{context}");
    let service: Value = evil("/odata/".into()).await.unwrap().json().await.unwrap();
    assert!(!service.to_string().contains("evil.example"), "{service}");
}

#[tokio::test]
async fn a_flood_of_tiny_records_is_refused_as_it_is_read() {
    let app = spawn_app().await;
    let body = format!("[{}1]", "1,".repeat(2_000_000));
    let response = app.ingest_body(body, &app.provider).await;
    assert_eq!(response.status(), 413);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "RequestTooLarge");
}

#[tokio::test]
async fn absurd_quantities_and_times_are_refused_per_record() {
    let app = spawn_app().await;
    let record = |quantity: f64, start: &str, end: &str| {
        json!({
            "subscriptionId": sub(1).as_str(),
            "meterId": "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5",
            "usageStartTime": start,
            "usageEndTime": end,
            "quantity": quantity,
        })
    };
    let body = json!([
        record(5e28, "2026-10-01T00:00:00Z", "2026-10-01T01:00:00Z"),
        record(1.0, "0001-01-01T00:00:00Z", "0001-01-01T01:00:00Z"),
        record(1.0, "2026-10-01T00:00:00Z", "9999-12-31T23:00:00Z"),
        record(1.0, "2009-01-01T00:00:00Z", "2009-01-01T01:00:00Z"),
        record(1.0, "2026-10-01T00:00:00Z", "2026-10-01T01:00:00Z"),
    ]);
    let response = app.ingest_body(body.to_string(), &app.provider).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    let targets: Vec<&str> = error["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["[0]", "[1]", "[2]", "[3]"], "{error}");
}

#[tokio::test]
async fn out_of_range_counts_and_tag_keys_are_refused_by_name() {
    let app = spawn_app().await;
    for (path, needle) in [
        ("/odata/UsageAggregates?$top=18446744073709551615", "$top"),
        (
            "/odata/UsageAggregates?$filter=UsageDate%20eq%20%2B262142-12-31",
            "$filter",
        ),
        ("/api/v1/chargeback?period=2026-11&by=tag:%00", "tag key"),
        ("/api/v1/chargeback?period=02026-11", "is not a month"),
    ] {
        let response = app.get(path, Some(&app.operator)).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{path}: {body}"
        );
    }
}
