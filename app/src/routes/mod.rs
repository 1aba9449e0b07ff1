//! One page per module.

pub mod overview;
pub mod sign_in;
pub mod tokens;
