//! Frames of the dashboard, drawn into a test backend: snapshots of each
//! view, and what must never reach the terminal.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::dashboard::app::{AgentChoice, Msg};
use crate::dashboard::fixtures::row;
use crate::proposal::Proposal;
use crate::supervise::apply::Pending;
use crate::supervise::preview::Preview;

fn term(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut term = Terminal::new(TestBackend::new(width, height)).unwrap();
    term.draw(|f| render(app, f)).unwrap();
    term
}

fn draw(app: &App, width: u16, height: u16) -> String {
    term(app, width, height).backend().to_string()
}

fn key(app: &mut App, code: KeyCode) {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn app() -> App {
    let mut app = App::new(
        vec![AgentChoice {
            name: "shell".into(),
            description: "a plain shell".into(),
            bottles: vec![],
            color: None,
        }],
        vec!["default".into()],
        vec!["docker".into()],
    );
    app.update(Msg::Bottles(vec![
        row("shell-ab12c", &["egress", "supervise"]),
        row("shell-zz9yx", &[]),
    ]));
    app.update(Msg::Proposals(vec![]));
    app
}

fn proposal() -> Pending {
    Pending {
        proposal: Proposal {
            id: "mwviajtx-ydza".into(),
            slug: "shell-ab12c".into(),
            created_at: "2026-11-25T10:05:00.000Z".into(),
            justification: "pip needs the index".into(),
            source: Default::default(),
            request: Request::PipelockBlock {
                failed_url: "https://pypi.org/simple/requests/".into(),
                host: "pypi.org".into(),
            },
            replaces: None,
        },
        preview: Preview {
            lines: vec![
                "the agent was refused: https://pypi.org/simple/requests/".into(),
                "a new route to pypi.org, every path".into(),
            ],
            widens_credential: false,
            ..Default::default()
        },
    }
}

/// A capability-block with a Dockerfile diff longer than the screen.
fn capability() -> Pending {
    let mut lines = vec![
        "a new image for shell-ab12c: approving takes the bottle down, and `bot-bottle resume shell-ab12c` rebuilds it".to_owned(),
        "built with no network and an empty build context; the changes to the current Dockerfile:".to_owned(),
        "--- Dockerfile".to_owned(),
        "+++ Dockerfile".to_owned(),
        "@@ -1,2 +1,14 @@".to_owned(),
        " FROM debian:bookworm-slim".to_owned(),
        "-USER agent".to_owned(),
    ];
    lines.extend((1..=12).map(|i| format!("+RUN apt-get install -y package-number-{i}")));
    lines.push("+USER agent".into());
    Pending {
        proposal: Proposal {
            id: "capa-0001".into(),
            slug: "shell-ab12c".into(),
            created_at: "2026-11-25T10:06:00.000Z".into(),
            justification: "the tests need the compilers".into(),
            source: Default::default(),
            request: Request::CapabilityBlock {
                dockerfile: String::new(),
            },
            replaces: None,
        },
        preview: Preview {
            lines,
            widens_credential: false,
            ..Default::default()
        },
    }
}

fn opened(p: Pending, width: u16, height: u16) -> App {
    let mut app = app();
    app.update(Msg::Resize { width, height });
    app.update(Msg::Proposals(vec![p]));
    app.update(Msg::Tick(crate::dashboard::app::GUARD_MS));
    app.focus = Focus::Proposals;
    key(&mut app, KeyCode::Enter);
    app
}

/// The frame of `p`'s detail, opened at that size.
fn drawn_open(p: Pending, width: u16, height: u16) -> String {
    draw(&opened(p, width, height), width, height)
}

#[test]
fn agents_and_proposals() {
    let mut app = app();
    app.update(Msg::Tick(100));
    app.update(Msg::Proposals(vec![proposal()]));
    app.update(Msg::Output("shell-ab12c".into()));
    app.update(Msg::Tick(100 + crate::dashboard::app::GUARD_MS));
    app.update(Msg::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE)));
    app.update(Msg::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE)));
    app.right = Some("shell-zz9yx".into());
    insta::assert_snapshot!(draw(&app, 90, 14));
}

