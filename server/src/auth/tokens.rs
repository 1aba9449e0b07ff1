//! API tokens and other random secrets: how they are made and stored (as hashes).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use meterbook_core::access::Role;
use meterbook_core::SubscriptionId;
use sha2::{Digest, Sha256};

use crate::store::{Changes, NewToken, StoreError};

/// Prefix of every Meterbook API token, so leaked tokens are easy to recognise and scan for.
const TOKEN_PREFIX: &str = "mbt_";

/// 256 random bits, URL-safe (session IDs, CSRF tokens, the body of API tokens).
pub fn random_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// A fresh API token: the prefix and 256 random bits.
pub fn generate_token() -> Result<String, getrandom::Error> {
    Ok(format!("{TOKEN_PREFIX}{}", random_secret()?))
}

/// What is stored of a token or session ID. They carry 256 random bits, so a plain SHA-256 is
/// enough: there is nothing to brute-force.
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a new token is for.
#[derive(Debug, Clone)]
pub struct TokenRequest<'a> {
    pub name: &'a str,
    pub role: Role,
    pub subscriptions: &'a [SubscriptionId],
    /// The portal user creating it, if not the command line.
    pub created_by: Option<i64>,
}

/// Longest token name accepted.
pub const MAX_TOKEN_NAME_LEN: usize = 64;

/// Creates and stores a token in `changes`; returns its ID and the token itself, which is never
/// stored.
pub async fn issue_token(
    changes: &mut Changes,
    request: &TokenRequest<'_>,
) -> Result<(i64, String), IssueError> {
    let name = request.name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_TOKEN_NAME_LEN
        || name.chars().any(char::is_control)
    {
        return Err(IssueError::BadName);
    }
    match request.role {
        Role::Tenant if request.subscriptions.is_empty() => {
            return Err(IssueError::TenantWithoutSubscription)
        }
        Role::Operator | Role::Provider if !request.subscriptions.is_empty() => {
            return Err(IssueError::SubscriptionsOnlyForTenants(request.role))
        }
        _ => {}
    }
    let token = generate_token().map_err(|e| IssueError::Random(e.to_string()))?;
    let id = changes
        .create_token(&NewToken {
            name,
            role: request.role,
            subscriptions: request.subscriptions,
            token_hash: &hash_secret(&token),
            created_by: request.created_by,
        })
        .await?;
    Ok((id, token))
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("a token needs a name of 1 to {MAX_TOKEN_NAME_LEN} printable characters")]
    BadName,
    #[error("a tenant token needs at least one subscription")]
    TenantWithoutSubscription,
    #[error(
        "subscriptions apply to tenant tokens only; {0} tokens are not limited to subscriptions"
    )]
    SubscriptionsOnlyForTenants(Role),
    #[error("no randomness available: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
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
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_eq!(hash_secret(&a).len(), 64);
        assert_ne!(hash_secret(&a), hash_secret(&b));
    }
}
