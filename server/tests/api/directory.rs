//! The tenant directory: the admin API's list, get and put (operators only, ARM paging), ARM's
//! subscriptions API (each reader their own), the command line's import, and the audit log.

use meterbook_core::SubscriptionId;
use meterbook_server::DEFAULT_PROVIDER_SUBSCRIPTION;
use serde_json::{json, Value};

use crate::helpers::{redirected, spawn_app, sub, TestApp};

const ADMIN: &str = "api-version=2015-11-01";
const TENANT: &str = "api-version=2016-06-01";

fn admin_path(id: Option<&SubscriptionId>) -> String {
    let base = format!(
        "/subscriptions/{DEFAULT_PROVIDER_SUBSCRIPTION}/providers/Microsoft.Subscriptions.Admin/subscriptions"
    );
    match id {
        Some(id) => format!("{base}/{id}"),
        None => base,
    }
}

pub(crate) async fn put(
    app: &TestApp,
    id: &SubscriptionId,
    body: &Value,
    token: &str,
) -> reqwest::Response {
    app.client
        .put(format!("{}{}?{ADMIN}", app.base, admin_path(Some(id))))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

fn fabrikam() -> Value {
    json!({
        "displayName": "Fabrikam Inc",
        "owner": "admin@fabrikam.example",
        "state": "Enabled",
        "offerId": "/delegatedProviders/default/offers/Premium",
        "plans": ["compute-premium", "sql-premium"],
        "tenantId": "2b0c1d6e-7f8a-4b9c-8d0e-1f2a3b4c5d6e",
        "tags": {"Department": "Finance"}
    })
}

#[tokio::test]
async fn operators_keep_the_directory_through_the_admin_api_in_pages() {
    let app = spawn_app().await;
    let created = put(&app, &sub(1), &fabrikam(), &app.operator).await;
    assert_eq!(created.status(), 201);
    let body = json_of(created).await;
    assert_eq!(body["type"], "Microsoft.Subscriptions.Admin/subscriptions");
    assert_eq!(body["subscriptionId"], sub(1).as_str());
    assert_eq!(
        body["offerId"],
        "/delegatedProviders/default/offers/Premium"
    );
    assert_eq!(
        body["id"],
        format!(
            "/subscriptions/{DEFAULT_PROVIDER_SUBSCRIPTION}/providers/Microsoft.Subscriptions.Admin/subscriptions/{}",
            sub(1)
        )
    );
    let same = put(&app, &sub(1), &fabrikam(), &app.operator).await;
    assert_eq!(same.status(), 200);
    let mut renamed = fabrikam();
    renamed["displayName"] = json!("Fabrikam Europe");
    assert_eq!(
        put(&app, &sub(1), &renamed, &app.operator).await.status(),
        200
    );
    for n in [2, 3] {
        let body = json!({"displayName": format!("Tenant {n}"), "state": "Suspended"});
        assert_eq!(put(&app, &sub(n), &body, &app.operator).await.status(), 201);
    }

    let first = json_of(
        app.get(
            &format!("{}?{ADMIN}&$top=2", admin_path(None)),
            Some(&app.operator),
        )
        .await,
    )
    .await;
    let page: Vec<&str> = first["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subscriptionId"].as_str().unwrap())
        .collect();
    assert_eq!(page, [sub(1).as_str(), sub(2).as_str()]);
    assert_eq!(first["value"][0]["displayName"], "Fabrikam Europe");
    assert_eq!(first["value"][1]["state"], "Disabled");
    let next = first["nextLink"].as_str().expect("a second page");
    assert!(next.starts_with(&app.base), "{next}");
    let second = json_of(app.get(next, Some(&app.operator)).await).await;
    assert_eq!(second["value"].as_array().unwrap().len(), 1);
    assert_eq!(second["value"][0]["subscriptionId"], sub(3).as_str());
    assert!(second.get("nextLink").is_none());
    let one = json_of(
        app.get(
            &format!("{}?{ADMIN}", admin_path(Some(&sub(1)))),
            Some(&app.operator),
        )
        .await,
    )
    .await;
    assert_eq!(one["plans"], json!(["compute-premium", "sql-premium"]));
    assert_eq!(one["tags"]["Department"], "Finance");

    // Only operators, only under the provider subscription, only with a known api-version.
    let tenant = app.tenant_token(&sub(1)).await;
    let refused = app
        .get(&format!("{}?{ADMIN}", admin_path(None)), Some(&tenant))
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(put(&app, &sub(1), &fabrikam(), &tenant).await.status(), 403);
    let elsewhere = format!(
        "/subscriptions/{}/providers/Microsoft.Subscriptions.Admin/subscriptions?{ADMIN}",
        sub(9)
    );
    assert_eq!(app.get(&elsewhere, Some(&app.operator)).await.status(), 404);
    let versionless = app.get(&admin_path(None), Some(&app.operator)).await;
    assert_eq!(versionless.status(), 400);
    assert_eq!(json_of(versionless).await["error"]["code"], "NoApiVersion");
    let forged = format!("{}?{ADMIN}&$skipToken=abc.def", admin_path(None));
    assert_eq!(app.get(&forged, Some(&app.operator)).await.status(), 400);

    // Each change is audited once; an unchanged put writes nothing.
    let audit = app.store.audit_entries(50, None).await.unwrap();
    let actions: Vec<&str> = audit
        .iter()
        .filter(|e| e.action.as_str().starts_with("subscription."))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "subscription.add",
            "subscription.add",
            "subscription.set",
            "subscription.add"
        ]
    );
}