#[test]
fn a_frozen_agent_reads_frozen_instead_of_its_activity() {
    let mut app = app();
    app.update(Msg::Output("shell-ab12c".into()));
    let frozen = |app: &App| {
        draw(app, 90, 14)
            .lines()
            .filter(|l| l.contains("FROZEN"))
            .count()
    };
    assert_eq!(frozen(&app), 0);
    app.agents[0].frozen = true;
    let screen = draw(&app, 90, 14);
    assert_eq!(frozen(&app), 1, "{screen}");
    let line = screen.lines().find(|l| l.contains("FROZEN")).unwrap();
    assert!(!line.contains("busy") && !line.contains("idle"), "{line}");
}

/// One agent sealed two minutes ago, one that failed just now (frozen),
/// one never checked.
#[test]
fn the_seal_of_each_agent_in_its_row() {
    use crate::dashboard::app::Checked;
    use crate::verify::{Failure, Report};
    let epoch = 1_800_000_000;
    let mut app = app();
    app.epoch = epoch;
    let mut rows = app.agents.clone();
    rows.push(row("shell-cd34e", &["egress"]));
    rows[0].seal = Some(Report {
        checked_at: epoch,
        probes: 12,
        failed: vec![],
        unchecked: Vec::new(),
    });
    rows[1].seal = Some(Report {
        checked_at: epoch + 120,
        probes: 12,
        failed: vec![Failure {
            what: "a public address (1.1.1.1:443)".into(),
            got: "connected".into(),
        }],
        unchecked: Vec::new(),
    });
    rows[1].frozen = true;
    app.update(Msg::Bottles(rows));
    app.update(Msg::Tick(120_000));
    let screen = draw(&app, 110, 10);
    let line = |slug: &str| screen.lines().find(|l| l.contains(slug)).unwrap();
    assert!(line("shell-ab12c").contains("sealed ✓ 2m"), "{screen}");
    assert!(line("shell-zz9yx").contains("NOT SEALED 0s"), "{screen}");
    assert!(!line("shell-zz9yx").contains("1.1.1.1"), "{screen}");
    assert!(!line("shell-cd34e").contains("SEALED"), "{screen}");
    assert!(!line("shell-cd34e").contains("sealed"), "{screen}");
    insta::assert_snapshot!(screen);
    // In the alert colour (coloured, whatever NO_COLOR says here); each
    // line of the screen is quoted: the cell is one to the left.
    let mut term = Terminal::new(TestBackend::new(110, 10)).unwrap();
    term.draw(|f| render_coloured(&app, f, true)).unwrap();
    let buffer = term.backend().buffer();
    let at = screen
        .lines()
        .position(|l| l.contains("NOT SEALED"))
        .unwrap();
    let shown = line("shell-zz9yx");
    let x = shown[..shown.find("NOT SEALED").unwrap()].chars().count() - 1;
    let cell = &buffer[(x as u16, at as u16)];
    assert_eq!((cell.symbol(), cell.fg), ("N", Color::Red), "{screen}");

    // The check that found it rang: keys are ignored for a moment.
    app.update(Msg::Verified {
        slug: "shell-zz9yx".into(),
        outcome: Checked::Unsealed("bottle 'shell-zz9yx' failed its seal check".into()),
    });
    let footer = draw(&app, 110, 10).lines().last().unwrap().to_owned();
    assert!(
        footer.contains("alert: keys are ignored until you pause"),
        "{footer}"
    );
}

#[test]
fn right_after_an_alert_the_status_line_says_keys_are_ignored() {
    let mut app = app();
    app.update(Msg::Tick(100));
    app.update(Msg::Proposals(vec![proposal()]));
    app.update(Msg::Tick(300));
    key(&mut app, KeyCode::Char('a'));
    let screen = draw(&app, 90, 14);
    assert!(
        screen.contains("keys are ignored until you pause"),
        "{screen}"
    );
    assert!(!screen.contains("approving grants"), "{screen}");
}

#[test]
fn pipelock_detail_shows_the_host() {
    let app = opened(proposal(), 60, 18);
    insta::assert_snapshot!(draw(&app, 60, 18));
    let term = term(&app, 60, 18);
    let buffer = term.backend().buffer();
    let green = (0..18).any(|y| {
        let row: String = (0..60).map(|x| buffer[(x, y)].symbol()).collect();
        match (row.contains("host      pypi.org"), row.find("pypi")) {
            (true, Some(byte)) => {
                let x = row[..byte].chars().count() as u16;
                buffer[(x, y)].fg == Color::Green
            }
            _ => false,
        }
    });
    assert!(green, "the host to allow is in green");
}

