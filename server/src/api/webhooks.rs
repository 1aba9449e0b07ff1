//! Webhooks that receive pushed statements, and their delivery log; operators only:
//! - `GET /api/v1/webhooks`: the webhooks statements are pushed to.
//! - `POST /api/v1/webhooks` `{"url": "https://..."}`: adds one; the answer holds its signing
//!   secret, shown this once.
//! - `DELETE /api/v1/webhooks/{id}`: stops pushing to it (its pending deliveries fail; its log
//!   stays).
//! - `GET /api/v1/webhooks/deliveries?status=pending|delivered|failed&limit=100`: the delivery
//!   log, newest first.
//! - `POST /api/v1/webhooks/deliveries/{id}/retry`: gives a failed delivery another attempt.
//!
//! Statements are pushed by closing a period or by `POST /api/v1/chargeback/push` (see
//! [`super::billing`]).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use meterbook_core::audit::AuditAction;
use meterbook_core::ArmCode;
use serde::{Deserialize, Serialize};

use super::arm::{operators_only, param, query_params};
use crate::api_error::{unreadable_body, ApiError};
use crate::audit;
use crate::auth::Caller;
use crate::state::AppState;
use crate::store::{DeliveryInfo, DeliveryStatus, WebhookInfo};
use crate::webhooks::{check_url, new_secret};

/// Delivery log lines answered when no `limit` is given, and the most one answer holds.
const DEFAULT_LOG_LINES: u32 = 100;
const MAX_LOG_LINES: u32 = 1_000;
/// A webhook is a URL: its JSON is never near this.
const MAX_BODY_BYTES: usize = 16 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/webhooks", get(list).post(add))
        .route("/api/v1/webhooks/{id}", axum::routing::delete(remove))
        .route("/api/v1/webhooks/deliveries", get(deliveries))
        .route("/api/v1/webhooks/deliveries/{id}/retry", post(retry))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
}

#[derive(utoipa::ToSchema, Serialize)]
pub(super) struct Listed<T> {
    value: Vec<T>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Listed<WebhookInfo>>, ApiError> {
    operators_only(&caller, "read webhooks")?;
    Ok(Json(Listed {
        value: state.store.webhooks().await?,
    }))
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewWebhook {
    url: String,
}

#[derive(utoipa::ToSchema, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Added {
    id: i64,
    url: String,
    /// The key of the `Meterbook-Signature` HMAC: shown once, never again.
    secret: String,
    created_at: DateTime<Utc>,
}

async fn add(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<Added>), ApiError> {
    operators_only(&caller, "add webhooks")?;
    let body = body.map_err(|e| unreadable_body(&e, MAX_BODY_BYTES, "send {\"url\": ...}"))?;
    let new: NewWebhook = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ArmCode::InvalidProperty,
            format!("Send {{\"url\": \"https://...\"}}: {e}"),
        )
    })?;
    let url = check_url(new.url.trim(), &state.webhook_targets)
        .map_err(|e| ApiError::new(ArmCode::InvalidProperty, format!("url: {e}")))?;
    let secret = new_secret().map_err(|e| {
        tracing::error!(error = %e, "no randomness for a webhook secret");
        ApiError::new(ArmCode::InternalServerError, "No secret could be made")
    })?;
    let mut changes = state.store.begin().await?;
    let id = changes.add_webhook(&url, &secret, &caller.actor).await?;
    let target = format!("webhook {id}");
    audit::record(
        &mut changes,
        caller.event(AuditAction::WebhookAdd, &target, &url),
    )
    .await?;
    changes.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(Added {
            id,
            url,
            secret,
            created_at: Utc::now(),
        }),
    ))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    operators_only(&caller, "remove webhooks")?;
    let id = parse_id(&id, "webhook")?;
    let mut changes = state.store.begin().await?;
    if !changes.remove_webhook(id).await? {
        return Err(ApiError::new(
            ArmCode::NotFound,
            format!("No webhook {id} is configured"),
        ));
    }
    let target = format!("webhook {id}");
    audit::record(
        &mut changes,
        caller.event(AuditAction::WebhookRemove, &target, ""),
    )
    .await?;
    changes.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<Listed<DeliveryInfo>>, ApiError> {
    operators_only(&caller, "read the webhook delivery log")?;
    let params = query_params(&uri)?;
    let invalid = |e: String| ApiError::new(ArmCode::InvalidProperty, e);
    let status = param(&params, "status")
        .map(DeliveryStatus::parse)
        .transpose()
        .map_err(|e| invalid(format!("status: {e}")))?;
    let limit = match param(&params, "limit") {
        None => DEFAULT_LOG_LINES,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LOG_LINES).contains(n))
            .ok_or_else(|| {
                invalid(format!(
                    "limit: '{text}' is not a number from 1 to {MAX_LOG_LINES}"
                ))
            })?,
    };
    Ok(Json(Listed {
        value: state.store.deliveries(status, limit).await?,
    }))
}

async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    operators_only(&caller, "retry webhook deliveries")?;
    let id = parse_id(&id, "delivery")?;
    let mut changes = state.store.begin().await?;
    if !changes.retry_delivery(id, Utc::now()).await? {
        return Err(ApiError::new(
            ArmCode::Conflict,
            format!("Delivery {id} is not a failed delivery to a webhook still configured"),
        ));
    }
    let target = format!("delivery {id}");
    audit::record(
        &mut changes,
        caller.event(AuditAction::WebhookRetry, &target, ""),
    )
    .await?;
    changes.commit().await?;
    state.webhook_wake.notify_one();
    Ok(StatusCode::ACCEPTED)
}

fn parse_id(text: &str, what: &str) -> Result<i64, ApiError> {
    text.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::new(
            ArmCode::InvalidProperty,
            format!("'{text}' is not a {what} ID"),
        )
    })
}
