//! The owners of subscriptions, as usage exports name them (the `subowner` column of
//! `Usagesummary.ps1`'s CSV): read from the tenant directory once per subscription of an export.

use std::collections::HashMap;
use std::sync::Arc;

use meterbook_core::usage::AggregateLine;
use meterbook_core::SubscriptionId;

use crate::store::{Store, StoreError};

/// Owners looked up so far; a subscription the directory does not know has none.
pub struct Owners {
    store: Arc<dyn Store>,
    known: HashMap<String, String>,
}

impl Owners {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            known: HashMap::new(),
        }
    }

    /// Looks up the owners of `lines`' subscriptions not looked up yet.
    pub async fn learn(&mut self, lines: &[AggregateLine]) -> Result<(), StoreError> {
        let mut new: Vec<SubscriptionId> = lines
            .iter()
            .filter(|l| !self.known.contains_key(&l.subscription_id))
            .filter_map(|l| SubscriptionId::parse(&l.subscription_id).ok())
            .collect();
        new.sort();
        new.dedup();
        if new.is_empty() {
            return Ok(());
        }
        for id in &new {
            self.known.insert(id.to_string(), String::new());
        }
        for entry in self.store.directory_entries(&new).await? {
            self.known
                .insert(entry.subscription_id.to_string(), entry.owner);
        }
        Ok(())
    }

    /// The owner of `subscription_id`, once learned; empty when unknown.
    pub fn of(&self, subscription_id: &str) -> &str {
        self.known.get(subscription_id).map_or("", String::as_str)
    }
}
