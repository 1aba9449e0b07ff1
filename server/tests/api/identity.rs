//! Tokens from the cloud's own directory on the API, against a real OpenID-certified provider
//! (`oidc-provider`, run by end2end/idp/server.mjs as an AD FS look-alike on loopback): a
//! service principal's token is refused until an operator's claim rule maps it, then reads its
//! tenant's usage and nothing else; tokens for another audience, from another issuer, forged or
//! after the rule is gone are refused; keys the issuer rotates in are fetched without a restart.
//! People sign in through it, and a Meterbook fronting another gets its hub tokens from it with a
//! secret or a certificate.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use meterbook_server::identity::{IdentityConfig, IssuerConfig};
use meterbook_server::source::credential::{ClientCertificate, UpstreamCredential};
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, sub, tenant_path, Options, TestApp};

/// A running test identity provider; stopped when dropped.
struct Idp {
    issuer: String,
    port: u16,
    ca: PathBuf,
    /// The PEM (certificate and key) of the client meterbook-upstream-cert.
    client_certificate: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Starts the provider, or `None` (the test is skipped, saying so) where end2end's npm packages
/// are not installed; `cargo xtask test` installs them and sets MB_REQUIRE_IDP, so there it runs.
fn start_idp() -> Option<Idp> {
    let installed = repo().join("end2end/node_modules/oidc-provider").exists();
    if !installed {
        assert!(
            std::env::var_os("MB_REQUIRE_IDP").is_none(),
            "MB_REQUIRE_IDP is set but end2end's npm packages are not installed"
        );
        eprintln!("skipped: end2end's npm packages (oidc-provider) are not installed");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new("node")
        .arg(repo().join("end2end/idp/server.mjs"))
        .args(["--port", "0", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs the test identity provider");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: Value = serde_json::from_str(&line).expect("the provider's ready line");
    Some(Idp {
        issuer: ready["issuer"].as_str().unwrap().to_owned(),
        port: ready["port"].as_u64().unwrap() as u16,
        ca: PathBuf::from(ready["ca"].as_str().unwrap()),
        client_certificate: PathBuf::from(ready["clientCertificate"].as_str().unwrap()),
        child,
        _dir: dir,
    })
}

impl Idp {
    fn http(&self) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&self.ca).unwrap()).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(ca)
            .build()
            .unwrap()
    }

    /// A client-credentials token of `client` for `resource`.
    async fn token(&self, client: &str, secret: &str, resource: &str) -> String {
        let answer: Value = self
            .http()
            .post(format!("{}/oauth2/token", self.issuer))
            .basic_auth(client, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("resource", resource)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("a token: {answer}"))
            .to_owned()
    }

    /// The provider's admin API (no authentication; loopback only).
    fn admin(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}/admin/{path}", self.port)
    }

    /// Client-credentials tokens the provider has issued to `client`.
    async fn issued(&self, client: &str) -> u64 {
        let counts: Value = self
            .http()
            .get(self.admin("issued"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        counts[client].as_u64().unwrap_or(0)
    }

    async fn rotate_keys(&self) {
        let status = self
            .http()
            .post(self.admin("rotate-keys"))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success());
    }

    fn config(&self) -> IdentityConfig {
        IdentityConfig {
            issuers: vec![IssuerConfig::api_only(
                "adfs",
                &self.issuer,
                vec!["api://meterbook".into()],
                Some(self.ca.clone()),
            )],
            ..IdentityConfig::default()
        }
    }
}

async fn usage(app: &TestApp, token: &str, n: u8) -> (u16, Value) {
    let response = app
        .get(
            &format!(
                "{}?api-version=2015-06-01-preview&reportedStartTime=2026-10-01T00:00:00Z&reportedEndTime=2026-10-02T00:00:00Z",
                tenant_path(&sub(n))
            ),
            Some(token),
        )
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_directory_token_reads_usage_once_a_claim_rule_maps_it_and_not_after() {
    let Some(idp) = start_idp() else { return };
    let app = spawn_app_with(Options {
        identity: idp.config(),
        ..Options::default()
    })
    .await;
    let token = idp
        .token("billing-script", "script-secret", "api://meterbook")
        .await;

    // Verified, but no rule maps it yet: 403 saying what to ask for.
    let (status, body) = usage(&app, &token, 1).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "AuthorizationFailed");
    assert!(message(&body).contains("no claim rule"), "{body}");

    // An operator maps the service principal to tenant 1.
    let rule = json!({"issuer": "adfs", "claim": "appid", "value": "billing-script",
                      "role": "tenant", "subscriptions": [sub(1).as_str()]});
    let added = app
        .client
        .post(format!("{}/api/v1/identity/rules", app.base))
        .bearer_auth(&app.operator)
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    let id = added.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let (status, body) = usage(&app, &token, 1).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        usage(&app, &token, 2).await.0,
        403,
        "another tenant's usage"
    );

