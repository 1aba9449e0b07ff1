//! Writing a batch of usage to PostgreSQL: numbered names, the month partitions the batch needs,
//! the records staged as arrays, then set-based judging, rollups and inserts in one transaction.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Datelike, TimeZone, Utc};
use meterbook_core::usage::UsageRecord;
use sqlx::{PgConnection, Row};

use super::PostgresStore;
use crate::store::names::{name_of, NameKind};
use crate::store::portable::reads::json_text;
use crate::store::{IngestOutcome, StoreError};

/// The advisory lock batches take, one at a time across every process sharing the database.
/// Rollups add each batch's difference to what is stored, which is only right if no other batch
/// changes the same rows in between; serialized batches also cannot deadlock on each other.
const INGEST_LOCK: i64 = 0x6d62_696e_6765_7374; // "mbingest"

/// Rows per staging statement: each one sends eleven arrays of this length.
const ROWS_PER_STATEMENT: usize = 20_000;

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
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(INGEST_LOCK)
            .execute(&mut *tx)
            .await?;
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
        let new_months = self.ensure_partitions(&mut tx, records).await?;
        sqlx::query(
            "CREATE TEMP TABLE IF NOT EXISTS staging (
                seq BIGINT NOT NULL, usage_start BIGINT NOT NULL, subscription BIGINT NOT NULL,
                meter BIGINT NOT NULL, resource BIGINT NOT NULL, usage_end BIGINT NOT NULL,
                reported_time BIGINT NOT NULL, quantity DOUBLE PRECISION NOT NULL,
                location TEXT NOT NULL, tags TEXT, additional_info TEXT
             ) ON COMMIT DELETE ROWS",
        )
        .execute(&mut *tx)
        .await?;
        for (chunk_index, chunk) in records.chunks(ROWS_PER_STATEMENT).enumerate() {
            let first_seq = (chunk_index * ROWS_PER_STATEMENT) as i64;
            let seq: Vec<i64> = (0..chunk.len() as i64).map(|i| first_seq + i).collect();
            let column = |f: &dyn Fn(&UsageRecord) -> i64| chunk.iter().map(f).collect::<Vec<_>>();
            sqlx::query(
                "INSERT INTO staging
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],
                                      $5::bigint[], $6::bigint[], $7::bigint[], $8::float8[],
                                      $9::text[], $10::text[], $11::text[])",
            )
            .bind(seq)
            .bind(column(&|r| r.usage_start.timestamp()))
            .bind(column(&|r| key_of(NameKind::Subscription, r)))
            .bind(column(&|r| key_of(NameKind::Meter, r)))
            .bind(column(&|r| key_of(NameKind::Resource, r)))
            .bind(column(&|r| r.usage_end.timestamp()))
            .bind(column(&|r| r.reported_or(received_at).timestamp()))
            .bind(chunk.iter().map(|r| r.quantity).collect::<Vec<f64>>())
            .bind(
                chunk
                    .iter()
                    .map(|r| r.instance.location.clone())
                    .collect::<Vec<String>>(),
            )
            .bind(
                chunk
                    .iter()
                    .map(|r| json_text(&r.instance.tags))
                    .collect::<Vec<Option<String>>>(),
            )
            .bind(
                chunk
                    .iter()
                    .map(|r| json_text(&r.instance.additional_info))
                    .collect::<Vec<Option<String>>>(),
            )
            .execute(&mut *tx)
            .await?;
        }
        // Records are judged in order, as if sent one by one: the first of a key is compared
        // with the store, each later one with the one before it in the batch.
        let counts = sqlx::query(
            "WITH s AS (
                SELECT st.quantity,
                       LAG(st.quantity) OVER w AS previous,
                       ROW_NUMBER() OVER w AS occurrence,
                       u.usage_start IS NOT NULL AS stored_exists, u.quantity AS stored
                FROM staging st
                LEFT JOIN usage_records u
                  ON u.usage_start = st.usage_start AND u.subscription = st.subscription
                 AND u.meter = st.meter AND u.resource = st.resource
                WINDOW w AS (PARTITION BY st.usage_start, st.subscription, st.meter, st.resource
                             ORDER BY st.seq)
             )
             SELECT COUNT(*) FILTER (WHERE occurrence = 1 AND NOT stored_exists) AS accepted,
                    COUNT(*) FILTER (WHERE CASE WHEN occurrence = 1
                                                THEN stored_exists AND stored = quantity
                                                ELSE previous = quantity END) AS duplicates,
                    COUNT(*) FILTER (WHERE occurrence > 1) AS repeats,
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
        if repeats > 0 {
            // The last record of each key is the one that counts.
            sqlx::query(
                "DELETE FROM staging WHERE seq NOT IN
                   (SELECT MAX(seq) FROM staging GROUP BY usage_start, subscription, meter, resource)",
            )
            .execute(&mut *tx)
            .await?;
        }
        if accepted + corrected > 0 {
            // The rollup gains what the batch adds: new rows whole, corrections their difference.
            sqlx::query(
                "INSERT INTO usage_daily (day, subscription, meter, quantity, records)
                 SELECT st.usage_start / 86400, st.subscription, st.meter,
                        SUM(st.quantity - COALESCE(u.quantity, 0)),
                        COUNT(*) FILTER (WHERE u.usage_start IS NULL)
                 FROM staging st
                 LEFT JOIN usage_records u
                   ON u.usage_start = st.usage_start AND u.subscription = st.subscription
                  AND u.meter = st.meter AND u.resource = st.resource
                 GROUP BY 1, 2, 3
                 ON CONFLICT (day, subscription, meter) DO UPDATE SET
                     quantity = usage_daily.quantity + excluded.quantity,
                     records = usage_daily.records + excluded.records",
            )
            .execute(&mut *tx)
            .await?;
        }
        if corrected > 0 {
            sqlx::query(
                "UPDATE usage_records u
                 SET quantity = s.quantity, usage_end = s.usage_end, reported_time = s.reported_time,
                     location = s.location, tags = s.tags, additional_info = s.additional_info
                 FROM staging s
                 WHERE u.usage_start = s.usage_start AND u.subscription = s.subscription
                   AND u.meter = s.meter AND u.resource = s.resource
                   AND u.quantity <> s.quantity",
            )
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO reported_spans (reported_hour, first_usage, last_usage)
             SELECT reported_time / 3600, MIN(usage_start), MAX(usage_start) FROM staging
             GROUP BY reported_time / 3600
             ON CONFLICT (reported_hour) DO UPDATE SET
                 first_usage = LEAST(reported_spans.first_usage, excluded.first_usage),
                 last_usage = GREATEST(reported_spans.last_usage, excluded.last_usage)",
        )
        .execute(&mut *tx)
        .await?;
        if accepted > 0 {
            sqlx::query(
                "INSERT INTO usage_records (usage_start, subscription, meter, resource, usage_end,
                                            reported_time, quantity, location, tags, additional_info)
                 SELECT usage_start, subscription, meter, resource, usage_end,
                        reported_time, quantity, location, tags, additional_info
                 FROM staging
                 ORDER BY usage_start, subscription, meter, resource
                 ON CONFLICT DO NOTHING",
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        for (kind, numbered) in fresh {
            self.names.remember(kind, numbered);
        }
        self.partitions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend(new_months);
        Ok(IngestOutcome {
            accepted: accepted as u64,
            duplicates: duplicates as u64,
            corrected: corrected as u64,
        })
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
