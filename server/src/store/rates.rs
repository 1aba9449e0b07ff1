//! Rate cards: the prices chargeback applies. Every save is a new revision; the newest is in
//! effect, and earlier ones stay as the record of what prices were.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
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
    /// Saves `card` as the new rate card in effect; returns its revision.
    async fn save_rate_card(&self, card: &RateCard, saved_by: &str) -> Result<i64, StoreError>;

    /// The rate card in effect, or `None` before the first is saved.
    async fn rate_card(&self) -> Result<Option<StoredRateCard>, StoreError>;
}
