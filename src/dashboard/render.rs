//! Draws the dashboard from its state. Pure: the same `App` always gives
//! the same frame.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};

use super::app::{AgentRow, App, Focus, Modal};
use super::detail::{self, Detail, Kind};
use super::text::{inert, slice};
use crate::supervise::proposal::Request;

pub fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    let most = (area.height.saturating_sub(6) / 2).max(3);
    let proposals_height = (app.proposals.len() as u16 + 2).clamp(3, most);
    let [header, proposals, agents, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(proposals_height),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(header_line(app), header);
    render_proposals(app, frame, proposals);
    render_agents(app, frame, agents);
    frame.render_widget(footer_line(app), footer);
    if let Some(modal) = &app.modal {
        render_modal(app, modal, frame, area);
    }
}

fn header_line(app: &App) -> Line<'static> {
    let pending = app.proposals.len();
    let mut spans = vec![
        Span::styled(" bot-bottle ", Style::new().bold().reversed()),
        Span::raw(format!(" {} agents · ", app.agents.len())),
    ];
    let text = format!("{pending} pending");
    spans.push(if pending > 0 {
        Span::styled(text, Style::new().yellow().bold())
    } else {
        Span::raw(text)
    });
    if let Some(next) = app.next_proposal() {
        spans.push(Span::raw(format!(" · prefix Y/N: {}", inert(next))));
    }
    Line::from(spans)
}

