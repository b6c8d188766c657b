//! The proposal detail: what approving takes, and what must be read again.

use super::*;

#[test]
fn a_in_the_list_opens_the_detail_and_never_approves() {
    for p in [
        pipelock("p1", "1"),
        long("p1", "1"),
        with_auth("p1"),
        widening("p1"),
    ] {
        let tool = p.proposal.request.tool();
        for open in [key('a'), code(KeyCode::Enter)] {
            let mut a = listed(vec![p.clone()]);
            at(&mut a, 60_000);
            assert_eq!(a.update(open), [], "{tool}");
            let d = detail(&a);
            assert_eq!((d.id(), d.since, d.scroll), ("p1", 60_000, 0), "{tool}");
            assert_eq!(d.shown, p, "{tool}: the detail shows the preview");
        }
    }
}

/// (name, proposal, steps: (ms after opening, keys), approves)
type Gate<'a> = (&'a str, Pending, Vec<(u64, &'a str)>, bool);

#[test]
fn approving_needs_all_of_it_seen_and_a_dwell() {
    let line_by_line = "j".repeat(60);
    let cases: Vec<Gate> = vec![
        (
            "aa typed fast",
            pipelock("p1", "1"),
            vec![(0, "a"), (80, "a")],
            false,
        ),
        (
            "short, before the dwell",
            pipelock("p1", "1"),
            vec![(0, "a"), (DWELL_MS - 1, "a")],
            false,
        ),
        (
            "short, after the dwell",
            pipelock("p1", "1"),
            vec![(0, "a"), (DWELL_MS, "a")],
            true,
        ),
        (
            "long, not scrolled",
            long("p1", "1"),
            vec![(0, "a"), (5_000, "a")],
            false,
        ),
        (
            "long, jumped to the end",
            long("p1", "1"),
            vec![(0, "a"), (2_000, "G"), (5_000, "a")],
            false,
        ),
        (
            "long, half read",
            long("p1", "1"),
            vec![(0, "a"), (2_000, "  "), (5_000, "a")],
            false,
        ),
        (
            "long, read, fast",
            long("p1", "1"),
            vec![(0, "a"), (100, "        "), (200, "a")],
            false,
        ),
        (
            "long, read by paging",
            long("p1", "1"),
            vec![(0, "a"), (500, "        "), (DWELL_MS, "a")],
            true,
        ),
        (
            "long, read line by line then G",
            long("p1", "1"),
            vec![(0, "a"), (300, &line_by_line), (900, "G"), (1_500, "a")],
            true,
        ),
        (
            "a held push, aa typed fast",
            held_push("p1"),
            vec![(0, "a"), (80, "a")],
            false,
        ),
        (
            "a held push, after the dwell: no token question",
            held_push("p1"),
            vec![(0, "a"), (DWELL_MS, "a")],
            true,
        ),
        (
            "closed and opened again",
            pipelock("p1", "1"),
            vec![(0, "a"), (900, "q"), (1_000, "a"), (1_100, "a")],
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
                    shown: p.preview.clone(),
                }),
                "{name}"
            );
        } else {
            let status = a.status.clone().unwrap_or_default();
            assert!(status.starts_with("not approved"), "{name}: {status}");
        }
    }
}

#[test]
fn the_status_line_says_what_is_missing() {
    let mut a = listed(vec![long("p1", "1")]);
    at(&mut a, 60_000);
    keys(&mut a, "aa");
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
    a.update(key('a'));
    at(&mut a, 62_000);
    assert_eq!(approvals(&a.update(key('a'))), 1, "wide: it fits");

    let mut p = pipelock("p1", "1");
    p.preview.lines = vec!["x".repeat(400)];
    let mut a = listed(vec![p]);
    a.update(Msg::Resize {
        width: 24,
        height: 16,
    });
    at(&mut a, 60_000);
    a.update(key('a'));
    at(&mut a, 62_000);
    assert_eq!(
        approvals(&a.update(key('a'))),
        0,
        "narrow: it wraps past the end"
    );
    keys(&mut a, "    ");
    assert_eq!(approvals(&a.update(key('a'))), 1);
}

