//! The user options bot-bottle sets in its tmux session; the session's
//! configuration (`tmux/bot-bottle.conf`) reads them by these names.

/// A pane's bottle: the slug of the agent session it shows.
pub const SLUG: &str = "@bb_slug";
/// A log pane's bottle: the slug whose bring-up or teardown it shows.
pub const LOG: &str = "@bb_log";
/// The session's dashboard pane.
pub const DASHBOARD_PANE: &str = "@bb_dashboard_pane";
/// The window of the dashboard pane.
pub const DASHBOARD_WINDOW: &str = "@bb_dashboard_window";
/// How many proposals wait for the operator.
pub const PENDING: &str = "@bb_pending";
/// The proposal `prefix Y` / `prefix N` act on.
pub const NEXT_PROPOSAL: &str = "@bb_next_proposal";

#[cfg(test)]
mod tests {
    #[test]
    fn the_session_configuration_reads_each_option() {
        let conf = include_str!("../../tmux/bot-bottle.conf");
        for option in [
            super::SLUG,
            super::LOG,
            super::DASHBOARD_PANE,
            super::DASHBOARD_WINDOW,
            super::PENDING,
            super::NEXT_PROPOSAL,
        ] {
            assert!(conf.contains(option), "{option}");
        }
    }
}
