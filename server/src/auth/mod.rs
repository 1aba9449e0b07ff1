//! Who is asking: API tokens (`Authorization: Bearer`), portal sessions (a cookie), and the
//! request guard that refuses anonymous requests and cross-site writes.

pub mod guard;
pub mod passwords;
pub mod sessions;
pub mod sign_in;
pub mod tokens;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use meterbook_core::access::Access;
use meterbook_core::ArmCode;

use crate::api::error::ApiError;
use crate::state::AppState;
use crate::store::SessionInfo;
use tokens::hash_secret;

pub use tokens::{issue_token, IssueError, TokenRequest};

/// The session of a signed-in request, as the guard found it.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub id_hash: String,
    pub session: SessionInfo,
}

/// The authenticated caller of an API request: a token, or a signed-in person's session.
#[derive(Debug, Clone)]
pub struct Caller {
    /// For the audit log and logs: `token:<id>` or `user:<name>`.
    pub actor: String,
    /// The token's or the person's name, for messages.
    pub name: String,
    pub access: Access,
    /// The client's address.
    pub address: String,
}

/// The client's IP address, as the connection reports it.
pub fn client_address(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_default()
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// A bearer token when the request carries one. Otherwise a session, but only for reads:
    /// cookies ride along on cross-site requests, so writes through the API take tokens only.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthenticated =
            |message: &str| ApiError::new(ArmCode::InvalidAuthenticationToken, message);
        let address = client_address(parts);
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return match parts.extensions.get::<SignedIn>() {
                Some(signed_in) if parts.method.is_safe() => {
                    let user = &signed_in.session.user;
                    Ok(Caller {
                        actor: format!("user:{}", user.username),
                        name: user.username.clone(),
                        access: user.access(),
                        address,
                    })
                }
                _ => Err(unauthenticated(
                    "An Authorization header with a Bearer token is required",
                )),
            };
        };
        let value = header
            .to_str()
            .map_err(|_| unauthenticated("The Authorization header is not valid text"))?;
        let token = match value.trim().split_once(' ') {
            Some((scheme, token))
                if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
            {
                token.trim()
            }
            _ => {
                return Err(unauthenticated(
                    "The Authorization header must be 'Bearer <token>'",
                ))
            }
        };
        let info = state
            .store
            .token_by_hash(&hash_secret(token))
            .await?
            .ok_or_else(|| unauthenticated("The token is not valid or has been revoked"))?;
        tracing::Span::current().record("token.id", info.id);
        Ok(Caller {
            actor: format!("token:{}", info.id),
            name: info.name,
            access: Access {
                role: info.role,
                subscriptions: info.subscriptions,
            },
            address,
        })
    }
}
