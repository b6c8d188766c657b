//! The docker backend: one compose project per bottle.

pub mod cleanup;
pub mod cli_fetch;
pub mod compose;
pub mod engine;
pub mod enumerate;
pub mod files;
pub mod gate;
pub mod images;
pub mod plan;
pub mod seal;
pub mod session;
