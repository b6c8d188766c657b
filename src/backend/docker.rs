//! The docker backend: one compose project per bottle.

pub mod engine;
pub mod plan;
