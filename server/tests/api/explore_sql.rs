//! The explorer computed by the database answers exactly what the in-memory fold of the same
//! usage answers (the fold the upstream source still uses), on random data and random queries:
//! totals, chart, filter options, every page forward and back, and the streamed rows, from the
//! hourly rows and from the daily rollup (which corrections move records within).

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use meterbook_core::explore::{
    DirectoryGroups, Exploration, ExploreQuery, Explorer, PageFrom, RowKey, RowPosition, UsageRow,
};
use meterbook_core::meter::catalog;
use meterbook_core::rng::SplitMix64;
use meterbook_core::usage::{InstanceData, UsageRecord};
use meterbook_core::SubscriptionId;
use meterbook_server::store::{self, ExploreRequest, Store};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 20, 0, 0, 0).unwrap()
}

/// Usage of four subscriptions over 45 days, with names in mixed case, a meter the catalog does
/// not know, tags of several spellings, and some usage reported days late. Quantities are
/// multiples of 1/4, so sums are exact in any order.
fn random_usage(rng: &mut SplitMix64) -> (Vec<SubscriptionId>, Vec<UsageRecord>) {
    let subs: Vec<SubscriptionId> = (1..=4)
        .map(|i| SubscriptionId::parse(&format!("{i:08}-aaaa-4000-8000-000000000000")).unwrap())
        .collect();
    let mut meters: Vec<String> = catalog()
        .all()
        .iter()
        .take(5)
        .map(|m| m.id.clone())
        .collect();
    meters.push("0000AAAA-0000-4000-8000-00000000BEEF".to_owned());
    let groups = ["web", "Web", "data_1", "ops"];
    let locations = ["local", "Local", "east", ""];
    let mut records = Vec::new();
    for _ in 0..1_500 {
        let sub = rng.pick(&subs).clone();
        let group = *rng.pick(&groups);
        let vm = rng.range(0, 6);
        let resource_uri = format!(
            "/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/vm{vm}"
        );
        let mut tags = serde_json::Map::new();
        match rng.range(0, 4) {
            0 => {}
            1 => {
                tags.insert("team".into(), format!("t{}", rng.range(0, 3)).into());
            }
            2 => {
                tags.insert("Team".into(), "T1".into());
                tags.insert("cost".into(), serde_json::json!(rng.range(1, 3)));
            }
            _ => {
                tags.insert("env".into(), "prod".into());
            }
        }
        let usage_start = start()
            + Duration::hours(rng.range(0, 45 * 24) as i64)
            + Duration::minutes(if rng.chance(0.05) { 30 } else { 0 });
        records.push(UsageRecord {
            subscription_id: sub,
            meter_id: rng.pick(&meters).clone(),
            instance: InstanceData {
                resource_uri,
                location: (*rng.pick(&locations)).to_owned(),
                tags: (!tags.is_empty()).then_some(tags),
                ..InstanceData::default()
            },
            usage_start,
            usage_end: usage_start + Duration::hours(1),
            reported_time: Some(usage_start + Duration::hours(1 + rng.range(0, 72) as i64)),
            quantity: rng.range(0, 40) as f64 / 4.0,
        });
    }
    (subs, records)
}

