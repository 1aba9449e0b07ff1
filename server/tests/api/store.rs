//! The store's keyset paging over sparse and irregular usage, with small pages.

use chrono::{DateTime, Duration, Utc};
use meterbook_core::query::AggregateQuery;
use meterbook_core::query::Granularity;
use meterbook_core::rng::SplitMix64;
use meterbook_core::usage::{InstanceData, UsageRecord};
use meterbook_core::SubscriptionId;
use meterbook_server::store::{self, AggregateRequest};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// Clusters of usage far apart in time, some reported months late; with `on_the_hour` false, most
/// start off the hour.
fn sparse_usage(subs: &[SubscriptionId], on_the_hour: bool) -> Vec<UsageRecord> {
    let mut rng = SplitMix64::new(99);
    let mut records = Vec::new();
    for (i, day) in [0i64, 1, 40, 41, 200].iter().enumerate() {
        for k in 0..rng.range(5, 40) {
            let minutes = rng.range(0, 24 * 60) as i64;
            let start = t("2026-01-01T00:00:00Z")
                + Duration::days(*day)
                + Duration::minutes(if on_the_hour {
                    minutes / 60 * 60
                } else {
                    minutes
                });
            records.push(UsageRecord {
                subscription_id: rng.pick(subs).clone(),
                meter_id: format!("METER-{}", rng.range(0, 3)),
                instance: InstanceData {
                    resource_uri: format!("/r/{i}/{k}"),
                    ..InstanceData::default()
                },
                usage_start: start,
                usage_end: start + Duration::hours(1),
                reported_time: Some(start + Duration::hours(1 + rng.range(0, 24 * 90) as i64)),
                quantity: 1.0 + rng.range(0, 5) as f64,
            });
        }
    }
    records
}

/// Every line of `request`'s pages, following each page's cursor.
async fn every_line(
    store: &dyn store::Store,
    mut request: AggregateRequest,
) -> Vec<meterbook_core::usage::AggregateLine> {
    let mut lines = Vec::new();
    loop {
        let page = store.aggregates(&request).await.unwrap();
        assert!(page.items.len() <= request.limit);
        lines.extend(page.items);
        match page.next {
            Some(key) => request.after = Some(key),
            None => return lines,
        }
    }
}

fn whole_year(
    granularity: Granularity,
    show_details: bool,
    subscription: Option<SubscriptionId>,
) -> AggregateRequest {
    AggregateRequest {
        subscription,
        query: AggregateQuery {
            reported_start: t("2026-01-01T00:00:00Z"),
            reported_end: t("2026-12-01T00:00:00Z"),
            granularity,
            show_details,
        },
        after: None,
        limit: 7,
    }
}

/// Both page plans: records off the hour (buckets computed) and all on the hour (buckets are the
/// usage starts, read in index order).
#[tokio::test]
async fn small_pages_over_sparse_usage_return_every_line_exactly_once() {
    let subs: Vec<SubscriptionId> = (1..=3)
        .map(|i| SubscriptionId::parse(&format!("{i:08}-0000-4000-8000-000000000000")).unwrap())
        .collect();
    for on_the_hour in [false, true] {
        let database = crate::helpers::TestDatabase::new();
        let store = store::open(&database.url).await.unwrap();
        let records = sparse_usage(&subs, on_the_hour);
        store.ingest(&records, Utc::now()).await.unwrap();

        for (granularity, details, subscription) in [
            (Granularity::Hourly, true, None),
            (Granularity::Hourly, false, None),
            (Granularity::Daily, true, None),
            (Granularity::Daily, false, None),
            (Granularity::Hourly, true, Some(subs[1].clone())),
        ] {
            let context = format!("{granularity:?} details={details} on the hour={on_the_hour}");
            let lines = every_line(
                store.as_ref(),
                whole_year(granularity, details, subscription.clone()),
            )
            .await;
            let expected: Vec<&UsageRecord> = records
                .iter()
                .filter(|r| {
                    subscription
                        .as_ref()
                        .is_none_or(|s| *s == r.subscription_id)
                })
                .collect();
            let total: f64 = lines.iter().map(|l| l.quantity).sum();
            assert_eq!(
                total,
                expected.iter().map(|r| r.quantity).sum::<f64>(),
                "{context}"
            );
            let mut keys: Vec<_> = lines
                .iter()
                .map(|l| {
                    (
                        l.usage_start,
                        l.subscription_id.clone(),
                        l.meter_id.clone(),
                        l.instance.as_ref().map(|i| i.resource_uri.clone()),
                    )
                })
                .collect();
            assert!(
                lines
                    .windows(2)
                    .all(|w| w[0].usage_start <= w[1].usage_start),
                "served in usage-time order: {context}"
            );
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), lines.len(), "no line twice: {context}");
            if granularity == Granularity::Hourly {
                assert!(
                    lines.iter().all(|l| l.usage_start.timestamp() % 3600 == 0),
                    "{context}"
                );
            }
        }
    }
}

