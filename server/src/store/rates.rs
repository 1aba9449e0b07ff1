//! What billing keeps: rate cards (every save a new revision; the newest is in effect, earlier
//! ones stay as the record of what prices were), chargeback runs and closed periods.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meterbook_core::rating::statement::Statement;
use meterbook_core::rating::RateCard;

use super::{Push, StoreError};

/// The rate card in effect, and when and by whom it was saved.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRateCard {
    pub revision: i64,
    pub card: RateCard,
    pub saved_at: DateTime<Utc>,
    pub saved_by: String,
}

#[async_trait]
pub trait RateStore: Send + Sync + 'static {
    /// Saves `card` as the new rate card in effect; returns its revision.
    async fn save_rate_card(&self, card: &RateCard, saved_by: &str) -> Result<i64, StoreError>;

    /// The rate card in effect, or `None` before the first is saved.
    async fn rate_card(&self) -> Result<Option<StoredRateCard>, StoreError>;
}

/// A statement as it was computed and kept.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRun {
    pub id: i64,
    pub statement: Statement,
    pub computed_by: String,
}

/// Which statement: a period (its label), the time zone it is in, and a grouping (`subscription`
/// or `tag:KEY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementKey<'a> {
    pub period: &'a str,
    pub time_zone: &'a str,
    pub group_by: &'a str,
}

#[async_trait]
pub trait ChargebackStore: Send + Sync + 'static {
    /// Keeps a statement of every subscription; returns the run's ID.
    async fn save_run(
        &self,
        key: StatementKey<'_>,
        statement: &Statement,
        computed_by: &str,
    ) -> Result<i64, StoreError>;

    /// The latest run of a statement, if any.
    async fn last_run(&self, key: StatementKey<'_>) -> Result<Option<StoredRun>, StoreError>;

    /// The groupings a period has runs of.
    async fn run_groupings(&self, period: &str, time_zone: &str)
        -> Result<Vec<String>, StoreError>;

    /// Marks a period closed at `closed_at` and queues `pushes` to every webhook, both or
    /// neither; returns how many deliveries were queued, or `None` (and nothing queued) if the
    /// period already was closed.
    async fn close_period(
        &self,
        period: &str,
        time_zone: &str,
        closed_by: &str,
        closed_at: DateTime<Utc>,
        pushes: &[Push],
    ) -> Result<Option<u64>, StoreError>;

    /// When a period was closed, if it was.
    async fn period_closed_at(
        &self,
        period: &str,
        time_zone: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
}