#[test]
fn capability_detail_top_scrolled_and_end() {
    let mut app = opened(capability(), 72, 16);
    insta::assert_snapshot!("capability_top", draw(&app, 72, 16));
    key(&mut app, KeyCode::PageDown);
    insta::assert_snapshot!("capability_scrolled", draw(&app, 72, 16));
    key(&mut app, KeyCode::End);
    insta::assert_snapshot!("capability_end", draw(&app, 72, 16));
}

#[test]
fn narrow_detail_wraps() {
    insta::assert_snapshot!(drawn_open(capability(), 34, 20));
}

/// The rows the app counts as on screen are the rows drawn, at every
/// scroll position and size.
#[test]
fn what_the_app_counts_as_seen_is_what_is_drawn() {
    for (width, height) in [(72, 16), (34, 20), (25, 9), (120, 40)] {
        let mut app = opened(capability(), width, height);
        loop {
            let Some(Modal::Detail(d)) = &app.modal else {
                panic!("detail closed")
            };
            let areas = detail::areas(Rect::new(0, 0, width, height));
            let rows = detail::rows(&d.lines, areas.body.width);
            let term = term(&app, width, height);
            let buffer = term.backend().buffer();
            for (i, row) in rows
                .iter()
                .skip(d.scroll)
                .take(areas.body.height as usize)
                .enumerate()
            {
                let y = areas.body.y + i as u16;
                let drawn: String = (areas.body.x..areas.body.x + areas.body.width)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect();
                let want = slice(&d.lines[row.line].text, &(row.start..row.end));
                assert_eq!(
                    drawn.trim_end(),
                    want.trim_end(),
                    "{width}x{height} row {y}"
                );
            }
            let before = d.scroll;
            key(&mut app, KeyCode::Down);
            let Some(Modal::Detail(d)) = &app.modal else {
                panic!("detail closed")
            };
            if d.scroll == before {
                assert_eq!(
                    d.unseen(app.size),
                    0,
                    "{width}x{height}: the end is reachable"
                );
                break;
            }
        }
    }
}

#[test]
fn prompts_over_the_detail() {
    let mut widen = proposal();
    (widen.proposal.request, widen.preview) = crate::dashboard::fixtures::widening();
    let mut app = opened(widen, 72, 16);
    app.update(Msg::Tick(5_000));
    key(&mut app, KeyCode::Char('a'));
    insta::assert_snapshot!("confirm_prompt", draw(&app, 72, 16));
    app.update(Msg::Tick(6_000));
    key(&mut app, KeyCode::Char('y'));
    key(&mut app, KeyCode::Char('y'));
    insta::assert_snapshot!("widen_prompt", draw(&app, 72, 16));

    let mut token = proposal();
    token.proposal.request = Request::EgressBlock {
        host: "api.github.com".into(),
        path_allowlist: vec![],
        auth: Some(crate::proposal::AuthRequest {
            scheme: "bearer".into(),
            token_ref: Some("GITHUB_TOKEN".into()),
        }),
    };
    token.preview.needs_token = true;
    let mut app = opened(token, 72, 16);
    app.update(Msg::Tick(5_000));
    key(&mut app, KeyCode::Char('a'));
    app.update(Msg::Tick(6_000));
    key(&mut app, KeyCode::Char('y'));
    insta::assert_snapshot!("token_prompt", draw(&app, 72, 16));
}

/// Escapes an agent wrote are shown, not sent: no control character
/// reaches the terminal from the list or the detail.
#[test]
fn agent_text_is_inert() {
    let mut p = proposal();
    p.proposal.justification = "see \x1b]52;c;aGk=\x07 and \x1b[2J\u{202e}txt.exe".into();
    p.preview
        .lines
        .push("\x1bPtmux;\x1b\x1b]0;owned\x07\x1b\\".into());
    let mut app = opened(p, 100, 20);
    for frame in 0..2 {
        let term = term(&app, 100, 20);
        let buffer = term.backend().buffer();
        let text: String = buffer.content().iter().map(|c| c.symbol()).collect();
        assert!(!text.chars().any(char::is_control), "frame {frame}");
        assert!(!text.contains('\u{202e}'), "frame {frame}");
        if frame == 0 {
            assert!(text.contains("\\u{1b}]52;c;aGk=\\u{7}"), "{text}");
            assert!(text.contains("\\u{202e}txt.exe"), "{text}");
        }
        key(&mut app, KeyCode::Esc);
    }
}

