//! The Azure Stack Hub usage API:
//! `GET /subscriptions/{id}/providers/Microsoft.Commerce/UsageAggregates` (tenant) and
//! `GET /subscriptions/{providerId}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates`
//! (provider), with continuation-token paging.

use axum::extract::{Path, State};
use axum::http::{header::CONTENT_TYPE, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use meterbook_core::page::query_fingerprint;
use meterbook_core::query::UsageQuery;
use meterbook_core::usage::{AggregateApi, AggregatePageView};
use meterbook_core::{ArmCode, SubscriptionId};

use crate::api_error::ApiError;
use crate::auth::Caller;
use crate::source::AggregateQuery;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/subscriptions/{subscription}/providers/{namespace}/{resource}",
        get(arm_resource),
    )
}

/// ARM resources share one path shape; the namespace and resource name pick the API.
async fn arm_resource(
    State(state): State<AppState>,
    caller: Caller,
    Path((subscription, namespace, resource)): Path<(String, String, String)>,
    uri: Uri,
) -> Result<Response, ApiError> {
    if namespace.eq_ignore_ascii_case("Microsoft.Commerce")
        && resource.eq_ignore_ascii_case("RateCard")
    {
        return super::ratecard::rate_card(&state, &caller, &subscription, &uri).await;
    }
    usage_aggregates(state, caller, (subscription, namespace, resource), uri).await
}

/// Which of the two usage APIs a path names; ARM matches path segments case-insensitively.
fn api_of(namespace: &str, resource: &str) -> Option<AggregateApi> {
    if namespace.eq_ignore_ascii_case("Microsoft.Commerce")
        && resource.eq_ignore_ascii_case("UsageAggregates")
    {
        Some(AggregateApi::Tenant)
    } else if namespace.eq_ignore_ascii_case("Microsoft.Commerce.Admin")
        && resource.eq_ignore_ascii_case("subscriberUsageAggregates")
    {
        Some(AggregateApi::Provider)
    } else {
        None
    }
}

#[tracing::instrument(name = "usage_aggregates", skip_all, fields(subscription.id = %subscription))]
async fn usage_aggregates(
    state: AppState,
    caller: Caller,
    (subscription, namespace, resource): (String, String, String),
    uri: Uri,
) -> Result<Response, ApiError> {
    let api = api_of(&namespace, &resource).ok_or_else(|| {
        ApiError::new(
            ArmCode::NotFound,
            format!("No usage API at providers/{namespace}/{resource}"),
        )
    })?;
    let path_subscription = SubscriptionId::parse(&subscription).map_err(|e| {
        ApiError::new(
            ArmCode::SubscriptionIdMissingInRequest,
            format!("The request path needs a subscription ID: {e}"),
        )
    })?;
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
            return Err(forbidden(&caller, &path_subscription))
        }
        AggregateApi::Provider => query.subscriber.as_ref(),
    };
    let scope = caller
        .access
        .read_scope(requested)
        .map_err(|_| forbidden(&caller, requested.unwrap_or(&path_subscription)))?;
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
        .aggregates(
            &scope,
            &AggregateQuery {
                reported_start: query.reported_start,
                reported_end: query.reported_end,
                granularity: query.granularity,
                show_details: query.show_details,
            },
            after,
        )
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

pub(super) fn forbidden(caller: &Caller, subscription: &SubscriptionId) -> ApiError {
    // The subscription is logged, not echoed: a refusal says nothing about other tenants.
    tracing::info!(actor = caller.actor, %subscription, "read refused");
    ApiError::new(
        ArmCode::AuthorizationFailed,
        format!(
            "'{}' does not have access to the usage of the subscription requested",
            caller.name
        ),
    )
}

/// The decoded query string, in order.
pub fn query_params(uri: &Uri) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(uri.query().unwrap_or(""))
        .map_err(|_| ApiError::new(ArmCode::InvalidProperty, "The query string is malformed"))
}

/// Where clients reach this server, for absolute links: never the request's Host header, which
/// whoever sends the request chooses (a `nextLink` to their host would collect the bearer token
/// of the client that follows it).
pub(super) fn base_url(state: &AppState) -> &str {
    &state.public_base
}

/// The absolute URL of the next page: this request with its continuation token replaced.
fn next_link(state: &AppState, uri: &Uri, params: &[(String, String)], token: &str) -> String {
    let base = base_url(state);
    let mut kept: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("continuationToken"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    kept.push(("continuationToken", token));
    let query = serde_urlencoded::to_string(&kept).unwrap_or_default();
    format!("{base}{}?{query}", uri.path())
}
