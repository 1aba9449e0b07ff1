//! Request IDs as ARM sends them, so an Azure SDK's logs and Meterbook's join up: every answer
//! carries a fresh `x-ms-request-id` (a GUID), echoes the caller's `x-ms-client-request-id`, and
//! carries `x-ms-correlation-request-id` (the caller's, or the request ID when none was sent). The
//! three are fields of the request's log span.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-request-id");
pub const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-client-request-id");
pub const CORRELATION_REQUEST_ID: HeaderName =
    HeaderName::from_static("x-ms-correlation-request-id");

/// Longest caller-chosen ID echoed back (ARM's clients send GUIDs); longer or unprintable ones
/// are dropped rather than logged.
const MAX_ECHOED_LEN: usize = 128;

/// A random GUID (version 4), as ARM writes request IDs.
pub fn new_request_id() -> String {
    let mut bytes = [0u8; 16];
    // Without randomness an all-zero ID still answers; it only correlates less well.
    let _ = getrandom::fill(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A caller's ID worth echoing: short, visible ASCII.
fn echoable(headers: &HeaderMap, name: &HeaderName) -> Option<HeaderValue> {
    headers
        .get(name)
        .filter(|v| {
            let bytes = v.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= MAX_ECHOED_LEN
                && bytes.iter().all(|b| b.is_ascii_graphic())
        })
        .cloned()
}

pub async fn request_ids(request: Request, next: Next) -> Response {
    let id = new_request_id();
    let client = echoable(request.headers(), &CLIENT_REQUEST_ID);
    let correlation = echoable(request.headers(), &CORRELATION_REQUEST_ID);
    let span = tracing::Span::current();
    span.record("request.id", id.as_str());
    if let Some(client) = client.as_ref().and_then(|v| v.to_str().ok()) {
        span.record("client_request.id", client);
    }
    if let Some(correlation) = correlation.as_ref().and_then(|v| v.to_str().ok()) {
        span.record("correlation.id", correlation);
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, value.clone());
        headers.insert(CORRELATION_REQUEST_ID, correlation.unwrap_or(value));
    }
    if let Some(client) = client {
        headers.insert(CLIENT_REQUEST_ID, client);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_version_4_guids() {
        let id = new_request_id();
        assert!(meterbook_core::SubscriptionId::parse(&id).is_ok(), "{id}");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_request_id());
    }
}
