//! Rating: rate cards and the arithmetic that turns usage into money.
//!
//! - [`money`]: currencies and the one rounding rule (per invoice line, half away from zero).
//! - [`card`]: versioned rate cards with tiers, included quantities, tenant prices and discounts.
//! - [`csv`]: rate cards as CSV rows, for import and export.
//! - [`period`]: billing periods, months in the operator's time zone.
//! - [`price`]: pricing a billing period's usage hours into invoice lines.

pub mod card;
pub mod csv;
pub mod money;
pub mod period;
pub mod price;

pub use card::{RateCard, RateCardDraft, RateCardError};
pub use money::Currency;
pub use price::{price_period, PricedLine, UsageHour};
