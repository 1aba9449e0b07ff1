//! Signing in and out of the portal: plain HTML form posts, so they work before (and without)
//! the WebAssembly. Failed sign-ins are rate-limited per account and per client address, and the
//! answer never says whether an account exists.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Extension, Router};
use chrono::{Duration, Utc};
use meterbook_app::viewer::ClientAddress;
use serde::Deserialize;

use super::passwords::verify_password;
use super::SignedIn;
use crate::audit::{self, Event};
use crate::state::AppState;
use crate::store::StoreError;

/// Failed sign-ins of one account name within [`FAILURE_WINDOW_MINUTES`] before it is locked.
pub const ACCOUNT_FAILURE_LIMIT: u64 = 5;
/// Failed sign-ins from one client address within the window before it is locked out.
pub const ADDRESS_FAILURE_LIMIT: u64 = 20;
pub const FAILURE_WINDOW_MINUTES: i64 = 15;

/// Longest username or password read from the form; longer input is refused, not hashed.
const MAX_FIELD_LEN: usize = 1_024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/sign-in", post(sign_in))
        .route("/auth/sign-out", post(sign_out))
}

#[derive(Debug, Default, Deserialize)]
struct SignInForm {
    username: Option<String>,
    password: Option<String>,
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct SignOutForm {
    csrf: Option<String>,
}

/// Where to go after signing in: a path on this site, never another site.
pub fn safe_next(next: Option<&str>) -> String {
    match next.map(str::trim) {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.starts_with("/auth/")
                && !path.starts_with("/sign-in")
                && path.len() <= 2_048
                && !path.chars().any(|c| c.is_control() || c == '\\') =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// Back to the sign-in page with a reason the page explains.
fn back_to_sign_in(reason: &str, next: &str) -> Response {
    let query =
        serde_urlencoded::to_string([("error", reason), ("next", next)]).unwrap_or_default();
    Redirect::to(&format!("/sign-in?{query}")).into_response()
}

fn unavailable(e: &StoreError) -> Response {
    tracing::error!(error = ?e, "sign-in failed in the store");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "Meterbook cannot reach its database right now; try again shortly.",
    )
        .into_response()
}

async fn sign_in(
    State(state): State<AppState>,
    Extension(ClientAddress(address)): Extension<ClientAddress>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: SignInForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let next = safe_next(form.next.as_deref());
    let username = form.username.unwrap_or_default().trim().to_owned();
    let password = form.password.unwrap_or_default();
    if username.is_empty() || password.is_empty() {
        return back_to_sign_in("missing", &next);
    }
    if username.len() > MAX_FIELD_LEN || password.len() > MAX_FIELD_LEN {
        return back_to_sign_in("invalid", &next);
    }
    match attempt(&state, &username, &password, &address, &headers).await {
        Ok(Attempt::SignedIn(cookie)) => {
            let mut response = Redirect::to(&next).into_response();
            if let Ok(value) = cookie.parse() {
                response.headers_mut().insert(SET_COOKIE, value);
            }
            response
        }
        Ok(Attempt::Refused) => back_to_sign_in("invalid", &next),
        Ok(Attempt::Limited) => back_to_sign_in("too_many", &next),
        Err(e) => unavailable(&e),
    }
}

enum Attempt {
    SignedIn(String),
    Refused,
    Limited,
}

async fn attempt(
    state: &AppState,
    username: &str,
    password: &str,
    address: &str,
    headers: &HeaderMap,
) -> Result<Attempt, StoreError> {
    let store = state.store.as_ref();
    let now = Utc::now();
    let window_start = now - Duration::minutes(FAILURE_WINDOW_MINUTES);
    let account_key = format!("account:{}", username.to_lowercase());
    let keys = [account_key.clone(), format!("address:{address}")];
    let event = |action, detail| Event {
        actor: "anonymous",
        action,
        target: username,
        address,
        detail,
    };
    // Every attempt counts as a failure until its password has been checked, and the count
    // includes it: parallel guesses cannot all slip in under the limit, and a locked account
    // cannot be guessed at even with the right password. Names that do not exist are limited
    // just the same.
    let attempts = store
        .record_sign_in_failure(&keys, now, window_start)
        .await?;
    if attempts[0] > ACCOUNT_FAILURE_LIMIT || attempts[1] > ADDRESS_FAILURE_LIMIT {
        audit::record(store, event("sign_in_limited", "")).await?;
        return Ok(Attempt::Limited);
    }
    let found = store.user_by_name(username).await?;
    let usable = found
        .as_ref()
        .filter(|(user, _)| user.disabled_at.is_none());
    let verified = verify_password(password, usable.map(|(_, hash)| hash.as_str())).await;
    let Some((user, _)) = usable.filter(|_| verified) else {
        audit::record(store, event("sign_in_failed", "")).await?;
        return Ok(Attempt::Refused);
    };
    // A success is no failure: the account starts afresh, and the address gets its attempt back.
    store.forget_sign_in_failure(&keys[1]).await?;
    store.clear_sign_in_failures(&account_key).await?;
    // A new session ID at every sign-in; one the browser already had is ended, not reused.
    if let Some((old_hash, _)) = state.sessions.resolve(store, headers, now).await? {
        store.delete_session(&old_hash).await?;
    }
    let started = state.sessions.start(store, user.id, now).await?;
    let actor = format!("user:{}", user.username);
    audit::record(
        store,
        Event {
            actor: &actor,
            action: "sign_in",
            target: &user.username,
            address,
            detail: user.role.as_str(),
        },
    )
    .await?;
    Ok(Attempt::SignedIn(state.sessions.cookie(&started.id)))
}

async fn sign_out(
    State(state): State<AppState>,
    Extension(ClientAddress(address)): Extension<ClientAddress>,
    signed_in: Option<Extension<SignedIn>>,
    body: Bytes,
) -> Response {
    let Some(Extension(signed_in)) = signed_in else {
        return Redirect::to("/sign-in").into_response();
    };
    let form: SignOutForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if form.csrf.as_deref() != Some(signed_in.session.csrf_token.as_str()) {
        return (
            StatusCode::FORBIDDEN,
            "Refused: the sign-out form is out of date. Reload the page and sign out again.",
        )
            .into_response();
    }
    let store = state.store.as_ref();
    let user = &signed_in.session.user.username;
    let result = async {
        store.delete_session(&signed_in.id_hash).await?;
        audit::record(
            store,
            Event {
                actor: &format!("user:{user}"),
                action: "sign_out",
                target: user,
                address: &address,
                detail: "",
            },
        )
        .await
    }
    .await;
    if let Err(e) = result {
        return unavailable(&e);
    }
    let mut response = Redirect::to("/sign-in?signed_out=1").into_response();
    if let Ok(value) = state.sessions.clearing_cookie().parse() {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/tokens?x=1")), "/tokens?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/auth/sign-out")), "/");
        assert_eq!(safe_next(Some("/a\nb")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
