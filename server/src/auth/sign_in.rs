//! Signing in and out of the portal: plain HTML form posts, so they work before (and without)
//! the WebAssembly. Failed sign-ins are rate-limited per (account, client address), per address,
//! and for an account across addresses, so a guesser is slowed without anyone being able to lock
//! the owner out; the answer never says whether an account exists.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Extension, Router};
use chrono::{Duration, Utc};
use meterbook_app::viewer::ClientAddress;
use meterbook_core::audit::AuditAction;
use meterbook_core::sign_in::SignInForm;
use serde::Deserialize;

use super::passwords::verify_password;
use super::SignedIn;
use crate::audit::{self, Event};
use crate::state::AppState;
use crate::store::StoreError;

/// Failed sign-ins of one account name from one client address within
/// [`FAILURE_WINDOW_MINUTES`] before that address may no longer try that account.
pub const ACCOUNT_FAILURE_LIMIT: u64 = 5;
/// Failed sign-ins from one client address (any account) within the window before it is locked.
pub const ADDRESS_FAILURE_LIMIT: u64 = 20;
/// Failed sign-ins of one account from every address together within the window after which only
/// addresses with no failure of their own for it may still try it: a guess spread over many
/// addresses is slowed to one per address, while the owner, from an address that has not failed,
/// still signs in.
pub const SPREAD_FAILURE_LIMIT: u64 = 100;
pub const FAILURE_WINDOW_MINUTES: i64 = 15;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/sign-in", post(sign_in))
        .route("/auth/sign-out", post(sign_out))
}

#[derive(Debug, Default, Deserialize)]
struct SignOutForm {
    csrf: Option<String>,
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
    // A name no account can have is refused before anything is counted or written.
    let form = match SignInForm::parse(&body) {
        (_, Ok(form)) => form,
        (next, Err(refused)) => return back_to_sign_in(refused.as_str(), &next),
    };
    let (username, password, next) = (form.username, form.password, form.next);
    if !state.identity.local_accounts {
        return back_to_sign_in("local_off", &next);
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

/// The failure counters one attempt touches.
struct Keys {
    /// This account from this address: what stops a guesser without stopping the owner elsewhere.
    pair: String,
    /// This address, whatever account it tries.
    address: String,
    /// This account from everywhere.
    account: String,
}

impl Keys {
    fn new(username: &str, address: &str) -> Self {
        let account = username.to_lowercase();
        Keys {
            pair: format!("pair:{account}|{address}"),
            address: format!("address:{address}"),
            account: format!("account:{account}"),
        }
    }

    fn all(&self) -> [String; 3] {
        [
            self.pair.clone(),
            self.address.clone(),
            self.account.clone(),
        ]
    }

    /// Whether counts (this attempt included, in the order of [`Keys::all`]) are over a limit.
    fn limited(counts: &[u64]) -> bool {
        let &[pair, address, account] = counts else {
            return true;
        };
        pair > ACCOUNT_FAILURE_LIMIT
            || address > ADDRESS_FAILURE_LIMIT
            || (account > SPREAD_FAILURE_LIMIT && pair > 1)
    }
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
    let keys = Keys::new(username, address);
    let event = |action, detail| Event {
        actor: "anonymous",
        action,
        target: username,
        address,
        detail,
    };
    // Every attempt counts as a failure until its password has been checked, and the count
    // includes it: parallel guesses cannot all slip in under the limit, and a locked pair cannot
    // be guessed at even with the right password. Names that do not exist are limited just the
    // same.
    let attempts = store
        .record_sign_in_failure(&keys.all(), now, window_start)
        .await?;
    if Keys::limited(&attempts) {
        // A refused attempt leaves no failure behind and is audited once per address and window,
        // so a flood of them writes nothing more.
        for key in keys.all() {
            store.forget_sign_in_failure(&key).await?;
        }
        let marker = [format!("limited:{address}")];
        if store.sign_in_failures(&marker, window_start).await?[0] == 0 {
            store
                .record_sign_in_failure(&marker, now, window_start)
                .await?;
            audit::record_alone(store, event(AuditAction::SignInThrottled, "")).await?;
        }
        crate::metrics::sign_in("throttled");
        return Ok(Attempt::Limited);
    }
    let found = store.user_by_name(username).await?;
    let usable = found
        .as_ref()
        .filter(|(user, _)| user.disabled_at.is_none());
    let verified = verify_password(password, usable.map(|(_, hash)| hash.as_str())).await;
    let Some((user, _)) = usable.filter(|_| verified) else {
        audit::record_alone(store, event(AuditAction::SignInRefused, "")).await?;
        crate::metrics::sign_in("refused");
        return Ok(Attempt::Refused);
    };
    // A success is no failure: this address starts afresh for the account and gets its attempt
    // back. The account's spread count is left to age out, so a guesser gains nothing from it.
    store.clear_sign_in_failures(&keys.pair).await?;
    store.forget_sign_in_failure(&keys.address).await?;
    store.forget_sign_in_failure(&keys.account).await?;
    // A new session ID at every sign-in; one the browser already had is ended, not reused.
    let old = state.sessions.resolve(store, headers, now).await?;
    let mut changes = store.begin().await?;
    if let Some((old_hash, _)) = old {
        changes.delete_session(&old_hash).await?;
    }
    let started = state.sessions.start(&mut changes, user.id, now).await?;
    let actor = format!("user:{}", user.username);
    audit::record(
        &mut changes,
        Event {
            actor: &actor,
            action: AuditAction::SignIn,
            target: &user.username,
            address,
            detail: user.role.as_str(),
        },
    )
    .await?;
    changes.commit().await?;
    crate::metrics::sign_in("signed_in");
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
        let mut changes = store.begin().await?;
        changes.delete_session(&signed_in.id_hash).await?;
        audit::record(
            &mut changes,
            Event {
                actor: &format!("user:{user}"),
                action: AuditAction::SignOut,
                target: user,
                address: &address,
                detail: "",
            },
        )
        .await?;
        changes.commit().await
    }
    .await;
    if let Err(e) = result {
        return unavailable(&e);
    }
    // A person from the directory is signed out there too, where it offers RP-initiated logout.
    let signed_out = format!("{}/sign-in?signed_out=1", state.public_base);
    let mut to = "/sign-in?signed_out=1".to_owned();
    if let Some(issuer) = signed_in
        .session
        .user
        .issuer
        .as_deref()
        .and_then(|name| state.identity.issuer(name))
    {
        if let Ok(crate::identity::Endpoints {
            end_session_endpoint: Some(end),
            ..
        }) = issuer.endpoints().await
        {
            let query = serde_urlencoded::to_string([
                (
                    "client_id",
                    issuer.config().client_id.as_deref().unwrap_or_default(),
                ),
                ("post_logout_redirect_uri", signed_out.as_str()),
            ])
            .unwrap_or_default();
            to = format!("{end}{}{query}", if end.contains('?') { '&' } else { '?' });
        }
    }
    let mut response = Redirect::to(&to).into_response();
    if let Ok(value) = state.sessions.clearing_cookie().parse() {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}
