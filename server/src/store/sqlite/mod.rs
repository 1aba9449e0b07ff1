//! The embedded SQLite store: WAL mode, migrations from `migrations/sqlite`, set-based ingest.

mod totals;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meterbook_core::explore::{TimeBasis, UsageFact};
use meterbook_core::overview::DailyMeterTotal;
use meterbook_core::page::Page;
use meterbook_core::rating::statement::TaggedUsage;
use meterbook_core::time::DAY_SECONDS;
use meterbook_core::usage::{AggregateLine, UsageRecord};
use meterbook_core::SubscriptionId;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use super::dialect::Dialect;
use super::names::{name_of, NameCache, NameKind};
use super::reads::{daily_total, json_text, push_list, starts_off_hour, UsageReads, MARK_OFF_HOUR};
use super::shared::{self, SharedSql};
use super::{AggregateRequest, IngestOutcome, StoreError, UsageStore};

/// The staged batch's difference (one record per key, the last) to the per-resource rollups:
/// each new or corrected record's day gets its quantity and a record, and a corrected record's
/// old row (with its old location and tags) loses what it had.
const STAGE_RESOURCE_DELTA: &str = "
INSERT INTO resource_delta
    (day_start, subscription, meter, resource, location, tags, quantity, records)
SELECT day_start, subscription, meter, resource, location, tags, SUM(quantity), SUM(records)
FROM (
    SELECT st.usage_start - st.usage_start % 86400 AS day_start, st.subscription, st.meter,
           st.resource, st.location, COALESCE(st.tags, '') AS tags, st.quantity, 1 AS records
    FROM staging st
    LEFT JOIN usage_records u
      ON u.usage_start = st.usage_start AND u.subscription = st.subscription
     AND u.meter = st.meter AND u.resource = st.resource
    WHERE u.id IS NULL OR u.quantity <> st.quantity
    UNION ALL
    SELECT u.usage_start - u.usage_start % 86400, u.subscription, u.meter, u.resource,
           u.location, COALESCE(u.tags, ''), -u.quantity, -1
    FROM staging st
    JOIN usage_records u
      ON u.usage_start = st.usage_start AND u.subscription = st.subscription
     AND u.meter = st.meter AND u.resource = st.resource
    WHERE u.quantity <> st.quantity
)
WHERE true
GROUP BY day_start, subscription, meter, resource, location, tags";

/// Adds the staged difference to the per-resource daily rollup.
const ROLL_UP_RESOURCE_DAYS: &str = "
INSERT INTO usage_daily_resources
    (day_start, subscription, meter, resource, location, tags, quantity, records)
SELECT day_start, subscription, meter, resource, location, tags, quantity, records
FROM resource_delta
WHERE true
ON CONFLICT (day_start, meter, subscription, resource, location, tags) DO UPDATE SET
    quantity = quantity + excluded.quantity,
    records = records + excluded.records";

/// Adds the staged difference's records to the per-resource monthly rollup.
const ROLL_UP_RESOURCE_MONTHS: &str = "
INSERT INTO usage_monthly_resources
    (month_start, subscription, meter, resource, location, tags, records)
SELECT unixepoch(day_start, 'unixepoch', 'start of month'), subscription, meter, resource,
       location, tags, SUM(records)
FROM resource_delta
WHERE true
GROUP BY 1, 2, 3, 4, 5, 6
ON CONFLICT (month_start, subscription, meter, resource, location, tags) DO UPDATE SET
    records = records + excluded.records";

/// Rows per multi-row INSERT: 11 parameters each stays well under SQLite's 32,766 limit.
const ROWS_PER_INSERT: usize = 2_500;
/// Names per statement when numbering new names.
const NAMES_PER_STATEMENT: usize = 500;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The JSON path of a tag key (grouping keys never hold `"`, which a path cannot quote).
fn tag_path(key: &str) -> String {
    format!("$.\"{key}\"")
}

