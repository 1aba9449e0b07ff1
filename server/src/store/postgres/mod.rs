//! The PostgreSQL store, for clouds that outgrow one machine: any number of `meterbook serve`
//! processes share it. Usage is partitioned by month of usage time, and daily rollups are kept
//! in step with every batch so long ranges read days, not hours.

mod ingest;
mod totals;

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
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
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};

use super::dialect::Dialect;
use super::names::NameCache;
use super::reads::{daily_total, UsageReads};
use super::shared::{self, SharedSql};
use super::{AggregateRequest, IngestOutcome, StoreError, UsageStore};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// The SQL both stores run (accounts, widgets, webhooks, billing), on sqlx's `Any` driver.
    shared: sqlx::AnyPool,
    names: Arc<NameCache>,
    /// First seconds of the months whose usage partition is known to exist.
    partitions: Arc<Mutex<HashSet<i64>>>,
}

impl SharedSql for PostgresStore {
    fn shared(&self) -> &sqlx::AnyPool {
        &self.shared
    }
}

impl PostgresStore {
    /// The explorer's SQL on this store's pool.
    /// The usage reads on this store's pool.
    fn reads(&self) -> UsageReads<'_, sqlx::Postgres> {
        UsageReads {
            pool: &self.pool,
            dialect: Dialect::Postgres,
        }
    }

    fn explorer(&self) -> super::explore::Sql<'_, sqlx::Postgres> {
        super::explore::Sql {
            pool: &self.pool,
            dialect: Dialect::Postgres,
        }
    }

    /// Connects to the database at `url` (`postgres://user@host/db`; a `?options=-c
    /// search_path=SCHEMA` parameter selects a schema) and applies pending migrations. Several
    /// processes may start at once: migrations run under PostgreSQL's advisory lock.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        // Prepared statements are planned for their arguments every time: a generic plan,
        // which PostgreSQL may switch to after five runs, cannot see that a page's time window
        // is narrow and scans far more than it needs.
        let options =
            PgConnectOptions::from_str(url)?.options([("plan_cache_mode", "force_custom_plan")]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let shared = shared::open_pool(url, 8, "").await?;
        Ok(Self {
            pool,
            shared,
            names: Arc::default(),
            partitions: Arc::default(),
        })
    }
}

impl PostgresStore {
    /// The connection pool, for copying a store across (`meterbook migrate`).
    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl UsageStore for PostgresStore {
    async fn ingest(
        &self,
        records: &[UsageRecord],
        received_at: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError> {
        self.write_batch(records, received_at).await
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
        // From the rollup: a month of a busy cloud is thousands of rows here, not millions.
        // Whole days: callers ask for UTC days; a partial day would need the hourly rows.
        let days = (
            from.timestamp().div_euclid(DAY_SECONDS),
            (to.timestamp() + DAY_SECONDS - 1).div_euclid(DAY_SECONDS),
        );
        let select = "SELECT s.subscription_id, m.meter_id, d.day, d.quantity, d.records
             FROM usage_daily d
             JOIN subscriptions s ON s.id = d.subscription
             JOIN meters m ON m.id = d.meter
             WHERE d.day >= $1 AND d.day < $2 AND d.records > 0";
        let order = "ORDER BY s.subscription_id, m.meter_id, d.day";
        // Two statements, not one with an optional filter, so each gets its own plan: a
        // tenant's read walks its rows of the (subscription, day) index.
        let rows = match subscriptions {
            Some(subs) => {
                let ids: Vec<&str> = subs.iter().map(SubscriptionId::as_str).collect();
                sqlx::query(&format!(
                    "{select} AND d.subscription IN
                       (SELECT id FROM subscriptions WHERE subscription_id = ANY($3)) {order}"
                ))
                .bind(days.0)
                .bind(days.1)
                .bind(ids)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!("{select} {order}"))
                    .bind(days.0)
                    .bind(days.1)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
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

    async fn backup_to(&self, _to: &std::path::Path) -> Result<(), StoreError> {
        Err(StoreError::Unsupported(
            "a PostgreSQL store is backed up with PostgreSQL's tools: \
             pg_dump --format=custom --file=meterbook.dump DATABASE (consistent while serving), \
             restored with pg_restore --clean --if-exists --dbname=DATABASE meterbook.dump"
                .to_owned(),
        ))
    }

    async fn migrations_current(&self) -> Result<bool, StoreError> {
        let applied: Option<i64> = sqlx::query_scalar(super::LATEST_MIGRATION)
            .fetch_one(&self.pool)
            .await?;
        Ok(super::migrations_current(applied, &MIGRATOR))
    }

    fn pools(&self) -> Vec<super::PoolUse> {
        vec![
            super::PoolUse::of("postgres", &self.pool),
            super::PoolUse::of("postgres_shared", &self.shared),
        ]
    }
}
