//! `GET /metadata/endpoints?api-version=2015-01-01`, as Azure Stack Hub answers it: where clients
//! sign in for this cloud (the first issuer of `--identity-config`) and for which audience. Azure
//! tools read it to find the identity provider, and so does a Meterbook fronting this one
//! (`--upstream-client-id`). It names no secret, so it needs no token, as on the hub.

use axum::extract::State;
use axum::http::Uri;
use axum::routing::get;
use axum::{Json, Router};
use meterbook_core::ArmCode;
use serde::Serialize;

use super::arm::{api_version, query_params};
use crate::api_error::ApiError;
use crate::state::AppState;

const API_VERSIONS: [&str; 1] = ["2015-01-01"];

pub fn router() -> Router<AppState> {
    Router::new().route("/metadata/endpoints", get(endpoints))
}

/// Where this cloud's clients sign in (the hub's shape; the gallery and graph are empty).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Endpoints {
    gallery_endpoint: String,
    graph_endpoint: String,
    portal_endpoint: String,
    authentication: Authentication,
}

/// The identity provider's login endpoint and the audiences of tokens for this cloud.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Authentication {
    login_endpoint: String,
    audiences: Vec<String>,
}

async fn endpoints(State(state): State<AppState>, uri: Uri) -> Result<Json<Endpoints>, ApiError> {
    let params = query_params(&uri)?;
    api_version(&params, &API_VERSIONS)?;
    let issuer = state.identity.issuers().next().ok_or_else(|| {
        ApiError::new(
            ArmCode::NotFound,
            "This Meterbook names no identity provider (--identity-config): it takes its own tokens",
        )
    })?;
    Ok(Json(Endpoints {
        gallery_endpoint: String::new(),
        graph_endpoint: String::new(),
        portal_endpoint: format!("{}/", state.public_base),
        authentication: Authentication {
            login_endpoint: issuer.url.clone(),
            audiences: issuer.audiences.clone(),
        },
    }))
}
