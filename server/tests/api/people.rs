//! People and the audit log in the portal: operators only, the same rules as the command line.

use meterbook_core::access::Role;
use meterbook_core::audit::AuditAction;
use meterbook_core::SubscriptionId;
use serde_json::Value;

use crate::helpers::*;

fn sub(n: u8) -> SubscriptionId {
    SubscriptionId::parse(&format!("{n:08x}-3333-4333-8333-333333333333")).unwrap()
}

async fn change(app: &TestApp, s: &Session, form: &[(&str, &str)]) -> reqwest::Response {
    let mut all = vec![("csrf", s.csrf.as_str())];
    all.extend_from_slice(form);
    app.server_fn("change_person", &s.cookie, &all).await
}

#[tokio::test]
async fn an_operator_adds_grants_and_disables_people_and_reads_the_audit_log() {
    let app = spawn_app().await;
    app.add_user("olga", Role::Operator, &[]).await;
    let olga = app.sign_in("olga").await;

    let added = change(
        &app,
        &olga,
        &[
            ("op", "add"),
            ("username", "nina"),
            ("role", "tenant"),
            ("subscriptions", sub(1).as_str()),
        ],
    )
    .await;
    assert_eq!(added.status(), 200);
    let added: Value = added.json().await.unwrap();
    let password = added["password"].as_str().unwrap().to_owned();
    assert!(password.len() >= 12);
    // Nina signs in with the generated password.
    let response = app.post_sign_in("nina", &password).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");

    let people: Value = app
        .server_fn("load_people", &olga.cookie, &[])
        .await
        .json()
        .await
        .unwrap();
    let nina = people["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["username"] == "nina")
        .unwrap()
        .clone();
    let id = nina["id"].as_i64().unwrap().to_string();
    // Grants are named by the directory (this one it does not know).
    assert_eq!(
        nina["subscription_names"],
        serde_json::json!([format!("Unknown subscription {}", sub(1))])
    );

    let granted = change(
        &app,
        &olga,
        &[
            ("op", "grant"),
            ("id", &id),
            ("subscriptions", sub(2).as_str()),
        ],
    )
    .await;
    let message: Value = granted.json().await.unwrap();
    assert!(message["message"]
        .as_str()
        .unwrap()
        .contains(sub(2).as_str()));
    let disabled = change(&app, &olga, &[("op", "disable"), ("id", &id)]).await;
    assert_eq!(disabled.status(), 200);
    assert_eq!(
        app.post_sign_in("nina", &password).await.headers()["location"],
        "/sign-in?error=invalid&next=%2F"
    );

    // Refusals say why.
    for (form, needle) in [
        (
            vec![
                ("op", "add"),
                ("username", "bad name"),
                ("role", "tenant"),
                ("subscriptions", sub(1).as_str()),
            ],
            "usernames are",
        ),
        (
            vec![("op", "add"), ("username", "tess"), ("role", "tenant")],
            "at least one subscription",
        ),
        (
            vec![("op", "add"), ("username", "nina"), ("role", "operator")],
            "nina",
        ),
        (
            vec![
                ("op", "grant"),
                ("id", "999"),
                ("subscriptions", sub(1).as_str()),
            ],
            "no such person",
        ),
        (vec![("op", "explode")], "not a change"),
    ] {
        let response = change(&app, &olga, &form).await;
        assert_eq!(response.status(), 400, "{form:?}");
        let text = response.text().await.unwrap();
        assert!(text.contains(needle), "{form:?}: {text}");
    }
    let olga_id = app
        .store
        .user_by_name("olga")
        .await
        .unwrap()
        .unwrap()
        .0
        .id
        .to_string();
    let myself = change(&app, &olga, &[("op", "disable"), ("id", &olga_id)]).await;
    assert!(myself
        .text()
        .await
        .unwrap()
        .contains("cannot disable yourself"));

    let html = app
        .page("/audit?action=user.add", &olga.cookie)
        .await
        .text()
        .await
        .unwrap()
        .replace("<!>", "");
    let rows: Vec<&str> = html.split("<tr>").skip(2).collect();
    assert!(
        rows.iter()
            .any(|r| r.contains("<td>nina</td>") && r.contains("<td>user:olga</td>")),
        "{html}"
    );
    assert!(
        rows.iter().all(|r| r.contains("<code>user.add</code>")),
        "{html}"
    );
    assert!(
        html.contains(r#"<option value="user.add" selected"#),
        "{html}"
    );
}

#[tokio::test]
async fn tenant_users_cannot_manage_people_or_read_the_audit_log() {
    let app = spawn_app().await;
    app.add_user("tina", Role::Tenant, &[sub(1)]).await;
    let tina = app.sign_in("tina").await;
    assert_eq!(
        app.server_fn("load_people", &tina.cookie, &[])
            .await
            .status(),
        403
    );
    assert_eq!(app.page("/audit", &tina.cookie).await.status(), 403);
    let response = change(
        &app,
        &tina,
        &[("op", "add"), ("username", "eve"), ("role", "operator")],
    )
    .await;
    assert!(response.status().is_client_error());
    assert!(app.store.user_by_name("eve").await.unwrap().is_none());
    let page = app
        .page("/people", &tina.cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Only operators manage people"));
}

#[tokio::test]
async fn a_password_reset_revokes_the_persons_tokens_unless_the_operator_keeps_them() {
    let app = spawn_app().await;
    app.add_user("olga", Role::Operator, &[]).await;
    let nina_id = app.add_user("nina", Role::Tenant, &[sub(1)]).await;
    let olga = app.sign_in("olga").await;
    let nina_token = |name: &'static str| {
        let store = app.store.clone();
        async move {
            let mut changes = store.begin().await.unwrap();
            let (_, token) = meterbook_server::auth::issue_token(
                &mut changes,
                &meterbook_server::auth::TokenRequest {
                    name,
                    role: Role::Tenant,
                    subscriptions: &[sub(1)],
                    created_by: Some(nina_id),
                },
            )
            .await
            .unwrap();
            changes.commit().await.unwrap();
            token
        }
    };
    let reads = |token: String| {
        let app = &app;
        async move {
            app.get(&format!("{}?api-version=2015-06-01-preview&reportedStartTime=2026-10-01T00:00:00Z&reportedEndTime=2026-10-02T00:00:00Z", tenant_path(&sub(1))), Some(&token))
                .await
                .status()
        }
    };
    let id = nina_id.to_string();

    let kept = nina_token("kept").await;
    let response = change(
        &app,
        &olga,
        &[("op", "password"), ("id", &id), ("keep_tokens", "on")],
    )
    .await;
    let done: Value = response.json().await.unwrap();
    assert!(
        done["message"]
            .as_str()
            .unwrap()
            .contains("tokens and widgets were kept"),
        "{done}"
    );
    assert_eq!(reads(kept.clone()).await, 200);

    let response = change(&app, &olga, &[("op", "password"), ("id", &id)]).await;
    let done: Value = response.json().await.unwrap();
    assert!(
        done["message"]
            .as_str()
            .unwrap()
            .contains("1 API token or widget was revoked"),
        "{done}"
    );
    assert_eq!(reads(kept).await, 401);

    let entries = app
        .store
        .audit_entries(10, Some(AuditAction::UserSetPassword))
        .await
        .unwrap();
    let details: Vec<&str> = entries.iter().map(|e| e.detail.as_str()).collect();
    assert_eq!(
        details,
        [
            "sessions ended; tokens revoked: 1",
            "sessions ended; tokens kept"
        ]
    );
}

#[tokio::test]
async fn the_audit_page_says_the_store_failed_when_it_did_not_that_the_operator_may_not_read_it() {
    let app = spawn_app().await;
    app.add_user("olga", Role::Operator, &[]).await;
    let olga = app.sign_in("olga").await;
    assert_eq!(app.page("/audit", &olga.cookie).await.status(), 200);
    // The audit log's table goes away under the running server, as in a broken database.
    let break_it = "ALTER TABLE audit_log RENAME TO audit_log_gone";
    if app.database_url.starts_with("sqlite") {
        let db = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
        sqlx::query(break_it).execute(&db).await.unwrap();
    } else {
        let db = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        sqlx::query(break_it).execute(&db).await.unwrap();
    }

    let page = app.page("/audit", &olga.cookie).await;

    assert_eq!(page.status(), 503);
    let html = page.text().await.unwrap();
    assert!(html.contains("cannot reach its database"), "{html}");
}

#[tokio::test]
async fn operators_grant_subscriptions_by_name_and_the_audit_log_names_them() {
    let app = spawn_app().await;
    app.add_user("olga", Role::Operator, &[]).await;
    app.add_user("nina", Role::Tenant, &[sub(9)]).await;
    let olga = app.sign_in("olga").await;
    for (n, name) in [(1, "Contoso Ltd"), (2, "Twin Co"), (3, "twin co")] {
        let mut changes = app.store.begin().await.unwrap();
        let entry = meterbook_core::directory::DirectoryEntry {
            display_name: name.to_owned(),
            ..meterbook_core::directory::DirectoryEntry::unknown(&sub(n))
        };
        changes
            .put_directory_entry(&entry, meterbook_server::store::EntrySource::Local)
            .await
            .unwrap();
        changes.commit().await.unwrap();
    }
    let people: Value = app
        .server_fn("load_people", &olga.cookie, &[])
        .await
        .json()
        .await
        .unwrap();
    // The grant fields suggest the directory's subscriptions by name.
    assert_eq!(
        people["choices"][0],
        serde_json::json!(["Contoso Ltd", sub(1).as_str()])
    );
    let nina = people["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["username"] == "nina")
        .unwrap()["id"]
        .as_i64()
        .unwrap()
        .to_string();

    let granted = change(
        &app,
        &olga,
        &[
            ("op", "grant"),
            ("id", &nina),
            ("subscriptions", "contoso ltd"),
        ],
    )
    .await;
    assert_eq!(granted.status(), 200);
    let (user, _) = app.store.user_by_name("nina").await.unwrap().unwrap();
    assert!(
        user.subscriptions.contains(&sub(1)),
        "{:?}",
        user.subscriptions
    );

    for (named, needle) in [
        ("Twin Co", "names 2 subscriptions"),
        ("Nobody Inc", "neither a subscription ID nor the name"),
    ] {
        let refused = change(
            &app,
            &olga,
            &[("op", "grant"), ("id", &nina), ("subscriptions", named)],
        )
        .await;
        assert_eq!(refused.status(), 400, "{named}");
        let text = refused.text().await.unwrap();
        assert!(text.contains(needle), "{named}: {text}");
    }

    let html = app
        .page("/audit?action=grant.add", &olga.cookie)
        .await
        .text()
        .await
        .unwrap()
        .replace("<!>", "");
    assert!(html.contains("Contoso Ltd"), "{html}");
    assert!(
        html.contains(&format!(
            r#"<code class="subscription-id">{}</code>"#,
            sub(1)
        )),
        "{html}"
    );
}
