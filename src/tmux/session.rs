//! The dedicated session: `bot-bottle` makes it (or finds it) on a private
//! socket, with the shipped configuration and the dashboard in its first
//! pane, then attaches to it.

use std::path::{Path, PathBuf};

use tmux_interface::{
    AttachSession, HasSession, ListPanes, NewSession, NewWindow, ShowOptions, SourceFile, Tmux,
};

use crate::error::{Explain, UserError};
use crate::exec::{ExecError, TMUX};
use crate::state::{Home, StateError, write_atomic};

const SESSION: &str = "bot-bottle";
/// The configuration, as shipped in `tmux/bot-bottle.conf`.
const CONF: &str = include_str!("../../tmux/bot-bottle.conf");

/// `BOT_BOTTLE_TMUX_SOCKET`, else `bot-bottle` (as in `tmux -L`).
pub(crate) fn socket_name() -> String {
    std::env::var("BOT_BOTTLE_TMUX_SOCKET")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "bot-bottle".into())
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    State(#[from] StateError),
}

impl UserError for SessionError {
    /// Opening the session fails at run time, whatever the cause; the
    /// hint is the cause's.
    fn explain(&self) -> Explain<'_> {
        match self {
            SessionError::Exec(e) => Explain::runtime(e.hint()),
            SessionError::State(e) => Explain::runtime(e.hint()),
        }
    }
}

/// Writes the configuration where tmux can read it.
fn conf_path(home: &Home) -> Result<PathBuf, StateError> {
    let path = home.tmux_conf();
    if std::fs::read_to_string(&path).ok().as_deref() != Some(CONF) {
        write_atomic(&path, CONF.as_bytes(), 0o644)?;
    }
    Ok(path)
}

/// Whether the session is there.
pub(crate) fn exists(socket: &str) -> Result<bool, ExecError> {
    let mut cmd = on(socket, HasSession::new().target_session(SESSION));
    match TMUX.output(&mut cmd) {
        Ok(_) => Ok(true),
        Err(ExecError::Failed { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Makes the session with the dashboard in its first pane, unless it is
/// there. Returns whether it was made.
pub(crate) fn bootstrap(
    home: &Home,
    socket: &str,
    cwd: &Path,
    size: (u16, u16),
) -> Result<bool, SessionError> {
    TMUX.find()?;
    let conf = conf_path(home)?;
    let conf = conf.display().to_string();
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "bot-bottle".into());
    let dashboard = crate::text::shell_join(&[exe, "dashboard".into()]);
    let home_root = home.root.display().to_string();
    let home_env = format!("BOT_BOTTLE_HOME={home_root}");
    if exists(socket)? {
        TMUX.output(&mut on(socket, SourceFile::new().path(conf.as_str())))?;
        if !dashboard_running(socket)? {
            let new_window = NewWindow::new()
                .target_window(format!("{SESSION}:"))
                .window_name("dashboard")
                .environment(home_env.as_str());
            let mut cmd = on(socket, new_window);
            // -c and the command last: the directory is passed as is, not
            // as text.
            cmd.arg("-c").arg(cwd).arg(&dashboard);
            TMUX.output(&mut cmd)?;
        }
        return Ok(false);
    }
    let new_session = NewSession::new()
        .detached()
        .session_name(SESSION)
        .window_name("dashboard")
        .width(usize::from(size.0))
        .height(usize::from(size.1))
        .environment("BOT_BOTTLE_HOME", home_root.as_str());
    let mut cmd = TMUX.command(crate::tmux::args(
        Tmux::new()
            .socket_name(socket)
            .file(conf.as_str())
            .command(new_session),
    ));
    cmd.arg("-c").arg(cwd).arg(dashboard);
    cmd.env_remove("TMUX");
    TMUX.output(&mut cmd)?;
    // A server already running (another session on the socket) did not read -f.
    TMUX.output(&mut on(socket, SourceFile::new().path(conf.as_str())))?;
    Ok(true)
}

/// `tmux -L socket COMMAND`, to run with `TMUX`.
fn on<'a>(
    socket: &'a str,
    command: impl Into<tmux_interface::TmuxCommand<'a>>,
) -> std::process::Command {
    TMUX.command(crate::tmux::args(
        Tmux::new().socket_name(socket).command(command),
    ))
}

/// Whether the pane the dashboard said it runs in is alive.
fn dashboard_running(socket: &str) -> Result<bool, ExecError> {
    let mut cmd = on(
        socket,
        ShowOptions::new()
            .value()
            .target_pane(SESSION)
            .option(crate::contract::tmux::DASHBOARD_PANE),
    );
    let pane = match TMUX.output(&mut cmd) {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        Err(ExecError::Failed { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    if pane.is_empty() {
        return Ok(false);
    }
    let out = TMUX.output(&mut on(
        socket,
        ListPanes::new().all().format("#{pane_id} #{pane_dead}"),
    ))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l == format!("{pane} 0")))
}

/// Attaches this terminal to the session; replaces this process. From
/// inside another tmux too: the session is on its own socket.
pub(crate) fn attach(socket: &str) -> ExecError {
    let mut cmd = on(socket, attach_session());
    cmd.env_remove("TMUX");
    TMUX.exec(&mut cmd)
}

fn attach_session() -> AttachSession<'static> {
    AttachSession::new().target_session(SESSION)
}

/// The shell command that attaches a terminal to the session, to show
/// the user.
pub(crate) fn attach_command_line(socket: &str) -> String {
    let mut words = vec![TMUX.name.to_owned()];
    words.extend(crate::tmux::args(
        Tmux::new().socket_name(socket).command(attach_session()),
    ));
    crate::text::shell_join(&words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attach_line_quotes_the_socket() {
        assert_eq!(
            attach_command_line("bot-bottle"),
            "tmux -L bot-bottle attach-session -t bot-bottle"
        );
        assert_eq!(
            attach_command_line("my socket"),
            "tmux -L 'my socket' attach-session -t bot-bottle"
        );
    }

    #[test]
    fn the_shipped_conf_is_the_one_on_disk() {
        let on_disk =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tmux/bot-bottle.conf"))
                .unwrap();
        assert_eq!(on_disk, CONF);
        assert!(CONF.contains("@bb_pending") && CONF.contains("bind-key P"));
    }
}
