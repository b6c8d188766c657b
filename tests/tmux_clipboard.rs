//! What an agent prints stays in its pane: with real tmux, an "outer"
//! server on a private socket stands for the operator's terminal (its
//! clipboard on, as a user's tmux may have it), and one of its panes runs
//! a client attached to an "inner" server configured as bot-bottle
//! configures it. A pane of the inner server prints clipboard escapes
//! (OSC 52, plain and wrapped in DCS passthrough), a title and a window
//! name; nothing may reach the inner server's buffers or the outer one.
//! Each test also shows the same output DOES get through when the inner
//! server is configured permissively, so it can fail. Every server a test
//! starts is killed on drop, even when it fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

mod support;

use bot_bottle::dashboard::panes::Panes;
use bot_bottle::tmux::client::{Client, Target};
use bot_bottle::tmux::control::{PaneId, WindowId};
use support::needs::require_tmux;
use support::unique;
use support::wait::wait_for;

/// A tmux server on a private socket; killed on drop.
struct Server {
    socket: String,
}

impl Server {
    /// Starts a server with `conf` and one session `name` running `command`.
    fn start(conf: &Path, name: &str, size: (u16, u16), command: &str) -> Server {
        let server = Server {
            socket: unique("bbtest-clip"),
        };
        support::succeed(
            Command::new("tmux")
                .args(["-L", &server.socket, "-f"])
                .arg(conf)
                .args(["new-session", "-d", "-s", name, "-x"])
                .arg(size.0.to_string())
                .arg("-y")
                .arg(size.1.to_string())
                .arg(command)
                .env_remove("TMUX"),
        );
        server
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    fn tmux(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.run(args).stdout)
            .trim_end()
            .to_owned()
    }

    fn buffers(&self) -> String {
        self.tmux(&["list-buffers", "-F", "#{buffer_sample}"])
    }

    /// Types a shell command into `pane` that prints `bytes` (as printf
    /// octal escapes, so the command line itself holds no escape).
    fn print(&self, pane: &str, bytes: &[u8]) {
        let escaped: String = bytes.iter().map(|b| format!("\\{b:03o}")).collect();
        self.tmux(&[
            "send-keys",
            "-t",
            pane,
            &format!("printf '{escaped}'"),
            "Enter",
        ]);
    }
}

