//! The choosers of a launch, shared by `start` on a terminal and the
//! dashboard's `n`: a type-to-filter `Picker` (one item), a `MultiPicker`
//! (several, in the order they were toggled) and a one-line `Prompt`.
//!
//! Each is pure state (keys in, outcome out) with a pure `render_in`; `run`
//! is the thin terminal loop around any of them, drawn inline on stderr.

use std::io::{self, IsTerminal};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::terminal;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};
use ratatui::{Frame, Terminal, TerminalOptions, Viewport};

mod multi;
mod prompt;

pub(crate) use multi::MultiPicker;
pub(crate) use prompt::Prompt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub name: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Picker {
    list: Filtered,
}

/// A titled list filtered by what is typed, with a cursor: what every
/// picker shares (its keys, its prompt row and its rows).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Filtered {
    title: String,
    items: Vec<Item>,
    filter: String,
    cursor: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome<T = String> {
    Pending,
    Chosen(T),
    Cancelled,
}

/// What `run` drives: one of the choosers.
pub(crate) trait Chooser {
    type Chosen;
    /// Takes a key event; releases are ignored.
    fn key(&mut self, key: KeyEvent) -> Outcome<Self::Chosen> {
        if key.kind == KeyEventKind::Release {
            return Outcome::Pending;
        }
        self.press(key.code, key.modifiers.contains(KeyModifiers::CONTROL))
    }
    /// Takes a pressed key; `ctrl` when Control is held.
    fn press(&mut self, code: KeyCode, ctrl: bool) -> Outcome<Self::Chosen>;
    fn render_in(&self, frame: &mut Frame, area: Rect);
    /// The rows it needs on the terminal.
    fn height(&self) -> u16;
}

/// Whether an item shows under a filter: its name or detail contains
/// it, ignoring case.
fn matches(item: &Item, filter: &str) -> bool {
    let needle = filter.to_lowercase();
    item.name.to_lowercase().contains(&needle) || item.detail.to_lowercase().contains(&needle)
}

/// Rows of the list shown at once.
const ROWS: u16 = 10;

impl Filtered {
    fn new(title: &str, items: Vec<Item>) -> Filtered {
        Filtered {
            title: title.to_owned(),
            items,
            filter: String::new(),
            cursor: 0,
        }
    }

    /// The items whose name or detail contains the filter, ignoring case.
    fn visible(&self) -> Vec<&Item> {
        self.items
            .iter()
            .filter(|i| matches(i, &self.filter))
            .collect()
    }

    /// The item under the cursor.
    fn current(&self) -> Option<&Item> {
        self.visible().get(self.cursor).copied()
    }

    /// The rows the list takes on a terminal.
    fn rows(&self) -> u16 {
        ROWS.min(self.items.len() as u16).max(1)
    }

    /// Moving and filtering: the keys every picker reads alike.
    fn edit(&mut self, code: KeyCode, ctrl: bool) {
        match code {
            KeyCode::Char('n') if ctrl => self.step(1),
            KeyCode::Char('p') if ctrl => self.step(-1),
            KeyCode::Esc => self.set_filter(String::new()),
            KeyCode::Down | KeyCode::Tab => self.step(1),
            KeyCode::Up | KeyCode::BackTab => self.step(-1),
            KeyCode::Backspace => {
                let mut f = self.filter.clone();
                f.pop();
                self.set_filter(f);
            }
            KeyCode::Char(c) if !ctrl && !c.is_control() => {
                let f = format!("{}{c}", self.filter);
                self.set_filter(f);
            }
            _ => {}
        }
    }

    fn set_filter(&mut self, filter: String) {
        self.filter = filter;
        self.cursor = 0;
    }

    fn step(&mut self, delta: isize) {
        let n = self.visible().len();
        if n > 0 {
            self.cursor = (self.cursor as isize + delta).rem_euclid(n as isize) as usize;
        }
    }

    /// The title and filter in `prompt`, the visible items in `list`, each
    /// after its `mark`.
    fn render_in(
        &self,
        frame: &mut Frame,
        prompt: Rect,
        list: Rect,
        mark: impl Fn(&Item) -> Option<Span<'static>>,
    ) {
        frame.render_widget(typing_line(&self.title, &self.filter), prompt);
        let visible = self.visible();
        let width = visible.iter().map(|i| i.name.len()).max().unwrap_or(0);
        let items: Vec<ListItem> = visible
            .iter()
            .map(|i| {
                let mut spans: Vec<Span> = mark(i).into_iter().collect();
                spans.push(Span::raw(format!("{:width$}  ", i.name)));
                spans.push(Span::styled(i.detail.as_str(), Style::new().dim()));
                ListItem::new(Line::from(spans))
            })
            .collect();
        if items.is_empty() {
            frame.render_widget(Line::from("  (nothing matches)").dim(), list);
        } else {
            let mut state = ListState::default().with_selected(Some(self.cursor));
            let list_widget = List::new(items)
                .highlight_symbol("> ")
                .highlight_style(Style::new().reversed());
            frame.render_stateful_widget(list_widget, list, &mut state);
        }
    }
}

impl Picker {
    pub(crate) fn new(title: &str, items: Vec<Item>) -> Picker {
        Picker {
            list: Filtered::new(title, items),
        }
    }

    #[cfg(test)]
    pub(crate) fn render(&self, frame: &mut Frame) {
        self.render_in(frame, frame.area());
    }
}

