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

/// A fresh database (SQLite, or a PostgreSQL schema) that lives as long as the returned guard.
fn fresh_db() -> (crate::helpers::TestDatabase, String) {
    let database = crate::helpers::TestDatabase::new();
    let url = database.url.clone();
    (database, url)
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
    let out = meterbook("mysql://nowhere/db", &["token", "list"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL"));
    // A PostgreSQL that does not answer is an error that says so, not a hang or a panic.
    let out = meterbook("postgres://nobody@127.0.0.1:9/db", &["token", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.starts_with("error: ") && !err.contains("panicked"),
        "{err}"
    );
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn meterbook_stdin(db: &str, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_meterbook"))
        .args(args)
        .env("MB_DATABASE_URL", db)
        .env("MB_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn users_are_added_granted_disabled_and_audited_from_the_command_line() {
    let (_dir, db) = fresh_db();
    let sub = "0f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5b";

    let added = meterbook(&db, &["user", "add", "alice", "--role", "operator"]);
    assert!(added.status.success(), "{}", text(&added));
    assert!(text(&added).contains("Password (shown only now): "));
    let tenant = meterbook_stdin(
        &db,
        &[
            "user",
            "add",
            "bob",
            "--role",
            "tenant",
            "--subscription",
            sub,
            "--password-stdin",
        ],
        "a long enough password\n",
    );
    assert!(tenant.status.success(), "{}", text(&tenant));
    assert!(!text(&tenant).contains("a long enough password"));

    let duplicate = meterbook(&db, &["user", "add", "ALICE", "--role", "operator"]);
    assert!(!duplicate.status.success());
    assert!(text(&duplicate).contains("already exists"));
    let short = meterbook_stdin(
        &db,
        &[
            "user",
            "add",
            "carol",
            "--role",
            "operator",
            "--password-stdin",
        ],
        "short\n",
    );
    assert!(text(&short).contains("at least 12 characters"));
    let no_sub = meterbook(&db, &["user", "add", "dan", "--role", "tenant"]);
    assert!(text(&no_sub).contains("needs at least one subscription"));
    let bad_name = meterbook(&db, &["user", "add", "e vil", "--role", "operator"]);
    assert!(!bad_name.status.success());

    let other = "1f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
    assert!(
        meterbook(&db, &["user", "grant", "bob", "--subscription", other])
            .status
            .success()
    );
    let revoked = meterbook(&db, &["user", "revoke", "bob", "--subscription", sub]);
    assert!(text(&revoked).contains(&format!("'bob' now reads: {other}")));
    assert!(meterbook(&db, &["user", "disable", "bob"]).status.success());
    let list = text(&meterbook(&db, &["user", "list"]));
    assert!(list.contains("alice") && list.contains("disabled"));
    let missing = meterbook(&db, &["user", "passwd", "nobody"]);
    assert!(text(&missing).contains("there is no user 'nobody'"));

    let audit = text(&meterbook(&db, &["audit", "--json"]));
    for action in ["user.add", "grant.add", "grant.remove", "user.disable"] {
        assert!(audit.contains(action), "{action} missing from {audit}");
    }
    let only = text(&meterbook(&db, &["audit", "--action", "user.disable"]));
    assert_eq!(only.lines().count(), 1);
}

#[test]
fn the_first_start_creates_an_operator_and_prints_its_password_once() {
    use std::io::{BufRead, BufReader};
    let (dir, db) = fresh_db();
    let first_start = |expect_password: bool| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_meterbook"))
            .args(["serve", "--addr", "127.0.0.1:0", "--site-root"])
            .arg(dir.dir.path())
            .env("MB_DATABASE_URL", &db)
            .env("MB_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            let serving = line.contains("is serving at");
            seen.push(line);
            if serving {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let printed = seen.join("\n");
        assert_eq!(printed.contains("password: "), expect_password, "{printed}");
        printed
    };
    let printed = first_start(true);
    assert!(printed.contains("username: admin"));
    first_start(false);
    assert!(text(&meterbook(&db, &["user", "list"])).contains("admin"));
}

#[test]
fn migrate_copies_a_sqlite_store_into_postgresql_and_checks_the_copy() {
    let target = crate::helpers::TestDatabase::new();
    if !target.url.starts_with("postgres") {
        eprintln!("runs in the PostgreSQL pass of the suite (MB_TEST_POSTGRES)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = format!("sqlite://{}", dir.path().join("source.db").display());
    assert!(meterbook(
        &source,
        &["demo", "--tenants", "2", "--days", "3", "--seed", "9"]
    )
    .status
    .success());
    assert!(
        meterbook(&source, &["user", "add", "alice", "--role", "operator"])
            .status
            .success()
    );
    let token = text(&meterbook(
        &source,
        &["token", "create", "--role", "operator"],
    ));
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    assert!(
        meterbook(&source, &["chargeback", "--period", &month, "--record"])
            .status
            .success()
    );

    let out = meterbook(
        &source,
        &["migrate", "--from", &source, "--to", &target.url],
    );
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("the copy matches its source"), "{report}");

    // The same usage reads back from both stores, line for line (in each store's key order).
    let today = chrono::Utc::now().format("%Y-%m-%dT00:00:00Z").to_string();
    let start = (chrono::Utc::now() - chrono::Duration::days(5))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    let usage = |db: &str| {
        let out = meterbook(
            db,
            &[
                "usage", "--all", "--from", &start, "--to", &today, "--format", "csv",
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        let mut lines: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    };
    let copied = usage(&target.url);
    assert!(copied.len() > 100);
    assert_eq!(copied, usage(&source));
    // People and tokens came along.
    let users = text(&meterbook(&target.url, &["user", "list"]));
    assert!(users.contains("alice"), "{users}");
    let tokens = text(&meterbook(&target.url, &["token", "list"]));
    assert!(
        token.lines().any(|l| !l.is_empty()) && tokens.contains("operator active"),
        "{tokens}"
    );

    // So did the rate card, the recorded chargeback run and the sign-in failure counters.
    for table in ["rate_cards", "chargeback_runs", "sign_in_failures"] {
        assert!(report.contains(table), "{report}");
    }
    let card = |db: &str| text(&meterbook(db, &["rates", "export", "-"]));
    assert_eq!(card(&target.url), card(&source));

    // A second copy into the same database is refused: it is no longer empty.
    let again = meterbook(
        &source,
        &["migrate", "--from", &source, "--to", &target.url],
    );
    assert!(!again.status.success());
    assert!(
        text(&again).contains("already holds Meterbook data"),
        "{}",
        text(&again)
    );
}

#[test]
fn rate_cards_import_and_export_and_demo_usage_is_charged_back() {
    let (dir, db) = fresh_db();
    let demo = meterbook(
        &db,
        &["demo", "--tenants", "3", "--days", "3", "--seed", "9"],
    );
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    assert!(
        String::from_utf8_lossy(&demo.stdout).contains("Demo rate card (USD) saved as revision 1")
    );

    // The demo card exports, and a bad edit of it is refused naming the row.
    let exported = dir.dir.path().join("card.csv");
    let exported = exported.to_str().unwrap();
    assert!(meterbook(&db, &["rates", "export", exported])
        .status
        .success());
    let text = std::fs::read_to_string(exported).unwrap();
    let mut rows: Vec<String> = text.lines().map(str::to_owned).collect();
    rows[3] = rows[3].replacen(",USD,", ",EUR,", 1);
    let edited = dir.dir.path().join("edited.csv");
    std::fs::write(&edited, rows.join("\n")).unwrap();
    let refused = meterbook(&db, &["rates", "import", edited.to_str().unwrap()]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("row 4") && err.contains("not changed"),
        "{err}"
    );

    // JSON out and back in makes revision 2.
    let json_file = dir.dir.path().join("card.json");
    assert!(
        meterbook(&db, &["rates", "export", json_file.to_str().unwrap()])
            .status
            .success()
    );
    let imported = meterbook(&db, &["rates", "import", json_file.to_str().unwrap()]);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert!(String::from_utf8_lossy(&imported.stdout).contains("revision 2 is in effect"));
    let again = meterbook(&db, &["rates", "export", "-"]);
    assert_eq!(String::from_utf8(again.stdout).unwrap(), text);

    // Every demo meter is priced: the statement of the demo's days has no unpriced line.
    let today = chrono::Utc::now().date_naive();
    let month = format!(
        "{}..{}",
        today - chrono::Duration::days(4),
        today + chrono::Duration::days(1)
    );
    let csv = meterbook(
        &db,
        &["chargeback", "--period", &month, "--by", "tag:Department"],
    );
    assert!(
        csv.status.success(),
        "{}",
        String::from_utf8_lossy(&csv.stderr)
    );
    let text = String::from_utf8(csv.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 10, "{text}");
    assert!(!text.contains(",unpriced,"), "{text}");
    let json = meterbook(&db, &["chargeback", "--period", &month, "--format", "json"]);
    let statement: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(statement["groupBy"]["kind"], "subscription");
    let total: f64 = statement["total"].as_str().unwrap().parse().unwrap();
    assert!(total > 0.0, "{total}");

    // Recorded runs, then closing the period freezes it.
    let record = meterbook(&db, &["chargeback", "--period", &month, "--record"]);
    assert!(
        record.status.success(),
        "{}",
        String::from_utf8_lossy(&record.stderr)
    );
    assert!(String::from_utf8_lossy(&record.stderr).contains("first recorded run"));
    let again = meterbook(&db, &["chargeback", "--period", &month, "--record"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 lines changed since the run of"));
    let close = meterbook(&db, &["chargeback", "--period", &month, "--close"]);
    assert!(
        close.status.success(),
        "{}",
        String::from_utf8_lossy(&close.stderr)
    );
    assert!(String::from_utf8_lossy(&close.stdout).contains("is closed"));
    let refused = meterbook(&db, &["chargeback", "--period", &month, "--record"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is closed"));

    for args in [
        &["chargeback", "--period", "October"][..],
        &["chargeback", "--by", "tag:"][..],
        &["chargeback", "--time-zone", "Mars/Olympus"][..],
        &["rates", "import", "card.xlsx"][..],
    ] {
        let out = meterbook(&db, args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with("error: "),
            "{args:?}"
        );
    }
}

#[test]
fn webhooks_are_managed_and_statements_queued_from_the_command_line() {
    let (_dir, db) = fresh_db();
    let demo = meterbook(
        &db,
        &["demo", "--tenants", "2", "--days", "2", "--seed", "3"],
    );
    assert!(demo.status.success());
    let month = chrono::Utc::now().format("%Y-%m").to_string();

    let nowhere = meterbook(&db, &["chargeback", "--period", &month, "--push"]);
    assert!(!nowhere.status.success());
    assert!(
        text(&nowhere).contains("webhooks add"),
        "{}",
        text(&nowhere)
    );
    let refused = meterbook(&db, &["webhooks", "add", "ftp://billing.example.com/in"]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("http"), "{}", text(&refused));

    let internal = meterbook(&db, &["webhooks", "add", "http://169.254.169.254/latest"]);
    assert!(!internal.status.success());
    assert!(
        text(&internal).contains("internal address"),
        "{}",
        text(&internal)
    );

    let added = meterbook(&db, &["webhooks", "add", "https://billing.example.com/in"]);
    assert!(added.status.success(), "{}", text(&added));
    let out = text(&added);
    assert!(
        out.contains("webhook 1: https://billing.example.com/in"),
        "{out}"
    );
    assert!(out.contains("whsec_"), "the secret is printed once: {out}");
    let listed = text(&meterbook(&db, &["webhooks", "list"]));
    assert!(listed.contains("https://billing.example.com/in") && !listed.contains("whsec_"));

    let pushed = meterbook(&db, &["chargeback", "--period", &month, "--push"]);
    assert!(pushed.status.success(), "{}", text(&pushed));
    assert!(
        text(&pushed).contains("queued for 1 webhook(s)"),
        "{}",
        text(&pushed)
    );
    let log = meterbook(&db, &["webhooks", "deliveries", "--json"]);
    let line: serde_json::Value = serde_json::from_str(text(&log).trim()).unwrap();
    assert_eq!(line["status"], "pending");
    assert_eq!(line["event"], "statement.pushed");
    assert_eq!(line["url"], "https://billing.example.com/in");

    // Removing the webhook fails what it had pending; a pending delivery is not "retried".
    assert!(!meterbook(&db, &["webhooks", "retry", "1"]).status.success());
    assert!(meterbook(&db, &["webhooks", "remove", "1"])
        .status
        .success());
    let failed = text(&meterbook(
        &db,
        &["webhooks", "deliveries", "--status", "failed"],
    ));
    assert!(failed.contains("the webhook was removed"), "{failed}");
    assert!(!meterbook(&db, &["webhooks", "remove", "1"])
        .status
        .success());
    let audit = text(&meterbook(&db, &["audit", "--limit", "10"]));
    for action in ["webhook.add", "chargeback.push", "webhook.remove"] {
        assert!(audit.contains(action), "{action}: {audit}");
    }
}

#[test]
fn claim_rules_are_added_listed_and_removed_and_an_unknown_issuer_is_refused() {
    let (_dir, db) = fresh_db();
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("identity.toml");
    std::fs::write(
        &config,
        "[[issuer]]\nname = \"adfs\"\nurl = \"https://adfs.contoso.example/adfs\"\n\
         audiences = [\"api://meterbook\"]\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let add = |extra: &[&str]| {
        let mut args = vec!["identity", "rules", "add", "--claim", "roles"];
        args.extend_from_slice(extra);
        meterbook(&db, &args)
    };
    let added = add(&[
        "--issuer",
        "adfs",
        "--value",
        "Meterbook.Operator",
        "--role",
        "operator",
        "--identity-config",
        config,
    ]);
    assert!(added.status.success(), "{}", text(&added));
    assert!(
        text(&added).contains("added claim rule 1: adfs: roles = Meterbook.Operator -> operator")
    );

    // Refused, saying why: an issuer the configuration does not name, a claim rules cannot test.
    let unknown = add(&[
        "--issuer",
        "entra",
        "--value",
        "x",
        "--role",
        "operator",
        "--identity-config",
        config,
    ]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown).contains("issuer 'entra' is not configured here"),
        "{}",
        text(&unknown)
    );
    let claim = meterbook(
        &db,
        &[
            "identity", "rules", "add", "--issuer", "adfs", "--claim", "nbf", "--value", "1",
            "--role", "operator",
        ],
    );
    assert!(!claim.status.success());
    assert!(
        text(&claim).contains("claim 'nbf' is not one rules may test"),
        "{}",
        text(&claim)
    );

    let listed = meterbook(&db, &["identity", "rules", "list", "--json"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "only the rule that was added");
    assert_eq!(lines[0]["value"], "Meterbook.Operator");
    assert_eq!(lines[0]["createdBy"], "cli");

    let removed = meterbook(&db, &["identity", "rules", "remove", "1"]);
    assert!(
        text(&removed).contains("removed claim rule 1"),
        "{}",
        text(&removed)
    );
    let again = meterbook(&db, &["identity", "rules", "remove", "1"]);
    assert!(!again.status.success());
    assert!(text(&again).contains("there is no claim rule 1"));
    let audit = meterbook(&db, &["audit", "--action", "claim_rule.add"]);
    assert!(text(&audit).contains("claim rule 1"), "{}", text(&audit));
}
