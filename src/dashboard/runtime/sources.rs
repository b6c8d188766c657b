//! What feeds the dashboard messages: the keyboard, a clock, the proposal
//! queue (file notifications), the bottles (docker's events) and the
//! sessions' output (tmux `%output`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use crate::backend;
use crate::dashboard::app::{AgentRow, Msg};
use crate::exec;
use crate::proposal::Proposal;
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
    let (changed, rx) = mpsc::unbounded_channel::<Option<String>>();
    let root = home.state_root();
    let _ = std::fs::create_dir_all(&root);
    let watched = root.clone();
    let activity = msgs.clone();
    let (watcher, watching) = watch(&root, &msgs, move |event: notify::Result<notify::Event>| {
        // A request through a bottle's egress is activity, as output is.
        for slug in requested(&watched, &event) {
            let _ = activity.send(Msg::Output(slug));
        }
        let reaction = reaction(&watched, &event);
        for bottle in reaction.reload {
            let _ = changed.send(bottle);
        }
        if reaction.relist {
            let _ = relist_bottles.send(());
        }
    });
    let notifier = notifier(&home, &msgs);
    tokio::spawn(async move {
        let _watcher = watcher;
        reload_proposals(home, msgs, rx, watching, notifier).await;
    });
}

/// What a change under the state root `root` asks for.
#[derive(Debug, Default, PartialEq, Eq)]
struct Reaction {
    /// The bottles whose proposals to reload, one a path; None: all.
    reload: Vec<Option<String>>,
    /// Whether to list the bottles again (a gate's `landed.json`).
    relist: bool,
}

/// What `event` under `root` asks for. Reading the queue opens its
/// folders: an access changes nothing, and answering it would read the
/// queue again, and again. Git's own churn in a gate's repository reloads
/// nothing; an event without paths (or a failed one) reloads everything.
fn reaction(root: &Path, event: &notify::Result<notify::Event>) -> Reaction {
    let Ok(event) = event else {
        return Reaction {
            reload: vec![None],
            relist: false,
        };
    };
    if matches!(event.kind, notify::EventKind::Access(_)) {
        return Reaction::default();
    }
    let paths = &event.paths;
    let churn = !paths.is_empty() && paths.iter().all(|p| queues::is_repository_churn(root, p));
    let reload = match (churn, paths.is_empty()) {
        (true, _) => Vec::new(),
        (false, true) => vec![None],
        (false, false) => paths.iter().map(|p| queues::bottle_of(root, p)).collect(),
    };
    Reaction {
        reload,
        relist: paths.iter().any(|p| queues::is_landed(root, p)),
    }
}

/// The bottles whose egress logged a decision (a request), or that
/// `attach` or `exec` used, in `event`.
fn requested(root: &Path, event: &notify::Result<notify::Event>) -> Vec<String> {
    let Ok(event) = event else {
        return Vec::new();
    };
    if !matches!(event.kind, notify::EventKind::Modify(_)) {
        return Vec::new();
    }
    let mut slugs: Vec<String> = event
        .paths
        .iter()
        .filter_map(|p| {
            let rest: Vec<_> = p.strip_prefix(root).ok()?.iter().collect();
            let log = rest.len() == 3
                && rest[1] == crate::contract::services::EGRESS
                && rest[2] == crate::egress::config::DECISIONS_FILE;
            let used = rest.len() == 2 && rest[1] == crate::state::bottle_dir::USED_FILE;
            (log || used)
                .then(|| rest[0].to_str().map(str::to_owned))
                .flatten()
        })
        .collect();
    slugs.dedup();
    slugs
}

/// Watches `root` (recursively) with `handler`, and says on `msgs` why
/// not when it cannot. The watcher watches while it is kept; true when
/// it watches.
fn watch(
    root: &Path,
    msgs: &mpsc::UnboundedSender<Msg>,
    handler: impl notify::EventHandler,
) -> (Option<notify::RecommendedWatcher>, bool) {
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => Some(w),
        Err(e) => {
            let _ = msgs.send(Msg::Status(format!("cannot watch the proposal queue: {e}")));
            None
        }
    };
    let mut watching = false;
    if let Some(w) = watcher.as_mut() {
        use notify::Watcher;
        match w.watch(root, notify::RecursiveMode::Recursive) {
            Ok(()) => watching = true,
            Err(e) => {
                let _ = msgs.send(Msg::Status(format!("cannot watch {}: {e}", root.display())));
            }
        }
    }
    (watcher, watching)
}

