//! `cargo xtask bench-explore [--tenants N] [--days D] [--small-tenants M] [--database URL]`:
//! the usage explorer and a tenant's reads at cloud scale (BENCHMARKS.md), on SQLite or (with
//! `--database`, a PostgreSQL server) on PostgreSQL, through the usage source the API and
//! portal read.
//!
//! Two stores get the demo usage of D days (30 by default) per tenant, one tenant per seed: a big
//! one of N tenants (1,000) and a small one of M (10); tenant 1 has the same usage in both. The
//! views are of the last month: the period's last 30 days (all of it when D is less). Then, p50
//! of 15 runs each after a warm-up:
//! - the operator's explorer, daily, by meter category (totals, chart, options and the first
//!   page of rows), against DuckDB grouping the same hourly rows by day and meter category (from
//!   its own in-memory table, and reading them from a CSV file each time), against the plain SQL
//!   grouping them by day and meter in the store, and (up to 1M records) against the in-memory
//!   fold the explorer used before;
//! - tenant 1's explorer, its first ARM page and its chargeback usage totals, in the big store
//!   against the small one (61 runs each, alternating between the stores, so the ratio of a few
//!   milliseconds holds from run to run), and the explorer against the plain SQL of its rows by
//!   the subscription index;
//! - the resident memory of a server process of its own serving the big store while 8 HTTP
//!   clients at once view the operator's month and download its whole CSV export.

// A benchmark: a failed step should stop it loudly.
#![allow(clippy::unwrap_used)]

#[path = "common/mod.rs"]
mod common;

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{connect_admin, fresh_schema, ms, number_arg, p50, p50_pair, text_arg};
use meterbook_core::access::{Access, ReadScope, Role};
use meterbook_core::directory::{DirectoryEntry, EntryDraft};
use meterbook_core::explore::{DirectoryGroups, ExploreQuery, Explorer, PageFrom};
use meterbook_core::page::TokenSigner;
use meterbook_core::query::AggregateQuery;
use meterbook_core::query::Granularity;
use meterbook_core::SubscriptionId;
use meterbook_server::demo::{self, DemoSpec};
use meterbook_server::source::{StoreSource, UsageSource};
use meterbook_server::store::{self, EntrySource, Store};

const CONCURRENT_CLIENTS: usize = 8;

/// Days of the views: a month.
const MONTH_DAYS: u32 = 30;

/// Days after the period that the tenant's ARM page (and its plain SQL) still takes reports
/// from, so the period's last records, reported after it, are in.
const REPORTED_GRACE_DAYS: i64 = 2;

/// The URL of the store named `name`: a SQLite file in `dir`, or a schema on the PostgreSQL
/// server `database`, emptied first when `fresh`.
async fn store_url(database: &str, dir: &Path, name: &str, fresh: bool) -> String {
    let schema = format!("mb_explore_{name}");
    if database.is_empty() {
        let path = dir.join(format!("{name}.db"));
        if fresh {
            let _ = std::fs::remove_file(&path);
        }
        format!("sqlite://{}", path.display())
    } else if fresh {
        fresh_schema(&connect_admin(database).await, database, &schema).await
    } else {
        let joiner = if database.contains('?') { '&' } else { '?' };
        format!("{database}{joiner}options=-c%20search_path%3D{schema}")
    }
}

