//! The app's logic, message by message: navigation, alerts and the guard
//! after them, the deliberate act of approving, the new-agent flow.

use super::review::{Binding, parse_binding};
use super::*;
use crate::dashboard::detail::{DWELL_MS, Detail};
use crate::proposal::{AuthRequest, Request};
use crate::supervise::preview::Preview;

const SIZE: (u16, u16) = (80, 24);

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

/// Typed text; `\n` is Enter.
fn keys(a: &mut App, text: &str) -> Vec<Effect> {
    text.chars()
        .flat_map(|c| match c {
            '\n' => a.update(code(KeyCode::Enter)),
            c => a.update(key(c)),
        })
        .collect()
}

/// Types `reason` and Enter into the reason prompt: it rejects `id`.
fn types_a_rejection(a: &mut App, id: &str, reason: &str) {
    keys(a, reason);
    assert_eq!(
        a.update(code(KeyCode::Enter)),
        [Effect::Reject {
            id: id.into(),
            reason: Some(reason.into())
        }]
    );
}

fn row(slug: &str) -> AgentRow {
    crate::dashboard::fixtures::row(slug, &["egress", "supervise"])
}

fn proposal(id: &str, created: &str, request: Request) -> Pending {
    Pending {
        proposal: Proposal {
            id: id.into(),
            slug: "a-1".into(),
            created_at: created.into(),
            justification: "because".into(),
            source: Default::default(),
            request,
            replaces: None,
        },
        preview: Preview {
            lines: vec!["a new route to pypi.org, every path".into()],
            widens_credential: false,
            ..Default::default()
        },
    }
}

fn pipelock(id: &str, created: &str) -> Pending {
    proposal(
        id,
        created,
        Request::PipelockBlock {
            failed_url: "https://pypi.org/simple/".into(),
            host: "pypi.org".into(),
        },
    )
}

/// A capability-block whose preview is a long Dockerfile diff.
fn long(id: &str, created: &str) -> Pending {
    let mut p = proposal(
        id,
        created,
        Request::CapabilityBlock {
            dockerfile: "FROM x\n".into(),
        },
    );
    p.preview.lines = (0..60).map(|i| format!("+RUN step {i}")).collect();
    p
}

fn with_auth(id: &str) -> Pending {
    let mut p = proposal(
        id,
        "2",
        Request::EgressBlock {
            host: "api.github.com".into(),
            path_allowlist: vec![],
            auth: Some(AuthRequest {
                scheme: "bearer".into(),
                token_ref: Some("GITHUB_TOKEN".into()),
            }),
        },
    );
    p.preview.lines = vec![
        "a new route to api.github.com, every path".into(),
        "the agent suggests $GITHUB_TOKEN; name the variable yourself".into(),
    ];
    p.preview.needs_token = true;
    p
}

fn widening(id: &str) -> Pending {
    let (request, preview) = crate::dashboard::fixtures::widening();
    let mut p = proposal(id, "3", request);
    p.preview = preview;
    p
}

/// A push the git gate held, as the gate's queue lists it.
fn held_push(id: &str) -> Pending {
    let mut p = proposal(
        id,
        "4",
        Request::GitPush(crate::dashboard::fixtures::held_push()),
    );
    p.preview.lines = vec!["→ would land bbbbbbbbbbbb as bot-bottle/a-1/feature".into()];
    p
}

fn app() -> App {
    let mut app = App::new(
        vec![AgentChoice {
            name: "shell".into(),
            description: "a shell".into(),
            bottles: vec!["default".into()],
            color: None,
        }],
        vec!["default".into(), "github".into()],
        vec!["docker".into()],
    );
    app.update(Msg::Resize {
        width: SIZE.0,
        height: SIZE.1,
    });
    app.update(Msg::Bottles(vec![row("a-1"), row("b-2"), row("c-3")]));
    app.update(Msg::Proposals(vec![]));
    app
}

/// An app with these proposals there at start (no alert), the cursor
/// on the first, at time 10 s.
fn listed(list: Vec<Pending>) -> App {
    let mut a = App::new(vec![], vec![], vec![]);
    a.update(Msg::Resize {
        width: SIZE.0,
        height: SIZE.1,
    });
    a.update(Msg::Tick(10_000));
    a.update(Msg::Proposals(list));
    a.focus = Focus::Proposals;
    a
}

