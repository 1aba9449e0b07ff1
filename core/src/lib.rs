//! `meterbook-core`: the vocabulary every other Meterbook crate speaks.
//!
//! Pure data and rules: the meter catalog, usage records and their ARM wire shapes, parsed usage
//! queries, continuation tokens, exports and the ARM error vocabulary. Nothing here performs I/O,
//! so the crate builds for the server and for the browser (wasm32) alike.

pub mod access;
pub mod audit;
pub mod csv;
pub mod directory;
pub mod error;
pub mod explore;
pub mod export;
pub mod identity;
pub mod ids;
pub mod meter;
pub mod odata;
pub mod overview;
pub mod page;
#[cfg(any(test, feature = "fuzzing"))]
pub mod properties;
pub mod query;
pub mod rating;
pub mod rng;
pub mod sign_in;
pub mod time;
pub mod usage;
pub mod webhook;

pub use error::{ArmCode, ArmError};
pub use ids::SubscriptionId;
