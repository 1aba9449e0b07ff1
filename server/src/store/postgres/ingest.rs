//! Writing a batch of usage to PostgreSQL: numbered names, the month partitions the batch needs,
//! then each chunk of records, all in one transaction. A chunk of keys the store has never seen
//! (the common case) goes in by binary `COPY`, PostgreSQL's bulk path, with its rollup and spans
//! summed in memory; any other chunk is sent as arrays to one statement that judges, rolls up and
//! writes it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::LazyLock;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use meterbook_core::usage::UsageRecord;
use sqlx::{PgConnection, Row};

use super::PostgresStore;
use crate::store::names::{name_of, NameKind};
use crate::store::reads::{json_text, starts_off_hour, MARK_OFF_HOUR};
use crate::store::{IngestOutcome, StoreError};

/// The advisory lock batches take, one at a time across every process sharing the database.
/// Rollups add each batch's difference to what is stored, which is only right if no other batch
/// changes the same rows in between; serialized batches also cannot deadlock on each other.
const INGEST_LOCK: i64 = 0x6d62_696e_6765_7374; // "mbingest"

/// Records per statement: each one sends ten arrays of this length.
const ROWS_PER_STATEMENT: usize = 20_000;

/// Writes one chunk of a batch in one statement, reading the stored rows once:
/// - `j` is each record with what the store holds for its key and its place among the chunk's
///   records of the same key. Records are judged in order, as if sent one by one: the first of a
///   key is compared with the store, each later one with the one before it in the chunk.
/// - Of each key, only the last record counts: it is inserted when the key is new, replaces the
///   stored row when its quantity differs, and adds its difference to the daily rollups (so they
///   equal the rows they summarize; the per-resource one moves a corrected record's day from its
///   old location and tags to its new ones).
/// - Reported-time spans widen to cover the chunk.
///
/// Data-modifying CTEs all run, whether or not the final SELECT reads them; they touch disjoint
/// rows (new keys, changed keys), and batches hold the ingest lock, so nothing else writes.
const WRITE_CHUNK_TEMPLATE: &str = "
WITH st AS (
    SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],
                         $6::bigint[], $7::float8[], $8::text[], $9::text[], $10::text[])
        WITH ORDINALITY AS st (usage_start, subscription, meter, resource, usage_end,
                               reported_time, quantity, location, tags, additional_info, seq)
), j AS (
    {judged}
), daily AS (
    INSERT INTO usage_daily (day, subscription, meter, quantity, records)
    SELECT usage_start / 86400, subscription, meter,
           SUM(quantity - COALESCE(stored, 0)), COUNT(*) FILTER (WHERE NOT stored_exists)
    FROM j
    WHERE last AND (NOT stored_exists OR stored <> quantity)
    GROUP BY 1, 2, 3
    {add_to_daily}
), resource_delta AS (
    SELECT day_start, subscription, meter, resource, location, tags,
           SUM(quantity) AS quantity, SUM(records) AS records
    FROM (
        SELECT usage_start - usage_start % 86400 AS day_start, subscription, meter, resource,
               location, COALESCE(tags, '') AS tags, quantity, 1 AS records
        FROM j WHERE last AND (NOT stored_exists OR stored <> quantity)
        UNION ALL
        SELECT usage_start - usage_start % 86400, subscription, meter, resource,
               stored_location, COALESCE(stored_tags, ''), -stored, -1
        FROM j WHERE last AND stored_exists AND stored <> quantity
    ) d
    GROUP BY 1, 2, 3, 4, 5, 6
), resource_days AS (
    {resource_days_of_delta}
), resource_months AS (
    {resource_months_of_delta}
), changed AS (
    UPDATE usage_records u
    SET quantity = j.quantity, usage_end = j.usage_end, reported_time = j.reported_time,
        location = j.location, tags = j.tags, additional_info = j.additional_info
    FROM j
    WHERE j.last AND j.stored_exists AND j.stored <> j.quantity
      AND u.usage_start = j.usage_start AND u.subscription = j.subscription
      AND u.meter = j.meter AND u.resource = j.resource
), added AS (
    INSERT INTO usage_records (usage_start, subscription, meter, resource, usage_end,
                               reported_time, quantity, location, tags, additional_info)
    SELECT usage_start, subscription, meter, resource, usage_end,
           reported_time, quantity, location, tags, additional_info
    FROM j
    WHERE last AND NOT stored_exists
    ORDER BY usage_start, subscription, meter, resource
    ON CONFLICT DO NOTHING
), spans AS (
    INSERT INTO reported_spans (reported_hour, first_usage, last_usage)
    SELECT reported_time / 3600, MIN(usage_start), MAX(usage_start) FROM st
    GROUP BY reported_time / 3600
    {widen_spans}
)
SELECT COUNT(*) FILTER (WHERE occurrence = 1 AND NOT stored_exists) AS accepted,
       COUNT(*) FILTER (WHERE CASE WHEN occurrence = 1 THEN stored_exists AND stored = quantity
                                   ELSE previous = quantity END) AS duplicates,
       COUNT(*) AS total