fn at(a: &mut App, ms: u64) {
    a.update(Msg::Tick(ms));
}

fn detail(a: &App) -> &Detail {
    match &a.modal {
        Some(Modal::Detail(d)) => d,
        other => panic!("no detail open: {other:?}"),
    }
}

fn approvals(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::Approve { .. }))
        .count()
}

mod agents;
mod launch;
mod review;
mod sealing;

#[test]
fn navigation_and_enter() {
    let mut a = app();
    assert_eq!(a.focus, Focus::Agents);
    a.update(key('j'));
    a.update(key('j'));
    a.update(key('j'));
    assert_eq!(a.agent_sel, 2, "clamped at the end");
    assert_eq!(
        a.update(code(KeyCode::Enter)),
        [Effect::Show {
            slug: "c-3".into(),
            focus: true
        }]
    );
    assert_eq!(a.right.as_deref(), Some("c-3"));
    a.update(code(KeyCode::Tab));
    assert_eq!(a.focus, Focus::Proposals);
    assert_eq!(a.update(key('q')), [Effect::Quit]);
    assert_eq!(
        a.update(key('J')),
        [Effect::Show {
            slug: "a-1".into(),
            focus: true
        }],
        "J cycles, wrapping"
    );
}

#[test]
fn a_new_proposal_alerts_once_and_takes_the_cursor() {
    let mut a = App::new(vec![], vec![], vec![]);
    // Present at start: counted, no alert.
    assert_eq!(
        a.update(Msg::Proposals(vec![pipelock("p1", "1")])),
        [Effect::SetPending {
            count: 1,
            next: Some("p1".into())
        }]
    );
    a.update(Msg::Tick(1000));
    let effects = a.update(Msg::Proposals(vec![
        pipelock("p1", "1"),
        pipelock("p3", "3"),
        pipelock("p2", "2"),
    ]));
    assert_eq!(
        effects,
        [
            Effect::SetPending {
                count: 3,
                next: Some("p1".into())
            },
            Effect::Bell,
            Effect::FocusDashboard
        ],
        "prefix Y keeps naming the oldest"
    );
    assert_eq!(a.focus, Focus::Proposals);
    assert_eq!(
        a.selected_proposal().unwrap().id,
        "p3",
        "the newest arrival"
    );
    assert!(a.is_fresh("p3") && !a.is_fresh("p1"));
    a.update(Msg::Tick(1000 + HIGHLIGHT_MS));
    assert!(!a.is_fresh("p3"));
    assert_eq!(
        a.update(Msg::Proposals(vec![pipelock("p2", "2")])),
        [Effect::SetPending {
            count: 1,
            next: Some("p2".into())
        }],
        "going away is quiet"
    );
    assert_eq!(
        a.update(Msg::Proposals(vec![pipelock("p2", "2")])),
        [],
        "nothing new to publish"
    );
}

/// Whatever is typed right after an alert moved focus here: nothing
/// approved, nothing opened, nothing moved.

#[test]
fn keys_right_after_an_alert_change_nothing() {
    let stray: Vec<(&str, Vec<Msg>)> = vec![
        ("a", vec![key('a')]),
        ("Enter", vec![code(KeyCode::Enter)]),
        ("aa", vec![key('a'), key('a')]),
        ("a, G, a", vec![key('a'), key('G'), key('a')]),
        (
            "r and a reason",
            vec![key('r'), key('x'), code(KeyCode::Enter)],
        ),
        ("m", vec![key('m')]),
        ("q", vec![key('q')]),
        ("x", vec![key('x')]),
        ("j", vec![key('j')]),
        ("Tab", vec![code(KeyCode::Tab)]),
        ("n", vec![key('n')]),
        ("prefix Y", vec![Msg::Paste("bot-bottle:Y:p2".into())]),
        ("prefix N", vec![Msg::Paste("bot-bottle:N:p2".into())]),
    ];
    for (name, msgs) in stray {
        let mut a = listed(vec![pipelock("p1", "1")]);
        a.update(Msg::Bottles(vec![row("a-1")]));
        a.owned.insert("a-1".into());
        at(&mut a, 20_000);
        let alert = a.update(Msg::Proposals(vec![
            pipelock("p1", "1"),
            pipelock("p2", "2"),
        ]));
        assert!(alert.contains(&Effect::FocusDashboard), "{name}");
        let before = a.clone();
        let mut t = 20_050;
        for msg in msgs {
            at(&mut a, t);
            assert_eq!(a.update(msg), [], "{name}: no effect");
            t += 120;
        }
        assert_eq!(a.modal, None, "{name}: nothing opened");
        assert_eq!(
            (a.focus, a.proposal_sel, a.agent_sel),
            (before.focus, before.proposal_sel, before.agent_sel),
            "{name}: nothing moved"
        );
        assert!(
            a.status.as_deref().unwrap().contains("ignored"),
            "{name}: the status line says so"
        );
    }
}

