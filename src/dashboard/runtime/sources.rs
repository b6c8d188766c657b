//! What feeds the dashboard messages: the keyboard, a clock, the proposal
//! queue (file notifications), the bottles (docker's events) and the
//! sessions' output (tmux `%output`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use crate::backend;
use crate::dashboard::app::{AgentRow, Msg};
use crate::exec;
use crate::state::Home;
use crate::supervise::apply::{self, queues};
use crate::supervise::suggest;
use crate::tmux::client::{Client, Event as TmuxEvent};
use crate::tmux::command;
use crate::tmux::control::{Notification, PaneId};

/// Reads keys while it holds `terminal`; whoever takes the terminal (the
/// editor of `m`) takes the lock, so no key of theirs is stolen.
pub(super) fn spawn_keys(msgs: mpsc::UnboundedSender<Msg>, terminal: Arc<std::sync::Mutex<()>>) {
    std::thread::spawn(move || {
        use ratatui::crossterm::event::{self, Event};
        loop {
            let event = {
                let _held = terminal.lock().unwrap_or_else(|p| p.into_inner());
                match event::poll(Duration::from_millis(50)) {
                    Ok(true) => event::read(),
                    Ok(false) => continue,
                    Err(e) => Err(e),
                }
            };
            match event {
                Ok(Event::Key(key)) => {
                    if msgs.send(Msg::Key(key)).is_err() {
                        return;
                    }
                }
                Ok(Event::Paste(text)) => {
                    if msgs.send(Msg::Paste(text)).is_err() {
                        return;
                    }
                }
                Ok(Event::Resize(width, height)) => {
                    let _ = msgs.send(Msg::Resize { width, height });
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
}

/// Reloads the proposals whenever a file under `state/` changes (the
/// queues of every bottle, see `apply::queues`, and the decision logs
/// learning mode reads, see `suggest`), except for git's own
/// churn in a gate's repository; a gate's `landed.json` relists the
/// bottles (`relist_bottles`), whose rows show what landed.
pub(super) fn spawn_proposals(
    home: Home,
    msgs: mpsc::UnboundedSender<Msg>,
    relist_bottles: mpsc::UnboundedSender<()>,
) {
    // What changed: a bottle's state, or (None) anything.
    let (changed, mut rx) = mpsc::unbounded_channel::<Option<String>>();
    let root = home.state_root();
    let _ = std::fs::create_dir_all(&root);
    let watched = root.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Reading the queue opens its folders: an access changes nothing,
        // and answering it would read the queue again, and again.
        if event
            .as_ref()
            .is_ok_and(|e| matches!(e.kind, notify::EventKind::Access(_)))
        {
            return;
        }
        let churn = event.as_ref().is_ok_and(|e| {
            !e.paths.is_empty()
                && e.paths
                    .iter()
                    .all(|p| queues::is_repository_churn(&watched, p))
        });
        if !churn {
            match event.as_ref().map(|e| &e.paths) {
                Ok(paths) if !paths.is_empty() => {
                    for path in paths {
                        let _ = changed.send(queues::bottle_of(&watched, path));
                    }
                }
                _ => {
                    let _ = changed.send(None);
                }
            }
        }
        let landed = event
            .as_ref()
            .is_ok_and(|e| e.paths.iter().any(|p| queues::is_landed(&watched, p)));
        if landed {
            let _ = relist_bottles.send(());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            let _ = msgs.send(Msg::Status(format!("cannot watch the proposal queue: {e}")));
            None
        }
    };
    let mut watching = false;
    if let Some(w) = watcher.as_mut() {
        use notify::Watcher;
        match w.watch(&root, notify::RecursiveMode::Recursive) {
            Ok(()) => watching = true,
            Err(e) => {
                let _ = msgs.send(Msg::Status(format!("cannot watch {}: {e}", root.display())));
            }
        }
    }
    // Notifications beyond tmux: new arrivals (not those there at start).
    let command = crate::notify::command(&home.root).unwrap_or_else(|e| {
        let _ = msgs.send(Msg::Status(format!("notifications are off: {e}")));
        None
    });
    let notifier = command.map(|command| {
        let msgs = msgs.clone();
        crate::notify::spawn(command, move |text| {
            let _ = msgs.send(Msg::Status(text));
        })
    });
    let mut seen: Option<std::collections::HashSet<String>> = None;
    tokio::spawn(async move {
        let _watcher = watcher;
        // The bottles whose state changed since the last look; None: all.
        let mut dirty: Option<BTreeSet<String>> = None;
        loop {
            let home = home.clone();
            let bottles = dirty.replace(BTreeSet::new());
            // Learning mode first: denied requests become suggestions.
            let list = tokio::task::spawn_blocking(move || {
                match bottles {
                    None => suggest::sync_all(&home),
                    Some(slugs) => slugs.iter().for_each(|slug| {
                        let _ = suggest::sync(&home, slug);
                    }),
                }
                apply::pending(&home).unwrap_or_default()
            })
            .await
            .unwrap_or_default();
            if let Some(notifier) = &notifier {
                let fresh = arrivals(&mut seen, &list);
                if !fresh.is_empty() {
                    let _ = notifier.send(fresh);
                }
            }
            if msgs.send(Msg::Proposals(list)).is_err() {
                return;
            }
            // Wait for a change (every 5 s when the folder cannot be
            // watched), then let a burst of writes settle.
            let first = match watching {
                true => match rx.recv().await {
                    Some(first) => first,
                    None => return,
                },
                false => {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    None
                }
            };
            tokio::time::sleep(Duration::from_millis(10)).await;
            let mut changes = vec![first];
            while let Ok(more) = rx.try_recv() {
                changes.push(more);
            }
            for change in changes {
                match (change, dirty.as_mut()) {
                    (Some(slug), Some(slugs)) => _ = slugs.insert(slug),
                    (Some(_), None) => {}
                    (None, _) => dirty = None,
                }
            }
        }
    });
}

/// The proposals of `list` not seen before (none the first time: those
/// were there at start); `seen` becomes the ids of `list`.
fn arrivals(
    seen: &mut Option<std::collections::HashSet<String>>,
    list: &[apply::Pending],
) -> Vec<crate::proposal::Proposal> {
    let ids = list.iter().map(|p| p.proposal.id.clone()).collect();
    let fresh = match seen {
        Some(seen) => list
            .iter()
            .filter(|p| !seen.contains(&p.proposal.id))
            .map(|p| p.proposal.clone())
            .collect(),
        None => Vec::new(),
    };
    *seen = Some(ids);
    fresh
}

/// Lists the bottles at start, then on the backends' events (or a send on
/// `changed`), at most once a second.
pub(super) fn spawn_bottles(
    home: Home,
    msgs: mpsc::UnboundedSender<Msg>,
    changed: mpsc::UnboundedSender<()>,
    mut rx: mpsc::UnboundedReceiver<()>,
) {
    let mut poll = false;
    for kind in backend::available() {
        match kind.backend().events_argv() {
            Some((program, args)) => spawn_events(program, args, changed.clone()),
            None => poll = true,
        }
    }
    tokio::spawn(async move {
        loop {
            let home = home.clone();
            let rows = tokio::task::spawn_blocking(move || list_rows(&home)).await;
            match rows {
                Ok(Ok(rows)) => {
                    if msgs.send(Msg::Bottles(rows)).is_err() {
                        return;
                    }
                }
                Ok(Err(e)) => {
                    let _ = msgs.send(Msg::Status(format!("cannot list bottles: {e}")));
                }
                Err(_) => {}
            }
            // A backend without events (smolvm) is asked again every
            // 10 s; otherwise nothing is asked until something changes.
            match poll {
                true => {
                    let _ = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
                }
                false => {
                    if rx.recv().await.is_none() {
                        return;
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            while rx.try_recv().is_ok() {}
        }
    });
}

/// Sends on `changed` for every line a backend's event stream prints;
/// restarts the stream when it ends.
fn spawn_events(program: exec::Program, args: Vec<String>, changed: mpsc::UnboundedSender<()>) {
    tokio::spawn(async move {
        loop {
            let events = program
                .async_command(&args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn();
            if let Ok(mut child) = events
                && let Some(out) = child.stdout.take()
            {
                let mut lines = BufReader::new(out).lines();
                while let Ok(Some(_)) = lines.next_line().await {
                    if changed.send(()).is_err() {
                        return;
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
}

fn list_rows(home: &Home) -> Result<Vec<AgentRow>, backend::ListError> {
    Ok(backend::enumerate_all(home, false)?
        .into_iter()
        .map(|b| AgentRow {
            backend: b.backend,
            slug: b.slug,
            label: b.label,
            color: b.color,
            agent: b.agent,
            started_at: b.started_at,
            services: b.services,
            landed: b.landed,
        })
        .collect())
}

/// Turns `%output` of session panes into activity, at most twice a second
/// per bottle; keeps the pane map current as windows come and go.
pub(super) fn spawn_output(
    client: Client,
    mut events: mpsc::UnboundedReceiver<TmuxEvent>,
    dashboard: PaneId,
    msgs: mpsc::UnboundedSender<Msg>,
) {
    tokio::spawn(async move {
        let mut slugs: BTreeMap<PaneId, String> = BTreeMap::new();
        let mut last: BTreeMap<PaneId, Instant> = BTreeMap::new();
        let mut stale = true;
        while let Some(event) = events.recv().await {
            match event {
                TmuxEvent::Notification(Notification::Output { pane, .. }) if pane != dashboard => {
                    if stale || !slugs.contains_key(&pane) {
                        if let Ok(lines) = client.run(&command::list_panes()).await {
                            slugs = command::parse_pane_rows(&lines)
                                .into_iter()
                                .filter_map(|r| r.slug.map(|s| (r.pane, s)))
                                .collect();
                        }
                        stale = false;
                    }
                    let due = last
                        .get(&pane)
                        .is_none_or(|t| t.elapsed() >= Duration::from_millis(500));
                    if let (true, Some(slug)) = (due, slugs.get(&pane)) {
                        last.insert(pane, Instant::now());
                        if msgs.send(Msg::Output(slug.clone())).is_err() {
                            return;
                        }
                    }
                }
                TmuxEvent::Notification(
                    Notification::WindowAdd(_)
                    | Notification::WindowClose(_)
                    | Notification::UnlinkedWindowClose(_)
                    | Notification::LayoutChange { .. },
                )
                | TmuxEvent::Reconnected => stale = true,
                TmuxEvent::Closed => return,
                TmuxEvent::Notification(_) => {}
            }
        }
    });
}
