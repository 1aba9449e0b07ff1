//! People sign in with the cloud's own directory (OpenID Connect, authorization code flow with
//! PKCE, `state` and `nonce`), against any configured issuer with a client ID:
//! - `GET /auth/oidc/start?issuer=NAME&next=/path` sends the browser to the issuer, keeping the
//!   login's `state`, `nonce` and PKCE verifier in a short-lived, signed, HttpOnly cookie;
//! - `GET /auth/oidc/callback` checks `state`, exchanges the code (with the verifier and the
//!   client secret, server to server), verifies the ID token (signature, issuer, audience,
//!   lifetime, `nonce`) and maps its claims by the operator's claim rules. The person's account is
//!   made at their first sign-in and its role and grants set again at every one, so a group taken
//!   away in the directory takes the access away at the next sign-in; no rule, no sign-in, and the
//!   page says what to ask for. Every outcome is audited.

use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use meterbook_app::viewer::ClientAddress;
use meterbook_core::access::Role;
use meterbook_core::audit::AuditAction;
use meterbook_core::identity::access_from_claims;
use meterbook_core::sign_in::{check_username, safe_next};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::{self, Event};
use crate::state::AppState;
use crate::store::StoreError;

/// The cookie that carries a login in progress from the start to the callback.
const LOGIN_COOKIE: &str = "mb_oidc";
/// How long a login may take at the issuer.
const LOGIN_SECONDS: i64 = 600;
/// What the login cookie's seal is bound to.
const SEAL: &str = "oidc-login";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/oidc/start", get(start))
        .route("/auth/oidc/callback", get(callback))
}

/// A login in progress, sealed in [`LOGIN_COOKIE`].
#[derive(Serialize, Deserialize)]
struct Pending {
    issuer: String,
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    expires: i64,
}

#[derive(Deserialize)]
struct StartQuery {
    issuer: String,
    next: Option<String>,
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: String,
}

fn random(bytes: usize) -> Option<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).ok()?;
    Some(URL_SAFE_NO_PAD.encode(buf))
}

/// Back to the sign-in page with a reason it explains.
fn back(reason: &str, next: &str) -> Response {
    let query =
        serde_urlencoded::to_string([("error", reason), ("next", next)]).unwrap_or_default();
    Redirect::to(&format!("/sign-in?{query}")).into_response()
}

fn redirect_uri(state: &AppState) -> String {
    format!("{}/auth/oidc/callback", state.public_base)
}

