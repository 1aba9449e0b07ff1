//! Webhooks and their delivery log in the shared SQL.

/// Queues a push to every configured webhook: `$1` event, `$2` idempotency key prefix, `$3`
/// payload, `$4` now. Closing a period runs it in the closing transaction, so a period is never
/// closed without its pushes queued.
const QUEUE_PUSH: &str = "INSERT INTO webhook_deliveries
        (webhook_id, event, idempotency_key, payload, created_at, status, attempts, next_attempt_at)
    SELECT id, $1, $2 || CAST(id AS TEXT), $3, $4, 'pending', 0, $4
    FROM webhooks WHERE deleted_at IS NULL ORDER BY id";

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meterbook_core::time::from_epoch;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Changes, SharedSql};
use crate::store::{
    AttemptResult, DeliveryInfo, DeliveryStatus, DueDelivery, Push, StoreError, WebhookInfo,
    WebhookStore,
};

/// Counts and HTTP statuses are small; a hand-edited row out of range reads as 0.
fn small(n: Option<i64>) -> Option<u16> {
    n.map(|n| u16::try_from(n).unwrap_or(0))
}

fn delivery_from_row(row: &AnyRow) -> Result<DeliveryInfo, StoreError> {
    let status: String = row.try_get("status")?;
    let status = DeliveryStatus::parse(&status).map_err(StoreError::Corrupt)?;
    let attempts: i64 = row.try_get("attempts")?;
    let next: i64 = row.try_get("next_attempt_at")?;
    let at = |column: &str| -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        Ok(row.try_get::<Option<i64>, _>(column)?.map(from_epoch))
    };
    Ok(DeliveryInfo {
        id: row.try_get("id")?,
        webhook_id: row.try_get("webhook_id")?,
        url: row.try_get("url")?,
        event: row.try_get("event")?,
        idempotency_key: row.try_get("idempotency_key")?,
        created_at: from_epoch(row.try_get("created_at")?),
        status,
        attempts: u32::try_from(attempts).unwrap_or(0),
        next_attempt_at: (status == DeliveryStatus::Pending).then(|| from_epoch(next)),
        last_attempt_at: at("last_attempt_at")?,
        last_status: small(row.try_get("last_status")?),
        last_error: row.try_get("last_error")?,
        delivered_at: at("delivered_at")?,
    })
}

