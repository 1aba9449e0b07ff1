//! Pushing statements to a billing system: a real receiver on a random port takes the POSTs,
//! checks nothing itself, and the tests check what arrived: the signature, the idempotency key,
//! the statement, the retries, and the delivery log operators read.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use meterbook_core::webhook::verify;
use serde_json::{json, Value};

use crate::billing::seed_october as seed;
use meterbook_core::access::Role;

use crate::helpers::{spawn_app, spawn_app_with, sub, Options, TestApp};

/// One POST the receiver took.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// What the receiver was sent, and the statuses it answers with.
type ReceiverState = (Arc<Mutex<Vec<Received>>>, Arc<Mutex<Vec<u16>>>);

/// A billing system: answers each POST with the next of `answers` (the last one from then on)
/// and keeps what it was sent.
#[derive(Clone)]
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    async fn start(answers: &[u16]) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers.to_vec()));
        let state = (received.clone(), answers.clone());
        let app = axum::Router::new()
            .route(
                "/hooks/meterbook",
                axum::routing::post(
                    |State((received, answers)): State<ReceiverState>,
                     headers: HeaderMap,
                     body: Bytes| async move {
                        received.lock().unwrap().push(Received { headers, body });
                        let mut answers = answers.lock().unwrap();
                        let status = if answers.len() > 1 {
                            answers.remove(0)
                        } else {
                            answers[0]
                        };
                        (StatusCode::from_u16(status).unwrap(), "receiver says hello")
                    },
                ),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://127.0.0.1:{}/hooks/meterbook",
            listener.local_addr().unwrap().port()
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            received,
            answers,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn answer_from_now(&self, status: u16) {
        *self.answers.lock().unwrap() = vec![status];
    }

    /// Waits until `n` POSTs have arrived.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..200 {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the receiver got {} POSTs, not {n}", self.received().len());
    }
}

async fn post(app: &TestApp, path: &str, token: &str, body: Option<Value>) -> reqwest::Response {
    let request = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(token);
    match body {
        Some(body) => request.json(&body),
        None => request,
    }
    .send()
    .await
    .unwrap()
}

async fn add_webhook(app: &TestApp, url: &str) -> Value {
    let added = post(
        app,
        "/api/v1/webhooks",
        &app.operator,
        Some(json!({ "url": url })),
    )
    .await;
    assert_eq!(added.status(), 201);
    added.json().await.unwrap()
}

