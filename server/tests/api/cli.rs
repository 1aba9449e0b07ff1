//! The `meterbook` command line, run as a user would: demo data in, tokens, CSV out.

use std::process::Command;

use meterbook_core::export::USAGE_CSV_COLUMNS;

fn meterbook(db: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_meterbook"))
        .args(args)
        .env("MB_DATABASE_URL", db)
        .env("MB_LOG", "warn")
        .output()
        .expect("run meterbook")
}

/// A database URL in a temporary directory that lives as long as the returned guard.
fn fresh_db() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("cli.db").display());
    (dir, db)
}

#[test]
fn demo_data_can_be_read_back_as_usagesummary_csv() {
    let (_dir, db) = fresh_db();

    let demo = meterbook(
        &db,
        &["demo", "--tenants", "2", "--days", "3", "--seed", "5"],
    );
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let again = meterbook(
        &db,
        &["demo", "--tenants", "2", "--days", "3", "--seed", "5"],
    );
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("(0 new"),
        "seeding twice adds nothing"
    );

    let today = chrono::Utc::now().format("%Y-%m-%dT00:00:00Z").to_string();
    let start = (chrono::Utc::now() - chrono::Duration::days(5))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    let csv = meterbook(
        &db,
        &[
            "usage", "--all", "--from", &start, "--to", &today, "--format", "csv",
        ],
    );
    assert!(
        csv.status.success(),
        "{}",
        String::from_utf8_lossy(&csv.stderr)
    );
    let text = String::from_utf8(csv.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), USAGE_CSV_COLUMNS.join(","));
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() > 100, "{} rows", rows.len());
    assert!(rows
        .iter()
        .any(|r| r.contains("VM size hours") && r.contains("Microsoft.Compute/virtualMachines")));

    let json = meterbook(
        &db,
        &[
            "usage", "--all", "--from", &start, "--to", &today, "--format", "json",
        ],
    );
    let parsed: Vec<serde_json::Value> = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(parsed.len(), rows.len());
}

#[test]
fn tokens_are_created_listed_and_revoked() {
    let (_dir, db) = fresh_db();

    let created = meterbook(
        &db,
        &[
            "token",
            "create",
            "--role",
            "tenant",
            "--subscription",
            "6C3F8E2A-0B1D-4C5E-9F70-1A2B3C4D5E6F",
            "--name",
            "contoso",
        ],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(String::from_utf8_lossy(&created.stdout)
        .trim()
        .starts_with("mbt_"));

    let listed = String::from_utf8(meterbook(&db, &["token", "list"]).stdout).unwrap();
    assert!(
        listed.contains("contoso")
            && listed.contains("tenant")
            && listed.contains("6c3f8e2a-0b1d-4c5e-9f70-1a2b3c4d5e6f")
    );
    assert!(!listed.contains("mbt_"), "secrets are never listed");

    assert!(meterbook(&db, &["token", "revoke", "1"]).status.success());
    assert!(String::from_utf8(meterbook(&db, &["token", "list"]).stdout)
        .unwrap()
        .contains("revoked"));
    assert!(!meterbook(&db, &["token", "revoke", "1"]).status.success());
}

#[test]
fn bad_input_is_refused_with_a_message() {
    let (_dir, db) = fresh_db();
    let cases: [&[&str]; 4] = [
        &["token", "create", "--role", "tenant"],
        &["token", "create", "--role", "admin"],
        &[
            "usage",
            "--all",
            "--from",
            "yesterday",
            "--to",
            "2026-01-01T00:00:00Z",
        ],
        &["ingest", "/no/such/file.json"],
    ];
    for args in cases {
        let out = meterbook(&db, args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let out = meterbook("postgres://nowhere/db", &["token", "list"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL"));
}
