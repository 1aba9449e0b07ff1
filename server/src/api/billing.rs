//! The billing API:
//! - `GET /api/v1/rates[?format=csv]`: the rate card in effect; operators get all of it, tenants
//!   the prices and discounts that apply to their subscriptions.
//! - `PUT /api/v1/rates`: an operator saves a new rate card (`text/csv` or `application/json`);
//!   a refused card changes nothing and the answer names the row at fault.
//! - `GET /api/v1/chargeback?period=2026-10&by=tag:Department&format=csv&subscriberId=...`: a
//!   billing period's statement in the caller's scope (the current month when no period is
//!   given; months are in the server's `--time-zone`); a closed period's frozen statement.
//! - `POST /api/v1/chargeback/runs?period=...&by=...`: an operator records a run of a statement
//!   and sees what changed since the previous run.
//! - `POST /api/v1/chargeback/close?period=...`: an operator closes a period, freezing its
//!   statements and queueing them for every webhook.
//! - `POST /api/v1/chargeback/push?period=...&by=...`: an operator pushes a statement to every
//!   webhook now (a closed period's frozen one, or a run recorded for the push).

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use meterbook_core::audit::AuditAction;
use meterbook_core::directory::Directory;
use meterbook_core::rating::period::BillingPeriod;
use meterbook_core::rating::statement::{statement_csv, GroupBy};
use meterbook_core::rating::{read_rate_card, write_rate_card, RateCardFormat};
use meterbook_core::{ArmCode, SubscriptionId};
use serde::Serialize;

use super::arm::{operators_only, param, query_params};
use super::download::csv_download;
use crate::api_error::{unreadable_body, ApiError};
use crate::audit;
use crate::auth::Caller;
use crate::chargeback::{self, ChargebackError, ChargebackRequest};
use crate::state::AppState;

/// Largest rate card accepted: thousands of meters and tenant prices fit in far less.
const MAX_RATE_CARD_BYTES: usize = 4 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/rates", get(get_rates).put(put_rates))
        .route("/api/v1/chargeback", get(get_chargeback))
        .route("/api/v1/chargeback/runs", post(post_run))
        .route("/api/v1/chargeback/close", post(post_close))
        .route("/api/v1/chargeback/push", post(post_push))
        .layer(DefaultBodyLimit::max(MAX_RATE_CARD_BYTES))
}

/// `format=csv|json` (JSON when absent).
fn wanted_format(params: &[(String, String)]) -> Result<RateCardFormat, ApiError> {
    match param(params, "format") {
        None => Ok(RateCardFormat::Json),
        Some(f) if f.eq_ignore_ascii_case("json") => Ok(RateCardFormat::Json),
        Some(f) if f.eq_ignore_ascii_case("csv") => Ok(RateCardFormat::Csv),
        Some(f) => Err(ApiError::new(
            ArmCode::InvalidProperty,
            format!("format: '{f}' is not csv or json"),
        )),
    }
}