/// A random query over the data's period, with the filters and values the data has.
fn random_query(rng: &mut SplitMix64, subs: &[SubscriptionId]) -> ExploreQuery {
    let day = |d: u64| NaiveDate::from_ymd_opt(2026, 9, 20).unwrap() + Duration::days(d as i64);
    let step = *rng.pick(&["hourly", "daily", "monthly"]);
    let first = rng.range(0, 40);
    let days = if step == "hourly" {
        rng.range(0, 4)
    } else {
        rng.range(0, 45)
    };
    let from = day(first).to_string();
    let to = day(first + days).to_string();
    let mut pairs: Vec<(String, String)> = vec![
        ("period".into(), "custom".into()),
        ("from".into(), from),
        ("to".into(), to),
        ("granularity".into(), step.into()),
        ("rows".into(), "25".into()),
        (
            "sort".into(),
            format!(
                "{}{}",
                if rng.chance(0.5) { "-" } else { "" },
                rng.pick(&[
                    "time",
                    "subscription",
                    "meter",
                    "resource",
                    "location",
                    "quantity"
                ])
            ),
        ),
        (
            "by".into(),
            (*rng.pick(&[
                "category",
                "meter",
                "resource-group",
                "resource",
                "location",
                "subscription",
                "tag:TEAM",
            ]))
            .into(),
        ),
    ];
    if rng.chance(0.3) {
        pairs.push(("basis".into(), "reported".into()));
    }
    let filters: [(&str, Vec<String>); 6] = [
        (
            "subscription",
            subs.iter().map(|s| s.as_str().to_owned()).collect(),
        ),
        (
            "category",
            catalog()
                .all()
                .iter()
                .take(5)
                .map(|m| m.category.to_uppercase())
                .collect(),
        ),
        (
            "meter",
            catalog()
                .all()
                .iter()
                .take(5)
                .map(|m| m.id.to_lowercase())
                .collect(),
        ),
        (
            "resource-group",
            vec!["WEB".into(), "data_1".into(), "data%".into()],
        ),
        ("location", vec!["LOCAL".into(), "east".into()]),
        (
            "tag",
            vec![
                "team=T1".into(),
                "TEAM=*".into(),
                "cost=2".into(),
                "env=PROD".into(),
            ],
        ),
    ];
    for (name, values) in filters {
        if rng.chance(0.2) {
            pairs.push((name.into(), rng.pick(&values).clone()));
            // Categories may be several (a widget's are).
            if name == "category" && rng.chance(0.5) {
                pairs.push((name.into(), rng.pick(&values).clone()));
            }
        }
    }
    ExploreQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .unwrap_or_else(|e| panic!("{pairs:?}: {e}"))
}

fn key(row: &UsageRow, query: &ExploreQuery) -> RowKey {
    RowKey::of(row, query.sort)
}

/// Every page of the database's view, forward from the first and then back from the last.
async fn every_page(
    store: &dyn Store,
    scope: Option<&[SubscriptionId]>,
    query: &ExploreQuery,
    period: (DateTime<Utc>, DateTime<Utc>),
) -> (Exploration, Vec<UsageRow>, Vec<UsageRow>) {
    let view = |page: PageFrom| async move {
        store
            .explore(&ExploreRequest {
                groups: &DirectoryGroups::new(),
                subscriptions: scope,
                query,
                from: period.0,
                to: period.1,
                page: &page,
            })
            .await
            .unwrap()
    };
    let first = view(PageFrom::First).await;
    let mut forward = first.rows.clone();
    let mut page = first.clone();
    while page.first_row + page.rows.len() < page.total_rows {
        let last = page.rows.last().unwrap();
        let index = page.first_row + page.rows.len() - 1;
        page = view(PageFrom::After(RowPosition {
            key: key(last, query),
            index,
        }))
        .await;
        assert_eq!(page.first_row, index + 1, "pages are numbered in order");
        assert!(!page.rows.is_empty(), "a page before the end has rows");
        forward.extend(page.rows.clone());
    }
    let mut backward = page.rows.clone();
    while page.first_row > 0 {
        let first_row = page.rows.first().unwrap();
        page = view(PageFrom::Before(RowPosition {
            key: key(first_row, query),
            index: page.first_row,
        }))
        .await;
        let mut rows = page.rows.clone();
        if page.first_row == 0 {
            // The first page may overlap the one after it (it is always a full page).
            rows.retain(|r| !backward.contains(r));
        }
        rows.extend(backward);
        backward = rows;
    }
    (first, forward, backward)
}

fn assert_rows_equal(sql: &[UsageRow], fold: &[UsageRow], context: &str) {
    assert_eq!(sql.len(), fold.len(), "row count: {context}");
    for (i, (a, b)) in sql.iter().zip(fold).enumerate() {
        assert_eq!(a, b, "row {i}: {context}");
    }
}

