//! API tokens: how they are made, stored (as hashes) and checked on every request.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use meterbook_core::access::{Access, Role};
use meterbook_core::{ArmCode, SubscriptionId};
use sha2::{Digest, Sha256};

use crate::api::error::ApiError;
use crate::state::AppState;
use crate::store::{StoreError, UsageStore};

/// Prefix of every Meterbook API token, so leaked tokens are easy to recognise and scan for.
const TOKEN_PREFIX: &str = "mbt_";

/// A fresh random token: the prefix and 256 random bits.
pub fn generate_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// What is stored of a token. Tokens carry 256 random bits, so a plain SHA-256 is enough: there is
/// nothing to brute-force.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Creates and stores a token; returns the token itself, which is never stored.
pub async fn issue_token(
    store: &dyn UsageStore,
    name: &str,
    role: Role,
    subscriptions: &[SubscriptionId],
) -> Result<(i64, String), IssueError> {
    if role == Role::Tenant && subscriptions.is_empty() {
        return Err(IssueError::TenantWithoutSubscription);
    }
    let token = generate_token().map_err(|e| IssueError::Random(e.to_string()))?;
    let id = store
        .create_token(name, role, subscriptions, &hash_token(&token))
        .await?;
    Ok((id, token))
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("a tenant token needs at least one --subscription")]
    TenantWithoutSubscription,
    #[error("no randomness available: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The authenticated caller of an API request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: i64,
    pub name: String,
    pub access: Access,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthenticated =
            |message: &str| ApiError::new(ArmCode::InvalidAuthenticationToken, message);
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            unauthenticated("An Authorization header with a Bearer token is required")
        })?;
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
            .token_by_hash(&hash_token(token))
            .await?
            .ok_or_else(|| unauthenticated("The token is not valid or has been revoked"))?;
        tracing::Span::current().record("token.id", info.id);
        Ok(Caller {
            token_id: info.id,
            name: info.name,
            access: Access {
                role: info.role,
                subscriptions: info.subscriptions,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let a = generate_token().unwrap();
        let b = generate_token().unwrap();
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_ne!(a, b);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), hash_token(&b));
    }
}
