//! The tenant directory in the shared SQL.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::Utc;
use meterbook_core::directory::{
    plans_label, CatalogName, DirectoryEntry, DirectoryTenantId, SubscriptionState,
};
use meterbook_core::explore::{Dimension, DirectoryGroups};
use meterbook_core::SubscriptionId;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Changes, SharedSql};
use crate::store::{DirectoryStore, EntrySource, PutCounts, PutOutcome, StoreError};

const ENTRY_COLUMNS: &str = "d.subscription_id, d.display_name, d.owner, d.state, d.offer,
    d.tenant_id, d.delegated_provider, d.tags,
    (SELECT string_agg(p.plan, ',' ORDER BY p.plan) FROM directory_plans p
     WHERE p.subscription_id = d.subscription_id) AS plans
    FROM directory_subscriptions d";

/// An entry as stored; only a hand-edited row fails to read back.
fn entry_from_row(row: &AnyRow) -> Result<DirectoryEntry, StoreError> {
    let id: String = row.try_get("subscription_id")?;
    let corrupt = |what: String| StoreError::Corrupt(format!("directory entry {id}: {what}"));
    let optional = |column: &str| -> Result<Option<String>, StoreError> {
        Ok(row
            .try_get::<Option<String>, _>(column)?
            .filter(|s| !s.is_empty()))
    };
    let tags: String = row.try_get("tags")?;
    Ok(DirectoryEntry {
        subscription_id: SubscriptionId::parse(&id).map_err(corrupt)?,
        display_name: row.try_get("display_name")?,
        owner: row.try_get("owner")?,
        state: SubscriptionState::parse(&row.try_get::<String, _>("state")?).map_err(corrupt)?,
        offer: optional("offer")?
            .map(|o| CatalogName::parse(&o))
            .transpose()
            .map_err(corrupt)?,
        plans: optional("plans")?
            .unwrap_or_default()
            .split(',')
            .filter(|p| !p.is_empty())
            .map(CatalogName::parse)
            .collect::<Result<_, _>>()
            .map_err(corrupt)?,
        tenant_id: optional("tenant_id")?
            .map(|t| DirectoryTenantId::parse(&t))
            .transpose()
            .map_err(corrupt)?,
        delegated_provider: optional("delegated_provider")?
            .map(|p| SubscriptionId::parse(&p))
            .transpose()
            .map_err(corrupt)?,
        tags: serde_json::from_str::<BTreeMap<String, String>>(&tags)
            .map_err(|e| corrupt(e.to_string()))?,
    })
}

#[async_trait]
impl<S: SharedSql> DirectoryStore for S {
    async fn directory_entry(
        &self,
        id: &SubscriptionId,
    ) -> Result<Option<DirectoryEntry>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} WHERE d.subscription_id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(self.shared())
        .await?;
        row.as_ref().map(entry_from_row).transpose()
    }

    async fn directory_page(
        &self,
        only: Option<&[SubscriptionId]>,
        after: Option<&SubscriptionId>,
        limit: usize,
    ) -> Result<Vec<DirectoryEntry>, StoreError> {
        // `Any` has no query builder that numbers placeholders for both databases: `$3...` are
        // written here, one per subscription of `only`.
        let mut sql =
            format!("SELECT {ENTRY_COLUMNS} WHERE ($1 IS NULL OR d.subscription_id > $1)");
        if let Some(only) = only {
            let list: Vec<String> = (0..only.len()).map(|i| format!("${}", i + 3)).collect();
            let list = if list.is_empty() {
                "NULL".to_owned()
            } else {
                list.join(", ")
            };
            sql.push_str(&format!(" AND d.subscription_id IN ({list})"));
        }
        sql.push_str(" ORDER BY d.subscription_id LIMIT $2");
        let mut query = sqlx::query(&sql)
            .bind(after.map(|a| a.as_str().to_owned()))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        for id in only.unwrap_or_default() {
            query = query.bind(id.as_str().to_owned());
        }
        let rows = query.fetch_all(self.shared()).await?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn directory_find(
        &self,
        find: &str,
        after: Option<&SubscriptionId>,
        limit: usize,
    ) -> Result<Vec<DirectoryEntry>, StoreError> {
        // A LIKE pattern that matches the text itself: its own wildcards are escaped.
        let pattern = format!(
            "%{}%",
            find.trim()
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS}
             WHERE ($1 IS NULL OR d.subscription_id > $1)
               AND (lower(d.display_name) LIKE $2 ESCAPE '\\' OR lower(d.owner) LIKE $2 ESCAPE '\\'
                    OR d.subscription_id LIKE $2 ESCAPE '\\'
                    OR lower(COALESCE(d.offer, '')) LIKE $2 ESCAPE '\\')
             ORDER BY d.subscription_id LIMIT $3"
        ))
        .bind(after.map(|a| a.as_str().to_owned()))
        .bind(pattern)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.shared())
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn directory_entries(
        &self,
        ids: &[SubscriptionId],
    ) -> Result<Vec<DirectoryEntry>, StoreError> {
        // Statements stay well under both databases' limits on bound values.
        const PER_STATEMENT: usize = 1_000;
        let mut ids = ids.to_vec();
        ids.sort();
        ids.dedup();
        let mut entries = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(PER_STATEMENT) {
            entries.extend(self.directory_page(Some(chunk), None, chunk.len()).await?);
        }
        Ok(entries)
    }

    async fn directory_named(&self, name: &str) -> Result<Vec<DirectoryEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} WHERE lower(d.display_name) = lower($1)
             ORDER BY d.subscription_id LIMIT 20"
        ))
        .bind(name.trim())
        .fetch_all(self.shared())
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn directory_members(
        &self,
        offer: Option<&CatalogName>,
        plan: Option<&CatalogName>,
    ) -> Result<Vec<SubscriptionId>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.subscription_id FROM directory_subscriptions d
             WHERE ($1 IS NULL OR lower(d.offer) = lower($1))
               AND ($2 IS NULL OR EXISTS (SELECT 1 FROM directory_plans p
                    WHERE p.subscription_id = d.subscription_id AND lower(p.plan) = lower($2)))
             ORDER BY d.subscription_id",
        )
        .bind(offer.map(|o| o.as_str().to_owned()))
        .bind(plan.map(|p| p.as_str().to_owned()))
        .fetch_all(self.shared())
        .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("subscription_id")?;
                SubscriptionId::parse(&id)
                    .map_err(|e| StoreError::Corrupt(format!("directory entry {id}: {e}")))
            })
            .collect()
    }

    async fn directory_groups(&self, by: &Dimension) -> Result<DirectoryGroups, StoreError> {
        let sql = match by {
            Dimension::Offer => {
                "SELECT subscription_id, offer AS name FROM directory_subscriptions
                 WHERE offer IS NOT NULL"
            }
            Dimension::Plan => {
                "SELECT subscription_id, plan AS name FROM directory_plans
                 ORDER BY subscription_id, plan"
            }
            _ => return Ok(DirectoryGroups::new()),
        };
        let mut named: BTreeMap<String, Vec<CatalogName>> = BTreeMap::new();
        for row in sqlx::query(sql).fetch_all(self.shared()).await? {
            let id: String = row.try_get("subscription_id")?;
            let name = CatalogName::parse(&row.try_get::<String, _>("name")?)
                .map_err(|e| StoreError::Corrupt(format!("directory entry {id}: {e}")))?;
            named.entry(id).or_default().push(name);
        }
        Ok(named
            .into_iter()
            .map(|(id, names)| (id, plans_label(&names)))
            .collect())
    }
}

