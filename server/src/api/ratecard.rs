//! Azure's RateCard API:
//! `GET /subscriptions/{id}/providers/Microsoft.Commerce/RateCard?api-version=2015-06-01-preview&$filter=...`,
//! answered from the rate card in effect for the path's subscription (see
//! [`azure_rate_card`]), so Azure tools that read rate cards work unchanged.

use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use axum::Router;
use chrono::Utc;
use meterbook_core::rating::azure::{azure_rate_card, RateCardFilter};
use meterbook_core::ArmCode;

use super::arm::{
    api_version, param, query_params, read_refused, resource_route, PathSubscription,
};
use crate::api_error::ApiError;
use crate::auth::Caller;
use crate::chargeback::ChargebackError;
use crate::state::AppState;

/// The api-versions Azure's RateCard API has had.
const RATE_CARD_API_VERSIONS: [&str; 2] = ["2015-06-01-preview", "2016-08-31-preview"];

/// Azure's spelling of the API's namespace and resource type (requests in any case reach it:
/// [`super::normalize_arm_path`]).
pub const NAMESPACE: &str = "Microsoft.Commerce";
pub const RESOURCE: &str = "RateCard";

pub fn router() -> Router<AppState> {
    Router::new().route(&resource_route(NAMESPACE, RESOURCE), get(rate_card))
}

#[tracing::instrument(name = "rate_card", skip_all, fields(subscription.id = %subscription.0))]
async fn rate_card(
    State(state): State<AppState>,
    caller: Caller,
    subscription: PathSubscription,
    uri: Uri,
) -> Result<Response, ApiError> {
    let PathSubscription(subscription) = subscription;
    let params = query_params(&uri)?;
    let value = |name: &str| param(&params, name).map(str::trim);
    api_version(&params, &RATE_CARD_API_VERSIONS)?;
    let filter = RateCardFilter::parse(value("$filter").unwrap_or(""))
        .map_err(|e| ApiError::new(ArmCode::InvalidProperty, e))?;
    caller
        .access
        .read_scope(Some(&subscription))
        .map_err(|_| read_refused(&caller, &subscription))?;
    let stored = state
        .store
        .rate_card()
        .await?
        .ok_or(ChargebackError::NoRateCard)?;
    let currency = stored.card.currency().code();
    if let Some(asked) = &filter.currency {
        if !asked.eq_ignore_ascii_case(currency) {
            return Err(ApiError::new(
                ArmCode::InvalidProperty,
                format!("$filter: this cloud's prices are in {currency}, not {asked}"),
            ));
        }
    }
    let locale = filter.locale.as_deref().unwrap_or("en-US");
    let entry = state.store.directory_entry(&subscription).await?;
    Ok(Json(azure_rate_card(
        &stored.card,
        &subscription,
        entry.as_ref().and_then(|e| e.offer.as_ref()),
        Utc::now(),
        locale,
    ))
    .into_response())
}
