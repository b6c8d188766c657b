//! `bot-bottle` with no verb: open the dedicated tmux session (made if
//! missing) with the dashboard, and attach to it; `--detach` only makes it.
//! `bot-bottle dashboard` is what runs in its first pane.

use std::io::IsTerminal;
use std::process::ExitCode;

use super::{Failure, home_and_cwd};
use crate::backend;
use crate::backend::docker::compose;
use crate::dashboard::runtime;
use crate::tmux::session;

pub(super) fn open(detach: bool) -> Result<ExitCode, Failure> {
    let (home, cwd) = home_and_cwd()?;
    let socket = session::socket_name();
    if !detach && inside(&socket) {
        eprintln!(
            "bot-bottle: this is bot-bottle's session already; prefix b jumps to the dashboard"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let size = ratatui::crossterm::terminal::size().unwrap_or((200, 50));
    let made = session::bootstrap(&home, &socket, &cwd, size).map_err(|e| {
        let mut failure = Failure::from(e);
        failure.hint = Some(match failure.hint.take() {
            Some(hint) => format!("{hint}\n  hint: {DOCTOR}"),
            None => DOCTOR.into(),
        });
        failure
    })?;
    if made && let Some(missing) = setup_missing() {
        eprintln!("bot-bottle: {missing}, so no bottle can start here yet: {DOCTOR}");
    }
    let attach = session::attach_command_line(&socket);
    if detach {
        let what = if made { "made" } else { "already there" };
        eprintln!("bot-bottle: session {what}; attach with: {attach}");
        return Ok(ExitCode::SUCCESS);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(
            "the session needs a terminal to attach to",
            Some(format!(
                "use `bot-bottle --detach`, then `{attach}` from a terminal"
            )),
        ));
    }
    Err(session::attach(&socket).into())
}

const DOCTOR: &str = "run `bot-bottle doctor` to check this machine";

/// On the first run: what bottles need and this machine lacks, found
/// quickly (a backend's programs, compose), or nothing.
fn setup_missing() -> Option<String> {
    if backend::available().is_empty() {
        return Some("no backend is available (docker is missing)".into());
    }
    compose::check().err().map(|e| e.to_string())
}

/// Whether this runs inside the session's own tmux server (attaching there
/// would show the session inside itself).
fn inside(socket: &str) -> bool {
    let tmux = std::env::var("TMUX").unwrap_or_default();
    let path = tmux.split(',').next().unwrap_or("");
    std::path::Path::new(path)
        .file_name()
        .is_some_and(|name| name == socket)
}

pub(super) fn dashboard() -> Result<ExitCode, Failure> {
    let (home, cwd) = home_and_cwd()?;
    runtime::run(home, cwd)?;
    Ok(ExitCode::SUCCESS)
}