fn login_cookie(state: &AppState, value: &str, max_age: i64) -> String {
    let secure = if state.sessions.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    format!("{LOGIN_COOKIE}={value}; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

async fn start(State(state): State<AppState>, Query(query): Query<StartQuery>) -> Response {
    let next = safe_next(query.next.as_deref());
    let Some(issuer) = state
        .identity
        .issuer(&query.issuer)
        .filter(|i| i.config().signs_in())
    else {
        return back("unknown_issuer", &next);
    };
    let endpoints = match issuer.endpoints().await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(issuer = %query.issuer, error = %e, "the directory cannot be reached");
            return back("directory_unreachable", &next);
        }
    };
    let (Some(login_state), Some(nonce), Some(verifier)) = (random(16), random(16), random(32))
    else {
        return back("directory_unreachable", &next);
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let config = issuer.config();
    let pending = Pending {
        issuer: config.name.clone(),
        state: login_state.clone(),
        nonce: nonce.clone(),
        verifier,
        next,
        expires: Utc::now().timestamp() + LOGIN_SECONDS,
    };
    let sealed = state.signer.seal_position(SEAL, &pending);
    let params = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", config.client_id.as_deref().unwrap_or_default()),
        ("redirect_uri", &redirect_uri(&state)),
        ("scope", "openid profile email"),
        ("state", &login_state),
        ("nonce", &nonce),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ])
    .unwrap_or_default();
    let separator = if endpoints.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    let mut response = Redirect::to(&format!(
        "{}{separator}{params}",
        endpoints.authorization_endpoint
    ))
    .into_response();
    if let Ok(value) = login_cookie(&state, &sealed, LOGIN_SECONDS).parse() {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

/// The sealed login of [`LOGIN_COOKIE`] (its seal is checked by the caller); a value no seal of
/// this server's could be is ignored unread.
fn login_in_progress(headers: &HeaderMap) -> Option<String> {
    super::sessions::cookie_value(headers, LOGIN_COOKIE).filter(|v| v.len() <= 2_048)
}

/// Why a callback did not sign anyone in: the sign-in page's reason code, and what the audit log
/// says.
struct Refusal {
    reason: &'static str,
    detail: String,
    who: String,
}

async fn callback(
    State(state): State<AppState>,
    Extension(ClientAddress(address)): Extension<ClientAddress>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let pending = login_in_progress(&headers)
        .and_then(|c| state.signer.open_position::<Pending>(SEAL, &c).ok())
        .filter(|p| p.expires > Utc::now().timestamp());
    let Some(pending) = pending.filter(|p| query.state.as_deref() == Some(p.state.as_str())) else {
        // No login of this browser's is in progress (or its state differs): start again.
        return back("directory_expired", "/");
    };
    let outcome = match (&query.error, &query.code) {
        (None, Some(code)) => finish(&state, &pending, code, &address, &headers).await,
        _ => Err(Ok(Refusal {
            reason: "directory_refused",
            detail: format!(
                "the issuer answered {}",
                query.error.as_deref().unwrap_or("no code")
            ),
            who: String::new(),
        })),
    };
    let mut response = match outcome {
        Ok(cookie) => {
            let mut response = Redirect::to(&pending.next).into_response();
            if let Ok(value) = cookie.parse() {
                response.headers_mut().append(SET_COOKIE, value);
            }
            response
        }
        Err(Ok(refusal)) => {
            let target = if refusal.who.is_empty() {
                pending.issuer.clone()
            } else {
                format!("{}:{}", pending.issuer, refusal.who)
            };
            let event = Event {
                actor: "anonymous",
                action: AuditAction::SignInRefused,
                target: &target,
                address: &address,
                detail: &refusal.detail,
            };
            if let Err(e) = audit::record_alone(state.store.as_ref(), event).await {
                tracing::error!(error = ?e, "a refused directory sign-in could not be audited");
            }
            crate::metrics::sign_in("refused");
            back(refusal.reason, &pending.next)
        }
        Err(Err(e)) => {
            tracing::error!(error = ?e, "a directory sign-in failed in the store");
            back("unavailable", &pending.next)
        }
    };
    if let Ok(value) = login_cookie(&state, "", 0).parse() {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

/// Exchanges the code, checks the ID token, maps it and starts a session: the session cookie.
async fn finish(
    state: &AppState,
    pending: &Pending,
    code: &str,
    address: &str,
    headers: &HeaderMap,
) -> Result<String, Result<Refusal, StoreError>> {
    let refuse = |reason, detail: String, who: &str| {
        Err(Ok(Refusal {
            reason,
            detail,
            who: who.to_owned(),
        }))
    };
    let Some(issuer) = state.identity.issuer(&pending.issuer) else {
        return refuse(
            "unknown_issuer",
            "the issuer is no longer configured".into(),
            "",
        );
    };
    let config = issuer.config();
    let endpoints = match issuer.endpoints().await {
        Ok(e) => e,
        Err(e) => return refuse("directory_unreachable", e.to_string(), ""),
    };
    let secret = config
        .client_secret
        .as_ref()
        .map(|s| s.0.as_str())
        .unwrap_or_default();
    let exchanged = issuer
        .http()
        .post(&endpoints.token_endpoint)
        .basic_auth(
            config.client_id.as_deref().unwrap_or_default(),
            Some(secret),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &redirect_uri(state)),
            ("code_verifier", &pending.verifier),
        ])
        .send()
        .await;
    let answer = match exchanged {
        Ok(r) if r.status().is_success() => r.json::<TokenAnswer>().await.ok(),
        Ok(r) => {
            tracing::warn!(status = %r.status(), "the issuer refused the code exchange");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "the issuer's token endpoint cannot be reached");
            None
        }
    };
    let Some(answer) = answer else {
        return refuse("directory_refused", "the code exchange failed".into(), "");
    };
    let claims = match state
        .identity
        .verify_id_token(&pending.issuer, &answer.id_token, &pending.nonce)
        .await
    {
        Ok(claims) => claims,
        Err(e) => return refuse("directory_refused", e.to_string(), ""),
    };
    let Some(subject) = claims.values("sub").next().map(str::to_owned) else {
        return refuse("directory_refused", "the ID token has no sub".into(), "");
    };
    let principal = claims.principal().unwrap_or(&subject).to_owned();
    let rules: Vec<_> = state
        .store
        .claim_rules()
        .await
        .map_err(Err)?
        .into_iter()
        .map(|r| r.rule)
        .collect();
    let access =
        access_from_claims(&rules, &pending.issuer, &claims).filter(|a| a.role != Role::Provider);
    let Some(access) = access else {
        let groups: Vec<&str> = claims
            .values("groups")
            .chain(claims.values("roles"))
            .collect();
        return refuse(
            "no_role",
            format!(
                "no claim rule maps its groups and roles ({})",
                groups.join(", ")
            ),
            &principal,
        );
    };
    let store = state.store.as_ref();
    let existing = store
        .user_by_subject(&pending.issuer, &subject)
        .await
        .map_err(Err)?;
    if existing.as_ref().is_some_and(|u| u.disabled_at.is_some()) {
        return refuse(
            "invalid",
            "the account is disabled in Meterbook".into(),
            &principal,
        );
    }
    let now = Utc::now();
    let old = state
        .sessions
        .resolve(store, headers, now)
        .await
        .map_err(Err)?;
    let mut changes = store.begin().await.map_err(Err)?;
    if let Some((old_hash, _)) = old {
        changes.delete_session(&old_hash).await.map_err(Err)?;
    }
    let (user_id, username) = match existing {
        Some(user) => {
            changes
                .set_access(user.id, access.role, &access.subscriptions)
                .await
                .map_err(Err)?;
            (user.id, user.username)
        }
        None => {
            let username = if check_username(&principal).is_ok() {
                principal.clone()
            } else {
                format!(
                    "{}-{}",
                    pending.issuer,
                    &subject.chars().take(40).collect::<String>()
                )
            };
            match changes
                .create_directory_user(
                    &username,
                    &pending.issuer,
                    &subject,
                    access.role,
                    &access.subscriptions,
                )
                .await
            {
                Ok(id) => (id, username),
                Err(StoreError::Conflict(_)) => {
                    return refuse(
                        "name_taken",
                        format!("a local account is named {username}"),
                        &principal,
                    )
                }
                Err(e) => return Err(Err(e)),
            }
        }
    };
    let started = state
        .sessions
        .start(&mut changes, user_id, now)
        .await
        .map_err(Err)?;
    let actor = format!("user:{username}");
    let detail = format!("{} via {}", access.role, pending.issuer);
    audit::record(
        &mut changes,
        Event {
            actor: &actor,
            action: AuditAction::SignIn,
            target: &username,
            address,
            detail: &detail,
        },
    )
    .await
    .map_err(Err)?;
    changes.commit().await.map_err(Err)?;
    crate::metrics::sign_in("signed_in");
    Ok(state.sessions.cookie(&started.id))
}