#[derive(Clone)]
pub struct SqliteStore {
    /// Every read and write but ingest's: 8 MiB page caches, so eight busy connections stay
    /// small whatever the store's size.
    pool: SqlitePool,
    /// Ingest's one connection (SQLite has one writer at a time anyway), with a 64 MiB page cache
    /// kept warm from batch to batch: a large batch's index inserts land all over the key index,
    /// and a small cache turns them into reads.
    ingest: SqlitePool,
    /// Read-only connections for the explorer's scans of the usage table: small page caches,
    /// and sorts and groupings that spill to temporary files, so the server's memory does not
    /// grow with the store or with concurrent exports.
    scans: SqlitePool,
    /// The SQL both stores run (accounts, widgets, webhooks, billing), on sqlx's `Any` driver.
    shared: sqlx::AnyPool,
    names: Arc<NameCache>,
}

impl SharedSql for SqliteStore {
    fn shared(&self) -> &sqlx::AnyPool {
        &self.shared
    }
}

/// What every shared connection sets, as the store's own connections do.
const SHARED_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;
    PRAGMA synchronous = NORMAL; PRAGMA cache_size = -8192; PRAGMA temp_store = memory";

impl SqliteStore {
    /// The explorer's SQL on this store's scan connections.
    /// The usage reads on this store's general connections.
    fn reads(&self) -> UsageReads<'_, Sqlite> {
        UsageReads {
            pool: &self.pool,
            dialect: Dialect::Sqlite,
        }
    }

    fn explorer(&self) -> super::explore::Sql<'_, sqlx::Sqlite> {
        super::explore::Sql {
            pool: &self.scans,
            dialect: Dialect::Sqlite,
        }
    }

    /// Opens (creating if absent) the database at `url` and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: a committed batch survives a process crash; only an OS crash can lose
            // the last transactions, which resource providers re-send.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("cache_size", "-8192")
            .pragma("temp_store", "memory");
        let ingest_options = options.clone().pragma("cache_size", "-65536");
        let scan_options = options
            .clone()
            .read_only(true)
            .pragma("cache_size", "-2048")
            .pragma("temp_store", "file");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        // Concurrent batches queue for the connection, as they would for the write lock.
        let ingest = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(ingest_options)
            .await?;
        // Each view runs its queries side by side and each export holds a connection while it
        // streams; a view waits for a connection rather than fail while others scan.
        let scans = SqlitePoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(scan_options)
            .await?;
        let shared = shared::open_pool(url, 8, SHARED_PRAGMAS).await?;
        Ok(Self {
            pool,
            ingest,
            scans,
            shared,
            names: Arc::default(),
        })
    }
}

/// Numbers `names` of one kind (none of them known to the cache), adding those the table lacks.
async fn number_names(
    tx: &mut sqlx::SqliteConnection,
    kind: NameKind,
    names: &[String],
) -> Result<HashMap<String, i64>, StoreError> {
    let (table, column) = match kind {
        NameKind::Subscription => ("subscriptions", "subscription_id"),
        NameKind::Meter => ("meters", "meter_id"),
        NameKind::Resource => ("resources", "resource_uri"),
    };
    let mut numbered = HashMap::with_capacity(names.len());
    for chunk in names.chunks(NAMES_PER_STATEMENT) {
        let mut insert =
            QueryBuilder::<Sqlite>::new(format!("INSERT OR IGNORE INTO {table} ({column}) "));
        insert.push_values(chunk, |mut row, name| {
            row.push_bind(name.as_str());
        });
        insert.build().execute(&mut *tx).await?;
        let mut select = QueryBuilder::<Sqlite>::new(format!(
            "SELECT id, {column} AS name FROM {table} WHERE {column} IN ("
        ));
        let mut list = select.separated(", ");
        for name in chunk {
            list.push_bind(name.as_str());
        }
        select.push(")");
        for row in select.build().fetch_all(&mut *tx).await? {
            numbered.insert(row.try_get("name")?, row.try_get("id")?);
        }
    }
    Ok(numbered)
}

