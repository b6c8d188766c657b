//! The one control-mode connection (`tmux -C`), driven by tokio. Commands
//! go in one per line; replies come back in the order sent (blocks with
//! flags=1, matched FIFO); notifications are passed on. When the
//! connection drops it is made again, and `Event::Reconnected` says so.

use std::collections::VecDeque;
use std::process::Stdio;
use std::time::Duration;

use tmux_interface::{AttachSession, ClientFlags, HasSession, Tmux};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::command::Command;
use super::control::{Event as Wire, Notification, Parser, Reply};
use crate::exec::TMUX;

/// Why a command sent to tmux got no output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// tmux answered with an error: its message.
    #[error("tmux: {0}")]
    Failed(String),
    /// The connection is gone, and with it the answer.
    #[error("the tmux connection is gone")]
    Disconnected,
    /// The command could not be written on one line.
    #[error(transparent)]
    Quote(#[from] super::command::QuoteError),
}

/// What the client passes on besides replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// What tmux reported unasked.
    Notification(Notification),
    /// The connection dropped and was made again: state may have changed.
    Reconnected,
    /// The session is gone; the client stopped.
    Closed,
}

/// Where to connect: a server (by its socket path, as `$TMUX` names it)
/// and a session on it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server's socket.
    pub socket_path: String,
    /// The session to attach to.
    pub session: String,
}

type Pending = oneshot::Sender<Result<Vec<String>, ClientError>>;

/// A tmux control-mode connection that runs commands and reconnects when
/// it drops; cheap to clone, every clone the same connection.
#[derive(Clone)]
pub struct Client {
    requests: mpsc::UnboundedSender<(String, Pending)>,
}

impl Client {
    /// Connects; notifications arrive on the returned receiver.
    pub fn connect(target: Target) -> (Client, mpsc::UnboundedReceiver<Event>) {
        let (requests, rx) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        tokio::spawn(drive(target, rx, events));
        (Client { requests }, events_rx)
    }

    /// Runs a command; returns its output lines.
    pub async fn run(&self, command: &Command) -> Result<Vec<String>, ClientError> {
        let line = command.line()?;
        let (tx, rx) = oneshot::channel();
        self.requests
            .send((line, tx))
            .map_err(|_| ClientError::Disconnected)?;
        rx.await.map_err(|_| ClientError::Disconnected)?
    }
}

async fn drive(
    target: Target,
    mut requests: mpsc::UnboundedReceiver<(String, Pending)>,
    events: mpsc::UnboundedSender<Event>,
) {
    let mut first = true;
    loop {
        let ended = session(&target, &mut requests, &events).await;
        if ended == End::Requests || !session_exists(&target).await {
            let _ = events.send(Event::Closed);
            return;
        }
        if !first || ended == End::Dropped {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = events.send(Event::Reconnected);
        }
        first = false;
    }
}

#[derive(Debug, PartialEq, Eq)]
enum End {
    /// Nobody can send commands any more.
    Requests,
    /// tmux said %exit, or the pipe closed.
    Dropped,
}

async fn session(
    target: &Target,
    requests: &mut mpsc::UnboundedReceiver<(String, Pending)>,
    events: &mpsc::UnboundedSender<Event>,
) -> End {
    let child = TMUX
        .async_command(control_args(target))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = child else {
        tokio::time::sleep(Duration::from_secs(1)).await;
        return End::Dropped;
    };
    let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return End::Dropped;
    };
    let mut parser = Parser::new();
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut buf = vec![0u8; 64 * 1024];
    let end = loop {
        tokio::select! {
            request = requests.recv() => {
                let Some((line, reply)) = request else { break End::Requests };
                if stdin.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                    let _ = reply.send(Err(ClientError::Disconnected));
                    break End::Dropped;
                }
                pending.push_back(reply);
            }
            read = stdout.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => break End::Dropped,
                    Ok(n) => n,
                };
                let mut exited = false;
                for event in parser.feed(&buf[..n]) {
                    match event {
                        Wire::Reply(reply) if reply.from_client => {
                            if let Some(waiter) = pending.pop_front() {
                                let _ = waiter.send(result(reply));
                            }
                        }
                        Wire::Reply(_) | Wire::Stray(_) => {}
                        Wire::Notification(n) => {
                            let _ = events.send(Event::Notification(n));
                        }
                        Wire::Exit(_) => exited = true,
                    }
                }
                if exited {
                    break End::Dropped;
                }
            }
        }
    };
    for waiter in pending {
        let _ = waiter.send(Err(ClientError::Disconnected));
    }
    let _ = child.kill().await;
    end
}

/// `tmux -S SOCKET -C attach-session …`: the control-mode connection.
/// ignore-size: it has no terminal, so no size of its own.
fn control_args(target: &Target) -> Vec<String> {
    let attach = AttachSession::new()
        .target_session(target.session.as_str())
        .flags(ClientFlags {
            ignore_size: Some(true),
            ..ClientFlags::default()
        });
    super::args(
        Tmux::new()
            .socket_path(target.socket_path.as_str())
            .control_mode()
            .command(attach),
    )
}

fn result(reply: Reply) -> Result<Vec<String>, ClientError> {
    if reply.ok {
        Ok(reply.lines)
    } else {
        Err(ClientError::Failed(reply.lines.join(" ")))
    }
}

async fn session_exists(target: &Target) -> bool {
    TMUX.async_command(super::args(
        Tmux::new()
            .socket_path(target.socket_path.as_str())
            .command(HasSession::new().target_session(target.session.as_str())),
    ))
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .status()
    .await
    .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_connection_ignores_its_size() {
        let target = Target {
            socket_path: "/tmp/tmux-0/bb".into(),
            session: "bot-bottle".into(),
        };
        assert_eq!(
            control_args(&target),
            [
                "-C",
                "-S",
                "/tmp/tmux-0/bb",
                "attach-session",
                "-f",
                "ignore-size",
                "-t",
                "bot-bottle"
            ]
        );
    }
}
