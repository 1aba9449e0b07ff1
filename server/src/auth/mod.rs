//! Who is asking: API tokens (`Authorization: Bearer`), portal sessions (a cookie), and the
//! request guard that refuses anonymous requests and cross-site writes.

pub mod guard;
pub mod oidc;
pub mod passwords;
pub mod sessions;
pub mod sign_in;
pub mod tokens;

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use meterbook_app::viewer::ClientAddress;
use meterbook_core::access::Access;
use meterbook_core::ArmCode;

use crate::api_error::ApiError;
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

impl Caller {
    /// What this caller did, for the audit log.
    pub fn event<'a>(
        &'a self,
        action: meterbook_core::audit::AuditAction,
        target: &'a str,
        detail: &'a str,
    ) -> crate::audit::Event<'a> {
        crate::audit::Event {
            actor: &self.actor,
            action,
            target,
            address: &self.address,
            detail,
        }
    }
}

/// The client's IP address: the connection's peer, or, behind a trusted reverse proxy, the
/// address that proxy appended last to `X-Forwarded-For` (earlier entries are the client's to
/// invent). IPv6 clients are known by their /64, which one host usually owns whole, so rotating
/// addresses inside it does not dodge the sign-in limit.
pub fn client_address(parts: &Parts, trust_forwarded_for: bool) -> String {
    let forwarded = trust_forwarded_for
        .then(|| {
            parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|a| a.trim().parse::<IpAddr>().ok())
                .next_back()
        })
        .flatten();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    match forwarded.or(peer) {
        Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map(|v4| v4.to_string())
            .unwrap_or_default(),
        Some(ip) => ip.to_string(),
        None => String::new(),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// A bearer token when the request carries one. Otherwise a session, but only for reads from
    /// this site: cookies ride along on cross-site requests (and top-level navigations), so
    /// writes through the API take tokens only, and a browser that says the request came from
    /// elsewhere gets no session.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthenticated =
            |message: &str| ApiError::new(ArmCode::InvalidAuthenticationToken, message);
        let address = parts
            .extensions
            .get::<ClientAddress>()
            .map(|a| a.0.clone())
            .unwrap_or_default();
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            let same_site = parts
                .headers
                .get("sec-fetch-site")
                .and_then(|v| v.to_str().ok())
                .is_none_or(|site| matches!(site, "same-origin" | "none"));
            return match parts.extensions.get::<SignedIn>() {
                Some(signed_in) if parts.method.is_safe() && same_site => {
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
        if crate::identity::Identity::is_jwt(token) {
            return directory_caller(state, token, address).await;
        }
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

/// The caller a directory's bearer token speaks for: the token verified
/// ([`crate::identity::Identity::verify`]), then mapped by the operator's claim rules. A token
/// that does not verify is a 401 saying why; one no rule maps, a 403 saying what to ask for.
async fn directory_caller(
    state: &AppState,
    token: &str,
    address: String,
) -> Result<Caller, ApiError> {
    use crate::identity::{BearerError, KeyError};
    let verified = state.identity.verify(token).await.map_err(|e| match e {
        BearerError::Key(KeyError::Unavailable(cause)) => {
            tracing::warn!(%cause, "a directory's signing keys could not be read");
            ApiError::new(
                ArmCode::ServiceUnavailable,
                "The token's issuer could not be reached to check its signature; try again shortly",
            )
        }
        other => ApiError::new(ArmCode::InvalidAuthenticationToken, other.to_string()),
    })?;
    let principal = verified
        .claims
        .principal()
        .unwrap_or("(unnamed)")
        .to_owned();
    let rules: Vec<_> = state
        .store
        .claim_rules()
        .await?
        .into_iter()
        .map(|r| r.rule)
        .collect();
    let access =
        meterbook_core::identity::access_from_claims(&rules, &verified.issuer, &verified.claims)
            .ok_or_else(|| {
                ApiError::new(
                    ArmCode::AuthorizationFailed,
                    format!(
                        "'{principal}' from the issuer '{}' has no role in Meterbook: no claim \
                         rule maps its groups, app roles or application ID; ask an operator to \
                         add one (meterbook identity rules add)",
                        verified.issuer
                    ),
                )
            })?;
    tracing::Span::current().record(
        "token.id",
        tracing::field::display(format_args!("{}:{principal}", verified.issuer)),
    );
    Ok(Caller {
        actor: format!("directory:{}:{principal}", verified.issuer),
        name: principal,
        access,
        address,
    })
}
