//! What the portal needs from the server, as a trait the server implements: the app crate cannot
//! depend on the server crate (the server depends on it), and server functions find the
//! implementation in Leptos' context.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use meterbook_core::overview::DailyMeterTotal;

/// A boxed future, as trait objects need.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The server's side of the portal.
pub trait PortalData: Send + Sync + 'static {
    /// Whether the portal may be shown without sign-in (demo mode, until sign-in exists).
    fn is_open(&self) -> bool;

    /// Daily per-meter totals of usage in `[from, to)`. Errors are already logged; the message is
    /// safe to show.
    fn daily_totals(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Vec<DailyMeterTotal>, String>>;
}

/// How server functions find the implementation.
pub type SharedPortalData = Arc<dyn PortalData>;
