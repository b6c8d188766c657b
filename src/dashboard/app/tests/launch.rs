//! The `n` flow, step by step: bottles in order, a free label, a color,
//! a directory to copy in; what reaches the plan.

use super::*;

/// Presses `script`: `<enter>`, `<space>`, `<down>`, `<esc>`, `<ctrl-u>`,
/// `<bs>`; any other token is typed. Returns the effects of the last key.
fn press(a: &mut App, script: &[&str]) -> Vec<Effect> {
    let mut last = Vec::new();
    for token in script {
        last = match *token {
            "<enter>" => a.update(code(KeyCode::Enter)),
            "<space>" => a.update(key(' ')),
            "<down>" => a.update(code(KeyCode::Down)),
            "<esc>" => a.update(code(KeyCode::Esc)),
            "<bs>" => a.update(code(KeyCode::Backspace)),
            "<ctrl-u>" => a.update(Msg::Key(KeyEvent::new(
                KeyCode::Char('u'),
                KeyModifiers::CONTROL,
            ))),
            text => keys(a, text),
        };
    }
    last
}

fn launch_app() -> App {
    let mut a = app();
    a.cwd = "/proj".into();
    let mut taken = row("z-9");
    taken.label = "Shell".into();
    a.update(Msg::Bottles(vec![row("a-1"), taken]));
    a.update(key('n'));
    a
}

fn request(bottles: &[&str], label: &str, color: &str, cwd: Option<&str>) -> NewAgent {
    NewAgent {
        agent: "shell".into(),
        bottles: bottles.iter().map(|b| b.to_string()).collect(),
        label: label.into(),
        color: color.into(),
        cwd: cwd.map(str::to_owned),
        backend: "docker".into(),
    }
}

#[test]
fn what_the_steps_send_to_the_plan() {
    let auto = |label: &str| crate::launch::color_for(label).to_owned();
    // (keys after `n` from the agent picker on, the request planned)
    let cases: Vec<(&[&str], NewAgent)> = vec![
        (
            // The agent's own bottle; "shell" runs already: shell-2 offered.
            &[
                "<enter>", "<enter>", "<enter>", "<enter>", "<enter>", "<enter>",
            ],
            request(&["default"], "shell-2", &auto("shell-2"), Some("/proj")),
        ),
        (
            // Toggle order is bottle order: github first, then default.
            &[
                "<enter>", "<space>", "<down>", "<space>", "<down>", "<space>", "<enter>",
                "<ctrl-u>", "review", "<enter>", "<enter>", "<enter>",
            ],
            request(
                &["github", "default"],
                "review",
                &auto("review"),
                Some("/proj"),
            ),
        ),
        (
            // Filtering keeps the order: default stays first.
            &[
                "<enter>", "git", "<space>", "<enter>", "<ctrl-u>", "fix bug", "<enter>", "<down>",
                "<enter>", "<ctrl-u>", "<enter>",
            ],
            request(
                &["default", "github"],
                "fix bug",
                &crate::launch::choose::color_choices(&auto("fix bug"))[1],
                None,
            ),
        ),
        (
            // A relative directory is kept as typed (the runtime resolves it).
            &[
                "<enter>", "<enter>", "<ctrl-u>", "x", "<enter>", "<enter>", "<ctrl-u>", "sub",
                "<enter>",
            ],
            request(&["default"], "x", &auto("x"), Some("sub")),
        ),
    ];
    for (script, want) in cases {
        let mut a = launch_app();
        assert_eq!(
            press(&mut a, script),
            [Effect::Preflight(want.clone())],
            "{script:?}"
        );
        assert_eq!(a.modal, None);
        a.update(Msg::Preflight {
            request: want.clone(),
            text: "plan".into(),
        });
        assert_eq!(a.update(key('y')), [Effect::Launch(want)], "{script:?}");
    }
}

#[test]
fn a_label_in_use_or_empty_is_asked_again() {
    // (label typed, the message, what is offered instead)
    let cases = [
        ("shell", "\"shell\" is already in use", "shell-2"),
        ("SHELL", "\"SHELL\" is already in use", "SHELL-2"),
        ("a 1", "\"a 1\" is already in use", "a 1-2"),
        ("", "a label is needed", "shell"),
    ];
    for (label, message, offered) in cases {
        let mut a = launch_app();
        press(&mut a, &["<enter>", "<enter>", "<ctrl-u>"]);
        if !label.is_empty() {
            press(&mut a, &[label]);
        }
        assert!(press(&mut a, &["<enter>"]).is_empty());
        let Some(Modal::Label { prompt, .. }) = &a.modal else {
            panic!("{label}: asked again, got {:?}", a.modal);
        };
        assert!(
            prompt.message().is_some_and(|m| m.contains(message)),
            "{label}: {:?}",
            prompt.message()
        );
        assert_eq!(prompt.input(), offered, "{label}");
    }
}

#[test]
fn esc_at_any_step_starts_nothing_and_nothing_chosen_is_not_confirmed() {
    let steps: &[&[&str]] = &[
        &[],
        &["<enter>"],
        &["<enter>", "<enter>"],
        &["<enter>", "<enter>", "<ctrl-u>", "new", "<enter>"],
        &[
            "<enter>", "<enter>", "<ctrl-u>", "new", "<enter>", "<enter>",
        ],
    ];
    for before in steps {
        let mut a = launch_app();
        press(&mut a, before);
        assert!(a.modal.is_some(), "{before:?}");
        assert!(press(&mut a, &["<esc>"]).is_empty(), "{before:?}");
        assert_eq!(a.modal, None, "{before:?}");
    }
    let mut a = launch_app();
    press(&mut a, &["<enter>", "<space>", "<enter>"]);
    let Some(Modal::PickBottle { picker, .. }) = &a.modal else {
        panic!("no bottle: still asking, got {:?}", a.modal);
    };
    assert!(picker.chosen().is_empty());
}

