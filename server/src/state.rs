//! The state every handler shares.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use meterbook_core::page::TokenSigner;
use meterbook_core::rating::period::Tz;
use meterbook_core::usage::IngestWindow;
use meterbook_core::SubscriptionId;

use crate::source::UsageSource;
use crate::store::Store;
use crate::webhook_targets::TargetPolicy;

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
    /// The configured public URL (cookies' `Secure`, CSRF checks); when unset, requests are
    /// checked against their own Host header.
    pub public_url: Option<String>,
    /// The base of absolute links (`nextLink`, OData's context): the public URL, else the
    /// listening address. Never taken from a request.
    pub public_base: String,
    /// Behind a reverse proxy: the client address is the last `X-Forwarded-For` entry.
    pub trust_forwarded_for: bool,
    /// CSP `frame-ancestors` sources of the usage widget.
    pub widget_frame_ancestors: String,
    /// Session lifetimes and cookie flags.
    pub sessions: SessionPolicy,
    /// The usage times ingest accepts.
    pub ingest_window: IngestWindow,
    /// The operator's time zone, in which billing months start and end.
    pub time_zone: Tz,
    /// The internal hosts and ranges webhooks may deliver to (none by default).
    pub webhook_targets: Arc<TargetPolicy>,
    /// Wakes this server's webhook sender when a push is queued.
    pub webhook_wake: Arc<tokio::sync::Notify>,
    /// Renders `/metrics`; `None` when this server records none.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Leptos' site configuration, for rendering the portal.
    pub leptos_options: LeptosOptions,
    /// The directory issuers whose bearer tokens the API accepts, with their keys.
    pub identity: Arc<crate::identity::Identity>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// How long sessions live, and whether their cookie is marked `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, however active.
    pub absolute: Duration,
    /// Set when the portal is reached over HTTPS (`--public-url https://...`).
    pub secure_cookie: bool,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(2 * 3_600),
            absolute: Duration::from_secs(12 * 3_600),
            secure_cookie: false,
        }
    }
}
