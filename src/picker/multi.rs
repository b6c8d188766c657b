//! Several items, in order: Space toggles the item under the cursor, and
//! the order of toggling is the order of the result (each chosen row
//! shows its position). Enter or Ctrl-D confirms; typing filters.

use ratatui::Frame;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};

use super::{Chooser, Filtered, Item, Outcome};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MultiPicker {
    list: Filtered,
    /// Names chosen, in the order they were toggled on.
    chosen: Vec<String>,
    /// Said after a confirm with nothing chosen.
    note: Option<String>,
}

impl MultiPicker {
    /// `initial` is chosen already, in its order (names not among the
    /// items are left out).
    pub(crate) fn new(title: &str, items: Vec<Item>, initial: &[String]) -> MultiPicker {
        let mut chosen: Vec<String> = Vec::new();
        for name in initial {
            if items.iter().any(|i| &i.name == name) && !chosen.contains(name) {
                chosen.push(name.clone());
            }
        }
        MultiPicker {
            list: Filtered::new(title, items),
            chosen,
            note: None,
        }
    }

    /// What is chosen so far, in order.
    #[cfg(test)]
    pub(crate) fn chosen(&self) -> &[String] {
        &self.chosen
    }

    /// The 1-based position of `name` in the choice.
    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.chosen.iter().position(|c| c == name).map(|i| i + 1)
    }

    fn confirm(&mut self) -> Outcome<Vec<String>> {
        if self.chosen.is_empty() {
            self.note = Some("choose at least one: Space on it".into());
            return Outcome::Pending;
        }
        Outcome::Chosen(self.chosen.clone())
    }

    fn toggle(&mut self) {
        let Some(name) = self.list.current().map(|i| i.name.clone()) else {
            return;
        };
        match self.chosen.iter().position(|c| *c == name) {
            Some(i) => {
                self.chosen.remove(i);
            }
            None => self.chosen.push(name),
        }
    }
}

impl Chooser for MultiPicker {
    type Chosen = Vec<String>;
    fn press(&mut self, code: KeyCode, ctrl: bool) -> Outcome<Vec<String>> {
        self.note = None;
        match code {
            KeyCode::Char('c') if ctrl => return Outcome::Cancelled,
            KeyCode::Char('d') if ctrl => return self.confirm(),
            KeyCode::Enter => return self.confirm(),
            KeyCode::Esc if self.list.filter.is_empty() => return Outcome::Cancelled,
            KeyCode::Char(' ') => self.toggle(),
            code => self.list.edit(code, ctrl),
        }
        Outcome::Pending
    }

    fn render_in(&self, frame: &mut Frame, area: Rect) {
        let [prompt, list, order, help] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        self.list.render_in(frame, prompt, list, |i| {
            let mark = match self.position(&i.name) {
                Some(n) => format!("[{n}] "),
                None => "[ ] ".to_owned(),
            };
            Some(Span::styled(mark, Style::new().bold()))
        });
        let order_line = match &self.note {
            Some(note) => Line::from(Span::styled(note.as_str(), Style::new().yellow().bold())),
            None if self.chosen.is_empty() => Line::from("in order: (none yet)".dim()),
            None => Line::from(format!("in order: {}", self.chosen.join(" + "))),
        };
        frame.render_widget(order_line, order);
        frame.render_widget(
            Line::from("Space toggle · Enter/Ctrl-D confirm · Esc cancel").dim(),
            help,
        );
    }

    fn height(&self) -> u16 {
        self.list.rows() + 3
    }
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::KeyEvent;

    use super::*;
    use crate::picker::testing::{ctrl, last_outcome, plain};

    fn picker(initial: &[&str]) -> MultiPicker {
        let item = |n: &str| Item {
            name: n.into(),
            detail: String::new(),
        };
        let initial: Vec<String> = initial.iter().map(|s| s.to_string()).collect();
        MultiPicker::new(
            "bottles",
            vec![item("default"), item("github"), item("npm")],
            &initial,
        )
    }

    fn chosen(v: &[&str]) -> Outcome<Vec<String>> {
        Outcome::Chosen(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn keys() {
        use KeyCode::{Backspace, Char, Down, Enter, Esc, Up};
        let space = Char(' ');
        // (pre-filled, keys, outcome after the last)
        type Case<'a> = (&'a [&'a str], &'a [KeyEvent], Outcome<Vec<String>>);
        let cases: &[Case] = &[
            (&["default"], &[plain(Enter)], chosen(&["default"])),
            (&["default"], &[ctrl('d')], chosen(&["default"])),
            (
                &["npm", "default"],
                &[plain(Enter)],
                chosen(&["npm", "default"]),
            ),
            (&["nope", "github"], &[plain(Enter)], chosen(&["github"])),
            (&[], &[plain(Enter)], Outcome::Pending),
            (
                &[],
                &[
                    plain(Down),
                    plain(Down),
                    plain(space),
                    plain(Up),
                    plain(space),
                    plain(Enter),
                ],
                chosen(&["npm", "github"]),
            ),
            (
                &["default"],
                &[
                    plain(space),
                    plain(Down),
                    plain(space),
                    plain(Up),
                    plain(space),
                    plain(Enter),
                ],
                chosen(&["github", "default"]),
            ),
            (
                &["default"],
                &[
                    plain(Char('n')),
                    plain(Char('p')),
                    plain(space),
                    plain(Enter),
                ],
                chosen(&["default", "npm"]),
            ),
            (
                &[],
                &[
                    plain(Char('z')),
                    plain(space),
                    plain(Backspace),
                    plain(space),
                    plain(Enter),
                ],
                chosen(&["default"]),
            ),
            (
                &["default"],
                &[plain(Char('z')), plain(Esc)],
                Outcome::Pending,
            ),
            (&["default"], &[plain(Esc)], Outcome::Cancelled),
            (&["default"], &[ctrl('c')], Outcome::Cancelled),
        ];
        for (initial, keys, want) in cases {
            let last = last_outcome(&mut picker(initial), keys.iter().copied());
            assert_eq!(&last, want, "{initial:?} {keys:?}");
        }
    }

    #[test]
    fn positions_follow_the_toggling() {
        let mut p = picker(&["github"]);
        p.key(plain(KeyCode::Char(' ')));
        assert_eq!(p.chosen(), ["github", "default"]);
        assert_eq!(p.position("default"), Some(2));
        p.key(plain(KeyCode::Down));
        p.key(plain(KeyCode::Char(' ')));
        assert_eq!(p.chosen(), ["default"], "untoggled: the rest move up");
        assert_eq!(p.position("default"), Some(1));
    }

    #[test]
    fn render_snapshot() {
        let mut p = picker(&["npm"]);
        p.key(plain(KeyCode::Char(' ')));
        p.key(plain(KeyCode::Down));
        let mut term = Terminal::new(TestBackend::new(60, 7)).unwrap();
        term.draw(|f| p.render_in(f, f.area())).unwrap();
        insta::assert_snapshot!(term.backend());
        let mut p = picker(&[]);
        p.key(plain(KeyCode::Enter));
        term.draw(|f| p.render_in(f, f.area())).unwrap();
        insta::assert_snapshot!("nothing_chosen", term.backend());
    }
}
