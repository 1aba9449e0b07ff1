//! One page per module.

pub mod overview;
