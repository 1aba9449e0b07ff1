//! The portal's management of usage widgets: who may make one for what, and the embed code.

use chrono::{Duration, Utc};
use meterbook_app::portal::views::{
    CreatedWidget, NewWidgetForm, WidgetView, DEFAULT_WIDGET_DAYS, MAX_WIDGET_DAYS,
};
use meterbook_app::portal::PortalError;
use meterbook_app::viewer::Viewer;
use meterbook_core::audit::AuditAction;
use meterbook_core::meter::{catalog, UNKNOWN_CATEGORY};
use meterbook_core::SubscriptionId;

use super::{owner_filter, store_failed, Portal};
use crate::audit::{self, Event};
use crate::auth::tokens::{hash_secret, random_secret};
use crate::store::{NewWidget, WidgetInfo};
use crate::widget::WIDGET_TOKEN_PREFIX;

const MAX_NAME: usize = 64;

fn view_of(w: WidgetInfo) -> WidgetView {
    let now = Utc::now();
    let state = match (w.revoked_at, w.expires_at <= now, w.creator_can_read) {
        (Some(at), _, _) => format!("revoked {}", at.format("%Y-%m-%d")),
        (None, true, _) => "expired".to_owned(),
        (None, false, false) => "stopped: its creator lost access".to_owned(),
        (None, false, true) => "active".to_owned(),
    };
    WidgetView {
        id: w.id,
        name: w.name,
        subscription: w.subscription.as_str().to_owned(),
        categories: w.categories,
        created_by: w.created_by_name,
        created_at: w.created_at.format("%Y-%m-%d").to_string(),
        expires_at: w.expires_at.format("%Y-%m-%d %H:%M").to_string(),
        live: state == "active",
        state,
    }
}

/// The catalog's spelling of each category named (case-insensitively), or which one is unknown.
fn categories(raw: &str) -> Result<Vec<String>, PortalError> {
    let known = || {
        catalog()
            .all()
            .iter()
            .map(|m| m.category.as_str())
            .chain([UNKNOWN_CATEGORY])
    };
    let mut out: Vec<String> = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let canonical = known()
            .find(|k| k.eq_ignore_ascii_case(name))
            .ok_or_else(|| PortalError::Invalid(format!("'{name}' is not a meter category")))?;
        if !out.iter().any(|c| c == canonical) {
            out.push(canonical.to_owned());
        }
    }
    Ok(out)
}

fn days(raw: &str) -> Result<u32, PortalError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(DEFAULT_WIDGET_DAYS);
    }
    raw.parse::<u32>()
        .ok()
        .filter(|d| (1..=MAX_WIDGET_DAYS).contains(d))
        .ok_or_else(|| {
            PortalError::Invalid(format!(
                "A widget lasts 1 to {MAX_WIDGET_DAYS} days, not '{raw}'"
            ))
        })
}

pub(super) async fn list(portal: &Portal, viewer: &Viewer) -> Result<Vec<WidgetView>, PortalError> {
    let widgets = portal
        .store
        .list_widgets(owner_filter(viewer))
        .await
        .map_err(store_failed)?;
    Ok(widgets.into_iter().map(view_of).collect())
}

pub(super) async fn create(
    portal: &Portal,
    viewer: &Viewer,
    address: String,
    form: NewWidgetForm,
) -> Result<CreatedWidget, PortalError> {
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(PortalError::Invalid(format!(
            "Give the widget a name of 1 to {MAX_NAME} characters"
        )));
    }
    let subscription = SubscriptionId::parse(form.subscription.trim()).map_err(|_| {
        PortalError::Invalid(format!(
            "'{}' is not a subscription ID",
            form.subscription.trim()
        ))
    })?;
    if !viewer.access.can_read(&subscription) {
        return Err(PortalError::Forbidden(format!(
            "You have no access to subscription {subscription}"
        )));
    }
    let categories = categories(&form.categories)?;
    let expires_at = Utc::now() + Duration::days(i64::from(days(&form.days)?));
    let token = format!(
        "{WIDGET_TOKEN_PREFIX}{}",
        random_secret().map_err(|e| {
            tracing::error!(error = %e, "no randomness for a widget token");
            PortalError::Unavailable("Meterbook cannot create tokens right now".to_owned())
        })?
    );
    let mut changes = portal.store.begin().await.map_err(store_failed)?;
    let id = changes
        .create_widget(&NewWidget {
            name,
            token_hash: &hash_secret(&token),
            subscription: &subscription,
            categories: &categories,
            created_by: viewer.user_id,
            expires_at,
        })
        .await
        .map_err(store_failed)?;
    audit::record(
        &mut changes,
        Event {
            actor: &format!("user:{}", viewer.username),
            action: AuditAction::WidgetCreate,
            target: &format!("widget:{id}"),
            address: &address,
            detail: &format!(
                "{name} {subscription} [{}] until {}",
                categories.join(","),
                expires_at.format("%Y-%m-%d")
            ),
        },
    )
    .await
    .map_err(store_failed)?;
    changes.commit().await.map_err(store_failed)?;
    let base = &portal.public_base;
    let url = format!("{base}/widget?token={token}");
    Ok(CreatedWidget {
        id,
        name: name.to_owned(),
        iframe: format!(
            "<iframe src=\"{url}\" title=\"Cloud usage this month\" width=\"380\" height=\"600\" style=\"border:0\" referrerpolicy=\"no-referrer\"></iframe>"
        ),
        script: format!("<script src=\"{base}/widget.js\" data-token=\"{token}\" async></script>"),
        url,
    })
}

pub(super) async fn revoke(
    portal: &Portal,
    viewer: &Viewer,
    address: String,
    id: i64,
) -> Result<(), PortalError> {
    let mut changes = portal.store.begin().await.map_err(store_failed)?;
    let revoked = changes
        .revoke_widget(id, owner_filter(viewer))
        .await
        .map_err(store_failed)?;
    if !revoked {
        return Err(PortalError::NotFound(
            "There is no such active widget of yours".to_owned(),
        ));
    }
    audit::record(
        &mut changes,
        Event {
            actor: &format!("user:{}", viewer.username),
            action: AuditAction::WidgetRevoke,
            target: &format!("widget:{id}"),
            address: &address,
            detail: "",
        },
    )
    .await
    .map_err(store_failed)?;
    changes.commit().await.map_err(store_failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_take_the_catalog_spelling_and_refuse_unknown_ones() {
        assert_eq!(
            categories(" compute, STORAGE,compute ").unwrap(),
            vec!["Compute", "Storage"]
        );
        assert!(categories("").unwrap().is_empty());
        assert!(categories("Compute, Lasers")
            .unwrap_err()
            .to_string()
            .contains("Lasers"));
    }

    #[test]
    fn expiry_is_one_day_to_a_year() {
        assert_eq!(days("").unwrap(), DEFAULT_WIDGET_DAYS);
        assert_eq!(days("30").unwrap(), 30);
        for bad in ["0", "366", "-1", "soon"] {
            assert!(days(bad).is_err(), "{bad}");
        }
    }
}
