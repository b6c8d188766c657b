//! tmux: the dedicated session and its control-mode connection.

pub mod client;
pub mod command;
pub mod control;
pub(crate) mod session;

/// The arguments of one `tmux` run, as `tmux_interface` builds it
/// (global flags, then the command), without the program name: for
/// `exec::TMUX.command`, which runs the tmux the environment names.
pub fn args(tmux: tmux_interface::Tmux<'_>) -> Vec<String> {
    tmux.build()
        .to_vec()
        .into_iter()
        .skip(1)
        .map(|w| w.into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use tmux_interface::{HasSession, KillServer, Tmux};

    #[test]
    fn args_leave_out_the_program() {
        let tmux = Tmux::new()
            .socket_name("bb")
            .command(HasSession::new().target_session("s"));
        assert_eq!(super::args(tmux), ["-L", "bb", "has-session", "-t", "s"]);
        let tmux = Tmux::new().socket_path("/p").command(KillServer::new());
        assert_eq!(super::args(tmux), ["-S", "/p", "kill-server"]);
    }
}
