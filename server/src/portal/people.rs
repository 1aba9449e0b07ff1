//! The portal's management of people and its view of the audit log: operators only, with the
//! same rules and audit entries as the command line (see `crate::people`).

use meterbook_app::portal::views::{
    AuditView, ChangeDone, PeopleView, PersonChange, PersonView, MAX_GRANT_CHOICES,
};
use meterbook_app::portal::PortalError;
use meterbook_app::viewer::Viewer;
use meterbook_core::access::Role;
use meterbook_core::directory::{shown_name, Directory, DirectoryEntry};
use meterbook_core::SubscriptionId;

use super::{store_failed, Portal};
use crate::auth::passwords::{generate_password, PasswordError};
use crate::people::{self, Actor, PeopleError, TokensOnReset};
use crate::store::UserInfo;

const OPERATORS_ONLY: &str = "Only operators manage people and read the audit log";

fn operator(viewer: &Viewer) -> Result<(), PortalError> {
    if viewer.is_operator() {
        Ok(())
    } else {
        Err(PortalError::Forbidden(OPERATORS_ONLY.to_owned()))
    }
}

fn failed(e: PeopleError) -> PortalError {
    match e {
        PeopleError::Refused(message) => PortalError::Invalid(message),
        PeopleError::Password(PasswordError::TooShort) => PortalError::Invalid(e.to_string()),
        PeopleError::Password(other) => {
            tracing::error!(error = %other, "password handling failed");
            PortalError::Unavailable("Meterbook cannot set passwords right now".to_owned())
        }
        PeopleError::Store(e) => store_failed(e),
    }
}

/// A person with their grants named from `directory`.
fn view_of(u: UserInfo, directory: &[DirectoryEntry]) -> PersonView {
    PersonView {
        id: u.id,
        username: u.username,
        role: u.role.as_str().to_owned(),
        subscriptions: u
            .subscriptions
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        subscription_names: u
            .subscriptions
            .iter()
            .map(|s| shown_name(s, directory.iter().find(|e| e.subscription_id == *s)))
            .collect(),
        created_at: u.created_at.format("%Y-%m-%d").to_string(),
        disabled: u.disabled_at.is_some(),
    }
}

fn generated() -> Result<String, PortalError> {
    generate_password().map_err(|e| failed(e.into()))
}

pub(super) async fn list(portal: &Portal, viewer: &Viewer) -> Result<PeopleView, PortalError> {
    operator(viewer)?;
    let mut choices: Vec<(String, String)> = portal
        .store
        .directory_page(None, None, MAX_GRANT_CHOICES)
        .await
        .map_err(store_failed)?
        .into_iter()
        .map(|e| (e.display_name, e.subscription_id.to_string()))
        .collect();
    choices.sort();
    let users = portal.store.list_users().await.map_err(store_failed)?;
    let granted: Vec<_> = users
        .iter()
        .flat_map(|u| u.subscriptions.iter().cloned())
        .collect();
    let directory = portal
        .store
        .directory_entries(&granted)
        .await
        .map_err(store_failed)?;
    Ok(PeopleView {
        people: users.into_iter().map(|u| view_of(u, &directory)).collect(),
        choices,
    })
}

async fn find(portal: &Portal, id: i64) -> Result<UserInfo, PortalError> {
    portal
        .store
        .list_users()
        .await
        .map_err(store_failed)?
        .into_iter()
        .find(|u| u.id == id)
        .ok_or_else(|| PortalError::Invalid("There is no such person".to_owned()))
}

fn reads(user: &UserInfo) -> String {
    let subs: Vec<&str> = user
        .subscriptions
        .iter()
        .map(SubscriptionId::as_str)
        .collect();
    if subs.is_empty() {
        "nothing".to_owned()
    } else {
        subs.join(", ")
    }
}

