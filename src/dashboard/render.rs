//! Draws the dashboard from its state. Pure: the same `App` always gives
//! the same frame.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};

use super::app::{AgentRow, App, Focus, Modal};
use crate::supervise::proposal::{Proposal, Request};

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
            let style = if app.is_fresh(&p.id) {
                Style::new().green()
            } else {
                Style::new()
            };
            ListItem::new(Line::from(vec![
                Span::styled(format!("{}  ", p.request.tool()), Style::new().bold()),
                Span::raw(p.request.summary()),
                Span::styled(format!("  {}", p.slug), Style::new().dark_gray()),
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
    if let Some(status) = &app.status {
        return Line::from(Span::styled(format!(" {status}"), Style::new().bold()));
    }
    let help = match app.focus {
        Focus::Agents => " Enter show · n new · x stop · Tab proposals · q quit",
        Focus::Proposals => " Enter detail · a approve · m modify · r reject · Tab agents",
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
        Modal::Detail { .. } => ("proposal", area.height),
        Modal::Reason { .. } => ("reject: reason for the agent", 3),
        Modal::TokenEnv { .. } => ("host variable holding the credential", 3),
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
        Modal::Detail { id } => {
            let lines = app
                .proposal(id)
                .map(detail_lines)
                .unwrap_or_else(|| vec![Line::from("(decided)")]);
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
        }
        Modal::Reason { input, .. } | Modal::TokenEnv { input, .. } => {
            frame.render_widget(
                Line::from(vec![Span::raw(input.clone()), Span::raw("█")]),
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
    }
}

/// A proposal in full; for pipelock-block, the host that would be allowed,
/// in green.
fn detail_lines(p: &Proposal) -> Vec<Line<'static>> {
    let field = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:<14}"), Style::new().bold()),
            Span::raw(v),
        ])
    };
    let mut lines = vec![
        field("id", p.id.clone()),
        field("bottle", p.slug.clone()),
        field("tool", p.request.tool().to_owned()),
        field("asked at", p.created_at.clone()),
        field("why", p.justification.clone()),
        Line::from(""),
    ];
    match &p.request {
        Request::EgressBlock {
            host,
            path_allowlist,
            auth,
        } => {
            lines.push(field("host", host.clone()));
            let paths = if path_allowlist.is_empty() {
                "every path".into()
            } else {
                path_allowlist.join(" ")
            };
            lines.push(field("paths", paths));
            if let Some(auth) = auth {
                let suggestion = auth
                    .token_ref
                    .as_ref()
                    .map(|r| format!(" (suggests ${r})"))
                    .unwrap_or_default();
                lines.push(field("credential", format!("{}{suggestion}", auth.scheme)));
            }
        }
        Request::PipelockBlock { failed_url, host } => {
            lines.push(field("failed URL", failed_url.clone()));
            lines.push(Line::from(Span::styled(
                host.clone(),
                Style::new().green().bold(),
            )));
        }
        Request::CapabilityBlock { dockerfile } => {
            lines.push(Line::from("new Dockerfile:".bold()));
            lines.extend(dockerfile.lines().map(|l| Line::from(l.to_owned())));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(
        " a approve · m modify · r reject · Esc close".dark_gray(),
    ));
    lines
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::dashboard::app::{AgentChoice, Msg};

    fn draw(app: &App, width: u16, height: u16) -> String {
        let mut term = Terminal::new(TestBackend::new(width, height)).unwrap();
        term.draw(|f| render(app, f)).unwrap();
        term.backend().to_string()
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
        };
        app.update(Msg::Bottles(vec![
            row("shell-ab12c", &["egress", "supervise"]),
            row("shell-zz9yx", &[]),
        ]));
        app.update(Msg::Proposals(vec![]));
        app
    }

    fn proposal() -> Proposal {
        Proposal {
            id: "mwviajtx-ydza".into(),
            slug: "shell-ab12c".into(),
            created_at: "2026-11-25T10:05:00.000Z".into(),
            justification: "pip needs the index".into(),
            request: Request::PipelockBlock {
                failed_url: "https://pypi.org/simple/requests/".into(),
                host: "pypi.org".into(),
            },
        }
    }

    #[test]
    fn agents_and_proposals() {
        let mut app = app();
        app.update(Msg::Tick(100));
        app.update(Msg::Proposals(vec![proposal()]));
        app.update(Msg::Output("shell-ab12c".into()));
        app.update(Msg::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE)));
        app.right = Some("shell-zz9yx".into());
        insta::assert_snapshot!(draw(&app, 72, 14));
    }

    #[test]
    fn pipelock_detail_shows_the_host() {
        let mut app = app();
        app.update(Msg::Proposals(vec![proposal()]));
        app.focus = Focus::Proposals;
        app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
        insta::assert_snapshot!(draw(&app, 60, 16));
        let mut term = Terminal::new(TestBackend::new(60, 16)).unwrap();
        term.draw(|f| render(&app, f)).unwrap();
        let buffer = term.backend().buffer();
        let green = (0..16).any(|y| {
            let row: String = (0..60).map(|x| buffer[(x, y)].symbol()).collect();
            let bare = row.trim_matches(|c: char| c == '│' || c == ' ');
            match (bare == "pypi.org", row.find("pypi")) {
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
    fn empty_and_status() {
        let mut app = App::new(vec![], vec![], vec![]);
        app.update(Msg::Status("approved mwviajtx-ydza".into()));
        insta::assert_snapshot!(draw(&app, 50, 9));
    }
}
