//! Changes to people (add, disable, enable, a new password, grants), in one place for the
//! command line and the portal: each is checked, stored and written to the audit log the same
//! way, whoever makes it.

use chrono::Utc;
use meterbook_core::access::Role;
use meterbook_core::audit::AuditAction;
use meterbook_core::SubscriptionId;

use crate::audit::{self, Event};
use crate::auth::passwords::{hash_password, PasswordError};
use crate::store::{Changes, Store, StoreError, UserInfo};

/// Who makes a change, for the audit log: `cli`, or `user:<name>` and their address.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub name: &'a str,
    pub address: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    /// The change is refused; the message says why, for the person who asked.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for PeopleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(message) => Self::Refused(message),
            other => Self::Store(other),
        }
    }
}

fn refused(message: impl Into<String>) -> PeopleError {
    PeopleError::Refused(message.into())
}

/// Usernames: 1 to 64 letters, digits, and `.`, `_`, `-`, `@`
/// ([`meterbook_core::sign_in::check_username`]).
pub fn check_username(username: &str) -> Result<(), PeopleError> {
    meterbook_core::sign_in::check_username(username).map_err(refused)
}

/// The subscriptions `raw` names, separated by commas or new lines: each a subscription ID (or
/// several separated by spaces), or the display name of exactly one subscription in the tenant
/// directory, in any case ("Contoso Ltd"). Refused naming the part that is neither, or the
/// subscriptions a name is shared by.
pub async fn resolve_subscriptions(
    store: &dyn Store,
    raw: &str,
) -> Result<Vec<SubscriptionId>, PeopleError> {
    let mut subs: Vec<SubscriptionId> = Vec::new();
    for part in raw
        .split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let ids: Result<Vec<SubscriptionId>, String> =
            part.split_whitespace().map(SubscriptionId::parse).collect();
        if let Ok(ids) = ids {
            subs.extend(ids);
            continue;
        }
        let named = store.directory_named(part).await?;
        match named.as_slice() {
            [one] => subs.push(one.subscription_id.clone()),
            [] => {
                return Err(refused(format!(
                    "'{part}' is neither a subscription ID nor the name of a subscription in the \
                     tenant directory"
                )))
            }
            several => {
                let ids: Vec<&str> = several.iter().map(|e| e.subscription_id.as_str()).collect();
                return Err(refused(format!(
                    "'{part}' names {} subscriptions ({}): give the ID of the one you mean",
                    ids.len(),
                    ids.join(", ")
                )));
            }
        }
    }
    subs.dedup();
    Ok(subs)
}

/// Adds the audit entry of what `changes` hold, and commits both.
async fn commit_audited(
    mut changes: Changes,
    actor: Actor<'_>,
    action: AuditAction,
    target: &str,
    detail: &str,
) -> Result<(), PeopleError> {
    audit::record(
        &mut changes,
        Event {
            actor: actor.name,
            action,
            target,
            address: actor.address,
            detail,
        },
    )
    .await?;
    changes.commit().await?;
    Ok(())
}

/// What a new person's audit entry says: their role, and a tenant's subscriptions.
fn grant_detail(role: Role, subs: &[SubscriptionId]) -> String {
    let ids: Vec<&str> = subs.iter().map(SubscriptionId::as_str).collect();
    match ids.is_empty() {
        true => role.as_str().to_owned(),
        false => format!("{role}: {}", ids.join(",")),
    }
}

/// Adds a person; returns their ID.
pub async fn add(
    store: &dyn Store,
    actor: Actor<'_>,
    username: &str,
    role: Role,
    password: &str,
    subs: &[SubscriptionId],
) -> Result<i64, PeopleError> {
    check_username(username)?;
    match role {
        Role::Provider => {
            return Err(refused(
                "people are operators or tenants; resource providers use tokens",
            ))
        }
        Role::Tenant if subs.is_empty() => {
            return Err(refused("a tenant user needs at least one subscription"))
        }
        Role::Operator if !subs.is_empty() => {
            return Err(refused(
                "operators see every subscription; subscriptions are for tenant users",
            ))
        }
        _ => {}
    }
    let hash = hash_password(password).await?;
    let mut changes = store.begin().await?;
    let id = changes.create_user(username, role, &hash, subs).await?;
    commit_audited(
        changes,
        actor,
        AuditAction::UserAdd,
        username,
        &grant_detail(role, subs),
    )
    .await?;
    Ok(id)
}

