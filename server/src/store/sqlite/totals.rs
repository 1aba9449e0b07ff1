//! Chargeback's usage totals on SQLite. SQLite groups by sorting every row; adding rows up into a
//! small temporary table keyed by one integer (an upsert per row into a tree of a few hundred
//! keys) is more than twice as fast. The key packs subscription, meter and span numbers; with a
//! tag, the tag's value is a second key column. The usage table is read in parts side by side,
//! one per core, each on its own connection (temporary tables are per connection), and the parts
//! are added up here. A tenant's totals read only its rows, by the subscription index.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use meterbook_core::rating::statement::TaggedUsage;
use meterbook_core::rating::UsageHour;
use meterbook_core::SubscriptionId;
use rust_decimal::Decimal;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{tag_path, SqliteStore};
use crate::store::reads::{push_list, push_span_number, tagged_usage};
use crate::store::StoreError;

/// How a key packs `(subscription, meter, span)`: `(subscription * meters + meter) * spans + span`.
#[derive(Clone, Copy)]
struct Packing {
    meters: i64,
    spans: i64,
}

impl SqliteStore {
    pub(super) async fn sum_usage(
        &self,
        subscriptions: Option<&[SubscriptionId]>,
        spans: &[DateTime<Utc>],
        end: DateTime<Utc>,
        tag_key: Option<&str>,
    ) -> Result<Vec<TaggedUsage>, StoreError> {
        if spans.is_empty() {
            return Ok(Vec::new());
        }
        let row = sqlx::query(
            "SELECT (SELECT MIN(rowid) FROM usage_records) AS first,
                    (SELECT MAX(rowid) FROM usage_records) AS last,
                    (SELECT COALESCE(MAX(id), 0) FROM subscriptions) AS subscriptions,
                    (SELECT COALESCE(MAX(id), 0) FROM meters) AS meters",
        )
        .fetch_one(&self.pool)
        .await?;
        let (Some(first), Some(last)) = (
            row.try_get::<Option<i64>, _>("first")?,
            row.try_get::<Option<i64>, _>("last")?,
        ) else {
            return Ok(Vec::new());
        };
        let packing = Packing {
            meters: row.try_get::<i64, _>("meters")? + 1,
            spans: spans.len() as i64,
        };
        // Names are numbered densely from 1: real stores are nowhere near this.
        (row.try_get::<i64, _>("subscriptions")? + 1)
            .checked_mul(packing.meters)
            .and_then(|n| n.checked_mul(packing.spans))
            .ok_or_else(|| StoreError::Corrupt("too many names to total usage".into()))?;
        // A tenant's totals read its own rows by the subscription index, in one part; the whole
        // cloud's are read in rowid parts side by side.
        let parts = match subscriptions {
            Some(_) => 1,
            None => std::thread::available_parallelism().map_or(1, |n| n.get().min(8)) as i64,
        };
        let size = (last - first + parts) / parts;
        let reads = (0..parts).map(|i| {
            let rows = (first + i * size, first + (i + 1) * size);
            self.sum_part(subscriptions, spans, end, tag_key, packing, rows)
        });
        let mut totals: HashMap<(SubscriptionId, String, DateTime<Utc>, Option<String>), Decimal> =
            HashMap::new();
        for part in futures::future::try_join_all(reads).await? {
            for TaggedUsage { usage, tag_value } in part {
                *totals
                    .entry((
                        usage.subscription_id,
                        usage.meter_id,
                        usage.usage_start,
                        tag_value,
                    ))
                    .or_default() += usage.quantity;
            }
        }
        Ok(totals
            .into_iter()
            .map(
                |((subscription_id, meter_id, usage_start, tag_value), quantity)| TaggedUsage {
                    usage: UsageHour {
                        subscription_id,
                        meter_id,
                        usage_start,
                        quantity,
                    },
                    tag_value,
                },
            )
            .collect())
    }

