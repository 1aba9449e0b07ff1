//! The audit log: who signed in or out, created or revoked a token, changed a user, or exported
//! usage. Written in the action's own [`Changes`], before its answer is sent: an action is kept
//! only with its entry, and if the entry cannot be written, the action fails.

use chrono::Utc;
use meterbook_core::audit::AuditAction;

use crate::store::{AuditEntry, Changes, Store, StoreError};

/// What was done, by whom, from where.
pub struct Event<'a> {
    pub actor: &'a str,
    pub action: AuditAction,
    pub target: &'a str,
    pub address: &'a str,
    pub detail: &'a str,
}

/// Adds `event` to `changes`.
pub async fn record(changes: &mut Changes, event: Event<'_>) -> Result<(), StoreError> {
    tracing::info!(
        actor = event.actor,
        action = event.action.as_str(),
        target = event.target,
        "audit"
    );
    changes
        .audit(&AuditEntry {
            at: Utc::now(),
            actor: event.actor.to_owned(),
            action: event.action,
            target: event.target.to_owned(),
            address: event.address.to_owned(),
            detail: event.detail.to_owned(),
        })
        .await
}

/// Records `event` on its own, for what changes nothing else (a refused sign-in, an export).
pub async fn record_alone(store: &dyn Store, event: Event<'_>) -> Result<(), StoreError> {
    let mut changes = store.begin().await?;
    record(&mut changes, event).await?;
    changes.commit().await
}

#[cfg(test)]
mod tests {
    use meterbook_core::audit::AuditAction;

    use crate::store::{AccountStore, SqliteStore};

    const RENAMES: [&str; 2] = [
        include_str!("../migrations/sqlite/0013_audit_action_names.sql"),
        include_str!("../migrations/postgres/0011_audit_action_names.sql"),
    ];

    /// `(old, new)` pairs of a rename migration: its `WHEN 'old' THEN 'new'` lines.
    fn renames(sql: &str) -> Vec<(&str, &str)> {
        sql.lines()
            .filter(|line| line.trim_start().starts_with("WHEN '"))
            .map(|line| {
                let quoted: Vec<&str> = line.split('\'').collect();
                (quoted[1], quoted[3])
            })
            .collect()
    }

    #[test]
    fn both_stores_rename_every_earlier_name_to_a_typed_action() {
        assert_eq!(RENAMES[0], RENAMES[1], "the stores rename alike");
        let pairs = renames(RENAMES[0]);
        assert_eq!(pairs.len(), 15);
        for (old, new) in pairs {
            assert!(old.parse::<AuditAction>().is_err(), "{old} is still a name");
            assert!(new.parse::<AuditAction>().is_ok(), "{new} is no action");
        }
    }

    #[tokio::test]
    async fn entries_written_under_earlier_names_are_read_back_typed() {
        let dir = tempfile::tempdir().expect("dir");
        let before = dir.path().join("before");
        std::fs::create_dir(&before).expect("dir");
        let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        for entry in std::fs::read_dir(&all).expect("migrations") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            if name.as_str() < "0013" {
                std::fs::copy(&path, before.join(&name)).expect("copy");
            }
        }
        let url = format!("sqlite://{}", dir.path().join("m.db").display());
        {
            use sqlx::ConnectOptions;
            let mut db = url
                .parse::<sqlx::sqlite::SqliteConnectOptions>()
                .expect("url")
                .create_if_missing(true)
                .connect()
                .await
                .expect("connect");
            let earlier = sqlx::migrate::Migrator::new(before.as_path())
                .await
                .expect("migrations");
            earlier.run(&mut db).await.expect("earlier schema");
            for action in ["sign_in_failed", "export", "chargeback.run"] {
                sqlx::query(
                    "INSERT INTO audit_log (at, actor, action, target, address, detail)
                     VALUES (0, 'cli', $1, '', '', '')",
                )
                .bind(action)
                .execute(&mut db)
                .await
                .expect("old entry");
            }
        }
        let store = SqliteStore::open(&url).await.expect("migrated");
        let actions: Vec<AuditAction> = store
            .audit_entries(10, None)
            .await
            .expect("readable")
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions,
            [
                AuditAction::ChargebackRun,
                AuditAction::UsageExport,
                AuditAction::SignInRefused
            ]
        );
        let refused = store
            .audit_entries(10, Some(AuditAction::SignInRefused))
            .await
            .expect("filter");
        assert_eq!(refused.len(), 1);
    }
}