/// A store whose usage was all on the hour takes a record that is not: hourly pages must put it
/// in its hour's aggregate from then on, not in one of its own.
#[tokio::test]
async fn a_record_off_the_hour_joins_its_hours_aggregate() {
    let database = crate::helpers::TestDatabase::new();
    let store = store::open(&database.url).await.unwrap();
    let sub = SubscriptionId::parse("00000001-0000-4000-8000-000000000000").unwrap();
    let record = |start: &str, quantity: f64| UsageRecord {
        subscription_id: sub.clone(),
        meter_id: "METER-1".into(),
        instance: InstanceData {
            resource_uri: "/r/vm".into(),
            ..InstanceData::default()
        },
        usage_start: t(start),
        usage_end: t(start) + Duration::minutes(30),
        reported_time: Some(t("2026-01-02T00:00:00Z")),
        quantity,
    };
    store
        .ingest(&[record("2026-01-01T10:00:00Z", 1.0)], Utc::now())
        .await
        .unwrap();
    let before = every_line(store.as_ref(), whole_year(Granularity::Hourly, true, None)).await;
    assert_eq!(before.len(), 1);

    store
        .ingest(&[record("2026-01-01T10:30:00Z", 2.0)], Utc::now())
        .await
        .unwrap();
    let after = every_line(store.as_ref(), whole_year(Granularity::Hourly, true, None)).await;
    assert_eq!(after.len(), 1, "one aggregate for the hour: {after:?}");
    assert_eq!(after[0].usage_start, t("2026-01-01T10:00:00Z"));
    assert_eq!(after[0].quantity, 3.0);
}

#[tokio::test]
async fn daily_totals_follow_corrections_repeats_and_months() {
    let database = crate::helpers::TestDatabase::new();
    let store = store::open(&database.url).await.unwrap();
    let sub = SubscriptionId::parse("00000001-0000-4000-8000-000000000000").unwrap();
    let record = |start: &str, resource: &str, quantity: f64| {
        let start = t(start);
        UsageRecord {
            subscription_id: sub.clone(),
            meter_id: "METER".into(),
            instance: InstanceData {
                resource_uri: resource.into(),
                ..InstanceData::default()
            },
            usage_start: start,
            usage_end: start + Duration::hours(1),
            reported_time: None,
            quantity,
        }
    };
    // Two months (so two partitions on PostgreSQL), then a batch of corrections, repeats within
    // the batch (the last one counts) and duplicates.
    store
        .ingest(
            &[
                record("2026-01-31T22:00:00Z", "/r/a", 1.0),
                record("2026-01-31T23:00:00Z", "/r/a", 2.0),
                record("2026-02-01T00:00:00Z", "/r/a", 4.0),
            ],
            Utc::now(),
        )
        .await
        .unwrap();
    let outcome = store
        .ingest(
            &[
                record("2026-01-31T22:00:00Z", "/r/a", 1.0),
                record("2026-01-31T23:00:00Z", "/r/a", 5.0),
                record("2026-02-01T00:00:00Z", "/r/b", 8.0),
                record("2026-02-01T00:00:00Z", "/r/b", 16.0),
            ],
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        (outcome.accepted, outcome.duplicates, outcome.corrected),
        (1, 1, 2)
    );
    let totals = store
        .daily_totals(
            Some(std::slice::from_ref(&sub)),
            t("2026-01-01T00:00:00Z"),
            t("2026-03-01T00:00:00Z"),
        )
        .await
        .unwrap();
    let days: Vec<(String, f64, u64)> = totals
        .iter()
        .map(|d| (d.day.to_string(), d.quantity, d.records))
        .collect();
    assert_eq!(
        days,
        vec![
            ("2026-01-31".to_owned(), 6.0, 2),
            ("2026-02-01".to_owned(), 20.0, 2),
        ]
    );
    assert_eq!(store.record_count().await.unwrap(), 4);

    // New keys with one stored key and no repeats: PostgreSQL's bulk COPY is refused by the key,
    // undone, and the batch judged record by record, so nothing is counted twice.
    let outcome = store
        .ingest(
            &[
                record("2026-02-01T01:00:00Z", "/r/c", 32.0),
                record("2026-01-31T22:00:00Z", "/r/a", 1.0),
                record("2026-02-01T02:00:00Z", "/r/c", 64.0),
            ],
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        (outcome.accepted, outcome.duplicates, outcome.corrected),
        (2, 1, 0)
    );
    let totals = store
        .daily_totals(
            Some(std::slice::from_ref(&sub)),
            t("2026-02-01T00:00:00Z"),
            t("2026-02-02T00:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!((totals[0].quantity, totals[0].records), (116.0, 4));
    assert_eq!(store.record_count().await.unwrap(), 6);
    let other = SubscriptionId::parse("00000002-0000-4000-8000-000000000000").unwrap();
    assert!(store
        .daily_totals(
            Some(&[other]),
            t("2026-01-01T00:00:00Z"),
            t("2026-03-01T00:00:00Z")
        )
        .await
        .unwrap()
        .is_empty());
}