FROM j";

/// `j` for a chunk that repeats keys: the windows find each record's predecessor and the last
/// record of each key.
const JUDGED_WITH_REPEATS: &str = "SELECT st.*, u.usage_start IS NOT NULL AS stored_exists, u.quantity AS stored,
           u.location AS stored_location, u.tags AS stored_tags,
           LAG(st.quantity) OVER w AS previous,
           ROW_NUMBER() OVER w AS occurrence,
           ROW_NUMBER() OVER (PARTITION BY st.usage_start, st.subscription, st.meter, st.resource
                              ORDER BY st.seq DESC) = 1 AS last
    FROM st
    LEFT JOIN usage_records u
      ON u.usage_start = st.usage_start AND u.subscription = st.subscription
     AND u.meter = st.meter AND u.resource = st.resource
    WINDOW w AS (PARTITION BY st.usage_start, st.subscription, st.meter, st.resource ORDER BY st.seq)";

/// `j` for a chunk whose keys are all different (the usual case): every record is the first and
/// last of its key, so the sorts the windows need are skipped.
const JUDGED_WITHOUT_REPEATS: &str =
    "SELECT st.*, u.usage_start IS NOT NULL AS stored_exists, u.quantity AS stored,
           u.location AS stored_location, u.tags AS stored_tags,
           NULL::float8 AS previous, 1 AS occurrence, true AS last
    FROM st
    LEFT JOIN usage_records u
      ON u.usage_start = st.usage_start AND u.subscription = st.subscription
     AND u.meter = st.meter AND u.resource = st.resource";

/// The chunk statement, with and without repeated keys.
static WRITE_CHUNK: LazyLock<[String; 2]> = LazyLock::new(|| {
    [JUDGED_WITHOUT_REPEATS, JUDGED_WITH_REPEATS].map(|judged| {
        WRITE_CHUNK_TEMPLATE
            .replace("{judged}", judged)
            .replace("{add_to_daily}", ADD_TO_DAILY)
            .replace("{resource_days_of_delta}", &RESOURCE_DAYS_OF_DELTA)
            .replace("{resource_months_of_delta}", &RESOURCE_MONTHS_OF_DELTA)
            .replace("{widen_spans}", WIDEN_SPANS)
    })
});

/// Whether some key occurs more than once in `chunk`.
fn repeats_keys(mut keys: impl Iterator<Item = (i64, i64, i64, i64)>) -> bool {
    let mut seen = HashSet::new();
    keys.any(|key| !seen.insert(key))
}

/// Numbers `names` of one kind (none of them known to the cache), adding those the table lacks.
async fn number_names(
    tx: &mut PgConnection,
    kind: NameKind,
    names: &[String],
) -> Result<HashMap<String, i64>, StoreError> {
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    let (table, column) = match kind {
        NameKind::Subscription => ("subscriptions", "subscription_id"),
        NameKind::Meter => ("meters", "meter_id"),
        NameKind::Resource => ("resources", "resource_uri"),
    };
    sqlx::query(&format!(
        "INSERT INTO {table} ({column}) SELECT * FROM UNNEST($1::text[]) ON CONFLICT DO NOTHING"
    ))
    .bind(names)
    .execute(&mut *tx)
    .await?;
    let rows = sqlx::query(&format!(
        "SELECT id, {column} AS name FROM {table} WHERE {column} = ANY($1)"
    ))
    .bind(names)
    .fetch_all(&mut *tx)
    .await?;
    rows.into_iter()
        .map(|row| Ok((row.try_get("name")?, row.try_get("id")?)))
        .collect()
}