/// The delivery log, waiting until no delivery is pending.
async fn settled_log(app: &TestApp) -> Vec<Value> {
    for _ in 0..200 {
        let log: Value = app
            .get("/api/v1/webhooks/deliveries", Some(&app.operator))
            .await
            .json()
            .await
            .unwrap();
        let log = log["value"].as_array().unwrap().clone();
        if log.iter().all(|d| d["status"] != "pending") {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("deliveries stayed pending");
}

#[tokio::test]
async fn operators_manage_webhooks_and_no_one_else_does() {
    let app = spawn_app().await;
    let tenant = app.tenant_token(&sub(1)).await;

    let refused = post(
        &app,
        "/api/v1/webhooks",
        &tenant,
        Some(json!({ "url": "https://billing.example.com/in" })),
    )
    .await;
    assert_eq!(refused.status(), 403);
    for (body, says) in [
        (json!({ "url": "ftp://billing.example.com/in" }), "http"),
        (
            json!({ "url": "https://me:pw@billing.example.com/in" }),
            "credentials",
        ),
        (
            json!({ "address": "https://billing.example.com/in" }),
            "url",
        ),
    ] {
        let bad = post(&app, "/api/v1/webhooks", &app.operator, Some(body)).await;
        assert_eq!(bad.status(), 400);
        let message = bad.text().await.unwrap();
        assert!(message.contains(says), "{message}");
    }

    let added = add_webhook(&app, "https://billing.example.com/in").await;
    let secret = added["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    let id = added["id"].as_i64().unwrap();

    let listed: Value = app
        .get("/api/v1/webhooks", Some(&app.operator))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["value"][0]["url"], "https://billing.example.com/in");
    assert!(listed["value"][0]["createdBy"]
        .as_str()
        .unwrap()
        .starts_with("token:"));
    assert!(
        !listed.to_string().contains(secret),
        "the secret is shown once only"
    );
    assert_eq!(
        app.get("/api/v1/webhooks", Some(&tenant)).await.status(),
        403
    );
    assert_eq!(
        app.get("/api/v1/webhooks/deliveries", Some(&tenant))
            .await
            .status(),
        403
    );
    assert_eq!(
        app.get(
            "/api/v1/webhooks/deliveries?status=lost",
            Some(&app.operator)
        )
        .await
        .status(),
        400
    );

    let delete = |token: String, path: String| {
        let client = app.client.clone();
        let url = format!("{}{path}", app.base);
        async move {
            client
                .delete(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let path = format!("/api/v1/webhooks/{id}");
    assert_eq!(delete(tenant.clone(), path.clone()).await, 403);
    assert_eq!(delete(app.operator.clone(), path.clone()).await, 204);
    assert_eq!(delete(app.operator.clone(), path).await, 404);
    assert_eq!(
        delete(app.operator.clone(), "/api/v1/webhooks/x".into()).await,
        400
    );
    let listed: Value = app
        .get("/api/v1/webhooks", Some(&app.operator))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["value"], json!([]));
}

#[tokio::test]
async fn closing_a_period_pushes_each_frozen_statement_signed_and_retries_until_delivered() {
    let app = spawn_app().await;
    seed(&app).await;
    // The billing system is down for the first POST.
    let receiver = Receiver::start(&[503, 200]).await;
    let added = add_webhook(&app, &receiver.url).await;
    let secret = added["secret"].as_str().unwrap().to_owned();

    let run = post(
        &app,
        "/api/v1/chargeback/runs?period=2026-10&by=tag:Department",
        &app.operator,
        None,
    )
    .await;
    assert_eq!(run.status(), 200);
    let closed = post(
        &app,
        "/api/v1/chargeback/close?period=2026-10",
        &app.operator,
        None,
    )
    .await;
    assert_eq!(closed.status(), 200);
    let closed: Value = closed.json().await.unwrap();
    assert_eq!(closed["deliveriesQueued"], 2, "{closed}");

    // Two statements, one of them sent twice.
    let received = receiver.wait_for(3).await;
    let log = settled_log(&app).await;
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|d| d["status"] == "delivered"), "{log:?}");
    let attempts: Vec<i64> = log
        .iter()
        .map(|d| d["attempts"].as_i64().unwrap())
        .collect();
    assert_eq!(attempts.iter().sum::<i64>(), 3, "{log:?}");
    assert!(log.iter().all(|d| d["lastStatus"] == 200));
    assert_eq!(
        receiver.received().len(),
        3,
        "nothing is sent once delivered"
    );

    let now = Utc::now().timestamp();
    for post in &received {
        assert_eq!(post.header("content-type"), "application/json");
        assert_eq!(post.header("meterbook-event"), "period.closed");
        verify(
            &secret,
            post.header("meterbook-signature"),
            &post.body,
            now,
            300,
        )
        .expect("a valid signature");
        assert!(verify(
            "whsec_other",
            post.header("meterbook-signature"),
            &post.body,
            now,
            300
        )
        .is_err());
    }
    // The retry is the same statement under the same key as the attempt that failed; the other
    // statement has a key of its own.
    let mut keys: Vec<&str> = received
        .iter()
        .map(|p| p.header("idempotency-key"))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let twice: Vec<&Received> = received
        .iter()
        .filter(|p| {
            received
                .iter()
                .filter(|q| q.header("idempotency-key") == p.header("idempotency-key"))
                .count()
                == 2
        })
        .collect();
    assert_eq!(twice.len(), 2);
    assert_eq!(twice[0].body, twice[1].body);
    let delivered: Vec<&Received> = keys
        .iter()
        .map(|key| {
            received
                .iter()
                .rev()
                .find(|p| p.header("idempotency-key") == *key)
                .unwrap()
        })
        .collect();

    // Each push is the frozen statement readers now get.
    let mut groupings = Vec::new();
    for post in &delivered {
        let body = post.json();
        assert_eq!(body["event"], "period.closed");
        let statement = &body["statement"];
        let by = match statement["groupBy"]["key"].as_str() {
            Some(key) => format!("tag:{key}"),
            None => "subscription".to_owned(),
        };
        let frozen: Value = app
            .get(
                &format!("/api/v1/chargeback?period=2026-10&by={by}"),
                Some(&app.operator),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            statement, &frozen,
            "the push of {by} is its frozen statement"
        );
        assert!(statement["closedAt"].is_string());
        assert_eq!(
            post.header("idempotency-key"),
            format!("meterbook-run-{}-webhook-{}", body["runId"], added["id"])
        );
        groupings.push(by);
    }
    groupings.sort();
    assert_eq!(groupings, ["subscription", "tag:Department"]);
    // 2 + 4 core hours at 0.10, and tenant 2's 20 paid hours at 0.09, in either grouping.
    for post in &delivered {
        let total = post.json()["statement"]["total"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            total.parse::<rust_decimal::Decimal>().unwrap(),
            rust_decimal::Decimal::new(240, 2)
        );
    }
}

#[tokio::test]
async fn statements_are_pushed_on_demand_and_failed_deliveries_can_be_retried() {
    let app = spawn_app().await;
    seed(&app).await;

    let nowhere = post(
        &app,
        "/api/v1/chargeback/push?period=2026-10",
        &app.operator,
        None,
    )
    .await;
    assert_eq!(nowhere.status(), 409);
    assert!(nowhere.text().await.unwrap().contains("webhooks add"));

    let receiver = Receiver::start(&[500]).await;
    add_webhook(&app, &receiver.url).await;
    let tenant = app.tenant_token(&sub(1)).await;
    assert_eq!(
        post(
            &app,
            "/api/v1/chargeback/push?period=2026-10",
            &tenant,
            None
        )
        .await
        .status(),
        403
    );
    let pushed = post(
        &app,
        "/api/v1/chargeback/push?period=2026-10&by=tag:Department",
        &app.operator,
        None,
    )
    .await;
    assert_eq!(pushed.status(), 202);
    let pushed: Value = pushed.json().await.unwrap();
    assert_eq!(pushed["deliveriesQueued"], 1);
    assert_eq!(pushed["groupBy"], "tag:Department");

    // Three attempts (the test policy), then the delivery fails and says why.
    let log = settled_log(&app).await;
    assert_eq!(log.len(), 1);
    let failed = &log[0];
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["attempts"], 3);
    assert_eq!(failed["lastStatus"], 500);
    let error = failed["lastError"].as_str().unwrap();
    assert!(
        error.contains("500") && !error.contains("receiver says hello"),
        "the log keeps the status, never the receiver's words: {error}"
    );
    assert_eq!(receiver.received().len(), 3);
    let body = receiver.received()[0].json();
    assert_eq!(body["event"], "statement.pushed");
    assert_eq!(body["runId"], pushed["runId"]);
    assert!(body["statement"]["closedAt"].is_null());

    // The billing system is back: an operator retries the delivery.
    receiver.answer_from_now(200);
    let id = failed["id"].as_i64().unwrap();
    let retry = |token: String| {
        let url = format!("{}/api/v1/webhooks/deliveries/{id}/retry", app.base);
        let client = app.client.clone();
        async move {
            client
                .post(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(retry(tenant.clone()).await, 403);
    // Operators see the failed delivery on the costs page and retry it with its form.
    app.add_user("olivia", Role::Operator, &[]).await;
    let operator = app.sign_in("olivia").await;
    let page = app
        .page("/costs?period=2026-10", &operator.cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Webhook deliveries") && page.contains(&receiver.url));
    assert!(
        page.contains(r#"action="/costs/deliveries/retry""#),
        "{page}"
    );
    let form = |csrf: &str| {
        app.client
            .post(format!("{}/costs/deliveries/retry", app.base))
            .header("cookie", &operator.cookie)
            .form(&[("csrf", csrf), ("id", &id.to_string())])
            .send()
    };
    let expired = form("stale").await.unwrap();
    assert!(expired.headers()["location"]
        .to_str()
        .unwrap()
        .contains("error="));
    let retried = form(&operator.csrf).await.unwrap();
    assert_eq!(retried.status(), 303);
    assert_eq!(
        retried.headers()["location"],
        format!("/costs?retried={id}").as_str()
    );
    receiver.wait_for(4).await;
    let log = settled_log(&app).await;
    assert_eq!(log[0]["status"], "delivered", "{:?}", log[0]);
    assert_eq!(log[0]["attempts"], 4);
    assert!(log[0]["deliveredAt"].is_string());
    assert_eq!(
        retry(app.operator.clone()).await,
        409,
        "only a failed delivery is retried"
    );

    // The delivery log filters by status; the audit log names who pushed and retried.
    let delivered: Value = app
        .get(
            "/api/v1/webhooks/deliveries?status=delivered&limit=5",
            Some(&app.operator),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(delivered["value"].as_array().unwrap().len(), 1);
    let audit = app.store.audit_entries(20, None).await.unwrap();
    for action in ["webhook.add", "chargeback.push", "webhook.retry"] {
        assert!(
            audit.iter().any(|e| e.action.as_str() == action),
            "{action} is audited"
        );
    }
}

#[tokio::test]
async fn servers_sharing_a_database_send_each_delivery_once() {
    let app = spawn_app().await;
    let other = app.second_server().await;
    seed(&app).await;
    let receiver = Receiver::start(&[200]).await;
    add_webhook(&app, &receiver.url).await;
    add_webhook(&app, &format!("{}?copy=2", receiver.url)).await;

    // Pushes through both servers: each wakes its own sender, and both senders claim from the
    // one queue.
    for (server, by) in [
        (&app, "subscription"),
        (&other, "tag:Department"),
        (&app, "tag:CostCenter"),
        (&other, "subscription"),
    ] {
        let pushed = post(
            server,
            &format!("/api/v1/chargeback/push?period=2026-10&by={by}"),
            &app.operator,
            None,
        )
        .await;
        assert_eq!(pushed.status(), 202);
    }
    let log = settled_log(&app).await;
    assert_eq!(log.len(), 8);
    assert!(log
        .iter()
        .all(|d| d["status"] == "delivered" && d["attempts"] == 1));
    // Give a duplicate time to arrive, then count: one POST per delivery, each key once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = receiver.received();
    let mut keys: Vec<&str> = received
        .iter()
        .map(|p| p.header("idempotency-key"))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!((received.len(), keys.len()), (8, 8));
}

#[tokio::test]
async fn webhooks_do_not_reach_internal_addresses_unless_the_operator_allows_them() {
    let app = spawn_app_with(Options {
        webhook_targets: Some(Default::default()),
        ..Options::default()
    })
    .await;
    seed(&app).await;
    let receiver = Receiver::start(&[200]).await;

    for internal in [
        receiver.url.clone(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://[::1]:9/".to_owned(),
    ] {
        let refused = post(
            &app,
            "/api/v1/webhooks",
            &app.operator,
            Some(json!({ "url": internal })),
        )
        .await;
        assert_eq!(refused.status(), 400, "{internal}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "InvalidProperty");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("internal address"));
    }

    // A name is accepted, and checked where it resolves at every delivery: `localhost` is
    // loopback, so nothing is sent.
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    add_webhook(&app, &by_name).await;
    let pushed = post(
        &app,
        "/api/v1/chargeback/push?period=2026-10",
        &app.operator,
        None,
    )
    .await;
    assert_eq!(pushed.status(), 202);
    let log = settled_log(&app).await;
    assert_eq!(log[0]["status"], "failed", "{log:?}");
    assert!(
        log[0]["lastError"]
            .as_str()
            .unwrap()
            .contains("internal address"),
        "{log:?}"
    );
    assert!(receiver.received().is_empty());
}
