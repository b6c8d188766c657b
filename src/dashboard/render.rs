//! Draws the dashboard from its state. Pure: the same `App` always gives
//! the same frame.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};

use super::app::{AgentRow, App, Focus, Modal};
use super::detail::{self, Detail, Kind};
use super::text::slice;
use crate::picker::Chooser;
use crate::proposal::{Origin, Request};
use crate::text::inert;
use crate::verify::Report;

pub(crate) fn render(app: &App, frame: &mut Frame) {
    render_coloured(app, frame, crate::colour::env_allows());
}

/// `render`, in colour or (`NO_COLOR`) without: bold and reverse stay.
fn render_coloured(app: &App, frame: &mut Frame, colours: bool) {
    draw_frame(app, frame);
    if !colours {
        crate::colour::strip(frame.buffer_mut());
    }
}

fn draw_frame(app: &App, frame: &mut Frame) {
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
        Span::raw(format!(" {} · ", plural(app.agents.len(), "agent"))),
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

/// "1 agent", "2 agents".
fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
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
            let mut spans = vec![
                Span::styled(format!("{}  ", p.request.tool()), Style::new().bold()),
                Span::raw(inert(&p.request.summary())),
            ];
            if p.source == Origin::Denied {
                spans.push(Span::styled("  from denials", Style::new().yellow()));
            }
            spans.push(Span::styled(
                format!("  {}  {}", inert(&p.slug), inert(&p.id)),
                Style::new().dark_gray(),
            ));
            ListItem::new(Line::from(spans)).style(style)
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
    let (activity, activity_style) = if a.stopped {
        ("STOPPED", Style::new().red().bold())
    } else if a.frozen {
        ("FROZEN", Style::new().light_blue().bold())
    } else if a.asleep {
        ("asleep", Style::new().blue())
    } else if app.is_busy(&a.slug) {
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
        Span::styled(
            a.tokens
                .as_ref()
                .map(|t| format!("  {t}"))
                .unwrap_or_default(),
            Style::new().dark_gray(),
        ),
        seal_span(a.seal.as_ref(), app.wall_now()),
        Span::raw(format!("  {}  ", clock(&a.started_at))),
        Span::styled(a.backend.clone(), Style::new().dark_gray()),
    ])
}

/// The seal's last check in the row: `sealed ✓ 2m`, `NOT SEALED 2m` in
/// the alert colour, or `seal unknown 2m` (the check could not tell);
/// what got through is in `list active` and in the status line of the
/// check. Nothing before a check.
fn seal_span(seal: Option<&Report>, now: u64) -> Span<'static> {
    let Some(report) = seal else {
        return Span::raw("");
    };
    let summary = report.summary(now);
    if report.sealed() {
        return Span::styled(format!("  {summary}"), Style::new().green());
    }
    // `NOT SEALED 2m: what (got)`, `seal unknown 2m: …`: the row keeps
    // what precedes the colon.
    let short = summary.split(':').next().unwrap_or("NOT SEALED");
    match report.broken() {
        true => Span::styled(format!("  {short}"), Style::new().red().bold()),
        false => Span::styled(format!("  {short}"), Style::new().yellow()),
    }
}

/// `HH:MM:SS` of an RFC 3339 time.
fn clock(rfc3339: &str) -> String {
    rfc3339.get(11..19).unwrap_or(rfc3339).to_owned()
}

pub(crate) fn color(name: &str) -> Color {
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
        // A new proposal, or a bottle that failed its seal check.
        let what = if app.now < app.alert_until {
            "new proposal"
        } else {
            "alert"
        };
        return Line::from(Span::styled(
            format!(" {what}: keys are ignored until you pause for a second"),
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
                " a, then y, approves once every line has been on screen, after a second"
                    .dark_gray(),
            );
        }
        Some(Modal::Confirm { .. }) => {
            return Line::from(" y approves · any other key goes back to the proposal".dark_gray());
        }
        Some(Modal::Widen { .. } | Modal::TokenEnv { .. }) => {
            return Line::from(" Enter confirms · Esc goes back to the proposal".dark_gray());
        }
        _ => {}
    }
    let help = match app.focus {
        Focus::Agents => {
            " Enter show · e edit routes · n new · f freeze/thaw · F freeze all · s check seal · R resume · x stop · Tab proposals · q quit"
        }
        Focus::Proposals => {
            " Enter/v read it (a approves from there) · r reject · m modify · Tab agents"
        }
    };
    if app.help || app.focus == Focus::Proposals {
        return Line::from(help.dark_gray());
    }
    idle_line(app)
}

/// At rest in the agents pane: which agent the agent keys act on (as the
/// seeds' idle status line); `?` shows the keys instead.
fn idle_line(app: &App) -> Line<'static> {
    let keys = Span::styled("  ? keys", Style::new().dark_gray());
    match app.selected_agent() {
        Some(a) => Line::from(vec![
            Span::raw(" ["),
            Span::styled(
                a.slug.clone(),
                Style::new()
                    .fg(color(&a.color))
                    .add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!("] {} · {}", inert(&a.agent), inert(&a.backend))),
            keys,
        ]),
        None => Line::from(vec![Span::raw(" [no active agents]  n starts one"), keys]),
    }
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
        Modal::Confirm { detail, .. } => {
            render_detail(app, detail, frame, area);
            return render_confirm(detail, frame, area);
        }
        Modal::Widen { detail, input } => {
            render_detail(app, detail, frame, area);
            return render_widen(detail, input, frame, area);
        }
        Modal::TokenEnv { detail, input, .. } => {
            render_detail(app, detail, frame, area);
            return render_token(detail, input, frame, area);
        }
        Modal::Trust(step) => return trust::render(step, frame, area),
        Modal::Reason { .. } => ("reject: reason for the agent", 3),
        Modal::PickAgent(_)
        | Modal::PickBottle { .. }
        | Modal::PickColor { .. }
        | Modal::PickBackend { .. } => ("new agent", 14),
        Modal::Label { .. } | Modal::Cwd { .. } => ("new agent", 5),
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
        | Modal::PickColor { picker, .. }
        | Modal::PickBackend { picker, .. } => {
            picker.render_in(frame, inner);
        }
        Modal::PickBottle { picker, .. } => picker.render_in(frame, inner),
        Modal::Label { prompt, .. } | Modal::Cwd { prompt, .. } => prompt.render_in(frame, inner),
        Modal::Preflight { text, .. } => {
            frame.render_widget(
                Paragraph::new(text.clone()).wrap(Wrap { trim: false }),
                inner,
            );
        }
        Modal::Detail(_)
        | Modal::Confirm { .. }
        | Modal::Widen { .. }
        | Modal::TokenEnv { .. }
        | Modal::Trust(_) => {}
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

fn render_confirm(d: &Detail, frame: &mut Frame, area: Rect) {
    let lines = vec![
        Line::from(inert(&d.shown.proposal.request.summary())),
        Line::from("y approves it; any other key goes back".dark_gray()),
    ];
    prompt_box(format!(" approve {}? ", inert(d.id())), lines, frame, area);
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
        Request::CapabilityBlock { .. } | Request::Budget { .. } => "the bottle".into(),
        Request::GitPush(push) => push.git_ref.clone(),
    }
}

mod trust;

#[cfg(test)]
mod tests;
