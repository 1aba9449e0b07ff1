//! What the store keeps about people and credentials: users and their subscription grants,
//! portal sessions, failed sign-ins (for rate limiting), API tokens and the audit log.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meterbook_core::access::{Access, Role};
use meterbook_core::audit::AuditAction;
use meterbook_core::SubscriptionId;
use serde::Serialize;

use super::StoreError;

/// A person who signs in to the portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    pub id: i64,
    pub username: String,
    pub role: Role,
    /// The subscriptions a tenant user was granted (empty for operators).
    pub subscriptions: Vec<SubscriptionId>,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// The configured issuer a person who signs in with the cloud's directory comes from;
    /// `None` for a local account.
    pub issuer: Option<String>,
}

impl UserInfo {
    pub fn access(&self) -> Access {
        Access {
            role: self.role,
            subscriptions: self.subscriptions.clone(),
        }
    }
}

/// A live portal session and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub user: UserInfo,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A session to store: its ID only as a hash.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub id_hash: &'a str,
    pub user_id: i64,
    pub csrf_token: &'a str,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A stored API token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// For a tenant token: what it reads now (its grants, narrowed to what its creator may still
    /// read when a tenant user created it).
    pub subscriptions: Vec<SubscriptionId>,
    /// The user who created it in the portal; `None` for tokens made on the command line.
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token to store: only its hash.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub name: &'a str,
    pub role: Role,
    pub subscriptions: &'a [SubscriptionId],
    pub token_hash: &'a str,
    pub created_by: Option<i64>,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// Who acted: `user:<name>`, `token:<id>`, `cli` or, for failed sign-ins, `anonymous`.
    pub actor: String,
    pub action: AuditAction,
    pub target: String,
    /// The client's address, when the action came over the network.
    pub address: String,
    pub detail: String,
}

/// What the store keeps about people and credentials, as read; users, sessions and tokens are
/// changed, and the audit log written, in [`super::Changes`].
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// A user and their password hash, found by name in any letter case.
    /// The account of the person `subject` of directory `issuer`, if they signed in before.
    async fn user_by_subject(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<UserInfo>, StoreError>;

    async fn user_by_name(&self, username: &str) -> Result<Option<(UserInfo, String)>, StoreError>;

    async fn list_users(&self) -> Result<Vec<UserInfo>, StoreError>;

    async fn user_count(&self) -> Result<u64, StoreError>;

    /// The session with this ID hash, if it has not expired and its user is enabled.
    async fn session_by_hash(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionInfo>, StoreError>;

    /// Records activity on a session (for the idle timeout).
    async fn touch_session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Records one failed sign-in under each key, drops failures older than `forget_before`, and
    /// returns how many failures each key now has since `window_start`.
    async fn record_sign_in_failure(
        &self,
        keys: &[String],
        at: DateTime<Utc>,
        window_start: DateTime<Utc>,
    ) -> Result<Vec<u64>, StoreError>;

    /// How many failures each key has since `window_start`, writing nothing.
    async fn sign_in_failures(
        &self,
        keys: &[String],
        window_start: DateTime<Utc>,
    ) -> Result<Vec<u64>, StoreError>;

    /// Removes the latest failure recorded under `key`.
    async fn forget_sign_in_failure(&self, key: &str) -> Result<(), StoreError>;

    async fn clear_sign_in_failures(&self, key: &str) -> Result<(), StoreError>;

    /// The live token with this hash: not revoked, and not created by a user since disabled.
    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenInfo>, StoreError>;

    /// Every token, or those `created_by` one user.
    async fn list_tokens(&self, created_by: Option<i64>) -> Result<Vec<TokenInfo>, StoreError>;

    /// The latest entries first, optionally of one action only.
    async fn audit_entries(
        &self,
        limit: u32,
        action: Option<AuditAction>,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}
