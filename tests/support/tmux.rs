//! A tmux server of the test's own, on a private socket.

use std::process::Command;
use std::time::Duration;

use super::unique;
use super::wait::wait_for;

/// A tmux server of the test's own, on a private socket; killed on drop.
pub struct Tmux {
    pub socket: String,
}

impl Tmux {
    pub fn new(prefix: &str) -> Tmux {
        Tmux {
            socket: unique(prefix),
        }
    }

    /// Runs a tmux command on this server (never the caller's own tmux);
    /// its output without trailing whitespace.
    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    }

    /// An option of bot-bottle's session on this server.
    pub fn option(&self, name: &str) -> String {
        self.run(&["show-options", "-v", "-t", "bot-bottle", name])
    }

    /// The dashboard's pane, once bot-bottle has made it (at most 10 s).
    pub fn wait_dashboard(&self) -> String {
        wait_for("the dashboard to start", Duration::from_secs(10), || {
            !self.option("@bb_dashboard_pane").is_empty()
        });
        self.option("@bb_dashboard_pane")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        kill_tmux_server(&self.socket);
    }
}

/// Kills a test's tmux server, and removes the socket file tmux 3.3 leaves.
pub fn kill_tmux_server(socket: &str) {
    let path = Command::new("tmux")
        .args(["-L", socket, "display-message", "-p", "#{socket_path}"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let _ = Command::new("tmux")
        .args(["-L", socket, "kill-server"])
        .output();
    if !path.is_empty() {
        let _ = std::fs::remove_file(path);
    }
}