#[tokio::test]
async fn the_databases_explorer_answers_what_the_in_memory_fold_answers() {
    let database = crate::helpers::TestDatabase::new();
    let store = store::open(&database.url).await.unwrap();
    let mut rng = SplitMix64::new(20261201);
    let (subs, records) = random_usage(&mut rng);
    for batch in records.chunks(400) {
        store.ingest(batch, start()).await.unwrap();
    }
    // Corrections (some moving a record to another location or tags, which moves it between
    // rows of the daily rollup), repeats of one key within a batch, and exact duplicates.
    let mut corrections = Vec::new();
    for _ in 0..300 {
        let mut record = rng.pick(&records).clone();
        match rng.range(0, 4) {
            0 => {}
            1 => record.instance.location = "moved".into(),
            2 => record.instance.tags = None,
            _ => {
                let mut tags = serde_json::Map::new();
                tags.insert("team".into(), "t9".into());
                record.instance.tags = Some(tags);
            }
        }
        if rng.chance(0.8) {
            record.quantity += 0.25 * rng.range(1, 8) as f64;
        }
        if rng.chance(0.2) {
            corrections.push(record.clone());
            record.quantity += 0.5;
        }
        corrections.push(record);
    }
    for batch in corrections.chunks(70) {
        store.ingest(batch, start()).await.unwrap();
    }
    let mut with_rows = 0;
    for round in 0..60 {
        let query = random_query(&mut rng, &subs);
        let scope: Option<Vec<SubscriptionId>> = match (&query.subscription, rng.range(0, 3)) {
            (Some(one), _) => Some(vec![one.clone()]),
            (None, 0) => Some(subs[..2].to_vec()),
            _ => None,
        };
        let context = format!("round {round}: {} scope {scope:?}", query.to_query_string());
        let period = query.period.window(Utc::now());
        let facts = store
            .facts(
                scope.as_deref(),
                query.basis,
                period.0,
                period.1,
                usize::MAX >> 1,
            )
            .await
            .unwrap();
        let fold = Explorer::new(
            query.clone(),
            period.0,
            period.1,
            &facts,
            &DirectoryGroups::new(),
        );
        let expected = fold.page_from(&PageFrom::First);

        let (first, forward, backward) =
            every_page(store.as_ref(), scope.as_deref(), &query, period).await;
        assert_eq!(first.total_rows, expected.total_rows, "{context}");
        with_rows += usize::from(first.total_rows > first.rows.len());
        assert_eq!(first.totals, expected.totals, "{context}");
        assert_eq!(first.chart, expected.chart, "{context}");
        assert_eq!(first.options, expected.options, "{context}");
        assert_rows_equal(&first.rows, &expected.rows, &context);
        assert_rows_equal(&forward, fold.rows(), &format!("forward, {context}"));
        assert_rows_equal(&backward, fold.rows(), &format!("backward, {context}"));
        let total: f64 = first.totals.iter().map(|t| t.quantity).sum();
        let rows: f64 = forward.iter().map(|r| r.quantity).sum();
        assert_eq!(total, rows, "totals equal the sum of rows: {context}");

        let mut streamed = store
            .explore_rows(&ExploreRequest {
                groups: &DirectoryGroups::new(),
                subscriptions: scope.as_deref(),
                query: &query,
                from: period.0,
                to: period.1,
                page: &PageFrom::First,
            })
            .await
            .unwrap();
        let mut all = Vec::new();
        while let Some(row) = streamed.recv().await {
            all.push(row.unwrap());
        }
        assert_rows_equal(&all, fold.rows(), &format!("streamed, {context}"));
    }
    assert_eq!(
        rollup_mismatches(&database.url).await,
        0,
        "the rollups equal the rows they summarize"
    );
    // Most queries must have had several pages, or the comparison proves little.
    assert!(
        with_rows >= 20,
        "only {with_rows} queries had more than a page"
    );
}