#[test]
fn widening_a_credential_needs_yes() {
    let open = |a: &mut App| {
        at(a, 60_000);
        a.update(key('a'));
        at(a, 62_000);
    };
    let mut a = listed(vec![widening("p1")]);
    open(&mut a);
    assert_eq!(a.update(key('a')), []);
    assert!(matches!(&a.modal, Some(Modal::Widen { input, .. }) if input.is_empty()));
    keys(&mut a, "y");
    assert_eq!(a.update(code(KeyCode::Enter)), [], "y alone is not yes");
    assert!(a.status.as_deref().unwrap().starts_with("not approved"));
    detail(&a);
    a.update(key('a'));
    assert_eq!(keys(&mut a, "yes"), []);
    let effects = a.update(code(KeyCode::Enter));
    assert_eq!(
        effects,
        [Effect::Approve {
            id: "p1".into(),
            token_env: None,
            widen_credential: true,
            shown: widening("p1").preview,
        }]
    );

    // Esc goes back to the detail, which still counts as read.
    let mut a = listed(vec![widening("p1")]);
    open(&mut a);
    a.update(key('a'));
    a.update(code(KeyCode::Esc));
    detail(&a);
    a.update(key('a'));
    assert!(matches!(a.modal, Some(Modal::Widen { .. })));

    // Without the preview saying so, never.
    let mut a = listed(vec![pipelock("p1", "1")]);
    open(&mut a);
    assert!(matches!(
        a.update(key('a')).as_slice(),
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
    a.update(key('a'));
    at(&mut a, 62_000);
    assert_eq!(a.update(key('a')), []);
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
            shown: with_auth("p2").preview,
        }]
    );
    // A paste into the prompt is not typing.
    let mut a = listed(vec![with_auth("p2")]);
    at(&mut a, 60_000);
    a.update(key('a'));
    at(&mut a, 62_000);
    a.update(key('a'));
    a.update(Msg::Paste("GITHUB_TOKEN".into()));
    assert!(matches!(&a.modal, Some(Modal::TokenEnv { input, .. }) if input.is_empty()));
}

#[test]
fn what_changes_under_the_detail_must_be_read_again() {
    let mut a = listed(vec![pipelock("p1", "1")]);
    at(&mut a, 60_000);
    a.update(key('a'));
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
        a.update(key('a')).as_slice(),
        [Effect::Approve { shown, .. }] if *shown == changed.preview
    ));

    // A prompt over a detail whose proposal changed goes back to it.
    let mut a = listed(vec![widening("p1")]);
    at(&mut a, 60_000);
    a.update(key('a'));
    at(&mut a, 62_000);
    a.update(key('a'));
    assert!(matches!(a.modal, Some(Modal::Widen { .. })));
    a.update(Msg::Proposals(vec![pipelock("p1", "1")]));
    detail(&a);

    // Decided elsewhere: closed.
    a.update(Msg::Proposals(vec![]));
    assert_eq!(a.modal, None);
    assert!(a.status.as_deref().unwrap().contains("no longer pending"));
}

#[test]
fn modify_then_read_again() {
    let mut a = listed(vec![pipelock("p1", "1")]);
    at(&mut a, 60_000);
    assert_eq!(a.update(key('m')), [Effect::Modify { id: "p1".into() }]);
    assert_eq!(
        a.update(Msg::Modified("p1".into())),
        [],
        "saving approves nothing"
    );
    assert_eq!(detail(&a).since, 60_000);
    a.update(code(KeyCode::Esc));
    a.update(key('r'));
    keys(&mut a, "no need");
    assert_eq!(
        a.update(code(KeyCode::Enter)),
        [Effect::Reject {
            id: "p1".into(),
            reason: Some("no need".into())
        }]
    );
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
