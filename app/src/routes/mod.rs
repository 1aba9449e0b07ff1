//! One page per module. Pages render on the server only; the islands inside the tokens, widgets
//! and people pages are what the browser runs.

#[cfg(feature = "ssr")]
pub mod audit;
#[cfg(feature = "ssr")]
pub mod costs;
#[cfg(feature = "ssr")]
pub mod explorer;
#[cfg(feature = "ssr")]
pub mod identity;
#[cfg(feature = "ssr")]
pub mod overview;
pub mod people;
#[cfg(feature = "ssr")]
pub mod sign_in;
#[cfg(feature = "ssr")]
pub mod tenants;
pub mod tokens;
pub mod widgets;
