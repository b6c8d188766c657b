//! The dashboard: the left pane of the bot-bottle tmux session. Proposals
//! on top, agents below; the selected agent's session on the right.
//!
//! `app` is the state and its logic (pure), `detail` the proposal view an
//! approval must go through (pure), `text` measures and wraps the
//! text shown (pure; `crate::text` makes it inert), `render` draws it all (pure), `runtime` feeds the app
//! messages and carries out its effects.

pub(crate) mod app;
pub(crate) mod detail;
#[cfg(test)]
mod fixtures;
pub mod panes;
pub(crate) mod render;
pub(crate) mod runtime;
pub(crate) mod text;
