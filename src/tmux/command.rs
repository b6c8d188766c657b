//! tmux commands as typed values, turned into one correctly quoted line
//! each for the control connection. Pure.
//!
//! The commands are built with `tmux_interface`'s builders (full command
//! names, one flag a word); `line` quotes them for tmux's own parser, not
//! for sh. The command name and flag words are known text and go as is;
//! every other word is single-quoted (tmux's parser then expands nothing in
//! it), and a line break cannot be sent at all. Targets are ids, never
//! names or indexes. Formats that print lines start with an id, so no text
//! an agent controls (a pane title, a window name) can start a reply line.

use tmux_interface::{
    BreakPane, DisplayMessage, JoinPane, KillPane, ListPanes, NewWindow, RespawnPane, SelectPane,
    SelectWindow, SetOption, TmuxCommand,
};

use super::control::{PaneId, WindowId};
use crate::contract::tmux as options;

/// An argument tmux cannot be given: its start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tmux argument cannot hold a line break or NUL: {0:?}")]
pub struct QuoteError(pub String);

/// Quotes one argument for tmux's command parser. (tmux's parser is not
/// sh: inside single quotes nothing is expanded, and `'\''` closes, adds a
/// quote and reopens, as in sh; a line break ends the command whatever
/// the quoting, so it is refused.)
pub(crate) fn quote(arg: &str) -> Result<String, QuoteError> {
    if arg.contains(['\n', '\r', '\0']) {
        return Err(QuoteError(arg.chars().take(40).collect()));
    }
    Ok(format!("'{}'", arg.replace('\'', r"'\''")))
}

/// A command, as `tmux_interface` builds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command(TmuxCommand<'static>);

impl From<TmuxCommand<'static>> for Command {
    fn from(command: TmuxCommand<'static>) -> Command {
        Command(command)
    }
}

impl Command {
    /// The words, unquoted: the command name first.
    fn words(&self) -> Vec<String> {
        self.0
            .to_vec()
            .into_iter()
            .map(|w| w.into_owned())
            .collect()
    }

