//! Several servers on one database, as behind a load balancer: a request may land on any of
//! them, so nothing a client holds may belong to one server.

use meterbook_core::access::Role;

use crate::helpers::*;

#[tokio::test]
async fn pages_sessions_and_tokens_from_one_server_work_on_another() {
    let a = spawn_app().await;
    let b = a.second_server().await;
    let (records, start, end) = demo_records(2, 3, 21);
    for chunk in as_json(&records).chunks(2_000) {
        a.ingest(chunk).await;
    }
    let first = format!(
        "{}?{API}&reportedStartTime={}&reportedEndTime={}&aggregationGranularity=Hourly",
        provider_path(),
        time_param(start),
        time_param(end)
    );
    let (expected, pages) = a.all_pages(&first, &a.operator).await;
    assert!(pages >= 3, "{pages} pages");

    // Every continuation token a issued is followed on b, with a's operator token.
    let mut served = Vec::new();
    let mut url = format!("{}{first}", a.base);
    loop {
        let on_b = url.replacen(&a.base, &b.base, 1);
        let response = b.get(&on_b, Some(&a.operator)).await;
        assert_eq!(response.status(), 200, "{on_b}");
        let page: serde_json::Value = response.json().await.unwrap();
        served.extend(page["value"].as_array().unwrap().iter().cloned());
        match page["nextLink"].as_str() {
            Some(next) => url = next.replacen(&b.base, &a.base, 1),
            None => break,
        }
    }
    assert_eq!(served, expected, "b serves a's pages exactly");

    // A session started on a is live on b, and signing out on b ends it on a.
    a.add_user("olivia", Role::Operator, &[]).await;
    let session = a.sign_in("olivia").await;
    assert_eq!(b.page("/", &session.cookie).await.status(), 200);
    let sign_out = b
        .client
        .post(format!("{}/auth/sign-out", b.base))
        .header("cookie", &session.cookie)
        .form(&[("csrf", session.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(sign_out.status(), 303);
    assert_eq!(a.page("/", &session.cookie).await.status(), 303);

    // The servers sign with the one secret kept in the database.
    assert_eq!(
        a.store.signing_secret().await.unwrap(),
        b.store.signing_secret().await.unwrap()
    );
}
