//! The state every handler shares.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use meterbook_core::page::TokenSigner;
use meterbook_core::SubscriptionId;

use crate::store::UsageStore;

#[derive(Clone)]
pub struct AppState {
    /// Where usage, tokens and settings are kept.
    pub store: Arc<dyn UsageStore>,
    /// Seals continuation tokens; its secret is shared by every server on the same store.
    pub signer: Arc<TokenSigner>,
    /// The provider (operator) subscription of the provider API's path.
    pub provider_subscription: SubscriptionId,
    /// Absolute base URL clients reach this server at (for `nextLink`); when unset, the request's
    /// Host header is used.
    pub public_url: Option<String>,
    /// Demo mode: the portal is open without sign-in.
    pub demo: bool,
    /// Leptos' site configuration, for rendering the portal.
    pub leptos_options: LeptosOptions,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