    // A token for another audience, a forged one and one from an issuer not configured: 401.
    let other_audience = idp
        .token(
            "billing-script",
            "script-secret",
            "https://management.local.azurestack.external/",
        )
        .await;
    let (status, body) = usage(&app, &other_audience, 1).await;
    assert_eq!(status, 401, "{body}");
    assert!(message(&body).contains("another audience"), "{body}");
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let (status, body) = usage(&app, &forged, 1).await;
    assert_eq!(status, 401, "{body}");
    let stranger = start_idp().unwrap();
    let foreign = stranger
        .token("billing-script", "script-secret", "api://meterbook")
        .await;
    let (status, body) = usage(&app, &foreign, 1).await;
    assert_eq!(status, 401, "{body}");
    assert!(message(&body).contains("not accepted here"), "{body}");

    // The issuer rotates its keys: tokens signed with the new key verify without a restart (once
    // the few seconds pass in which unknown keys do not make this server ask the issuer again).
    idp.rotate_keys().await;
    tokio::time::sleep(std::time::Duration::from_millis(5_500)).await;
    let rotated = idp
        .token("billing-script", "script-secret", "api://meterbook")
        .await;
    assert_eq!(usage(&app, &rotated, 1).await.0, 200);

    // The rule removed, the same token has no role again; both changes are in the audit log.
    let removed = app
        .client
        .delete(format!("{}/api/v1/identity/rules/{id}", app.base))
        .bearer_auth(&app.operator)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    assert_eq!(usage(&app, &rotated, 1).await.0, 403);
    let actions: Vec<String> = app
        .store
        .audit_entries(10, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action.to_string())
        .collect();
    assert!(
        actions.contains(&"claim_rule.add".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"claim_rule.remove".to_owned()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn claim_rules_are_for_operators_and_refused_naming_the_field() {
    let Some(idp) = start_idp() else { return };
    let app = spawn_app_with(Options {
        identity: idp.config(),
        ..Options::default()
    })
    .await;
    let post = |token: String, body: Value| {
        let request = app
            .client
            .post(format!("{}/api/v1/identity/rules", app.base))
            .bearer_auth(token)
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    let good = json!({"issuer": "adfs", "claim": "roles", "value": "Meterbook.Operator",
                      "role": "operator"});
    let tenant = app.tenant_token(&sub(1)).await;
    assert_eq!(post(tenant, good.clone()).await.status(), 403);
    for (body, needle) in [
        (
            json!({"issuer": "entra", "claim": "roles", "value": "x", "role": "operator"}),
            "not configured",
        ),
        (
            json!({"issuer": "adfs", "claim": "shoe", "value": "x", "role": "operator"}),
            "claim 'shoe'",
        ),
        (
            json!({"issuer": "adfs", "claim": "groups", "value": "x", "role": "tenant"}),
            "at least one subscription",
        ),
        (
            json!({"issuer": "adfs", "claim": "groups", "value": "x", "role": "operator", "colour": 1}),
            "unknown field",
        ),
    ] {
        let response = post(app.operator.clone(), body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert!(message(&answer).contains(needle), "{body}: {answer}");
    }
    assert_eq!(post(app.operator.clone(), good.clone()).await.status(), 201);
    assert_eq!(post(app.operator.clone(), good).await.status(), 409);
    let listed: Value = app
        .get("/api/v1/identity/rules", Some(&app.operator))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["issuers"], json!(["adfs"]));
    assert_eq!(listed["value"][0]["value"], "Meterbook.Operator");

    // With the rule, an app role makes a service principal an operator: it reads every tenant.
    let operator_app = idp
        .token("meterbook-upstream", "upstream-secret", "api://meterbook")
        .await;
    assert_eq!(usage(&app, &operator_app, 2).await.0, 200);
}

#[tokio::test]
async fn directory_sign_ins_that_cannot_finish_say_why_and_passwords_can_be_switched_off() {
    use meterbook_server::identity::config::Secret;
    let Some(idp) = start_idp() else { return };
    let mut config = idp.config();
    config.issuers[0].client_id = Some("meterbook-portal".into());
    config.issuers[0].client_secret = Some(Secret("portal-secret".into()));
    config.local_accounts = false;
    let app = spawn_app_with(Options {
        identity: config,
        ..Options::default()
    })
    .await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let location = |r: &reqwest::Response| r.headers()["location"].to_str().unwrap().to_owned();

    // The start sends the browser to the issuer with PKCE, state and nonce, and keeps them in a
    // sealed cookie of its own path.
    let started = no_redirects
        .get(format!(
            "{}/auth/oidc/start?issuer=adfs&next=/usage",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 303);
    let to = location(&started);
    assert!(
        to.starts_with(&format!("{}/oauth2/authorize?", idp.issuer)),
        "{to}"
    );
    for part in [
        "code_challenge_method=S256",
        "state=",
        "nonce=",
        "client_id=meterbook-portal",
    ] {
        assert!(to.contains(part), "{part} in {to}");
    }
    let cookie = started.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("mb_oidc=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );

    for (path, reason) in [
        ("/auth/oidc/start?issuer=entra", "unknown_issuer"),
        ("/auth/oidc/callback?code=x&state=y", "directory_expired"),
    ] {
        let answer = no_redirects
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert!(
            location(&answer).contains(&format!("error={reason}")),
            "{path}"
        );
    }
    // A callback whose state is not the one this browser's login holds is refused too.
    let forged = no_redirects
        .get(format!(
            "{}/auth/oidc/callback?code=x&state=forged",
            app.base
        ))
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert!(location(&forged).contains("error=directory_expired"));

    // With local accounts off, a right password signs nobody in.
    app.add_user("olga", meterbook_core::access::Role::Operator, &[])
        .await;
    let refused = app.post_sign_in("olga", crate::helpers::PASSWORD).await;
    assert!(
        location(&refused).contains("error=local_off"),
        "{}",
        location(&refused)
    );
}

/// A hub (a Meterbook on its own store) that trusts the provider, maps the upstream service
/// principals' app role to operator, and holds some usage; and the usage path to read.
async fn hub_for_proxies(idp: &Idp) -> (TestApp, String) {
    let hub = spawn_app_with(Options {
        identity: idp.config(),
        ..Options::default()
    })
    .await;
    let rule = json!({"issuer": "adfs", "claim": "roles", "value": "Meterbook.Operator",
                      "role": "operator"});
    let added = hub
        .client
        .post(format!("{}/api/v1/identity/rules", hub.base))
        .bearer_auth(&hub.operator)
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    let (records, start, end) = crate::helpers::demo_records(2, 1, 5);
    hub.ingest(&crate::helpers::as_json(&records)).await;
    let path = format!(
        "{}?api-version=2015-06-01-preview&reportedStartTime={}&reportedEndTime={}&aggregationGranularity=Hourly",
        crate::helpers::provider_path(),
        crate::helpers::time_param(start),
        crate::helpers::time_param(end)
    );
    (hub, path)
}

/// A Meterbook fronting `hub` with `credential`.
async fn proxy_of(hub: &TestApp, idp: &Idp, credential: UpstreamCredential) -> TestApp {
    let mut config = crate::proxy::upstream_config_with(&hub.base, credential);
    config.ca_file = Some(idp.ca.clone());
    spawn_app_with(Options {
        upstream: Some(config),
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn a_proxy_gets_its_own_hub_tokens_from_the_provider_the_hubs_metadata_names() {
    let Some(idp) = start_idp() else { return };
    let (hub, path) = hub_for_proxies(&idp).await;
    // The hub says where to sign in, to anyone, as Azure Stack Hub does.
    let metadata: Value = app_get(&hub, "/metadata/endpoints?api-version=2015-01-01").await;
    assert_eq!(
        metadata["authentication"]["loginEndpoint"],
        idp.issuer.as_str()
    );
    assert_eq!(
        metadata["authentication"]["audiences"],
        json!(["api://meterbook"])
    );
    assert_eq!(
        hub.get("/metadata/endpoints", None).await.status(),
        400,
        "api-version is required"
    );
    let with_secret = |secret: &str| UpstreamCredential::ClientSecret {
        client_id: "meterbook-upstream".into(),
        secret: secret.into(),
        tenant: None,
    };
    let proxy = proxy_of(&hub, &idp, with_secret("upstream-secret")).await;
    let (direct, _) = hub.all_pages(&path, &hub.operator).await;
    let (proxied, _) = proxy.all_pages(&path, &proxy.operator).await;
    assert!(!direct.is_empty());
    assert_eq!(
        proxied.len(),
        direct.len(),
        "the proxy reads what the hub holds"
    );

    // A wrong secret: the proxy says its own credential was refused, and shows no secret.
    let refused = proxy_of(&hub, &idp, with_secret("wrong-secret")).await;
    let response = refused.get(&path, Some(&refused.operator)).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    let text = body.to_string();
    assert!(text.contains("refused client meterbook-upstream"), "{text}");
    assert!(!text.contains("wrong-secret"), "{text}");
}

#[tokio::test]
async fn a_proxy_with_a_certificate_signs_its_own_assertions_and_renews_its_token_before_expiry() {
    let Some(idp) = start_idp() else { return };
    let (hub, path) = hub_for_proxies(&idp).await;
    // Tokens of six seconds: the proxy renews one after three (half its life).
    let client = "meterbook-upstream-cert";
    let set = idp
        .http()
        .post(idp.admin(&format!("clients/{client}")))
        .json(&json!({"token_ttl": 6}))
        .send()
        .await
        .unwrap();
    assert!(set.status().is_success());
    let with = |pem: &[u8]| UpstreamCredential::ClientCertificate {
        client_id: client.into(),
        certificate: ClientCertificate::from_pem(pem).unwrap(),
        tenant: None,
    };
    let proxy = proxy_of(
        &hub,
        &idp,
        with(&std::fs::read(&idp.client_certificate).unwrap()),
    )
    .await;
    let (direct, _) = hub.all_pages(&path, &hub.operator).await;
    let read = || async { proxy.all_pages(&path, &proxy.operator).await.0.len() };
    assert_eq!(
        read().await,
        direct.len(),
        "the proxy reads what the hub holds"
    );
    assert_eq!(idp.issued(client).await, 1);
    assert_eq!(read().await, direct.len());
    assert_eq!(
        idp.issued(client).await,
        1,
        "a fresh token is kept, not asked for again"
    );
    tokio::time::sleep(std::time::Duration::from_millis(3_500)).await;
    assert_eq!(read().await, direct.len());
    assert_eq!(
        idp.issued(client).await,
        2,
        "past half its life the token was renewed, before it expired"
    );

    // A certificate the directory does not know for that client is refused, and said so.
    let dir = tempfile::tempdir().unwrap();
    let made = Command::new("openssl")
        .current_dir(dir.path())
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=stranger",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ])
        .output()
        .unwrap();
    assert!(made.status.success());
    let stranger = [
        std::fs::read(dir.path().join("cert.pem")).unwrap(),
        std::fs::read(dir.path().join("key.pem")).unwrap(),
    ]
    .concat();
    let refused = proxy_of(&hub, &idp, with(&stranger)).await;
    let response = refused.get(&path, Some(&refused.operator)).await;
    assert_eq!(response.status(), 502);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("refused client meterbook-upstream-cert") && text.contains("certificate"),
        "{text}"
    );
    let key = String::from_utf8(stranger).unwrap();
    let key_lines: Vec<&str> = key.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(key_lines.iter().all(|l| !text.contains(l)), "{text}");
}

async fn app_get(app: &TestApp, path: &str) -> Value {
    let response = app.get(path, None).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn operators_manage_claim_rules_on_the_identity_page_and_tenants_cannot() {
    use meterbook_core::access::Role;
    use meterbook_core::audit::AuditAction;
    let app = spawn_app_with(Options {
        identity: IdentityConfig {
            issuers: vec![IssuerConfig::api_only(
                "adfs",
                "https://adfs.contoso.example/adfs",
                vec!["api://meterbook".into()],
                None,
            )],
            ..IdentityConfig::default()
        },
        ..Options::default()
    })
    .await;
    app.add_user("olga", Role::Operator, &[]).await;
    app.add_user("tina", Role::Tenant, &[sub(1)]).await;
    let olga = app.sign_in("olga").await;
    let tina = app.sign_in("tina").await;
    let mut changes = app.store.begin().await.unwrap();
    let contoso = meterbook_core::directory::DirectoryEntry {
        display_name: "Contoso Ltd".to_owned(),
        ..meterbook_core::directory::DirectoryEntry::unknown(&sub(1))
    };
    changes
        .put_directory_entry(&contoso, meterbook_server::store::EntrySource::Local)
        .await
        .unwrap();
    changes.commit().await.unwrap();
    let page = || async {
        app.page("/identity", &olga.cookie)
            .await
            .text()
            .await
            .unwrap()
    };
    let empty = page().await;
    assert!(
        empty.contains("https://adfs.contoso.example/adfs") && empty.contains("No claim rule yet"),
        "{empty}"
    );

    type Fields = Vec<(&'static str, String)>;
    let post = |path: &'static str, session: &crate::helpers::Session, fields: Fields| {
        let request = app
            .client
            .post(format!("{}{path}", app.base))
            .header("cookie", &session.cookie)
            .form(&fields);
        async move { crate::helpers::redirected(request.send().await.unwrap()).await }
    };
    let rule = |csrf: &str, issuer: &str, role: &str, subs: &str| -> Fields {
        [
            ("csrf", csrf),
            ("issuer", issuer),
            ("claim", "groups"),
            ("value", "tenant-contoso"),
            ("role", role),
            ("subscriptions", subs),
        ]
        .map(|(k, v)| (k, v.to_owned()))
        .to_vec()
    };
    let csrf = olga.csrf.as_str();
    // Granted by the subscription's name, shown by name.
    let added = post(
        "/identity/rules/add",
        &olga,
        rule(csrf, "adfs", "tenant", "Contoso Ltd"),
    )
    .await;
    assert!(added.starts_with("added="), "{added}");
    let stored = app.store.claim_rules().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].rule.subscriptions, vec![sub(1)]);
    assert_eq!(stored[0].created_by, "user:olga");
    let listed = page().await;
    assert!(
        listed.contains("tenant-contoso")
            && listed.contains("Contoso Ltd")
            && listed.contains(sub(1).as_str()),
        "{listed}"
    );

    // Refusals say why and add nothing.
    for (fields, why) in [
        (rule(csrf, "adfs", "tenant", "Contoso Ltd"), "a rule maps"),
        (
            rule(csrf, "entra", "tenant", "Contoso Ltd"),
            "not configured here",
        ),
        (
            rule(csrf, "adfs", "tenant", ""),
            "needs at least one subscription",
        ),
        (
            rule(csrf, "adfs", "tenant", "Nobody Inc"),
            "neither a subscription ID nor the name",
        ),
        (
            rule(csrf, "adfs", "operator", "Contoso Ltd"),
            "subscriptions are for tenant rules",
        ),
        (rule("stale", "adfs", "operator", ""), "expired"),
    ] {
        let refused = post("/identity/rules/add", &olga, fields).await;
        assert!(
            refused.starts_with("error=") && refused.contains(why),
            "{why}: {refused}"
        );
    }
    let tina_csrf = tina.csrf.as_str();
    let theirs = post(
        "/identity/rules/add",
        &tina,
        rule(tina_csrf, "adfs", "operator", ""),
    )
    .await;
    assert!(theirs.contains("Only operators"), "{theirs}");
    assert_eq!(app.store.claim_rules().await.unwrap().len(), 1);
    assert_eq!(app.page("/identity", &tina.cookie).await.status(), 403);

    // Removing: a tenant cannot, an operator can, once.
    let id = stored[0].id.to_string();
    let remove = |session, csrf: &str| {
        let fields = vec![("csrf", csrf.to_owned()), ("id", id.clone())];
        post("/identity/rules/remove", session, fields)
    };
    assert!(remove(&tina, tina_csrf).await.contains("Only operators"));
    assert!(remove(&olga, csrf).await.starts_with("removed="));
    assert!(remove(&olga, csrf).await.contains("already removed"));
    assert!(app.store.claim_rules().await.unwrap().is_empty());
    for action in [AuditAction::ClaimRuleAdd, AuditAction::ClaimRuleRemove] {
        let entries = app.store.audit_entries(10, Some(action)).await.unwrap();
        assert_eq!(entries.len(), 1, "{action}");
        assert_eq!(entries[0].actor, "user:olga");
    }
}
