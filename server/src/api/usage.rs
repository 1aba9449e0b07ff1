//! The Azure Stack Hub usage API:
//! `GET /subscriptions/{id}/providers/Microsoft.Commerce/UsageAggregates` (tenant) and
//! `GET /subscriptions/{providerId}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates`
//! (provider), with continuation-token paging.

use axum::extract::State;
use axum::http::{header::CONTENT_TYPE, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use meterbook_core::page::query_fingerprint;
use meterbook_core::query::UsageQuery;
use meterbook_core::usage::{AggregateApi, AggregatePageView};
use meterbook_core::ArmCode;

use super::arm::{self as arm, query_params, read_refused, PathSubscription};
use crate::api_error::ApiError;
use crate::auth::Caller;
use crate::state::AppState;

/// One route per usage API, each named as Azure spells it ([`AggregateApi::collection`]).
pub fn router() -> Router<AppState> {
    AggregateApi::ALL
        .into_iter()
        .fold(Router::new(), |router, api| {
            router.route(
                &arm::resource_route(api.provider_namespace(), api.collection()),
                get(
                    move |state: State<AppState>,
                          caller: Caller,
                          path: PathSubscription,
                          uri: Uri| {
                        usage_aggregates(api, state, caller, path, uri)
                    },
                ),
            )
        })
}

#[tracing::instrument(name = "usage_aggregates", skip_all, fields(subscription.id = %subscription.0))]
async fn usage_aggregates(
    api: AggregateApi,
    State(state): State<AppState>,
    caller: Caller,
    subscription: PathSubscription,
    uri: Uri,
) -> Result<Response, ApiError> {
    let path_subscription = subscription.0;
    if api == AggregateApi::Provider && path_subscription != state.provider_subscription {
        return Err(ApiError::new(
            ArmCode::SubscriptionNotFound,
            format!("Subscription {path_subscription} is not this cloud's provider subscription"),
        ));
    }
    let params = query_params(&uri)?;
    let query = UsageQuery::parse(&params, Utc::now())?;
    // Who may read what is decided here, before the source (and any upstream) is asked.
    let requested = match api {
        AggregateApi::Tenant => Some(&path_subscription),
        AggregateApi::Provider if !caller.access.can_read_all() => {
            return Err(read_refused(&caller, &path_subscription))
        }
        AggregateApi::Provider => query.subscriber.as_ref(),
    };
    let scope = caller
        .access
        .read_scope(requested)
        .map_err(|_| read_refused(&caller, requested.unwrap_or(&path_subscription)))?;
    let fingerprint = query_fingerprint(
        &format!("{}:{}", api.resource_type(), scope.fingerprint()),
        &query,
    );
    let after = match &query.continuation_token {
        Some(token) => Some(state.signer.open(&fingerprint, token).map_err(|e| {
            ApiError::new(
                ArmCode::InvalidProperty,
                format!("continuationToken: {e}; start again without it"),
            )
        })?),
        None => None,
    };
    let page = state
        .source
        .aggregates(&scope, &query.aggregate, after)
        .await?;
    let next_link = page.next.as_ref().map(|cursor| {
        let token = state.signer.seal(&fingerprint, cursor);
        next_link(&state, &uri, &params, &token)
    });
    Ok(json_page(&AggregatePageView {
        lines: &page.items,
        api,
        path_subscription: path_subscription.as_str(),
        next_link: next_link.as_deref(),
    }))
}

/// Writes a page into a buffer sized for it up front: a page with details is about 900 bytes a
/// line, and growing by doubling would copy most of a megabyte several times.
fn json_page(page: &AggregatePageView<'_>) -> Response {
    let mut body = Vec::with_capacity(1_024 * (page.lines.len() + 1));
    match serde_json::to_writer(&mut body, page) {
        Ok(()) => ([(CONTENT_TYPE, "application/json")], body).into_response(),
        // Lines hold only strings, numbers and validated JSON text, so this does not happen.
        Err(e) => ApiError::new(
            ArmCode::InternalServerError,
            format!("writing the page: {e}"),
        )
        .into_response(),
    }
}

/// The absolute URL of the next page: this request with its continuation token replaced.
fn next_link(state: &AppState, uri: &Uri, params: &[(String, String)], token: &str) -> String {
    arm::link_with(state, uri, params, "continuationToken", token)
}