/// "title: text" and a blinking cursor: the row a chooser is typed into.
fn typing_line<'a>(title: &str, text: &'a str) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{title}: "), Style::new().bold()),
        Span::raw(text),
        Span::styled("█", Style::new().add_modifier(Modifier::SLOW_BLINK)),
    ])
}

/// Whether a picker can be shown: stdin and stderr are terminals.
pub(crate) fn available() -> bool {
    io::stdin().is_terminal() && io::stderr().is_terminal()
}

impl Chooser for Picker {
    type Chosen = String;
    fn press(&mut self, code: KeyCode, ctrl: bool) -> Outcome {
        match code {
            KeyCode::Char('c' | 'd') if ctrl => return Outcome::Cancelled,
            KeyCode::Esc if self.list.filter.is_empty() => return Outcome::Cancelled,
            KeyCode::Enter => {
                if let Some(item) = self.list.current() {
                    return Outcome::Chosen(item.name.clone());
                }
            }
            code => self.list.edit(code, ctrl),
        }
        Outcome::Pending
    }

    /// Draws the picker in `area` of the frame.
    fn render_in(&self, frame: &mut Frame, area: Rect) {
        let [prompt, list, help] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
        ])
        .areas(area);
        self.list.render_in(frame, prompt, list, |_| None);
        frame.render_widget(
            Line::from("type to filter · ↑/↓ move · Enter choose · Esc cancel").dim(),
            help,
        );
    }

    fn height(&self) -> u16 {
        self.list.rows() + 2
    }
}

/// Shows a chooser inline on stderr until a choice or a cancel.
pub(crate) fn run<C: Chooser>(mut picker: C) -> io::Result<Option<C::Chosen>> {
    let height = picker.height();
    let backend = ratatui::backend::CrosstermBackend::new(io::stderr());
    let mut term = Terminal::with_options(
        backend,
        TerminalOptions {
            viewport: Viewport::Inline(height),
        },
    )?;
    terminal::enable_raw_mode()?;
    let result = (|| loop {
        term.draw(|f| picker.render_in(f, f.area()))?;
        if let Event::Key(key) = event::read()? {
            match picker.key(key) {
                Outcome::Pending => {}
                Outcome::Chosen(name) => return Ok(Some(name)),
                Outcome::Cancelled => return Ok(None),
            }
        }
    })();
    let _ = terminal::disable_raw_mode();
    let _ = term.clear();
    result
}

/// Keys for the choosers' tests.
#[cfg(test)]
pub(crate) mod testing {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::{Chooser, Outcome};

    pub(crate) fn plain(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    pub(crate) fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    /// Presses `keys` in turn; the outcome of the last (Pending for none).
    pub(crate) fn last_outcome<C: Chooser>(
        chooser: &mut C,
        keys: impl IntoIterator<Item = KeyEvent>,
    ) -> Outcome<C::Chosen> {
        let mut last = Outcome::Pending;
        for key in keys {
            last = chooser.key(key);
        }
        last
    }
}

#[cfg(test)]
mod tests {
    use ratatui::backend::TestBackend;

    use super::testing::{last_outcome, plain};
    use super::*;

    fn picker() -> Picker {
        let item = |n: &str, d: &str| Item {
            name: n.into(),
            detail: d.into(),
        };
        Picker::new(
            "agent",
            vec![
                item("claude", "Claude Code"),
                item("codex", "OpenAI Codex (1 running)"),
                item("shell", "A plain bash shell"),
            ],
        )
    }

    fn press(p: &mut Picker, code: KeyCode) -> Outcome {
        p.key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    #[test]
    fn keys() {
        // (keys, outcome after the last)
        let cases: &[(&[KeyCode], Outcome)] = &[
            (&[KeyCode::Enter], Outcome::Chosen("claude".into())),
            (
                &[KeyCode::Down, KeyCode::Enter],
                Outcome::Chosen("codex".into()),
            ),
            (
                &[KeyCode::Up, KeyCode::Enter],
                Outcome::Chosen("shell".into()),
            ),
            (
                &[KeyCode::Char('s'), KeyCode::Char('h'), KeyCode::Enter],
                Outcome::Chosen("shell".into()),
            ),
            (
                &[KeyCode::Char('b'), KeyCode::Char('a'), KeyCode::Enter],
                Outcome::Chosen("shell".into()),
            ),
            (
                &[KeyCode::Char('O'), KeyCode::Char('P'), KeyCode::Enter],
                Outcome::Chosen("codex".into()),
            ),
            (&[KeyCode::Char('z'), KeyCode::Enter], Outcome::Pending),
            (
                &[KeyCode::Char('z'), KeyCode::Backspace, KeyCode::Enter],
                Outcome::Chosen("claude".into()),
            ),
            (&[KeyCode::Char('z'), KeyCode::Esc], Outcome::Pending),
            (
                &[KeyCode::Char('z'), KeyCode::Esc, KeyCode::Esc],
                Outcome::Cancelled,
            ),
            (&[KeyCode::Esc], Outcome::Cancelled),
        ];
        for (keys, want) in cases {
            let last = last_outcome(&mut picker(), keys.iter().copied().map(plain));
            assert_eq!(&last, want, "{keys:?}");
        }
        let mut p = picker();
        assert_eq!(
            p.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Outcome::Cancelled
        );
    }

    #[test]
    fn render_snapshot() {
        let mut p = picker();
        press(&mut p, KeyCode::Char('c'));
        press(&mut p, KeyCode::Down);
        let mut term = Terminal::new(TestBackend::new(60, 5)).unwrap();
        term.draw(|f| p.render(f)).unwrap();
        insta::assert_snapshot!(term.backend());
    }
}
