//! SIGTERM stops a server gracefully: it accepts no new connections, and the request in flight
//! when the signal came still finishes and is stored. Runs against SQLite, and against
//! PostgreSQL in the suite's PostgreSQL pass.

use std::process::Command;
use std::time::Duration;

use chrono::DateTime;
use meterbook_core::access::Role;
use meterbook_core::usage::{InstanceData, UsageRecord};
use meterbook_core::SubscriptionId;
use meterbook_server::store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;
use crate::process::{free_port, start_server, wait_for_exit};

const RECORDS: usize = 200;

fn batch() -> String {
    let hour = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let records: Vec<UsageRecord> = (0..RECORDS)
        .map(|k| UsageRecord {
            subscription_id: SubscriptionId::parse("0000000e-0000-4000-8000-000000000000").unwrap(),
            meter_id: "6DAB500F-A4FD-49C4-956D-229BB9C8C793".into(),
            instance: InstanceData {
                resource_uri: format!("/shutdown/{k}"),
                ..InstanceData::default()
            },
            usage_start: hour,
            usage_end: hour + chrono::Duration::hours(1),
            reported_time: None,
            quantity: 1.0,
        })
        .collect();
    serde_json::to_string(&as_json(&records)).unwrap()
}

/// Reads one HTTP/1.1 response with a `Content-Length` body; returns its status line.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .expect("the server answers")
            .unwrap();
        assert!(n > 0, "connection closed before a whole response");
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen).into_owned();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length: usize = text[..head_end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            if seen.len() >= head_end + 4 + length {
                return text.lines().next().unwrap_or_default().to_owned();
            }
        }
    }
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_and_refuses_new_ones() {
    let database = TestDatabase::new();
    let store = store::open(&database.url).await.unwrap();
    let provider = token(store.as_ref(), "shutdown", Role::Provider, &[]).await;
    let port = free_port();
    let mut server = start_server(&database.url, port, database.dir.path()).await;

    // One whole request first, so the connection is surely accepted and being served.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream
        .write_all(b"GET /widget.js HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    assert!(read_response(&mut stream).await.contains(" 200 "));

    // Then an ingest whose body is only half sent when the signal comes.
    let body = batch();
    let (first_half, second_half) = body.as_bytes().split_at(body.len() / 2);
    let head = format!(
        "POST /api/v1/usage-records HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {provider}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first_half).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let signalled = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());

    // New connections are refused while the old request is still open.
    let mut refused = false;
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        refused,
        "the server still accepts connections after SIGTERM"
    );

    stream.write_all(second_half).await.unwrap();
    let status = read_response(&mut stream).await;
    assert!(status.contains(" 200 "), "{status}");

    // The server exits on its own, cleanly, once the request is done.
    let Some(exit) = wait_for_exit(&mut server).await else {
        panic!("the server did not exit after SIGTERM");
    };
    assert!(exit.success(), "{exit}");
    assert_eq!(store.record_count().await.unwrap(), RECORDS as u64);
}
