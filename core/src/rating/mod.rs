//! Rating: rate cards and the arithmetic that turns usage into money.
//!
//! - [`money`]: currencies and the one rounding rule (per invoice line, half away from zero).
//! - [`azure`]: the rate card as Azure's RateCard API answers it.
//! - [`card`]: versioned rate cards with tiers, included quantities, tenant prices and discounts.
//! - [`csv`]: rate cards as CSV rows, for import and export.
//! - [`format`]: rate card files, CSV or JSON.
//! - [`period`]: billing periods, months in the operator's time zone.
//! - [`price`]: pricing a billing period's usage hours into invoice lines.
//! - [`statement`]: chargeback statements by subscription or tag, and their CSV.

pub mod azure;
pub mod card;
pub mod csv;
pub mod format;
pub mod money;
pub mod period;
pub mod price;
pub mod statement;

pub use card::{RateCard, RateCardDraft, RateCardError};
pub use format::{read_rate_card, write_rate_card, RateCardFormat};
pub use money::Currency;
pub use price::{price_period, PricedLine, UsageHour};
