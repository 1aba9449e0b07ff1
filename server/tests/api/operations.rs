//! Operations: health checks (`/healthz` and `/readyz` answer anyone, say nothing an outsider
//! could use, and `/readyz` turns 503 when the store lacks migrations or the server is
//! draining) and ARM's request IDs.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;
use crate::process::{free_port, start_server_with, wait_for_exit};

async fn probe(base: &str, path: &str) -> (u16, Value, Option<String>) {
    let response = reqwest::get(format!("{base}{path}")).await.unwrap();
    let status = response.status().as_u16();
    let cache = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, response.json().await.unwrap(), cache)
}

#[tokio::test]
async fn health_and_readiness_answer_anyone_with_one_word() {
    let app = spawn_app().await;

    let (status, body, cache) = probe(&app.base, "/healthz").await;
    assert_eq!(
        (status, body.to_string()),
        (200, r#"{"status":"ok"}"#.into())
    );
    assert_eq!(cache.as_deref(), Some("no-store"));
    let (status, body, _) = probe(&app.base, "/readyz").await;
    assert_eq!(
        (status, body.to_string()),
        (200, r#"{"status":"ready"}"#.into())
    );
}

#[tokio::test]
async fn a_store_without_this_servers_migrations_is_not_ready() {
    let app = spawn_app().await;
    // As if an older server had migrated the database: its newest migration is not there.
    let forget = "DELETE FROM _sqlx_migrations \
                  WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)";
    if app.database_url.starts_with("sqlite") {
        let db = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
        sqlx::query(forget).execute(&db).await.unwrap();
    } else {
        let db = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        sqlx::query(forget).execute(&db).await.unwrap();
    }

    let (status, body, _) = probe(&app.base, "/readyz").await;

    assert_eq!(status, 503);
    assert_eq!(
        body.to_string(),
        r#"{"status":"not ready"}"#,
        "no detail is sent"
    );
    let (status, _, _) = probe(&app.base, "/healthz").await;
    assert_eq!(status, 200, "the process itself is alive");
}

#[tokio::test]
async fn after_sigterm_a_server_says_not_ready_while_it_still_serves_then_stops() {
    let database = TestDatabase::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start_server_with(
        &database.url,
        port,
        database.dir.path(),
        &["--shutdown-delay-seconds", "3"],
    )
    .await;
    assert_eq!(probe(&base, "/readyz").await.0, 200);

    let signalled = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Draining: not ready, yet alive and serving.
    let (status, body, _) = probe(&base, "/readyz").await;
    assert_eq!(
        (status, body.to_string()),
        (503, r#"{"status":"draining"}"#.into())
    );
    assert_eq!(probe(&base, "/healthz").await.0, 200);
    let page = reqwest::get(format!("{base}/sign-in")).await.unwrap();
    assert_eq!(page.status(), 200);

    // Then it stops and exits cleanly.
    let exited = wait_for_exit(&mut server)
        .await
        .expect("the server stops after its shutdown delay");
    assert!(exited.success(), "{exited:?}");
    assert!(reqwest::get(format!("{base}/healthz")).await.is_err());
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_echoes_the_callers_ids() {
    let app = spawn_app().await;
    let path = format!(
        "{}{}?{API}&reportedStartTime=2026-10-01T00:00:00Z&reportedEndTime=2026-10-02T00:00:00Z",
        app.base,
        provider_path()
    );
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };

    let sdk = app
        .client
        .get(&path)
        .bearer_auth(&app.operator)
        .header(
            "x-ms-client-request-id",
            "8f2a1c7e-0000-4000-8000-000000000001",
        )
        .header("x-ms-correlation-request-id", "corr-42")
        .send()
        .await
        .unwrap();
    let plain = app.client.get(&path).send().await.unwrap();

    assert_eq!(sdk.status(), 200);
    let id = header(&sdk, "x-ms-request-id").expect("a request ID");
    assert!(meterbook_core::SubscriptionId::parse(&id).is_ok(), "{id}");
    assert_eq!(
        header(&sdk, "x-ms-client-request-id").as_deref(),
        Some("8f2a1c7e-0000-4000-8000-000000000001")
    );
    assert_eq!(
        header(&sdk, "x-ms-correlation-request-id").as_deref(),
        Some("corr-42")
    );
    // A refusal carries one too, and without a correlation ID of its own it is the request's.
    assert_eq!(plain.status(), 401);
    let other = header(&plain, "x-ms-request-id").expect("a request ID");
    assert_ne!(other, id);
    assert_eq!(header(&plain, "x-ms-correlation-request-id"), Some(other));
    assert_eq!(header(&plain, "x-ms-client-request-id"), None);
}

#[tokio::test]
async fn a_backup_taken_during_ingest_restores_every_batch_acknowledged_before_it() {
    use chrono::TimeZone;
    use meterbook_core::access::Role;
    use meterbook_core::explore::TimeBasis;

    const BATCHES: i64 = 120;
    const RECORDS: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("live.db").display());
    let store = meterbook_server::store::open(&url).await.unwrap();
    let provider = token(store.as_ref(), "backup", Role::Provider, &[]).await;
    drop(store);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = crate::process::start_server(&url, port, dir.path()).await;

    // Batch b: 500 records in hour b, each its own resource.
    let hour0 = chrono::Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    let batch = move |b: i64| {
        let start = hour0 + chrono::Duration::hours(b);
        let records: Vec<Value> = (0..RECORDS)
            .map(|k| {
                serde_json::json!({
                    "subscriptionId": sub(1).as_str(),
                    "meterId": "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5",
                    "usageStartTime": start.to_rfc3339(),
                    "usageEndTime": (start + chrono::Duration::hours(1)).to_rfc3339(),
                    "quantity": 1.0,
                    "instanceData": format!("{{\"Microsoft.Resources\":{{\"resourceUri\":\"/backup/{b}/{k}\",\"location\":\"local\"}}}}"),
                })
            })
            .collect();
        Value::Array(records).to_string()
    };
    let client = reqwest::Client::new();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ingest = {
        let (client, base, provider) = (client.clone(), base.clone(), provider.clone());
        let done = done.clone();
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for b in 0..BATCHES {
                let response = client
                    .post(format!("{base}/api/v1/usage-records"))
                    .bearer_auth(&provider)
                    .header("content-type", "application/json")
                    .body(batch(b))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                acknowledged.push((b, std::time::Instant::now()));
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            acknowledged
        })
    };
    // A few batches in, while the rest are still being sent.
    while done.load(std::sync::atomic::Ordering::SeqCst) < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let backup_file = dir.path().join("backup.db");
    let backup_path = backup_file.to_str().unwrap();
    let cli = |database: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_meterbook"))
            .args(args)
            .env("MB_DATABASE_URL", database)
            .env("MB_LOG", "warn")
            .output()
            .unwrap()
    };
    let started = std::time::Instant::now();
    let backup = cli(&url, &["backup", "--to", backup_path]);
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    let acknowledged = ingest.await.unwrap();
    let before: Vec<i64> = acknowledged
        .iter()
        .filter(|(_, at)| *at < started)
        .map(|(b, _)| *b)
        .collect();
    assert!(
        !before.is_empty(),
        "the backup came before any batch was acknowledged"
    );
    assert!(
        before.len() < acknowledged.len(),
        "the backup came after the ingest ended: it was not taken during ingest"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();

    let restored_url = format!("sqlite://{}", dir.path().join("restored.db").display());
    let restore = cli(&restored_url, &["restore", "--from", backup_path]);
    assert!(
        restore.status.success(),
        "{}",
        String::from_utf8_lossy(&restore.stderr)
    );
    // Restoring over a store needs --force.
    let again = cli(&restored_url, &["restore", "--from", backup_path]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let restored = meterbook_server::store::open(&restored_url).await.unwrap();
    let facts = restored
        .facts(
            None,
            TimeBasis::Usage,
            hour0,
            hour0 + chrono::Duration::hours(BATCHES),
            1_000_000,
        )
        .await
        .unwrap();
    for b in &before {
        let start = hour0 + chrono::Duration::hours(*b);
        let count = facts.iter().filter(|f| f.usage_start == start).count();
        assert_eq!(
            count, RECORDS,
            "batch {b}, acknowledged before the backup, has {count} records"
        );
    }
    // Batches are whole or absent: a backup never holds half of one.
    for b in 0..BATCHES {
        let start = hour0 + chrono::Duration::hours(b);
        let count = facts.iter().filter(|f| f.usage_start == start).count();
        assert!(
            count == 0 || count == RECORDS,
            "batch {b} is torn: {count} records"
        );
    }
}

/// The value of the series `name{labels}` in a Prometheus text exposition (0 when absent).
fn series(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(key, _)| {
            let Some(rest) = key.strip_prefix(name) else {
                return false;
            };
            (rest.is_empty() || rest.starts_with('{'))
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, value)| value.parse::<f64>().unwrap())
        .sum()
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_ingest_by_outcome_for_operators_only() {
    let app = spawn_app().await;
    let (records, start, end) = demo_records(1, 2, 7);
    let scrape = |token: Option<String>| {
        let app = &app;
        async move { app.get("/metrics", token.as_deref()).await }
    };
    let before = scrape(Some(app.operator.clone()))
        .await
        .text()
        .await
        .unwrap();

    app.ingest(&as_json(&records)).await;
    app.ingest(&as_json(&records[..10])).await;
    let bad = app
        .ingest_body(r#"[{"subscriptionId":"nope"}]"#.into(), &app.provider)
        .await;
    assert_eq!(bad.status(), 400);
    let page = format!(
        "{}?{API}&reportedStartTime={}&reportedEndTime={}",
        provider_path(),
        time_param(start),
        time_param(end)
    );
    assert_eq!(app.get(&page, Some(&app.operator)).await.status(), 200);

    let answer = scrape(Some(app.operator.clone())).await;
    assert_eq!(answer.status(), 200);
    assert!(answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let after = answer.text().await.unwrap();
    let grew = |name: &str, labels: &[(&str, &str)]| {
        series(&after, name, labels) - series(&before, name, labels)
    };
    // Other tests share the process's recorder, so only growth is compared, and at least.
    assert!(
        grew("meterbook_ingest_records_total", &[("outcome", "accepted")]) >= records.len() as f64
    );
    assert!(
        grew(
            "meterbook_ingest_records_total",
            &[("outcome", "duplicate")]
        ) >= 10.0
    );
    assert!(grew("meterbook_ingest_records_total", &[("outcome", "refused")]) >= 1.0);
    let arm_route =
        "/subscriptions/{subscription}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates";
    assert!(
        grew(
            "meterbook_http_requests_total",
            &[("method", "GET"), ("route", arm_route), ("status", "200")]
        ) >= 1.0,
        "{after}"
    );
    assert!(
        grew(
            "meterbook_http_request_duration_seconds_count",
            &[("route", "/api/v1/usage-records"), ("status", "400")]
        ) >= 1.0
    );
    assert!(
        grew(
            "meterbook_store_query_duration_seconds_count",
            &[("operation", "aggregates")]
        ) >= 1.0
    );
    assert!(
        after.contains("meterbook_store_pool_max_connections{pool="),
        "{after}"
    );
    assert!(
        !after.contains(&records[0].subscription_id.to_string()),
        "no raw path or ID becomes a label"
    );

    assert_eq!(scrape(None).await.status(), 401);
    let tenant = app.tenant_token(&records[0].subscription_id).await;
    let refused = scrape(Some(tenant)).await;
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "AuthorizationFailed");
}

#[tokio::test]
async fn sign_in_outcomes_are_counted() {
    let app = spawn_app().await;
    app.add_user("metered", meterbook_core::access::Role::Operator, &[])
        .await;
    let count = |text: &str, outcome: &str| {
        series(text, "meterbook_sign_ins_total", &[("outcome", outcome)])
    };
    let read = || async {
        app.get("/metrics", Some(&app.operator))
            .await
            .text()
            .await
            .unwrap()
    };
    let before = read().await;

    app.post_sign_in("metered", "not the password").await;
    app.sign_in("metered").await;

    let after = read().await;
    assert!(count(&after, "refused") - count(&before, "refused") >= 1.0);
    assert!(count(&after, "signed_in") - count(&before, "signed_in") >= 1.0);
}

#[tokio::test]
async fn metrics_addr_serves_metrics_without_a_token_and_nothing_else() {
    let database = TestDatabase::new();
    let (port, metrics_port) = (free_port(), free_port());
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let mut server = start_server_with(
        &database.url,
        port,
        database.dir.path(),
        &["--metrics-addr", &metrics_addr],
    )
    .await;
    reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();

    let metrics = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap();
    let other = reqwest::get(format!("http://{metrics_addr}/sign-in"))
        .await
        .unwrap();
    let main = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();

    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("# TYPE meterbook_store_pool_connections gauge"),
        "{text}"
    );
    assert_eq!(other.status(), 404);
    assert_eq!(
        main.status(),
        401,
        "the main address still asks for a token"
    );
    server.kill().unwrap();
    let _ = server.wait();
}

/// `meterbook` with only the given environment (no inherited `MB_` settings).
fn meterbook_with(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meterbook"));
    for (key, _) in std::env::vars() {
        if key.starts_with("MB_") || key == "LEPTOS_SITE_ROOT" {
            command.env_remove(key);
        }
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .env("MB_LOG", "warn")
        .output()
        .unwrap()
}

#[tokio::test]
async fn a_config_file_sets_serve_flags_under_flags_and_environment() {
    let database = TestDatabase::new();
    let (port, metrics_port) = (free_port(), free_port());
    let file = database.dir.path().join("meterbook.toml");
    std::fs::write(
        &file,
        format!(
            "addr = \"127.0.0.1:{}\"\nmetrics-addr = \"127.0.0.1:{metrics_port}\"\n\
             time-zone = \"Europe/Berlin\"\nwidget-origins = [\"https://a.example\", \"https://b.example\"]\n\
             session-idle-minutes = 30\n",
            free_port()
        ),
    )
    .unwrap();
    let path = file.display().to_string();

    // `config check` shows each value with where it came from.
    let checked = meterbook_with(
        &["--config", &path, "config", "check"],
        &[("MB_TIME_ZONE", "UTC")],
    );
    let out = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let row = |key: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert_eq!(row("time-zone"), "environment UTC", "{out}");
    assert_eq!(row("session-idle-minutes"), "file 30");
    assert_eq!(
        row("widget-origins"),
        "file https://a.example https://b.example"
    );
    assert_eq!(row("session-max-hours"), "default 12");
    assert!(out.contains("the configuration is valid"));

    // A flag beats the file: the server listens on the flag's port, and takes the rest.
    let mut server = start_server_with(
        &database.url,
        port,
        database.dir.path(),
        &["--config", &path],
    )
    .await;
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200, "metrics-addr came from the file");
    server.kill().unwrap();
    let _ = server.wait();
}

#[test]
fn a_config_file_with_unknown_keys_or_bad_values_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let path = file.display().to_string();

    std::fs::write(
        &file,
        "adress = \"0.0.0.0:80\"\npublic_url = \"https://x\"\n",
    )
    .unwrap();
    let unknown = meterbook_with(&["--config", &path, "config", "check"], &[]);
    let message = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(message.contains("unknown keys 'adress'"), "{message}");
    assert!(message.contains("write it 'public-url'"), "{message}");

    std::fs::write(&file, "time-zone = \"Mars/Olympus\"\n").unwrap();
    let bad = meterbook_with(&["--config", &path, "config", "check"], &[]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--time-zone"));

    std::fs::write(&file, "session-idle-minutes = 0\n").unwrap();
    let out_of_range = meterbook_with(&["--config", &path, "config", "check"], &[]);
    assert!(!out_of_range.status.success());
    assert!(String::from_utf8_lossy(&out_of_range.stderr).contains("session-idle-minutes"));

    let missing = meterbook_with(
        &["--config", "/nonexistent/meterbook.toml", "config", "check"],
        &[],
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/meterbook.toml"));
}

#[tokio::test]
async fn the_openapi_document_is_public_and_each_operation_it_names_is_routed() {
    let app = spawn_app().await;
    let answer = reqwest::get(format!("{}/openapi.json", app.base))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let document: Value = answer.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let page = &document["components"]["schemas"]["UsageAggregatePage"];
    assert!(page["properties"]["nextLink"].is_object(), "{page}");

    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "{}", paths.len());
    for (path, operations) in paths {
        let concrete = path
            .replace(
                "{subscriptionId}",
                meterbook_server::DEFAULT_PROVIDER_SUBSCRIPTION,
            )
            .replace("{id}", "1");
        for method in operations.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app
                .client
                .request(method.clone(), format!("{}{concrete}", app.base))
                .bearer_auth(&app.operator)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            assert_ne!(status, 405, "{method} {path} is not routed");
            assert!(
                !body.contains("No API at") && !body.contains("No usage API at"),
                "{method} {path} is not routed: {body}"
            );
            assert!(status < 500, "{method} {path}: {status} {body}");
        }
    }
}
