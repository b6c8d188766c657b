//! tmux commands as typed values, turned into one correctly quoted line
//! each for the control connection. Pure.
//!
//! Every argument is single-quoted (tmux's parser then expands nothing in
//! it); a line break cannot be sent at all. Targets are ids, never names
//! or indexes. Formats that print lines start with an id, so no text an
//! agent controls (a pane title, a window name) can start a reply line.

use std::fmt;

use super::control::{PaneId, WindowId};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tmux argument cannot hold a line break or NUL: {0:?}")]
pub struct QuoteError(pub String);

/// Quotes one argument for tmux's command parser.
pub fn quote(arg: &str) -> Result<String, QuoteError> {
    if arg.contains(['\n', '\r', '\0']) {
        return Err(QuoteError(arg.chars().take(40).collect()));
    }
    Ok(format!("'{}'", arg.replace('\'', r"'\''")))
}

/// A command: its name, then arguments (flags are passed as is, values
/// are quoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    words: Vec<Word>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Word {
    /// A command name or a flag: known text, sent as is.
    Bare(&'static str),
    Value(String),
}

impl Command {
    fn new(name: &'static str) -> Command {
        Command {
            words: vec![Word::Bare(name)],
        }
    }

    fn flag(mut self, flag: &'static str) -> Command {
        self.words.push(Word::Bare(flag));
        self
    }

    fn value(mut self, value: impl fmt::Display) -> Command {
        self.words.push(Word::Value(value.to_string()));
        self
    }

    fn opt(self, flag: &'static str, value: impl fmt::Display) -> Command {
        self.flag(flag).value(value)
    }

    /// The line to send.
    pub fn line(&self) -> Result<String, QuoteError> {
        let words = self
            .words
            .iter()
            .map(|w| match w {
                Word::Bare(text) => Ok((*text).to_owned()),
                Word::Value(value) => quote(value),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(words.join(" "))
    }
}

/// A new detached window running `shell_command`; prints `pane_id`.
pub fn new_window(name: &str, shell_command: &str) -> Command {
    Command::new("new-window")
        .flag("-d")
        .flag("-P")
        .opt("-F", "#{pane_id}")
        .opt("-n", name)
        .value(shell_command)
}

/// Moves `pane` beside `target` (to its right, `percent` of the width).
pub fn join_pane(pane: PaneId, target: PaneId, percent: u8) -> Command {
    Command::new("join-pane")
        .flag("-d")
        .flag("-h")
        .opt("-l", format!("{percent}%"))
        .opt("-s", pane)
        .opt("-t", target)
}

/// Moves `pane` out to a window of its own, in the background.
pub fn break_pane(pane: PaneId, name: &str) -> Command {
    Command::new("break-pane")
        .flag("-d")
        .opt("-n", name)
        .opt("-s", pane)
}

pub fn respawn_pane(pane: PaneId, shell_command: &str) -> Command {
    Command::new("respawn-pane")
        .flag("-k")
        .opt("-t", pane)
        .value(shell_command)
}

pub fn kill_pane(pane: PaneId) -> Command {
    Command::new("kill-pane").opt("-t", pane)
}

pub fn select_pane(pane: PaneId) -> Command {
    Command::new("select-pane").opt("-t", pane)
}

pub fn select_window(window: WindowId) -> Command {
    Command::new("select-window").opt("-t", window)
}

/// Sets a user option (`@name`) on a pane.
pub fn set_pane_option(pane: PaneId, name: &str, value: &str) -> Command {
    Command::new("set-option")
        .flag("-p")
        .opt("-t", pane)
        .value(name)
        .value(value)
}

/// Sets a user option (`@name`) on the session of `pane`.
pub fn set_session_option(pane: PaneId, name: &str, value: &str) -> Command {
    Command::new("set-option")
        .opt("-t", pane)
        .value(name)
        .value(value)
}

/// Every pane of the server: `PANE_ID WINDOW_ID DEAD @bb_slug` per line.
/// The id comes first, so an agent's text never starts a line.
pub fn list_panes() -> Command {
    Command::new("list-panes")
        .flag("-a")
        .opt("-F", "#{pane_id} #{window_id} #{pane_dead} #{@bb_slug}")
}

/// One row of `list_panes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaneRow {
    pub pane: PaneId,
    pub window: WindowId,
    pub dead: bool,
    /// The bottle whose session this pane is, if any.
    pub slug: Option<String>,
}

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
pub fn pane_place(pane: PaneId) -> Command {
    Command::new("display-message")
        .flag("-p")
        .opt("-t", pane)
        .value("#{window_id} #{session_id}")
}

#[cfg(test)]
mod tests {
    use std::process::{Command as Process, Stdio};

    use super::*;

    #[test]
    fn lines() {
        assert_eq!(
            new_window("shell-ab12c", "bot-bottle attach 'shell-ab12c'")
                .line()
                .unwrap(),
            r#"new-window -d -P -F '#{pane_id}' -n 'shell-ab12c' 'bot-bottle attach '\''shell-ab12c'\'''"#
        );
        assert_eq!(
            join_pane(PaneId(4), PaneId(0), 70).line().unwrap(),
            "join-pane -d -h -l '70%' -s '%4' -t '%0'"
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
    /// back. Needs tmux (BOT_BOTTLE_SKIP_TMUX=1 skips).
    #[test]
    fn quoting_survives_the_real_tmux() {
        if std::env::var("BOT_BOTTLE_SKIP_TMUX").is_ok_and(|v| v == "1") {
            eprintln!("skipped quoting_survives_the_real_tmux: BOT_BOTTLE_SKIP_TMUX=1");
            return;
        }
        let socket = format!("bb-quote-{}", std::process::id());
        struct Server(String);
        impl Drop for Server {
            fn drop(&mut self) {
                let _ = Process::new("tmux")
                    .args(["-L", &self.0, "kill-server"])
                    .output();
            }
        }
        let started = Process::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "q",
            ])
            .status()
            .expect("tmux is missing: install it, or set BOT_BOTTLE_SKIP_TMUX=1 to skip");
        assert!(started.success());
        let _server = Server(socket.clone());
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
            let set = Command::new("set-option")
                .flag("-g")
                .value(format!("@v{i}"))
                .value(*value);
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
