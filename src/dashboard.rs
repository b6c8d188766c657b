//! The dashboard: the left pane of the bot-bottle tmux session. Proposals
//! on top, agents below; the selected agent's session on the right.
//!
//! `app` is the state and its logic (pure), `render` draws it (pure),
//! `runtime` feeds it messages and carries out its effects.

pub mod app;
pub mod panes;
pub mod render;
pub mod runtime;