/// Notifications beyond tmux, of new arrivals (not those there at start),
/// when the operator configured a command; says on `msgs` why not when
/// the configuration cannot be read.
fn notifier(
    home: &Home,
    msgs: &mpsc::UnboundedSender<Msg>,
) -> Option<mpsc::UnboundedSender<Vec<Proposal>>> {
    let command = crate::notify::command(&home.root).unwrap_or_else(|e| {
        let _ = msgs.send(Msg::Status(format!("notifications are off: {e}")));
        None
    });
    command.map(|command| {
        let msgs = msgs.clone();
        crate::notify::spawn(command, move |text| {
            let _ = msgs.send(Msg::Status(text));
        })
    })
}

/// Sends the proposals, then again after every change on `changed` (every
/// 5 s when the folder is not `watching`), new arrivals to `notifier`;
/// until the app or the watcher is gone.
async fn reload_proposals(
    home: Home,
    msgs: mpsc::UnboundedSender<Msg>,
    mut changed: mpsc::UnboundedReceiver<Option<String>>,
    watching: bool,
    notifier: Option<mpsc::UnboundedSender<Vec<Proposal>>>,
) {
    let mut seen: Option<HashSet<String>> = None;
    // The bottles whose state changed since the last look; None: all.
    let mut dirty: Option<BTreeSet<String>> = None;
    loop {
        let list = pending(home.clone(), dirty.replace(BTreeSet::new())).await;
        if let Some(notifier) = &notifier {
            let fresh = arrivals(&mut seen, &list);
            if !fresh.is_empty() {
                let _ = notifier.send(fresh);
            }
        }
        if msgs.send(Msg::Proposals(list)).is_err() {
            return;
        }
        let Some(changes) = next_changes(&mut changed, watching).await else {
            return;
        };
        dirty = settle(dirty, changes);
    }
}

/// The pending proposals, learning mode first: the denied requests of
/// `bottles` (None: of all) become suggestions.
async fn pending(home: Home, bottles: Option<BTreeSet<String>>) -> Vec<apply::Pending> {
    tokio::task::spawn_blocking(move || {
        match bottles {
            None => suggest::sync_all(&home),
            Some(slugs) => slugs.iter().for_each(|slug| {
                let _ = suggest::sync(&home, slug);
            }),
        }
        apply::pending(&home).unwrap_or_default()
    })
    .await
    .unwrap_or_default()
}

/// Waits for a change (5 s when the folder is not `watching`: then
/// anything may have changed), then lets a burst of writes settle: the
/// changes since. None when no watcher is left to say.
async fn next_changes(
    changed: &mut mpsc::UnboundedReceiver<Option<String>>,
    watching: bool,
) -> Option<Vec<Option<String>>> {
    let first = match watching {
        true => changed.recv().await?,
        false => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            None
        }
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    let mut changes = vec![first];
    while let Ok(more) = changed.try_recv() {
        changes.push(more);
    }
    Some(changes)
}

/// The bottles to look at after `changes` (a bottle's, or None:
/// anything's), given those already `dirty` (None: all).
fn settle(
    mut dirty: Option<BTreeSet<String>>,
    changes: Vec<Option<String>>,
) -> Option<BTreeSet<String>> {
    for change in changes {
        match (change, dirty.as_mut()) {
            (Some(slug), Some(slugs)) => _ = slugs.insert(slug),
            (Some(_), None) => {}
            (None, _) => dirty = None,
        }
    }
    dirty
}

