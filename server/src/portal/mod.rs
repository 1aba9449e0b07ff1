//! The server's side of the portal: [`PortalData`] over the usage source and the store, with the
//! viewer's scope applied here, on the server.

use meterbook_core::audit::AuditAction;
use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use meterbook_app::portal::views::{
    AuditView, ChangeDone, CostsRequest, CostsView, CreatedToken, CreatedWidget, DirectoryRequest,
    DirectoryView, NewTokenForm, NewWidgetForm, PeopleView, PersonChange, TokenView, WidgetView,
};
use meterbook_app::portal::{BoxFuture, PortalData, PortalError};
use meterbook_app::viewer::Viewer;
use meterbook_core::access::{Role, ScopeError};
use meterbook_core::explore::Exploration;
use meterbook_core::overview::DailyMeterTotal;
use meterbook_core::page::TokenSigner;
use meterbook_core::SubscriptionId;

use crate::audit::{self, Event};
use crate::auth::{issue_token, IssueError, TokenRequest};
use crate::explore::{explore, parse_request, ExploreError};
use crate::source::{SourceError, UsageSource};
use crate::store::{Store, StoreError, TokenInfo};

mod costs;
mod identity;
mod people;
mod tenants;
mod upload;
mod widgets;

pub use costs::{retry_delivery, upload_rate_card};
pub use identity::{add as add_claim_rule, remove as remove_claim_rule};
pub use tenants::{import as import_directory, save as save_subscription};

pub struct Portal {
    pub store: Arc<dyn Store>,
    pub source: Arc<dyn UsageSource>,
    pub signer: Arc<TokenSigner>,
    /// Base URL of links handed out (widget embed code): the public URL, else the listening
    /// address, never a request header.
    pub public_base: String,
    /// Usage comes from an upstream: there is nothing in the store to price.
    pub upstream: bool,
    /// The operator's time zone, in which billing months start and end.
    pub time_zone: meterbook_core::rating::period::Tz,
    /// How people may sign in.
    pub sign_in: meterbook_app::portal::views::SignInOptions,
    /// The trusted issuers (for the identity page).
    pub identity: Arc<crate::identity::Identity>,
}

const UNAVAILABLE: &str = "Meterbook cannot reach its database right now; try again shortly";

fn store_failed(e: StoreError) -> PortalError {
    tracing::error!(error = ?e, "portal store call failed");
    PortalError::Unavailable(UNAVAILABLE.to_owned())
}

fn view_of(t: TokenInfo) -> TokenView {
    TokenView {
        id: t.id,
        name: t.name,
        role: t.role.as_str().to_owned(),
        subscriptions: t
            .subscriptions
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        created_at: t.created_at.format("%Y-%m-%d %H:%M").to_string(),
        revoked_at: t
            .revoked_at
            .map(|at| at.format("%Y-%m-%d %H:%M").to_string()),
    }
}

const NO_GRANTS: &str =
    "You have not been granted any subscription yet; ask an operator to grant you one";

/// Why a viewer may not read what they asked for.
fn scope_refused(e: ScopeError) -> PortalError {
    PortalError::Forbidden(match e {
        ScopeError::NoReadAccess => NO_GRANTS.to_owned(),
        ScopeError::NotGranted(_) => {
            "You do not have access to the usage of that subscription".to_owned()
        }
    })
}

/// What a viewer is told when the usage source fails: the upstream's own words (with its
/// status), a limit they can act on, or (logged here) that it is unavailable.
fn source_failed(e: SourceError) -> PortalError {
    match e {
        SourceError::Upstream(arm) => match arm.code.http_status() {
            400 => PortalError::Invalid(arm.message),
            401 | 403 => PortalError::Forbidden(arm.message),
            404 => PortalError::NotFound(arm.message),
            _ => PortalError::Unavailable(arm.message),
        },
        SourceError::TooMany(_) => PortalError::Invalid(e.to_string()),
        other => {
            tracing::error!(error = ?other, "portal usage query failed");
            PortalError::Unavailable(
                "The usage source is not available right now; try again shortly".to_owned(),
            )
        }
    }
}

