//! The audit log: who signed in or out, created or revoked a token, changed a user, or exported
//! usage. Written before the action's answer is sent; if it cannot be written, the action fails.

use chrono::Utc;

use crate::store::{AuditEntry, Store, StoreError};

/// What was done, by whom, from where.
pub struct Event<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub address: &'a str,
    pub detail: &'a str,
}

pub async fn record(store: &dyn Store, event: Event<'_>) -> Result<(), StoreError> {
    tracing::info!(
        actor = event.actor,
        action = event.action,
        target = event.target,
        "audit"
    );
    store
        .append_audit(&AuditEntry {
            at: Utc::now(),
            actor: event.actor.to_owned(),
            action: event.action.to_owned(),
            target: event.target.to_owned(),
            address: event.address.to_owned(),
            detail: event.detail.to_owned(),
        })
        .await
}