#[async_trait]
impl<S: SharedSql> WebhookStore for S {
    async fn webhooks(&self) -> Result<Vec<WebhookInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, url, created_at, created_by FROM webhooks
             WHERE deleted_at IS NULL ORDER BY id",
        )
        .fetch_all(self.shared())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(WebhookInfo {
                    id: row.try_get("id")?,
                    url: row.try_get("url")?,
                    created_at: from_epoch(row.try_get("created_at")?),
                    created_by: row.try_get("created_by")?,
                })
            })
            .collect()
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        // The outer WHERE repeats the inner one: PostgreSQL re-checks it on a row
        // another sender updated meanwhile, and skips the row it just claimed.
        let rows = sqlx::query(
            "UPDATE webhook_deliveries
             SET attempts = attempts + 1, next_attempt_at = $2
             WHERE id IN (
                 SELECT id FROM webhook_deliveries
                 WHERE status = 'pending' AND next_attempt_at <= $1
                 ORDER BY next_attempt_at, id LIMIT $3)
               AND status = 'pending' AND next_attempt_at <= $1
             RETURNING id, event, idempotency_key, payload, attempts,
                 (SELECT url FROM webhooks w
                  WHERE w.id = webhook_deliveries.webhook_id) AS url,
                 (SELECT secret FROM webhooks w
                  WHERE w.id = webhook_deliveries.webhook_id) AS secret",
        )
        .bind(now.timestamp())
        .bind(lease_until.timestamp())
        .bind(i64::from(limit))
        .fetch_all(self.shared())
        .await?;
        let mut due = rows
            .iter()
            .map(|row| {
                let attempts: i64 = row.try_get("attempts")?;
                Ok(DueDelivery {
                    id: row.try_get("id")?,
                    url: row.try_get("url")?,
                    secret: row.try_get("secret")?,
                    event: row.try_get("event")?,
                    idempotency_key: row.try_get("idempotency_key")?,
                    payload: row.try_get("payload")?,
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        due.sort_by_key(|d| d.id);
        Ok(due)
    }

    async fn record_attempt(
        &self,
        delivery: &DueDelivery,
        result: &AttemptResult,
    ) -> Result<(), StoreError> {
        let status = match (&result.error, result.retry_at) {
            (None, _) => DeliveryStatus::Delivered,
            (Some(_), Some(_)) => DeliveryStatus::Pending,
            (Some(_), None) => DeliveryStatus::Failed,
        };
        let at = result.at.timestamp();
        sqlx::query(
            "UPDATE webhook_deliveries
             SET status = $3, last_attempt_at = $4, last_status = $5,
                 last_error = $6, delivered_at = $7,
                 next_attempt_at = COALESCE($8, next_attempt_at)
             WHERE id = $1 AND attempts = $2 AND status = 'pending'",
        )
        .bind(delivery.id)
        .bind(i64::from(delivery.attempts))
        .bind(status.as_str())
        .bind(at)
        .bind(result.http_status.map(i64::from))
        .bind(result.error.as_deref())
        .bind((status == DeliveryStatus::Delivered).then_some(at))
        .bind(result.retry_at.map(|t| t.timestamp()))
        .execute(self.shared())
        .await?;
        Ok(())
    }

    async fn deliveries(
        &self,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<DeliveryInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.id, d.webhook_id, w.url, d.event, d.idempotency_key,
                 d.created_at, d.status, d.attempts, d.next_attempt_at,
                 d.last_attempt_at, d.last_status, d.last_error, d.delivered_at
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
             WHERE ($1 IS NULL OR d.status = $1)
             ORDER BY d.id DESC LIMIT $2",
        )
        .bind(status.map(DeliveryStatus::as_str))
        .bind(i64::from(limit))
        .fetch_all(self.shared())
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }
}

impl Changes {
    /// Adds a webhook; returns its ID.
    pub async fn add_webhook(
        &mut self,
        url: &str,
        secret: &str,
        created_by: &str,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO webhooks (url, secret, created_at, created_by)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(url)
        .bind(secret)
        .bind(Utc::now().timestamp())
        .bind(created_by)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    /// Stops pushing to a webhook and drops its pending deliveries (its log stays); false if
    /// there was no such webhook.
    pub async fn remove_webhook(&mut self, id: i64) -> Result<bool, StoreError> {
        let now = Utc::now().timestamp();
        let removed =
            sqlx::query("UPDATE webhooks SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(&mut *self.tx)
                .await?
                .rows_affected()
                == 1;
        sqlx::query(
            "UPDATE webhook_deliveries
             SET status = 'failed', last_error = 'the webhook was removed'
             WHERE webhook_id = $1 AND status = 'pending'",
        )
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(removed)
    }

    /// Queues `push` for every webhook; returns how many deliveries were queued.
    pub async fn queue_push(&mut self, push: &Push) -> Result<u64, StoreError> {
        self.queue_push_at(push, Utc::now()).await
    }

    /// [`Self::queue_push`] as of `now`.
    pub(super) async fn queue_push_at(
        &mut self,
        push: &Push,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(QUEUE_PUSH)
            .bind(push.event)
            .bind(&push.key_prefix)
            .bind(&push.payload)
            .bind(now.timestamp())
            .execute(&mut *self.tx)
            .await?
            .rows_affected())
    }

    /// Makes a failed delivery pending again, due now; false if there is no failed delivery of
    /// that ID to a webhook still configured.
    pub async fn retry_delivery(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $2
             WHERE id = $1 AND status = 'failed' AND webhook_id IN (
                 SELECT id FROM webhooks WHERE deleted_at IS NULL)",
        )
        .bind(id)
        .bind(now.timestamp())
        .execute(&mut *self.tx)
        .await?
        .rows_affected()
            == 1)
    }
}