impl SqliteStore {
    /// The connection pool, for copying a store across (`meterbook migrate`).
    pub(super) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Writes the write-ahead log into the database file and closes every connection, so the
    /// file alone holds the whole store (`meterbook restore` then moves it into place).
    pub async fn close(self) -> Result<(), StoreError> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await?;
        self.shared.close().await;
        self.scans.close().await;
        self.ingest.close().await;
        self.pool.close().await;
        Ok(())
    }
}

#[async_trait]
impl UsageStore for SqliteStore {
    async fn ingest(
        &self,
        records: &[UsageRecord],
        received_at: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError> {
        if records.is_empty() {
            return Ok(IngestOutcome::default());
        }
        // IMMEDIATE takes the write lock up front (waiting up to the busy timeout), so concurrent
        // batches queue instead of failing when a read transaction cannot be upgraded.
        let mut tx = self.ingest.begin_with("BEGIN IMMEDIATE").await?;
        // Names get their numbers first (new ones inside this transaction), so staged records
        // carry their keys as the table does.
        let mut numbers: Vec<HashMap<String, i64>> = Vec::with_capacity(3);
        let mut fresh: Vec<(NameKind, HashMap<String, i64>)> = Vec::with_capacity(3);
        for kind in NameKind::ALL {
            let (mut known, missing) = self
                .names
                .lookup(kind, records.iter().map(|r| name_of(kind, r)));
            let numbered = number_names(&mut tx, kind, &missing).await?;
            known.extend(numbered.iter().map(|(k, v)| (k.clone(), *v)));
            numbers.push(known);
            fresh.push((kind, numbered));
        }
        let key_of = |kind: NameKind, r: &UsageRecord| -> i64 {
            // Every name of the batch was numbered just above.
            numbers[kind.index()]
                .get(name_of(kind, r))
                .copied()
                .unwrap_or_default()
        };
        sqlx::query(
            "CREATE TEMP TABLE IF NOT EXISTS staging (
                seq INTEGER PRIMARY KEY, usage_start INTEGER NOT NULL, subscription INTEGER NOT NULL,
                meter INTEGER NOT NULL, resource INTEGER NOT NULL, usage_end INTEGER NOT NULL,
                reported_time INTEGER NOT NULL, quantity REAL NOT NULL, location TEXT NOT NULL,
                tags TEXT, additional_info TEXT)",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM staging").execute(&mut *tx).await?;
        sqlx::query(
            "CREATE TEMP TABLE IF NOT EXISTS resource_delta (
                day_start INTEGER NOT NULL, subscription INTEGER NOT NULL, meter INTEGER NOT NULL,
                resource INTEGER NOT NULL, location TEXT NOT NULL, tags TEXT NOT NULL,
                quantity REAL NOT NULL, records INTEGER NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        let mut seq: i64 = 0;
        for chunk in records.chunks(ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO staging (seq, usage_start, subscription, meter, resource, usage_end, \
                 reported_time, quantity, location, tags, additional_info) ",
            );
            insert.push_values(chunk, |mut row, r| {
                seq += 1;
                row.push_bind(seq)
                    .push_bind(r.usage_start.timestamp())
                    .push_bind(key_of(NameKind::Subscription, r))
                    .push_bind(key_of(NameKind::Meter, r))
                    .push_bind(key_of(NameKind::Resource, r))
                    .push_bind(r.usage_end.timestamp())
                    .push_bind(r.reported_or(received_at).timestamp())
                    .push_bind(r.quantity)
                    .push_bind(r.instance.location.as_str())
                    .push_bind(json_text(&r.instance.tags))
                    .push_bind(json_text(&r.instance.additional_info));
            });
            insert.build().execute(&mut *tx).await?;
        }
        // Records are judged in order, as if sent one by one: the first of a key is compared with
        // the store, each later one with the one before it in the batch.
        let counts = sqlx::query(
            "WITH s AS (
                SELECT st.quantity,
                       LAG(st.quantity) OVER w AS previous,
                       ROW_NUMBER() OVER w AS occurrence,
                       u.id AS stored_id, u.quantity AS stored
                FROM staging st
                LEFT JOIN usage_records u
                  ON u.usage_start = st.usage_start AND u.subscription = st.subscription
                 AND u.meter = st.meter AND u.resource = st.resource
                WINDOW w AS (PARTITION BY st.usage_start, st.subscription, st.meter, st.resource ORDER BY st.seq)
             )
             SELECT COALESCE(SUM(occurrence = 1 AND stored_id IS NULL), 0) AS accepted,
                    COALESCE(SUM(CASE WHEN occurrence = 1 THEN stored_id IS NOT NULL AND stored = quantity
                                      ELSE previous = quantity END), 0) AS duplicates,
                    COALESCE(SUM(occurrence > 1), 0) AS repeats,
                    COUNT(*) AS total
             FROM s",
        )
        .fetch_one(&mut *tx)
        .await?;
        let accepted: i64 = counts.try_get("accepted")?;
        let duplicates: i64 = counts.try_get("duplicates")?;
        let repeats: i64 = counts.try_get("repeats")?;
        let total: i64 = counts.try_get("total")?;
        let corrected = total - accepted - duplicates;
        // Each step runs only when the counts say it has something to do: a batch of fresh usage,
        // the common case, only inserts.
        if repeats > 0 {
            // The last record of each key is the one that counts.
            sqlx::query(
                "DELETE FROM staging WHERE seq NOT IN
                   (SELECT MAX(seq) FROM staging GROUP BY usage_start, subscription, meter, resource)",
            )
            .execute(&mut *tx)
            .await?;
        }
        if accepted > 0 || corrected > 0 {
            // Before the rows change: the rollups add new rows and swap corrected ones.
            sqlx::query("DELETE FROM resource_delta")
                .execute(&mut *tx)
                .await?;
            for statement in [
                STAGE_RESOURCE_DELTA,
                ROLL_UP_RESOURCE_DAYS,
                ROLL_UP_RESOURCE_MONTHS,
            ] {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
        }
        if corrected > 0 {
            sqlx::query(
                "DELETE FROM usage_daily_resources WHERE records = 0 AND day_start IN
                   (SELECT DISTINCT usage_start - usage_start % 86400 FROM staging)",
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM usage_monthly_resources WHERE records = 0 AND month_start IN
                   (SELECT DISTINCT unixepoch(usage_start, 'unixepoch', 'start of month')
                    FROM staging)",
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE usage_records
                 SET quantity = s.quantity, usage_end = s.usage_end, reported_time = s.reported_time,
                     location = s.location, tags = s.tags, additional_info = s.additional_info
                 FROM staging s
                 WHERE usage_records.usage_start = s.usage_start AND usage_records.subscription = s.subscription
                   AND usage_records.meter = s.meter AND usage_records.resource = s.resource
                   AND usage_records.quantity <> s.quantity",
            )
            .execute(&mut *tx)
            .await?;
        }
        if starts_off_hour(records) {
            sqlx::query(MARK_OFF_HOUR)
                .bind(Vec::<u8>::new())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO reported_spans (reported_hour, first_usage, last_usage)
             SELECT reported_time / 3600, MIN(usage_start), MAX(usage_start) FROM staging
             WHERE true GROUP BY reported_time / 3600
             ON CONFLICT (reported_hour) DO UPDATE SET
                 first_usage = MIN(first_usage, excluded.first_usage),
                 last_usage = MAX(last_usage, excluded.last_usage)",
        )
        .execute(&mut *tx)
        .await?;
        if accepted > 0 {
            sqlx::query(
                "INSERT INTO usage_records (usage_start, subscription, meter, resource, usage_end,
                                            reported_time, quantity, location, tags, additional_info)
                 SELECT usage_start, subscription, meter, resource, usage_end,
                        reported_time, quantity, location, tags, additional_info
                 FROM staging WHERE true
                 -- In key order: the key index then grows in runs instead of at random places.
                 ORDER BY usage_start, subscription, meter, resource
                 ON CONFLICT DO NOTHING",
            )
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM staging").execute(&mut *tx).await?;
        tx.commit().await?;
        for (kind, numbered) in fresh {
            self.names.remember(kind, numbered);
        }
        Ok(IngestOutcome {
            accepted: accepted as u64,
            duplicates: duplicates as u64,
            corrected: corrected as u64,
        })
    }

