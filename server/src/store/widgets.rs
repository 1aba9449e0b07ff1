//! Widget tokens: read-only, expiring links to one subscription's usage summary.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meterbook_core::SubscriptionId;
use serde::Serialize;

use super::StoreError;

/// A stored widget token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WidgetInfo {
    pub id: i64,
    pub name: String,
    pub subscription: SubscriptionId,
    /// Meter categories shown; empty for all.
    pub categories: Vec<String>,
    pub created_by: i64,
    pub created_by_name: String,
    /// Whether the creator may still read the subscription (enabled, and an operator or granted
    /// it): a widget never shows more than the person who made it may see.
    pub creator_can_read: bool,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A widget token to store: only its hash.
#[derive(Debug, Clone)]
pub struct NewWidget<'a> {
    pub name: &'a str,
    pub token_hash: &'a str,
    pub subscription: &'a SubscriptionId,
    pub categories: &'a [String],
    pub created_by: i64,
    pub expires_at: DateTime<Utc>,
}

#[async_trait]
/// Widgets as read; they are created and revoked in [`super::Changes`].
pub trait WidgetStore: Send + Sync + 'static {
    /// The widget a token hash belongs to, revoked and expired ones included (so the page can say
    /// which), or `None` for an unknown token.
    async fn widget_by_hash(&self, token_hash: &str) -> Result<Option<WidgetInfo>, StoreError>;

    /// Widgets created by `created_by`, or every widget for `None`; newest first.
    async fn list_widgets(&self, created_by: Option<i64>) -> Result<Vec<WidgetInfo>, StoreError>;
}
