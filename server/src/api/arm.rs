//! What every ARM handler reads from a request, and how it refuses a caller, in one place: the
//! path's subscription and the query string are parsed here into core types or refused in ARM's
//! envelope ([`ApiError`], the one rejection type of the API).

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::Uri;
use meterbook_core::{ArmCode, SubscriptionId};

use crate::api_error::ApiError;
use crate::auth::Caller;
use crate::state::AppState;

/// The `{subscription}` of an ARM path (`/subscriptions/{subscription}/providers/...`), parsed.
pub struct PathSubscription(pub SubscriptionId);

impl<S: Send + Sync> FromRequestParts<S> for PathSubscription {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let missing = |why: String| {
            ApiError::new(
                ArmCode::SubscriptionIdMissingInRequest,
                format!("The request path needs a subscription ID: {why}"),
            )
        };
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| missing(e.body_text()))?;
        SubscriptionId::parse(&raw)
            .map(Self)
            .map_err(|e| missing(e.to_string()))
    }
}

/// The route of an ARM resource collection of a subscription, as axum matches it (with the
/// `{subscription}` [`PathSubscription`] reads); requests in any case reach it through
/// [`super::normalize_arm_path`].
pub fn resource_route(namespace: &str, collection: &str) -> String {
    format!("/subscriptions/{{subscription}}/providers/{namespace}/{collection}")
}

/// The decoded query string, in order.
pub fn query_params(uri: &Uri) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(uri.query().unwrap_or(""))
        .map_err(|_| ApiError::new(ArmCode::InvalidProperty, "The query string is malformed"))
}

/// The request's `api-version`, refused unless it is one of `supported` (the first is the one
/// a refusal suggests).
pub fn api_version<'a>(
    params: &'a [(String, String)],
    supported: &[&str],
) -> Result<&'a str, ApiError> {
    match param(params, "api-version").map(str::trim) {
        None | Some("") => Err(ApiError::new(
            ArmCode::NoApiVersion,
            format!(
                "The api-version query parameter is required; use api-version={}",
                supported.first().copied().unwrap_or_default()
            ),
        )),
        Some(v) if supported.contains(&v) => Ok(v),
        Some(other) => Err(ApiError::new(
            ArmCode::InvalidProperty,
            format!(
                "api-version '{other}' is not supported; use {}",
                supported.join(" or ")
            ),
        )),
    }
}

/// The absolute URL of this request with the query parameter `name` (a page's continuation)
/// set to `value`: a `nextLink`.
pub fn link_with(
    state: &AppState,
    uri: &Uri,
    params: &[(String, String)],
    name: &str,
    value: &str,
) -> String {
    let mut kept: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case(name))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    kept.push((name, value));
    let query = serde_urlencoded::to_string(&kept).unwrap_or_default();
    format!("{}{}?{query}", base_url(state), uri.path())
}

/// A query parameter by name, matched without regard to case as ARM does.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The refusal of a read of `subscription`'s usage. The subscription is logged, not echoed: a
/// refusal says nothing about other tenants.
pub fn read_refused(caller: &Caller, subscription: &SubscriptionId) -> ApiError {
    tracing::info!(actor = caller.actor, %subscription, "read refused");
    ApiError::new(
        ArmCode::AuthorizationFailed,
        format!(
            "'{}' does not have access to the usage of the subscription requested",
            caller.name
        ),
    )
}

/// Refuses anyone but operators the act named by `act` ("close a period").
pub fn operators_only(caller: &Caller, act: &str) -> Result<(), ApiError> {
    if caller.access.can_read_all() {
        Ok(())
    } else {
        Err(ApiError::new(
            ArmCode::AuthorizationFailed,
            format!(
                "'{}' ({} role) may not {act}: only operators may",
                caller.name, caller.access.role
            ),
        ))
    }
}

/// Where clients reach this server, for absolute links: never the request's Host header, which
/// whoever sends the request chooses (a `nextLink` to their host would collect the bearer token
/// of the client that follows it).
pub fn base_url(state: &AppState) -> &str {
    &state.public_base
}