#[test]
fn the_guard_lasts_until_the_keyboard_pauses() {
    let mut a = listed(vec![]);
    at(&mut a, 20_000);
    a.update(Msg::Proposals(vec![pipelock("p1", "1")]));
    assert!(a.guarded());
    // The focus jump finished a little later: the guard counts from it.
    at(&mut a, 20_300);
    a.update(Msg::Focused);
    at(&mut a, 21_200);
    assert_eq!(a.update(key('a')), [], "within a second of the jump");
    at(&mut a, 22_100);
    assert_eq!(
        a.update(key('a')),
        [],
        "still typing: 900 ms after the last key"
    );
    assert_eq!(a.modal, None);
    at(&mut a, 22_100 + GUARD_MS);
    assert!(!a.guarded());
    a.update(code(KeyCode::Enter));
    assert_eq!(detail(&a).id(), "p1", "after a pause, keys count again");
}

#[test]
fn prefix_y_and_n_act_on_the_id_they_name() {
    let list = || vec![pipelock("p1", "1"), pipelock("p2", "2"), long("p3", "3")];
    let mut a = listed(list());
    at(&mut a, 60_000);
    assert_eq!(a.proposal_sel, 0);
    assert_eq!(a.update(Msg::Paste("bot-bottle:Y:p3".into())), []);
    assert_eq!(detail(&a).id(), "p3", "the named one, not the cursor's");
    assert_eq!(a.selected_proposal().unwrap().id, "p3");
    at(&mut a, 65_000);
    assert_eq!(
        a.update(Msg::Paste("bot-bottle:Y:p3".into())),
        [],
        "Y never approves, however long since"
    );
    assert_eq!(detail(&a).since, 65_000, "it opens afresh");

    let mut a = listed(list());
    a.update(key('j'));
    a.update(Msg::Paste("bot-bottle:N:p3".into()));
    assert_eq!(
        a.modal,
        Some(Modal::Reason {
            id: "p3".into(),
            input: String::new()
        })
    );
    types_a_rejection(&mut a, "p3", "no");

    let cases = [
        (
            "bot-bottle:Y:gone-1",
            "proposal gone-1 is no longer pending",
        ),
        (
            "bot-bottle:N:gone-1",
            "proposal gone-1 is no longer pending",
        ),
        ("bot-bottle:Y:", "no proposal is pending"),
        ("bot-bottle:Y:NOT AN ID", "that is not a proposal id"),
        (
            "bot-bottle:Z:p1",
            "pasting is ignored in the dashboard: type instead",
        ),
        ("a", "pasting is ignored in the dashboard: type instead"),
    ];
    for (paste, status) in cases {
        let mut a = listed(list());
        a.update(key('j'));
        assert_eq!(a.update(Msg::Paste(paste.into())), [], "{paste}");
        assert_eq!(a.modal, None, "{paste}");
        assert_eq!(a.proposal_sel, 1, "{paste}");
        assert_eq!(a.status.as_deref(), Some(status), "{paste}");
    }
}

#[test]
fn binding_parse() {
    let cases = [
        ("bot-bottle:Y:ab-1", Some(Binding::Open("ab-1".into()))),
        ("bot-bottle:N:ab-1", Some(Binding::Reject("ab-1".into()))),
        ("bot-bottle:Y:", Some(Binding::Open(String::new()))),
        ("bot-bottle:P", Some(Binding::NextProposal)),
        ("bot-bottle:J", Some(Binding::NextAgent)),
        ("bot-bottle:K", Some(Binding::PreviousAgent)),
        ("bot-bottle:A:ab-1", None),
        ("bot-bottle:Q", None),
        ("Y:ab-1", None),
        ("", None),
    ];
    for (text, want) in cases {
        assert_eq!(parse_binding(text), want, "{text}");
    }
}
