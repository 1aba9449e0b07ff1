//! What a directory token costs on the API (`cargo xtask bench-identity`): the same tenant reads
//! the same ARM usage page with a bearer JWT from the cloud's directory and with a Meterbook
//! `mbt_` token, against one server in this process on a SQLite store.
//!
//! `cargo xtask bench-identity` starts the test identity provider (end2end/idp, oidc-provider as
//! an AD FS) and passes `--issuer URL --ca FILE`. The JWT is the client `billing-script`'s,
//! obtained by client credentials for `api://meterbook`; an operator's claim rule maps its
//! `appid` to the tenant. Each request with it verifies the RS256 signature with the issuer's
//! cached key, checks issuer, audience and lifetime, and reads the claim rules; the `mbt_` token
//! is hashed and looked up. Requests alternate between the two (`p50_pair`, 61 each after a
//! warm-up), so drift falls on both. Results print as Markdown for BENCHMARKS.md.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::Utc;
use common::{ms, p50_pair, serve_identity, text_arg, time_param, token};
use meterbook_core::access::Role;
use meterbook_core::identity::{ClaimRule, RuleDraft};
use meterbook_core::time::floor_day;
use meterbook_server::demo::{self, DemoSpec};
use meterbook_server::identity::rules::{self, Actor};
use meterbook_server::identity::{IdentityConfig, IssuerConfig};
use meterbook_server::store;

#[tokio::main]
async fn main() {
    let issuer = text_arg("--issuer", "");
    let ca = text_arg("--ca", "");
    assert!(
        !issuer.is_empty() && !ca.is_empty(),
        "run by cargo xtask bench-identity, which starts the test identity provider"
    );
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(&format!("sqlite://{}", dir.path().join("b.db").display()))
        .await
        .unwrap();
    let end = floor_day(Utc::now());
    let records = demo::records(&DemoSpec {
        tenants: 1,
        days: 7,
        seed: 1,
        now: end - chrono::Duration::seconds(1),
    });
    let tenant = records[0].subscription_id.clone();
    store.ingest(&records, end).await.unwrap();

    let identity = IdentityConfig {
        issuers: vec![IssuerConfig::api_only(
            "adfs",
            &issuer,
            vec!["api://meterbook".into()],
            Some(ca.clone().into()),
        )],
        ..IdentityConfig::default()
    };
    let rule = ClaimRule::parse(RuleDraft {
        issuer: "adfs".into(),
        claim: "appid".into(),
        value: "billing-script".into(),
        role: "tenant".into(),
        subscriptions: vec![tenant.to_string()],
    })
    .unwrap();
    let actor = Actor {
        name: "bench",
        address: "",
    };
    rules::add(store.as_ref(), Some(&["adfs"]), actor, &rule)
        .await
        .unwrap();
    let base = serve_identity(store.clone(), dir.path(), identity).await;
    let mbt = token(store.as_ref(), Role::Tenant, std::slice::from_ref(&tenant)).await;

    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap())
        .build()
        .unwrap();
    let answer: serde_json::Value = trusting
        .post(format!("{issuer}/oauth2/token"))
        .basic_auth("billing-script", Some("script-secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", "api://meterbook"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwt = answer["access_token"].as_str().unwrap().to_owned();

    // A day of the tenant's daily aggregates: a small page, so the token's share shows.
    let url = format!(
        "{base}/subscriptions/{tenant}/providers/Microsoft.Commerce/UsageAggregates\
         ?api-version=2015-06-01-preview&reportedStartTime={}&reportedEndTime={}\
         &aggregationGranularity=Daily",
        time_param(end - chrono::Duration::days(2)),
        time_param(end - chrono::Duration::days(1)),
    );
    let client = reqwest::Client::new();
    let read = |token: String| {
        let request = client.get(&url).bearer_auth(token);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            let body = response.bytes().await.unwrap();
            assert!(body.len() > 1_000, "a page of aggregates");
        }
    };
    let (with_jwt, with_mbt) = p50_pair(|| read(jwt.clone()), || read(mbt.clone())).await;

    // The first request with a key the server has not seen: discovery and the JWKS fetched.
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = serve_identity(
        store.clone(),
        fresh_dir.path(),
        IdentityConfig {
            issuers: vec![IssuerConfig::api_only(
                "adfs",
                &issuer,
                vec!["api://meterbook".into()],
                Some(ca.into()),
            )],
            ..IdentityConfig::default()
        },
    )
    .await;
    let first_url = url.replace(&base, &fresh);
    let t = std::time::Instant::now();
    let response = client
        .get(&first_url)
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
    let first = t.elapsed();

    println!("| measure | directory JWT | `mbt_` token | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| tenant's ARM usage page (1 day, daily), p50 of {} each | {:.2} ms | {:.2} ms | {:.2}x |",
        common::PAIRED_REPEATS,
        ms(with_jwt),
        ms(with_mbt),
        ms(with_jwt) / ms(with_mbt)
    );
    println!(
        "| the same, first request of a server (discovery and JWKS fetched) | {:.2} ms | | {:.2}x |",
        ms(first),
        ms(first) / ms(with_mbt)
    );
}
