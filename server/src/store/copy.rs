//! `meterbook migrate`: copies a SQLite store into an empty PostgreSQL one (people, grants,
//! sessions, tokens, widgets, rate cards, chargeback runs, webhooks and their deliveries, the
//! tenant directory, the audit log, the signing secret and every usage record), then checks that
//! both hold the same: row counts per table, and the count and sum of usage.
//!
//! Usage goes through the PostgreSQL store's own ingest, so partitions, rollups and reported
//! spans are built as for any batch; everything else is copied row for row with its IDs, so
//! sessions, tokens and continuation tokens issued before the move keep working after it.

use chrono::Utc;
use meterbook_core::time::from_epoch;
use meterbook_core::usage::{InstanceData, UsageRecord};
use meterbook_core::SubscriptionId;
use sqlx::{Postgres, QueryBuilder, Row, SqlitePool};

use super::reads::json_object;
use super::{PostgresStore, SqliteStore, StoreError, UsageStore};

/// A column's type, as both schemas hold it.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    OptInt,
    Text,
    OptText,
    Blob,
}

use Kind::{Blob, Int, OptInt, OptText, Text};

/// A table copied row for row: its name, whether it numbers its rows (its sequence is then moved
/// past the copied IDs), and its columns.
type Table = (&'static str, bool, &'static [(&'static str, Kind)]);

/// Parents before children.
const TABLES: &[Table] = &[
    (
        "users",
        true,
        &[
            ("id", Int),
            ("username", Text),
            ("role", Text),
            ("password_hash", Text),
            ("created_at", Int),
            ("disabled_at", OptInt),
            ("issuer", OptText),
            ("subject", OptText),
        ],
    ),
    (
        "user_subscriptions",
        false,
        &[("user_id", Int), ("subscription_id", Text)],
    ),
    (
        "sessions",
        false,
        &[
            ("id_hash", Text),
            ("user_id", Int),
            ("csrf_token", Text),
            ("created_at", Int),
            ("last_seen_at", Int),
            ("expires_at", Int),
        ],
    ),
    (
        "sign_in_failures",
        true,
        &[("id", Int), ("key", Text), ("at", Int)],
    ),
    (
        "api_tokens",
        true,
        &[
            ("id", Int),
            ("name", Text),
            ("role", Text),
            ("token_hash", Text),
            ("created_at", Int),
            ("revoked_at", OptInt),
            ("created_by", OptInt),
        ],
    ),
    (
        "api_token_subscriptions",
        false,
        &[("token_id", Int), ("subscription_id", Text)],
    ),
    (
        "widget_tokens",
        true,
        &[
            ("id", Int),
            ("name", Text),
            ("token_hash", Text),
            ("subscription_id", Text),
            ("categories", Text),
            ("created_by", Int),
            ("created_at", Int),
            ("expires_at", Int),
            ("revoked_at", OptInt),
        ],
    ),
    (
        "rate_cards",
        true,
        &[
            ("id", Int),
            ("card", Text),
            ("saved_at", Int),
            ("saved_by", Text),
        ],
    ),
    (
        "chargeback_runs",
        true,
        &[
            ("id", Int),
            ("period", Text),
            ("time_zone", Text),
            ("group_by", Text),
            ("statement", Text),
            ("computed_at", Int),
            ("computed_by", Text),
        ],
    ),
    (
        "closed_periods",
        false,
        &[
            ("period", Text),
            ("time_zone", Text),
            ("closed_at", Int),
            ("closed_by", Text),
        ],
    ),
    (
        "webhooks",
        true,
        &[
            ("id", Int),
            ("url", Text),
            ("secret", Text),
            ("created_at", Int),
            ("created_by", Text),
            ("deleted_at", OptInt),
        ],
    ),
    (
        "webhook_deliveries",
        true,
        &[
            ("id", Int),
            ("webhook_id", Int),
            ("event", Text),
            ("idempotency_key", Text),
            ("payload", Text),
            ("created_at", Int),
            ("status", Text),
            ("attempts", Int),
            ("next_attempt_at", Int),
            ("last_attempt_at", OptInt),
            ("last_status", OptInt),
            ("last_error", OptText),
            ("delivered_at", OptInt),
        ],
    ),
    ("offers", false, &[("name", Text), ("display_name", Text)]),
    ("plans", false, &[("name", Text), ("display_name", Text)]),
    (
        "directory_subscriptions",
        false,
        &[
            ("subscription_id", Text),
            ("display_name", Text),
            ("owner", Text),
            ("state", Text),
            ("offer", OptText),
            ("tenant_id", OptText),
            ("delegated_provider", OptText),
            ("tags", Text),
            ("source", Text),
            ("updated_at", Int),
        ],
    ),
    (
        "directory_plans",
        false,
        &[("subscription_id", Text), ("plan", Text)],
    ),
    (
        "claim_rules",
        true,
        &[
            ("id", Int),
            ("issuer", Text),
            ("claim", Text),
            ("value", Text),
            ("role", Text),
            ("subscriptions", Text),
            ("created_at", Int),
            ("created_by", Text),
        ],
    ),
    (
        "audit_log",
        true,
        &[
            ("id", Int),
            ("at", Int),
            ("actor", Text),
            ("action", Text),
            ("target", Text),
            ("address", Text),
            ("detail", Text),
        ],
    ),
    ("settings", false, &[("name", Text), ("value", Blob)]),
];

/// Rows per INSERT when copying a table (at most 13 columns: well under PostgreSQL's 65,535
/// parameters).
const ROWS_PER_INSERT: usize = 1_000;
/// Usage records per ingested batch.
const RECORDS_PER_BATCH: i64 = 20_000;

/// What was copied, and what each side holds afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyReport {
    /// Per table: rows in the source, rows in the target.
    pub tables: Vec<(String, u64, u64)>,
    /// Usage records and their total quantity: source, target.
    pub usage: ((u64, f64), (u64, f64)),
}

impl CopyReport {
    /// Whether the target holds what the source does (sums may differ in the last bits:
    /// floating-point addition in another order).
    pub fn matches(&self) -> bool {
        let ((n_from, sum_from), (n_to, sum_to)) = self.usage;
        let close = (sum_from - sum_to).abs() <= 1e-9 * sum_from.abs().max(1.0);
        self.tables.iter().all(|(_, a, b)| a == b) && n_from == n_to && close
    }
}

/// Copies the SQLite store at `from` into the empty PostgreSQL store at `to`; `progress` hears
/// the number of usage records copied so far.
pub async fn sqlite_to_postgres(
    from: &str,
    to: &str,
    progress: impl Fn(u64),
) -> Result<CopyReport, StoreError> {
    if !from.starts_with("sqlite:") {
        return Err(StoreError::UnsupportedUrl(format!(
            "{from} (the source must be sqlite://FILE)"
        )));
    }
    if !(to.starts_with("postgres:") || to.starts_with("postgresql:")) {
        return Err(StoreError::UnsupportedUrl(format!(
            "{to} (the target must be postgres://USER@HOST/DATABASE)"
        )));
    }
    let source = SqliteStore::open(from).await?;
    let target = PostgresStore::open(to).await?;
    let (src, dst) = (source.pool(), target.pool());
    let held: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM api_tokens)
              + (SELECT COUNT(*) FROM audit_log) + (SELECT COUNT(*) FROM subscriptions)",
    )
    .fetch_one(dst)
    .await?;
    if held > 0 {
        return Err(StoreError::Conflict(
            "the target database already holds Meterbook data; migrate into an empty one".into(),
        ));
    }

    let mut tx = dst.begin().await?;
    for (table, numbered, columns) in TABLES {
        copy_table(src, &mut tx, table, columns).await?;
        if *numbered {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                               (SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
            ))
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;

    copy_usage(src, &target, &progress).await?;

    let mut tables = Vec::with_capacity(TABLES.len());
    for (table, _, _) in TABLES {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let a: i64 = sqlx::query_scalar(&sql).fetch_one(src).await?;
        let b: i64 = sqlx::query_scalar(&sql).fetch_one(dst).await?;
        tables.push(((*table).to_owned(), a as u64, b as u64));
    }
    let usage_of = |pool_is_sqlite: bool| async move {
        let sql = "SELECT COUNT(*) AS n, COALESCE(SUM(quantity), 0) AS total FROM usage_records";
        let (n, total): (i64, f64) = if pool_is_sqlite {
            let row = sqlx::query(sql).fetch_one(src).await?;
            (row.try_get("n")?, row.try_get("total")?)
        } else {
            let row = sqlx::query(sql).fetch_one(dst).await?;
            (row.try_get("n")?, row.try_get("total")?)
        };
        Ok::<_, StoreError>((n as u64, total))
    };
    let usage = (usage_of(true).await?, usage_of(false).await?);
    Ok(CopyReport { tables, usage })
}

/// Copies one table's rows, with their IDs.
async fn copy_table(
    src: &SqlitePool,
    tx: &mut sqlx::PgConnection,
    table: &str,
    columns: &[(&str, Kind)],
) -> Result<(), StoreError> {
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let list = names.join(", ");
    let rows = sqlx::query(&format!("SELECT {list} FROM {table}"))
        .fetch_all(src)
        .await?;
    // Numbered tables generate their IDs; the copied ones are kept.
    let overriding = if names.first() == Some(&"id") {
        " OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut insert =
            QueryBuilder::<Postgres>::new(format!("INSERT INTO {table} ({list}){overriding} "));
        let mut failed = None;
        insert.push_values(chunk, |mut values, row| {
            for (name, kind) in columns {
                let bound = match kind {
                    Int => row.try_get::<i64, _>(*name).map(|v| {
                        values.push_bind(v);
                    }),
                    OptInt => row.try_get::<Option<i64>, _>(*name).map(|v| {
                        values.push_bind(v);
                    }),
                    Text => row.try_get::<String, _>(*name).map(|v| {
                        values.push_bind(v);
                    }),
                    OptText => row.try_get::<Option<String>, _>(*name).map(|v| {
                        values.push_bind(v);
                    }),
                    Blob => row.try_get::<Vec<u8>, _>(*name).map(|v| {
                        values.push_bind(v);
                    }),
                };
                if let Err(e) = bound {
                    failed.get_or_insert(e);
                }
            }
        });
        if let Some(e) = failed {
            return Err(e.into());
        }
        insert.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Copies every usage record through the target's ingest, in batches of the source's row order.
async fn copy_usage(
    src: &SqlitePool,
    target: &PostgresStore,
    progress: &impl Fn(u64),
) -> Result<(), StoreError> {
    let mut after: i64 = 0;
    let mut copied: u64 = 0;
    loop {
        let rows = sqlx::query(
            "SELECT u.id, u.usage_start, s.subscription_id, m.meter_id, r.resource_uri,
                    u.usage_end, u.reported_time, u.quantity, u.location, u.tags, u.additional_info
             FROM usage_records u
             JOIN subscriptions s ON s.id = u.subscription
             JOIN meters m ON m.id = u.meter
             JOIN resources r ON r.id = u.resource
             WHERE u.id > $1 ORDER BY u.id LIMIT $2",
        )
        .bind(after)
        .bind(RECORDS_PER_BATCH)
        .fetch_all(src)
        .await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.try_get("id")?;
        let batch = rows
            .iter()
            .map(|row| {
                let subscription: String = row.try_get("subscription_id")?;
                Ok(UsageRecord {
                    subscription_id: SubscriptionId::parse(&subscription)
                        .map_err(|e| sqlx::Error::Decode(e.into()))?,
                    meter_id: row.try_get("meter_id")?,
                    instance: InstanceData {
                        resource_uri: row.try_get("resource_uri")?,
                        location: row.try_get("location")?,
                        tags: json_object(row.try_get("tags")?),
                        additional_info: json_object(row.try_get("additional_info")?),
                    },
                    usage_start: from_epoch(row.try_get("usage_start")?),
                    usage_end: from_epoch(row.try_get("usage_end")?),
                    reported_time: Some(from_epoch(row.try_get("reported_time")?)),
                    quantity: row.try_get("quantity")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        target.ingest(&batch, Utc::now()).await?;
        copied += batch.len() as u64;
        progress(copied);
    }
}
