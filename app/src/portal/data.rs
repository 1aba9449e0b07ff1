//! What the portal needs from the server, as a trait the server implements: the app crate cannot
//! depend on the server crate (the server depends on it), and server functions find the
//! implementation in Leptos' context. Every method takes the [`Viewer`] and applies their scope
//! on the server.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use meterbook_core::explore::Exploration;
use meterbook_core::overview::DailyMeterTotal;

use super::views::{
    AuditView, ChangeDone, CostsRequest, CostsView, CreatedToken, CreatedWidget, DirectoryRequest,
    DirectoryView, IdentityView, NewTokenForm, NewWidgetForm, PeopleView, PersonChange,
    SignInOptions, TokenView, WidgetView,
};
use super::PortalError;
use crate::viewer::Viewer;

/// A boxed future, as trait objects need.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The server's side of the portal.
pub trait PortalData: Send + Sync + 'static {
    /// Daily per-meter totals of the usage in `[from, to)` the viewer may see.
    fn daily_totals<'a>(
        &'a self,
        viewer: &'a Viewer,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<DailyMeterTotal>, PortalError>>;

    /// The display names of those of `subscription_ids` the viewer may read and the tenant
    /// directory knows, by ID.
    fn subscription_names<'a>(
        &'a self,
        viewer: &'a Viewer,
        subscription_ids: Vec<String>,
    ) -> BoxFuture<'a, Result<BTreeMap<String, String>, PortalError>>;

    /// One page of the usage explorer for the URL query string `search` (the explorer's
    /// parameters and `after` / `before`), in the viewer's scope.
    fn explore<'a>(
        &'a self,
        viewer: &'a Viewer,
        search: &'a str,
    ) -> BoxFuture<'a, Result<Exploration, PortalError>>;

    /// A billing period's costs in the viewer's scope, as `request` asks.
    fn costs<'a>(
        &'a self,
        viewer: &'a Viewer,
        request: CostsRequest,
    ) -> BoxFuture<'a, Result<CostsView, PortalError>>;

    /// The API tokens the viewer may manage: all for operators, their own for tenant users.
    fn list_tokens<'a>(
        &'a self,
        viewer: &'a Viewer,
    ) -> BoxFuture<'a, Result<Vec<TokenView>, PortalError>>;

    /// Creates a token for the viewer (audited); the secret is in the answer, once.
    fn create_token<'a>(
        &'a self,
        viewer: &'a Viewer,
        address: String,
        form: NewTokenForm,
    ) -> BoxFuture<'a, Result<CreatedToken, PortalError>>;

    /// Revokes one of the tokens the viewer may manage (audited).
    fn revoke_token<'a>(
        &'a self,
        viewer: &'a Viewer,
        address: String,
        id: i64,
    ) -> BoxFuture<'a, Result<(), PortalError>>;

    /// Everyone who may sign in, and the subscriptions grants may name; operators only.
    fn list_people<'a>(
        &'a self,
        viewer: &'a Viewer,
    ) -> BoxFuture<'a, Result<PeopleView, PortalError>>;

    /// One change to people by an operator (audited); a generated password is in the answer.
    fn change_person<'a>(
        &'a self,
        viewer: &'a Viewer,
        address: String,
        change: PersonChange,
    ) -> BoxFuture<'a, Result<ChangeDone, PortalError>>;

    /// A page of the tenant directory, as `request` asks; operators only.
    fn directory<'a>(
        &'a self,
        viewer: &'a Viewer,
        request: DirectoryRequest,
    ) -> BoxFuture<'a, Result<DirectoryView, PortalError>>;

    /// How people may sign in (for the sign-in page, before anyone has).
    fn sign_in_options(&self) -> SignInOptions;

    /// The trusted issuers and the claim rules; operators only.
    fn identity<'a>(
        &'a self,
        viewer: &'a Viewer,
    ) -> BoxFuture<'a, Result<IdentityView, PortalError>>;

    /// The latest audit entries (of one action, if given); operators only.
    fn audit_entries<'a>(
        &'a self,
        viewer: &'a Viewer,
        action: Option<meterbook_core::audit::AuditAction>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<AuditView>, PortalError>>;

    /// The widgets the viewer may manage: all for operators, their own for tenant users.
    fn list_widgets<'a>(
        &'a self,
        viewer: &'a Viewer,
    ) -> BoxFuture<'a, Result<Vec<WidgetView>, PortalError>>;

    /// Creates a widget for a subscription the viewer may read (audited); the token is in the
    /// embed code of the answer, once.
    fn create_widget<'a>(
        &'a self,
        viewer: &'a Viewer,
        address: String,
        form: NewWidgetForm,
    ) -> BoxFuture<'a, Result<CreatedWidget, PortalError>>;

    /// Revokes one of the widgets the viewer may manage (audited).
    fn revoke_widget<'a>(
        &'a self,
        viewer: &'a Viewer,
        address: String,
        id: i64,
    ) -> BoxFuture<'a, Result<(), PortalError>>;
}

/// How server functions find the implementation.
pub type SharedPortalData = Arc<dyn PortalData>;
