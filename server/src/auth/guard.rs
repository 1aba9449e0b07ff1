//! The guard every request passes: it notes the client's address, refuses cross-site writes
//! (CSRF), finds the session, and turns anonymous requests for anything but the sign-in page,
//! static assets and the token-authenticated API away.

use axum::extract::{Request, State};
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use meterbook_app::viewer::{ClientAddress, Viewer};
use meterbook_core::ArmCode;

use super::{client_address, SignedIn};
use crate::state::AppState;

/// What a path is, for deciding who may reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// The sign-in page and form, sign-out, static assets, the usage widget: anyone.
    Public,
    /// The REST API: its handlers check the bearer token or session themselves.
    Api,
    /// Leptos server functions: signed-in people only.
    ServerFunction,
    /// Portal pages: signed-in people only; others are sent to sign in.
    Page,
}

/// Paths that belong to the API: unknown ones get an ARM 404 rather than the portal's page.
pub fn is_api_path(path: &str) -> bool {
    path.starts_with("/api/v1/")
        || path.starts_with("/subscriptions/")
        || path == "/subscriptions"
        || path == "/odata"
        || path.starts_with("/odata/")
        || path == "/metrics"
        || path == "/metadata/endpoints"
}

pub fn classify(path: &str) -> PathKind {
    match path {
        "/sign-in" | "/auth/sign-in" | "/auth/sign-out" | "/favicon.svg" => PathKind::Public,
        "/auth/oidc/start" | "/auth/oidc/callback" => PathKind::Public,
        // The API's contract holds no data; the cloud's metadata names where to sign in.
        "/openapi.json" | "/metadata/endpoints" => PathKind::Public,
        // The widget checks its own token.
        "/widget" | "/widget.js" => PathKind::Public,
        _ if path.starts_with("/pkg/") => PathKind::Public,
        _ if is_api_path(path) => PathKind::Api,
        _ if path.starts_with("/api/") => PathKind::ServerFunction,
        _ => PathKind::Page,
    }
}

/// A refusal before routing: in ARM's envelope on API paths (what API clients parse), plain text
/// for people elsewhere.
fn refusal(api: bool, status: StatusCode, code: ArmCode, message: &'static str) -> Response {
    if api {
        crate::api_error::ApiError::new(code, message).into_response()
    } else {
        (status, message).into_response()
    }
}

pub async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let address = client_address(&parts, state.trust_forwarded_for);
    parts.extensions.insert(ClientAddress(address));
    let api = classify(parts.uri.path()) == PathKind::Api;
    if !parts.method.is_safe() && is_cross_site(&parts.headers, state.public_url.as_deref()) {
        tracing::warn!(path = parts.uri.path(), "cross-site write refused");
        let message =
            "Refused: this request came from another site (cross-site request forgery protection).";
        return refusal(
            api,
            StatusCode::FORBIDDEN,
            ArmCode::AuthorizationFailed,
            message,
        );
    }
    let signed_in = match state
        .sessions
        .resolve(state.store.as_ref(), &parts.headers, Utc::now())
        .await
    {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = ?e, "session lookup failed");
            let message = "Meterbook cannot reach its database right now; try again shortly.";
            return refusal(
                api,
                StatusCode::SERVICE_UNAVAILABLE,
                ArmCode::ServiceUnavailable,
                message,
            );
        }
    };
    let kind = classify(parts.uri.path());
    if let Some((id_hash, session)) = signed_in {
        tracing::Span::current().record("user.id", session.user.id);
        parts.extensions.insert(Viewer {
            user_id: session.user.id,
            username: session.user.username.clone(),
            access: session.user.access(),
            csrf_token: session.csrf_token.clone(),
        });
        parts.extensions.insert(SignedIn { id_hash, session });
    } else {
        match kind {
            PathKind::ServerFunction => {
                return (
                    StatusCode::UNAUTHORIZED,
                    "Sign in first: your session has ended or you are not signed in.",
                )
                    .into_response()
            }
            PathKind::Page => {
                let wanted = parts
                    .uri
                    .path_and_query()
                    .map(|pq| pq.as_str())
                    .unwrap_or("/");
                let query = serde_urlencoded::to_string([("next", wanted)]).unwrap_or_default();
                return Redirect::to(&format!("/sign-in?{query}")).into_response();
            }
            PathKind::Public | PathKind::Api => {}
        }
    }
    request = Request::from_parts(parts, body);
    let response = next.run(request).await;
    if kind == PathKind::ServerFunction && response.status() == StatusCode::INTERNAL_SERVER_ERROR {
        return input_errors_as_bad_request(response).await;
    }
    response
}

