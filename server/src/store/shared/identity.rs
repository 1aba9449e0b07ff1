//! The identity claim rules in the shared SQL.

use async_trait::async_trait;
use meterbook_core::access::Role;
use meterbook_core::identity::ClaimRule;
use meterbook_core::time::from_epoch;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{parse_subscriptions, Changes, SharedSql};
use crate::store::{IdentityStore, StoreError, StoredRule};

fn rule_from_row(row: &AnyRow) -> Result<StoredRule, StoreError> {
    let id: i64 = row.try_get("id")?;
    let corrupt = |what: String| StoreError::Corrupt(format!("claim rule {id}: {what}"));
    Ok(StoredRule {
        id,
        rule: ClaimRule {
            issuer: row.try_get("issuer")?,
            claim: row.try_get("claim")?,
            value: row.try_get("value")?,
            role: Role::parse(&row.try_get::<String, _>("role")?).map_err(corrupt)?,
            subscriptions: parse_subscriptions(Some(row.try_get("subscriptions")?)),
        },
        created_at: from_epoch(row.try_get("created_at")?),
        created_by: row.try_get("created_by")?,
    })
}

#[async_trait]
impl<S: SharedSql> IdentityStore for S {
    async fn claim_rules(&self) -> Result<Vec<StoredRule>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, issuer, claim, value, role, subscriptions, created_at, created_by
             FROM claim_rules ORDER BY id",
        )
        .fetch_all(self.shared())
        .await?;
        rows.iter().map(rule_from_row).collect()
    }
}

impl Changes {
    /// Adds a claim rule; its ID. The same issuer, claim, value and role twice is a conflict.
    pub async fn add_claim_rule(&mut self, rule: &ClaimRule, by: &str) -> Result<i64, StoreError> {
        let subscriptions: Vec<&str> = rule.subscriptions.iter().map(|s| s.as_str()).collect();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO claim_rules
                 (issuer, claim, value, role, subscriptions, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(&rule.issuer)
        .bind(&rule.claim)
        .bind(&rule.value)
        .bind(rule.role.as_str())
        .bind(subscriptions.join(","))
        .bind(chrono::Utc::now().timestamp())
        .bind(by)
        .fetch_optional(&mut *self.tx)
        .await?
        .ok_or_else(|| {
            StoreError::Conflict(format!(
                "a rule maps {} = {} from {} to {} already",
                rule.claim, rule.value, rule.issuer, rule.role
            ))
        })?;
        Ok(id)
    }

    /// Removes claim rule `id`; the rule it was, or `None` when there is none.
    pub async fn remove_claim_rule(&mut self, id: i64) -> Result<Option<ClaimRule>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM claim_rules WHERE id = $1
             RETURNING id, issuer, claim, value, role, subscriptions, created_at, created_by",
        )
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.as_ref().map(rule_from_row).transpose()?.map(|s| s.rule))
    }
}
