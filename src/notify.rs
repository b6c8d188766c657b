//! Notifications beyond tmux: a command of the operator's, run on new
//! proposals with them as JSON on its stdin (for a desktop notification,
//! a chat message). `BOT_BOTTLE_NOTIFY_COMMAND` names it, else
//! `notify.command` in `$BOT_BOTTLE_HOME/bot-bottle.json`; it runs with
//! `sh -c`, and nothing an agent wrote is ever part of the command line.
//!
//! A burst is one notification: arrivals are held for `SETTLE`, and runs
//! are at least `GAP` apart; what arrived meanwhile goes in the next run,
//! counted. The throttle is pure (time is passed in); the driver runs the
//! command off the dashboard's loop, at most `TIMEOUT` long, and a failure
//! is a status message.
//!
//! Stdin: `{"count": N, "summary": "...", "proposals": [...]}`, each
//! proposal as `bot-bottle proposals --json` names its fields (`id`,
//! `slug`, `source`, `request`, `justification`, ...) plus `summary`; at
//! most `MAX_LISTED` of them, `count` says how many arrived. Every string
//! in it is inert (`text::inert`): an agent wrote most of them,
//! and a command that shows them (a desktop notification, a terminal, a
//! chat message) must not be handed escape sequences or bidi overrides.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::exec::Program;
use crate::proposal::{Origin, Proposal};

/// The variable that names the command.
pub(crate) const COMMAND_ENV: &str = "BOT_BOTTLE_NOTIFY_COMMAND";
/// How long arrivals are held, so a burst goes out as one.
pub(crate) const SETTLE: Duration = Duration::from_secs(1);
/// The least time between two runs.
pub(crate) const GAP: Duration = Duration::from_secs(30);
/// How long the command may run.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);
/// Proposals listed in one notification at most.
pub(crate) const MAX_LISTED: usize = 20;

/// The shell that runs the command.
pub(crate) const SH: Program = Program {
    name: "sh",
    env: "BOT_BOTTLE_SH",
    install_hint: "a POSIX shell is needed to run BOT_BOTTLE_NOTIFY_COMMAND",
};

/// What one run of the command is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Batch {
    /// How many proposals arrived since the last run.
    pub(crate) count: usize,
    /// One line: "3 new proposals: route pypi.org /simple/ (dev-aaaaa), ...".
    pub(crate) summary: String,
    pub(crate) proposals: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Item {
    #[serde(flatten)]
    pub(crate) proposal: Proposal,
    pub(crate) summary: String,
}

/// Holds arrivals until a run is due.
#[derive(Debug, Clone)]
pub(crate) struct Throttle {
    settle: Duration,
    gap: Duration,
    last_run: Option<Instant>,
    held: Vec<Proposal>,
    count: usize,
    first_held: Option<Instant>,
}

impl Throttle {
    pub(crate) fn new(settle: Duration, gap: Duration) -> Throttle {
        Throttle {
            settle,
            gap,
            last_run: None,
            held: Vec::new(),
            count: 0,
            first_held: None,
        }
    }

    /// New proposals arrive at `now`.
    pub(crate) fn arrive(&mut self, now: Instant, new: Vec<Proposal>) {
        if new.is_empty() {
            return;
        }
        self.first_held.get_or_insert(now);
        self.count += new.len();
        for p in new {
            if self.held.len() < MAX_LISTED {
                self.held.push(p);
            }
        }
    }

    /// When the held proposals may go out; None when none are held.
    pub(crate) fn due(&self) -> Option<Instant> {
        let settled = self.first_held? + self.settle;
        Some(match self.last_run {
            Some(last) => settled.max(last + self.gap),
            None => settled,
        })
    }

