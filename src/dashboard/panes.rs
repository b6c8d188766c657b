//! The right-hand pane. Each agent's session is a tmux pane of its own,
//! tagged `@bb_slug`; the one on screen sits right of the dashboard, the
//! others are parked in background windows, so switching agents never
//! ends a session. A log pane (`@bb_log`) shows a bring-up or teardown.
//!
//! `show_ops` decides (pure); `Panes` carries it out over the control
//! connection.

use std::collections::BTreeMap;

use crate::contract::tmux as options;
use crate::tmux::client::{Client, ClientError};
use crate::tmux::command::{self, PaneRow};
use crate::tmux::control::{PaneId, WindowId};

/// How wide the right pane is, in percent of the window.
const RIGHT_PERCENT: u8 = 60;

/// Pane options set on every pane the dashboard makes (agents' sessions,
/// logs) and on its own, whatever the global values are (a user who
/// sources the conf into their own tmux may turn them on after it): no
/// escape sequence passes through to the operator's terminal, and no
/// program renames the window it is in.
const PANE_OPTIONS: [(&str, &str); 2] = [("allow-passthrough", "off"), ("allow-rename", "off")];

/// A pane, already there or about to be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Pane(PaneId),
    /// The pane the `Create` op made.
    Created,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// A new session pane for the bottle, in a background window.
    Create,
    /// Start the dead session again (resuming).
    Respawn(PaneId),
    /// Move a pane out of the dashboard's window, to a window of its own.
    Park(PaneId),
    /// A log pane that is done with: closed, not parked.
    Kill(PaneId),
    /// Move a pane beside the dashboard.
    Join(Target),
    Select(Target),
}

/// What to do to show `slug`'s session: reuse its pane (respawned if
/// dead) or make one, park what is on the right, join it, and focus it if
/// asked.
fn show_ops(
    rows: &[PaneRow],
    logs: &BTreeMap<PaneId, String>,
    dashboard: PaneId,
    slug: &str,
    focus: bool,
) -> Vec<Op> {
    let Some(home) = rows.iter().find(|r| r.pane == dashboard).map(|r| r.window) else {
        return Vec::new();
    };
    let session = rows.iter().find(|r| r.slug.as_deref() == Some(slug));
    let right: Vec<&PaneRow> = rows
        .iter()
        .filter(|r| r.window == home && r.pane != dashboard)
        .collect();
    let mut ops = Vec::new();
    let target = match session {
        Some(row) => {
            if row.dead {
                ops.push(Op::Respawn(row.pane));
            }
            Target::Pane(row.pane)
        }
        None => {
            ops.push(Op::Create);
            Target::Created
        }
    };
    let already_right = session.is_some_and(|s| s.window == home);
    for other in right.iter().filter(|r| Target::Pane(r.pane) != target) {
        ops.push(if logs.contains_key(&other.pane) {
            Op::Kill(other.pane)
        } else {
            Op::Park(other.pane)
        });
    }
    if !already_right {
        ops.push(Op::Join(target));
    }
    if focus {
        ops.push(Op::Select(target));
    }
    ops
}

/// The panes of the dashboard's window other than the dashboard.
fn right_panes(rows: &[PaneRow], dashboard: PaneId) -> Vec<PaneId> {
    let home = rows.iter().find(|r| r.pane == dashboard).map(|r| r.window);
    rows.iter()
        .filter(|r| Some(r.window) == home && r.pane != dashboard)
        .map(|r| r.pane)
        .collect()
}

/// The tmux side of the dashboard.
pub struct Panes {
    /// The control-mode connection.
    pub client: Client,
    /// The dashboard's own pane.
    pub dashboard: PaneId,
    /// The dashboard's window, where a session is shown beside it.
    pub window: WindowId,
    /// The pane showing each bottle's session (for `%output`).
    pub sessions: BTreeMap<PaneId, String>,
    /// Log panes, by the bottle they log.
    pub logs: BTreeMap<PaneId, String>,
}

impl Panes {
    pub(crate) async fn rows(&mut self) -> Result<Vec<PaneRow>, ClientError> {
        let rows = command::parse_pane_rows(&self.client.run(&command::list_panes()).await?);
        self.sessions = rows
            .iter()
            .filter_map(|r| r.slug.clone().map(|s| (r.pane, s)))
            .collect();
        self.logs
            .retain(|pane, _| rows.iter().any(|r| r.pane == *pane));
        Ok(rows)
    }

