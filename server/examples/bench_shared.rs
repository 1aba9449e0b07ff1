//! What sqlx's `Any` driver costs the shared store code (`cargo xtask bench-shared [--database
//! URL]`): the account, widget, webhook and billing SQL runs on `Any` (see `store/shared`), and a
//! token lookup is on every API request's path. On one store (SQLite in a temporary directory, or
//! the PostgreSQL database `--database` names), the same statement, a token's row by its hash, is
//! run 200 times on an `Any` pool and 200 times on the database's own driver, in turn; and
//! `token_by_hash`, the store's whole lookup, is timed on its own. Results print as Markdown for
//! BENCHMARKS.md.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Instant;

use common::{p50_pair, percentile, text_arg, token};
use meterbook_core::access::Role;
use meterbook_server::auth::tokens::hash_secret;
use meterbook_server::store;

/// Lookups per timed sample.
const LOOKUPS: usize = 200;

const STATEMENT: &str = "SELECT id, name, role, created_at, revoked_at, created_by FROM api_tokens
    WHERE token_hash = $1 AND revoked_at IS NULL";

/// [`LOOKUPS`] times the token row of `hash`, on `pool`.
async fn look_up<DB: sqlx::Database>(pool: &sqlx::Pool<DB>, hash: &str)
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: sqlx::IntoArguments<'a, DB>,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    for _ in 0..LOOKUPS {
        let row = sqlx::query(STATEMENT)
            .bind(hash.to_owned())
            .fetch_optional(pool);
        assert!(row.await.unwrap().is_some());
    }
}

#[tokio::main]
async fn main() {
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let default = format!("sqlite://{}", dir.path().join("shared.db").display());
    let url = text_arg("--database", &default);
    let store = store::open(&url).await.unwrap();
    let secret = token(store.as_ref(), Role::Operator, &[]).await;
    let hash = hash_secret(&secret);
    let any = sqlx::AnyPool::connect(&url).await.unwrap();
    let (on_any, native) = if url.starts_with("sqlite:") {
        let native = sqlx::SqlitePool::connect(&url).await.unwrap();
        p50_pair(|| look_up(&any, &hash), || look_up(&native, &hash)).await
    } else {
        let native = sqlx::PgPool::connect(&url).await.unwrap();
        p50_pair(|| look_up(&any, &hash), || look_up(&native, &hash)).await
    };
    let mut whole = Vec::new();
    for _ in 0..common::PAIRED_REPEATS {
        let t = Instant::now();
        for _ in 0..LOOKUPS {
            assert!(store.token_by_hash(&hash).await.unwrap().is_some());
        }
        whole.push(t.elapsed());
    }
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / LOOKUPS as f64;
    let database = if url.starts_with("sqlite:") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    println!(
        "| {database}: a token's row by its hash | µs per lookup (p50 of {} runs of {LOOKUPS}) |",
        common::PAIRED_REPEATS
    );
    println!("|---|---:|");
    println!("| sqlx `Any` pool | {:.1} |", per(on_any));
    println!("| the database's own driver | {:.1} |", per(native));
    println!(
        "| ratio, Any / own | {:.2} |",
        on_any.as_secs_f64() / native.as_secs_f64()
    );
    println!(
        "| `token_by_hash` (the store's lookup, on Any) | {:.1} |",
        per(percentile(&mut whole, 0.5))
    );
}
