//! The one error type of every HTTP handler, rendered as ARM's `{"error":{"code","message"}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use meterbook_core::{ArmCode, ArmError};

use crate::source::SourceError;
use crate::store::StoreError;

/// An error answered to a client. Client errors carry their reason; server errors are logged
/// where they happen and answered with a generic message.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ApiError(#[from] pub ArmError);

impl ApiError {
    pub fn new(code: ArmCode, message: impl Into<String>) -> Self {
        Self(ArmError::new(code, message))
    }
}

/// The answer to a request body that could not be read: too large (over `limit` bytes, with
/// `advice` on what to send instead), or broken off.
pub fn unreadable_body(
    e: &axum::extract::rejection::BytesRejection,
    limit: usize,
    advice: &str,
) -> ApiError {
    match e.status().as_u16() {
        413 => ApiError::new(
            ArmCode::RequestTooLarge,
            format!("The body exceeds {limit} bytes; {advice}"),
        ),
        _ => ApiError::new(
            ArmCode::InvalidProperty,
            format!("The body could not be read: {e}"),
        ),
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::Busy(_) => {
                tracing::warn!(error = ?e, "store busy");
                Self::new(
                    ArmCode::ServiceUnavailable,
                    "The usage service is busy; retry in a few seconds",
                )
            }
            _ => {
                tracing::error!(error = ?e, "store failure");
                Self::new(
                    ArmCode::InternalServerError,
                    "An internal error occurred; it has been logged",
                )
            }
        }
    }
}

impl From<SourceError> for ApiError {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::Store(e) => e.into(),
            SourceError::Upstream(e) => Self(e),
            SourceError::ForeignCursor => Self::new(
                ArmCode::InvalidProperty,
                "continuationToken: it belongs to another usage source; start again without it",
            ),
            SourceError::TooMany(_) => Self::new(ArmCode::RequestTooLarge, e.to_string()),
            SourceError::ScopeTooWide => Self::new(
                ArmCode::SubscriptionIdMissingInRequest,
                "Name one subscription to read",
            ),
        }
    }
}

impl From<meterbook_core::access::ScopeError> for ApiError {
    fn from(e: meterbook_core::access::ScopeError) -> Self {
        tracing::info!(error = %e, "read refused");
        Self::new(
            ArmCode::AuthorizationFailed,
            "You do not have access to the usage of the subscription requested",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self.0.envelope())).into_response();
        let headers = response.headers_mut();
        match self.0.code {
            ArmCode::InvalidAuthenticationToken => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ArmCode::ServiceUnavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        response
    }
}
