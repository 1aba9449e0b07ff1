//! Sign-in, sessions, CSRF, rate limiting, the audit log and token management in the portal.

use meterbook_core::audit::AuditAction;
use std::time::Duration;

use meterbook_core::access::Role;
use meterbook_core::SubscriptionId;
use meterbook_server::auth::sign_in::{
    ACCOUNT_FAILURE_LIMIT, ADDRESS_FAILURE_LIMIT, SPREAD_FAILURE_LIMIT,
};
use meterbook_server::state::SessionPolicy;
use serde_json::Value;

use crate::helpers::*;

fn sub(n: u8) -> SubscriptionId {
    SubscriptionId::parse(&format!("{n:08x}-1111-4111-8111-111111111111")).unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn anonymous_requests_are_refused_except_the_sign_in_page() {
    let app = spawn_app().await;

    let page = app.get("/", None).await;
    assert_eq!(page.status(), 303);
    assert_eq!(location(&page), "/sign-in?next=%2F");
    let deep = app.get("/tokens?x=1", None).await;
    assert_eq!(location(&deep), "/sign-in?next=%2Ftokens%3Fx%3D1");
    let unknown = app.get("/no-such-page", None).await;
    assert_eq!(unknown.status(), 303);

    let sign_in = app.get("/sign-in", None).await;
    assert_eq!(sign_in.status(), 200);
    assert!(sign_in
        .text()
        .await
        .unwrap()
        .contains(r#"action="/auth/sign-in""#));

    let server_fn = app.server_fn("load_overview", "", &[]).await;
    assert_eq!(server_fn.status(), 401);
    let api = app.get(&format!("{}?{API}", provider_path()), None).await;
    assert_eq!(api.status(), 401);
    let export = app.get("/api/v1/usage/export", None).await;
    assert_eq!(export.status(), 401);
}

#[tokio::test]
async fn a_sign_in_sets_a_safe_cookie_and_opens_the_portal() {
    let app = spawn_app().await;
    app.add_user("olivia", Role::Operator, &[]).await;

    let response = app.post_sign_in("olivia", PASSWORD).await;

    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("mb_session="));
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/")
    );
    assert!(!cookie.contains("Secure"), "plain http on localhost");
    let pair = cookie.split(';').next().unwrap();
    let page = app.page("/", pair).await;
    assert_eq!(page.status(), 200);
    let overview = page.text().await.unwrap();
    assert!(
        overview.contains("Usage overview") && !overview.contains("type=\"module\""),
        "the overview has no islands, so it loads no code: {overview}"
    );
    // Scripts run only from the page's own nonce: the island loader carries it.
    let page = app.page("/tokens", pair).await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a script nonce")
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!(r#"<script type="module" nonce="{nonce}">"#)),
        "{html}"
    );
    let again = app.page("/", pair).await;
    assert!(
        !again.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains(&nonce),
        "a nonce is used once"
    );
    let audit = app
        .store
        .audit_entries(10, Some(AuditAction::SignIn))
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, "user:olivia");
    assert_eq!(audit[0].address, "127.0.0.1");
}

#[tokio::test]
async fn the_cookie_is_secure_behind_an_https_public_url() {
    let app = spawn_app_with(Options {
        public_url: Some("https://usage.example.com".into()),
        ..Options::default()
    })
    .await;
    app.add_user("olivia", Role::Operator, &[]).await;
    let response = app.post_sign_in("olivia", PASSWORD).await;
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.split("; ").any(|attribute| attribute == "Secure"),
        "{cookie}"
    );
    assert!(cookie.starts_with("__Host-mb_session="), "{cookie}");
    // The prefixed cookie is the one that signs in; the plain name is not read over https.
    let pair = cookie.split(';').next().unwrap().to_owned();
    let page = app.page("/tokens", &pair).await;
    assert_eq!(page.status(), 200);
    let plain = pair.replace("__Host-mb_session", "mb_session");
    let page = app.page("/tokens", &plain).await;
    assert_eq!(page.status(), 303);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_account_get_the_same_answer() {
    let app = spawn_app().await;
    app.add_user("olivia", Role::Operator, &[]).await;

    let wrong = app.post_sign_in("olivia", "not the password at all").await;
    let unknown = app.post_sign_in("nobody", "not the password at all").await;

    assert_eq!(wrong.status(), 303);
    assert_eq!(location(&wrong), "/sign-in?error=invalid&next=%2F");
    assert_eq!(location(&unknown), location(&wrong));
    assert!(wrong.headers().get("set-cookie").is_none());
    let failed = app
        .store
        .audit_entries(10, Some(AuditAction::SignInRefused))
        .await
        .unwrap();
    assert_eq!(failed.len(), 2);
}

