//! Colour on or off, by <https://no-color.org>: `NO_COLOR` set to anything
//! but the empty string turns colour off, in the CLI's output and in the
//! dashboard (which keeps bold and reverse, so the selection still shows).

use std::ffi::OsStr;
use std::sync::OnceLock;

/// Whether colour may be used: `no_color` is `NO_COLOR`'s value, `tty`
/// whether the output is a terminal (escapes never go into a pipe).
pub(crate) fn allowed(no_color: Option<&OsStr>, tty: bool) -> bool {
    tty && no_color.is_none_or(OsStr::is_empty)
}

/// Whether `NO_COLOR` leaves colour on, read once per process.
pub(crate) fn env_allows() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| allowed(std::env::var_os("NO_COLOR").as_deref(), true))
}

/// Whether stdout gets colour: a terminal, and `NO_COLOR` allows it.
pub(crate) fn stdout() -> bool {
    use std::io::IsTerminal;
    env_allows() && std::io::stdout().is_terminal()
}

/// The colours the CLI paints with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Colour {
    Red,
    Green,
    Yellow,
}

/// `text` in `colour` when `on`, else `text` as it is.
pub(crate) fn paint(text: &str, colour: Colour, on: bool) -> String {
    if !on {
        return text.to_owned();
    }
    let code = match colour {
        Colour::Red => 31,
        Colour::Green => 32,
        Colour::Yellow => 33,
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Takes every colour out of a drawn frame, keeping bold, reverse and the
/// other modifiers.
pub(crate) fn strip(buffer: &mut ratatui::buffer::Buffer) {
    use ratatui::style::Color;
    for cell in buffer.content.iter_mut() {
        cell.set_fg(Color::Reset);
        cell.set_bg(Color::Reset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_set_and_non_empty_turns_colour_off() {
        let cases: &[(Option<&str>, bool, bool)] = &[
            (None, true, true),
            (Some(""), true, true),
            (Some("1"), true, false),
            (Some("0"), true, false),
            (Some("yes"), true, false),
            (None, false, false),
            (Some(""), false, false),
        ];
        for (no_color, tty, want) in cases {
            assert_eq!(
                allowed(no_color.map(OsStr::new), *tty),
                *want,
                "NO_COLOR={no_color:?} tty={tty}"
            );
        }
    }

    #[test]
    fn paint_only_when_on() {
        assert_eq!(paint("ok", Colour::Green, true), "\x1b[32mok\x1b[0m");
        assert_eq!(paint("ok", Colour::Green, false), "ok");
    }

    #[test]
    fn strip_keeps_modifiers() {
        use ratatui::buffer::Buffer;
        use ratatui::layout::Rect;
        use ratatui::style::{Color, Modifier, Style};
        let mut buf = Buffer::empty(Rect::new(0, 0, 3, 1));
        buf.set_string(
            0,
            0,
            "abc",
            Style::new()
                .fg(Color::Green)
                .bg(Color::Blue)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        );
        strip(&mut buf);
        for cell in &buf.content {
            assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset));
            assert!(cell.modifier.contains(Modifier::BOLD | Modifier::REVERSED));
        }
    }
}
