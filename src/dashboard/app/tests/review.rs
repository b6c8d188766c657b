//! The proposal detail: what approving takes, and what must be read again.

use super::*;
use crate::dashboard::app::CONFIRM_MS;
use crate::supervise::apply::digest;

/// Enter or `v` opens the detail; `a` in the list opens nothing and says
/// how to read it: no key both opens and approves.
#[test]
fn the_list_opens_the_detail_with_enter_or_v_and_a_opens_nothing() {
    for p in [
        pipelock("p1", "1"),
        long("p1", "1"),
        with_auth("p1"),
        widening("p1"),
    ] {
        let tool = p.proposal.request.tool();
        for open in [code(KeyCode::Enter), key('v')] {
            let mut a = listed(vec![p.clone()]);
            at(&mut a, 60_000);
            assert_eq!(a.update(open), [], "{tool}");
            let d = detail(&a);
            assert_eq!((d.id(), d.since, d.scroll), ("p1", 60_000, 0), "{tool}");
            assert_eq!(d.shown, p, "{tool}: the detail shows the preview");
        }
        let mut a = listed(vec![p.clone()]);
        at(&mut a, 60_000);
        assert_eq!(a.update(key('a')), [], "{tool}");
        assert_eq!(a.modal, None, "{tool}: a opens nothing");
        assert!(
            a.status
                .as_deref()
                .unwrap()
                .contains("Enter (or v) opens it"),
            "{tool}: {:?}",
            a.status
        );
    }
}

/// `a` in the detail, then `y` once the question has been on screen.
fn approve_now(a: &mut App) -> Vec<Effect> {
    let mut effects = a.update(key('a'));
    let then = a.now + CONFIRM_MS;
    at(a, then);
    effects.extend(a.update(key('y')));
    effects
}