pub(super) async fn change(
    portal: &Portal,
    viewer: &Viewer,
    address: String,
    change: PersonChange,
) -> Result<ChangeDone, PortalError> {
    operator(viewer)?;
    let name = format!("user:{}", viewer.username);
    let actor = Actor {
        name: &name,
        address: &address,
    };
    let store = portal.store.as_ref();
    let done = |message: String| ChangeDone {
        message,
        password: None,
    };
    match change {
        PersonChange::Add {
            username,
            role,
            subscriptions,
        } => {
            let role = Role::parse(&role).map_err(PortalError::Invalid)?;
            let subs = people::resolve_subscriptions(store, &subscriptions)
                .await
                .map_err(failed)?;
            let password = generated()?;
            let username = username.trim();
            people::add(store, actor, username, role, &password, &subs)
                .await
                .map_err(failed)?;
            Ok(ChangeDone {
                message: format!("Added {role} '{username}'."),
                password: Some(password),
            })
        }
        PersonChange::Grant { id, subscriptions } => {
            grants(portal, actor, id, &subscriptions, true).await
        }
        PersonChange::Revoke { id, subscriptions } => {
            grants(portal, actor, id, &subscriptions, false).await
        }
        PersonChange::Disable { id } => {
            let user = find(portal, id).await?;
            people::set_disabled(store, actor, &user, true)
                .await
                .map_err(failed)?;
            Ok(done(format!(
                "Disabled '{}': their sessions ended and their tokens were revoked.",
                user.username
            )))
        }
        PersonChange::Enable { id } => {
            let user = find(portal, id).await?;
            people::set_disabled(store, actor, &user, false)
                .await
                .map_err(failed)?;
            Ok(done(format!("Enabled '{}'.", user.username)))
        }
        PersonChange::NewPassword { id, keep_tokens } => {
            let user = find(portal, id).await?;
            let password = generated()?;
            let tokens = if keep_tokens {
                TokensOnReset::Keep
            } else {
                TokensOnReset::Revoke
            };
            let revoked = people::set_password(store, actor, &user, &password, tokens)
                .await
                .map_err(failed)?;
            Ok(ChangeDone {
                message: format!(
                    "New password for '{}'; their sessions ended{}.",
                    user.username,
                    people::reset_tokens_said(tokens, revoked)
                ),
                password: Some(password),
            })
        }
    }
}

async fn grants(
    portal: &Portal,
    actor: Actor<'_>,
    id: i64,
    subscriptions: &str,
    granted: bool,
) -> Result<ChangeDone, PortalError> {
    let user = find(portal, id).await?;
    let subs = people::resolve_subscriptions(portal.store.as_ref(), subscriptions)
        .await
        .map_err(failed)?;
    people::change_grants(portal.store.as_ref(), actor, &user, &subs, granted)
        .await
        .map_err(failed)?;
    let user = find(portal, id).await?;
    Ok(ChangeDone {
        message: format!("'{}' now reads: {}", user.username, reads(&user)),
        password: None,
    })
}

pub(super) async fn audit(
    portal: &Portal,
    viewer: &Viewer,
    action: Option<meterbook_core::audit::AuditAction>,
    limit: u32,
) -> Result<Vec<AuditView>, PortalError> {
    operator(viewer)?;
    let entries = portal
        .store
        .audit_entries(limit, action)
        .await
        .map_err(store_failed)?;
    let named = |e: &crate::store::AuditEntry| {
        SubscriptionId::all_in(&format!("{} {}", e.target, e.detail))
    };
    let ids: Vec<SubscriptionId> = entries.iter().flat_map(named).collect();
    let directory = Directory::new(
        portal
            .store
            .directory_entries(&ids)
            .await
            .map_err(store_failed)?,
    );
    Ok(entries
        .into_iter()
        .map(|e| AuditView {
            subscriptions: named(&e)
                .iter()
                .map(|id| (id.to_string(), shown_name(id, directory.get(id))))
                .collect(),
            at: e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            actor: e.actor,
            action: e.action.to_string(),
            target: e.target,
            address: e.address,
            detail: e.detail,
        })
        .collect())
}