/// A push the git gate held: a protected path changed.
fn held_push() -> Pending {
    let push = crate::proposal::GitPush {
        diffstat: " .github/workflows/ci.yml | 2 +-\n src/lib.rs               | 9 +++++++++\n 2 files changed, 10 insertions(+), 1 deletion(-)".into(),
        commits: vec!["bbbbbbb fix the ci".into(), "ccccccc add the parser".into()],
        protected_diff: "diff --git a/.github/workflows/ci.yml b/.github/workflows/ci.yml\n--- a/.github/workflows/ci.yml\n+++ b/.github/workflows/ci.yml\n@@ -1 +1 @@\n-on: push\n+on: [push, pull_request]".into(),
        ..crate::dashboard::fixtures::held_push()
    };
    let proposal = Proposal {
        id: "mx1a2b3c-gate".into(),
        slug: "shell-ab12c".into(),
        created_at: "2026-11-25T10:07:00.000Z".into(),
        justification: "held by the git gate: it changes a protected path".into(),
        source: Default::default(),
        request: Request::GitPush(push),
        replaces: None,
    };
    let preview = crate::supervise::preview::preview(
        &proposal.request,
        &crate::supervise::preview::Current {
            slug: "shell-ab12c",
            routes: &crate::egress::config::EgressConfig {
                listen: 0,
                routes: vec![],
                trust_upstream_ca: vec![],
                token_budget: None,
                spend: None,
            },
            dockerfile: "",
            bases: None,
        },
    );
    Pending { proposal, preview }
}

#[test]
fn a_held_push_in_the_list_and_landed_branches_of_the_selected_agent() {
    let mut app = app();
    app.agents[0].landed = vec![
        crate::backend::Landed {
            branch: "feature".into(),
            landed_as: "bot-bottle/shell-ab12c/feature".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            forwarded: vec!["up".into()],
        },
        crate::backend::Landed {
            branch: "docs".into(),
            landed_as: "bot-bottle/shell-ab12c/docs".into(),
            commit: "fedcba9876543210fedcba9876543210fedcba98".into(),
            forwarded: vec![],
        },
    ];
    app.update(Msg::Proposals(vec![proposal(), held_push()]));
    app.update(Msg::Tick(crate::dashboard::app::GUARD_MS));
    insta::assert_snapshot!(draw(&app, 90, 18));
    app.focus = Focus::Agents;
    key(&mut app, KeyCode::Down);
    let other = draw(&app, 90, 18);
    assert!(
        !other.contains("landed by"),
        "only the selected agent's: {other}"
    );
}

#[test]
fn held_push_detail() {
    insta::assert_snapshot!(drawn_open(held_push(), 80, 30));
}

#[test]
fn empty_and_status() {
    let mut app = App::new(vec![], vec![], vec![]);
    app.update(Msg::Status("approved mwviajtx-ydza".into()));
    insta::assert_snapshot!(draw(&app, 50, 9));
}

#[test]
fn no_color_drops_colours_but_keeps_the_selection() {
    use ratatui::style::Color;
    let mut app = app();
    app.update(Msg::Proposals(vec![proposal()]));
    let cells = |colours: bool| {
        let mut term = Terminal::new(TestBackend::new(80, 20)).unwrap();
        term.draw(|f| render_coloured(&app, f, colours)).unwrap();
        term.backend().buffer().content.clone()
    };
    let coloured = cells(true);
    let plain = cells(false);
    let painted = |c: &ratatui::buffer::Cell| c.fg != Color::Reset || c.bg != Color::Reset;
    assert!(coloured.iter().any(painted), "the frame has colours");
    assert!(!plain.iter().any(painted), "NO_COLOR: no colour at all");
    let with = |cells: &[ratatui::buffer::Cell], m: Modifier| -> Vec<usize> {
        (0..cells.len())
            .filter(|&i| cells[i].modifier.contains(m))
            .collect()
    };
    for m in [Modifier::REVERSED, Modifier::BOLD] {
        assert!(!with(&coloured, m).is_empty(), "{m:?} is used");
        assert_eq!(with(&coloured, m), with(&plain, m), "{m:?} stays");
    }
    let text =
        |cells: &[ratatui::buffer::Cell]| -> String { cells.iter().map(|c| c.symbol()).collect() };
    assert_eq!(text(&coloured), text(&plain));
}