impl Changes {
    /// Adds or replaces the entry of `entry.subscription_id`, creating its offer and plans by name
    /// when the directory has none of them yet. Nothing is written when the directory holds the
    /// same entry.
    pub async fn put_directory_entry(
        &mut self,
        entry: &DirectoryEntry,
        source: EntrySource,
    ) -> Result<PutOutcome, StoreError> {
        let stored = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} WHERE d.subscription_id = $1"
        ))
        .bind(entry.subscription_id.as_str())
        .fetch_optional(&mut *self.tx)
        .await?;
        let outcome = match stored.as_ref().map(entry_from_row).transpose()? {
            Some(stored) if stored == *entry => return Ok(PutOutcome::Unchanged),
            Some(_) => PutOutcome::Changed,
            None => PutOutcome::Added,
        };
        if let Some(offer) = &entry.offer {
            self.name_catalog_item("offers", offer).await?;
        }
        for plan in &entry.plans {
            self.name_catalog_item("plans", plan).await?;
        }
        let tags =
            serde_json::to_string(&entry.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO directory_subscriptions
                 (subscription_id, display_name, owner, state, offer, tenant_id,
                  delegated_provider, tags, source, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (subscription_id) DO UPDATE SET
                 display_name = excluded.display_name, owner = excluded.owner,
                 state = excluded.state, offer = excluded.offer,
                 tenant_id = excluded.tenant_id,
                 delegated_provider = excluded.delegated_provider, tags = excluded.tags,
                 source = excluded.source, updated_at = excluded.updated_at",
        )
        .bind(entry.subscription_id.as_str())
        .bind(&entry.display_name)
        .bind(&entry.owner)
        .bind(entry.state.as_str())
        .bind(entry.offer.as_ref().map(|o| o.as_str().to_owned()))
        .bind(entry.tenant_id.as_ref().map(|t| t.as_str().to_owned()))
        .bind(
            entry
                .delegated_provider
                .as_ref()
                .map(|p| p.as_str().to_owned()),
        )
        .bind(tags)
        .bind(source.as_str())
        .bind(Utc::now().timestamp())
        .execute(&mut *self.tx)
        .await?;
        sqlx::query("DELETE FROM directory_plans WHERE subscription_id = $1")
            .bind(entry.subscription_id.as_str())
            .execute(&mut *self.tx)
            .await?;
        for plan in &entry.plans {
            sqlx::query("INSERT INTO directory_plans (subscription_id, plan) VALUES ($1, $2)")
                .bind(entry.subscription_id.as_str())
                .bind(plan.as_str())
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(outcome)
    }

    /// Puts each of `entries` (see [`Self::put_directory_entry`]), counting what each did.
    pub async fn put_directory_entries(
        &mut self,
        entries: &[DirectoryEntry],
        source: EntrySource,
    ) -> Result<PutCounts, StoreError> {
        let mut counts = PutCounts::default();
        for entry in entries {
            match self.put_directory_entry(entry, source).await? {
                PutOutcome::Added => counts.added += 1,
                PutOutcome::Changed => counts.changed += 1,
                PutOutcome::Unchanged => counts.unchanged += 1,
            }
        }
        Ok(counts)
    }

    /// Adds an offer or plan (`table`) named `name`, shown by its name until it is given another.
    async fn name_catalog_item(
        &mut self,
        table: &'static str,
        name: &CatalogName,
    ) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO {table} (name, display_name) VALUES ($1, $1) ON CONFLICT DO NOTHING"
        ))
        .bind(name.as_str())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
