//! One line of text, pre-filled and editable, with an optional message
//! above it (why it is asked again). Enter accepts what is there (even
//! nothing), Ctrl-U clears, Esc cancels.

use ratatui::Frame;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};

use super::{Chooser, Outcome, typing_line};

/// Longest input accepted.
const MAX: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prompt {
    title: String,
    input: String,
    /// Shown above the input, e.g. why it is asked again.
    message: Option<String>,
    help: String,
}

impl Prompt {
    pub(crate) fn new(title: &str, initial: &str) -> Prompt {
        Prompt {
            title: title.to_owned(),
            input: initial.to_owned(),
            message: None,
            help: "Enter accept · Ctrl-U clear · Esc cancel".into(),
        }
    }

    pub(crate) fn with_message(mut self, message: &str) -> Prompt {
        self.message = Some(message.to_owned());
        self
    }

    /// What the help line says (e.g. what an empty answer means).
    pub(crate) fn with_help(mut self, help: &str) -> Prompt {
        self.help = help.to_owned();
        self
    }

    #[cfg(test)]
    pub(crate) fn input(&self) -> &str {
        &self.input
    }

    #[cfg(test)]
    pub(crate) fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
}

impl Chooser for Prompt {
    type Chosen = String;
    fn press(&mut self, code: KeyCode, ctrl: bool) -> Outcome {
        match code {
            KeyCode::Char('c') if ctrl => return Outcome::Cancelled,
            KeyCode::Char('u') if ctrl => self.input.clear(),
            KeyCode::Esc => return Outcome::Cancelled,
            KeyCode::Enter => return Outcome::Chosen(self.input.trim().to_owned()),
            KeyCode::Backspace => {
                self.input.pop();
            }
            KeyCode::Char(c) if !ctrl && !c.is_control() && self.input.len() < MAX => {
                self.input.push(c)
            }
            _ => {}
        }
        Outcome::Pending
    }

    fn render_in(&self, frame: &mut Frame, area: Rect) {
        let [message, prompt, help] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        if let Some(text) = &self.message {
            frame.render_widget(
                Line::from(Span::styled(text.as_str(), Style::new().yellow().bold())),
                message,
            );
        }
        frame.render_widget(typing_line(&self.title, &self.input), prompt);
        frame.render_widget(Line::from(self.help.as_str()).dim(), help);
    }

    fn height(&self) -> u16 {
        3
    }
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::KeyEvent;

    use super::*;
    use crate::picker::testing::{ctrl, last_outcome, plain};

    #[test]
    fn keys() {
        use KeyCode::{Backspace, Char, Enter, Esc};
        let (ctrl_u, ctrl_c) = (ctrl('u'), ctrl('c'));
        // (pre-filled, keys, outcome after the last)
        let cases: &[(&str, &[KeyEvent], Outcome)] = &[
            ("shell", &[plain(Enter)], Outcome::Chosen("shell".into())),
            (
                "shell",
                &[plain(Char('-')), plain(Char('2')), plain(Enter)],
                Outcome::Chosen("shell-2".into()),
            ),
            (
                "shell",
                &[plain(Backspace), plain(Backspace), plain(Enter)],
                Outcome::Chosen("she".into()),
            ),
            (
                "/proj",
                &[ctrl_u, plain(Char('x')), plain(Enter)],
                Outcome::Chosen("x".into()),
            ),
            ("/proj", &[ctrl_u, plain(Enter)], Outcome::Chosen("".into())),
            ("  a b  ", &[plain(Enter)], Outcome::Chosen("a b".into())),
            ("shell", &[plain(Char('x'))], Outcome::Pending),
            ("shell", &[plain(Esc)], Outcome::Cancelled),
            ("shell", &[ctrl_c], Outcome::Cancelled),
        ];
        for (initial, keys, want) in cases {
            let last = last_outcome(&mut Prompt::new("label", initial), keys.iter().copied());
            assert_eq!(&last, want, "{initial:?} {keys:?}");
        }
    }

    #[test]
    fn render_snapshot() {
        let p = Prompt::new("label", "shell-2").with_message("\"shell\" is already in use");
        let mut term = Terminal::new(TestBackend::new(50, 3)).unwrap();
        term.draw(|f| p.render_in(f, f.area())).unwrap();
        insta::assert_snapshot!(term.backend());
    }
}
