//! tmux: the dedicated session and its control-mode connection.

pub mod control;
