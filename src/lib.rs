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
pub mod launch;
pub mod manifest;
pub mod notify;
pub mod picker;
pub mod plan;
pub mod proposal;
pub mod provider;
pub mod shutdown;
pub mod state;
pub mod supervise;
pub mod text;
pub mod tmux;
