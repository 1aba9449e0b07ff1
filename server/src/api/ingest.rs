//! `POST /api/v1/usage-records`: resource providers (or agents forwarding their usage) submit
//! records as a JSON array, an ARM page, or NDJSON. A batch is all-or-nothing.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use meterbook_core::error::ErrorDetail;
use meterbook_core::usage::{parse_batch, BatchError, IngestWindow, UsageRecord};
use meterbook_core::{ArmCode, ArmError};

use crate::api_error::{unreadable_body, ApiError};
use crate::auth::Caller;
use crate::state::AppState;
use crate::store::IngestOutcome;

/// Largest accepted body: a batch of 100,000 typical records fits in about 50 MiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Most records in one batch, so one request cannot hold the write lock for long.
pub const MAX_BATCH_RECORDS: usize = 100_000;
/// Most per-record reasons listed in one error answer.
const MAX_DETAILS: usize = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/usage-records", post(ingest_records))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

#[tracing::instrument(name = "ingest", skip_all, fields(token.id, records))]
async fn ingest_records(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<IngestOutcome>, ApiError> {
    if !caller.access.can_ingest() {
        return Err(ApiError::new(
            ArmCode::AuthorizationFailed,
            format!(
                "The token '{}' ({} role) may not submit usage",
                caller.name, caller.access.role
            ),
        ));
    }
    let body = body.map_err(|e| unreadable_body(&e, MAX_BODY_BYTES, "send smaller batches"))?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::new(ArmCode::InvalidUsageRecords, "The body is not UTF-8 text"))?;
    let parsed = parse_batch(text, MAX_BATCH_RECORDS).map_err(|e| match e {
        BatchError::TooManyRecords(_) => ApiError::new(ArmCode::RequestTooLarge, e.to_string()),
        BatchError::Malformed(_) => ApiError::new(ArmCode::InvalidUsageRecords, e.to_string()),
    })?;
    tracing::Span::current().record("records", parsed.len());
    let now = Utc::now();
    let records = validate_batch(parsed, now, state.ingest_window)?;
    let outcome = crate::metrics::timed("ingest", state.store.ingest(&records, now)).await?;
    crate::metrics::ingested(outcome.accepted, outcome.duplicates, outcome.corrected);
    tracing::info!(
        accepted = outcome.accepted,
        duplicates = outcome.duplicates,
        corrected = outcome.corrected,
        "ingested"
    );
    Ok(Json(outcome))
}

/// All records, or a 400 naming each bad one by its index in the batch.
fn validate_batch(
    parsed: Vec<Result<UsageRecord, String>>,
    now: chrono::DateTime<Utc>,
    window: IngestWindow,
) -> Result<Vec<UsageRecord>, ApiError> {
    let mut records = Vec::with_capacity(parsed.len());
    let mut errors = Vec::new();
    for (index, item) in parsed.into_iter().enumerate() {
        match item.and_then(|r| r.check_received_at(now, window).map(|()| r)) {
            Ok(record) => records.push(record),
            Err(reason) => errors.push((index, reason)),
        }
    }
    if records.is_empty() && errors.is_empty() {
        return Err(ApiError::new(
            ArmCode::InvalidUsageRecords,
            "The batch holds no records",
        ));
    }
    if errors.is_empty() {
        return Ok(records);
    }
    let total = records.len() + errors.len();
    crate::metrics::ingest_refused(total as u64);
    let message = format!(
        "{} of {total} records are invalid; nothing was written{}",
        errors.len(),
        if errors.len() > MAX_DETAILS {
            format!(" (the first {MAX_DETAILS} are listed)")
        } else {
            String::new()
        }
    );
    let details = errors
        .into_iter()
        .take(MAX_DETAILS)
        .map(|(index, reason)| ErrorDetail {
            code: ArmCode::InvalidUsageRecords.as_str().to_owned(),
            target: format!("[{index}]"),
            message: reason,
        })
        .collect();
    Err(ApiError(
        ArmError::new(ArmCode::InvalidUsageRecords, message).with_details(details),
    ))
}
