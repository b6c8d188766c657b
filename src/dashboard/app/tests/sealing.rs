//! The seals' checks: `s`, the schedule, and what a check's end does.

use super::*;
use crate::verify::{Failure, Report};

/// Five minutes, in ms, as the runtime sets it.
const EVERY: u64 = 300_000;
/// The wall clock (s since the epoch) when the app's `now` was 0.
const EPOCH: u64 = 1_800_000_000;

/// A report of a check at `checked_at` (s since the epoch).
fn report(checked_at: u64, sealed: bool) -> Report {
    Report {
        checked_at,
        probes: 12,
        unchecked: Vec::new(),
        failed: if sealed {
            vec![]
        } else {
            vec![Failure {
                what: "a public address (1.1.1.1:443)".into(),
                got: "connected".into(),
            }]
        },
    }
}

/// The app with its three agents (listed at 0), on the schedule.
fn scheduled() -> App {
    let mut a = app();
    a.verify_every = Some(EVERY);
    a.epoch = EPOCH;
    a
}

fn verify(slug: &str) -> Effect {
    Effect::Verify { slug: slug.into() }
}

#[test]
fn s_checks_the_selected_agent_unless_it_cannot_be() {
    // (how the selected agent is, whether a check is in flight, effects,
    // what the status line says)
    type Case = (fn(&mut AgentRow), bool, Vec<Effect>, &'static str);
    let cases: Vec<Case> = vec![
        (
            |_| {},
            false,
            vec![verify("a-1")],
            "checking the seal of a-1…",
        ),
        (|a| a.asleep = true, false, vec![verify("a-1")], "checking"),
        (|a| a.frozen = true, false, vec![], "thaw it first"),
        (|a| a.stopped = true, false, vec![], "R resumes it"),
        (|a| a.other_home = true, false, vec![], "another home"),
        (|_| {}, true, vec![], "being checked already"),
    ];
    for (i, (set, in_flight, want, says)) in cases.into_iter().enumerate() {
        let mut a = app();
        a.update(Msg::Tick(1_000));
        set(&mut a.agents[0]);
        if in_flight {
            a.update(key('s'));
        }
        assert_eq!(a.update(key('s')), want, "case {i}");
        let status = a.status.clone().unwrap_or_default();
        assert!(status.contains(says), "case {i}: {status}");
    }
    let mut empty = App::new(vec![], vec![], vec![]);
    assert_eq!(empty.update(key('s')), []);
    assert_eq!(
        empty.status.as_deref(),
        Some("no agent selected; n starts one")
    );
}

#[test]
fn the_schedule_checks_each_running_agent_every_so_often() {
    // (how a-1 is, now in ms, whether a-1's check is due)
    type Case = (&'static str, fn(&mut App), u64, bool);
    let cases: Vec<Case> = vec![
        ("never checked, just listed", |_| {}, 1_000, false),
        ("never checked, listed EVERY ago", |_| {}, EVERY, true),
        (
            "checked a minute ago",
            |a| a.agents[0].seal = Some(report(EPOCH + 240, true)),
            EVERY,
            false,
        ),
        (
            "checked EVERY ago",
            |a| a.agents[0].seal = Some(report(EPOCH + 10, true)),
            EVERY + 10_000,
            true,
        ),
        (
            "checked before the dashboard started, long ago",
            |a| a.agents[0].seal = Some(report(EPOCH - 3_600, true)),
            1_000,
            true,
        ),
        (
            "failed long ago, frozen since",
            |a| {
                a.agents[0].seal = Some(report(EPOCH - 3_600, false));
                a.agents[0].frozen = true;
            },
            EVERY * 3,
            false,
        ),
        ("frozen", |a| a.agents[0].frozen = true, EVERY * 3, false),
        ("asleep", |a| a.agents[0].asleep = true, EVERY * 3, false),
        ("stopped", |a| a.agents[0].stopped = true, EVERY * 3, false),
        (
            "another home's",
            |a| a.agents[0].other_home = true,
            EVERY * 3,
            false,
        ),
        (
            "being checked (s a moment ago)",
            |a| {
                a.update(key('s'));
            },
            EVERY,
            false,
        ),
        (
            "tried here a moment ago, the check did not run",
            |a| {
                a.update(Msg::Tick(EVERY - 1_000));
                a.update(key('s'));
                a.update(Msg::Verified {
                    slug: "a-1".into(),
                    outcome: Checked::Failed("not running".into()),
                });
            },
            EVERY,
            false,
        ),
        ("no schedule", |a| a.verify_every = None, EVERY * 3, false),
    ];
    for (what, set, now, due) in cases {
        let mut a = scheduled();
        // b-2 and c-3 are checked when due too: only a-1 is looked at.
        for other in &mut a.agents[1..] {
            other.frozen = true;
        }
        set(&mut a);
        let effects = a.update(Msg::Tick(now));
        let want = if due { vec![verify("a-1")] } else { vec![] };
        assert_eq!(effects, want, "{what}");
    }
}

#[test]
fn a_check_is_started_once_and_the_next_is_every_after_it() {
    let mut a = scheduled();
    assert_eq!(a.next_change(), Some(EVERY), "bring-up checked them");
    let all = vec![verify("a-1"), verify("b-2"), verify("c-3")];
    assert_eq!(a.update(Msg::Tick(EVERY)), all);
    assert_eq!(a.next_change(), None, "in flight: nothing is due");
    assert!(a.update(Msg::Tick(EVERY * 2)).is_empty(), "a slow check");
    assert!(a.update(key('s')).is_empty());
    assert!(a.status.as_deref().unwrap().contains("already"));
    // A scheduled check that passed says nothing; the listing brings its
    // report.
    a.update(key('j'));
    let effects = a.update(Msg::Verified {
        slug: "a-1".into(),
        outcome: Checked::Sealed { probes: 12 },
    });
    assert!(effects.is_empty() && a.status.is_none(), "{:?}", a.status);
    let mut rows = vec![row("a-1"), row("b-2"), row("c-3")];
    rows[0].seal = Some(report(EPOCH + EVERY * 2 / 1000, true));
    a.update(Msg::Bottles(rows));
    assert_eq!(
        a.next_change(),
        Some(EVERY * 2 + 60_000),
        "its age shown turns 1m"
    );
    assert!(a.update(Msg::Tick(EVERY * 2 + 60_000)).is_empty());
    assert_eq!(a.seal_due_at(&a.agents[0]), Some(EVERY * 3));
    assert_eq!(a.update(Msg::Tick(EVERY * 3)), [verify("a-1")]);
}

#[test]
fn a_failed_check_rings_and_shows_the_bottle_frozen() {
    let mut a = scheduled();
    a.focus = Focus::Proposals;
    assert_eq!(a.update(Msg::Tick(EVERY)).len(), 3, "on the schedule");
    let text = "bottle 'c-3' failed its seal check: a public address (1.1.1.1:443): connected; it is frozen";
    let effects = a.update(Msg::Verified {
        slug: "c-3".into(),
        outcome: Checked::Unsealed(text.into()),
    });
    assert_eq!(effects, [Effect::Bell, Effect::FocusDashboard]);
    assert_eq!(a.status.as_deref(), Some(text));
    assert!(a.agents[2].frozen, "shown at once");
    assert_eq!(
        (a.focus, a.selected_agent().unwrap().slug.as_str()),
        (Focus::Agents, "c-3")
    );
    assert!(a.guarded(), "keys typed elsewhere decide nothing");
    // Frozen: no longer on the schedule.
    assert!(!a.update(Msg::Tick(EVERY * 5)).contains(&verify("c-3")));

    // Asked for, and passed; or not run.
    let mut a = scheduled();
    a.update(key('s'));
    a.update(Msg::Verified {
        slug: "a-1".into(),
        outcome: Checked::Sealed { probes: 12 },
    });
    assert_eq!(a.status.as_deref(), Some("a-1: sealed ✓ (12 probes)"));
    let effects = a.update(Msg::Verified {
        slug: "b-2".into(),
        outcome: Checked::Failed("bottle 'b-2' is not running".into()),
    });
    assert!(effects.is_empty());
    assert_eq!(
        a.status.as_deref(),
        Some("b-2: seal not checked: bottle 'b-2' is not running")
    );
}

#[test]
fn the_age_of_a_seal_in_its_row_is_kept_up_by_the_minute_hour_and_day() {
    // (checked, seconds before the dashboard started; now in ms; when the
    // age shown next changes, in ms)
    let cases = [
        (0, 0, 60_000),
        (0, 59_000, 60_000),
        (0, 60_000, 120_000),
        (30, 1_000, 30_000),
        (3_599, 0, 1_000),
        (3_600, 0, 3_600_000),
        (86_400 + 5, 0, 86_400_000 - 5_000),
    ];
    for (before, now, want) in cases {
        let mut a = app();
        a.epoch = EPOCH;
        a.agents[0].seal = Some(report(EPOCH - before, true));
        a.update(Msg::Tick(now));
        assert_eq!(
            a.seal_age_changes_at(&a.agents[0]),
            Some(want),
            "checked {before} s before start, at {now} ms"
        );
    }
    let a = app();
    assert_eq!(a.seal_age_changes_at(&a.agents[0]), None, "never checked");
}
