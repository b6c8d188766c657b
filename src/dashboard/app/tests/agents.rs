//! The agents pane: launching, stopping, activity, and rest.

use super::*;

#[test]
fn new_agent_flow() {
    let mut a = app();
    a.cwd = "/proj".into();
    a.update(key('n'));
    assert!(matches!(a.modal, Some(Modal::PickAgent(_))));
    a.update(code(KeyCode::Enter));
    assert!(matches!(a.modal, Some(Modal::PickBottle { .. })));
    // The agent's own bottle is chosen; github joins it, second.
    a.update(code(KeyCode::Down));
    a.update(key(' '));
    a.update(code(KeyCode::Enter));
    assert!(matches!(a.modal, Some(Modal::Label { .. })));
    a.update(code(KeyCode::Enter));
    assert!(matches!(a.modal, Some(Modal::PickColor { .. })));
    a.update(code(KeyCode::Enter));
    assert!(matches!(a.modal, Some(Modal::Cwd { .. })));
    let effects = a.update(code(KeyCode::Enter));
    let request = NewAgent {
        agent: "shell".into(),
        bottles: vec!["default".into(), "github".into()],
        label: "shell".into(),
        color: crate::launch::color_for("shell").into(),
        cwd: Some("/proj".into()),
        backend: "docker".into(),
    };
    assert_eq!(
        effects,
        [Effect::Preflight(request.clone())],
        "one backend: no backend choice"
    );
    a.update(Msg::Preflight {
        request: request.clone(),
        text: "plan".into(),
    });
    assert_eq!(a.update(key('y')), [Effect::Launch(request)]);
    a.update(Msg::Started("d-4".into()));
    assert!(a.owned.contains("d-4"));
    assert_eq!(a.right.as_deref(), Some("d-4"));
    a.update(Msg::Bottles(vec![row("a-1"), row("d-4")]));
    assert_eq!(
        a.selected_agent().unwrap().slug,
        "d-4",
        "the new agent is selected once listed"
    );
}

#[test]
fn with_two_backends_the_choice_reaches_the_plan() {
    let mut a = app();
    a.backends = vec!["docker".into(), "smolmachines".into()];
    a.update(key('n'));
    for _ in 0..4 {
        assert!(a.update(code(KeyCode::Enter)).is_empty());
    }
    assert!(a.update(code(KeyCode::Enter)).is_empty(), "asks first");
    assert!(matches!(a.modal, Some(Modal::PickBackend { .. })));
    keys(&mut a, "smol");
    assert!(matches!(
        &a.update(code(KeyCode::Enter))[..],
        [Effect::Preflight(NewAgent { backend, .. })] if backend == "smolmachines"
    ));
}

#[test]
fn stop_slides_to_the_next_agent_and_closes_the_pane_at_the_end() {
    let mut a = app();
    a.update(key('x'));
    assert!(
        a.status.as_deref().unwrap().contains("bot-bottle stop a-1"),
        "not owned"
    );
    a.owned.insert("a-1".into());
    a.owned.insert("b-2".into());
    a.owned.insert("c-3".into());
    assert_eq!(a.update(key('x')), [Effect::Stop { slug: "a-1".into() }]);
    assert_eq!(
        a.update(Msg::Stopped("a-1".into())),
        [Effect::Show {
            slug: "b-2".into(),
            focus: false
        }]
    );
    a.update(key('j'));
    a.update(Msg::Stopped("c-3".into()));
    assert_eq!(
        a.selected_agent().unwrap().slug,
        "b-2",
        "the last row stopped: the new last"
    );
    assert_eq!(a.update(Msg::Stopped("b-2".into())), [Effect::CloseRight]);
    assert_eq!(a.right, None);
}

#[test]
fn f_toggles_the_selected_agent_and_shift_f_freezes_every_other() {
    use crate::launch::freeze::Switch;
    let mut a = app();
    let switch = |slugs: &[&str], to| Effect::Switch {
        slugs: slugs.iter().map(|s| s.to_string()).collect(),
        to,
    };
    assert_eq!(a.update(key('f')), [switch(&["a-1"], Switch::Freeze)]);
    assert!(a.agents[0].frozen, "shown at once");
    assert_eq!(
        a.update(key('F')),
        [switch(&["b-2", "c-3"], Switch::Freeze)],
        "the frozen one is left alone"
    );
    assert!(a.update(key('F')).is_empty());
    assert!(a.status.as_deref().unwrap().contains("frozen already"));
    assert_eq!(a.update(key('f')), [switch(&["a-1"], Switch::Thaw)]);
    assert!(!a.agents[0].frozen);
    // The listing says what the bottles really are.
    a.update(Msg::Bottles(vec![row("a-1")]));
    assert!(!a.agents[0].frozen);
}

#[test]
fn status_stays_until_a_key_and_busy_follows_output() {
    let mut a = app();
    a.update(Msg::Status("approved".into()));
    a.update(Msg::Tick(10_000));
    a.update(Msg::Bottles(vec![row("a-1")]));
    assert_eq!(a.status.as_deref(), Some("approved"));
    a.update(key('j'));
    assert_eq!(a.status, None);
    a.update(Msg::Output("a-1".into()));
    assert!(a.is_busy("a-1"));
    a.update(Msg::Tick(10_000 + BUSY_MS));
    assert!(!a.is_busy("a-1"));
}

