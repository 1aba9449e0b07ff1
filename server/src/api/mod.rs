//! The HTTP API: one router per resource, merged here.

mod arm;
pub mod billing;
mod download;
pub mod explore;
pub mod export;
mod identity;
pub mod ingest;
mod metadata;
mod odata;
pub mod openapi;
mod ratecard;
pub mod scrape;
mod subscriptions;
pub mod usage;
mod webhooks;

use axum::http::{Request, Uri};
use axum::response::IntoResponse;
use axum::Router;
use meterbook_core::usage::AggregateApi;
use meterbook_core::ArmCode;

use crate::state::AppState;

/// Every API route. A server that fronts an upstream Azure Stack Hub takes no ingest: resource
/// providers report to the upstream.
pub fn router(upstream: bool) -> Router<AppState> {
    let router = Router::new()
        .merge(usage::router())
        .merge(ratecard::router())
        .merge(export::router())
        .merge(explore::router())
        .merge(billing::router())
        .merge(odata::router())
        .merge(webhooks::router())
        .merge(subscriptions::router())
        .merge(identity::router())
        .merge(metadata::router())
        .merge(openapi::router());
    if upstream {
        router
    } else {
        router.merge(ingest::router())
    }
}

/// The ARM 404 for an unknown API path.
pub fn not_found(uri: &Uri) -> axum::response::Response {
    crate::api_error::ApiError::new(ArmCode::NotFound, format!("No API at {}", uri.path()))
        .into_response()
}

/// The ARM resources served under `/subscriptions/{id}/providers/`, spelled as their routes are:
/// a request's namespace and resource type are matched to these without regard to case.
pub const ARM_RESOURCES: [(&str, &str); 4] = [
    (
        AggregateApi::Tenant.provider_namespace(),
        AggregateApi::Tenant.collection(),
    ),
    (
        AggregateApi::Provider.provider_namespace(),
        AggregateApi::Provider.collection(),
    ),
    (ratecard::NAMESPACE, ratecard::RESOURCE),
    (
        meterbook_core::directory::ADMIN_NAMESPACE,
        meterbook_core::directory::ADMIN_COLLECTION,
    ),
];

/// ARM paths are case-insensitive; axum's routing is not. Before routing, the fixed segments
/// `subscriptions` and `providers` are lower-cased and a known namespace and resource type are
/// spelled as in [`ARM_RESOURCES`], so `/Subscriptions/.../Providers/microsoft.commerce/...`
/// reaches its resource's own route.
pub fn normalize_arm_path<B>(mut request: Request<B>) -> Request<B> {
    let path = request.uri().path();
    let mut segments: Vec<&str> = path.split('/').collect();
    if segments.len() < 2 || !segments[1].eq_ignore_ascii_case("subscriptions") {
        return request;
    }
    segments[1] = "subscriptions";
    if segments.len() > 3 && segments[3].eq_ignore_ascii_case("providers") {
        segments[3] = "providers";
        // The collection, or one of its resources (`.../subscriptions/{id}`).
        if segments.len() == 6 || segments.len() == 7 {
            if let Some((namespace, resource)) = ARM_RESOURCES.iter().find(|(n, r)| {
                segments[4].eq_ignore_ascii_case(n) && segments[5].eq_ignore_ascii_case(r)
            }) {
                segments[4] = namespace;
                segments[5] = resource;
            }
        }
    }
    let new_path = segments.join("/");
    if new_path != path {
        let rebuilt = match request.uri().query() {
            Some(q) => format!("{new_path}?{q}"),
            None => new_path,
        };
        if let Ok(uri) = rebuilt.parse::<Uri>() {
            *request.uri_mut() = uri;
        }
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(path: &str) -> String {
        normalize_arm_path(Request::builder().uri(path).body(()).unwrap())
            .uri()
            .to_string()
    }

    #[test]
    fn arm_path_prefixes_are_matched_case_insensitively() {
        assert_eq!(
            normalized("/Subscriptions/x/Providers/Microsoft.Commerce/UsageAggregates?a=1"),
            "/subscriptions/x/providers/Microsoft.Commerce/UsageAggregates?a=1"
        );
        assert_eq!(
            normalized("/subscriptions/x/PROVIDERS/y/z"),
            "/subscriptions/x/providers/y/z"
        );
        assert_eq!(
            normalized("/subscriptions/x/providers/microsoft.commerce/ratecard?b=2"),
            "/subscriptions/x/providers/Microsoft.Commerce/RateCard?b=2"
        );
        assert_eq!(
            normalized(
                "/subscriptions/x/providers/MICROSOFT.COMMERCE.ADMIN/SubscriberUsageAggregates"
            ),
            "/subscriptions/x/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates"
        );
        assert_eq!(
            normalized("/subscriptions/x/providers/Microsoft.Commerce/RateCard/extra"),
            "/subscriptions/x/providers/Microsoft.Commerce/RateCard/extra"
        );
        assert_eq!(normalized("/pkg/meterbook.js"), "/pkg/meterbook.js");
        assert_eq!(normalized("/"), "/");
    }
}
