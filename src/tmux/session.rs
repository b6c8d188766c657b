//! The dedicated session: `bot-bottle` makes it (or finds it) on a private
//! socket, with the shipped configuration and the dashboard in its first
//! pane, then attaches to it.

use std::path::{Path, PathBuf};

use crate::exec::{ExecError, TMUX};
use crate::state::{Home, StateError, write_atomic};

pub const SESSION: &str = "bot-bottle";
/// The configuration, as shipped in `tmux/bot-bottle.conf`.
pub const CONF: &str = include_str!("../../tmux/bot-bottle.conf");

/// `BOT_BOTTLE_TMUX_SOCKET`, else `bot-bottle` (as in `tmux -L`).
pub fn socket_name() -> String {
    std::env::var("BOT_BOTTLE_TMUX_SOCKET")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "bot-bottle".into())
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    State(#[from] StateError),
}

impl SessionError {
    pub fn hint(&self) -> Option<String> {
        match self {
            SessionError::Exec(e) => e.hint(),
            SessionError::State(e) => e.hint(),
        }
    }
}

/// Writes the configuration where tmux can read it.
pub fn conf_path(home: &Home) -> Result<PathBuf, StateError> {
    let path = home.root.join("tmux").join("bot-bottle.conf");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(CONF) {
        write_atomic(&path, CONF.as_bytes(), 0o644)?;
    }
    Ok(path)
}

/// Whether the session is there.
pub fn exists(socket: &str) -> Result<bool, ExecError> {
    let mut cmd = TMUX.command(["-L", socket, "has-session", "-t", SESSION]);
    match TMUX.output(&mut cmd) {
        Ok(_) => Ok(true),
        Err(ExecError::Failed { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Makes the session with the dashboard in its first pane, unless it is
/// there. Returns whether it was made.
pub fn bootstrap(
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
    let dashboard = crate::provider::shell_join(&[exe, "dashboard".into()]);
    let home_env = format!("BOT_BOTTLE_HOME={}", home.root.display());
    if exists(socket)? {
        TMUX.output(&mut TMUX.command(["-L", socket, "source-file", &conf]))?;
        if !dashboard_running(socket)? {
            let mut cmd = TMUX.command([
                "-L",
                socket,
                "new-window",
                "-t",
                &format!("{SESSION}:"),
                "-n",
                "dashboard",
            ]);
            cmd.args(["-e", &home_env, "-c"]).arg(cwd).arg(&dashboard);
            TMUX.output(&mut cmd)?;
        }
        return Ok(false);
    }
    let (width, height) = (size.0.to_string(), size.1.to_string());
    let mut cmd = TMUX.command([
        "-L",
        socket,
        "-f",
        &conf,
        "new-session",
        "-d",
        "-s",
        SESSION,
        "-n",
        "dashboard",
    ]);
    cmd.args(["-x", &width, "-y", &height, "-e", &home_env, "-c"])
        .arg(cwd)
        .arg(dashboard);
    cmd.env_remove("TMUX");
    TMUX.output(&mut cmd)?;
    // A server already running (another session on the socket) did not read -f.
    TMUX.output(&mut TMUX.command(["-L", socket, "source-file", &conf]))?;
    Ok(true)
}

/// Whether the pane the dashboard said it runs in is alive.
fn dashboard_running(socket: &str) -> Result<bool, ExecError> {
    let mut cmd = TMUX.command([
        "-L",
        socket,
        "show-options",
        "-v",
        "-t",
        SESSION,
        "@bb_dashboard_pane",
    ]);
    let pane = match TMUX.output(&mut cmd) {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        Err(ExecError::Failed { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    if pane.is_empty() {
        return Ok(false);
    }
    let out = TMUX.output(&mut TMUX.command([
        "-L",
        socket,
        "list-panes",
        "-a",
        "-F",
        "#{pane_id} #{pane_dead}",
    ]))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l == format!("{pane} 0")))
}

/// Attaches this terminal to the session; replaces this process. From
/// inside another tmux too: the session is on its own socket.
pub fn attach(socket: &str) -> ExecError {
    let mut cmd = TMUX.command(["-L", socket, "attach-session", "-t", SESSION]);
    cmd.env_remove("TMUX");
    TMUX.exec(&mut cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_conf_is_the_one_on_disk() {
        let on_disk =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tmux/bot-bottle.conf"))
                .unwrap();
        assert_eq!(on_disk, CONF);
        assert!(CONF.contains("@bb_pending") && CONF.contains("bind-key P"));
    }
}