    /// The line to send.
    pub fn line(&self) -> Result<String, QuoteError> {
        let words = self
            .words()
            .into_iter()
            .enumerate()
            .map(|(i, word)| {
                if i == 0 || is_flag(&word) {
                    Ok(word)
                } else {
                    quote(&word)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(words.join(" "))
    }
}

/// A flag word (`-d`, `-F`): letters after one dash, nothing tmux's parser
/// would read specially. (A value that looks like this means the same to
/// tmux quoted or not: quoting never hides a word from its flag parser.)
fn is_flag(word: &str) -> bool {
    word.strip_prefix('-')
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphabetic()))
}

/// A new detached window running `shell_command`; prints `pane_id`.
pub fn new_window(name: &str, shell_command: &str) -> Command {
    NewWindow::new()
        .detached()
        .print()
        .format("#{pane_id}")
        .window_name(name.to_owned())
        .shell_command(shell_command.to_owned())
        .build()
        .into()
}

/// Moves `pane` beside `target` (to its right, `percent` of the width).
pub(crate) fn join_pane(pane: PaneId, target: PaneId, percent: u8) -> Command {
    let mut command = JoinPane::new()
        .detached()
        .horizontal()
        .src_pane(pane.to_string())
        .dst_pane(target.to_string())
        .build();
    // The builder writes a percentage as `-p N`, which tmux 3.1 replaced
    // with `-l N%`.
    command.push_option("-l", format!("{percent}%"));
    command.into()
}

/// Moves `pane` out to a window of its own, in the background.
pub(crate) fn break_pane(pane: PaneId, name: &str) -> Command {
    BreakPane::new()
        .detached()
        .window_name(name.to_owned())
        .src_pane(pane.to_string())
        .build()
        .into()
}

pub(crate) fn respawn_pane(pane: PaneId, shell_command: &str) -> Command {
    RespawnPane::new()
        .kill()
        .target_pane(pane.to_string())
        .shell_command(shell_command.to_owned())
        .build()
        .into()
}

/// Closes `pane`, and whatever runs in it.
pub fn kill_pane(pane: PaneId) -> Command {
    KillPane::new().target_pane(pane.to_string()).build().into()
}

pub(crate) fn select_pane(pane: PaneId) -> Command {
    SelectPane::new()
        .target_pane(pane.to_string())
        .build()
        .into()
}

pub(crate) fn select_window(window: WindowId) -> Command {
    SelectWindow::new()
        .target_window(window.to_string())
        .build()
        .into()
}

/// Sets a user option (`@name`) on a pane.
pub(crate) fn set_pane_option(pane: PaneId, name: &str, value: &str) -> Command {
    SetOption::new()
        .pane()
        .target_pane(pane.to_string())
        .option(name.to_owned())
        .value(value.to_owned())
        .build()
        .into()
}

/// Sets a user option (`@name`) on the session of `pane`.
pub(crate) fn set_session_option(pane: PaneId, name: &str, value: &str) -> Command {
    SetOption::new()
        .target_pane(pane.to_string())
        .option(name.to_owned())
        .value(value.to_owned())
        .build()
        .into()
}

/// Every pane of the server: `PANE_ID WINDOW_ID DEAD @bb_slug` per line.
/// The id comes first, so an agent's text never starts a line.
pub fn list_panes() -> Command {
    ListPanes::new()
        .all()
        .format(format!(
            "#{{pane_id}} #{{window_id}} #{{pane_dead}} #{{{}}}",
            options::SLUG
        ))
        .build()
        .into()
}

/// One row of `list_panes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaneRow {
    /// The pane.
    pub pane: PaneId,
    /// Its window.
    pub window: WindowId,
    /// Whether what ran in it has ended (the pane stays, as remain-on-exit).
    pub dead: bool,
    /// The bottle whose session this pane is, if any.
    pub slug: Option<String>,
}

/// The rows of `list_panes`' output; a line that is not one is skipped.
pub fn parse_pane_rows(lines: &[String]) -> Vec<PaneRow> {
    lines
        .iter()
        .filter_map(|l| {
            let mut it = l.splitn(4, ' ');
            let pane = PaneId::parse(it.next()?)?;
            let window = WindowId::parse(it.next()?)?;
            let dead = it.next()? == "1";
            let slug = it
                .next()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            Some(PaneRow {
                pane,
                window,
                dead,
                slug,
            })
        })
        .collect()
}

