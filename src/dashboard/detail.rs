//! A proposal in full, as the operator must read it before approving:
//! the header (id, bottle, tool, justification), then every line of what
//! approving grants. Pure. The view scrolls; it remembers which parts of
//! each line have been on screen, computed with the renderer's own layout
//! (`areas`) and wrapping (`rows`), so "seen" survives a resize and means
//! what was drawn. Approving needs all of it seen and a dwell.

use ratatui::layout::Rect;
use ratatui::widgets::{Block, Borders};

use super::text::wrap;
use crate::proposal::Request;
use crate::supervise::apply::Pending;
use crate::text::inert;

/// How long the detail must have been open (with this content) before it
/// can approve, in milliseconds: "aa" typed fast approves nothing.
pub(crate) const DWELL_MS: u64 = 1_000;

/// Width of the header's labels.
const LABEL: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `label value`; the label is the first `LABEL` chars.
    Field,
    /// The host a route goes to, the ref a push goes to.
    Host,
    Heading,
    Plain,
    Added,
    Removed,
    Warning,
    End,
}

/// One logical line of the detail, inert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DetailLine {
    pub kind: Kind,
    pub text: String,
}

/// One screen row: chars `start..end` of line `line`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Row {
    pub line: usize,
    pub start: usize,
    pub end: usize,
}

/// Where the detail is drawn in a frame of this size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Areas {
    pub modal: Rect,
    /// The scrolled text.
    pub body: Rect,
    /// Keys and position, the last row inside the border.
    pub hint: Rect,
}

/// The detail's place: the whole frame but its last row (the status line
/// stays visible).
pub(crate) fn areas(frame: Rect) -> Areas {
    let modal = Rect {
        height: frame.height.saturating_sub(1),
        ..frame
    };
    let inner = Block::new().borders(Borders::ALL).inner(modal);
    let body = Rect {
        height: inner.height.saturating_sub(1),
        ..inner
    };
    let hint = Rect {
        y: inner.y + body.height,
        height: inner.height.min(1),
        ..inner
    };
    Areas { modal, body, hint }
}

/// The detail's body for a frame of `size` (width, height).
pub(crate) fn body(size: (u16, u16)) -> Rect {
    areas(Rect::new(0, 0, size.0, size.1)).body
}

fn field(label: &str, value: &str) -> DetailLine {
    DetailLine {
        kind: Kind::Field,
        text: format!("{label:<LABEL$}{}", inert(value)),
    }
}

/// Every line the detail shows for `p`.
pub(crate) fn lines(p: &Pending) -> Vec<DetailLine> {
    let proposal = &p.proposal;
    let mut out = vec![
        field("id", &proposal.id),
        field("bottle", &proposal.slug),
        field("tool", proposal.request.tool()),
        field("asked at", &proposal.created_at),
    ];
    if let Some(replaced) = &proposal.replaces {
        out.push(field(
            "replaces",
            &format!("{replaced} (withdrawn: it changed)"),
        ));
    }
    let target = match &proposal.request {
        Request::EgressBlock { host, .. } | Request::PipelockBlock { host, .. } => {
            Some(("host", host))
        }
        Request::GitPush(push) => Some(("ref", &push.git_ref)),
        Request::CapabilityBlock { .. } | Request::Budget { .. } => None,
    };
    if let Some((label, target)) = target {
        out.push(DetailLine {
            kind: Kind::Host,
            text: format!("{label:<LABEL$}{}", inert(target)),
        });
    }
    let mut why = proposal.justification.lines();
    out.push(field("why", why.next().unwrap_or("")));
    out.extend(why.map(|l| field("", l)));
    out.push(DetailLine {
        kind: Kind::Plain,
        text: String::new(),
    });
    out.push(DetailLine {
        kind: Kind::Heading,
        text: "approving grants:".into(),
    });
    for line in &p.preview.lines {
        let kind = if line.starts_with("WARNING") {
            Kind::Warning
        } else if line.starts_with('+') && !line.starts_with("+++") {
            Kind::Added
        } else if line.starts_with('-') && !line.starts_with("---") {
            Kind::Removed
        } else {
            Kind::Plain
        };
        out.push(DetailLine {
            kind,
            text: inert(line),
        });
    }
    out.push(DetailLine {
        kind: Kind::End,
        text: "(end of proposal)".into(),
    });
    out
}

