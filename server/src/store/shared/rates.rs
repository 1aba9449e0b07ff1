//! Rate cards, chargeback runs and closed periods in the shared SQL.

use async_trait::async_trait;
use chrono::Utc;
use meterbook_core::rating::statement::Statement;
use meterbook_core::rating::{RateCard, RateCardDraft};
use meterbook_core::time::from_epoch;
use sqlx::Row;

use super::{Changes, SharedSql};
use crate::store::{
    ChargebackStore, Push, RateStore, StatementKey, StoreError, StoredRateCard, StoredRun,
};

#[async_trait]
impl<S: SharedSql> RateStore for S {
    async fn rate_card(&self) -> Result<Option<StoredRateCard>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT id, card, saved_at, saved_by FROM rate_cards
             ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(self.shared())
        .await?
        else {
            return Ok(None);
        };
        let revision: i64 = row.try_get("id")?;
        let json: String = row.try_get("card")?;
        // Only a hand-edited row can fail here: the store writes checked cards.
        let corrupt =
            |e: String| StoreError::Corrupt(format!("rate card revision {revision}: {e}"));
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

#[async_trait]
impl<S: SharedSql> ChargebackStore for S {
    async fn last_run(&self, key: StatementKey<'_>) -> Result<Option<StoredRun>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT id, statement, computed_by FROM chargeback_runs
             WHERE period = $1 AND time_zone = $2 AND group_by = $3
             ORDER BY id DESC LIMIT 1",
        )
        .bind(key.period)
        .bind(key.time_zone)
        .bind(key.group_by)
        .fetch_optional(self.shared())
        .await?
        else {
            return Ok(None);
        };
        let id: i64 = row.try_get("id")?;
        let json: String = row.try_get("statement")?;
        let statement = serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("chargeback run {id}: {e}")))?;
        Ok(Some(StoredRun {
            id,
            statement,
            computed_by: row.try_get("computed_by")?,
        }))
    }

    async fn run_groupings(
        &self,
        period: &str,
        time_zone: &str,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT group_by FROM chargeback_runs
             WHERE period = $1 AND time_zone = $2 ORDER BY group_by",
        )
        .bind(period)
        .bind(time_zone)
        .fetch_all(self.shared())
        .await?)
    }

    async fn period_closed_at(
        &self,
        period: &str,
        time_zone: &str,
    ) -> Result<Option<chrono::DateTime<Utc>>, StoreError> {
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT closed_at FROM closed_periods WHERE period = $1 AND time_zone = $2",
        )
        .bind(period)
        .bind(time_zone)
        .fetch_optional(self.shared())
        .await?;
        Ok(at.map(from_epoch))
    }
}

impl Changes {
    /// Saves `card` as the new rate card in effect; returns its revision.
    pub async fn save_rate_card(
        &mut self,
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
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// Keeps a statement of every subscription; returns the run's ID.
    pub async fn save_run(
        &mut self,
        key: StatementKey<'_>,
        statement: &Statement,
        computed_by: &str,
    ) -> Result<i64, StoreError> {
        let json =
            serde_json::to_string(statement).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO chargeback_runs
                 (period, time_zone, group_by, statement, computed_at, computed_by)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(key.period)
        .bind(key.time_zone)
        .bind(key.group_by)
        .bind(json)
        .bind(statement.computed_at.timestamp())
        .bind(computed_by)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// Marks a period closed at `closed_at` and queues `pushes` to every webhook; returns how
    /// many deliveries were queued, or `None` (and nothing queued) if the period already was
    /// closed.
    pub async fn close_period(
        &mut self,
        period: &str,
        time_zone: &str,
        closed_by: &str,
        closed_at: chrono::DateTime<Utc>,
        pushes: &[Push],
    ) -> Result<Option<u64>, StoreError> {
        let now = closed_at.timestamp();
        let done = sqlx::query(
            "INSERT INTO closed_periods (period, time_zone, closed_at, closed_by)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(period)
        .bind(time_zone)
        .bind(now)
        .bind(closed_by)
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        let mut queued = 0;
        for push in pushes {
            queued += self.queue_push_at(push, closed_at).await?;
        }
        Ok(Some(queued))
    }
}
