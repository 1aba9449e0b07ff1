//! People and credentials in the shared SQL: users, grants, sessions, sign-in failures, tokens,
//! the audit log.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meterbook_core::access::Role;
use meterbook_core::audit::AuditAction;
use meterbook_core::time::from_epoch;
use meterbook_core::SubscriptionId;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::{parse_role, parse_subscriptions, Changes, SharedSql, TOKEN_GRANTS, USER_GRANTS};
use crate::store::{
    AccountStore, AuditEntry, NewSession, NewToken, SessionInfo, StoreError, TokenInfo, UserInfo,
};

const USER_COLUMNS: &str = "u.id, u.username, u.role, u.created_at, u.disabled_at, u.issuer,
    (SELECT string_agg(subscription_id, ',' ORDER BY subscription_id)
     FROM user_subscriptions WHERE user_id = u.id) AS subs";

fn user_from_row(row: &AnyRow) -> Result<UserInfo, sqlx::Error> {
    let role: String = row.try_get("role")?;
    let disabled: Option<i64> = row.try_get("disabled_at")?;
    Ok(UserInfo {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        role: parse_role(&role),
        subscriptions: parse_subscriptions(row.try_get("subs")?),
        created_at: from_epoch(row.try_get("created_at")?),
        disabled_at: disabled.map(from_epoch),
        issuer: row.try_get("issuer")?,
    })
}

/// A token's columns. A tenant token made by a tenant user reads only the
/// subscriptions its creator still holds; tokens of disabled users are filtered out
/// by the callers' WHERE.
const TOKEN_COLUMNS: &str = "t.id, t.name, t.role, t.created_at, t.revoked_at, t.created_by,
    (SELECT string_agg(ts.subscription_id, ',' ORDER BY ts.subscription_id)
     FROM api_token_subscriptions ts
     WHERE ts.token_id = t.id
       AND (t.created_by IS NULL
            OR (SELECT role FROM users WHERE id = t.created_by) = 'operator'
            OR EXISTS (SELECT 1 FROM user_subscriptions us
                       WHERE us.user_id = t.created_by
                         AND us.subscription_id = ts.subscription_id))) AS subs";

fn token_from_row(row: &AnyRow) -> Result<TokenInfo, sqlx::Error> {
    let role: String = row.try_get("role")?;
    let revoked: Option<i64> = row.try_get("revoked_at")?;
    Ok(TokenInfo {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: parse_role(&role),
        subscriptions: parse_subscriptions(row.try_get("subs")?),
        created_by: row.try_get("created_by")?,
        created_at: from_epoch(row.try_get("created_at")?),
        revoked_at: revoked.map(from_epoch),
    })
}

fn audit_from_row(row: &AnyRow) -> Result<AuditEntry, sqlx::Error> {
    Ok(AuditEntry {
        at: from_epoch(row.try_get("at")?),
        actor: row.try_get("actor")?,
        action: row
            .try_get::<String, _>("action")?
            .parse()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        target: row.try_get("target")?,
        address: row.try_get("address")?,
        detail: row.try_get("detail")?,
    })
}

/// Failures per key since `window_start`, in the order of `keys`.
async fn count_failures(
    pool: &AnyPool,
    keys: &[String],
    window_start: DateTime<Utc>,
) -> Result<Vec<u64>, StoreError> {
    let mut counts = Vec::with_capacity(keys.len());
    for key in keys {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sign_in_failures WHERE key = $1 AND at >= $2")
                .bind(key)
                .bind(window_start.timestamp())
                .fetch_one(pool)
                .await?;
        counts.push(n as u64);
    }
    Ok(counts)
}

