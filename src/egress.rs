//! The egress sidecar: the bottle's only way out.

pub mod ca;
pub mod dlp;