/// The screen rows of `lines` at `width` columns.
pub(crate) fn rows(lines: &[DetailLine], width: u16) -> Vec<Row> {
    lines
        .iter()
        .enumerate()
        .flat_map(|(i, l)| {
            wrap(&l.text, width as usize).into_iter().map(move |r| Row {
                line: i,
                start: r.start,
                end: r.end,
            })
        })
        .collect()
}

/// Which char ranges of each line have been on screen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Coverage {
    /// Per line, merged `[start, end)` ranges; an empty line seen holds
    /// `(0, 0)`.
    seen: Vec<Vec<(usize, usize)>>,
}

impl Coverage {
    fn new(lines: usize) -> Coverage {
        Coverage {
            seen: vec![Vec::new(); lines],
        }
    }

    fn add(&mut self, row: &Row) {
        let Some(ranges) = self.seen.get_mut(row.line) else {
            return;
        };
        ranges.push((row.start, row.end));
        ranges.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
        for &(s, e) in ranges.iter() {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        *ranges = merged;
    }

    fn covers(&self, row: &Row) -> bool {
        self.seen
            .get(row.line)
            .is_some_and(|ranges| ranges.iter().any(|&(s, e)| s <= row.start && row.end <= e))
    }
}

/// The detail view of one proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Detail {
    /// What is on screen: the proposal and its preview when opened (or when
    /// they last changed). An approval carries this preview.
    pub shown: Pending,
    pub lines: Vec<DetailLine>,
    /// The first body row on screen.
    pub scroll: usize,
    /// When this content was put on screen; the dwell counts from here.
    pub since: u64,
    seen: Coverage,
}

/// What an approval from the detail still lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// Rows never on screen.
    Unseen(usize),
    /// Milliseconds of dwell left.
    Dwell(u64),
}

impl Missing {
    pub(crate) fn text(&self) -> String {
        match self {
            Missing::Unseen(n) => format!(
                "not approved: scroll to the end first ({n} more row{} to read; j, space, G)",
                if *n == 1 { "" } else { "s" }
            ),
            Missing::Dwell(ms) => format!(
                "not approved: read it first (a approves in {:.1} s)",
                *ms as f64 / 1000.0
            ),
        }
    }
}

/// A scrolling key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scroll {
    Down(usize),
    Up(usize),
    PageDown,
    PageUp,
    Top,
    Bottom,
}

impl Detail {
    pub(crate) fn new(shown: Pending, now: u64, size: (u16, u16)) -> Detail {
        let mut d = Detail::unseen_at(shown, now, 0);
        d.fit(size);
        d
    }

