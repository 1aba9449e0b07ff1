//! Storage of usage records, tokens and settings behind one trait, so the API and the portal do
//! not know which database they run on. SQL lives only below this module.

mod accounts;
pub mod copy;
mod dialect;
mod directory;
mod explore;
mod identity;
mod names;
mod postgres;
mod rates;
mod reads;
mod shared;
mod sqlite;
mod webhooks;
mod widgets;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meterbook_core::explore::{TimeBasis, UsageFact};
use meterbook_core::overview::DailyMeterTotal;
use meterbook_core::page::{Page, PageKey};
use meterbook_core::query::AggregateQuery;
use meterbook_core::rating::statement::TaggedUsage;
use meterbook_core::usage::{AggregateLine, UsageRecord};
use meterbook_core::SubscriptionId;
use serde::Serialize;

pub use accounts::{
    AccountStore, AuditEntry, NewSession, NewToken, SessionInfo, TokenInfo, UserInfo,
};
pub use directory::{DirectoryStore, EntrySource, PutCounts, PutOutcome};
pub use explore::{ExploreRequest, RowReceiver};
pub use identity::{IdentityStore, StoredRule};
pub use postgres::PostgresStore;
pub use rates::{ChargebackStore, RateStore, StatementKey, StoredRateCard, StoredRun};
pub use shared::{ChangeStore, Changes};
pub use sqlite::SqliteStore;
pub use webhooks::{
    AttemptResult, DeliveryInfo, DeliveryStatus, DueDelivery, Push, WebhookInfo, WebhookStore,
};
pub use widgets::{NewWidget, WidgetInfo, WidgetStore};

/// What went wrong in the store. Callers turn these into generic 5xx answers and log the cause.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database is busy")]
    Busy(#[source] sqlx::Error),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("migrating the database failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL '{0}': use sqlite://FILE or postgres://USER@HOST/DATABASE")]
    UnsupportedUrl(String),
    /// A unique name is already taken; the message says which.
    #[error("{0}")]
    Conflict(String),
    #[error("no randomness available: {0}")]
    Random(String),
    /// Stored data the store cannot read back (a hand-edited row).
    #[error("unreadable stored data: {0}")]
    Corrupt(String),
    /// What this kind of store does not do; the message says what to do instead.
    #[error("{0}")]
    Unsupported(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return Self::Conflict(db.message().to_owned());
            }
        }
        let busy = matches!(&e, sqlx::Error::PoolTimedOut)
            || matches!(&e, sqlx::Error::Database(db) if db.message().contains("database is locked"));
        if busy {
            Self::Busy(e)
        } else {
            Self::Database(e)
        }
    }
}

/// How a batch of records changed the store.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IngestOutcome {
    /// Records with a key the store did not have.
    pub accepted: u64,
    /// Records identical in quantity to what the store (or the batch, earlier) already had.
    pub duplicates: u64,
    /// Records with a known key and a different quantity: they replaced the earlier one.
    pub corrected: u64,
}

/// One page of ARM usage aggregates to read.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateRequest {
    /// `None` reads every subscription.
    pub subscription: Option<SubscriptionId>,
    pub query: AggregateQuery,
    /// Continue after this key.
    pub after: Option<PageKey>,
    pub limit: usize,
}

/// Where Meterbook keeps what it knows.
#[async_trait]
pub trait UsageStore: Send + Sync + 'static {
    /// Writes a batch atomically: all records or none. A record without a reported time gets
    /// `received_at`.
    async fn ingest(
        &self,
        records: &[UsageRecord],
        received_at: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError>;

    /// One keyset page of aggregates, ordered by (bucket, subscription, meter, resource).
    async fn aggregates(
        &self,
        request: &AggregateRequest,
    ) -> Result<Page<AggregateLine>, StoreError>;

    /// Per subscription, meter and UTC day of usage: the totals of records used in `[from, to)`
    /// rounded out to whole UTC days, of the given subscriptions (`None`: all).
    async fn daily_totals(
        &self,
        subscriptions: Option<&[SubscriptionId]>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DailyMeterTotal>, StoreError>;

    /// Up to `limit` usage records of the given subscriptions (`None`: all) whose usage or
    /// reported time (`basis`) is in `[from, to)`, for the explorer.
    async fn facts(
        &self,
        subscriptions: Option<&[SubscriptionId]>,
        basis: TimeBasis,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<UsageFact>, StoreError>;

    /// One explorer view of the given subscriptions' usage, computed by the database.
    async fn explore(
        &self,
        request: &ExploreRequest<'_>,
    ) -> Result<meterbook_core::explore::Exploration, StoreError>;

    /// Every row of an explorer query, in its order, read as the receiver takes them.
    async fn explore_rows(&self, request: &ExploreRequest<'_>) -> Result<RowReceiver, StoreError>;

    /// Per subscription, meter, span (each from one of the ascending `spans` to the next, the
    /// last to `end`) and value of the tag `tag_key` (when given): the usage of the records of the
    /// given subscriptions (`None`: all) that started in the span, dated at its start. Chargeback
    /// reads spans over which prices do not change, so totals price as the hours would.
    async fn usage_totals(
        &self,
        subscriptions: Option<&[SubscriptionId]>,
        spans: &[DateTime<Utc>],
        end: DateTime<Utc>,
        tag_key: Option<&str>,
    ) -> Result<Vec<TaggedUsage>, StoreError>;

    /// How many usage records are stored.
    async fn record_count(&self) -> Result<u64, StoreError>;

    /// The secret that signs continuation tokens: created once, then the same for every process.
    async fn signing_secret(&self) -> Result<Vec<u8>, StoreError>;

    /// Whether the database answers and holds every migration this binary has (readiness).
    async fn migrations_current(&self) -> Result<bool, StoreError>;

    /// Writes a consistent copy of the whole store to a new file at `to`, while it keeps serving
    /// (SQLite's `VACUUM INTO`). PostgreSQL is backed up with its own tools (`pg_dump`).
    async fn backup_to(&self, to: &std::path::Path) -> Result<(), StoreError>;

    /// The connection pools as they are now, for metrics.
    fn pools(&self) -> Vec<PoolUse>;
}

/// How much of a connection pool is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    pub name: &'static str,
    /// Connections open, idle or not.
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

impl PoolUse {
    fn of<DB: sqlx::Database>(name: &'static str, pool: &sqlx::Pool<DB>) -> Self {
        Self {
            name,
            size: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        }
    }
}

/// The newest migration the database has applied (sqlx's own table, the same in both stores).
const LATEST_MIGRATION: &str = "SELECT MAX(version) FROM _sqlx_migrations WHERE success";

/// Whether `applied` (the newest applied version) covers every migration of `migrator`. A newer
/// database (migrated by a newer server) is current too.
fn migrations_current(applied: Option<i64>, migrator: &sqlx::migrate::Migrator) -> bool {
    applied >= migrator.iter().map(|m| m.version).max()
}

/// Everything Meterbook stores: usage, people and credentials, widgets, rate cards, chargeback
/// runs and webhook deliveries.
pub trait Store:
    UsageStore
    + AccountStore
    + WidgetStore
    + RateStore
    + ChargebackStore
    + WebhookStore
    + DirectoryStore
    + IdentityStore
    + ChangeStore
{
}

impl<T> Store for T where
    T: UsageStore
        + AccountStore
        + WidgetStore
        + RateStore
        + ChargebackStore
        + WebhookStore
        + DirectoryStore
        + IdentityStore
        + ChangeStore
{
}

/// Opens the store a database URL names, creating and migrating it as needed.
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(std::sync::Arc::new(PostgresStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}