/// A store at `url` of the demo usage of `tenants` tenants (seeds 1..=tenants), `days` days
/// each; with `csv`, the rows DuckDB reads are written there too (tenant number, canonical
/// meter ID, usage start, quantity).
async fn fill(
    url: &str,
    tenants: usize,
    days: u32,
    end: DateTime<Utc>,
    mut csv: Option<&mut dyn Write>,
) -> (Arc<dyn Store>, Vec<SubscriptionId>, usize) {
    let store = store::open(url).await.expect("open the store");
    let mut subscriptions = Vec::new();
    let mut count = 0;
    for seed in 1..=tenants as u64 {
        let records = demo::records(&DemoSpec {
            tenants: 1,
            days,
            seed,
            now: end - chrono::Duration::seconds(1),
        });
        subscriptions.push(records[0].subscription_id.clone());
        count += records.len();
        if let Some(csv) = csv.as_mut() {
            for r in &records {
                writeln!(
                    csv,
                    "{seed},{},{},{}",
                    meterbook_core::meter::canonical_meter_id(&r.meter_id),
                    r.usage_start.timestamp(),
                    r.quantity
                )
                .expect("write the CSV");
            }
        }
        for batch in records.chunks(common::BATCH) {
            store.ingest(batch, end).await.expect("ingest");
        }
    }
    (store, subscriptions, count)
}

/// The store's own SQL, for the baselines.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    async fn connect(url: &str) -> Self {
        if url.starts_with("sqlite:") {
            Self::Sqlite(sqlx::SqlitePool::connect(url).await.expect("open"))
        } else {
            Self::Postgres(sqlx::PgPool::connect(url).await.expect("connect"))
        }
    }

    /// Runs `sql` and counts its rows.
    async fn rows(&self, sql: &str) -> usize {
        match self {
            Self::Sqlite(pool) => sqlx::query(sql).fetch_all(pool).await.map(|r| r.len()),
            Self::Postgres(pool) => sqlx::query(sql).fetch_all(pool).await.map(|r| r.len()),
        }
        .expect("baseline")
    }

    /// SQLite is told which index to use, as the store tells it; PostgreSQL's planner picks it.
    fn by_subscription(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "INDEXED BY usage_records_by_subscription",
            Self::Postgres(_) => "",
        }
    }

    /// Brings a freshly filled PostgreSQL store to the state autovacuum keeps a store in:
    /// statistics gathered and the visibility map set, so the planner's estimates are the
    /// data's and index-only scans skip the heap. Timing straight after the fill measured a
    /// store the planner misjudged by 650x.
    async fn settle(&self) {
        if let Self::Postgres(pool) = self {
            sqlx::query("VACUUM (ANALYZE)")
                .execute(pool)
                .await
                .expect("vacuum");
        }
    }

    async fn subscription_number(&self, sub: &SubscriptionId) -> i64 {
        let sql = "SELECT id FROM subscriptions WHERE subscription_id = ";
        match self {
            Self::Sqlite(pool) => sqlx::query_scalar(&format!("{sql}?"))
                .bind(sub.as_str())
                .fetch_one(pool)
                .await
                .expect("the tenant's number"),
            Self::Postgres(pool) => sqlx::query_scalar(&format!("{sql}$1"))
                .bind(sub.as_str())
                .fetch_one(pool)
                .await
                .expect("the tenant's number"),
        }
    }
}

/// DuckDB's side: loads the CSV into a table (untimed), then times the view's grouping (hourly
/// rows by day and meter category over the period) on the table and straight from the CSV;
/// prints the two medians in seconds and the groups.
const DUCKDB_SCRIPT: &str = r#"
import sys, time, duckdb
usage, meters, start, end = sys.argv[1:5]
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
columns = "{'tenant': 'BIGINT', 'meter_id': 'VARCHAR', 'usage_start': 'BIGINT', 'quantity': 'DOUBLE'}"
con.execute(f"CREATE TABLE meters AS SELECT * FROM read_csv('{meters}', header = true)")
con.execute(f"CREATE TABLE usage AS SELECT * FROM read_csv('{usage}', header = false, columns = {columns})")
def grouping(source):
    return f"""SELECT usage_start // 86400 AS day, m.category, SUM(u.quantity)
    FROM {source} u JOIN meters m USING (meter_id)
    WHERE u.usage_start >= {start} AND u.usage_start < {end}
    GROUP BY ALL"""
def median(query):
    times, groups = [], 0
    for run in range(6):
        t = time.perf_counter()
        groups = len(con.execute(query).fetchall())
        if run > 0:
            times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2], groups