/// Disables (ending their sessions and revoking their tokens) or enables a person.
pub async fn set_disabled(
    store: &dyn Store,
    actor: Actor<'_>,
    user: &UserInfo,
    disabled: bool,
) -> Result<(), PeopleError> {
    if disabled && actor.name == format!("user:{}", user.username) {
        return Err(refused("you cannot disable yourself"));
    }
    let mut changes = store.begin().await?;
    changes
        .set_user_disabled(user.id, disabled, Utc::now())
        .await?;
    let action = if disabled {
        AuditAction::UserDisable
    } else {
        AuditAction::UserEnable
    };
    commit_audited(changes, actor, action, &user.username, "").await
}

/// What a password reset does to the person's API tokens: the actor chooses, and the audit entry
/// records the choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokensOnReset {
    /// Revoke every API token and widget they created (the default: a reset often follows a
    /// compromise).
    Revoke,
    /// Leave them live (a forgotten password, scripts that must keep running).
    Keep,
}

/// Sets a new password; the person's sessions end, and their tokens are revoked or kept as the
/// actor chose. Returns how many tokens were revoked.
pub async fn set_password(
    store: &dyn Store,
    actor: Actor<'_>,
    user: &UserInfo,
    password: &str,
    tokens: TokensOnReset,
) -> Result<u64, PeopleError> {
    if actor.name == format!("user:{}", user.username) {
        // Their sessions would end with the new password shown once: one missed glance would
        // lock them out.
        return Err(refused(
            "you cannot reset your own password here; ask another operator, or use `meterbook user passwd` on the server",
        ));
    }
    let hash = hash_password(password).await?;
    let revoke_at = (tokens == TokensOnReset::Revoke).then(Utc::now);
    let mut changes = store.begin().await?;
    let revoked = changes
        .set_password(user.id, &hash, revoke_at)
        .await?
        .ok_or_else(|| refused(format!("there is no user '{}'", user.username)))?;
    let detail = match tokens {
        TokensOnReset::Revoke => format!("sessions ended; tokens revoked: {revoked}"),
        TokensOnReset::Keep => "sessions ended; tokens kept".to_owned(),
    };
    commit_audited(
        changes,
        actor,
        AuditAction::UserSetPassword,
        &user.username,
        &detail,
    )
    .await?;
    Ok(revoked)
}

/// How a reset's outcome for tokens reads after "their sessions ended" (portal and CLI alike).
pub fn reset_tokens_said(tokens: TokensOnReset, revoked: u64) -> String {
    match (tokens, revoked) {
        (TokensOnReset::Keep, _) => " and their API tokens and widgets were kept".to_owned(),
        (TokensOnReset::Revoke, 1) => " and their 1 API token or widget was revoked".to_owned(),
        (TokensOnReset::Revoke, n) => format!(" and their {n} API tokens and widgets were revoked"),
    }
}

/// Grants (or revokes) subscriptions to a tenant user; effective at their next request.
pub async fn change_grants(
    store: &dyn Store,
    actor: Actor<'_>,
    user: &UserInfo,
    subs: &[SubscriptionId],
    granted: bool,
) -> Result<(), PeopleError> {
    if user.role != Role::Tenant {
        return Err(refused(format!(
            "'{}' is an operator and sees every subscription; grants are for tenant users",
            user.username
        )));
    }
    if subs.is_empty() {
        return Err(refused("name at least one subscription"));
    }
    let mut changes = store.begin().await?;
    changes.set_grants(user.id, subs, granted).await?;
    let ids: Vec<&str> = subs.iter().map(SubscriptionId::as_str).collect();
    let action = if granted {
        AuditAction::GrantAdd
    } else {
        AuditAction::GrantRemove
    };
    commit_audited(changes, actor, action, &user.username, &ids.join(",")).await
}
