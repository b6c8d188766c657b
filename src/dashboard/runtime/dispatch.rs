//! What the main loop does with each message, pure: the app is told the
//! time, then the message; each effect it wants goes where it is carried
//! out (the loop itself, the terminal handed to an editor or a pager, or
//! a task of its own); what an editor or a pager leaves behind comes back
//! as a message.

use super::effects::{self, EffectError};
use crate::dashboard::app::{App, Effect, Msg};
use crate::state::Home;

/// Handles `msg` at `now` (ms since start): every message is handled at
/// the time it is handled, so a key's time decides whether it falls in
/// the guard after an alert. A tick only tells the time.
pub(super) fn handle(app: &mut App, now: u64, msg: Msg) -> Vec<Effect> {
    // The clock's own effects (agents falling asleep) come first.
    let mut effects = app.update(Msg::Tick(now));
    if !matches!(msg, Msg::Tick(_)) {
        effects.extend(app.update(msg));
    }
    effects
}

/// Where an effect is carried out.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Route {
    /// The loop ends once the batch is handled.
    Quit,
    /// The terminal rings, from the loop.
    Bell,
    /// The terminal is handed over until the editor or the pager is done.
    HandOver(Handover),
    /// A task of its own carries it out (`effects::carry_out`).
    Spawn(Effect),
}

/// An effect that takes the terminal.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Handover {
    /// The operator edits proposal `id`.
    Modify { id: String },
    /// The operator edits a bottle's routes.
    EditRoutes { slug: String },
    /// The pager shows a proposal's detail.
    View { id: String, text: String },
}

/// Where `effect` is carried out.
pub(super) fn route(effect: Effect) -> Route {
    match effect {
        Effect::Quit => Route::Quit,
        Effect::Bell => Route::Bell,
        Effect::Modify { id } => Route::HandOver(Handover::Modify { id }),
        Effect::EditRoutes { slug } => Route::HandOver(Handover::EditRoutes { slug }),
        Effect::View { id, text } => Route::HandOver(Handover::View { id, text }),
        other => Route::Spawn(other),
    }
}

/// What an editor or a pager left behind.
#[derive(Debug)]
pub(super) enum Outcome {
    /// The edit of proposal `old`: the new proposal's id, or why not.
    Modified {
        old: String,
        new: Result<String, EffectError>,
    },
    /// The edit of a bottle's routes, said as a status.
    Routes(String),
    /// The pager, closed.
    Viewed(Result<(), EffectError>),
}

impl Handover {
    /// Runs the editor or the pager; the caller has handed it the terminal.
    pub(super) fn run(self, home: &Home) -> Outcome {
        match self {
            Handover::Modify { id } => {
                let new = effects::modify(home, &id);
                Outcome::Modified { old: id, new }
            }
            Handover::EditRoutes { slug } => Outcome::Routes(effects::edit_routes(home, &slug)),
            Handover::View { id, text } => Outcome::Viewed(effects::view(&id, &text)),
        }
    }
}

/// The message `outcome` sends the app, if any: a pager closed without
/// an error says nothing.
pub(super) fn reply(outcome: Outcome) -> Option<Msg> {
    match outcome {
        Outcome::Modified { old, new: Ok(new) } => Some(Msg::Modified { old, new }),
        Outcome::Modified { new: Err(e), .. } => Some(Msg::Status(e.to_string())),
        Outcome::Routes(status) => Some(Msg::Status(status)),
        Outcome::Viewed(Ok(())) => None,
        Outcome::Viewed(Err(e)) => Some(Msg::Status(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;

    fn app() -> App {
        App::new(Vec::new(), Vec::new(), vec!["docker".into()])
    }

    fn key(c: char) -> Msg {
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
    }

    #[test]
    fn a_message_is_handled_at_the_time_it_is_handled() {
        // (guard until, now, message, effects)
        let cases: Vec<(u64, u64, Msg, Vec<Effect>)> = vec![
            (0, 700, Msg::Tick(0), vec![]),
            (0, 700, Msg::Tick(9_999), vec![]),
            (0, 700, key('q'), vec![Effect::Quit]),
            // In the guard after an alert, the key is swallowed.
            (1_000, 700, key('q'), vec![]),
            (1_000, 1_000, key('q'), vec![Effect::Quit]),
        ];
        for (guard_until, now, msg, want) in cases {
            let mut a = app();
            a.guard_until = guard_until;
            let shown = format!("{msg:?} at {now}, guarded until {guard_until}");
            assert_eq!(handle(&mut a, now, msg), want, "{shown}");
            assert_eq!(a.now, now, "{shown}: a tick only tells the time");
        }
    }

    #[test]
    fn the_clocks_own_effects_are_not_lost() {
        let mut a = app();
        a.idle_after = Some(1_000);
        a.update(Msg::Bottles(vec![crate::dashboard::fixtures::row(
            "a-1",
            &[],
        )]));
        for msg in [Msg::Tick(0), key('?')] {
            let mut a = a.clone();
            assert_eq!(
                handle(&mut a, 1_000, msg),
                [Effect::Sleep {
                    slugs: vec!["a-1".into()]
                }]
            );
        }
    }

    #[test]
    fn each_effect_goes_where_it_is_carried_out() {
        let cases = [
            (Effect::Quit, Route::Quit),
            (Effect::Bell, Route::Bell),
            (
                Effect::Modify { id: "p1".into() },
                Route::HandOver(Handover::Modify { id: "p1".into() }),
            ),
            (
                Effect::EditRoutes { slug: "b".into() },
                Route::HandOver(Handover::EditRoutes { slug: "b".into() }),
            ),
            (
                Effect::View {
                    id: "p1".into(),
                    text: "detail".into(),
                },
                Route::HandOver(Handover::View {
                    id: "p1".into(),
                    text: "detail".into(),
                }),
            ),
            (Effect::CloseRight, Route::Spawn(Effect::CloseRight)),
            (Effect::FocusDashboard, Route::Spawn(Effect::FocusDashboard)),
            (
                Effect::Stop { slug: "b".into() },
                Route::Spawn(Effect::Stop { slug: "b".into() }),
            ),
            (
                Effect::Verify { slug: "b".into() },
                Route::Spawn(Effect::Verify { slug: "b".into() }),
            ),
            (
                Effect::Show {
                    slug: "b".into(),
                    focus: true,
                },
                Route::Spawn(Effect::Show {
                    slug: "b".into(),
                    focus: true,
                }),
            ),
        ];
        for (effect, want) in cases {
            assert_eq!(route(effect.clone()), want, "{effect:?}");
        }
    }

    #[test]
    fn what_an_editor_or_a_pager_left_behind_comes_back_as_a_message() {
        let failed = EffectError::NoPlan.to_string();
        let cases = [
            (
                Outcome::Modified {
                    old: "p1".into(),
                    new: Ok("p2".into()),
                },
                Some(Msg::Modified {
                    old: "p1".into(),
                    new: "p2".into(),
                }),
            ),
            (
                Outcome::Modified {
                    old: "p1".into(),
                    new: Err(EffectError::NoPlan),
                },
                Some(Msg::Status(failed.clone())),
            ),
            (
                Outcome::Routes("routes of b: no change".into()),
                Some(Msg::Status("routes of b: no change".into())),
            ),
            (Outcome::Viewed(Ok(())), None),
            (
                Outcome::Viewed(Err(EffectError::NoPlan)),
                Some(Msg::Status(failed)),
            ),
        ];
        for (outcome, want) in cases {
            let shown = format!("{outcome:?}");
            assert_eq!(reply(outcome), want, "{shown}");
        }
    }
}
