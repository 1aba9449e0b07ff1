//! [`RateStore`](crate::store::RateStore) in SQL that SQLite and PostgreSQL both run (see
//! [`account_store`](super::account_store) for why this is a macro).

/// Implements `RateStore` for `$store` (a struct with a `pool`).
macro_rules! rate_store {
    ($store:ty) => {
        mod rate_store_impl {
            use async_trait::async_trait;
            use chrono::Utc;
            use meterbook_core::rating::{RateCard, RateCardDraft};
            use meterbook_core::time::from_epoch;
            use sqlx::Row;

            use crate::store::{RateStore, StoreError, StoredRateCard};

            #[async_trait]
            impl RateStore for $store {
                async fn save_rate_card(
                    &self,
                    card: &RateCard,
                    saved_by: &str,
                ) -> Result<i64, StoreError> {
                    let json = serde_json::to_string(&card.to_draft())
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO rate_cards (card, saved_at, saved_by) VALUES ($1, $2, $3)
                         RETURNING id",
                    )
                    .bind(json)
                    .bind(Utc::now().timestamp())
                    .bind(saved_by)
                    .fetch_one(&self.pool)
                    .await?;
                    Ok(id)
                }

                async fn rate_card(&self) -> Result<Option<StoredRateCard>, StoreError> {
                    let Some(row) = sqlx::query(
                        "SELECT id, card, saved_at, saved_by FROM rate_cards
                         ORDER BY id DESC LIMIT 1",
                    )
                    .fetch_optional(&self.pool)
                    .await?
                    else {
                        return Ok(None);
                    };
                    let revision: i64 = row.try_get("id")?;
                    let json: String = row.try_get("card")?;
                    // Only a hand-edited row can fail here: the store writes checked cards.
                    let corrupt = |e: String| {
                        StoreError::Corrupt(format!("rate card revision {revision}: {e}"))
                    };
                    let draft: RateCardDraft =
                        serde_json::from_str(&json).map_err(|e| corrupt(e.to_string()))?;
                    let card = RateCard::parse(draft).map_err(|e| corrupt(e.to_string()))?;
                    Ok(Some(StoredRateCard {
                        revision,
                        card,
                        saved_at: from_epoch(row.try_get("saved_at")?),
                        saved_by: row.try_get("saved_by")?,
                    }))
                }
            }
        }
    };
}

pub(crate) use rate_store;
