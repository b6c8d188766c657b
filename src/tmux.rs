//! tmux: the dedicated session and its control-mode connection.

pub mod client;
pub mod command;
pub mod control;
pub mod session;
