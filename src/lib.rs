//! bot-bottle: run AI coding agents in sandboxed bottles, and steer them
//! from one tmux session. The binary is `src/main.rs`; this library is
//! everything it is made of.

pub mod agent_cli;
pub mod backend;
pub mod cli;
pub mod colour;
pub mod contract;
pub mod dashboard;
pub mod dockerfile;
pub mod doctor;
pub mod egress;
pub mod error;
pub mod exec;
pub mod gitgate;
pub(crate) mod launch;
pub mod manifest;
pub mod notify;
pub mod picker;
pub(crate) mod plan;
pub mod proposal;
pub mod provider;
pub mod shutdown;
pub mod state;
pub mod supervise;
pub mod text;
pub mod tmux;

/// Under gVisor, how many host tasks one of the agent's processes counts
/// as against its pid limit (the tests check the limit the engine got).
pub use plan::GVISOR_TASKS_PER_PROCESS;
