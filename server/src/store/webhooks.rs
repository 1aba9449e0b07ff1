//! What webhook pushes keep: the billing systems' URLs and secrets, and one delivery row per
//! statement and webhook, which is both the queue the sender works from and the delivery log
//! operators read.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::StoreError;

/// A configured webhook, without its secret.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookInfo {
    pub id: i64,
    pub url: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// A statement to send to every webhook configured when it is queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// `period.closed` or `statement.pushed`.
    pub event: &'static str,
    /// Each delivery's idempotency key is this followed by the webhook's ID: a receiver sees
    /// the same key for the same statement, however often it is sent.
    pub key_prefix: String,
    /// The JSON body.
    pub payload: String,
}

/// Where a delivery stands.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "failed" => Ok(Self::Failed),
            _ => Err(format!("'{text}' is not pending, delivered or failed")),
        }
    }
}

/// A delivery a sender has claimed: everything needed to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    pub id: i64,
    pub url: String,
    pub secret: String,
    pub event: String,
    pub idempotency_key: String,
    pub payload: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

/// How one attempt went, and what follows from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    pub http_status: Option<u16>,
    /// Why it failed (a connection error, a non-2xx answer); `None` when delivered.
    pub error: Option<String>,
    /// When to try again; `None` when delivered or out of attempts.
    pub retry_at: Option<DateTime<Utc>>,
}

/// One line of the delivery log.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryInfo {
    pub id: i64,
    pub webhook_id: i64,
    pub url: String,
    pub event: String,
    pub idempotency_key: String,
    pub created_at: DateTime<Utc>,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[async_trait]
/// Webhooks and deliveries as read and as senders work them; webhooks are added and removed,
/// and pushes queued, in [`super::Changes`].
pub trait WebhookStore: Send + Sync + 'static {
    /// The webhooks statements are pushed to, oldest first.
    async fn webhooks(&self) -> Result<Vec<WebhookInfo>, StoreError>;

    /// Claims up to `limit` deliveries due at `now`: each gets one more attempt and is not due
    /// again until `lease_until`, so no other sender takes it meanwhile.
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError>;

    /// Records how a claimed attempt went. Ignored when the claim was lost (the lease ran out
    /// and another sender took the delivery), so a slow sender cannot overwrite a newer result.
    async fn record_attempt(
        &self,
        delivery: &DueDelivery,
        result: &AttemptResult,
    ) -> Result<(), StoreError>;

    /// The newest deliveries first, up to `limit`, optionally of one status.
    async fn deliveries(
        &self,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<DeliveryInfo>, StoreError>;
}
