//! bot-bottle: run AI coding agents in sandboxed bottles, and steer them
//! from one tmux session. The binary is `src/main.rs`; this library is
//! everything it is made of. Its outside surface is what the binary, the
//! tests and the benchmarks use, each item documented; the rest is
//! `pub(crate)`.

#![warn(missing_docs)]

pub(crate) mod accept;
pub(crate) mod agent_cli;
pub mod backend;
pub mod cli;
pub(crate) mod colour;
pub mod contract;
pub mod dashboard;
pub(crate) mod dockerfile;
pub(crate) mod doctor;
pub mod egress;
pub(crate) mod error;
pub(crate) mod exec;
pub(crate) mod fileio;
pub mod gitgate;
pub(crate) mod launch;
pub(crate) mod manifest;
pub(crate) mod notify;
pub(crate) mod picker;
#[cfg(test)]
pub(crate) mod pieces;
pub(crate) mod plan;
pub(crate) mod pricing;
pub mod proposal;
pub(crate) mod provider;
pub(crate) mod shutdown;
pub mod state;
pub mod supervise;
pub mod text;
pub mod tmux;
pub(crate) mod verify;

/// Under gVisor, how many host tasks one of the agent's processes counts
/// as against its pid limit (the tests check the limit the engine got).
pub use plan::GVISOR_TASKS_PER_PROCESS;
