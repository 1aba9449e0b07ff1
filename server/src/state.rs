//! The state every handler shares.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use meterbook_core::page::TokenSigner;
use meterbook_core::rating::period::Tz;
use meterbook_core::SubscriptionId;

use crate::auth::sessions::SessionPolicy;
use crate::source::UsageSource;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    /// Where usage (in embedded mode), people, sessions, tokens and settings are kept.
    pub store: Arc<dyn Store>,
    /// Where usage is read from: the store, or an upstream Azure Stack Hub.
    pub source: Arc<dyn UsageSource>,
    /// Whether usage comes from an upstream; then this server takes no ingest.
    pub upstream: bool,
    /// Seals continuation tokens; its secret is shared by every server on the same store.
    pub signer: Arc<TokenSigner>,
    /// The provider (operator) subscription of the provider API's path.
    pub provider_subscription: SubscriptionId,
    /// Absolute base URL clients reach this server at (for `nextLink`, cookies and CSRF checks);
    /// when unset, the request's Host header is used.
    pub public_url: Option<String>,
    /// Behind a reverse proxy: the client address is the last `X-Forwarded-For` entry.
    pub trust_forwarded_for: bool,
    /// CSP `frame-ancestors` sources of the usage widget.
    pub widget_frame_ancestors: String,
    /// Session lifetimes and cookie flags.
    pub sessions: SessionPolicy,
    /// The operator's time zone, in which billing months start and end.
    pub time_zone: Tz,
    /// Wakes this server's webhook sender when a push is queued.
    pub webhook_wake: Arc<tokio::sync::Notify>,
    /// Leptos' site configuration, for rendering the portal.
    pub leptos_options: LeptosOptions,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