#[test]
fn the_agents_own_color_is_offered_first() {
    let mut a = launch_app();
    a.choices[0].color = Some("red".into());
    let effects = press(
        &mut a,
        &[
            "<enter>", "<enter>", "<ctrl-u>", "q", "<enter>", "<enter>", "<enter>",
        ],
    );
    assert!(matches!(
        &effects[..],
        [Effect::Preflight(NewAgent { color, .. })] if color == "red"
    ));
}

/// A project's summary with `files` files, as `trust` shows it.
fn untrusted(files: usize) -> Box<crate::manifest::Summary> {
    Box::new(crate::manifest::Summary {
        dir: "/proj".into(),
        shown: "./bot-bottle.json".into(),
        digest: "sha256:0".into(),
        files: (0..files).map(|i| format!("./file-{i}")).collect(),
        agents: vec![],
        bottles: vec![],
        reach: vec![],
    })
}

fn trust_step(a: &App) -> Option<&crate::dashboard::app::TrustStep> {
    match &a.modal {
        Some(Modal::Trust(step)) => Some(step),
        _ => None,
    }
}

/// Keys pressed, each at a time (ms after the step is shown).
type Presses = &'static [(u64, &'static str)];

#[test]
fn n_asks_first_about_an_untrusted_project_and_y_needs_it_read() {
    // (files in the summary, keys after `n` with the times they are
    // pressed at, trusted?)
    let cases: &[(usize, Presses, bool)] = &[
        // `y` at once is not read yet; a second later it is.
        (2, &[(0, "y")], false),
        (2, &[(0, "y"), (999, "y")], false),
        (2, &[(0, "y"), (1_000, "y")], true),
        (2, &[(1_500, "y")], true),
        (2, &[(1_500, "Y")], true),
        // Longer than the screen: only once scrolled to its end.
        (60, &[(2_000, "y")], false),
        (60, &[(2_000, "<space>"), (2_000, "y")], false),
        (
            60,
            &[(2_000, "<space>"), (2_000, "<space>"), (2_000, "y")],
            false,
        ),
        (
            60,
            &[
                (2_000, "<space>"),
                (2_000, "<space>"),
                (2_000, "<space>"),
                (2_000, "y"),
            ],
            true,
        ),
    ];
    for (files, presses, trusted) in cases {
        let mut a = app();
        a.untrusted = Some(untrusted(*files));
        at(&mut a, 10_000);
        a.update(key('n'));
        assert!(trust_step(&a).is_some(), "{presses:?}");
        let mut last = Vec::new();
        for (ms, k) in *presses {
            at(&mut a, 10_000 + ms);
            last = press(&mut a, &[k]);
        }
        let want: Vec<Effect> = match trusted {
            true => vec![Effect::Trust(untrusted(*files))],
            false => vec![],
        };
        assert_eq!(last, want, "{files} {presses:?}");
        assert_eq!(trust_step(&a).is_some(), !trusted, "{files} {presses:?}");
    }
}

#[test]
fn any_other_key_goes_on_without_the_project_and_it_is_asked_once() {
    for other in ["n", "<esc>", "<enter>", "s"] {
        let mut a = app();
        a.untrusted = Some(untrusted(1));
        at(&mut a, 10_000);
        a.update(key('n'));
        at(&mut a, 12_000);
        assert_eq!(press(&mut a, &[other]), vec![], "{other}");
        assert!(
            matches!(a.modal, Some(Modal::PickAgent(_))),
            "{other}: {:?}",
            a.modal
        );
        assert!(
            a.status
                .as_deref()
                .unwrap()
                .contains("going on without ./bot-bottle.json")
        );
        a.update(code(KeyCode::Esc));
        a.update(key('n'));
        assert!(matches!(a.modal, Some(Modal::PickAgent(_))), "{other}");
    }
}

#[test]
fn after_trusting_the_agents_are_offered_again_or_asked_again_if_it_changed() {
    let mut a = app();
    let project_agent = AgentChoice {
        name: "dev".into(),
        description: String::new(),
        bottles: vec![],
        color: None,
    };
    // Trusted: the project's agent is offered, the picker opens.
    a.update(Msg::Offer {
        choices: vec![project_agent.clone()],
        bottles: vec!["default".into()],
        untrusted: None,
        status: "trusted".into(),
        pick: true,
    });
    assert_eq!(a.choices, std::slice::from_ref(&project_agent));
    assert!(matches!(a.modal, Some(Modal::PickAgent(_))));
    // Changed since it was shown: the new summary is shown again.
    let mut a = app();
    at(&mut a, 5_000);
    a.update(Msg::Offer {
        choices: vec![],
        bottles: vec![],
        untrusted: Some(untrusted(3)),
        status: "not trusted: changed".into(),
        pick: true,
    });
    let step = trust_step(&a).expect("asked again");
    assert_eq!(step.summary.files.len(), 3);
    assert_eq!(step.since, 5_000);
    // A modal the operator opened meanwhile is left alone.
    let mut a = app();
    a.update(key('n'));
    a.update(Msg::Offer {
        choices: vec![project_agent],
        bottles: vec![],
        untrusted: Some(untrusted(1)),
        status: "x".into(),
        pick: true,
    });
    assert!(matches!(a.modal, Some(Modal::PickAgent(_))));
    assert!(a.untrusted.is_some(), "asked at the next n");
}