#[async_trait]
impl<S: SharedSql> AccountStore for S {
    async fn user_by_subject(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<UserInfo>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.issuer = $1 AND u.subject = $2"
        ))
        .bind(issuer)
        .bind(subject)
        .fetch_optional(self.shared())
        .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<(UserInfo, String)>, StoreError> {
        // Names are unique in any letter case (and only ASCII is allowed).
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, u.password_hash FROM users u
             WHERE lower(u.username) = lower($1)"
        ))
        .bind(username)
        .fetch_optional(self.shared())
        .await?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some((user_from_row(&row)?, row.try_get("password_hash")?))),
        }
    }

    async fn list_users(&self) -> Result<Vec<UserInfo>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u ORDER BY u.username"
        ))
        .fetch_all(self.shared())
        .await?;
        Ok(rows.iter().map(user_from_row).collect::<Result<_, _>>()?)
    }

    async fn user_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.shared())
            .await?;
        Ok(n as u64)
    }

    async fn session_by_hash(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionInfo>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, s.csrf_token, s.created_at AS s_created,
                    s.last_seen_at, s.expires_at
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL"
        ))
        .bind(id_hash)
        .bind(now.timestamp())
        .fetch_optional(self.shared())
        .await?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some(SessionInfo {
                user: user_from_row(&row)?,
                csrf_token: row.try_get("csrf_token")?,
                created_at: from_epoch(row.try_get("s_created")?),
                last_seen_at: from_epoch(row.try_get("last_seen_at")?),
                expires_at: from_epoch(row.try_get("expires_at")?),
            })),
        }
    }

    async fn touch_session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(now.timestamp())
            .bind(id_hash)
            .execute(self.shared())
            .await?;
        Ok(())
    }

    async fn record_sign_in_failure(
        &self,
        keys: &[String],
        at: DateTime<Utc>,
        window_start: DateTime<Utc>,
    ) -> Result<Vec<u64>, StoreError> {
        let mut tx = self.shared().begin().await?;
        sqlx::query("DELETE FROM sign_in_failures WHERE at < $1")
            .bind(window_start.timestamp())
            .execute(&mut *tx)
            .await?;
        for key in keys {
            sqlx::query("INSERT INTO sign_in_failures (key, at) VALUES ($1, $2)")
                .bind(key)
                .bind(at.timestamp())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        count_failures(self.shared(), keys, window_start).await
    }

    async fn sign_in_failures(
        &self,
        keys: &[String],
        window_start: DateTime<Utc>,
    ) -> Result<Vec<u64>, StoreError> {
        count_failures(self.shared(), keys, window_start).await
    }

    async fn forget_sign_in_failure(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM sign_in_failures WHERE id =
                (SELECT id FROM sign_in_failures WHERE key = $1
                 ORDER BY at DESC, id DESC LIMIT 1)",
        )
        .bind(key)
        .execute(self.shared())
        .await?;
        Ok(())
    }

    async fn clear_sign_in_failures(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sign_in_failures WHERE key = $1")
            .bind(key)
            .execute(self.shared())
            .await?;
        Ok(())
    }

    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenInfo>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens t
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL
               AND (t.created_by IS NULL
                    OR EXISTS (SELECT 1 FROM users
                               WHERE id = t.created_by AND disabled_at IS NULL))"
        ))
        .bind(token_hash)
        .fetch_optional(self.shared())
        .await?;
        Ok(row.as_ref().map(token_from_row).transpose()?)
    }

    async fn list_tokens(&self, created_by: Option<i64>) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens t
             WHERE $1 IS NULL OR t.created_by = $1 ORDER BY t.id"
        ))
        .bind(created_by)
        .fetch_all(self.shared())
        .await?;
        Ok(rows.iter().map(token_from_row).collect::<Result<_, _>>()?)
    }

    async fn audit_entries(
        &self,
        limit: u32,
        action: Option<AuditAction>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, actor, action, target, address, detail FROM audit_log
             WHERE $1 IS NULL OR action = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(action.map(AuditAction::as_str))
        .bind(i64::from(limit))
        .fetch_all(self.shared())
        .await?;
        Ok(rows.iter().map(audit_from_row).collect::<Result<_, _>>()?)
    }
}

