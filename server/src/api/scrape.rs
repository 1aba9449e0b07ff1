//! `GET /metrics` on the main address, behind the API's authentication.

use axum::extract::State;
use axum::response::Response;
use meterbook_core::ArmCode;

use super::arm::operators_only;
use crate::api_error::ApiError;
use crate::auth::Caller;
use crate::metrics;
use crate::state::AppState;

/// `GET /metrics` on the main address: operator tokens (and signed-in operators) only, since
/// route names and counts describe the deployment.
pub async fn scrape(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let Some(handle) = &state.metrics else {
        return Err(ApiError::new(
            ArmCode::NotFound,
            "This server records no metrics",
        ));
    };
    operators_only(&caller, "read metrics")?;
    Ok(metrics::render(handle, &state.store.pools()))
}
