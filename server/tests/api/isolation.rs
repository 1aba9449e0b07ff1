//! Tenant isolation: a tenant, by session or by token, tries every read path for another
//! tenant's usage, and not one byte of it comes back.

use meterbook_core::access::Role;
use meterbook_core::audit::AuditAction;
use meterbook_core::SubscriptionId;

use crate::helpers::*;

/// Two tenants' usage, a tenant user and a tenant token for the first, and what identifies the
/// second's usage in any answer.
struct World {
    app: TestApp,
    mine: SubscriptionId,
    theirs: SubscriptionId,
    session: Session,
    token: String,
    query: String,
    /// Strings that occur only in the other tenant's usage.
    their_marks: Vec<String>,
}

async fn world() -> World {
    let app = spawn_app().await;
    let (records, start, end) = demo_records(2, 5, 21);
    for chunk in as_json(&records).chunks(2_000) {
        app.ingest(chunk).await;
    }
    let subs: std::collections::BTreeSet<_> =
        records.iter().map(|r| r.subscription_id.clone()).collect();
    let mut subs = subs.into_iter();
    let mine = subs.next().unwrap();
    let theirs = subs.next().unwrap();
    app.add_user("tina", Role::Tenant, std::slice::from_ref(&mine))
        .await;
    let session = app.sign_in("tina").await;
    let token = app.tenant_token(&mine).await;
    let mut their_marks = vec![theirs.as_str().to_owned(), theirs.as_str().to_uppercase()];
    their_marks.extend(
        records
            .iter()
            .filter(|r| r.subscription_id == theirs)
            .map(|r| r.instance.resource_uri.clone())
            .take(3),
    );
    World {
        app,
        mine,
        theirs,
        session,
        token,
        query: format!(
            "{API}&reportedStartTime={}&reportedEndTime={}&aggregationGranularity=Hourly",
            time_param(start),
            time_param(end)
        ),
        their_marks,
    }
}

impl World {
    /// GETs `path` as the tenant, by session and by token; asserts neither answer holds the
    /// other tenant's usage, and returns both statuses.
    async fn try_both(&self, path: &str) -> (u16, u16) {
        let by_session = self.app.page(path, &self.session.cookie).await;
        let by_token = self.app.get(path, Some(&self.token)).await;
        let statuses = (by_session.status().as_u16(), by_token.status().as_u16());
        for body in [
            by_session.text().await.unwrap(),
            by_token.text().await.unwrap(),
        ] {
            for mark in &self.their_marks {
                assert!(!body.contains(mark.as_str()), "{path} leaked {mark}");
            }
        }
        statuses
    }
}

#[tokio::test]
async fn the_tenant_api_refuses_another_tenants_subscription_in_every_spelling() {
    let w = world().await;
    let theirs = w.theirs.as_str();
    for spelling in [
        theirs.to_owned(),
        theirs.to_uppercase(),
        format!("%20{theirs}%20"),
        format!("{{{theirs}}}"),
        theirs.replace('-', ""),
    ] {
        let path = format!(
            "/subscriptions/{spelling}/providers/Microsoft.Commerce/UsageAggregates?{}",
            w.query
        );
        let (session, token) = w.try_both(&path).await;
        assert!(
            (400..500).contains(&session) && (400..500).contains(&token),
            "{spelling}: {session} {token}"
        );
    }
    let (session, token) = w
        .try_both(&format!("{}?{}", tenant_path(&w.mine), w.query))
        .await;
    assert_eq!((session, token), (200, 200), "their own usage reads fine");
}

#[tokio::test]
async fn the_provider_api_and_its_subscriber_filter_are_refused_to_tenants() {
    let w = world().await;
    for query in [
        w.query.clone(),
        format!("{}&subscriberId={}", w.query, w.theirs),
        format!("{}&subscriberId={}", w.query, w.mine),
    ] {
        let (session, token) = w.try_both(&format!("{}?{query}", provider_path())).await;
        assert_eq!((session, token), (403, 403));
    }
}

#[tokio::test]
async fn exports_hold_only_the_tenants_own_usage() {
    let w = world().await;
    let (session, token) = w
        .try_both(&format!(
            "/api/v1/usage/export?{}&subscriberId={}",
            w.query, w.theirs
        ))
        .await;
    assert_eq!((session, token), (403, 403));
    let own = w
        .app
        .get(&format!("/api/v1/usage/export?{}", w.query), Some(&w.token))
        .await;
    assert_eq!(own.status(), 200);
    let csv = own.text().await.unwrap();
    assert!(csv.contains(w.mine.as_str()));
    // Streamed page by page: every aggregate of the query, once, and nothing else.
    let (aggregates, pages) = w
        .app
        .all_pages(&format!("{}?{}", tenant_path(&w.mine), w.query), &w.token)
        .await;
    assert!(pages > 1);
    assert_eq!(csv.lines().count() - 1, aggregates.len());
    w.try_both(&format!("/api/v1/usage/export?{}", w.query))
        .await;
    let audit = w
        .app
        .store
        .audit_entries(10, Some(AuditAction::UsageExport))
        .await
        .unwrap();
    assert!(!audit.is_empty());
}

#[tokio::test]
async fn continuation_tokens_from_another_tenants_pages_are_refused() {
    let w = world().await;
    // The operator reads the other tenant's pages and hands their continuation token around.
    let first = w
        .app
        .get(
            &format!("{}?{}", tenant_path(&w.theirs), w.query),
            Some(&w.app.operator),
        )
        .await;
    let page: serde_json::Value = first.json().await.unwrap();
    let next = page["nextLink"].as_str().expect("several pages").to_owned();
    let token = next.split("continuationToken=").nth(1).unwrap().to_owned();

    let on_their_path = w.try_both(&next).await;
    let on_my_path = w
        .try_both(&format!(
            "{}?{}&continuationToken={token}",
            tenant_path(&w.mine),
            w.query
        ))
        .await;

    assert_eq!(on_their_path, (403, 403));
    assert_eq!(on_my_path, (400, 400));
}

#[tokio::test]
async fn server_functions_answer_in_the_tenants_scope() {
    let w = world().await;
    let overview = w
        .app
        .server_fn("load_overview", &w.session.cookie, &[])
        .await;
    assert_eq!(overview.status(), 200);
    let body = overview.text().await.unwrap();
    assert!(body.contains(w.mine.as_str()));
    for mark in &w.their_marks {
        assert!(!body.contains(mark.as_str()));
    }
    let page = w
        .app
        .page("/", &w.session.cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains(w.theirs.as_str()));
    let tokens = w
        .app
        .server_fn("load_tokens", &w.session.cookie, &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(!tokens.contains(w.theirs.as_str()));
}
