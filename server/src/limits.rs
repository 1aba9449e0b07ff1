//! Limits every request meets before any route reads it: a body declared larger than any route
//! takes is refused at once (413, before a byte of it is read). (A body that stops arriving is
//! cut off by the body timeout of [`crate::serve::Timeouts`].)

use axum::body::Body;
use axum::http::{header::CONTENT_LENGTH, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use meterbook_core::ArmCode;

use crate::api::ingest::MAX_BODY_BYTES;
use crate::api_error::ApiError;

/// Refuses a request whose `Content-Length` is beyond what any route accepts (the ingest limit),
/// or is not a number: waiting for 99,999,999,999 declared bytes would hold the connection.
pub async fn refuse_declared_oversize(request: Request<Body>, next: Next) -> Response {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()));
    match declared {
        Some(None) => ApiError::new(
            ArmCode::InvalidProperty,
            "The Content-Length header is not a number of bytes",
        )
        .into_response(),
        Some(Some(n)) if n > MAX_BODY_BYTES as u64 => ApiError::new(
            ArmCode::RequestTooLarge,
            format!("The body declares {n} bytes; no request may exceed {MAX_BODY_BYTES}"),
        )
        .into_response(),
        _ => next.run(request).await,
    }
}