/// The UTC month holding `t`, as the first second of it and of the next month.
fn month_of(t: DateTime<Utc>) -> (i64, i64) {
    let first = |year: i32, month: u32| {
        Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
            .single()
            .map_or(0, |d| d.timestamp())
    };
    let (year, month) = (t.year(), t.month());
    let next = if month == 12 {
        first(year + 1, 1)
    } else {
        first(year, month + 1)
    };
    (first(year, month), next)
}

/// The partition name for the month starting at `start`.
fn partition_name(start: i64) -> String {
    let t = meterbook_core::time::from_epoch(start);
    format!("usage_records_{:04}_{:02}", t.year(), t.month())
}

/// A record as the table stores it: names numbered, times in Unix seconds, objects as JSON text.
struct KeyedRow<'a> {
    usage_start: i64,
    subscription: i64,
    meter: i64,
    resource: i64,
    usage_end: i64,
    reported_time: i64,
    quantity: f64,
    location: &'a str,
    tags: Option<String>,
    additional_info: Option<String>,
}

impl KeyedRow<'_> {
    fn key(&self) -> (i64, i64, i64, i64) {
        (
            self.usage_start,
            self.subscription,
            self.meter,
            self.resource,
        )
    }
}

/// How a batch's sums join the daily rollup, whichever path wrote the batch: added to what is
/// stored, so the rollup always equals the rows it summarizes.
const ADD_TO_DAILY: &str = "ON CONFLICT (day, subscription, meter) DO UPDATE SET
        quantity = usage_daily.quantity + excluded.quantity,
        records = usage_daily.records + excluded.records";

/// How a batch's sums join the per-resource daily rollup, whichever path wrote the batch.
const ADD_TO_RESOURCE_DAYS: &str =
    "ON CONFLICT (day_start, subscription, meter, resource, location, tags) DO UPDATE SET
        quantity = usage_daily_resources.quantity + excluded.quantity,
        records = usage_daily_resources.records + excluded.records";

/// How a batch's record counts join the per-resource monthly rollup.
const ADD_TO_RESOURCE_MONTHS: &str =
    "ON CONFLICT (month_start, subscription, meter, resource, location, tags) DO UPDATE SET
        records = usage_monthly_resources.records + excluded.records";

/// The UTC month of a rollup row's `day_start`, as its first second.
const MONTH_OF_DAY: &str = "CAST(EXTRACT(EPOCH FROM \
     date_trunc('month', to_timestamp(day_start) AT TIME ZONE 'UTC')) AS BIGINT)";

/// Adds `resource_delta` (a batch's sums per day, subscription, meter, resource, location and
/// tags) to the per-resource daily rollup, whichever path wrote the batch.
static RESOURCE_DAYS_OF_DELTA: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO usage_daily_resources
             (day_start, subscription, meter, resource, location, tags, quantity, records)
         SELECT * FROM resource_delta
         {ADD_TO_RESOURCE_DAYS}"
    )
});

/// Adds `resource_delta`'s record counts to the per-resource monthly rollup.
static RESOURCE_MONTHS_OF_DELTA: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO usage_monthly_resources
             (month_start, subscription, meter, resource, location, tags, records)
         SELECT {MONTH_OF_DAY}, subscription, meter, resource, location, tags, SUM(records)
         FROM resource_delta
         GROUP BY 1, 2, 3, 4, 5, 6
         {ADD_TO_RESOURCE_MONTHS}"
    )
});

/// A copied chunk's sums and counts per day, subscription, meter, resource, location and tags,
/// into both per-resource rollups.
static ROLL_UP_RESOURCES_COPIED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH resource_delta AS (
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],
                                  $5::text[], $6::text[], $7::float8[], $8::bigint[])
                 AS d (day_start, subscription, meter, resource, location, tags, quantity, records)
         ), resource_days AS (
             {days}
         )
         {months}",
        days = *RESOURCE_DAYS_OF_DELTA,
        months = *RESOURCE_MONTHS_OF_DELTA,
    )
});

/// How a batch widens the reported-time spans, whichever path wrote the batch.
const WIDEN_SPANS: &str = "ON CONFLICT (reported_hour) DO UPDATE SET
        first_usage = LEAST(reported_spans.first_usage, excluded.first_usage),
        last_usage = GREATEST(reported_spans.last_usage, excluded.last_usage)";