#[test]
fn idle_line_names_the_selected_agent_and_question_mark_the_keys() {
    let mut app = app();
    let footer = |app: &App| draw(app, 70, 9).lines().last().unwrap().to_owned();
    insta::assert_snapshot!("idle_selected", draw(&app, 70, 9));
    key(&mut app, KeyCode::Char('?'));
    assert!(footer(&app).contains("e edit routes"), "{}", footer(&app));
    key(&mut app, KeyCode::Char('j'));
    assert!(footer(&app).contains("[shell-zz9yx] shell · docker"));

    let mut one = App::new(vec![], vec![], vec![]);
    one.update(Msg::Bottles(app.agents[..1].to_vec()));
    assert!(draw(&one, 70, 9).contains(" 1 agent · 0 pending"));
    let none = App::new(vec![], vec![], vec![]);
    insta::assert_snapshot!("idle_no_agents", draw(&none, 50, 9));
}

/// A 60-line Dockerfile reads to its end: every scrolling key, and where
/// the view is.
#[test]
fn a_long_dockerfile_scrolls_with_its_position_shown() {
    let mut p = capability();
    p.preview.lines = (1..=60).map(|i| format!("+RUN step {i}")).collect();
    let mut app = opened(p, 80, 24);
    let hint = |app: &App| {
        draw(app, 80, 24)
            .lines()
            .nth(21)
            .unwrap()
            .trim_matches(|c| c == '"' || c == '│' || c == ' ')
            .to_owned()
    };
    // 7 header rows + 60 + the end mark; 20 rows on screen.
    assert!(hint(&app).starts_with("1-20/68"), "{}", hint(&app));
    for (k, want) in [
        (KeyCode::Char('j'), "2-21/68"),
        (KeyCode::Down, "3-22/68"),
        (KeyCode::Char('k'), "2-21/68"),
        (KeyCode::PageDown, "22-41/68"),
        (KeyCode::PageUp, "2-21/68"),
        (KeyCode::Char('G'), "49-68/68"),
        (KeyCode::Char('g'), "1-20/68"),
        (KeyCode::End, "49-68/68"),
        (KeyCode::Up, "48-67/68"),
        (KeyCode::Home, "1-20/68"),
    ] {
        key(&mut app, k);
        assert!(hint(&app).starts_with(want), "{k:?}: {}", hint(&app));
    }
    key(&mut app, KeyCode::PageDown);
    insta::assert_snapshot!("dockerfile_60_second_page", draw(&app, 80, 24));
    key(&mut app, KeyCode::End);
    let end = draw(&app, 80, 24);
    assert!(end.contains("+RUN step 60") && end.contains("(end of proposal)"));
}

#[test]
fn a_suggestion_from_denials_is_marked() {
    let mut learned = proposal();
    learned.proposal.id = "mwviajtx-lrnd".into();
    learned.proposal.source = crate::proposal::Origin::Denied;
    learned.proposal.request = Request::EgressBlock {
        host: "pypi.org".into(),
        path_allowlist: vec!["/simple/".into()],
        auth: None,
    };
    let mut app = app();
    app.update(Msg::Proposals(vec![proposal(), learned]));
    let screen = draw(&app, 120, 20);
    let marked: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains("from denials"))
        .collect();
    assert_eq!(marked.len(), 1, "{screen}");
    assert!(
        marked[0].contains("egress-block  route pypi.org /simple/  from denials  shell-ab12c"),
        "{screen}"
    );
}

#[test]
fn the_launch_steps_in_their_modal() {
    let mut app = app();
    key(&mut app, KeyCode::Char('n'));
    key(&mut app, KeyCode::Enter);
    insta::assert_snapshot!("launch_bottles", draw(&app, 60, 16));
    key(&mut app, KeyCode::Enter);
    // A label a running bottle uses: asked again, a free one offered.
    for c in "-ab12c".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    insta::assert_snapshot!("launch_label_again", draw(&app, 60, 12));
}