fn pane_block(title: Line<'static>, focused: bool) -> Block<'static> {
    let style = if focused {
        Style::new().cyan()
    } else {
        Style::new().dark_gray()
    };
    Block::new()
        .borders(Borders::ALL)
        .border_style(style)
        .title(title)
}

fn render_proposals(app: &App, frame: &mut Frame, area: Rect) {
    let mut title = vec![Span::raw(" proposals ")];
    if app.now < app.alert_until {
        title.push(Span::styled("(new!) ", Style::new().green().bold()));
    }
    let items = app
        .proposals
        .iter()
        .map(|p| {
            let p = &p.proposal;
            let style = if app.is_fresh(&p.id) {
                Style::new().green()
            } else {
                Style::new()
            };
            ListItem::new(Line::from(vec![
                Span::styled(format!("{}  ", p.request.tool()), Style::new().bold()),
                Span::raw(inert(&p.request.summary())),
                Span::styled(
                    format!("  {}  {}", inert(&p.slug), inert(&p.id)),
                    Style::new().dark_gray(),
                ),
            ]))
            .style(style)
        })
        .collect();
    let focused = app.focus == Focus::Proposals;
    let block = pane_block(Line::from(title), focused);
    list_pane(
        frame,
        area,
        block,
        items,
        focused.then_some(app.proposal_sel),
        " none waiting",
    );
}

fn render_agents(app: &App, frame: &mut Frame, area: Rect) {
    let area = match app.selected_agent() {
        Some(a) if !a.landed.is_empty() => {
            let rows = (a.landed.len() as u16 + 2).min(area.height / 2);
            let [list, landed] =
                Layout::vertical([Constraint::Min(3), Constraint::Length(rows)]).areas(area);
            render_landed(a, frame, landed);
            list
        }
        _ => area,
    };
    let items = app
        .agents
        .iter()
        .map(|a| ListItem::new(agent_line(app, a)))
        .collect();
    let focused = app.focus == Focus::Agents;
    let block = pane_block(Line::from(" agents "), focused);
    let empty = " no bottles running — n starts one";
    list_pane(
        frame,
        area,
        block,
        items,
        focused.then_some(app.agent_sel),
        empty,
    );
}

/// The branches the selected agent's git gate landed in the operator's
/// repository (already inert: `Landed::from_gate`).
fn render_landed(a: &AgentRow, frame: &mut Frame, area: Rect) {
    let block = pane_block(Line::from(format!(" landed by {} ", inert(&a.slug))), false);
    let lines: Vec<Line> = a
        .landed
        .iter()
        .map(|l| {
            let mut spans = vec![
                Span::raw(format!(" {} ", inert(&l.branch))),
                Span::styled("→ ", Style::new().dark_gray()),
                Span::styled(inert(&l.landed_as), Style::new().green()),
                Span::styled(
                    format!(" @{}", inert(l.commit.get(..7).unwrap_or(&l.commit))),
                    Style::new().dark_gray(),
                ),
            ];
            if !l.forwarded.is_empty() {
                spans.push(Span::raw(format!(
                    "  forwarded to {}",
                    inert(&l.forwarded.join(", "))
                )));
            }
            Line::from(spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// A pane's rows, the cursor on `selected`; `empty` when there are none.
fn list_pane(
    frame: &mut Frame,
    area: Rect,
    block: Block,
    items: Vec<ListItem>,
    selected: Option<usize>,
    empty: &str,
) {
    if items.is_empty() {
        frame.render_widget(Paragraph::new(empty.dark_gray()).block(block), area);
        return;
    }
    let list = List::new(items)
        .block(block)
        .highlight_style(Style::new().reversed());
    frame.render_stateful_widget(
        list,
        area,
        &mut ListState::default().with_selected(selected),
    );
}

fn agent_line(app: &App, a: &AgentRow) -> Line<'static> {
    let shown = app.right.as_deref() == Some(a.slug.as_str());
    let services = if a.services.is_empty() {
        "(starting)".to_owned()
    } else {
        a.services.join(",")
    };
    let (activity, activity_style) = if app.is_busy(&a.slug) {
        ("busy", Style::new().yellow())
    } else {
        ("idle", Style::new().dark_gray())
    };
    Line::from(vec![
        Span::styled(if shown { "* " } else { "  " }, Style::new().bold()),
        Span::styled(
            a.slug.clone(),
            Style::new()
                .fg(color(&a.color))
                .add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!("  {}  ", a.agent)),
        Span::styled(activity, activity_style),
        Span::raw("  "),
        Span::styled(services, Style::new().dark_gray()),
        Span::raw(format!("  {}  ", clock(&a.started_at))),
        Span::styled(a.backend.clone(), Style::new().dark_gray()),
    ])
}

/// `HH:MM:SS` of an RFC 3339 time.
fn clock(rfc3339: &str) -> String {
    rfc3339.get(11..19).unwrap_or(rfc3339).to_owned()
}

pub fn color(name: &str) -> Color {
    match name {
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" | "purple" => Color::Magenta,
        "cyan" => Color::Cyan,
        "white" => Color::White,
        "gray" => Color::Gray,
        "orange" => Color::Rgb(255, 165, 0),
        "pink" => Color::Rgb(255, 105, 180),
        hex if hex.len() == 7 && hex.starts_with('#') => {
            let part = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(255);
            Color::Rgb(part(1), part(3), part(5))
        }
        _ => Color::Reset,
    }
}

fn footer_line(app: &App) -> Line<'static> {
    if app.guarded() {
        return Line::from(Span::styled(
            " new proposal: keys are ignored until you pause for a second",
            Style::new().yellow().bold(),
        ));
    }
    if let Some(status) = &app.status {
        return Line::from(Span::styled(
            format!(" {}", inert(status)),
            Style::new().bold(),
        ));
    }
    match &app.modal {
        Some(Modal::Detail(_)) => {
            return Line::from(
                " a approves once every line has been on screen, after a second".dark_gray(),
            );
        }
        Some(Modal::Widen { .. } | Modal::TokenEnv { .. }) => {
            return Line::from(" Enter confirms · Esc goes back to the proposal".dark_gray());
        }
        _ => {}
    }
    let help = match app.focus {
        Focus::Agents => " Enter show · n new · x stop · Tab proposals · q quit",
        Focus::Proposals => {
            " Enter/a read it (approve from there) · r reject · m modify · Tab agents"
        }
    };
    Line::from(help.dark_gray())
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn render_modal(app: &App, modal: &Modal, frame: &mut Frame, area: Rect) {
    let (title, height) = match modal {
        Modal::Detail(d) => return render_detail(app, d, frame, area),
        Modal::Widen { detail, input } => {
            render_detail(app, detail, frame, area);
            return render_widen(detail, input, frame, area);
        }
        Modal::TokenEnv { detail, input, .. } => {
            render_detail(app, detail, frame, area);
            return render_token(detail, input, frame, area);
        }
        Modal::Reason { .. } => ("reject: reason for the agent", 3),
        Modal::PickAgent(_) | Modal::PickBottle { .. } | Modal::PickBackend { .. } => {
            ("new agent", 14)
        }
        Modal::Preflight { .. } => ("launch this agent? y/n", area.height),
    };
    let rect = centered(area, area.width.saturating_sub(2).max(20), height);
    frame.render_widget(Clear, rect);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(Style::new().cyan())
        .title(format!(" {title} "));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    match modal {
        Modal::Reason { input, .. } => {
            frame.render_widget(
                Line::from(vec![Span::raw(inert(input)), Span::raw("█")]),
                inner,
            );
        }
        Modal::PickAgent(picker)
        | Modal::PickBottle { picker, .. }
        | Modal::PickBackend { picker, .. } => {
            picker.render_in(frame, inner);
        }
        Modal::Preflight { text, .. } => {
            frame.render_widget(
                Paragraph::new(text.clone()).wrap(Wrap { trim: false }),
                inner,
            );
        }
        Modal::Detail(_) | Modal::Widen { .. } | Modal::TokenEnv { .. } => {}
    }
}

fn style_of(kind: Kind) -> Style {
    match kind {
        Kind::Field | Kind::Plain => Style::new(),
        Kind::Host => Style::new().green().bold(),
        Kind::Heading => Style::new().bold(),
        Kind::Added => Style::new().green(),
        Kind::Removed => Style::new().red(),
        Kind::Warning => Style::new().yellow().bold(),
        Kind::End => Style::new().dark_gray(),
    }
}

/// A proposal in full, scrolled: exactly the rows `detail::rows` gives
/// for the body `detail::areas` gives, from `scroll`.
fn render_detail(app: &App, d: &Detail, frame: &mut Frame, area: Rect) {
    let areas = detail::areas(area);
    frame.render_widget(Clear, areas.modal);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(Style::new().cyan())
        .title(format!(" proposal {} ", inert(d.id())));
    frame.render_widget(block, areas.modal);
    let rows = detail::rows(&d.lines, areas.body.width);
    let visible: Vec<Line> = rows
        .iter()
        .skip(d.scroll)
        .take(areas.body.height as usize)
        .map(|row| {
            let line = &d.lines[row.line];
            let text = slice(&line.text, &(row.start..row.end));
            let style = style_of(line.kind);
            let label = 10usize.saturating_sub(row.start).min(text.chars().count());
            if matches!(line.kind, Kind::Field | Kind::Host) && label > 0 {
                let head: String = text.chars().take(label).collect();
                let tail: String = text.chars().skip(label).collect();
                Line::from(vec![
                    Span::styled(head, Style::new().bold()),
                    Span::styled(tail, style),
                ])
            } else {
                Line::from(Span::styled(text, style))
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(visible), areas.body);
    let last = (d.scroll + areas.body.height as usize).min(rows.len());
    let position = format!("{}-{}/{}  ", d.scroll + 1, last, rows.len());
    let keys = match d.missing(app.now, app.size) {
        Some(detail::Missing::Unseen(_)) => {
            "scroll to the end to approve: j/k space G · r reject · Esc close"
        }
        _ if matches!(d.shown.proposal.request, Request::GitPush(_)) => {
            "a approve · r reject · j/k space g/G scroll · Esc close"
        }
        _ => "a approve · r reject · m modify · j/k space g/G scroll · Esc close",
    };
    frame.render_widget(
        Line::from(vec![
            Span::styled(position, Style::new().bold()),
            Span::styled(keys, Style::new().dark_gray()),
        ]),
        areas.hint,
    );
}

/// A prompt over the detail, near the bottom.
fn prompt_box(title: String, lines: Vec<Line<'static>>, frame: &mut Frame, area: Rect) {
    let width = area.width.saturating_sub(6).max(20).min(area.width);
    let inner_width = width.saturating_sub(2).max(1) as usize;
    let rows: usize = lines
        .iter()
        .map(|l| l.width().div_ceil(inner_width).max(1))
        .sum();
    let height = (rows as u16 + 2).min(area.height);
    let rect = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + area.height.saturating_sub(height + 2),
        width,
        height,
    );
    frame.render_widget(Clear, rect);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(Style::new().yellow())
        .title(title);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        rect,
    );
}

fn input_line(input: &str) -> Line<'static> {
    Line::from(vec![
        Span::styled("> ", Style::new().bold()),
        Span::raw(inert(input)),
        Span::raw("█"),
    ])
}

fn render_widen(d: &Detail, input: &str, frame: &mut Frame, area: Rect) {
    let host = route_host(&d.shown.proposal.request);
    let mut lines: Vec<Line> = d
        .shown
        .preview
        .lines
        .iter()
        .filter(|l| l.starts_with("WARNING"))
        .map(|l| Line::from(Span::styled(inert(l), Style::new().yellow())))
        .collect();
    lines.push(Line::from(
        "type yes and Enter to approve that; Esc goes back".dark_gray(),
    ));
    lines.push(input_line(input));
    prompt_box(
        format!(" send the credential of {} to more paths? ", inert(&host)),
        lines,
        frame,
        area,
    );
}

fn render_token(d: &Detail, input: &str, frame: &mut Frame, area: Rect) {
    let host = inert(&route_host(&d.shown.proposal.request));
    let lines = vec![
        Line::from(format!(
            "the value of the host variable you name is sent to {host}"
        )),
        Line::from("type its name yourself; Esc goes back".dark_gray()),
        input_line(input),
    ];
    prompt_box(
        format!(" credential for {host}: host variable "),
        lines,
        frame,
        area,
    );
}

fn route_host(request: &Request) -> String {
    match request {
        Request::EgressBlock { host, .. } | Request::PipelockBlock { host, .. } => host.clone(),
        Request::CapabilityBlock { .. } => "the bottle".into(),
        Request::GitPush(push) => push.git_ref.clone(),
    }
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::dashboard::app::{AgentChoice, Msg};
    use crate::supervise::apply::Pending;
    use crate::supervise::preview::Preview;
    use crate::supervise::proposal::Proposal;

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
            }],
            vec!["default".into()],
            vec!["docker".into()],
        );
        let row = |slug: &str, services: &[&str]| AgentRow {
            backend: "docker".into(),
            slug: slug.into(),
            label: slug.into(),
            color: "cyan".into(),
            agent: "shell".into(),
            started_at: "2026-11-25T10:04:05Z".into(),
            services: services.iter().map(|s| s.to_string()).collect(),
            landed: vec![],
        };
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
                request: Request::PipelockBlock {
                    failed_url: "https://pypi.org/simple/requests/".into(),
                    host: "pypi.org".into(),
                },
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
                request: Request::CapabilityBlock {
                    dockerfile: String::new(),
                },
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
        let app = opened(capability(), 34, 20);
        insta::assert_snapshot!(draw(&app, 34, 20));
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
        widen.proposal.request = Request::EgressBlock {
            host: "api.github.com".into(),
            path_allowlist: vec!["/".into()],
            auth: None,
        };
        widen.preview = Preview {
            lines: vec![
                "widens the route to api.github.com:".into(),
                "WARNING: the route to api.github.com carries a credential that the proxy adds; approving also sends it to /".into(),
            ],
            widens_credential: true,
            ..Default::default()
        };
        let mut app = opened(widen, 72, 16);
        app.update(Msg::Tick(5_000));
        key(&mut app, KeyCode::Char('a'));
        key(&mut app, KeyCode::Char('y'));
        insta::assert_snapshot!("widen_prompt", draw(&app, 72, 16));

        let mut token = proposal();
        token.proposal.request = Request::EgressBlock {
            host: "api.github.com".into(),
            path_allowlist: vec![],
            auth: Some(crate::supervise::proposal::AuthRequest {
                scheme: "bearer".into(),
                token_ref: Some("GITHUB_TOKEN".into()),
            }),
        };
        token.preview.needs_token = true;
        let mut app = opened(token, 72, 16);
        app.update(Msg::Tick(5_000));
        key(&mut app, KeyCode::Char('a'));
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
        let push = crate::supervise::proposal::GitPush {
            git_ref: "refs/heads/feature".into(),
            old: "a".repeat(40),
            new: "b".repeat(40),
            land: true,
            forward: vec![],
            reasons: vec!["changes protected path .github/workflows/ci.yml".into()],
            diffstat: " .github/workflows/ci.yml | 2 +-\n src/lib.rs               | 9 +++++++++\n 2 files changed, 10 insertions(+), 1 deletion(-)".into(),
            commits: vec!["bbbbbbb fix the ci".into(), "ccccccc add the parser".into()],
        };
        let proposal = Proposal {
            id: "mx1a2b3c-gate".into(),
            slug: "shell-ab12c".into(),
            created_at: "2026-11-25T10:07:00.000Z".into(),
            justification: "held by the git gate: it changes a protected path".into(),
            request: Request::GitPush(push),
        };
        let preview = crate::supervise::preview::preview(
            &proposal.request,
            &crate::supervise::preview::Current {
                slug: "shell-ab12c",
                routes: &crate::egress::config::EgressConfig {
                    listen: 0,
                    routes: vec![],
                    trust_upstream_ca: vec![],
                },
                dockerfile: "",
            },
        );
        Pending { proposal, preview }
    }

    #[test]
    fn a_held_push_in_the_list_and_landed_branches_of_the_selected_agent() {
        let mut app = app();
        app.agents[0].landed = vec![
            crate::backend::docker::enumerate::Landed {
                branch: "feature".into(),
                landed_as: "bot-bottle/shell-ab12c/feature".into(),
                commit: "0123456789abcdef0123456789abcdef01234567".into(),
                forwarded: vec!["up".into()],
            },
            crate::backend::docker::enumerate::Landed {
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
        let app = opened(held_push(), 80, 24);
        insta::assert_snapshot!(draw(&app, 80, 24));
    }

    #[test]
    fn empty_and_status() {
        let mut app = App::new(vec![], vec![], vec![]);
        app.update(Msg::Status("approved mwviajtx-ydza".into()));
        insta::assert_snapshot!(draw(&app, 50, 9));
    }
}