impl Drop for Server {
    /// Kills the server, and removes the socket file tmux 3.3 leaves.
    fn drop(&mut self) {
        let path = self.tmux(&["display-message", "-p", "#{socket_path}"]);
        let _ = self.run(&["kill-server"]);
        if !path.is_empty() {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn conf(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn shipped_conf() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tmux/bot-bottle.conf")
}

/// What a user's own tmux may have on: everything this test probes.
const PERMISSIVE: &str = "\
set -s set-clipboard on
set -g allow-passthrough on
set -g set-titles on
set -g set-titles-string '#T'
set -g allow-rename on
";

/// The operator's terminal: an outer server whose one pane is a client of
/// `inner`'s session `session`. Its clipboard is on, and it looks like an
/// xterm to the inner server (which then sends clipboard escapes on).
fn terminal(dir: &Path, inner: &Server, session: &str) -> Server {
    let conf = conf(
        dir,
        "outer.conf",
        "set -s set-clipboard on\nset -g default-terminal xterm-256color\nset -g status off\n",
    );
    let attach = format!("env -u TMUX tmux -L {} attach -t {session}", inner.socket);
    let outer = Server::start(&conf, "outer", (100, 30), &attach);
    wait_for("the inner client", Duration::from_secs(10), || {
        !inner
            .tmux(&["list-clients", "-F", "#{client_name}"])
            .is_empty()
    });
    outer
}

/// The escapes, each carrying a marker.
fn osc52(marker: &str) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(marker);
    format!("\x1b]52;c;{b64}\x07").into_bytes()
}

fn passthrough(inner: &[u8]) -> Vec<u8> {
    let mut out = b"\x1bPtmux;".to_vec();
    for &b in inner {
        if b == 0x1b {
            out.push(0x1b);
        }
        out.push(b);
    }
    out.extend_from_slice(b"\x1b\\");
    out
}

fn title(marker: &str) -> Vec<u8> {
    format!("\x1b]2;{marker}\x07").into_bytes()
}

fn rename(marker: &str) -> Vec<u8> {
    format!("\x1bk{marker}\x1b\\").into_bytes()
}

/// Prints every escape in `pane` of `inner`, then says what got out, after
/// waiting until the `done` marker (printed last) is on the pane's screen.
fn probe(inner: &Server, outer: &Server, pane: &str, tag: &str) -> Leaks {
    let (plain, wrapped, titled, named) = (
        format!("plain-{tag}"),
        format!("wrapped-{tag}"),
        format!("title-{tag}"),
        format!("name-{tag}"),
    );
    inner.print(pane, &osc52(&plain));
    inner.print(pane, &passthrough(&osc52(&wrapped)));
    inner.print(pane, &title(&titled));
    inner.print(pane, &rename(&named));
    let done = format!("done-{tag}");
    inner.print(pane, done.as_bytes());
    // The command line holds only octal escapes: the marker on screen is
    // the output.
    wait_for("the probe to be printed", Duration::from_secs(10), || {
        inner
            .tmux(&["capture-pane", "-p", "-t", pane])
            .contains(&done)
    });
    // The client passes on what its server sent in order: once the marker
    // is on the outer screen, whatever came before it has been through.
    wait_for(
        "the probe on the operator's screen",
        Duration::from_secs(10),
        || {
            outer
                .tmux(&["capture-pane", "-p", "-t", "outer:"])
                .contains(&done)
        },
    );
    let outer_buffers = outer.buffers();
    let inner_buffers = inner.buffers();
    let outer_title = outer.tmux(&["display-message", "-p", "-t", "outer:", "#{pane_title}"]);
    let windows = inner.tmux(&["list-windows", "-a", "-F", "#{window_name}"]);
    Leaks {
        inner_clipboard: inner_buffers.contains(&plain) || inner_buffers.contains(&wrapped),
        outer_clipboard_plain: outer_buffers.contains(&plain),
        outer_clipboard_wrapped: outer_buffers.contains(&wrapped),
        outer_title: outer_title.contains(&titled),
        window_name: windows.contains(&named),
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Leaks {
    inner_clipboard: bool,
    outer_clipboard_plain: bool,
    outer_clipboard_wrapped: bool,
    outer_title: bool,
    window_name: bool,
}

const ALL: Leaks = Leaks {
    inner_clipboard: true,
    outer_clipboard_plain: true,
    outer_clipboard_wrapped: true,
    outer_title: true,
    window_name: true,
};

#[test]
#[cfg_attr(skip_tmux, ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
fn the_conf_keeps_agent_output_off_the_clipboard_and_the_terminal() {
    require_tmux();
    let dir = tempfile::tempdir().unwrap();
    let ours = shipped_conf().display().to_string();
    let cases = [
        (
            "a permissive tmux, without bot-bottle's conf (the test's teeth)",
            PERMISSIVE.to_owned(),
            ALL,
        ),
        (
            "the same tmux with bot-bottle's conf sourced (as in its own server)",
            format!("{PERMISSIVE}source-file '{ours}'\n"),
            Leaks::default(),
        ),
    ];
    for (i, (name, text, want)) in cases.into_iter().enumerate() {
        let conf = conf(dir.path(), &format!("inner-{i}.conf"), &text);
        let inner = Server::start(&conf, "agent", (80, 20), "sh");
        let outer = terminal(dir.path(), &inner, "agent");
        let leaks = probe(&inner, &outer, "agent:", &format!("c{i}"));
        assert_eq!(leaks, want, "{name}");
        if want == Leaks::default() {
            assert!(
                !outer.run(&["show-buffer"]).status.success(),
                "{name}: the outer clipboard is empty"
            );
            assert_eq!(
                inner.buffers(),
                "",
                "{name}: no buffer in bot-bottle's server"
            );
        }
    }
}

/// A user who sources the conf into their own tmux and turns passthrough
/// and renaming back on after it: the panes the dashboard makes still
/// refuse them (set-clipboard is a server option: theirs to keep off).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_tmux, ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
async fn panes_the_dashboard_makes_refuse_passthrough_whatever_the_global() {
    require_tmux();
    let dir = tempfile::tempdir().unwrap();
    let ours = shipped_conf().display().to_string();
    let conf = conf(
        dir.path(),
        "user.conf",
        &format!(
            "{PERMISSIVE}source-file '{ours}'\nset -g allow-passthrough on\nset -g allow-rename on\nset -g set-titles on\n"
        ),
    );
    let inner = Server::start(&conf, "user", (120, 30), "sh");
    let outer = terminal(dir.path(), &inner, "user");
    let dashboard =
        PaneId::parse(&inner.tmux(&["display-message", "-p", "-t", "user:", "#{pane_id}"]))
            .unwrap();
    let window =
        WindowId::parse(&inner.tmux(&["display-message", "-p", "-t", "user:", "#{window_id}"]))
            .unwrap();
    let socket_path = inner.tmux(&["display-message", "-p", "#{socket_path}"]);
    let (client, _events) = Client::connect(Target {
        socket_path,
        session: "user".into(),
    });
    let mut panes = Panes {
        client,
        dashboard,
        window,
        sessions: BTreeMap::new(),
        logs: BTreeMap::new(),
    };
    let off = |pane: PaneId| {
        for option in ["allow-passthrough", "allow-rename"] {
            let value = inner.tmux(&["show-options", "-p", "-v", "-t", &pane.to_string(), option]);
            assert_eq!(value, "off", "{option} on {pane}");
        }
    };
    // A log pane (bring-up), then an agent's session in its place.
    off(panes.show_log("agent-aaaaa", "sh").await.unwrap());
    let shown = panes.show("agent-bbbbb", false, "sh").await.unwrap();
    off(shown);
    // The pane the user made themselves: the global they chose (the teeth).
    let theirs = probe(&inner, &outer, &dashboard.to_string(), "theirs");
    assert!(
        theirs.outer_clipboard_wrapped && theirs.window_name,
        "{theirs:?}"
    );
    let leaks = probe(&inner, &outer, &shown.to_string(), "ours");
    assert!(
        !leaks.outer_clipboard_wrapped && !leaks.window_name,
        "{leaks:?}"
    );
}