/// A copied chunk's sums and counts per day, subscription and meter, into the daily rollup.
static ROLL_UP_COPIED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO usage_daily (day, subscription, meter, quantity, records)
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::float8[], $5::bigint[])
         {ADD_TO_DAILY}"
    )
});

/// A copied chunk's first and last usage start per reported hour, into the spans.
static SPAN_COPIED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO reported_spans (reported_hour, first_usage, last_usage)
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[])
         {WIDEN_SPANS}"
    )
});

/// Writes `rows`, which repeat no key among themselves, by `COPY` if none of their keys is
/// stored: the primary key refuses the COPY otherwise, a savepoint undoes it, and `false` tells
/// the caller to judge the chunk instead. On success the rollup and spans get the chunk's sums,
/// made here rather than by a statement re-reading the rows.
async fn copy_new_keys(tx: &mut PgConnection, rows: &[KeyedRow<'_>]) -> Result<bool, StoreError> {
    sqlx::query("SAVEPOINT new_keys").execute(&mut *tx).await?;
    let copied = async {
        let mut copy = tx
            .copy_in_raw(
                "COPY usage_records (usage_start, subscription, meter, resource, usage_end, \
                 reported_time, quantity, location, tags, additional_info) FROM STDIN (FORMAT binary)",
            )
            .await?;
        copy.send(copy_binary(rows)).await?;
        copy.finish().await
    }
    .await;
    match copied {
        Ok(_) => {
            sqlx::query("RELEASE SAVEPOINT new_keys")
                .execute(&mut *tx)
                .await?;
        }
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            sqlx::query("ROLLBACK TO SAVEPOINT new_keys")
                .execute(&mut *tx)
                .await?;
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    }
    let mut daily: HashMap<(i64, i64, i64), (f64, i64)> = HashMap::new();
    type ResourceDay<'r> = (i64, i64, i64, i64, &'r str, &'r str);
    let mut resource_days: HashMap<ResourceDay<'_>, (f64, i64)> = HashMap::new();
    let mut spans: HashMap<i64, (i64, i64)> = HashMap::new();
    for row in rows {
        let sums = resource_days
            .entry((
                row.usage_start - row.usage_start % 86_400,
                row.subscription,
                row.meter,
                row.resource,
                row.location,
                row.tags.as_deref().unwrap_or(""),
            ))
            .or_default();
        sums.0 += row.quantity;
        sums.1 += 1;
        // Truncating division, as the judged statement's SQL divides.
        let sums = daily
            .entry((row.usage_start / 86_400, row.subscription, row.meter))
            .or_default();
        sums.0 += row.quantity;
        sums.1 += 1;
        let span = spans
            .entry(row.reported_time / 3_600)
            .or_insert((row.usage_start, row.usage_start));
        span.0 = span.0.min(row.usage_start);
        span.1 = span.1.max(row.usage_start);
    }
    // In key order, so the rollup's and the spans' indexes are written in runs.
    let mut daily: Vec<_> = daily.into_iter().collect();
    daily.sort_unstable_by_key(|(key, _)| *key);
    let mut spans: Vec<_> = spans.into_iter().collect();
    spans.sort_unstable_by_key(|(hour, _)| *hour);
    sqlx::query(&ROLL_UP_COPIED)
        .bind(daily.iter().map(|((d, _, _), _)| *d).collect::<Vec<_>>())
        .bind(daily.iter().map(|((_, s, _), _)| *s).collect::<Vec<_>>())
        .bind(daily.iter().map(|((_, _, m), _)| *m).collect::<Vec<_>>())
        .bind(daily.iter().map(|(_, (q, _))| *q).collect::<Vec<_>>())
        .bind(daily.iter().map(|(_, (_, n))| *n).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    let mut resource_days: Vec<_> = resource_days.into_iter().collect();
    resource_days.sort_unstable_by_key(|(key, _)| *key);
    let column = |f: &dyn Fn(&ResourceDay<'_>) -> i64| {
        resource_days.iter().map(|(k, _)| f(k)).collect::<Vec<_>>()
    };
    sqlx::query(&ROLL_UP_RESOURCES_COPIED)
        .bind(column(&|k| k.0))
        .bind(column(&|k| k.1))
        .bind(column(&|k| k.2))
        .bind(column(&|k| k.3))
        .bind(resource_days.iter().map(|(k, _)| k.4).collect::<Vec<_>>())
        .bind(resource_days.iter().map(|(k, _)| k.5).collect::<Vec<_>>())
        .bind(
            resource_days
                .iter()
                .map(|(_, (q, _))| *q)
                .collect::<Vec<_>>(),
        )
        .bind(
            resource_days
                .iter()
                .map(|(_, (_, n))| *n)
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?;
    sqlx::query(&SPAN_COPIED)
        .bind(spans.iter().map(|(h, _)| *h).collect::<Vec<_>>())
        .bind(
            spans
                .iter()
                .map(|(_, (first, _))| *first)
                .collect::<Vec<_>>(),
        )
        .bind(spans.iter().map(|(_, (_, last))| *last).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    Ok(true)
}

/// `rows` in `COPY`'s binary format: a signature, then per row its field count and each field
/// as a length and big-endian bytes (-1 for NULL), then -1. Rows go in key order, so the key
/// index grows in runs.
fn copy_binary(rows: &[KeyedRow<'_>]) -> Vec<u8> {
    let mut order: Vec<&KeyedRow<'_>> = rows.iter().collect();
    order.sort_unstable_by_key(|row| row.key());
    let mut out = Vec::with_capacity(19 + rows.len() * 200);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes()); // flags
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    let field = |out: &mut Vec<u8>, bytes: &[u8]| {
        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        out.extend_from_slice(bytes);
    };
    let text = |out: &mut Vec<u8>, value: Option<&str>| match value {
        Some(v) => field(out, v.as_bytes()),
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
    };
    for row in order {
        out.extend_from_slice(&10i16.to_be_bytes());
        for n in [
            row.usage_start,
            row.subscription,
            row.meter,
            row.resource,
            row.usage_end,
            row.reported_time,
        ] {
            field(&mut out, &n.to_be_bytes());
        }
        field(&mut out, &row.quantity.to_bits().to_be_bytes());
        text(&mut out, Some(row.location));
        text(&mut out, row.tags.as_deref());
        text(&mut out, row.additional_info.as_deref());
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

/// Judges `rows` against the store and each other, then writes them in one statement (see
/// [`WRITE_CHUNK_TEMPLATE`]); returns how many were accepted, duplicates, and in all.
async fn judge_and_write(
    tx: &mut PgConnection,
    rows: &[KeyedRow<'_>],
    repeats: bool,
) -> Result<(u64, u64, u64), StoreError> {
    let column = |f: &dyn Fn(&KeyedRow<'_>) -> i64| rows.iter().map(f).collect::<Vec<_>>();
    let counts = sqlx::query(&WRITE_CHUNK[usize::from(repeats)])
        .bind(column(&|r| r.usage_start))
        .bind(column(&|r| r.subscription))
        .bind(column(&|r| r.meter))
        .bind(column(&|r| r.resource))
        .bind(column(&|r| r.usage_end))
        .bind(column(&|r| r.reported_time))
        .bind(rows.iter().map(|r| r.quantity).collect::<Vec<f64>>())
        .bind(rows.iter().map(|r| r.location).collect::<Vec<&str>>())
        .bind(rows.iter().map(|r| r.tags.as_deref()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.additional_info.as_deref())
                .collect::<Vec<_>>(),
        )
        .fetch_one(&mut *tx)
        .await?;
    let count = |name: &str| -> Result<u64, StoreError> {
        Ok(counts.try_get::<i64, _>(name)?.max(0) as u64)
    };
    Ok((count("accepted")?, count("duplicates")?, count("total")?))
}

impl PostgresStore {
    /// Creates the month partitions `records` need that this process has not seen yet; returns
    /// the months to remember once the transaction commits.
    async fn ensure_partitions(
        &self,
        tx: &mut PgConnection,
        records: &[UsageRecord],
    ) -> Result<Vec<i64>, StoreError> {
        let months: BTreeSet<(i64, i64)> =
            records.iter().map(|r| month_of(r.usage_start)).collect();
        let unknown: Vec<(i64, i64)> = {
            let known = self
                .partitions
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            months
                .into_iter()
                .filter(|(start, _)| !known.contains(start))
                .collect()
        };
        for &(start, end) in &unknown {
            let name = partition_name(start);
            // Checked first: creating a partition locks the whole table, even when it exists.
            let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
                .bind(&name)
                .fetch_one(&mut *tx)
                .await?;
            if exists.is_none() {
                sqlx::query(&format!(
                    "CREATE TABLE {name} PARTITION OF usage_records FOR VALUES FROM ({start}) TO ({end})"
                ))
                .execute(&mut *tx)
                .await?;
            }
        }
        Ok(unknown.into_iter().map(|(start, _)| start).collect())
    }

    /// Writes a batch atomically (see [`UsageStore::ingest`](crate::store::UsageStore::ingest)).
    pub(super) async fn write_batch(
        &self,
        records: &[UsageRecord],
        received_at: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError> {
        if records.is_empty() {
            return Ok(IngestOutcome::default());
        }
        // Names are numbered first, outside the batch's transaction and its lock: numbering is
        // safe to repeat and to race (ON CONFLICT DO NOTHING), and a name numbered for a batch
        // that then fails costs nothing. The lock is held only for the batch's own writes.
        let mut conn = self.pool.acquire().await?;
        let mut numbers: Vec<HashMap<String, i64>> = Vec::with_capacity(3);
        for kind in NameKind::ALL {
            let (mut known, missing) = self
                .names
                .lookup(kind, records.iter().map(|r| name_of(kind, r)));
            let numbered = number_names(&mut conn, kind, &missing).await?;
            known.extend(numbered.iter().map(|(k, v)| (k.clone(), *v)));
            self.names.remember(kind, numbered);
            numbers.push(known);
        }
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(INGEST_LOCK)
            .execute(&mut *tx)
            .await?;
        let key_of = |kind: NameKind, r: &UsageRecord| -> i64 {
            // Every name of the batch was numbered just above.
            numbers[kind.index()]
                .get(name_of(kind, r))
                .copied()
                .unwrap_or_default()
        };
        let new_months = self.ensure_partitions(&mut tx, records).await?;
        if starts_off_hour(records) {
            sqlx::query(MARK_OFF_HOUR)
                .bind(Vec::<u8>::new())
                .execute(&mut *tx)
                .await?;
        }
        let mut outcome = IngestOutcome::default();
        // Chunks run in order in one transaction, so a later chunk judges its records against
        // what an earlier one wrote, as if the records had come one by one.
        for chunk in records.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<KeyedRow> = chunk
                .iter()
                .map(|r| KeyedRow {
                    usage_start: r.usage_start.timestamp(),
                    subscription: key_of(NameKind::Subscription, r),
                    meter: key_of(NameKind::Meter, r),
                    resource: key_of(NameKind::Resource, r),
                    usage_end: r.usage_end.timestamp(),
                    reported_time: r.reported_or(received_at).timestamp(),
                    quantity: r.quantity,
                    location: r.instance.location.as_str(),
                    tags: json_text(&r.instance.tags),
                    additional_info: json_text(&r.instance.additional_info),
                })
                .collect();
            let repeats = repeats_keys(rows.iter().map(KeyedRow::key));
            if !repeats && copy_new_keys(&mut tx, &rows).await? {
                outcome.accepted += rows.len() as u64;
                continue;
            }
            let (accepted, duplicates, total) = judge_and_write(&mut tx, &rows, repeats).await?;
            outcome.accepted += accepted;
            outcome.duplicates += duplicates;
            outcome.corrected += total - accepted - duplicates;
            if total > accepted + duplicates {
                // A correction may have emptied its old row of the per-resource rollup.
                let mut days: Vec<i64> = rows
                    .iter()
                    .map(|r| r.usage_start - r.usage_start % 86_400)
                    .collect();
                days.sort_unstable();
                days.dedup();
                let mut months: Vec<i64> = days
                    .iter()
                    .map(|&d| month_of(meterbook_core::time::from_epoch(d)).0)
                    .collect();
                months.dedup();
                sqlx::query(
                    "DELETE FROM usage_daily_resources WHERE records = 0 AND day_start = ANY($1)",
                )
                .bind(days)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "DELETE FROM usage_monthly_resources WHERE records = 0 AND month_start = ANY($1)",
                )
                .bind(months)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        self.partitions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend(new_months);
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_run_from_their_first_second_to_the_next_months() {
        let t = Utc.with_ymd_and_hms(2026, 12, 31, 23, 0, 0).unwrap();
        let (start, end) = month_of(t);
        assert_eq!(
            start,
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
                .unwrap()
                .timestamp()
        );
        assert_eq!(
            end,
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0)
                .unwrap()
                .timestamp()
        );
        assert_eq!(partition_name(start), "usage_records_2026_12");
    }
}
