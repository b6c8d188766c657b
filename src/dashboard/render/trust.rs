//! The trust step of `n`, drawn: what trusting the directory's manifest
//! would use, exactly the rows `TrustStep::rows` gives (so "seen" is what
//! was drawn), and the keys.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::dashboard::app::TrustStep;
use crate::text::inert;

pub(super) fn render(step: &TrustStep, frame: &mut Frame, area: Rect) {
    let rect = TrustStep::rect(area);
    frame.render_widget(Clear, rect);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(Style::new().yellow())
        .title(format!(
            " trust {}? it is not trusted ",
            inert(&step.summary.shown)
        ));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let (rows, visible) = step.rows((area.width, area.height));
    let shown: Vec<Line> = rows
        .iter()
        .skip(step.scroll)
        .take(visible)
        .map(|r| Line::raw(r.clone()))
        .collect();
    let body = Rect::new(inner.x, inner.y, inner.width, visible as u16);
    frame.render_widget(Paragraph::new(shown), body);
    let last = (step.scroll + visible).min(rows.len());
    let keys = match step.seen_all {
        true => format!(
            "y trusts it · any other key: go on without it · {}-{last}/{}",
            step.scroll + 1,
            rows.len()
        ),
        false => format!(
            "j/k, space/b: read on ({}-{last}/{}) · any other key: go on without it",
            step.scroll + 1,
            rows.len()
        ),
    };
    let key_row = Rect::new(
        inner.x,
        inner.y + inner.height.saturating_sub(1),
        inner.width,
        1,
    );
    frame.render_widget(Line::from(keys).bold(), key_row);
}
