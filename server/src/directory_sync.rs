//! In upstream mode, the tenant directory follows the hub's: its admin API's subscription list is
//! read at start, every `UpstreamConfig::directory_sync`, and on demand (`POST
//! /api/v1/directory/sync`). The hub's names win: each field the hub gives replaces the local
//! one; what it does not give (plans, tags) stays as set here.

use std::sync::Arc;
use std::time::Duration;

use meterbook_core::audit::AuditAction;
use meterbook_core::directory::DirectoryEntry;
use meterbook_core::SubscriptionId;
use serde::Serialize;

use crate::audit::{self, Event};
use crate::source::{SourceError, UsageSource};
use crate::store::{EntrySource, Store, StoreError};

/// What a sync did.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Synced {
    pub added: u64,
    pub changed: u64,
    pub unchanged: u64,
    /// Hub entries Meterbook could not read (a name longer than its limits, a malformed ID);
    /// each is logged.
    pub refused: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("this server keeps its own directory; it reads no upstream hub")]
    NotUpstream,
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads the hub's directory and writes it over the local one, with one audit entry by `actor`.
pub async fn sync(
    store: &dyn Store,
    source: &dyn UsageSource,
    actor: &str,
    address: &str,
) -> Result<Synced, SyncError> {
    let drafts = source
        .hub_directory()
        .await?
        .ok_or(SyncError::NotUpstream)?;
    let mut synced = Synced::default();
    // What the directory holds of the hub's subscriptions, read at once.
    let ids: Vec<SubscriptionId> = drafts
        .iter()
        .filter_map(|d| d.subscription_id.as_deref())
        .filter_map(|id| SubscriptionId::parse(id).ok())
        .collect();
    let stored = store.directory_entries(&ids).await?;
    let mut entries: Vec<DirectoryEntry> = Vec::with_capacity(drafts.len());
    for draft in drafts {
        let id = draft
            .subscription_id
            .as_deref()
            .and_then(|id| SubscriptionId::parse(id).ok());
        let base = stored
            .iter()
            .find(|e| Some(&e.subscription_id) == id.as_ref());
        match draft.into_entry(base) {
            Ok(entry) => entries.push(entry),
            Err(e) => {
                tracing::warn!(error = e, "a hub subscription was refused");
                synced.refused += 1;
            }
        }
    }
    let mut changes = store.begin().await?;
    let counts = changes
        .put_directory_entries(&entries, EntrySource::Hub)
        .await?;
    synced.added = counts.added;
    synced.changed = counts.changed;
    synced.unchanged = counts.unchanged;
    if synced.added + synced.changed > 0 {
        let detail = format!(
            "from the upstream hub: {} added, {} changed",
            synced.added, synced.changed
        );
        audit::record(
            &mut changes,
            Event {
                actor,
                action: AuditAction::SubscriptionImport,
                target: "",
                address,
                detail: &detail,
            },
        )
        .await?;
    }
    changes.commit().await?;
    Ok(synced)
}

/// Syncs now and then every `interval`, for as long as the server runs; a failed sync is logged
/// and tried again at the next.
pub fn spawn_periodic(store: Arc<dyn Store>, source: Arc<dyn UsageSource>, interval: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval.max(Duration::from_secs(60)));
        loop {
            ticks.tick().await;
            match sync(store.as_ref(), source.as_ref(), "hub-sync", "").await {
                Ok(synced) => tracing::info!(?synced, "directory synced from the upstream hub"),
                Err(e) => tracing::warn!(error = %e, "directory sync from the upstream hub failed"),
            }
        }
    });
}