    fn unseen_at(shown: Pending, now: u64, scroll: usize) -> Detail {
        let lines = lines(&shown);
        Detail {
            seen: Coverage::new(lines.len()),
            shown,
            lines,
            scroll,
            since: now,
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.shown.proposal.id
    }

    /// Every line, as a pager shows it (inert, one per line).
    pub(crate) fn text(&self) -> String {
        self.lines.iter().map(|l| format!("{}\n", l.text)).collect()
    }

    /// New content for the same proposal: read from the start of the dwell
    /// again, nothing of it seen but what is on screen now.
    pub(crate) fn replace(&mut self, shown: Pending, now: u64, size: (u16, u16)) {
        *self = Detail::unseen_at(shown, now, self.scroll);
        self.fit(size);
    }

    /// The rows at this size, the scroll clamped, what is on screen marked
    /// as seen. Called after every change of scroll, size or content.
    pub(crate) fn fit(&mut self, size: (u16, u16)) {
        let body = body(size);
        let rows = rows(&self.lines, body.width);
        let height = body.height as usize;
        self.scroll = self.scroll.min(rows.len().saturating_sub(height));
        if height == 0 || body.width == 0 {
            return;
        }
        for row in rows.iter().skip(self.scroll).take(height) {
            self.seen.add(row);
        }
    }

    pub(crate) fn scroll(&mut self, how: Scroll, size: (u16, u16)) {
        let page = (body(size).height as usize).max(1);
        self.scroll = match how {
            Scroll::Down(n) => self.scroll.saturating_add(n),
            Scroll::Up(n) => self.scroll.saturating_sub(n),
            Scroll::PageDown => self.scroll.saturating_add(page),
            Scroll::PageUp => self.scroll.saturating_sub(page),
            Scroll::Top => 0,
            Scroll::Bottom => usize::MAX,
        };
        self.fit(size);
    }

    /// Rows at this size never (wholly) on screen.
    pub(crate) fn unseen(&self, size: (u16, u16)) -> usize {
        rows(&self.lines, body(size).width)
            .iter()
            .filter(|r| !self.seen.covers(r))
            .count()
    }

    /// What approving still needs, at `now`; None when it may.
    pub(crate) fn missing(&self, now: u64, size: (u16, u16)) -> Option<Missing> {
        let unseen = self.unseen(size);
        if unseen > 0 {
            return Some(Missing::Unseen(unseen));
        }
        let open = now.saturating_sub(self.since);
        (open < DWELL_MS).then(|| Missing::Dwell(DWELL_MS - open))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proposal::Proposal;
    use crate::supervise::preview::Preview;

    fn pending(preview: &[&str]) -> Pending {
        Pending {
            proposal: Proposal {
                id: "p1".into(),
                slug: "a-1".into(),
                created_at: "1".into(),
                justification: "because".into(),
                source: Default::default(),
                request: Request::CapabilityBlock {
                    dockerfile: String::new(),
                },
                replaces: None,
            },
            preview: Preview {
                lines: preview.iter().map(|s| s.to_string()).collect(),
                widens_credential: false,
                ..Default::default()
            },
        }
    }

    #[test]
    fn the_body_leaves_the_status_line_and_a_hint_row() {
        let a = areas(Rect::new(0, 0, 80, 24));
        assert_eq!(a.modal, Rect::new(0, 0, 80, 23));
        assert_eq!(a.body, Rect::new(1, 1, 78, 20));
        assert_eq!(a.hint, Rect::new(1, 21, 78, 1));
        assert_eq!(body((10, 3)).height, 0, "too small to show anything");
    }

    #[test]
    fn seen_follows_scrolling_and_wrapping() {
        let long: Vec<String> = (0..40).map(|i| format!("+RUN step {i}")).collect();
        let refs: Vec<&str> = long.iter().map(String::as_str).collect();
        let size = (40, 14);
        let mut d = Detail::new(pending(&refs), 0, size);
        let total = rows(&d.lines, body(size).width).len();
        let page = body(size).height as usize;
        assert_eq!(d.unseen(size), total - page);
        d.scroll(Scroll::Bottom, size);
        assert!(d.unseen(size) > 0, "jumping to the end skips the middle");
        d.scroll(Scroll::Top, size);
        while d.unseen(size) > 0 {
            let before = d.scroll;
            d.scroll(Scroll::PageDown, size);
            assert!(d.scroll > before, "paging reaches the end");
        }
        assert_eq!(d.missing(500, size), Some(Missing::Dwell(500)));
        assert_eq!(d.missing(DWELL_MS, size), None);

        // Narrower: the same text in more rows, all of it already seen.
        assert_eq!(d.unseen((30, 14)), 0);
        // A long line seen at one width, then wrapped differently.
        let line = "x".repeat(100);
        let mut d = Detail::new(pending(&[&line]), 0, (30, 40));
        assert_eq!(d.unseen((30, 40)), 0);
        assert_eq!(d.unseen((60, 40)), 0, "the same chars, seen");
        d.replace(pending(&[&line, "more"]), 5, (30, 40));
        assert_eq!(d.since, 5, "new content: the dwell starts again");
    }

    #[test]
    fn lines_are_inert_and_kinds_follow_the_diff() {
        let mut p = pending(&["WARNING: more", "+RUN x", "-RUN y", "--- a", "+++ b"]);
        p.proposal.justification = "first\nsecond \x1b[2J".into();
        let ls = lines(&p);
        let kinds: Vec<Kind> = ls.iter().map(|l| l.kind).collect();
        assert!(kinds.ends_with(&[
            Kind::Warning,
            Kind::Added,
            Kind::Removed,
            Kind::Plain,
            Kind::Plain,
            Kind::End
        ]));
        assert!(ls.iter().any(|l| l.text == "why       first"));
        assert!(ls.iter().any(|l| l.text.ends_with("second \\u{1b}[2J")));
        assert!(ls.iter().all(|l| !l.text.chars().any(char::is_control)));
    }
}