/// The window a pane is in, and the session: `WINDOW_ID SESSION_ID`.
pub(crate) fn pane_place(pane: PaneId) -> Command {
    DisplayMessage::new()
        .print()
        .target_pane(pane.to_string())
        .message("#{window_id} #{session_id}")
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use std::process::{Command as Process, Stdio};

    use tmux_interface::{KillServer, NewSession, Tmux};

    use super::*;

    #[test]
    fn lines() {
        assert_eq!(
            new_window("shell-ab12c", "bot-bottle attach 'shell-ab12c'")
                .line()
                .unwrap(),
            r#"new-window -d -P -F '#{pane_id}' -n 'shell-ab12c' 'bot-bottle attach '\''shell-ab12c'\'''"#
        );
        // -l after -s and -t: the same to tmux, which reads flags in any
        // order.
        assert_eq!(
            join_pane(PaneId(4), PaneId(0), 70).line().unwrap(),
            "join-pane -d -h -s '%4' -t '%0' -l '70%'"
        );
        let cases = [
            (break_pane(PaneId(4), "w"), "break-pane -d -n 'w' -s '%4'"),
            (
                respawn_pane(PaneId(4), "bot-bottle attach x"),
                "respawn-pane -k -t '%4' 'bot-bottle attach x'",
            ),
            (kill_pane(PaneId(4)), "kill-pane -t '%4'"),
            (select_pane(PaneId(4)), "select-pane -t '%4'"),
            (select_window(WindowId(2)), "select-window -t '@2'"),
            (
                set_pane_option(PaneId(1), "@bb_log", ""),
                "set-option -p -t '%1' '@bb_log' ''",
            ),
            (
                set_session_option(PaneId(1), "@x", "it's"),
                r"set-option -t '%1' '@x' 'it'\''s'",
            ),
            (
                pane_place(PaneId(1)),
                "display-message -p -t '%1' '#{window_id} #{session_id}'",
            ),
        ];
        for (command, want) in cases {
            assert_eq!(command.line().unwrap(), want);
        }
        // A value that looks like a flag is sent bare: the same words to
        // tmux either way.
        assert_eq!(
            set_session_option(PaneId(1), "@x", "-t").line().unwrap(),
            "set-option -t '%1' '@x' -t"
        );
        assert!(set_pane_option(PaneId(1), "@x", "a\nb").line().is_err());
        assert!(
            list_panes().line().unwrap().contains("-F '#{pane_id} "),
            "ids first"
        );
    }

    #[test]
    fn pane_rows() {
        let lines = vec![
            "%0 @0 0 ".to_owned(),
            "%3 @2 1 shell-ab12c".to_owned(),
            "junk".to_owned(),
        ];
        assert_eq!(
            parse_pane_rows(&lines),
            [
                PaneRow {
                    pane: PaneId(0),
                    window: WindowId(0),
                    dead: false,
                    slug: None
                },
                PaneRow {
                    pane: PaneId(3),
                    window: WindowId(2),
                    dead: true,
                    slug: Some("shell-ab12c".into())
                },
            ]
        );
    }

    /// Quoted values reach tmux unchanged: set through control mode, read
    /// back. Needs tmux (BOT_BOTTLE_SKIP_TMUX=1 marks it ignored).
    #[test]
    #[cfg_attr(skip_tmux, ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
    fn quoting_survives_the_real_tmux() {
        let socket = format!("bb-quote-{}", std::process::id());
        let tmux = || Tmux::new().socket_name(socket.clone());
        struct Server(Vec<String>);
        impl Drop for Server {
            fn drop(&mut self) {
                let _ = Process::new("tmux").args(&self.0).output();
            }
        }
        let started = Process::new("tmux")
            .args(crate::tmux::args(
                tmux()
                    .file("/dev/null")
                    .command(NewSession::new().detached().session_name("q")),
            ))
            .status()
            .expect("tmux is missing: install it, or set BOT_BOTTLE_SKIP_TMUX=1 to skip");
        assert!(started.success());
        let _server = Server(crate::tmux::args(tmux().command(KillServer::new())));
        let nasty = [
            "it's",
            "\"double\"",
            "$HOME",
            "~",
            "a;b",
            "x ; kill-server",
            "back\\slash",
            "#{pane_id}",
            "{ }",
            "-t",
            "é ✓",
            "\t",
        ];
        let mut script = String::new();
        for (i, value) in nasty.iter().enumerate() {
            let set: Command = SetOption::new()
                .global()
                .option(format!("@v{i}"))
                .value(*value)
                .build()
                .into();
            script.push_str(&set.line().unwrap());
            script.push('\n');
        }
        let mut child = Process::new("tmux")
            .args(["-L", &socket, "-C", "attach", "-t", "q"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(script.as_bytes()).unwrap();
        stdin.write_all(b"detach-client\n").unwrap();
        drop(stdin);
        child.wait().unwrap();
        for (i, value) in nasty.iter().enumerate() {
            let out = Process::new("tmux")
                .args(["-L", &socket, "show-options", "-gv", &format!("@v{i}")])
                .output()
                .unwrap();
            let got = String::from_utf8_lossy(&out.stdout);
            assert_eq!(got.strip_suffix('\n').unwrap_or(&got), *value, "value {i}");
        }
    }
}
