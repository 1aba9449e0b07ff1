//! Imports of the tenant directory (a CSV or JSON file), the same from the command line and the
//! portal: the file is checked whole first (every row parsed, over what the directory holds, and
//! no subscription twice), then written whole with one audit entry, or not at all.

use std::collections::BTreeMap;

use meterbook_core::audit::AuditAction;
use meterbook_core::directory::{drafts_from_csv, drafts_from_json, DirectoryEntry};
use meterbook_core::SubscriptionId;

use crate::audit::{self, Event};
use crate::store::{EntrySource, Store, StoreError};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    Csv,
    Json,
}

impl ImportFormat {
    /// By a file name's extension (`.csv`, `.json`, any case).
    pub fn of_file_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        if name.ends_with(".csv") {
            Some(Self::Csv)
        } else if name.ends_with(".json") {
            Some(Self::Json)
        } else {
            None
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw.to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    pub read: usize,
    pub added: u64,
    pub changed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file was refused; the message names the row. Nothing changed.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Imports `text` (named `file` in the audit entry) for `actor` from `address`.
pub async fn import(
    store: &dyn Store,
    text: &str,
    format: ImportFormat,
    file: &str,
    actor: &str,
    address: &str,
) -> Result<Imported, ImportError> {
    let (drafts, place) = match format {
        ImportFormat::Csv => (drafts_from_csv(text), "line"),
        ImportFormat::Json => (drafts_from_json(text), "entry"),
    };
    let drafts = drafts.map_err(ImportError::Refused)?;
    let refused = |at: usize, e: String| ImportError::Refused(format!("{place} {at}: {e}"));
    let mut seen = BTreeMap::new();
    let mut identified = Vec::with_capacity(drafts.len());
    for (at, draft) in drafts {
        let id = draft
            .subscription_id
            .as_deref()
            .map(SubscriptionId::parse)
            .transpose()
            .map_err(|e| refused(at, e))?
            .ok_or_else(|| refused(at, "a subscription ID is required".to_owned()))?;
        if let Some(first) = seen.insert(id.clone(), at) {
            return Err(refused(at, format!("{id} is in {place} {first} too")));
        }
        identified.push((at, id, draft));
    }
    // What the directory holds of the file's subscriptions, read at once.
    let ids: Vec<SubscriptionId> = seen.into_keys().collect();
    let stored: BTreeMap<SubscriptionId, DirectoryEntry> = store
        .directory_entries(&ids)
        .await?
        .into_iter()
        .map(|e| (e.subscription_id.clone(), e))
        .collect();
    let mut entries: Vec<DirectoryEntry> = Vec::with_capacity(identified.len());
    for (at, id, draft) in identified {
        entries.push(
            draft
                .into_entry(stored.get(&id))
                .map_err(|e| refused(at, e))?,
        );
    }
    let mut changes = store.begin().await?;
    let counts = changes
        .put_directory_entries(&entries, EntrySource::Local)
        .await?;
    let imported = Imported {
        read: entries.len(),
        added: counts.added,
        changed: counts.changed,
    };
    let detail = format!(
        "{} added, {} changed from {file}",
        imported.added, imported.changed
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
    changes.commit().await?;
    Ok(imported)
}
