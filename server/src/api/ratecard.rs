//! Azure's RateCard API:
//! `GET /subscriptions/{id}/providers/Microsoft.Commerce/RateCard?api-version=2015-06-01-preview&$filter=...`,
//! answered from the rate card in effect for the path's subscription (see
//! [`azure_rate_card`]), so Azure tools that read rate cards work unchanged.

use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use meterbook_core::rating::azure::{azure_rate_card, RateCardFilter};
use meterbook_core::{ArmCode, SubscriptionId};

use super::usage::{forbidden, query_params};
use crate::api_error::ApiError;
use crate::auth::Caller;
use crate::chargeback::ChargebackError;
use crate::state::AppState;

/// The api-versions Azure's RateCard API has had.
const RATE_CARD_API_VERSIONS: [&str; 2] = ["2015-06-01-preview", "2016-08-31-preview"];

#[tracing::instrument(name = "rate_card", skip_all, fields(subscription.id = %subscription))]
pub(super) async fn rate_card(
    state: &AppState,
    caller: &Caller,
    subscription: &str,
    uri: &Uri,
) -> Result<Response, ApiError> {
    let subscription = SubscriptionId::parse(subscription).map_err(|e| {
        ApiError::new(
            ArmCode::SubscriptionIdMissingInRequest,
            format!("The request path needs a subscription ID: {e}"),
        )
    })?;
    let params = query_params(uri)?;
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    match param("api-version") {
        None | Some("") => {
            return Err(ApiError::new(
                ArmCode::NoApiVersion,
                "The api-version query parameter is required; use api-version=2015-06-01-preview",
            ))
        }
        Some(v) if RATE_CARD_API_VERSIONS.contains(&v) => {}
        Some(other) => {
            return Err(ApiError::new(
                ArmCode::InvalidProperty,
                format!(
                    "api-version '{other}' is not supported; use {}",
                    RATE_CARD_API_VERSIONS.join(" or ")
                ),
            ))
        }
    }
    let filter = RateCardFilter::parse(param("$filter").unwrap_or(""))
        .map_err(|e| ApiError::new(ArmCode::InvalidProperty, e))?;
    caller
        .access
        .read_scope(Some(&subscription))
        .map_err(|_| forbidden(caller, &subscription))?;
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
    Ok(Json(azure_rate_card(
        &stored.card,
        &subscription,
        Utc::now(),
        locale,
    ))
    .into_response())
}