    /// Shows `slug`'s session on the right; `session_command` starts it
    /// when it has no pane yet or its pane is dead.
    pub async fn show(
        &mut self,
        slug: &str,
        focus: bool,
        session_command: &str,
    ) -> Result<PaneId, ClientError> {
        let rows = self.rows().await?;
        let existing = rows
            .iter()
            .find(|r| r.slug.as_deref() == Some(slug))
            .map(|r| r.pane);
        let mut created = None;
        for op in show_ops(&rows, &self.logs, self.dashboard, slug, focus) {
            let resolve = |t: Target, created: Option<PaneId>| match t {
                Target::Pane(p) => Some(p),
                Target::Created => created,
            };
            match op {
                Op::Create => {
                    let pane = self.new_pane(slug, session_command).await?;
                    self.tag(pane, options::SLUG, slug).await?;
                    created = Some(pane);
                }
                Op::Respawn(pane) => {
                    self.client
                        .run(&command::respawn_pane(pane, session_command))
                        .await?;
                }
                Op::Park(pane) => self.park(pane).await?,
                Op::Kill(pane) => {
                    self.client.run(&command::kill_pane(pane)).await?;
                    self.logs.remove(&pane);
                }
                Op::Join(target) => {
                    if let Some(pane) = resolve(target, created) {
                        self.client
                            .run(&command::join_pane(pane, self.dashboard, RIGHT_PERCENT))
                            .await?;
                    }
                }
                Op::Select(target) => {
                    if let Some(pane) = resolve(target, created) {
                        self.select(pane).await?;
                    }
                }
            }
        }
        let pane = existing.or(created).unwrap_or(self.dashboard);
        self.sessions.insert(pane, slug.to_owned());
        Ok(pane)
    }

    /// Shows a log on the right (`tail -F`), replacing what is there.
    pub async fn show_log(
        &mut self,
        slug: &str,
        tail_command: &str,
    ) -> Result<PaneId, ClientError> {
        let rows = self.rows().await?;
        let pane = self.new_pane(&format!("{slug}-log"), tail_command).await?;
        self.tag(pane, options::LOG, slug).await?;
        for other in right_panes(&rows, self.dashboard) {
            if self.logs.contains_key(&other) {
                self.client.run(&command::kill_pane(other)).await?;
            } else {
                self.park(other).await?;
            }
        }
        self.client
            .run(&command::join_pane(pane, self.dashboard, RIGHT_PERCENT))
            .await?;
        self.logs.insert(pane, slug.to_owned());
        Ok(pane)
    }

    /// The log pane becomes the bottle's session.
    pub(crate) async fn log_becomes_session(
        &mut self,
        pane: PaneId,
        slug: &str,
        session_command: &str,
    ) -> Result<(), ClientError> {
        self.client
            .run(&command::respawn_pane(pane, session_command))
            .await?;
        self.client
            .run(&command::set_pane_option(pane, options::LOG, ""))
            .await?;
        self.tag(pane, options::SLUG, slug).await?;
        self.logs.remove(&pane);
        self.sessions.insert(pane, slug.to_owned());
        Ok(())
    }

    /// Moves `pane` out to a background window named after its bottle.
    async fn park(&self, pane: PaneId) -> Result<(), ClientError> {
        let name = self.sessions.get(&pane).map_or("parked", String::as_str);
        self.client.run(&command::break_pane(pane, name)).await?;
        Ok(())
    }

    /// Closes the panes of a bottle that is gone (its session, parked or not).
    pub(crate) async fn forget(&mut self, slug: &str) -> Result<(), ClientError> {
        let rows = self.rows().await?;
        for row in rows.iter().filter(|r| r.slug.as_deref() == Some(slug)) {
            self.client.run(&command::kill_pane(row.pane)).await?;
        }
        Ok(())
    }

    /// Closes whatever is right of the dashboard.
    pub(crate) async fn close_right(&mut self) -> Result<(), ClientError> {
        let rows = self.rows().await?;
        for pane in right_panes(&rows, self.dashboard) {
            self.client.run(&command::kill_pane(pane)).await?;
        }
        Ok(())
    }

    pub(crate) async fn select(&self, pane: PaneId) -> Result<(), ClientError> {
        self.client
            .run(&command::select_pane(pane))
            .await
            .map(|_| ())
    }