table, groups = median(grouping("usage"))
csv, _ = median(grouping(f"read_csv('{usage}', header = false, columns = {columns})"))
print(table, csv, groups)
"#;

/// DuckDB's medians over the table and over the CSV, and its number of groups.
fn duckdb(
    usage: &Path,
    meters: &Path,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (Duration, Duration, usize) {
    let output = Command::new("python3")
        .arg("-c")
        .arg(DUCKDB_SCRIPT)
        .arg(usage)
        .arg(meters)
        .arg(from.timestamp().to_string())
        .arg(to.timestamp().to_string())
        .output()
        .expect("python3 with duckdb (cargo xtask bench-explore installs it)");
    assert!(
        output.status.success(),
        "DuckDB failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer = String::from_utf8(output.stdout).unwrap();
    let last = answer.lines().last().unwrap_or_default();
    let fields: Vec<&str> = last.split_whitespace().collect();
    assert_eq!(fields.len(), 3, "DuckDB answered {answer}");
    let seconds = |s: &str| Duration::from_secs_f64(s.parse().unwrap());
    (
        seconds(fields[0]),
        seconds(fields[1]),
        fields[2].parse().unwrap(),
    )
}

/// The explorer's parameters for the days of `[from, to)`, daily by meter category.
fn pairs(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    subscription: Option<&SubscriptionId>,
) -> Vec<(&'static str, String)> {
    let from = from.date_naive().to_string();
    let to = (to - chrono::Duration::seconds(1)).date_naive().to_string();
    let mut pairs = vec![
        ("period", "custom".to_owned()),
        ("from", from),
        ("to", to),
        ("granularity", "daily".to_owned()),
        ("by", "category".to_owned()),
    ];
    if let Some(sub) = subscription {
        pairs.push(("subscription", sub.as_str().to_owned()));
    }
    pairs
}

fn query(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    subscription: Option<&SubscriptionId>,
) -> ExploreQuery {
    let pairs = pairs(from, to, subscription);
    ExploreQuery::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str()))).expect("a valid query")
}

fn scope(subscription: Option<&SubscriptionId>) -> ReadScope {
    let operator = Access {
        role: Role::Operator,
        subscriptions: Vec::new(),
    };
    operator
        .read_scope(subscription)
        .expect("an operator reads any scope")
}

async fn explore_once(source: &StoreSource, query: &ExploreQuery) {
    let (from, to) = query.period.window(Utc::now());
    let scope = scope(query.subscription.as_ref());
    let view = source
        .explore(
            &scope,
            query,
            (from, to),
            &PageFrom::First,
            &DirectoryGroups::new(),
        )
        .await
        .expect("explore");
    assert!(view.total_rows > 0, "the benchmark's view has rows");
}