#[tokio::test]
async fn an_empty_store_shows_an_empty_view() {
    let database = crate::helpers::TestDatabase::new();
    let store = store::open(&database.url).await.unwrap();
    for pairs in [vec![], vec![("sort", "-meter"), ("granularity", "hourly")]] {
        let query = ExploreQuery::from_pairs(pairs).unwrap();
        let (from, to) = query.period.window(Utc::now());
        let view = store
            .explore(&ExploreRequest {
                groups: &DirectoryGroups::new(),
                subscriptions: None,
                query: &query,
                from,
                to,
                page: &PageFrom::First,
            })
            .await
            .unwrap();
        assert_eq!((view.total_rows, view.rows.len()), (0, 0));
    }
}

#[tokio::test]
async fn an_unknown_scope_or_an_empty_period_shows_nothing() {
    let database = crate::helpers::TestDatabase::new();
    let store = store::open(&database.url).await.unwrap();
    let mut rng = SplitMix64::new(7);
    let (_, records) = random_usage(&mut rng);
    store.ingest(&records, start()).await.unwrap();
    let stranger = SubscriptionId::parse("99999999-aaaa-4000-8000-000000000000").unwrap();
    let query =
        ExploreQuery::from_pairs([("period", "this-month"), ("basis", "reported")]).unwrap();
    for scope in [Some(vec![stranger]), Some(Vec::new())] {
        let view = store
            .explore(&ExploreRequest {
                groups: &DirectoryGroups::new(),
                subscriptions: scope.as_deref(),
                query: &query,
                from: start(),
                to: start() + Duration::days(30),
                page: &PageFrom::First,
            })
            .await
            .unwrap();
        assert_eq!(view.total_rows, 0);
        assert!(view.rows.is_empty() && view.chart.is_none());
        assert!(view.options.subscriptions.is_empty());
    }
}

/// One hour of a virtual machine's usage on `day` (of 2026), at `hour`.
fn vm_hour(sub: &SubscriptionId, vm: &str, (month, day): (u32, u32), hour: u32) -> UsageRecord {
    let usage_start = Utc.with_ymd_and_hms(2026, month, day, hour, 0, 0).unwrap();
    UsageRecord {
        subscription_id: sub.clone(),
        meter_id: catalog().all()[0].id.clone(),
        instance: InstanceData {
            resource_uri: format!(
                "/subscriptions/{sub}/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/{vm}"
            ),
            location: "local".into(),
            ..InstanceData::default()
        },
        usage_start,
        usage_end: usage_start + Duration::hours(1),
        reported_time: Some(usage_start + Duration::hours(1)),
        quantity: 1.0,
    }
}

