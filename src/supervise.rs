//! Supervise: how an agent asks for more capability, and how the operator
//! answers. The sidecar serves MCP tools that queue proposals; the host
//! lists them, applies approved ones and writes the audit log.

pub mod apply;
pub mod audit;
pub mod merge;
pub mod preview;
pub mod proposal;
pub mod queue;
pub mod server;
pub mod suggest;
