//! Adding and removing claim rules, each with its audit entry in one transaction: the one way
//! the API and the command line change them.

use meterbook_core::audit::AuditAction;
use meterbook_core::identity::ClaimRule;

use crate::audit::{self, Event};
use crate::store::{Store, StoreError};

/// Who is changing the rules, for the audit log.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub name: &'a str,
    pub address: &'a str,
}

/// Adds `rule`; its ID. The same mapping twice is [`StoreError::Conflict`].
pub async fn add(store: &dyn Store, actor: Actor<'_>, rule: &ClaimRule) -> Result<i64, StoreError> {
    let mut changes = store.begin().await?;
    let id = changes.add_claim_rule(rule, actor.name).await?;
    let target = format!("claim rule {id}");
    let detail = rule.to_string();
    audit::record(
        &mut changes,
        Event {
            actor: actor.name,
            action: AuditAction::ClaimRuleAdd,
            target: &target,
            address: actor.address,
            detail: &detail,
        },
    )
    .await?;
    changes.commit().await?;
    Ok(id)
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
    let target = format!("claim rule {id}");
    let detail = rule.to_string();
    audit::record(
        &mut changes,
        Event {
            actor: actor.name,
            action: AuditAction::ClaimRuleRemove,
            target: &target,
            address: actor.address,
            detail: &detail,
        },
    )
    .await?;
    changes.commit().await?;
    Ok(Some(rule))
}