/// A rolling month counts its records from the months and days of the rollups: a month's days
/// outside the period are taken away, days of the next month added. With more resources than the
/// options show, the counts decide which are shown, so a miscount shows.
#[tokio::test]
async fn the_filter_options_count_a_rolling_month_from_months_and_days() {
    let database = crate::helpers::TestDatabase::new();
    let store = store::open(&database.url).await.unwrap();
    let sub = SubscriptionId::parse("00000001-aaaa-4000-8000-000000000000").unwrap();
    let mut records = Vec::new();
    // 210 resources used once in the period, which is 2 November to 1 December.
    for i in 0..210 {
        records.push(vm_hour(&sub, &format!("r{i:03}"), (11, 10), 0));
    }
    for i in 0..10 {
        // Busy on 1 November only, outside the period.
        for hour in 0..5 {
            records.push(vm_hour(&sub, &format!("x{i}"), (11, 1), hour));
        }
        // Twice on 1 December, inside it: busier than the r's.
        for hour in 0..2 {
            records.push(vm_hour(&sub, &format!("y{i}"), (12, 1), hour));
        }
        // Three times on 1 November and once inside: a tie with the r's, whose names come first.
        for hour in 0..3 {
            records.push(vm_hour(&sub, &format!("z{i}"), (11, 1), hour));
        }
        records.push(vm_hour(&sub, &format!("z{i}"), (11, 20), 0));
    }
    store.ingest(&records, start()).await.unwrap();
    let query = ExploreQuery::from_pairs([
        ("period", "custom"),
        ("from", "2026-11-02"),
        ("to", "2026-12-01"),
        ("granularity", "daily"),
    ])
    .unwrap();
    let period = query.period.window(Utc::now());
    let view = store
        .explore(&ExploreRequest {
            groups: &DirectoryGroups::new(),
            subscriptions: None,
            query: &query,
            from: period.0,
            to: period.1,
            page: &PageFrom::First,
        })
        .await
        .unwrap();
    let facts = store
        .facts(None, query.basis, period.0, period.1, usize::MAX >> 1)
        .await
        .unwrap();
    let fold = Explorer::new(
        query.clone(),
        period.0,
        period.1,
        &facts,
        &DirectoryGroups::new(),
    )
    .page_from(&PageFrom::First);
    let labels = |o: &meterbook_core::explore::FilterOptions| {
        o.resources
            .iter()
            .map(|r| r.label.clone())
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(labels(&view.options), labels(&fold.options), "{period:?}");
    assert_eq!(view.options, fold.options);
    let shown: Vec<&str> = view
        .options
        .resources
        .iter()
        .map(|r| r.label.as_str())
        .collect();
    assert_eq!(shown.len(), 200);
    assert!(
        shown.iter().all(|name| !name.starts_with(['x', 'z'])),
        "{shown:?}"
    );
    assert_eq!(
        shown.iter().filter(|name| name.starts_with('y')).count(),
        10
    );
}

/// Rows of the per-resource daily and monthly rollups that differ from the usage rows grouped
/// afresh, both ways, and emptied rows left behind.
async fn rollup_mismatches(url: &str) -> i64 {
    const DAYS: &str = "SELECT
        (SELECT COUNT(*) FROM (
            SELECT day_start, subscription, meter, resource, location, tags, quantity, records
            FROM usage_daily_resources
            EXCEPT
            SELECT usage_start - usage_start % 86400, subscription, meter, resource, location,
                   COALESCE(tags, ''), SUM(quantity), COUNT(*)
            FROM usage_records GROUP BY 1, 2, 3, 4, 5, 6) a)
      + (SELECT COUNT(*) FROM (
            SELECT usage_start - usage_start % 86400, subscription, meter, resource, location,
                   COALESCE(tags, ''), SUM(quantity), COUNT(*)
            FROM usage_records GROUP BY 1, 2, 3, 4, 5, 6
            EXCEPT
            SELECT day_start, subscription, meter, resource, location, tags, quantity, records
            FROM usage_daily_resources) b)";
    let months = |month_of_start: &str| {
        format!(
            "SELECT
            (SELECT COUNT(*) FROM (
                SELECT month_start, subscription, meter, resource, location, tags, records
                FROM usage_monthly_resources
                EXCEPT
                SELECT {month_of_start}, subscription, meter, resource, location,
                       COALESCE(tags, ''), COUNT(*)
                FROM usage_records GROUP BY 1, 2, 3, 4, 5, 6) a)
          + (SELECT COUNT(*) FROM (
                SELECT {month_of_start}, subscription, meter, resource, location,
                       COALESCE(tags, ''), COUNT(*)
                FROM usage_records GROUP BY 1, 2, 3, 4, 5, 6
                EXCEPT
                SELECT month_start, subscription, meter, resource, location, tags, records
                FROM usage_monthly_resources) b)"
        )
    };
    let sql = |month_of_start: &str| format!("SELECT ({DAYS}) + ({})", months(month_of_start));
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query_scalar(&sql(
            "unixepoch(usage_start, 'unixepoch', 'start of month')",
        ))
        .fetch_one(&pool)
        .await
        .unwrap()
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query_scalar(&sql(
            "CAST(EXTRACT(EPOCH FROM date_trunc('month', to_timestamp(usage_start) \
             AT TIME ZONE 'UTC')) AS BIGINT)",
        ))
        .fetch_one(&pool)
        .await
        .unwrap()
    }
}
