//! The store's SQL that SQLite and PostgreSQL both run, written once on sqlx's `Any` driver: people
//! and credentials, widgets, webhooks, rate cards and chargeback runs. Their types are integers
//! (times as Unix seconds) and text, which `Any` carries for both databases; the statements use
//! `$N` placeholders, `ON CONFLICT DO NOTHING` and `string_agg`, which both accept.
//!
//! Reads run on the store's shared pool; writes that are actions run in [`Changes`], so an
//! action and its audit entry commit together.

mod accounts;
mod directory;
mod identity;
mod rates;
mod webhooks;
mod widgets;

use std::time::Duration;

use async_trait::async_trait;
use meterbook_core::access::Role;
use meterbook_core::SubscriptionId;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

use super::StoreError;

/// A store whose shared SQL runs on a pool of sqlx's `Any` driver; it gets the account, widget,
/// webhook, rate and chargeback stores and [`ChangeStore`] from this module.
pub(crate) trait SharedSql: Send + Sync + 'static {
    fn shared(&self) -> &AnyPool;
}

/// Writes that commit together or not at all: an action and its audit entry. Dropped without
/// [`Changes::commit`], nothing is written.
pub struct Changes {
    tx: sqlx::Transaction<'static, sqlx::Any>,
}

/// Where a user's or a token's subscriptions are kept: the table and its owner column.
type Grants = (&'static str, &'static str);
const USER_GRANTS: Grants = ("user_subscriptions", "user_id");
const TOKEN_GRANTS: Grants = ("api_token_subscriptions", "token_id");

impl Changes {
    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }

    /// Adds `subscriptions` to what `owner` (a user or token, by `grants`) may read.
    async fn add_subscriptions(
        &mut self,
        (table, owner_column): Grants,
        owner: i64,
        subscriptions: &[SubscriptionId],
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO {table} ({owner_column}, subscription_id) VALUES ($1, $2)
             ON CONFLICT DO NOTHING"
        );
        for sub in subscriptions {
            sqlx::query(&sql)
                .bind(owner)
                .bind(sub.as_str())
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    /// Revokes one live API token or widget (`table`), only if `created_by` made it, when given;
    /// false when there is none.
    async fn revoke(
        &mut self,
        table: &'static str,
        id: i64,
        created_by: Option<i64>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(&format!(
            "UPDATE {table} SET revoked_at = $1
             WHERE id = $2 AND revoked_at IS NULL AND ($3 IS NULL OR created_by = $3)"
        ))
        .bind(chrono::Utc::now().timestamp())
        .bind(id)
        .bind(created_by)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// Starts [`Changes`].
#[async_trait]
pub trait ChangeStore: Send + Sync + 'static {
    async fn begin(&self) -> Result<Changes, StoreError>;
}

#[async_trait]
impl<S: SharedSql> ChangeStore for S {
    async fn begin(&self) -> Result<Changes, StoreError> {
        Ok(Changes {
            tx: self.shared().begin().await?,
        })
    }
}

/// Opens the shared pool on a database the store has already migrated. `pragmas` are run on
/// each new connection (SQLite keeps them per connection).
pub(crate) async fn open_pool(
    url: &str,
    max_connections: u32,
    pragmas: &'static str,
) -> Result<AnyPool, StoreError> {
    sqlx::any::install_default_drivers();
    let mut options = AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(15));
    if !pragmas.is_empty() {
        options = options.after_connect(move |conn, _| {
            Box::pin(async move { conn.execute(pragmas).await.map(drop) })
        });
    }
    Ok(options.connect(url).await?)
}

fn parse_role(raw: &str) -> Role {
    // The column has a CHECK constraint; an unknown value can only come from a hand-edited
    // database, and the least privilege is the safe reading of it.
    Role::parse(raw).unwrap_or(Role::Provider)
}

/// Grants as stored; a value that is not a subscription ID (a hand-edited row) grants nothing.
fn parse_subscriptions(joined: Option<String>) -> Vec<SubscriptionId> {
    joined
        .unwrap_or_default()
        .split(',')
        .filter_map(|s| SubscriptionId::parse(s).ok())
        .collect()
}

/// How many usage records the store holds.
pub(crate) async fn record_count(pool: &AnyPool) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usage_records")
        .fetch_one(pool)
        .await?;
    Ok(n as u64)
}

/// The secret continuation tokens are signed with, made by the first process that asks.
pub(crate) async fn signing_secret(pool: &AnyPool) -> Result<Vec<u8>, StoreError> {
    let mut candidate = vec![0u8; 32];
    getrandom::fill(&mut candidate).map_err(|e| StoreError::Random(e.to_string()))?;
    // The first process to get here wins; every other one reads what it wrote.
    sqlx::query(
        "INSERT INTO settings (name, value) VALUES ('token_secret', $1) ON CONFLICT DO NOTHING",
    )
    .bind(&candidate)
    .execute(pool)
    .await?;
    Ok(
        sqlx::query_scalar("SELECT value FROM settings WHERE name = 'token_secret'")
            .fetch_one(pool)
            .await?,
    )
}