    /// The batch to send at `now`, if one is due.
    pub(crate) fn take(&mut self, now: Instant) -> Option<Batch> {
        if self.due()? > now {
            return None;
        }
        self.last_run = Some(now);
        self.first_held = None;
        let count = std::mem::take(&mut self.count);
        let proposals: Vec<Item> = std::mem::take(&mut self.held)
            .into_iter()
            .map(|p| Item {
                summary: one_line(&p),
                proposal: p,
            })
            .collect();
        let listed: Vec<&str> = proposals
            .iter()
            .take(3)
            .map(|i| i.summary.as_str())
            .collect();
        let more = if count > listed.len() { ", ..." } else { "" };
        let summary = format!(
            "{count} new proposal{}: {}{more}",
            if count == 1 { "" } else { "s" },
            listed.join(", ")
        );
        Some(Batch {
            count,
            summary,
            proposals,
        })
    }
}

/// `route pypi.org /simple/ (dev-aaaaa, from denials)`, control
/// characters made visible.
fn one_line(p: &Proposal) -> String {
    let from = match p.source {
        Origin::Denied => ", from denials",
        Origin::Agent => "",
    };
    crate::text::inert(&format!("{} ({}{from})", p.request.summary(), p.slug))
}

impl Batch {
    /// What the command reads on its stdin: the batch as JSON, every
    /// string in it (keys too) inert, whichever field it came from.
    pub(crate) fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&inert_strings(serde_json::to_value(self)?))
    }
}

/// `value` with every string and key made inert.
fn inert_strings(value: Value) -> Value {
    let inert = crate::text::inert;
    match value {
        Value::String(s) => Value::String(inert(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(inert_strings).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (inert(&k), inert_strings(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The command: `BOT_BOTTLE_NOTIFY_COMMAND`, else `notify.command` of
/// `$BOT_BOTTLE_HOME/bot-bottle.json` (`home`; a project's manifest may not
/// name one). None when neither does.
pub(crate) fn command(
    home: &std::path::Path,
) -> Result<Option<String>, crate::manifest::ManifestError> {
    match std::env::var(COMMAND_ENV) {
        Ok(c) if !c.trim().is_empty() => Ok(Some(c)),
        _ => crate::manifest::notify_command(home),
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum NotifyError {
    #[error("the notify command could not start: {0}")]
    Start(String),
    #[error("the notify command failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error("the notify command ran longer than {}s and was stopped", TIMEOUT.as_secs())]
    Timeout,
}

/// Runs `command` with `batch` as JSON on its stdin; waits at most
/// `timeout`.
pub(crate) async fn run(
    command: &str,
    batch: &Batch,
    timeout: Duration,
) -> Result<(), NotifyError> {
    let json = batch
        .to_json()
        .map_err(|e| NotifyError::Start(e.to_string()))?;
    let mut child = SH
        .async_command(["-c", command])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| NotifyError::Start(format!("{}: {e}", SH.path())))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its stdin is no failure.
        let _ = stdin.write_all(&json).await;
    }
    let out = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| NotifyError::Timeout)?
        .map_err(|e| NotifyError::Start(e.to_string()))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    Err(NotifyError::Failed {
        status: out.status.to_string(),
        stderr: crate::text::inert(&last.chars().take(200).collect::<String>()),
    })
}

/// Starts the notifier for `command`: send it the proposals that arrive;
/// failures go to `status`. It waits, doing nothing, while none arrive.
pub(crate) fn spawn(
    command: String,
    status: impl Fn(String) + Send + 'static,
) -> mpsc::UnboundedSender<Vec<Proposal>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<Proposal>>();
    tokio::spawn(async move {
        let mut throttle = Throttle::new(SETTLE, GAP);
        loop {
            let arrived = match throttle.due() {
                None => rx.recv().await,
                Some(due) => match tokio::time::timeout_at(due, rx.recv()).await {
                    Ok(arrived) => arrived,
                    Err(_) => {
                        if let Some(batch) = throttle.take(Instant::now())
                            && let Err(e) = run(&command, &batch, TIMEOUT).await
                        {
                            status(e.to_string());
                        }
                        continue;
                    }
                },
            };
            match arrived {
                Some(new) => throttle.arrive(Instant::now(), new),
                None => return,
            }
        }
    });
    tx
}

#[cfg(test)]
mod tests;
