//! Adding and removing claim rules, each with its audit entry in one transaction: the one way
//! the API, the portal and the command line change them.

use meterbook_core::audit::AuditAction;
use meterbook_core::identity::ClaimRule;

use crate::audit::{self, Event};
use crate::store::{Changes, Store, StoreError};

/// Who is changing the rules, for the audit log.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub name: &'a str,
    pub address: &'a str,
}

/// Why a rule was not added.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The rule names an issuer this server does not trust (a 400: the caller can fix it).
    #[error("{0}")]
    UnknownIssuer(String),
    /// The same mapping exists (a 409).
    #[error("{0}")]
    Exists(String),
    #[error(transparent)]
    Store(StoreError),
}

/// Adds `rule`; its ID. It must name one of `issuers` (the configured issuers' names), unless
/// they are not known where the change is made (`None`: the command line without the server's
/// identity configuration).
pub async fn add(
    store: &dyn Store,
    issuers: Option<&[&str]>,
    actor: Actor<'_>,
    rule: &ClaimRule,
) -> Result<i64, AddError> {
    if let Some(issuers) = issuers.filter(|i| !i.contains(&rule.issuer.as_str())) {
        let known = if issuers.is_empty() {
            "none".to_owned()
        } else {
            issuers.join(", ")
        };
        return Err(AddError::UnknownIssuer(format!(
            "issuer '{}' is not configured here (--identity-config); the issuers are: {known}",
            rule.issuer
        )));
    }
    let added = async {
        let mut changes = store.begin().await?;
        let id = changes.add_claim_rule(rule, actor.name).await?;
        record(&mut changes, actor, AuditAction::ClaimRuleAdd, id, rule).await?;
        changes.commit().await?;
        Ok(id)
    };
    added.await.map_err(|e| match e {
        // The store's own message (this mapping exists), not a database's.
        StoreError::Conflict(message) if message.starts_with("a rule maps") => {
            AddError::Exists(message)
        }
        other => AddError::Store(other),
    })
}

/// Removes rule `id`; the rule it was, `None` when there is none (nothing is audited then).
pub async fn remove(
    store: &dyn Store,
    actor: Actor<'_>,
    id: i64,
) -> Result<Option<ClaimRule>, StoreError> {
    let mut changes = store.begin().await?;
    let Some(rule) = changes.remove_claim_rule(id).await? else {
        return Ok(None);
    };
    record(&mut changes, actor, AuditAction::ClaimRuleRemove, id, &rule).await?;
    changes.commit().await?;
    Ok(Some(rule))
}

/// The audit entry of a change to rule `id`, in the change's transaction.
async fn record(
    changes: &mut Changes,
    actor: Actor<'_>,
    action: AuditAction,
    id: i64,
    rule: &ClaimRule,
) -> Result<(), StoreError> {
    let target = format!("claim rule {id}");
    let detail = rule.to_string();
    let event = Event {
        actor: actor.name,
        action,
        target: &target,
        address: actor.address,
        detail: &detail,
    };
    audit::record(changes, event).await
}
