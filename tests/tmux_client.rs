//! The control-mode client against the real tmux: replies in order,
//! notifications, errors, and reconnecting when the connection drops.

use std::process::Command;
use std::time::Duration;

use bot_bottle::tmux::client::{Client, ClientError, Event, Target};
use bot_bottle::tmux::command;
use bot_bottle::tmux::control::Notification;

struct Server(String);

impl Server {
    /// A tmux server on a private socket, with one session `c`. Its
    /// tests carry `#[cfg_attr(skip_tmux, ignore = …)]`: without the
    /// opt-out, a missing tmux is a failure.
    fn start() -> Server {
        let name = format!("bb-client-{}", std::process::id());
        let ok = Command::new("tmux")
            .args([
                "-L",
                &name,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "c",
                "-x",
                "80",
                "-y",
                "24",
            ])
            .status()
            .expect("tmux is missing: install it, or set BOT_BOTTLE_SKIP_TMUX=1 to skip");
        assert!(ok.success());
        Server(name)
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.0)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn socket_path(&self) -> String {
        self.tmux(&["display-message", "-p", "#{socket_path}"])
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

async fn next_output(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    needle: &str,
) -> bool {
    let wait = async {
        while let Some(event) = events.recv().await {
            if let Event::Notification(Notification::Output { data, .. }) = event
                && String::from_utf8_lossy(&data).contains(needle)
            {
                return true;
            }
        }
        false
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .unwrap_or(false)
}

/// Whether `want` comes within 5 s.
async fn next_event(events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>, want: Event) -> bool {
    let wait = async {
        while let Some(event) = events.recv().await {
            if event == want {
                return true;
            }
        }
        false
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_tmux, ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
async fn commands_notifications_and_reconnecting() {
    let server = Server::start();
    let (client, mut events) = Client::connect(Target {
        socket_path: server.socket_path(),
        session: "c".into(),
    });

    // Replies come back to the command that asked, in order.
    let rows = command::parse_pane_rows(&client.run(&command::list_panes()).await.unwrap());
    assert_eq!(rows.len(), 1);
    let pane = rows[0].pane;
    let made = client
        .run(&command::new_window("second", "sleep 30"))
        .await
        .unwrap();
    assert!(made[0].starts_with('%'), "{made:?}");
    let error = client
        .run(&command::kill_pane(bot_bottle::tmux::control::PaneId(9999)))
        .await;
    assert!(matches!(error, Err(ClientError::Failed(_))), "{error:?}");

    // Output arrives as notifications.
    server.tmux(&[
        "send-keys",
        "-t",
        &pane.to_string(),
        "echo first-marker",
        "Enter",
    ]);
    assert!(next_output(&mut events, "first-marker").await);

    // The connection drops (its client is detached): it is made again.
    let clients = server.tmux(&[
        "list-clients",
        "-F",
        "#{client_name} #{client_control_mode}",
    ]);
    let control = clients
        .lines()
        .find(|l| l.ends_with(" 1"))
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    server.tmux(&["detach-client", "-t", &control]);
    assert!(
        next_event(&mut events, Event::Reconnected).await,
        "no reconnection"
    );
    let rows = command::parse_pane_rows(&client.run(&command::list_panes()).await.unwrap());
    assert_eq!(rows.len(), 2, "commands work again");
    server.tmux(&[
        "send-keys",
        "-t",
        &pane.to_string(),
        "echo second-marker",
        "Enter",
    ]);
    assert!(next_output(&mut events, "second-marker").await);

    // The session ends: the client says so and stops.
    server.tmux(&["kill-session", "-t", "c"]);
    assert!(next_event(&mut events, Event::Closed).await);
}
