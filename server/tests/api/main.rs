//! Integration tests: a real server on a random port, against a fresh SQLite store each.

mod helpers;
mod ingest;
mod portal;
mod usage;
