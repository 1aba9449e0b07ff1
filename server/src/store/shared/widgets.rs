//! Widget tokens in the shared SQL.

use async_trait::async_trait;
use chrono::Utc;
use meterbook_core::time::from_epoch;
use meterbook_core::SubscriptionId;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Changes, SharedSql};
use crate::store::{NewWidget, StoreError, WidgetInfo, WidgetStore};

/// `creator_can_read` is a number, not a boolean: `Any` reads SQLite's boolean expressions as
/// integers.
const WIDGET_COLUMNS: &str = "w.id, w.name, w.subscription_id, w.categories, w.created_by,
    u.username AS created_by_name, w.created_at, w.expires_at, w.revoked_at,
    CASE WHEN u.disabled_at IS NULL AND (u.role = 'operator' OR EXISTS (
        SELECT 1 FROM user_subscriptions us
        WHERE us.user_id = u.id AND us.subscription_id = w.subscription_id))
    THEN 1 ELSE 0 END AS creator_can_read
    FROM widget_tokens w JOIN users u ON u.id = w.created_by";

fn widget_from_row(row: &AnyRow) -> Result<WidgetInfo, sqlx::Error> {
    let subscription: String = row.try_get("subscription_id")?;
    let categories: String = row.try_get("categories")?;
    let revoked: Option<i64> = row.try_get("revoked_at")?;
    Ok(WidgetInfo {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        subscription: SubscriptionId::parse(&subscription)
            .map_err(|e| sqlx::Error::Decode(e.into()))?,
        categories: serde_json::from_str(&categories).unwrap_or_default(),
        created_by: row.try_get("created_by")?,
        created_by_name: row.try_get("created_by_name")?,
        creator_can_read: row.try_get::<i64, _>("creator_can_read")? != 0,
        created_at: from_epoch(row.try_get("created_at")?),
        expires_at: from_epoch(row.try_get("expires_at")?),
        revoked_at: revoked.map(from_epoch),
    })
}

#[async_trait]
impl<S: SharedSql> WidgetStore for S {
    async fn widget_by_hash(&self, token_hash: &str) -> Result<Option<WidgetInfo>, StoreError> {
        let row = sqlx::query(&format!("SELECT {WIDGET_COLUMNS} WHERE w.token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(self.shared())
            .await?;
        Ok(row.as_ref().map(widget_from_row).transpose()?)
    }

    async fn list_widgets(&self, created_by: Option<i64>) -> Result<Vec<WidgetInfo>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {WIDGET_COLUMNS} WHERE $1 IS NULL OR w.created_by = $1 ORDER BY w.id DESC"
        ))
        .bind(created_by)
        .fetch_all(self.shared())
        .await?;
        Ok(rows.iter().map(widget_from_row).collect::<Result<_, _>>()?)
    }
}

impl Changes {
    pub async fn create_widget(&mut self, widget: &NewWidget<'_>) -> Result<i64, StoreError> {
        let categories = serde_json::to_string(widget.categories).unwrap_or_else(|_| "[]".into());
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO widget_tokens
                 (name, token_hash, subscription_id, categories, created_by, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(widget.name)
        .bind(widget.token_hash)
        .bind(widget.subscription.as_str())
        .bind(categories)
        .bind(widget.created_by)
        .bind(Utc::now().timestamp())
        .bind(widget.expires_at.timestamp())
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// Revokes one live widget (only if `created_by` it, when given); false when there is none.
    pub async fn revoke_widget(
        &mut self,
        id: i64,
        created_by: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.revoke("widget_tokens", id, created_by).await
    }
}