impl From<ChargebackError> for ApiError {
    fn from(e: ChargebackError) -> Self {
        match e {
            ChargebackError::NoRateCard => Self::new(ArmCode::NotFound, e.to_string()),
            ChargebackError::Closed(_)
            | ChargebackError::NotFrozen { .. }
            | ChargebackError::NoWebhooks => Self::new(ArmCode::Conflict, e.to_string()),
            ChargebackError::Store(e) => e.into(),
            ChargebackError::Pricing(e) => {
                tracing::warn!(error = %e, "pricing failed");
                Self::new(
                    ArmCode::AmountOutOfRange,
                    format!("{e}: a price or quantity is too large to compute"),
                )
            }
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RateCardAnswer {
    revision: i64,
    saved_at: chrono::DateTime<Utc>,
    /// Who saved the card: operators only (a tenant has no business with the operator's names).
    #[serde(skip_serializing_if = "Option::is_none")]
    saved_by: Option<String>,
    card: meterbook_core::rating::RateCardDraft,
}

#[tracing::instrument(name = "get_rates", skip_all)]
async fn get_rates(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params = query_params(&uri)?;
    let format = wanted_format(&params)?;
    let scope = caller.access.read_scope(None)?;
    let stored = state
        .store
        .rate_card()
        .await?
        .ok_or(ChargebackError::NoRateCard)?;
    let (card, saved_by) = match scope.subscriptions() {
        None => (stored.card, Some(stored.saved_by)),
        Some(subs) => {
            let directory = Directory::new(state.store.directory_entries(subs).await?);
            let offers = directory.offers_of(subs);
            (stored.card.for_subscriptions(subs, &offers), None)
        }
    };
    Ok(match format {
        RateCardFormat::Csv => (
            csv_download(&format!("rate-card-{}.csv", stored.revision)),
            write_rate_card(&card, RateCardFormat::Csv),
        )
            .into_response(),
        RateCardFormat::Json => Json(RateCardAnswer {
            revision: stored.revision,
            saved_at: stored.saved_at,
            saved_by,
            card: card.to_draft(),
        })
        .into_response(),
    })
}

#[derive(utoipa::ToSchema, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Saved {
    revision: i64,
}

#[tracing::instrument(name = "put_rates", skip_all)]
async fn put_rates(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<Saved>, ApiError> {
    operators_only(&caller, "change the rate card")?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = RateCardFormat::of_media_type(content_type).ok_or_else(|| {
        ApiError::new(
            ArmCode::UnsupportedMediaType,
            "Send the rate card as text/csv or application/json",
        )
    })?;
    let body = body
        .map_err(|e| unreadable_body(&e, MAX_RATE_CARD_BYTES, "a rate card is never that large"))?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::new(ArmCode::InvalidProperty, "The body is not UTF-8 text"))?;
    let card = read_rate_card(text, format).map_err(|e| {
        ApiError::new(
            ArmCode::InvalidProperty,
            format!("The rate card was refused, nothing changed: {e}"),
        )
    })?;
    let mut changes = state.store.begin().await?;
    let revision = changes.save_rate_card(&card, &caller.actor).await?;
    let target = format!("revision {revision}");
    audit::record(
        &mut changes,
        caller.event(AuditAction::RatesImport, &target, ""),
    )
    .await?;
    changes.commit().await?;
    Ok(Json(Saved { revision }))
}

#[tracing::instrument(name = "get_chargeback", skip_all)]
async fn get_chargeback(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params = query_params(&uri)?;
    let format = wanted_format(&params)?;
    let (period, group_by) = period_and_grouping(&state, &params)?;
    let zone = state.time_zone;
    let requested = param(&params, "subscriberId")
        .map(SubscriptionId::parse)
        .transpose()
        .map_err(|e| ApiError::new(ArmCode::InvalidProperty, format!("subscriberId: {e}")))?;
    let scope = caller.access.read_scope(requested.as_ref())?;
    let statement = chargeback::statement(
        state.store.as_ref(),
        &ChargebackRequest {
            period,
            zone,
            group_by,
            subscriptions: scope.subscriptions(),
        },
    )
    .await?;
    Ok(match format {
        RateCardFormat::Csv => (
            csv_download(&format!("chargeback-{}.csv", statement.period.label)),
            statement_csv(&statement),
        )
            .into_response(),
        RateCardFormat::Json => Json(statement).into_response(),
    })
}

/// `period` (the current month when absent) and `by` (`subscription` when absent). Chargeback
/// reads the embedded store, so a server fronting an upstream has none.
fn period_and_grouping(
    state: &AppState,
    params: &[(String, String)],
) -> Result<(BillingPeriod, GroupBy), ApiError> {
    if state.upstream {
        return Err(ApiError::new(
            ArmCode::NotFound,
            "Chargeback reads the embedded store; this server reads usage from an upstream",
        ));
    }
    let invalid =
        |name: &str, e: String| ApiError::new(ArmCode::InvalidProperty, format!("{name}: {e}"));
    let period = match param(params, "period") {
        Some(text) => {
            BillingPeriod::parse(text, state.time_zone).map_err(|e| invalid("period", e))?
        }
        None => BillingPeriod::month_of(Utc::now(), state.time_zone),
    };
    let group_by = GroupBy::parse(param(params, "by").unwrap_or("subscription"))
        .map_err(|e| invalid("by", e))?;
    Ok((period, group_by))
}

/// Refuses anyone but an operator to `act`.
#[tracing::instrument(name = "post_run", skip_all)]
async fn post_run(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<chargeback::Run>, ApiError> {
    operators_only(&caller, "record chargeback runs")?;
    let params = query_params(&uri)?;
    let (period, group_by) = period_and_grouping(&state, &params)?;
    let mut changes = state.store.begin().await?;
    let run = chargeback::record_run(
        state.store.as_ref(),
        &mut changes,
        &period,
        state.time_zone,
        &group_by,
        &caller.actor,
    )
    .await?;
    let detail = format!("{group_by}: {} changed lines", run.changes.len());
    let event = caller.event(AuditAction::ChargebackRun, &period.label, &detail);
    audit::record(&mut changes, event).await?;
    changes.commit().await?;
    Ok(Json(run))
}

#[tracing::instrument(name = "post_close", skip_all)]
async fn post_close(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<chargeback::Closed>, ApiError> {
    operators_only(&caller, "close billing periods")?;
    let params = query_params(&uri)?;
    let (period, _) = period_and_grouping(&state, &params)?;
    let mut changes = state.store.begin().await?;
    let closed = chargeback::close_period(
        state.store.as_ref(),
        &mut changes,
        &period,
        state.time_zone,
        &caller.actor,
    )
    .await?;
    let detail = format!(
        "{} statements frozen, {} webhook deliveries queued",
        closed.frozen.len(),
        closed.deliveries_queued
    );
    let event = caller.event(AuditAction::ChargebackClose, &period.label, &detail);
    audit::record(&mut changes, event).await?;
    changes.commit().await?;
    state.webhook_wake.notify_one();
    Ok(Json(closed))
}

#[tracing::instrument(name = "post_push", skip_all)]
async fn post_push(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<(StatusCode, Json<chargeback::Pushed>), ApiError> {
    operators_only(&caller, "push statements to webhooks")?;
    let params = query_params(&uri)?;
    let (period, group_by) = period_and_grouping(&state, &params)?;
    let mut changes = state.store.begin().await?;
    let pushed = chargeback::push_statement(
        state.store.as_ref(),
        &mut changes,
        &period,
        state.time_zone,
        &group_by,
        &caller.actor,
    )
    .await?;
    let detail = format!(
        "{group_by}: run {}, {} webhook deliveries queued",
        pushed.run_id, pushed.deliveries_queued
    );
    let event = caller.event(AuditAction::ChargebackPush, &period.label, &detail);
    audit::record(&mut changes, event).await?;
    changes.commit().await?;
    state.webhook_wake.notify_one();
    Ok((StatusCode::ACCEPTED, Json(pushed)))
}
