//! Portal pages are rendered whole, within a time limit, before they are sent; a render that
//! stalls is started again once.
//!
//! Why: Leptos 0.8's streaming renderer very rarely never finishes a page whose `<Transition>`
//! waits on a resource (a lost wake-up; about one render in 400 in this project's test suite, and
//! reported upstream as leptos-rs/leptos#4673 and #4851). Streamed, that is a page that never
//! stops loading. Buffered, it is one slower page and a warning in the log. Pages are small, so
//! buffering costs little; the data behind them is read once per attempt.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::guard::{classify, PathKind};

/// How long one render of a page may take.
pub const RENDER_LIMIT: Duration = Duration::from_secs(20);
/// Renders of one page request before giving up.
const ATTEMPTS: u32 = 2;
/// Largest page body buffered (pages are tens of kilobytes; a month of hourly chart data is a
/// few megabytes).
const MAX_PAGE_BYTES: usize = 64 * 1024 * 1024;

/// Whether a request is a Leptos page render.
fn is_page_render(request: &Request) -> bool {
    let path = request.uri().path();
    (request.method() == Method::GET || request.method() == Method::HEAD)
        && (path == "/sign-in" || classify(path) == PathKind::Page)
}

pub async fn complete_pages(request: Request, next: Next) -> Response {
    if !is_page_render(&request) {
        return next.run(request).await;
    }
    let (parts, _) = request.into_parts();
    for attempt in 1..=ATTEMPTS {
        let response = next
            .clone()
            .run(Request::from_parts(parts.clone(), Body::empty()))
            .await;
        let (head, body) = response.into_parts();
        match tokio::time::timeout(RENDER_LIMIT, axum::body::to_bytes(body, MAX_PAGE_BYTES)).await {
            Ok(Ok(bytes)) => return Response::from_parts(head, Body::from(bytes)),
            Ok(Err(e)) => {
                tracing::error!(error = %e, path = parts.uri.path(), "page render failed");
                break;
            }
            Err(_) => {
                tracing::warn!(attempt, path = parts.uri.path(), "page render stalled");
            }
        }
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [("retry-after", "5")],
        "This page could not be rendered in time. Reload it in a moment.",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, path: &str) -> Request {
        Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap_or_default()
    }

    #[test]
    fn only_page_renders_are_buffered() {
        for path in [
            "/",
            "/usage?period=today",
            "/tokens",
            "/sign-in",
            "/no-such-page",
        ] {
            assert!(is_page_render(&request(Method::GET, path)), "{path}");
        }
        for path in [
            "/api/v1/explore",
            "/api/load_overview",
            "/subscriptions/x/providers/Microsoft.Commerce/UsageAggregates",
            "/widget",
            "/pkg/meterbook.js",
            "/auth/sign-in",
        ] {
            assert!(!is_page_render(&request(Method::GET, path)), "{path}");
        }
        assert!(!is_page_render(&request(Method::POST, "/")));
    }
}