/// Tokens a tenant user manages are the ones they created; operators manage all.
fn owner_filter(viewer: &Viewer) -> Option<i64> {
    (!viewer.is_operator()).then_some(viewer.user_id)
}

impl PortalData for Portal {
    fn daily_totals<'a>(
        &'a self,
        viewer: &'a Viewer,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<DailyMeterTotal>, PortalError>> {
        Box::pin(async move {
            let scope = viewer.access.read_scope(None).map_err(scope_refused)?;
            self.source
                .daily_totals(&scope, from, to)
                .await
                .map_err(source_failed)
        })
    }

    fn subscription_names<'a>(
        &'a self,
        viewer: &'a Viewer,
        subscription_ids: Vec<String>,
    ) -> BoxFuture<'a, Result<BTreeMap<String, String>, PortalError>> {
        Box::pin(async move {
            let readable: Vec<SubscriptionId> = subscription_ids
                .iter()
                .filter_map(|id| SubscriptionId::parse(id).ok())
                .filter(|id| viewer.access.can_read(id))
                .collect();
            let entries = self
                .store
                .directory_entries(&readable)
                .await
                .map_err(store_failed)?;
            Ok(entries
                .into_iter()
                .map(|e| (e.subscription_id.to_string(), e.display_name))
                .collect())
        })
    }

    fn explore<'a>(
        &'a self,
        viewer: &'a Viewer,
        search: &'a str,
    ) -> BoxFuture<'a, Result<Exploration, PortalError>> {
        Box::pin(async move {
            let (query, paging) =
                parse_request(search).map_err(|e| PortalError::Invalid(e.to_string()))?;
            let mut exploration = explore(
                self.source.as_ref(),
                self.store.as_ref(),
                &self.signer,
                &viewer.access,
                query,
                paging,
                Utc::now(),
            )
            .await
            .map_err(|e| match e {
                ExploreError::Scope(e) => scope_refused(e),
                ExploreError::Source(e) => source_failed(e),
                ExploreError::Store(e) => store_failed(e),
                other => PortalError::Invalid(other.to_string()),
            })?;
            let names = self
                .subscription_names(viewer, exploration.shown_subscriptions())
                .await?;
            exploration.name_subscriptions(names);
            Ok(exploration)
        })
    }

    fn costs<'a>(
        &'a self,
        viewer: &'a Viewer,
        request: CostsRequest,
    ) -> BoxFuture<'a, Result<CostsView, PortalError>> {
        Box::pin(costs::costs(self, viewer, request))
    }

    fn list_tokens<'a>(
        &'a self,
        viewer: &'a Viewer,
    ) -> BoxFuture<'a, Result<Vec<TokenView>, PortalError>> {
        Box::pin(async move {
            let tokens = self
                .store
                .list_tokens(owner_filter(viewer))
                .await
                .map_err(store_failed)?;
            Ok(tokens.into_iter().map(view_of).collect())
        })
    }

    fn create_token<'a>(
        &'a self,
        viewer: &'a Viewer,
        address: String,
        form: NewTokenForm,
    ) -> BoxFuture<'a, Result<CreatedToken, PortalError>> {
        Box::pin(async move {
            let role = Role::parse(&form.role).map_err(PortalError::Invalid)?;
            let subscriptions = form
                .subscriptions
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(|s| {
                    SubscriptionId::parse(s)
                        .map_err(|e| PortalError::Invalid(format!("'{s}': {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            // Tenant users make tenant tokens for their own subscriptions only.
            if !viewer.is_operator() {
                if role != Role::Tenant {
                    return Err(PortalError::Forbidden(
                        "Tenant users can create tenant tokens only".to_owned(),
                    ));
                }
                if let Some(outside) = subscriptions.iter().find(|s| !viewer.access.can_read(s)) {
                    return Err(PortalError::Forbidden(format!(
                        "You have no access to subscription {outside}"
                    )));
                }
            }
            let mut changes = self.store.begin().await.map_err(store_failed)?;
            let (id, token) = issue_token(
                &mut changes,
                &TokenRequest {
                    name: &form.name,
                    role,
                    subscriptions: &subscriptions,
                    created_by: Some(viewer.user_id),
                },
            )
            .await
            .map_err(|e| match e {
                IssueError::Store(e) => store_failed(e),
                other => PortalError::Invalid(other.to_string()),
            })?;
            let actor = format!("user:{}", viewer.username);
            let subs: Vec<&str> = subscriptions.iter().map(SubscriptionId::as_str).collect();
            audit::record(
                &mut changes,
                Event {
                    actor: &actor,
                    action: AuditAction::TokenCreate,
                    target: &format!("token:{id}"),
                    address: &address,
                    detail: &format!("{} {role} {}", form.name.trim(), subs.join(",")),
                },
            )
            .await
            .map_err(store_failed)?;
            changes.commit().await.map_err(store_failed)?;
            Ok(CreatedToken {
                id,
                name: form.name.trim().to_owned(),
                role: role.as_str().to_owned(),
                token,
            })
        })
    }

    fn revoke_token<'a>(
        &'a self,
        viewer: &'a Viewer,
        address: String,
        id: i64,
    ) -> BoxFuture<'a, Result<(), PortalError>> {
        Box::pin(async move {
            let mut changes = self.store.begin().await.map_err(store_failed)?;
            let revoked = changes
                .revoke_token(id, owner_filter(viewer))
                .await
                .map_err(store_failed)?;
            if !revoked {
                return Err(PortalError::NotFound(format!(
                    "There is no active token {id} that you may revoke"
                )));
            }
            audit::record(
                &mut changes,
                Event {
                    actor: &format!("user:{}", viewer.username),
                    action: AuditAction::TokenRevoke,
                    target: &format!("token:{id}"),
                    address: &address,
                    detail: "",
                },
            )
            .await
            .map_err(store_failed)?;
            changes.commit().await.map_err(store_failed)
        })
    }

    fn list_widgets<'a>(
        &'a self,
        viewer: &'a Viewer,
    ) -> BoxFuture<'a, Result<Vec<WidgetView>, PortalError>> {
        Box::pin(widgets::list(self, viewer))
    }

    fn create_widget<'a>(
        &'a self,
        viewer: &'a Viewer,
        address: String,
        form: NewWidgetForm,
    ) -> BoxFuture<'a, Result<CreatedWidget, PortalError>> {
        Box::pin(widgets::create(self, viewer, address, form))
    }

    fn revoke_widget<'a>(
        &'a self,
        viewer: &'a Viewer,
        address: String,
        id: i64,
    ) -> BoxFuture<'a, Result<(), PortalError>> {
        Box::pin(widgets::revoke(self, viewer, address, id))
    }

    fn list_people<'a>(
        &'a self,
        viewer: &'a Viewer,
    ) -> BoxFuture<'a, Result<PeopleView, PortalError>> {
        Box::pin(people::list(self, viewer))
    }

    fn change_person<'a>(
        &'a self,
        viewer: &'a Viewer,
        address: String,
        change: PersonChange,
    ) -> BoxFuture<'a, Result<ChangeDone, PortalError>> {
        Box::pin(people::change(self, viewer, address, change))
    }

    fn directory<'a>(
        &'a self,
        viewer: &'a Viewer,
        request: DirectoryRequest,
    ) -> BoxFuture<'a, Result<DirectoryView, PortalError>> {
        Box::pin(tenants::directory(self, viewer, request))
    }

    fn audit_entries<'a>(
        &'a self,
        viewer: &'a Viewer,
        action: Option<AuditAction>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<AuditView>, PortalError>> {
        Box::pin(people::audit(self, viewer, action, limit))
    }

    fn sign_in_options(&self) -> meterbook_app::portal::views::SignInOptions {
        self.sign_in.clone()
    }

    fn identity<'a>(
        &'a self,
        viewer: &'a Viewer,
    ) -> BoxFuture<'a, Result<meterbook_app::portal::views::IdentityView, PortalError>> {
        Box::pin(identity::identity(self, viewer))
    }
}