#[test]
fn at_rest_nothing_needs_the_clock() {
    let mut a = app();
    a.update(Msg::Tick(10_000));
    assert_eq!(a.next_change(), None, "nothing on screen ages");
    a.update(Msg::Output("a-1".into()));
    assert_eq!(
        a.next_change(),
        Some(10_000 + BUSY_MS),
        "the busy mark ends"
    );
    a.update(Msg::Tick(10_000 + BUSY_MS));
    assert_eq!(a.next_change(), None);
}

#[test]
fn e_edits_the_selected_agents_routes() {
    let mut a = app();
    a.update(key('j'));
    assert_eq!(
        a.update(key('e')),
        [Effect::EditRoutes { slug: "b-2".into() }]
    );
    assert_eq!(a.status.as_deref(), Some("editing the routes of b-2…"));
    // What came of it stays until the next key.
    a.update(Msg::Status("routes of b-2 not changed: bad host".into()));
    a.update(Msg::Tick(60_000));
    assert_eq!(
        a.status.as_deref(),
        Some("routes of b-2 not changed: bad host")
    );
    a.update(key('k'));
    assert_eq!(a.status, None);

    // From the proposals pane, or with no agent: nothing, and why.
    a.focus = Focus::Proposals;
    a.update(Msg::Proposals(vec![pipelock("p1", "1")]));
    a.update(Msg::Tick(120_000));
    assert_eq!(a.update(key('e')), []);
    assert!(a.status.as_deref().unwrap().contains("Tab to the agents"));
    let mut empty = App::new(vec![], vec![], vec![]);
    assert_eq!(empty.update(key('e')), []);
    assert_eq!(
        empty.status.as_deref(),
        Some("no agent selected; n starts one")
    );
}

#[test]
fn question_mark_shows_the_keys_until_the_next_key() {
    let mut a = app();
    assert!(!a.help);
    a.update(key('?'));
    assert!(a.help);
    a.update(Msg::Tick(30_000));
    assert!(a.help, "time alone does not hide it");
    a.update(key('j'));
    assert!(!a.help);
}

#[test]
fn an_idle_agent_falls_asleep_and_selecting_it_wakes_it() {
    let mut a = app();
    a.idle_after = Some(60_000);
    // a-1 has a proposal waiting: it never sleeps.
    a.update(Msg::Proposals(vec![pipelock("p1", "1")]));
    a.focus = Focus::Agents;
    a.update(Msg::Tick(30_000));
    a.update(Msg::Output("b-2".into()));
    a.update(Msg::Tick(40_000));
    assert_eq!(a.next_change(), Some(60_000), "c-3's deadline comes first");
    assert!(a.update(Msg::Tick(59_999)).is_empty());
    assert_eq!(
        a.update(Msg::Tick(60_000)),
        [Effect::Sleep {
            slugs: vec!["c-3".into()]
        }]
    );
    assert!(a.agents[2].asleep && a.status.as_deref().unwrap().contains("c-3 idle"));
    assert_eq!(
        a.update(Msg::Tick(90_000)),
        [Effect::Sleep {
            slugs: vec!["b-2".into()]
        }]
    );
    assert!(
        a.update(Msg::Tick(900_000)).is_empty(),
        "asleep, or waiting"
    );
    assert_eq!(a.next_change(), None);

    // Selected: woken, and awake for another idle_after.
    a.update(Msg::Tick(900_100));
    assert_eq!(a.update(key('j')), [Effect::Wake { slug: "b-2".into() }]);
    assert!(!a.agents[1].asleep);
    a.update(Msg::Tick(902_000));
    assert_eq!(a.next_change(), Some(960_100));
    // A frozen agent neither sleeps nor wakes.
    a.agents[2].frozen = true;
    assert!(a.update(key('j')).is_empty());
    assert_eq!(
        a.update(Msg::Tick(2_000_000)),
        [Effect::Sleep {
            slugs: vec!["b-2".into()]
        }]
    );
}

#[test]
fn an_agent_woken_elsewhere_is_awake_for_another_idle_after() {
    let mut a = app();
    a.idle_after = Some(60_000);
    assert_eq!(a.update(Msg::Tick(60_000)).len(), 1, "all three asleep");
    let listed = |asleep: bool| {
        let mut rows = vec![row("a-1"), row("b-2"), row("c-3")];
        for r in &mut rows {
            r.asleep = asleep;
        }
        rows
    };
    a.update(Msg::Bottles(listed(true)));
    a.update(Msg::Tick(100_000));
    // `exec` woke b-2: the listing says so.
    let mut rows = listed(true);
    rows[1].asleep = false;
    a.update(Msg::Bottles(rows));
    assert!(a.update(Msg::Tick(159_999)).is_empty());
    assert_eq!(
        a.update(Msg::Tick(160_000)),
        [Effect::Sleep {
            slugs: vec!["b-2".into()]
        }]
    );
}