/// What the tenant directory adds to an operator's view of the month: the server's explorer
/// (the view, plus the offers and plans of the subscriptions among its filter options, and each
/// subscription's offer when grouping by offer) against the store's view alone, in pairs, once
/// every subscription of the store is named with an owner, one of three offers and its plans.
async fn directory_share(
    source: &StoreSource,
    tenants: usize,
    from: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<(&'static str, Duration, Duration)> {
    let store = source.store.as_ref();
    let offers: [(&str, &[&str]); 3] = [
        ("Basic", &["compute-basic"]),
        ("Standard", &["compute-standard", "storage-standard"]),
        (
            "Premium",
            &["compute-premium", "storage-premium", "sql-premium"],
        ),
    ];
    let entries: Vec<DirectoryEntry> = (1..=tenants as u64)
        .map(|seed| {
            let spec = DemoSpec {
                tenants: 1,
                days: 1,
                seed,
                now: end,
            };
            let id = demo::tenants(&spec)[0].subscription_id.clone();
            let (offer, plans) = offers[seed as usize % offers.len()];
            EntryDraft {
                subscription_id: Some(id.to_string()),
                display_name: Some(format!("Tenant {seed}")),
                owner: Some(format!("admin@tenant{seed}.example")),
                state: Some("Enabled".to_owned()),
                offer: Some(offer.to_owned()),
                plans: Some(plans.iter().map(|p| (*p).to_owned()).collect()),
                ..EntryDraft::default()
            }
            .into_entry(None)
            .unwrap()
        })
        .collect();
    let mut changes = store.begin().await.unwrap();
    changes
        .put_directory_entries(&entries, EntrySource::Local)
        .await
        .unwrap();
    changes.commit().await.unwrap();

    let signer = TokenSigner::new(b"bench-explore");
    let operator = Access {
        role: Role::Operator,
        subscriptions: Vec::new(),
    };
    let mut shares = Vec::new();
    for (label, by) in [("by meter category", "category"), ("by offer", "offer")] {
        let pairs: Vec<(&str, String)> = pairs(from, end, None)
            .into_iter()
            .map(|(k, v)| (k, if k == "by" { by.to_owned() } else { v }))
            .collect();
        let query = ExploreQuery::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
        let groups = if query.group_by.is_directory() {
            store.directory_groups(&query.group_by).await.unwrap()
        } else {
            DirectoryGroups::new()
        };
        let (with, without) = p50_pair(
            || async {
                let view = meterbook_server::explore::explore(
                    source,
                    store,
                    &signer,
                    &operator,
                    query.clone(),
                    meterbook_server::explore::Paging::First,
                    Utc::now(),
                )
                .await
                .unwrap();
                assert!(view.total_rows > 0);
            },
            || async {
                let view = source
                    .explore(
                        &scope(None),
                        &query,
                        query.period.window(Utc::now()),
                        &PageFrom::First,
                        &groups,
                    )
                    .await
                    .unwrap();
                assert!(view.total_rows > 0);
            },
        )
        .await;
        shares.push((label, with, without));
    }
    shares
}

async fn explore_p50(source: &StoreSource, query: &ExploreQuery) -> Duration {
    p50(|| explore_once(source, query)).await
}

/// The plain SQL that groups the same rows (by day and meter; by day, meter and resource for one
/// subscription), with nothing else of the view.
async fn raw_p50(raw: &Raw, sql: &str) -> Duration {
    p50(|| async {
        assert!(raw.rows(sql).await > 0);
    })
    .await
}

/// The tenant's first hourly ARM page of the period.
async fn arm_page_once(
    source: &StoreSource,
    sub: &SubscriptionId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) {
    let query = AggregateQuery {
        reported_start: from,
        reported_end: to + chrono::Duration::days(REPORTED_GRACE_DAYS),
        granularity: Granularity::Hourly,
        show_details: true,
    };
    let page = source
        .aggregates(&scope(Some(sub)), &query, None)
        .await
        .expect("page");
    assert!(!page.items.is_empty());
}

/// A server process of this benchmark's own (`--serve URL`), so its memory is the server's alone.
struct ServerProcess {
    child: Child,
    base: String,
}

impl ServerProcess {
    fn start(url: &str) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--serve", url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server process");
        let mut base = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut base)
            .unwrap();
        Self {
            child,
            base: base.trim().to_owned(),
        }
    }

    /// Resident memory now and at its peak, in kB (`VmRSS`, `VmHWM`).
    fn memory_kb(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `--serve URL`: serves the store at URL until standard input closes, after printing its base
/// URL.
async fn serve_only(url: &str) {
    let store = store::open(url).await.expect("open the store");
    let site = tempfile::tempdir().unwrap();
    let base = common::serve(store, site.path()).await;
    println!("{base}");
    std::io::stdout().flush().unwrap();
    let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
}

/// What 8 HTTP clients at once cost the server: each views the operator's month and downloads
/// its whole CSV export. The server's resident memory when idle after a first view, at its
/// peak, and the CSV bytes received.
async fn server_memory(url: &str, token: &str, query: &[(&str, String)]) -> (u64, u64, u64) {
    let server = ServerProcess::start(url);
    let client = reqwest::Client::new();
    let query = serde_urlencoded::to_string(query).unwrap();
    let view = format!("{}/api/v1/explore?{query}", server.base);
    let export = format!("{}/api/v1/explore/export?{query}", server.base);
    let answer = client.get(&view).bearer_auth(token).send().await.unwrap();
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
    let (idle, _) = server.memory_kb();
    let received = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..CONCURRENT_CLIENTS)
        .map(|_| {
            let (client, view, export, token, received) = (
                client.clone(),
                view.clone(),
                export.clone(),
                token.to_owned(),
                received.clone(),
            );
            tokio::spawn(async move {
                let answer = client.get(&view).bearer_auth(&token).send().await.unwrap();
                assert_eq!(answer.status(), 200);
                answer.bytes().await.unwrap();
                let mut answer = client
                    .get(&export)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 200);
                while let Some(chunk) = answer.chunk().await.unwrap() {
                    received.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    let (_, peak) = server.memory_kb();
    (idle, peak, received.load(Ordering::Relaxed))
}

#[tokio::main]
async fn main() {
    let serve = text_arg("--serve", "");
    if !serve.is_empty() {
        return serve_only(&serve).await;
    }
    let tenants = number_arg("--tenants", 1_000);
    let small_tenants = number_arg("--small-tenants", 10);
    let days = number_arg("--days", MONTH_DAYS as usize) as u32;
    let database = text_arg("--database", "");
    let end = meterbook_core::time::floor_day(Utc::now());
    let from = end - chrono::Duration::days(i64::from(days.min(MONTH_DAYS)));
    // `--dir DIR` keeps the stores and the CSV there, and a second run with the same arguments
    // measures them again instead of filling new ones.
    let kept = text_arg("--dir", "");
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = if kept.is_empty() {
        temp.path().to_owned()
    } else {
        std::fs::create_dir_all(&kept).unwrap();
        std::path::PathBuf::from(&kept)
    };
    let filled = dir.join(format!(
        "filled-{tenants}-{small_tenants}-{days}-{}-{}",
        if database.is_empty() {
            "sqlite"
        } else {
            "postgres"
        },
        end.date_naive()
    ));
    let store_name = if database.is_empty() {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    let usage_csv = dir.join("usage.csv");
    let meters_csv = dir.join("meters.csv");
    let (big_url, big, small, tenant, records, small_records) =
        match std::fs::read_to_string(&filled) {
            Ok(kept) => {
                let fields: Vec<&str> = kept.split_whitespace().collect();
                let big_url = store_url(&database, &dir, "big", false).await;
                let small_url = store_url(&database, &dir, "small", false).await;
                (
                    big_url.clone(),
                    store::open(&big_url).await.unwrap(),
                    store::open(&small_url).await.unwrap(),
                    SubscriptionId::parse(fields[0]).unwrap(),
                    fields[1].parse().unwrap(),
                    fields[2].parse().unwrap(),
                )
            }
            Err(_) => {
                let t = Instant::now();
                let big_url = store_url(&database, &dir, "big", true).await;
                let mut csv = std::io::BufWriter::new(std::fs::File::create(&usage_csv).unwrap());
                let (big, subs, records) = fill(&big_url, tenants, days, end, Some(&mut csv)).await;
                csv.flush().unwrap();
                drop(csv);
                let mut meters = String::from("meter_id,category\n");
                for meter in meterbook_core::meter::catalog().all() {
                    meters.push_str(&format!("{},{}\n", meter.id, meter.category));
                }
                std::fs::write(&meters_csv, meters).unwrap();
                eprintln!(
                    "big store: {tenants} tenants, {records} records in {:.1} s",
                    t.elapsed().as_secs_f64()
                );
                let small_url = store_url(&database, &dir, "small", true).await;
                let (small, _, small_records) =
                    fill(&small_url, small_tenants, days, end, None).await;
                eprintln!("small store: {small_tenants} tenants, {small_records} records");
                Raw::connect(&big_url).await.settle().await;
                std::fs::write(&filled, format!("{} {records} {small_records}", subs[0])).unwrap();
                (big_url, big, small, subs[0].clone(), records, small_records)
            }
        };
    let big_source = StoreSource { store: big.clone() };
    let small_source = StoreSource {
        store: small.clone(),
    };
    let raw = Raw::connect(&big_url).await;
    let tenant = &tenant;

    let operator = query(from, end, None);
    let operator_sql = explore_p50(&big_source, &operator).await;
    eprintln!("operator explorer: {:.1} ms", ms(operator_sql));
    let (f, e) = (from.timestamp(), end.timestamp());
    // `--no-plain-sql` leaves out the slowest baseline (34 s a run at 16M records on SQLite).
    let operator_raw = if std::env::args().any(|a| a == "--no-plain-sql") {
        None
    } else {
        let sql = format!(
            "SELECT usage_start / 86400 AS day, meter, SUM(quantity) FROM usage_records \
             WHERE usage_start >= {f} AND usage_start < {e} GROUP BY 1, 2"
        );
        let raw = raw_p50(&raw, &sql).await;
        eprintln!("plain SQL: {:.1} ms", ms(raw));
        Some(raw)
    };
    let (duck_table, duck_csv, duck_groups) = duckdb(&usage_csv, &meters_csv, from, end);
    eprintln!(
        "DuckDB: {:.1} ms (table), {:.1} ms (CSV)",
        ms(duck_table),
        ms(duck_csv)
    );
    let fold = if records <= meterbook_server::source::MAX_FACTS {
        let scope = scope(None);
        Some(
            p50(|| async {
                let facts = big
                    .facts(
                        scope.subscriptions(),
                        operator.basis,
                        from,
                        end,
                        usize::MAX >> 1,
                    )
                    .await
                    .expect("facts");
                let view =
                    Explorer::new(operator.clone(), from, end, &facts, &DirectoryGroups::new())
                        .page_from(&PageFrom::First);
                assert!(view.total_rows > 0);
            })
            .await,
        )
    } else {
        None
    };

    let tenant_query = query(from, end, Some(tenant));
    // Each of the tenant's reads alternates between the two stores (see `p50_pair`).
    let (tenant_big, tenant_small) = p50_pair(
        || explore_once(&big_source, &tenant_query),
        || explore_once(&small_source, &tenant_query),
    )
    .await;
    let tenant_number = raw.subscription_number(tenant).await;
    let tenant_raw = raw_p50(
        &raw,
        &format!(
            "SELECT usage_start / 86400 AS day, meter, resource, SUM(quantity) FROM usage_records \
             {} WHERE subscription = {tenant_number} AND usage_start >= {f} AND usage_start < {e} \
             GROUP BY 1, 2, 3",
            raw.by_subscription()
        ),
    )
    .await;
    let chargeback = |store: &Arc<dyn Store>| {
        let tenant = tenant.clone();
        let store = store.clone();
        async move {
            let totals = store
                .usage_totals(Some(std::slice::from_ref(&tenant)), &[from], end, None)
                .await
                .expect("totals");
            assert!(!totals.is_empty());
        }
    };
    let (chargeback_big, chargeback_small) =
        p50_pair(|| chargeback(&big), || chargeback(&small)).await;
    let (page_big, page_small) = p50_pair(
        || arm_page_once(&big_source, tenant, from, end),
        || arm_page_once(&small_source, tenant, from, end),
    )
    .await;

    // The tenant's first page as one plain query walking the subscription index in the page's
    // order: its rows reported in the period, grouped, named and cut at the page.
    let page_raw = raw_p50(
        &raw,
        &format!(
            "SELECT u.usage_start, u.meter, u.resource, MIN(m.meter_id), MIN(r.resource_uri), \
             SUM(u.quantity), MAX(u.location), MAX(u.tags), MAX(u.additional_info) \
             FROM usage_records AS u {} JOIN meters m ON m.id = u.meter \
             JOIN resources r ON r.id = u.resource \
             WHERE u.subscription = {tenant_number} AND u.reported_time >= {f} \
             AND u.reported_time < {} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 LIMIT 1001",
            raw.by_subscription(),
            e + REPORTED_GRACE_DAYS * meterbook_core::time::DAY_SECONDS
        ),
    )
    .await;

    eprintln!("tenant reads measured");
    let directory_share = directory_share(&big_source, tenants, from, end).await;
    eprintln!("directory reads measured");
    let token = common::token(big.as_ref(), Role::Operator, &[]).await;
    let (idle, peak, received) = server_memory(&big_url, &token, &pairs(from, end, None)).await;

    println!(
        "Explorer at scale ({tenants} tenants, {records} records over {days} days, views of the last {} days; small store {small_tenants} tenants, {small_records} records), {store_name}:\n",
        days.min(MONTH_DAYS)
    );
    println!("| measure | Meterbook | baseline | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| operator explorer, daily by category, p50 | {:.1} ms | {:.1} ms (DuckDB, its in-memory table by day and category, {duck_groups} groups) | {:.2}x |",
        ms(operator_sql),
        ms(duck_table),
        ms(operator_sql) / ms(duck_table)
    );
    println!(
        "| same, against DuckDB reading the rows from CSV | {:.1} ms | {:.1} ms | {:.2}x |",
        ms(operator_sql),
        ms(duck_csv),
        ms(operator_sql) / ms(duck_csv)
    );
    if let Some(operator_raw) = operator_raw {
        println!(
            "| same, against the store's plain SQL | {:.1} ms | {:.1} ms (one grouping of the hourly records by day and meter) | {:.2}x |",
            ms(operator_sql),
            ms(operator_raw),
            ms(operator_sql) / ms(operator_raw)
        );
    }
    if let Some(fold) = fold {
        println!(
            "| same, against the in-memory fold (before) | {:.1} ms | {:.1} ms (facts read and folded) | {:.2}x |",
            ms(operator_sql),
            ms(fold),
            ms(operator_sql) / ms(fold)
        );
    }
    println!(
        "| tenant explorer, p50 | {:.1} ms | {:.1} ms (plain SQL of its rows by the subscription index) | {:.2}x |",
        ms(tenant_big),
        ms(tenant_raw),
        ms(tenant_big) / ms(tenant_raw)
    );
    println!(
        "| tenant explorer, {tenants} tenants vs {small_tenants} | {:.1} ms | {:.1} ms | {:.2}x |",
        ms(tenant_big),
        ms(tenant_small),
        ms(tenant_big) / ms(tenant_small)
    );
    println!(
        "| tenant ARM page 1, p50 | {:.1} ms | {:.1} ms (plain SQL of the page by the subscription index) | {:.2}x |",
        ms(page_big),
        ms(page_raw),
        ms(page_big) / ms(page_raw)
    );
    println!(
        "| tenant ARM page 1, {tenants} tenants vs {small_tenants} | {:.1} ms | {:.1} ms | {:.2}x |",
        ms(page_big),
        ms(page_small),
        ms(page_big) / ms(page_small)
    );
    println!(
        "| tenant chargeback usage totals, {tenants} tenants vs {small_tenants} | {:.1} ms | {:.1} ms | {:.2}x |",
        ms(chargeback_big),
        ms(chargeback_small),
        ms(chargeback_big) / ms(chargeback_small)
    );
    for (by, with, without) in directory_share {
        println!(
            "| operator explorer {by}, with the tenant directory's reads (every subscription named, 3 offers), p50 | {:.1} ms | {:.1} ms (the same view from the store alone) | {:.2}x |",
            ms(with),
            ms(without),
            ms(with) / ms(without)
        );
    }
    println!(
        "| server process resident memory, {CONCURRENT_CLIENTS} HTTP clients each viewing the month and downloading its CSV ({} MB in all) | {} MB at the peak | {} MB idle after one view | |",
        received / 1_000_000,
        peak / 1024,
        idle / 1024
    );
}