/// (name, proposal, steps: (ms after opening, keys), approves)
type Gate<'a> = (&'a str, Pending, Vec<(u64, &'a str)>, bool);

#[test]
fn approving_needs_all_of_it_seen_and_a_dwell() {
    let line_by_line = "j".repeat(60);
    let cases: Vec<Gate> = vec![
        (
            "a, a pause, a: ordinary typing",
            pipelock("p1", "1"),
            vec![(0, "a"), (DWELL_MS * 2, "a")],
            false,
        ),
        (
            "a, pauses, a, a",
            pipelock("p1", "1"),
            vec![(0, "a"), (DWELL_MS * 2, "a"), (DWELL_MS * 4, "a")],
            false,
        ),
        (
            "Enter, a typed fast",
            pipelock("p1", "1"),
            vec![(0, "\n"), (80, "a")],
            false,
        ),
        (
            "short, before the dwell",
            pipelock("p1", "1"),
            vec![(0, "\n"), (DWELL_MS - 1, "a")],
            false,
        ),
        (
            "short, after the dwell",
            pipelock("p1", "1"),
            vec![(0, "\n"), (DWELL_MS, "a"), (DWELL_MS + CONFIRM_MS, "y")],
            true,
        ),
        (
            "v opens, a after the dwell",
            pipelock("p1", "1"),
            vec![(0, "v"), (DWELL_MS, "a"), (DWELL_MS + CONFIRM_MS, "y")],
            true,
        ),
        (
            "long, not scrolled",
            long("p1", "1"),
            vec![(0, "\n"), (5_000, "a")],
            false,
        ),
        (
            "long, jumped to the end",
            long("p1", "1"),
            vec![(0, "\n"), (2_000, "G"), (5_000, "a")],
            false,
        ),
        (
            "long, half read",
            long("p1", "1"),
            vec![(0, "\n"), (2_000, "  "), (5_000, "a")],
            false,
        ),
        (
            "long, read, fast",
            long("p1", "1"),
            vec![(0, "\n"), (100, "        "), (200, "a")],
            false,
        ),
        (
            "long, read by paging",
            long("p1", "1"),
            vec![
                (0, "\n"),
                (500, "        "),
                (DWELL_MS, "a"),
                (DWELL_MS + CONFIRM_MS, "y"),
            ],
            true,
        ),
        (
            "long, read line by line then G",
            long("p1", "1"),
            vec![
                (0, "\n"),
                (300, &line_by_line),
                (900, "G"),
                (1_500, "a"),
                (1_500 + CONFIRM_MS, "y"),
            ],
            true,
        ),
        (
            "a held push, typed fast",
            held_push("p1"),
            vec![(0, "\n"), (80, "a")],
            false,
        ),
        (
            "a held push, after the dwell: no token question",
            held_push("p1"),
            vec![(0, "\n"), (DWELL_MS, "a"), (DWELL_MS + CONFIRM_MS, "y")],
            true,
        ),
        (
            "closed and opened again",
            pipelock("p1", "1"),
            vec![(0, "\n"), (900, "q"), (1_000, "\n"), (1_100, "a")],
            false,
        ),
        (
            "Enter, a pause, a word starting with a: asks, answers nothing",
            pipelock("p1", "1"),
            vec![(0, "\n"), (DWELL_MS, "apt")],
            false,
        ),
        (
            "a, then y typed fast",
            pipelock("p1", "1"),
            vec![(0, "\n"), (DWELL_MS, "ay")],
            false,
        ),
        (
            "a, then y before the question was read",
            pipelock("p1", "1"),
            vec![(0, "\n"), (DWELL_MS, "a"), (DWELL_MS + CONFIRM_MS - 1, "y")],
            false,
        ),
        (
            "a, a pause, another key",
            pipelock("p1", "1"),
            vec![(0, "\n"), (DWELL_MS, "a"), (DWELL_MS + CONFIRM_MS, "n")],
            false,
        ),
    ];
    for (name, p, steps, approves) in cases {
        let mut a = listed(vec![p.clone()]);
        let mut effects = Vec::new();
        for (ms, typed) in steps {
            at(&mut a, 60_000 + ms);
            effects.extend(keys(&mut a, typed));
        }
        assert_eq!(
            approvals(&effects),
            usize::from(approves),
            "{name}: {effects:?}"
        );
        if approves {
            assert_eq!(
                effects.last(),
                Some(&Effect::Approve {
                    id: "p1".into(),
                    token_env: None,
                    widen_credential: false,
                    digest: digest(&p),
                }),
                "{name}"
            );
        } else {
            let status = a.status.clone().unwrap_or_default();
            let says = match a.modal {
                // What an answer left in the status line; a key typed
                // after it (the detail ignores it) clears it.
                Some(_) => status.is_empty() || status.starts_with("not approved"),
                None => status.contains("Enter (or v) opens it"),
            };
            assert!(says, "{name}: {status}");
        }
    }
}

#[test]
fn the_status_line_says_what_is_missing() {
    let mut a = listed(vec![long("p1", "1")]);
    at(&mut a, 60_000);
    keys(&mut a, "\na");
    assert!(
        a.status
            .as_deref()
            .unwrap()
            .contains("scroll to the end first")
    );
    keys(&mut a, "          ");
    a.update(key('a'));
    assert!(a.status.as_deref().unwrap().contains("read it first"));
}

#[test]
fn a_narrow_terminal_means_more_to_scroll() {
    let mut p = pipelock("p1", "1");
    p.preview.lines = vec!["x".repeat(400)];
    let mut a = listed(vec![p]);
    at(&mut a, 60_000);
    a.update(code(KeyCode::Enter));
    at(&mut a, 62_000);
    assert_eq!(approvals(&approve_now(&mut a)), 1, "wide: it fits");

    let mut p = pipelock("p1", "1");
    p.preview.lines = vec!["x".repeat(400)];
    let mut a = listed(vec![p]);
    a.update(Msg::Resize {
        width: 24,
        height: 16,
    });
    at(&mut a, 60_000);
    a.update(code(KeyCode::Enter));
    at(&mut a, 62_000);
    assert_eq!(
        approvals(&a.update(key('a'))),
        0,
        "narrow: it wraps past the end"
    );
    keys(&mut a, "    ");
    assert_eq!(approvals(&approve_now(&mut a)), 1);
}

#[test]
fn widening_a_credential_needs_yes() {
    let open = |a: &mut App| {
        at(a, 60_000);
        a.update(code(KeyCode::Enter));
        at(a, 62_000);
    };
    let mut a = listed(vec![widening("p1")]);
    open(&mut a);
    assert_eq!(approve_now(&mut a), []);
    assert!(matches!(&a.modal, Some(Modal::Widen { input, .. }) if input.is_empty()));
    keys(&mut a, "y");
    assert_eq!(a.update(code(KeyCode::Enter)), [], "y alone is not yes");
    assert!(a.status.as_deref().unwrap().starts_with("not approved"));
    detail(&a);
    approve_now(&mut a);
    assert_eq!(keys(&mut a, "yes"), []);
    let effects = a.update(code(KeyCode::Enter));
    assert_eq!(
        effects,
        [Effect::Approve {
            id: "p1".into(),
            token_env: None,
            widen_credential: true,
            digest: digest(&widening("p1")),
        }]
    );

    // Esc goes back to the detail, which still counts as read.
    let mut a = listed(vec![widening("p1")]);
    open(&mut a);
    approve_now(&mut a);
    a.update(code(KeyCode::Esc));
    detail(&a);
    approve_now(&mut a);
    assert!(matches!(a.modal, Some(Modal::Widen { .. })));

    // Without the preview saying so, never.
    let mut a = listed(vec![pipelock("p1", "1")]);
    open(&mut a);
    assert!(matches!(
        approve_now(&mut a).as_slice(),
        [Effect::Approve {
            widen_credential: false,
            ..
        }]
    ));
}

#[test]
fn the_token_prompt_starts_empty_and_names_the_host() {
    let mut a = listed(vec![with_auth("p2")]);
    at(&mut a, 60_000);
    a.update(code(KeyCode::Enter));
    at(&mut a, 62_000);
    assert_eq!(approve_now(&mut a), []);
    assert!(
        matches!(&a.modal, Some(Modal::TokenEnv { input, widen: false, .. }) if input.is_empty()),
        "never pre-filled with the agent's suggestion"
    );
    assert_eq!(a.update(code(KeyCode::Enter)), [], "empty: asked again");
    assert!(a.status.as_deref().unwrap().contains("api.github.com"));
    assert!(matches!(a.modal, Some(Modal::TokenEnv { .. })));
    keys(&mut a, "1X");
    assert_eq!(a.update(code(KeyCode::Enter)), [], "not a variable name");
    for _ in 0..2 {
        a.update(code(KeyCode::Backspace));
    }
    keys(&mut a, "MY_GH_TOKEN");
    assert_eq!(
        a.update(code(KeyCode::Enter)),
        [Effect::Approve {
            id: "p2".into(),
            token_env: Some("MY_GH_TOKEN".into()),
            widen_credential: false,
            digest: digest(&with_auth("p2")),
        }]
    );
    // A paste into the prompt is not typing.
    let mut a = listed(vec![with_auth("p2")]);
    at(&mut a, 60_000);
    a.update(code(KeyCode::Enter));
    at(&mut a, 62_000);
    approve_now(&mut a);
    a.update(Msg::Paste("GITHUB_TOKEN".into()));
    assert!(matches!(&a.modal, Some(Modal::TokenEnv { input, .. }) if input.is_empty()));
}

#[test]
fn what_changes_under_the_detail_must_be_read_again() {
    let mut a = listed(vec![pipelock("p1", "1")]);
    at(&mut a, 60_000);
    a.update(code(KeyCode::Enter));
    at(&mut a, 62_000);
    let mut changed = pipelock("p1", "1");
    changed
        .preview
        .lines
        .push("WARNING: something else now".into());
    a.update(Msg::Proposals(vec![changed.clone()]));
    assert_eq!(detail(&a).since, 62_000, "the dwell starts again");
    assert_eq!(detail(&a).shown, changed);
    assert!(a.status.as_deref().unwrap().contains("changed"));
    assert_eq!(approvals(&a.update(key('a'))), 0);
    at(&mut a, 63_000);
    assert!(matches!(
        approve_now(&mut a).as_slice(),
        [Effect::Approve { digest: d, .. }] if *d == digest(&changed)
    ));

    // A prompt over a detail whose proposal changed goes back to it.
    let mut a = listed(vec![widening("p1")]);
    at(&mut a, 60_000);
    a.update(code(KeyCode::Enter));
    at(&mut a, 62_000);
    approve_now(&mut a);
    assert!(matches!(a.modal, Some(Modal::Widen { .. })));
    a.update(Msg::Proposals(vec![pipelock("p1", "1")]));
    detail(&a);

    // Decided elsewhere: closed.
    a.update(Msg::Proposals(vec![]));
    assert_eq!(a.modal, None);
    assert!(a.status.as_deref().unwrap().contains("no longer pending"));
}

/// The operator's edit is a new proposal: its detail opens once listed,
/// to be read from the start, and its arrival is no alert.
#[test]
fn modify_then_read_the_new_one() {
    let mut a = listed(vec![pipelock("p1", "1")]);
    at(&mut a, 60_000);
    a.update(code(KeyCode::Enter));
    assert_eq!(a.update(key('m')), [Effect::Modify { id: "p1".into() }]);
    at(&mut a, 70_000);
    assert_eq!(
        a.update(Msg::Modified {
            old: "p1".into(),
            new: "p2".into()
        }),
        [],
        "saving approves nothing"
    );
    assert!(
        a.status
            .as_deref()
            .unwrap()
            .contains("it is now proposal p2")
    );
    let mut edited = pipelock("p2", "2");
    edited.proposal.replaces = Some("p1".into());
    let effects = a.update(Msg::Proposals(vec![edited.clone()]));
    assert!(
        !effects.contains(&Effect::Bell) && !a.guarded(),
        "one's own edit is no alert: {effects:?}"
    );
    let d = detail(&a);
    assert_eq!((d.id(), d.since), ("p2", 70_000));
    assert!(d.text().contains("replaces  p1 (withdrawn: it changed)"));
    assert_eq!(approvals(&a.update(key('a'))), 0, "read it first");
    at(&mut a, 71_000);
    assert_eq!(
        approve_now(&mut a),
        [Effect::Approve {
            id: "p2".into(),
            token_env: None,
            widen_credential: false,
            digest: digest(&edited),
        }]
    );

    let mut a = listed(vec![pipelock("p1", "1")]);
    a.update(Msg::Modified {
        old: "p1".into(),
        new: "p1".into(),
    });
    assert!(a.status.as_deref().unwrap().contains("changed nothing"));
    a.update(code(KeyCode::Esc));
    a.update(key('r'));
    types_a_rejection(&mut a, "p1", "no need");
}

/// A proposal withdrawn for a changed one (a suggestion grown, a branch
/// pushed again) closes its detail, prompts included; the status line
/// says so and the cursor goes to the new one, which is read afresh.
#[test]
fn a_withdrawn_proposal_closes_its_detail_and_says_what_replaced_it() {
    for prompt in [false, true] {
        let mut a = listed(vec![widening("p1"), pipelock("p0", "0")]);
        at(&mut a, 60_000);
        a.update(code(KeyCode::Enter));
        at(&mut a, 62_000);
        if prompt {
            approve_now(&mut a);
            assert!(matches!(a.modal, Some(Modal::Widen { .. })));
        }
        let mut grown = widening("p2");
        grown.proposal.replaces = Some("p1".into());
        a.update(Msg::Proposals(vec![pipelock("p0", "0"), grown]));
        assert_eq!(a.modal, None, "closed");
        assert_eq!(
            a.status.as_deref(),
            Some("proposal p1 was withdrawn: it changed, and is now proposal p2; Enter reads it")
        );
        assert_eq!(a.selected_proposal().unwrap().id, "p2");
        at(&mut a, 64_000);
        assert_eq!(a.update(key('a')), [], "a in the list approves nothing");
        a.update(code(KeyCode::Enter));
        assert_eq!(detail(&a).since, 64_000, "read from the start");
    }
}

#[test]
fn v_opens_the_detail_then_the_pager_which_approves_nothing() {
    let mut a = listed(vec![long("p1", "1")]);
    at(&mut a, 60_000);
    assert_eq!(a.update(key('v')), [], "v in the list opens the detail");
    assert_eq!(detail(&a).id(), "p1");
    let effects = a.update(key('v'));
    let [Effect::View { id, text }] = effects.as_slice() else {
        panic!("no view: {effects:?}");
    };
    assert_eq!(id, "p1");
    assert!(text.contains("+RUN step 0\n") && text.contains("+RUN step 59\n"));
    assert!(text.ends_with("(end of proposal)\n"));
    assert_eq!(detail(&a).id(), "p1", "the detail stays open");
    // Read in the pager, not on the dashboard: the rows are still unseen.
    at(&mut a, 90_000);
    assert_eq!(approvals(&a.update(key('a'))), 0);
    assert!(a.status.as_deref().unwrap().contains("scroll to the end"));
}