    /// Brings the session's current window to the dashboard and focuses it.
    pub(crate) async fn focus_dashboard(&self) -> Result<(), ClientError> {
        self.client
            .run(&command::select_window(self.window))
            .await?;
        self.select(self.dashboard).await
    }

    /// The status line's pending count, and the id `prefix Y` / `prefix N`
    /// name (empty when none).
    pub(crate) async fn set_pending(
        &self,
        count: usize,
        next: Option<&str>,
    ) -> Result<(), ClientError> {
        self.client
            .run(&command::set_session_option(
                self.dashboard,
                options::NEXT_PROPOSAL,
                next.unwrap_or(""),
            ))
            .await?;
        self.client
            .run(&command::set_session_option(
                self.dashboard,
                options::PENDING,
                &count.to_string(),
            ))
            .await
            .map(|_| ())
    }

    /// `PANE_OPTIONS` on `pane`.
    pub(crate) async fn harden(&self, pane: PaneId) -> Result<(), ClientError> {
        for (name, value) in PANE_OPTIONS {
            self.client
                .run(&command::set_pane_option(pane, name, value))
                .await?;
        }
        Ok(())
    }

    async fn new_pane(&self, name: &str, shell_command: &str) -> Result<PaneId, ClientError> {
        let lines = self
            .client
            .run(&command::new_window(name, shell_command))
            .await?;
        let pane = lines
            .first()
            .and_then(|l| PaneId::parse(l.trim()))
            .ok_or_else(|| ClientError::Failed(format!("new-window printed {lines:?}")))?;
        self.client
            .run(&command::set_pane_option(pane, "remain-on-exit", "on"))
            .await?;
        self.harden(pane).await?;
        Ok(pane)
    }

    async fn tag(&self, pane: PaneId, option: &str, value: &str) -> Result<(), ClientError> {
        self.client
            .run(&command::set_pane_option(pane, option, value))
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pane: u32, window: u32, slug: Option<&str>, dead: bool) -> PaneRow {
        PaneRow {
            pane: PaneId(pane),
            window: WindowId(window),
            dead,
            slug: slug.map(String::from),
        }
    }

    /// (name, rows, slug, focus, ops)
    type Case<'a> = (&'a str, Vec<PaneRow>, &'a str, bool, Vec<Op>);

    #[test]
    fn show_decisions() {
        let none = BTreeMap::new();
        let dash = PaneId(0);
        let cases: Vec<Case> = vec![
            (
                "first session: made and joined, focused",
                vec![row(0, 0, None, false)],
                "a",
                true,
                vec![
                    Op::Create,
                    Op::Join(Target::Created),
                    Op::Select(Target::Created),
                ],
            ),
            (
                "another shown: it is parked, the parked one comes back",
                vec![
                    row(0, 0, None, false),
                    row(1, 0, Some("a"), false),
                    row(2, 3, Some("b"), false),
                ],
                "b",
                false,
                vec![Op::Park(PaneId(1)), Op::Join(Target::Pane(PaneId(2)))],
            ),
            (
                "already shown: just focus",
                vec![row(0, 0, None, false), row(1, 0, Some("a"), false)],
                "a",
                true,
                vec![Op::Select(Target::Pane(PaneId(1)))],
            ),
            (
                "a dead session is respawned",
                vec![row(0, 0, None, false), row(2, 3, Some("b"), true)],
                "b",
                true,
                vec![
                    Op::Respawn(PaneId(2)),
                    Op::Join(Target::Pane(PaneId(2))),
                    Op::Select(Target::Pane(PaneId(2))),
                ],
            ),
        ];
        for (name, rows, slug, focus, want) in cases {
            assert_eq!(show_ops(&rows, &none, dash, slug, focus), want, "{name}");
        }
        let logs: BTreeMap<PaneId, String> = [(PaneId(5), "a".to_owned())].into();
        assert_eq!(
            show_ops(
                &[
                    row(0, 0, None, false),
                    row(5, 0, None, false),
                    row(2, 3, Some("b"), false)
                ],
                &logs,
                dash,
                "b",
                false
            ),
            vec![Op::Kill(PaneId(5)), Op::Join(Target::Pane(PaneId(2)))],
            "a log pane is closed, not parked"
        );
    }
}