    async fn aggregates(
        &self,
        request: &AggregateRequest,
    ) -> Result<Page<AggregateLine>, StoreError> {
        self.reads().aggregates(request).await
    }

    async fn daily_totals(
        &self,
        subscriptions: Option<&[SubscriptionId]>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DailyMeterTotal>, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "SELECT s.subscription_id, m.meter_id, t.day, t.quantity, t.records
             FROM (SELECT subscription, meter, usage_start / ",
        );
        sql.push_bind(DAY_SECONDS)
            .push(" AS day, SUM(quantity) AS quantity, COUNT(*) AS records FROM usage_records WHERE usage_start >= ")
            .push_bind(from.timestamp().div_euclid(DAY_SECONDS) * DAY_SECONDS)
            .push(" AND usage_start < ")
            .push_bind((to.timestamp() + DAY_SECONDS - 1).div_euclid(DAY_SECONDS) * DAY_SECONDS);
        if let Some(subscriptions) = subscriptions {
            sql.push(
                " AND subscription IN (SELECT id FROM subscriptions WHERE subscription_id IN ",
            );
            push_list(&mut sql, subscriptions);
            sql.push(")");
        }
        sql.push(
            " GROUP BY subscription, meter, day) t
             JOIN subscriptions s ON s.id = t.subscription
             JOIN meters m ON m.id = t.meter
             ORDER BY s.subscription_id, m.meter_id, t.day",
        );
        let rows = sql.build().fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|row| {
                Ok(daily_total(
                    row.try_get("subscription_id")?,
                    row.try_get("meter_id")?,
                    row.try_get("day")?,
                    row.try_get("quantity")?,
                    row.try_get("records")?,
                ))
            })
            .collect()
    }

    async fn facts(
        &self,
        subscriptions: Option<&[SubscriptionId]>,
        basis: TimeBasis,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<UsageFact>, StoreError> {
        self.reads()
            .facts(subscriptions, basis, from, to, limit)
            .await
    }

    async fn explore(
        &self,
        request: &crate::store::ExploreRequest<'_>,
    ) -> Result<meterbook_core::explore::Exploration, StoreError> {
        self.explorer().explore(request).await
    }

    async fn explore_rows(
        &self,
        request: &crate::store::ExploreRequest<'_>,
    ) -> Result<crate::store::RowReceiver, StoreError> {
        self.explorer().rows_channel(request).await
    }

    async fn usage_totals(
        &self,
        subscriptions: Option<&[SubscriptionId]>,
        spans: &[DateTime<Utc>],
        end: DateTime<Utc>,
        tag_key: Option<&str>,
    ) -> Result<Vec<TaggedUsage>, StoreError> {
        self.sum_usage(subscriptions, spans, end, tag_key).await
    }

    async fn record_count(&self) -> Result<u64, StoreError> {
        shared::record_count(&self.shared).await
    }

    async fn signing_secret(&self) -> Result<Vec<u8>, StoreError> {
        shared::signing_secret(&self.shared).await
    }

    async fn backup_to(&self, to: &std::path::Path) -> Result<(), StoreError> {
        let path = to.to_str().ok_or_else(|| {
            StoreError::Unsupported(format!("{} is not a UTF-8 path", to.display()))
        })?;
        // One statement reads the store as of its start, whatever is written meanwhile.
        sqlx::query("VACUUM INTO ?")
            .bind(path)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn migrations_current(&self) -> Result<bool, StoreError> {
        let applied: Option<i64> = sqlx::query_scalar(super::LATEST_MIGRATION)
            .fetch_one(&self.pool)
            .await?;
        Ok(super::migrations_current(applied, &MIGRATOR))
    }

    fn pools(&self) -> Vec<super::PoolUse> {
        vec![
            super::PoolUse::of("sqlite", &self.pool),
            super::PoolUse::of("sqlite_ingest", &self.ingest),
            super::PoolUse::of("sqlite_scans", &self.scans),
            super::PoolUse::of("sqlite_shared", &self.shared),
        ]
    }
}
