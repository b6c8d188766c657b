//! Supervise: the two ends of the proposal protocol (`crate::proposal`).
//! The sidecar (`server`) serves MCP tools that queue proposals; the host
//! lists them, previews and applies approved ones (`apply`, `merge`,
//! `preview`) and writes the audit log; `suggest` makes proposals from
//! denied requests.

pub mod apply;
pub(crate) mod budget;
pub(crate) mod merge;
pub(crate) mod preview;
pub(crate) mod server;
pub(crate) mod suggest;