/// The proposals of `list` not seen before (none the first time: those
/// were there at start); `seen` becomes the ids of `list`.
fn arrivals(seen: &mut Option<HashSet<String>>, list: &[apply::Pending]) -> Vec<Proposal> {
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
            frozen: b.frozen,
            asleep: b.asleep,
            tokens: b.usage.as_ref().map(crate::backend::active::tokens_text),
            stopped: b.stopped,
            seal: b.seal,
            other_home: b.other_home.is_some(),
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

#[cfg(test)]
mod tests {
    use notify::event::{AccessKind, CreateKind, EventKind, ModifyKind};

    use super::*;
    use crate::dashboard::fixtures;

    const ROOT: &str = "/h/state";

    fn event(kind: EventKind, paths: &[&str]) -> notify::Result<notify::Event> {
        Ok(paths
            .iter()
            .fold(notify::Event::new(kind), |e, p| e.add_path(p.into())))
    }

    fn reload(bottles: &[Option<&str>]) -> Vec<Option<String>> {
        bottles.iter().map(|b| b.map(str::to_owned)).collect()
    }

    #[test]
    fn a_change_under_the_state_root_reloads_its_bottles_and_a_landing_relists() {
        let modify = EventKind::Modify(ModifyKind::Any);
        let queue = "/h/state/a-1/supervise/queue/p1.json";
        let churn = "/h/state/a-1/git-gate/repo.git/objects/ab/cd";
        let landed = "/h/state/a-1/git-gate/landed.json";
        // (event, bottles reloaded, relisted)
        let cases = [
            (event(modify, &[queue]), reload(&[Some("a-1")]), false),
            (
                event(
                    EventKind::Create(CreateKind::File),
                    &[queue, "/h/state/b-2/x"],
                ),
                reload(&[Some("a-1"), Some("b-2")]),
                false,
            ),
            (event(modify, &["/elsewhere/x"]), reload(&[None]), false),
            (event(modify, &[]), reload(&[None]), false),
            (event(modify, &[churn]), reload(&[]), false),
            (
                event(modify, &[churn, queue]),
                reload(&[Some("a-1"), Some("a-1")]),
                false,
            ),
            (event(modify, &[landed]), reload(&[Some("a-1")]), true),
            (
                event(EventKind::Access(AccessKind::Any), &[queue, landed]),
                reload(&[]),
                false,
            ),
            (
                Err(notify::Error::generic("overflow")),
                reload(&[None]),
                false,
            ),
        ];
        for (event, bottles, relist) in cases {
            let want = Reaction {
                reload: bottles,
                relist,
            };
            assert_eq!(reaction(Path::new(ROOT), &event), want, "{event:?}");
        }
    }

    #[test]
    fn a_decision_logged_by_egress_is_activity() {
        use notify::event::{AccessKind, DataChange, EventKind, ModifyKind};
        let modify = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        let event = |kind, paths: &[&str]| {
            let mut e = notify::Event::new(kind);
            e.paths = paths.iter().map(std::path::PathBuf::from).collect();
            Ok(e)
        };
        let log = "/h/state/a-1/egress/decisions.jsonl";
        let cases = [
            (event(modify, &[log]), vec!["a-1"]),
            (event(modify, &[log, log]), vec!["a-1"]),
            (event(modify, &["/h/state/a-1/egress/routes.json"]), vec![]),
            (event(modify, &["/h/state/a-1/decisions.jsonl"]), vec![]),
            (event(modify, &["/h/state/b-2/used"]), vec!["b-2"]),
            (
                event(modify, &["/elsewhere/a-1/egress/decisions.jsonl"]),
                vec![],
            ),
            (event(EventKind::Access(AccessKind::Any), &[log]), vec![]),
            (Err(notify::Error::generic("overflow")), vec![]),
        ];
        for (event, want) in cases {
            assert_eq!(requested(Path::new(ROOT), &event), want, "{event:?}");
        }
    }

    #[test]
    fn the_bottles_to_look_at_gather_until_anything_changes() {
        let set = |slugs: &[&str]| -> Option<BTreeSet<String>> {
            Some(slugs.iter().map(|s| s.to_string()).collect())
        };
        // (dirty, changes, after)
        let cases = [
            (set(&[]), reload(&[Some("a-1")]), set(&["a-1"])),
            (
                set(&["a-1"]),
                reload(&[Some("b-2"), Some("a-1")]),
                set(&["a-1", "b-2"]),
            ),
            (set(&["a-1"]), reload(&[Some("b-2"), None]), None),
            (set(&["a-1"]), reload(&[None, Some("b-2")]), None),
            (None, reload(&[Some("a-1")]), None),
            (set(&["a-1"]), reload(&[]), set(&["a-1"])),
        ];
        for (dirty, changes, want) in cases {
            let shown = format!("{dirty:?} after {changes:?}");
            assert_eq!(settle(dirty, changes), want, "{shown}");
        }
    }

    #[test]
    fn arrivals_are_the_proposals_not_seen_before_and_none_at_start() {
        let pending = |id: &str| {
            let (request, preview) = fixtures::widening();
            apply::Pending {
                proposal: Proposal {
                    id: id.into(),
                    slug: "a-1".into(),
                    created_at: "2026-11-25T10:04:05Z".into(),
                    justification: "because".into(),
                    source: Default::default(),
                    request,
                    replaces: None,
                },
                preview,
            }
        };
        let ids = |fresh: Vec<Proposal>| fresh.into_iter().map(|p| p.id).collect::<Vec<_>>();
        let mut seen = None;
        assert!(arrivals(&mut seen, &[pending("p1")]).is_empty());
        assert_eq!(
            ids(arrivals(&mut seen, &[pending("p1"), pending("p2")])),
            ["p2"]
        );
        assert!(arrivals(&mut seen, &[pending("p2")]).is_empty());
        assert_eq!(ids(arrivals(&mut seen, &[pending("p1")])), ["p1"]);
    }
}
