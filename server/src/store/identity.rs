//! The identity claim rules as the store keeps them: read here, written in [`super::Changes`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meterbook_core::identity::ClaimRule;

use super::StoreError;

/// A rule with its ID and who made it when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRule {
    pub id: i64,
    pub rule: ClaimRule,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    /// Every claim rule, oldest first.
    async fn claim_rules(&self) -> Result<Vec<StoredRule>, StoreError>;
}