/// Leptos answers a server function whose arguments do not parse with a 500; that is the
/// client's mistake, so it becomes a 400 with the same body.
async fn input_errors_as_bad_request(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    if [&b"Args|"[..], b"Deserialization|", b"MissingArg|"]
        .iter()
        .any(|prefix| bytes.starts_with(prefix))
    {
        parts.status = StatusCode::BAD_REQUEST;
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Whether a browser tells us the request came from another site: `Sec-Fetch-Site` says so, or
/// `Origin` names another host. Requests without either header (scripts, old browsers) pass; the
/// session's CSRF token still guards every state change.
pub fn is_cross_site(headers: &HeaderMap, public_url: Option<&str>) -> bool {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        if !matches!(site, "same-origin" | "none") {
            return true;
        }
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    let origin = origin.trim_end_matches('/');
    match public_url {
        // Scheme, host and port must all match the public URL's.
        Some(url) => {
            let expected = match url.split_once("://") {
                Some((scheme, rest)) => {
                    format!("{scheme}://{}", rest.split('/').next().unwrap_or(""))
                }
                None => return true,
            };
            !origin.eq_ignore_ascii_case(&expected)
        }
        None => {
            let host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
            host.is_empty() || !host.eq_ignore_ascii_case(header(HOST.as_str()).unwrap_or(""))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn paths_are_classified_for_access() {
        assert_eq!(classify("/sign-in"), PathKind::Public);
        assert_eq!(classify("/pkg/meterbook.wasm"), PathKind::Public);
        assert_eq!(classify("/api/v1/usage-records"), PathKind::Api);
        assert_eq!(classify("/subscriptions/x/providers/y/z"), PathKind::Api);
        assert_eq!(classify("/api/load_overview123"), PathKind::ServerFunction);
        assert_eq!(classify("/"), PathKind::Page);
        assert_eq!(classify("/tokens"), PathKind::Page);
        assert_eq!(classify("/no-such-page"), PathKind::Page);
    }

    #[test]
    fn cross_site_writes_are_recognised() {
        let host = ("host", "127.0.0.1:3000");
        assert!(!is_cross_site(&headers(&[host]), None));
        assert!(!is_cross_site(
            &headers(&[host, ("origin", "http://127.0.0.1:3000")]),
            None
        ));
        assert!(is_cross_site(
            &headers(&[host, ("origin", "http://evil.example")]),
            None
        ));
        assert!(is_cross_site(&headers(&[host, ("origin", "null")]), None));
        assert!(is_cross_site(
            &headers(&[host, ("sec-fetch-site", "cross-site")]),
            None
        ));
        assert!(!is_cross_site(
            &headers(&[host, ("sec-fetch-site", "same-origin")]),
            None
        ));
        assert!(!is_cross_site(
            &headers(&[host, ("origin", "https://usage.example.com")]),
            Some("https://usage.example.com/")
        ));
        assert!(is_cross_site(
            &headers(&[host, ("origin", "http://127.0.0.1:3000")]),
            Some("https://usage.example.com")
        ));
        assert!(
            is_cross_site(
                &headers(&[host, ("origin", "http://usage.example.com")]),
                Some("https://usage.example.com")
            ),
            "plain http is another origin than the https public URL"
        );
    }
}