#[tokio::test]
async fn bad_puts_are_refused_by_field_and_change_nothing() {
    let app = spawn_app().await;
    let path = format!("{}{}?{ADMIN}", app.base, admin_path(Some(&sub(1))));
    let send = |body: &'static str| {
        let app = &app;
        let path = path.clone();
        async move {
            app.client
                .put(path)
                .bearer_auth(&app.operator)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    for (body, says) in [
        ("{", "not JSON"),
        ("{}", "display name"),
        (r#"{"displayName": "x", "state": "Gone"}"#, "state 'Gone'"),
        (r#"{"displayName": "x", "owner": "a b"}"#, "owner"),
        (r#"{"displayName": "x", "offerId": "bad offer!"}"#, "offer"),
        (
            r#"{"displayName": "x", "subscriptionId": "22222222-1111-4111-8111-111111111111"}"#,
            "path's subscription",
        ),
        (r#"{"displayName": 5}"#, "displayName is not text"),
    ] {
        let refused = send(body).await;
        assert_eq!(refused.status(), 400, "{body}");
        let message = json_of(refused).await["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(says), "{body}: {message}");
    }
    let bad_path = format!("{}{}/not-a-guid?{ADMIN}", app.base, admin_path(None));
    let refused = app
        .client
        .put(bad_path)
        .bearer_auth(&app.operator)
        .json(&fabrikam())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(app.store.directory_entry(&sub(1)).await.unwrap().is_none());
}

#[tokio::test]
async fn each_reader_lists_and_reads_only_their_own_subscriptions() {
    let app = spawn_app().await;
    assert_eq!(
        put(&app, &sub(1), &fabrikam(), &app.operator)
            .await
            .status(),
        201
    );
    let other = json!({"displayName": "Woodgrove Bank", "owner": "it@woodgrove.example"});
    assert_eq!(
        put(&app, &sub(3), &other, &app.operator).await.status(),
        201
    );
    let token = crate::helpers::token(
        app.store.as_ref(),
        "two",
        meterbook_core::access::Role::Tenant,
        &[sub(2), sub(1)],
    )
    .await;

    let listed = json_of(
        app.get(&format!("/subscriptions?{TENANT}"), Some(&token))
            .await,
    )
    .await;
    let value = listed["value"].as_array().unwrap();
    assert_eq!(value.len(), 2);
    assert_eq!(value[0]["id"], format!("/subscriptions/{}", sub(1)));
    assert_eq!(value[0]["displayName"], "Fabrikam Inc");
    assert_eq!(value[0]["state"], "Enabled");
    assert_eq!(value[0]["tenantId"], "2b0c1d6e-7f8a-4b9c-8d0e-1f2a3b4c5d6e");
    assert_eq!(value[0]["subscriptionPolicies"]["quotaId"], "Premium");
    assert_eq!(
        value[1]["displayName"],
        format!("Unknown subscription {}", sub(2))
    );

    let own = app
        .get(&format!("/subscriptions/{}?{TENANT}", sub(1)), Some(&token))
        .await;
    assert_eq!(json_of(own).await["displayName"], "Fabrikam Inc");
    for id in [sub(3).to_string(), "not-a-guid".to_owned()] {
        let theirs = app
            .get(&format!("/subscriptions/{id}?{TENANT}"), Some(&token))
            .await;
        assert_eq!(theirs.status(), 404, "{id}");
        assert_eq!(
            json_of(theirs).await["error"]["code"],
            "SubscriptionNotFound"
        );
    }

    let all = json_of(
        app.get(
            &format!("/Subscriptions?{TENANT}&$top=1"),
            Some(&app.operator),
        )
        .await,
    )
    .await;
    assert_eq!(all["value"][0]["displayName"], "Fabrikam Inc");
    let rest = json_of(
        app.get(all["nextLink"].as_str().unwrap(), Some(&app.operator))
            .await,
    )
    .await;
    assert_eq!(rest["value"][0]["displayName"], "Woodgrove Bank");
    // A token made for one reader's list does not continue another's.
    let foreign = all["nextLink"].as_str().unwrap();
    assert_eq!(app.get(foreign, Some(&token)).await.status(), 400);

    let machines = json_of(
        app.get(&format!("/subscriptions?{TENANT}"), Some(&app.provider))
            .await,
    )
    .await;
    assert_eq!(machines["value"], json!([]));
    assert_eq!(
        app.get(&format!("/subscriptions?{TENANT}"), None)
            .await
            .status(),
        401
    );
    let old = app
        .get("/subscriptions?api-version=2014-04-01", Some(&token))
        .await;
    assert_eq!(old.status(), 400);
}

#[test]
fn the_command_line_imports_whole_files_or_names_the_bad_row() {
    use std::process::Command;
    let database = crate::helpers::TestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_meterbook"))
            .args(args)
            .env("MB_DATABASE_URL", &database.url)
            .env("MB_LOG", "warn")
            .output()
            .expect("run meterbook")
    };
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!(
            "subscription_id,display_name,owner,offer\n{},Contoso Ltd,admin@contoso.example,Basic\n{},Fabrikam,a b,Basic\n",
            sub(1),
            sub(2)
        ),
    )
    .unwrap();
    let refused = run(&["subscriptions", "import", bad.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("line 3"), "{}", text(&refused));
    let listed = run(&["subscriptions", "list", "--json"]);
    assert!(
        String::from_utf8_lossy(&listed.stdout).trim().is_empty(),
        "nothing was written"
    );

    let good = dir.path().join("directory.csv");
    std::fs::write(
        &good,
        format!(
            "subscription_id,display_name,owner,offer,plans,tags\n{},Contoso Ltd,admin@contoso.example,Basic,compute-basic,Department=Finance\n",
            sub(1)
        ),
    )
    .unwrap();
    let imported = run(&["subscriptions", "import", good.to_str().unwrap()]);
    assert!(imported.status.success(), "{}", text(&imported));
    assert!(text(&imported).contains("1 added"), "{}", text(&imported));
    let set = run(&[
        "subscriptions",
        "set",
        "--id",
        sub(1).as_str(),
        "--state",
        "Suspended",
    ]);
    assert!(set.status.success(), "{}", text(&set));
    let csv = run(&["subscriptions", "list", "--csv"]);
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(
        csv.contains("Contoso Ltd,admin@contoso.example,Disabled,Basic,compute-basic"),
        "{csv}"
    );
    // What `list --csv` writes, `import` reads back unchanged.
    let round = dir.path().join("round.csv");
    std::fs::write(&round, &csv).unwrap();
    let again = run(&["subscriptions", "import", round.to_str().unwrap()]);
    assert!(
        text(&again).contains("0 added, 0 changed"),
        "{}",
        text(&again)
    );
    let add_twice = run(&[
        "subscriptions",
        "add",
        "--id",
        sub(1).as_str(),
        "--name",
        "x",
    ]);
    assert!(!add_twice.status.success());
    let audit = run(&["audit", "--json"]);
    let audit = String::from_utf8_lossy(&audit.stdout);
    assert!(
        audit.contains("subscription.import") && audit.contains("subscription.set"),
        "{audit}"
    );
}

#[tokio::test]
async fn the_usage_csv_names_each_subscriptions_owner() {
    let app = spawn_app().await;
    let (records, start, end) = crate::helpers::demo_records(2, 2, 8);
    for chunk in crate::helpers::as_json(&records).chunks(2_000) {
        app.ingest(chunk).await;
    }
    let mut subs: Vec<SubscriptionId> = records.iter().map(|r| r.subscription_id.clone()).collect();
    subs.sort();
    subs.dedup();
    let owned = json!({"displayName": "Contoso Ltd", "owner": "admin@contoso.example"});
    assert_eq!(
        put(&app, &subs[0], &owned, &app.operator).await.status(),
        201
    );

    let csv = app
        .get(
            &format!(
                "/api/v1/usage/export?{}&reportedStartTime={}&reportedEndTime={}",
                crate::helpers::API,
                start.format("%Y-%m-%dT%H:00:00Z"),
                end.format("%Y-%m-%dT%H:00:00Z")
            ),
            Some(&app.operator),
        )
        .await
        .text()
        .await
        .unwrap();
    let mut rows = csv.lines().map(|l| l.split(',').collect::<Vec<_>>());
    let header = rows.next().unwrap();
    let owner = header.iter().position(|c| *c == "subowner").unwrap();
    let subscription = header.iter().position(|c| *c == "subscription").unwrap();
    let mut seen = std::collections::BTreeMap::new();
    for row in rows.filter(|r| r.len() == header.len()) {
        seen.insert(row[subscription].to_owned(), row[owner].to_owned());
    }
    assert_eq!(
        seen.get(subs[0].as_str()).map(String::as_str),
        Some("admin@contoso.example")
    );
    assert_eq!(
        seen.get(subs[1].as_str()).map(String::as_str),
        Some(""),
        "unknown to the directory"
    );
}

#[tokio::test]
async fn operators_keep_the_directory_on_the_tenants_page() {
    use meterbook_core::access::Role;
    let app = spawn_app().await;
    app.add_user("olga", Role::Operator, &[]).await;
    app.add_user("tina", Role::Tenant, &[sub(1)]).await;
    let olga = app.sign_in("olga").await;
    let tina = app.sign_in("tina").await;

    let empty = app
        .page("/tenants", &olga.cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(empty.contains("knows no subscription yet"), "{empty}");
    let save = |session: &crate::helpers::Session, fields: Vec<(&'static str, String)>| {
        let request = app
            .client
            .post(format!("{}/tenants/save", app.base))
            .header("cookie", &session.cookie)
            .form(&fields);
        async move { request.send().await.unwrap() }
    };
    let form = |csrf: &str, owner: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("id", sub(1).to_string()),
            ("name", "Contoso Ltd".to_owned()),
            ("owner", owner.to_owned()),
            ("state", "Enabled".to_owned()),
            ("offer", "Basic".to_owned()),
            ("plans", "compute-basic; storage-basic".to_owned()),
            ("tags", "Department=Finance; CostCenter=42".to_owned()),
        ]
    };
    let saved = redirected(save(&olga, form(&olga.csrf, "admin@contoso.example")).await).await;
    assert!(saved.contains("saved=Contoso Ltd"), "{saved}");
    let entry = app.store.directory_entry(&sub(1)).await.unwrap().unwrap();
    assert_eq!(entry.plans.len(), 2);
    assert_eq!(entry.tags["CostCenter"], "42");

    let found = app
        .page("/tenants?find=CONTOSO", &olga.cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        found.contains("Contoso Ltd") && found.contains(sub(1).as_str()),
        "{found}"
    );
    let none = app
        .page("/tenants?find=woodgrove", &olga.cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(none.contains("No subscription matches"), "{none}");
    let editing = app
        .page(&format!("/tenants?edit={}", sub(1)), &olga.cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(editing.contains("Edit Contoso Ltd") && editing.contains("admin@contoso.example"));

    // Refusals say why and change nothing.
    let bad = redirected(save(&olga, form(&olga.csrf, "not a upn")).await).await;
    assert!(bad.contains("error=owner"), "{bad}");
    let stale = redirected(save(&olga, form("stale", "x@y.example")).await).await;
    assert!(stale.contains("expired"), "{stale}");
    let theirs = redirected(save(&tina, form(&tina.csrf, "x@y.example")).await).await;
    assert!(theirs.contains("Only operators"), "{theirs}");
    let entry = app.store.directory_entry(&sub(1)).await.unwrap().unwrap();
    assert_eq!(entry.owner, "admin@contoso.example");
    assert_eq!(app.page("/tenants", &tina.cookie).await.status(), 403);

    // An import, whole or not at all.
    let upload = |csrf: &str, content: String| {
        let boundary = "meterbook-test-boundary";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"directory.csv\"\r\n\
             Content-Type: text/csv\r\n\r\n{content}\r\n--{boundary}--\r\n"
        );
        let request = app
            .client
            .post(format!("{}/tenants/import", app.base))
            .header("cookie", &olga.cookie)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        async move { request.send().await.unwrap() }
    };
    let refused = redirected(
        upload(
            &olga.csrf,
            format!(
                "subscription_id,display_name\n{},Woodgrove Bank\nnot-a-guid,x\n",
                sub(2)
            ),
        )
        .await,
    )
    .await;
    assert!(
        refused.contains("line 3") && refused.contains("nothing changed"),
        "{refused}"
    );
    assert!(app.store.directory_entry(&sub(2)).await.unwrap().is_none());
    let imported = redirected(
        upload(
            &olga.csrf,
            format!("subscription_id,display_name\n{},Woodgrove Bank\n", sub(2)),
        )
        .await,
    )
    .await;
    assert!(imported.contains("1 added"), "{imported}");
    let audit = app.store.audit_entries(10, None).await.unwrap();
    assert!(audit
        .iter()
        .any(|e| e.actor == "user:olga" && e.action.as_str() == "subscription.import"));
    assert!(audit
        .iter()
        .any(|e| e.actor == "user:olga" && e.action.as_str() == "subscription.add"));
}
