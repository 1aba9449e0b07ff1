//! Killing a server (SIGKILL) in the middle of a stream of ingest batches loses nothing it
//! acknowledged, and leaves no batch half-written: each batch is in the store whole or not at
//! all. Runs against SQLite, and against PostgreSQL in the suite's PostgreSQL pass.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use meterbook_core::access::Role;
use meterbook_core::explore::TimeBasis;
use meterbook_core::usage::{InstanceData, UsageRecord};
use meterbook_core::SubscriptionId;
use meterbook_server::store;

use crate::helpers::*;
use crate::process::{free_port, start_server};

const RECORDS_PER_BATCH: usize = 500;
const CLIENTS: usize = 4;
/// The server is killed once this many batches have been acknowledged.
const KILL_AFTER: usize = 12;

fn hour() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
        .unwrap()
        .to_utc()
}

/// Batch `n`: records whose resource URIs name the batch, so the store says which batch each
/// record came from.
fn batch(n: usize) -> String {
    let sub = SubscriptionId::parse("0000000d-0000-4000-8000-000000000000").unwrap();
    let records: Vec<UsageRecord> = (0..RECORDS_PER_BATCH)
        .map(|k| UsageRecord {
            subscription_id: sub.clone(),
            meter_id: "6DAB500F-A4FD-49C4-956D-229BB9C8C793".into(),
            instance: InstanceData {
                resource_uri: format!("/durability/{n}/{k}"),
                ..InstanceData::default()
            },
            usage_start: hour(),
            usage_end: hour() + chrono::Duration::hours(1),
            reported_time: None,
            quantity: 1.0,
        })
        .collect();
    serde_json::to_string(&as_json(&records)).unwrap()
}

#[tokio::test]
async fn batches_acknowledged_before_a_kill_are_whole_after_a_restart() {
    let database = TestDatabase::new();
    let store = store::open(&database.url).await.unwrap();
    let provider = token(store.as_ref(), "durability", Role::Provider, &[]).await;
    let port = free_port();
    let server = Arc::new(Mutex::new(
        start_server(&database.url, port, database.dir.path()).await,
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/api/v1/usage-records");

    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let killed = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (client, url, provider) = (client.clone(), url.clone(), provider.clone());
        let (acknowledged, sent, killed, server) = (
            acknowledged.clone(),
            sent.clone(),
            killed.clone(),
            server.clone(),
        );
        clients.push(tokio::spawn(async move {
            // Client c sends batches c, c + CLIENTS, c + 2 * CLIENTS, ... until the server dies.
            for n in (c..).step_by(CLIENTS) {
                if killed.load(Ordering::SeqCst) {
                    return;
                }
                sent.lock().unwrap().push(n);
                let answer = client
                    .post(&url)
                    .bearer_auth(&provider)
                    .header("content-type", "application/json")
                    .body(batch(n))
                    .send()
                    .await;
                match answer {
                    Ok(response) if response.status().is_success() => {
                        let mut done = acknowledged.lock().unwrap();
                        done.push(n);
                        if done.len() == KILL_AFTER {
                            // SIGKILL, with the other clients' batches in flight.
                            let mut server = server.lock().unwrap();
                            server.kill().unwrap();
                            server.wait().unwrap();
                            killed.store(true, Ordering::SeqCst);
                        }
                    }
                    Ok(response) => panic!("batch {n}: {}", response.status()),
                    // The connection died with the server.
                    Err(_) => return,
                }
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    assert!(killed.load(Ordering::SeqCst));

    // The restarted server takes batches again.
    let mut restarted = start_server(&database.url, port, database.dir.path()).await;
    let after = client
        .post(&url)
        .bearer_auth(&provider)
        .header("content-type", "application/json")
        .body(batch(100_000))
        .send()
        .await
        .unwrap();
    assert!(after.status().is_success(), "{}", after.status());
    restarted.kill().unwrap();
    restarted.wait().unwrap();

    let store = store::open(&database.url).await.unwrap();
    let facts = store
        .facts(
            None,
            TimeBasis::Usage,
            hour(),
            hour() + chrono::Duration::hours(1),
            10_000_000,
        )
        .await
        .unwrap();
    let mut per_batch = std::collections::HashMap::<usize, usize>::new();
    for fact in &facts {
        let n: usize = fact
            .resource_uri
            .split('/')
            .nth(2)
            .unwrap()
            .parse()
            .unwrap();
        *per_batch.entry(n).or_default() += 1;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    for n in &acknowledged {
        assert_eq!(
            per_batch.get(n).copied().unwrap_or(0),
            RECORDS_PER_BATCH,
            "acknowledged batch {n} is not whole"
        );
    }
    for (n, count) in &per_batch {
        assert_eq!(*count, RECORDS_PER_BATCH, "batch {n} is half-written");
        assert!(
            sent.lock().unwrap().contains(n) || *n == 100_000,
            "batch {n} was never sent"
        );
    }
    assert_eq!(per_batch.get(&100_000), Some(&RECORDS_PER_BATCH));
    assert!(acknowledged.len() >= KILL_AFTER);
}
