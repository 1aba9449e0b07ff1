//! What billing keeps: rate cards (every save a new revision; the newest is in effect, earlier
//! ones stay as the record of what prices were), chargeback runs and closed periods.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meterbook_core::rating::statement::Statement;
use meterbook_core::rating::RateCard;

use super::StoreError;

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
    /// The latest run of a statement, if any.
    async fn last_run(&self, key: StatementKey<'_>) -> Result<Option<StoredRun>, StoreError>;

    /// The groupings a period has runs of.
    async fn run_groupings(&self, period: &str, time_zone: &str)
        -> Result<Vec<String>, StoreError>;

    /// When a period was closed, if it was.
    async fn period_closed_at(
        &self,
        period: &str,
        time_zone: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
}
