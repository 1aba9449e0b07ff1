//! Health checks for load balancers and orchestrators, answered without authentication and
//! without detail an outsider could use (the cause of a "not ready" is logged, not sent):
//!
//! - `GET /healthz`: the process answers (liveness).
//! - `GET /readyz`: this server should get traffic: the store answers, its migrations are the
//!   ones this binary expects, and the server is not draining (after SIGTERM, during
//!   `--shutdown-delay-seconds`, it says not ready while it still serves, so a load balancer
//!   moves traffic away before connections are refused).
//!
//! They sit outside the portal's guard and request log: probes come every few seconds and need
//! neither a session lookup nor a log line.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::store::Store;

/// How long the store has to answer a readiness probe.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the probes read.
#[derive(Clone)]
pub struct Health {
    pub store: Arc<dyn Store>,
    /// Set when the server starts to shut down.
    pub draining: Arc<AtomicBool>,
}

pub fn router(health: Health) -> Router {
    Router::new()
        .route("/healthz", get(live))
        .route("/readyz", get(ready))
        .with_state(health)
}

fn answer(status: StatusCode, word: &'static str) -> Response {
    let mut response = (status, Json(json!({ "status": word }))).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn live() -> Response {
    answer(StatusCode::OK, "ok")
}

async fn ready(State(health): State<Health>) -> Response {
    if health.draining.load(Ordering::Relaxed) {
        return answer(StatusCode::SERVICE_UNAVAILABLE, "draining");
    }
    match tokio::time::timeout(STORE_TIMEOUT, health.store.migrations_current()).await {
        Ok(Ok(true)) => answer(StatusCode::OK, "ready"),
        Ok(Ok(false)) => {
            tracing::warn!("not ready: the database lacks migrations this server needs");
            answer(StatusCode::SERVICE_UNAVAILABLE, "not ready")
        }
        Ok(Err(e)) => {
            tracing::warn!(error = ?e, "not ready: the store does not answer");
            answer(StatusCode::SERVICE_UNAVAILABLE, "not ready")
        }
        Err(_) => {
            tracing::warn!("not ready: the store did not answer within {STORE_TIMEOUT:?}");
            answer(StatusCode::SERVICE_UNAVAILABLE, "not ready")
        }
    }
}
