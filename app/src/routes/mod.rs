//! One page per module.

pub mod audit;
pub mod costs;
pub mod explorer;
pub mod overview;
pub mod people;
pub mod rendered;
pub mod sign_in;
pub mod tokens;
pub mod widgets;