#[tokio::test]
async fn a_disabled_user_cannot_sign_in_and_loses_sessions_and_tokens() {
    let app = spawn_app().await;
    let id = app.add_user("tina", Role::Tenant, &[sub(1)]).await;
    let session = app.sign_in("tina").await;
    let created = app
        .server_fn(
            "create_api_token",
            &session.cookie,
            &[
                ("csrf", &session.csrf),
                ("name", "mine"),
                ("role", "tenant"),
                ("subscriptions", sub(1).as_str()),
            ],
        )
        .await;
    assert_eq!(created.status(), 200, "{:?}", created.text().await);
    let token = created.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let tenant_usage = format!(
        "{}?{API}&reportedStartTime=2026-01-01T00:00:00Z&reportedEndTime=2026-01-02T00:00:00Z",
        tenant_path(&sub(1))
    );
    assert_eq!(app.get(&tenant_usage, Some(&token)).await.status(), 200);

    let mut changes = app.store.begin().await.unwrap();
    changes
        .set_user_disabled(id, true, chrono::Utc::now())
        .await
        .unwrap();
    changes.commit().await.unwrap();

    assert_eq!(app.page("/", &session.cookie).await.status(), 303);
    assert_eq!(app.get(&tenant_usage, Some(&token)).await.status(), 401);
    let again = app.post_sign_in("tina", PASSWORD).await;
    assert_eq!(location(&again), "/sign-in?error=invalid&next=%2F");
}