    /// The totals of the usage rows with a rowid in `[rows.0, rows.1)`.
    async fn sum_part(
        &self,
        subscriptions: Option<&[SubscriptionId]>,
        spans: &[DateTime<Utc>],
        end: DateTime<Utc>,
        tag_key: Option<&str>,
        packing: Packing,
        rows: (i64, i64),
    ) -> Result<Vec<TaggedUsage>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        // A present tag value is stored as 'v' + value and a missing one as '', so an empty
        // value and no value stay apart in a NOT NULL key column.
        let table = match tag_key {
            None => {
                "CREATE TEMP TABLE IF NOT EXISTS usage_sums
                      (key INTEGER PRIMARY KEY, tag TEXT, quantity REAL NOT NULL)"
            }
            Some(_) => {
                "CREATE TEMP TABLE IF NOT EXISTS usage_sums_by_tag
                      (key INTEGER NOT NULL, tag TEXT NOT NULL, quantity REAL NOT NULL,
                       PRIMARY KEY (key, tag)) WITHOUT ROWID"
            }
        };
        let name = if tag_key.is_some() {
            "usage_sums_by_tag"
        } else {
            "usage_sums"
        };
        sqlx::query(table).execute(&mut *conn).await?;
        sqlx::query(&format!("DELETE FROM temp.{name}"))
            .execute(&mut *conn)
            .await?;
        let mut sql = QueryBuilder::<Sqlite>::new(format!(
            "INSERT INTO temp.{name} (key, tag, quantity) SELECT (u.subscription * "
        ));
        sql.push_bind(packing.meters)
            .push(" + u.meter) * ")
            .push_bind(packing.spans)
            .push(" + ");
        push_span_number(&mut sql, spans);
        match tag_key {
            Some(key) => {
                sql.push(", COALESCE('v' || CAST(json_extract(u.tags, ")
                    .push_bind(tag_path(key))
                    .push(") AS TEXT), '')");
            }
            None => {
                sql.push(", NULL");
            }
        }
        sql.push(if subscriptions.is_some() {
            ", u.quantity FROM usage_records u INDEXED BY usage_records_by_subscription WHERE u.rowid >= "
        } else {
            ", u.quantity FROM usage_records u WHERE u.rowid >= "
        })
            .push_bind(rows.0)
            .push(" AND u.rowid < ")
            .push_bind(rows.1)
            .push(" AND u.usage_start >= ")
            .push_bind(spans[0].timestamp())
            .push(" AND u.usage_start < ")
            .push_bind(end.timestamp());
        if let Some(subscriptions) = subscriptions {
            sql.push(
                " AND u.subscription IN (SELECT id FROM subscriptions WHERE subscription_id IN ",
            );
            push_list(&mut sql, subscriptions);
            sql.push(")");
        }
        // `WHERE true` tells SQLite's parser the ON CONFLICT belongs to the INSERT.
        sql.push(" AND true ON CONFLICT DO UPDATE SET quantity = quantity + excluded.quantity");
        sql.build().execute(&mut *conn).await?;
        let sums = sqlx::query(&format!(
            "SELECT s.subscription_id, m.meter_id, t.key % $1 AS span, t.tag, t.quantity
             FROM temp.{name} t
             JOIN subscriptions s ON s.id = t.key / $1 / $2
             JOIN meters m ON m.id = t.key / $1 % $2"
        ))
        .bind(packing.spans)
        .bind(packing.meters)
        .fetch_all(&mut *conn)
        .await?;
        sqlx::query(&format!("DELETE FROM temp.{name}"))
            .execute(&mut *conn)
            .await?;
        sums.into_iter()
            .map(|row| {
                let span: i64 = row.try_get("span")?;
                let start = usize::try_from(span)
                    .ok()
                    .and_then(|i| spans.get(i))
                    .copied()
                    .ok_or_else(|| StoreError::Corrupt(format!("span {span}")))?;
                let tag: Option<String> = row.try_get("tag")?;
                tagged_usage(
                    row.try_get("subscription_id")?,
                    row.try_get("meter_id")?,
                    start,
                    tag.and_then(|t| t.strip_prefix('v').map(str::to_owned)),
                    row.try_get("quantity")?,
                )
            })
            .collect()
    }
}