impl Changes {
    /// Adds a user; [`StoreError::Conflict`] when the name is taken (in any letter case).
    pub async fn create_user(
        &mut self,
        username: &str,
        role: Role,
        password_hash: &str,
        subscriptions: &[SubscriptionId],
    ) -> Result<i64, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, role, password_hash, created_at)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(username)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(Utc::now().timestamp())
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("a user named '{username}' already exists"))
            }
            other => other,
        })?;
        self.add_subscriptions(USER_GRANTS, id, subscriptions)
            .await?;
        Ok(id)
    }

    /// Disables or re-enables a user. Disabling ends their sessions and revokes the tokens they
    /// created. False when there is no such user.
    pub async fn set_user_disabled(
        &mut self,
        user_id: i64,
        disabled: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
            .bind(disabled.then_some(now.timestamp()))
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *self.tx)
                .await?;
            sqlx::query(
                "UPDATE api_tokens SET revoked_at = $1
                 WHERE created_by = $2 AND revoked_at IS NULL",
            )
            .bind(now.timestamp())
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(done.rows_affected() == 1)
    }

    /// Replaces a password hash and ends the user's sessions; with `revoke_tokens_at`, also
    /// revokes the API tokens and widgets they created (a reset after a compromise must not leave
    /// them live). The number of tokens and widgets revoked, or None when there is no such user.
    pub async fn set_password(
        &mut self,
        user_id: i64,
        password_hash: &str,
        revoke_tokens_at: Option<DateTime<Utc>>,
    ) -> Result<Option<u64>, StoreError> {
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?;
        let mut revoked = 0;
        if let Some(at) = revoke_tokens_at {
            // API tokens and widget links alike: either could have been made by
            // whoever had the password.
            for table in ["api_tokens", "widget_tokens"] {
                revoked += sqlx::query(&format!(
                    "UPDATE {table} SET revoked_at = $1
                     WHERE created_by = $2 AND revoked_at IS NULL"
                ))
                .bind(at.timestamp())
                .bind(user_id)
                .execute(&mut *self.tx)
                .await?
                .rows_affected();
            }
        }
        Ok(Some(revoked))
    }

    /// Adds (or, with `granted` false, removes) subscriptions of a tenant user. Takes effect on the
    /// user's next request: sessions and tokens read grants live.
    /// Makes the account of a person who signs in with directory `issuer` (as `subject`), with no
    /// usable password; its ID.
    pub async fn create_directory_user(
        &mut self,
        username: &str,
        issuer: &str,
        subject: &str,
        role: Role,
        subscriptions: &[SubscriptionId],
    ) -> Result<i64, StoreError> {
        // Not a PHC string: no password ever verifies against it.
        let id = self
            .create_user(username, role, "directory-account", subscriptions)
            .await?;
        sqlx::query("UPDATE users SET issuer = $1, subject = $2 WHERE id = $3")
            .bind(issuer)
            .bind(subject)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(id)
    }

    /// Sets a user's role and replaces their grants with `subscriptions`.
    pub async fn set_access(
        &mut self,
        user_id: i64,
        role: Role,
        subscriptions: &[SubscriptionId],
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
            .bind(role.as_str())
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?;
        sqlx::query("DELETE FROM user_subscriptions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?;
        self.add_subscriptions(USER_GRANTS, user_id, subscriptions)
            .await
    }

    pub async fn set_grants(
        &mut self,
        user_id: i64,
        subscriptions: &[SubscriptionId],
        granted: bool,
    ) -> Result<(), StoreError> {
        if granted {
            return self
                .add_subscriptions(USER_GRANTS, user_id, subscriptions)
                .await;
        }
        for sub in subscriptions {
            sqlx::query(
                "DELETE FROM user_subscriptions WHERE user_id = $1 AND subscription_id = $2",
            )
            .bind(user_id)
            .bind(sub.as_str())
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    pub async fn create_session(&mut self, session: &NewSession<'_>) -> Result<(), StoreError> {
        // Expired sessions are swept whenever a new one starts, so the table stays
        // small.
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(session.now.timestamp())
            .execute(&mut *self.tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions
                 (id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(session.id_hash)
        .bind(session.user_id)
        .bind(session.csrf_token)
        .bind(session.now.timestamp())
        .bind(session.now.timestamp())
        .bind(session.expires_at.timestamp())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn delete_session(&mut self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn create_token(&mut self, token: &NewToken<'_>) -> Result<i64, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (name, role, token_hash, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(token.name)
        .bind(token.role.as_str())
        .bind(token.token_hash)
        .bind(Utc::now().timestamp())
        .bind(token.created_by)
        .fetch_one(&mut *self.tx)
        .await?;
        self.add_subscriptions(TOKEN_GRANTS, id, token.subscriptions)
            .await?;
        Ok(id)
    }

    /// Revokes one live token (only if `created_by` it, when given); false when there is none.
    pub async fn revoke_token(
        &mut self,
        id: i64,
        created_by: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.revoke("api_tokens", id, created_by).await
    }

    /// Revokes every live token with this name (used to rotate the demo tokens).
    pub async fn revoke_tokens_named(&mut self, name: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
        )
        .bind(Utc::now().timestamp())
        .bind(name)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected())
    }

    /// Appends an entry to the audit log.
    pub async fn audit(&mut self, entry: &AuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target, address, detail)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(entry.at.timestamp())
        .bind(&entry.actor)
        .bind(entry.action.as_str())
        .bind(&entry.target)
        .bind(&entry.address)
        .bind(&entry.detail)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
