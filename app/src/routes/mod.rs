//! One page per module.

pub mod explorer;
pub mod overview;
pub mod sign_in;
pub mod tokens;
pub mod widgets;