#[tokio::test]
async fn failed_sign_ins_lock_the_account_even_for_the_right_password() {
    let app = spawn_app().await;
    app.add_user("olivia", Role::Operator, &[]).await;
    app.add_user("oscar", Role::Operator, &[]).await;

    for _ in 0..ACCOUNT_FAILURE_LIMIT {
        let r = app.post_sign_in("OLIVIA", "guess guess guess").await;
        assert_eq!(location(&r), "/sign-in?error=invalid&next=%2F");
    }
    let locked = app.post_sign_in("olivia", PASSWORD).await;
    let unknown_locked = {
        for _ in 0..ACCOUNT_FAILURE_LIMIT {
            app.post_sign_in("ghost", "guess guess guess").await;
        }
        app.post_sign_in("ghost", "guess guess guess").await
    };

    assert_eq!(location(&locked), "/sign-in?error=too_many&next=%2F");
    assert!(locked.headers().get("set-cookie").is_none());
    assert_eq!(
        location(&unknown_locked),
        location(&locked),
        "an account that does not exist locks the same way"
    );
    assert_eq!(app.post_sign_in("oscar", PASSWORD).await.status(), 303);
    assert!(!app
        .store
        .audit_entries(5, Some(AuditAction::SignInThrottled))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn failed_sign_ins_from_one_address_lock_that_address() {
    let app = spawn_app().await;
    app.add_user("olivia", Role::Operator, &[]).await;
    for i in 0..20 {
        app.post_sign_in(&format!("guess{i}"), "guess guess guess")
            .await;
    }
    let response = app.post_sign_in("olivia", PASSWORD).await;
    assert_eq!(location(&response), "/sign-in?error=too_many&next=%2F");
}

fn trusting_proxy() -> Options {
    Options {
        trust_forwarded_for: true,
        ..Options::default()
    }
}

#[tokio::test]
async fn failures_from_one_address_never_stop_the_right_password_from_another() {
    let app = spawn_app_with(trusting_proxy()).await;
    app.add_user("fabrikam", Role::Operator, &[]).await;

    for _ in 0..3 * ACCOUNT_FAILURE_LIMIT {
        app.post_sign_in_from("203.0.113.66", "fabrikam", "guess guess guess")
            .await;
    }
    let attacker = app
        .post_sign_in_from("203.0.113.66", "fabrikam", PASSWORD)
        .await;
    let owner = app
        .post_sign_in_from("198.51.100.7", "fabrikam", PASSWORD)
        .await;

    assert_eq!(location(&attacker), "/sign-in?error=too_many&next=%2F");
    assert_eq!(location(&owner), "/");
}

#[tokio::test]
async fn a_flood_of_refused_sign_ins_writes_a_bounded_number_of_rows() {
    let app = spawn_app_with(trusting_proxy()).await;
    let long_name = "x".repeat(1_000);
    for i in 0..60 {
        app.post_sign_in_from("203.0.113.66", &format!("guess{}", i % 5), "wrong")
            .await;
        app.post_sign_in_from("203.0.113.66", &long_name, "wrong")
            .await;
    }
    let failed = app
        .store
        .audit_entries(1_000, Some(AuditAction::SignInRefused))
        .await
        .unwrap();
    let limited = app
        .store
        .audit_entries(1_000, Some(AuditAction::SignInThrottled))
        .await
        .unwrap();

    // The address is locked after its 20th failure; the limited ones after are audited once, and a
    // name no account can have is refused before anything is written.
    assert_eq!(failed.len() as u64, ADDRESS_FAILURE_LIMIT);
    assert_eq!(limited.len(), 1);
    assert!(failed.iter().all(|e| e.target.len() < 10));
}

#[tokio::test]
async fn a_guess_spread_over_many_addresses_gets_one_try_per_address_once_it_is_noticed() {
    let app = spawn_app_with(trusting_proxy()).await;
    app.add_user("fabrikam", Role::Operator, &[]).await;
    let addresses = SPREAD_FAILURE_LIMIT / ACCOUNT_FAILURE_LIMIT;
    for a in 0..addresses {
        for _ in 0..ACCOUNT_FAILURE_LIMIT {
            app.post_sign_in_from(&format!("198.18.0.{a}"), "fabrikam", "guess guess guess")
                .await;
        }
    }
    // The account has had its spread limit of failures: a new address gets one try, no second.
    let first = app
        .post_sign_in_from("198.18.1.1", "fabrikam", "guess guess guess")
        .await;
    let second = app
        .post_sign_in_from("198.18.1.1", "fabrikam", PASSWORD)
        .await;
    let clean = app
        .post_sign_in_from("198.18.1.2", "fabrikam", PASSWORD)
        .await;

    assert_eq!(location(&first), "/sign-in?error=invalid&next=%2F");
    assert_eq!(location(&second), "/sign-in?error=too_many&next=%2F");
    assert_eq!(
        location(&clean),
        "/",
        "an address that never failed still signs in"
    );
}

#[tokio::test]
async fn signing_in_again_rotates_the_session_id() {
    let app = spawn_app().await;
    app.add_user("olivia", Role::Operator, &[]).await;
    let first = app.sign_in("olivia").await;

    let response = app
        .client
        .post(format!("{}/auth/sign-in", app.base))
        .header("cookie", &first.cookie)
        .form(&[("username", "olivia"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();

    let second = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(second, first.cookie);
    assert_eq!(
        app.page("/", &first.cookie).await.status(),
        303,
        "the old ID is dead"
    );
    assert_eq!(app.page("/", &second).await.status(), 200);
}

#[tokio::test]
async fn sign_out_needs_the_csrf_token_and_ends_the_session() {
    let app = spawn_app().await;
    app.add_user("olivia", Role::Operator, &[]).await;
    let session = app.sign_in("olivia").await;
    let sign_out = |csrf: String| {
        app.client
            .post(format!("{}/auth/sign-out", app.base))
            .header("cookie", &session.cookie)
            .form(&[("csrf", csrf)])
            .send()
    };

    let forged = sign_out("forged".into()).await.unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(app.page("/", &session.cookie).await.status(), 200);

    let real = sign_out(session.csrf.clone()).await.unwrap();
    assert_eq!(real.status(), 303);
    assert_eq!(location(&real), "/sign-in?signed_out=1");
    assert!(real.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(app.page("/", &session.cookie).await.status(), 303);
    assert_eq!(
        app.store
            .audit_entries(5, Some(AuditAction::SignOut))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let app = spawn_app().await;
    app.add_user("olivia", Role::Operator, &[]).await;
    let session = app.sign_in("olivia").await;

    let from_elsewhere = app
        .client
        .post(format!("{}/api/create_api_token", app.base))
        .header("cookie", &session.cookie)
        .header("origin", "https://evil.example")
        .form(&[
            ("csrf", session.csrf.as_str()),
            ("name", "x"),
            ("role", "operator"),
            ("subscriptions", ""),
        ])
        .send()
        .await
        .unwrap();
    let login_csrf = app
        .client
        .post(format!("{}/auth/sign-in", app.base))
        .header("sec-fetch-site", "cross-site")
        .form(&[("username", "olivia"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();

    assert_eq!(from_elsewhere.status(), 403);
    assert_eq!(login_csrf.status(), 403);
    assert!(app
        .store
        .list_tokens(None)
        .await
        .unwrap()
        .iter()
        .all(|t| t.name != "x"));
}

#[tokio::test]
async fn idle_and_old_sessions_end() {
    // Limits of a few seconds: signing in and reading the first page must fit inside them even
    // on a busy machine running the rest of the suite.
    let app = spawn_app_with(Options {
        sessions: Some(SessionPolicy {
            idle: Duration::from_secs(3),
            absolute: Duration::from_secs(3_600),
            secure_cookie: false,
        }),
        ..Options::default()
    })
    .await;
    app.add_user("olivia", Role::Operator, &[]).await;
    let idle = app.sign_in("olivia").await;
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    assert_eq!(app.page("/", &idle.cookie).await.status(), 303);

    let app = spawn_app_with(Options {
        sessions: Some(SessionPolicy {
            idle: Duration::from_secs(3_600),
            absolute: Duration::from_secs(3),
            secure_cookie: false,
        }),
        ..Options::default()
    })
    .await;
    app.add_user("olivia", Role::Operator, &[]).await;
    let old = app.sign_in("olivia").await;
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    assert_eq!(app.page("/", &old.cookie).await.status(), 303);
}

#[tokio::test]
async fn malformed_cookies_and_forms_get_a_clear_answer() {
    let app = spawn_app().await;
    for cookie in [
        "mb_session=garbage!!",
        "mb_session=",
        "=;;;",
        "mb_session=\"quoted\"",
        "mb_session=aaaa; mb_session=bbbb",
    ] {
        let response = app.page("/", cookie).await;
        assert_eq!(response.status(), 303, "{cookie}");
    }
    let binary = app
        .client
        .post(format!("{}/auth/sign-in", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, b'=', 0x00, b'&', b'%'])
        .send()
        .await
        .unwrap();
    assert_eq!(binary.status(), 303);
    assert_eq!(location(&binary), "/sign-in?error=missing&next=%2F");
    let huge = app.post_sign_in(&"a".repeat(5_000), "x").await;
    assert_eq!(location(&huge), "/sign-in?error=invalid&next=%2F");
    let evil_next = app
        .client
        .post(format!("{}/auth/sign-in", app.base))
        .form(&[("username", ""), ("next", "//evil.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&evil_next), "/sign-in?error=missing&next=%2F");
    for authorization in [
        "Basic Zm9vOmJhcg==",
        "Bearer",
        "Bearer not-a-token",
        "Bearer mbt_%%%",
    ] {
        let response = app
            .client
            .get(format!("{}{}?{API}", app.base, provider_path()))
            .header("authorization", authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{authorization}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    }
}

#[tokio::test]
async fn a_tenant_user_manages_tenant_tokens_for_their_own_subscriptions_only() {
    let app = spawn_app().await;
    app.add_user("tina", Role::Tenant, &[sub(1)]).await;
    app.add_user("theo", Role::Tenant, &[sub(2)]).await;
    let tina = app.sign_in("tina").await;
    let theo = app.sign_in("theo").await;
    let create = |session: &Session, role: &'static str, subs: String| {
        let session = session.clone();
        let app = &app;
        async move {
            app.server_fn(
                "create_api_token",
                &session.cookie,
                &[
                    ("csrf", &session.csrf),
                    ("name", "script"),
                    ("role", role),
                    ("subscriptions", &subs),
                ],
            )
            .await
        }
    };

    let own = create(&tina, "tenant", sub(1).to_string()).await;
    let foreign = create(&tina, "tenant", sub(2).to_string()).await;
    let operator = create(&tina, "operator", String::new()).await;
    let no_csrf = app
        .server_fn(
            "create_api_token",
            &tina.cookie,
            &[
                ("csrf", ""),
                ("name", "x"),
                ("role", "tenant"),
                ("subscriptions", sub(1).as_str()),
            ],
        )
        .await;

    assert_eq!(own.status(), 200);
    let created: Value = own.json().await.unwrap();
    assert!(created["token"].as_str().unwrap().starts_with("mbt_"));
    assert_eq!(foreign.status(), 403);
    assert!(foreign
        .text()
        .await
        .unwrap()
        .contains("no access to subscription"));
    assert_eq!(
        operator.status(),
        403,
        "a tenant user asking for an operator token"
    );
    assert_eq!(no_csrf.status(), 403);

    let listed: Value = app
        .server_fn("load_tokens", &theo.cookie, &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["tokens"].as_array().unwrap().len(),
        0,
        "theo sees none of tina's tokens"
    );
    let id = created["id"].as_i64().unwrap().to_string();
    let theo_revokes = app
        .server_fn(
            "revoke_api_token",
            &theo.cookie,
            &[("csrf", &theo.csrf), ("id", &id)],
        )
        .await;
    assert!(theo_revokes.status().is_client_error() || theo_revokes.status().is_server_error());
    assert!(app
        .store
        .list_tokens(None)
        .await
        .unwrap()
        .iter()
        .any(|t| t.id.to_string() == id && t.revoked_at.is_none()));
    let tina_revokes = app
        .server_fn(
            "revoke_api_token",
            &tina.cookie,
            &[("csrf", &tina.csrf), ("id", &id)],
        )
        .await;
    assert_eq!(tina_revokes.status(), 200);
    let actions: Vec<AuditAction> = app
        .store
        .audit_entries(20, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        actions.contains(&AuditAction::TokenCreate) && actions.contains(&AuditAction::TokenRevoke)
    );
}

#[tokio::test]
async fn a_tenant_token_loses_what_its_creator_loses() {
    let app = spawn_app().await;
    let id = app.add_user("tina", Role::Tenant, &[sub(1), sub(2)]).await;
    let tina = app.sign_in("tina").await;
    let created: Value = app
        .server_fn(
            "create_api_token",
            &tina.cookie,
            &[
                ("csrf", &tina.csrf),
                ("name", "both"),
                ("role", "tenant"),
                ("subscriptions", &format!("{}, {}", sub(1), sub(2))),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap();
    let path = |s: &SubscriptionId| {
        format!(
            "{}?{API}&reportedStartTime=2026-01-01T00:00:00Z&reportedEndTime=2026-01-02T00:00:00Z",
            tenant_path(s)
        )
    };
    assert_eq!(app.get(&path(&sub(2)), Some(token)).await.status(), 200);

    app.change_grants(id, &[sub(2)], false).await;

    assert_eq!(app.get(&path(&sub(2)), Some(token)).await.status(), 403);
    assert_eq!(app.get(&path(&sub(1)), Some(token)).await.status(), 200);
}

#[tokio::test]
async fn malformed_page_queries_and_server_function_input_get_a_4xx() {
    let app = spawn_app().await;
    app.add_user("olivia", Role::Operator, &[]).await;
    let session = app.sign_in("olivia").await;

    for path in [
        "/?meter=%ZZ",
        "/?meter=%00%ff",
        "/tokens?=&&=",
        "/?meter=".to_owned().as_str(),
    ] {
        let status = app.page(path, &session.cookie).await.status();
        assert!(status.is_success(), "{path}: {status}");
    }
    let bad_id = app
        .server_fn(
            "revoke_api_token",
            &session.cookie,
            &[("csrf", &session.csrf), ("id", "not-a-number")],
        )
        .await;
    assert!(
        bad_id.status().is_client_error(),
        "{} {:?}",
        bad_id.status(),
        bad_id.text().await
    );
    let missing = app
        .server_fn(
            "create_api_token",
            &session.cookie,
            &[("csrf", &session.csrf)],
        )
        .await;
    assert!(missing.status().is_client_error(), "{}", missing.status());
    let garbage = app
        .client
        .post(format!("{}/api/create_api_token", app.base))
        .header("cookie", &session.cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0x00, b'%', b'&', b'='])
        .send()
        .await
        .unwrap();
    assert!(garbage.status().is_client_error(), "{}", garbage.status());
    let unknown_fn = app
        .server_fn("no_such_function", &session.cookie, &[])
        .await;
    assert!(
        unknown_fn.status().is_client_error(),
        "{}",
        unknown_fn.status()
    );
}

#[tokio::test]
async fn parallel_guesses_cannot_slip_under_the_account_limit() {
    let app = spawn_app().await;
    app.add_user("olivia", Role::Operator, &[]).await;

    let guesses = (0..12).map(|i| {
        let app = &app;
        async move {
            location(
                &app.post_sign_in("olivia", &format!("guess number {i}"))
                    .await,
            )
        }
    });
    let answers = join_all(guesses).await;

    let checked = answers
        .iter()
        .filter(|l| l.contains("error=invalid"))
        .count();
    assert!(
        checked <= ACCOUNT_FAILURE_LIMIT as usize,
        "{checked} guesses were checked: {answers:?}"
    );
    assert!(answers
        .iter()
        .all(|l| l.contains("error=invalid") || l.contains("error=too_many")));
}

/// Polls the futures together on this task, so their requests overlap on the server (the tests
/// need no extra crate for it, and the futures may borrow the app).
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = futures.map(|f| Some(Box::pin(f))).collect();
    let mut results: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (slot, result) in pending.iter_mut().zip(results.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *result = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    results.into_iter().flatten().collect()
}

#[tokio::test]
async fn a_session_does_not_read_the_api_for_another_site() {
    let app = spawn_app().await;
    app.add_user("olivia", Role::Operator, &[]).await;
    let session = app.sign_in("olivia").await;
    let path = format!(
        "{}{}?{API}&reportedStartTime=2026-01-01T00:00:00Z&reportedEndTime=2026-01-02T00:00:00Z",
        app.base,
        provider_path()
    );
    let read = |site: &'static str| {
        app.client
            .get(&path)
            .header("cookie", &session.cookie)
            .header("sec-fetch-site", site)
            .send()
    };
    assert_eq!(read("same-origin").await.unwrap().status(), 200);
    assert_eq!(read("cross-site").await.unwrap().status(), 401);
    assert_eq!(read("same-site").await.unwrap().status(), 401);
}

#[tokio::test]
async fn the_client_address_comes_from_the_proxy_only_when_trusted() {
    for (trusted, expected) in [(false, "127.0.0.1"), (true, "203.0.113.7")] {
        let app = spawn_app_with(Options {
            trust_forwarded_for: trusted,
            ..Options::default()
        })
        .await;
        app.client
            .post(format!("{}/auth/sign-in", app.base))
            .header("x-forwarded-for", "10.9.9.9, 203.0.113.7")
            .form(&[("username", "nobody"), ("password", "wrong wrong wrong")])
            .send()
            .await
            .unwrap();
        let audit = app
            .store
            .audit_entries(1, Some(AuditAction::SignInRefused))
            .await
            .unwrap();
        assert_eq!(audit[0].address, expected);
    }
}
