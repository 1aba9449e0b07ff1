//! Integration tests: a real server on a random port, against a fresh SQLite store each.

// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod auth;
mod billing;
mod cli;
mod costs;
mod directory;
mod durability;
mod explore;
mod explore_sql;
mod hardening;
mod helpers;
mod identity;
mod ingest;
mod isolation;
mod odata;
mod offers;
mod operations;
mod people;
mod portal;
mod process;
mod proxy;
mod shared;
mod shutdown;
mod store;
mod usage;
mod webhooks;
mod widget;
