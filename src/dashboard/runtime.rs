//! The dashboard's runtime: feeds the app messages (see `sources`: keys,
//! ticks, the proposal queue through notify, bottles on docker events, pane
//! output through the tmux control connection) and carries out its effects.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use tokio::sync::{Mutex, mpsc};

mod sources;

use sources::{spawn_bottles, spawn_keys, spawn_output, spawn_proposals};

use super::app::{AgentChoice, App, Effect, Msg, NewAgent};
use super::panes::Panes;
use super::render::render;
use crate::backend::BackendKind;
use crate::exec::{self, Sink};
use crate::launch::lifecycle::Context;
use crate::launch::service::{self, Planned};
use crate::manifest::{self, Sources};
use crate::provider::shell_join;
use crate::state::Home;
use crate::supervise::apply::{self, Applied};
use crate::supervise::preview::Preview;
use crate::tmux::client::{Client, ClientError, Target};
use crate::tmux::command;
use crate::tmux::control::{PaneId, WindowId};

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("the dashboard runs inside tmux")]
    NotInTmux,
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    #[error(transparent)]
    Tmux(#[from] ClientError),
}

impl DashboardError {
    pub fn hint(&self) -> Option<String> {
        match self {
            DashboardError::NotInTmux => {
                Some("run `bot-bottle` to open its tmux session with the dashboard".into())
            }
            _ => None,
        }
    }
}

/// Runs the dashboard in this tmux pane until `q`.
pub fn run(home: Home, cwd: PathBuf) -> Result<(), DashboardError> {
    let tmux = std::env::var("TMUX").map_err(|_| DashboardError::NotInTmux)?;
    let socket_path = tmux.split(',').next().unwrap_or("").to_owned();
    let dashboard = std::env::var("TMUX_PANE")
        .ok()
        .and_then(|p| PaneId::parse(&p))
        .ok_or(DashboardError::NotInTmux)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(main_loop(home, cwd, socket_path, dashboard))
}

/// What the tasks share.
struct Shared {
    home: Home,
    cwd: PathBuf,
    panes: Mutex<Panes>,
    msgs: mpsc::UnboundedSender<Msg>,
    /// The plan shown by the last preflight, to launch on `y`.
    planned: Mutex<Option<(NewAgent, Planned)>>,
    exe: String,
    /// Lists the bottles again: a launch or a stop changed them, and not
    /// every backend has events to say so.
    relist: mpsc::UnboundedSender<()>,
}

impl Shared {
    fn send(&self, msg: Msg) {
        let _ = self.msgs.send(msg);
    }

    /// The command of a bottle's session pane.
    fn attach_command(&self, slug: &str) -> String {
        shell_join(&[
            "env".into(),
            format!("BOT_BOTTLE_HOME={}", self.home.root.display()),
            self.exe.clone(),
            "attach".into(),
            slug.into(),
        ])
    }

    fn log_path(&self, slug: &str, what: &str) -> PathBuf {
        let dir = self.home.root.join("logs");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("{slug}-{what}.log"));
        let _ = std::fs::write(&path, "");
        path
    }
}

async fn main_loop(
    home: Home,
    cwd: PathBuf,
    socket_path: String,
    dashboard: PaneId,
) -> Result<(), DashboardError> {
    let (client, tmux_events) = Client::connect(Target {
        socket_path,
        session: dashboard.to_string(),
    });
    let place = client.run(&command::pane_place(dashboard)).await?;
    let window = place
        .first()
        .and_then(|l| l.split(' ').next())
        .and_then(WindowId::parse)
        .ok_or_else(|| ClientError::Failed(format!("where is {dashboard}? {place:?}")))?;
    client
        .run(&command::set_session_option(
            dashboard,
            "@bb_dashboard_pane",
            &dashboard.to_string(),
        ))
        .await?;
    client
        .run(&command::set_session_option(
            dashboard,
            "@bb_dashboard_window",
            &window.to_string(),
        ))
        .await?;

    let (msgs, mut inbox) = mpsc::unbounded_channel();
    let (relist, relist_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        relist: relist.clone(),
        home: home.clone(),
        cwd: cwd.clone(),
        panes: Mutex::new(Panes {
            client: client.clone(),
            dashboard,
            window,
            sessions: BTreeMap::new(),
            logs: BTreeMap::new(),
        }),
        msgs: msgs.clone(),
        planned: Mutex::new(None),
        exe: std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "bot-bottle".into()),
    });

    let (choices, bottles, load_error) = agent_choices(&home, &cwd);
    let mut app = App::new(
        choices,
        bottles,
        crate::backend::available()
            .iter()
            .map(|k| k.name().to_owned())
            .collect(),
    );
    app.cwd = cwd.display().to_string();
    if let Some(e) = load_error {
        app.update(Msg::Status(e));
    }
    shared.panes.lock().await.harden(dashboard).await?;
    let terminal_lock = Arc::new(std::sync::Mutex::new(()));
    spawn_keys(msgs.clone(), Arc::clone(&terminal_lock));
    spawn_bottles(home.clone(), msgs.clone(), relist.clone(), relist_rx);
    spawn_proposals(home.clone(), msgs.clone(), relist);
    spawn_output(client.clone(), tmux_events, dashboard, msgs.clone());

    let mut terminal = init_terminal()?;
    let started = Instant::now();
    let result = loop {
        // The app decides what is on screen with the size it is drawn at.
        let size = terminal.size()?;
        if (size.width, size.height) != app.size {
            app.update(Msg::Resize {
                width: size.width,
                height: size.height,
            });
        }
        terminal.draw(|f| render(&app, f))?;
        // Asleep until a message comes, or until what is drawn changes
        // with time alone (`App::next_change`): nothing ticks at rest.
        let wake = app.next_change().map(|ms| {
            tokio::time::Instant::from_std(started + std::time::Duration::from_millis(ms))
        });
        let first = match wake {
            Some(at) => tokio::select! {
                msg = inbox.recv() => msg,
                () = tokio::time::sleep_until(at) => Some(Msg::Tick(0)),
            },
            None => inbox.recv().await,
        };
        let Some(first) = first else {
            break Ok(());
        };
        let mut batch = vec![first];
        while let Ok(more) = inbox.try_recv() {
            batch.push(more);
        }
        let mut quit = false;
        for msg in batch {
            // Every message is handled at the time it is handled: a key's
            // time decides whether it falls in the guard after an alert.
            app.update(Msg::Tick(started.elapsed().as_millis() as u64));
            if let Msg::Tick(_) = msg {
                continue;
            }
            for effect in app.update(msg) {
                match effect {
                    Effect::Quit => quit = true,
                    Effect::Modify { id } => {
                        let held = terminal_lock.lock().unwrap_or_else(|p| p.into_inner());
                        restore_terminal();
                        let outcome = modify(&home, &id);
                        terminal = init_terminal()?;
                        drop(held);
                        terminal.clear()?;
                        match outcome {
                            Ok(()) => shared.send(Msg::Modified(id)),
                            Err(e) => shared.send(Msg::Status(e)),
                        }
                    }
                    Effect::EditRoutes { slug } => {
                        let held = terminal_lock.lock().unwrap_or_else(|p| p.into_inner());
                        restore_terminal();
                        let outcome = edit_routes(&home, &slug);
                        terminal = init_terminal()?;
                        drop(held);
                        terminal.clear()?;
                        shared.send(Msg::Status(outcome));
                    }
                    Effect::View { id, text } => {
                        let held = terminal_lock.lock().unwrap_or_else(|p| p.into_inner());
                        restore_terminal();
                        let outcome = view(&id, &text);
                        terminal = init_terminal()?;
                        drop(held);
                        terminal.clear()?;
                        if let Err(e) = outcome {
                            shared.send(Msg::Status(e));
                        }
                    }
                    Effect::Bell => {
                        let mut out = std::io::stdout();
                        let _ = out.write_all(b"\x07").and_then(|()| out.flush());
                    }
                    other => {
                        let shared = Arc::clone(&shared);
                        tokio::spawn(async move { carry_out(&shared, other).await });
                    }
                }
            }
        }
        if quit {
            break Ok(());
        }
    };
    restore_terminal();
    result
}

/// The terminal in raw mode, with bracketed paste: a paste arrives as one
/// event (ignored unless it is a tmux binding's request), never as keys.
fn init_terminal() -> std::io::Result<ratatui::DefaultTerminal> {
    let terminal = ratatui::try_init()?;
    ratatui::crossterm::execute!(
        std::io::stdout(),
        ratatui::crossterm::event::EnableBracketedPaste
    )?;
    Ok(terminal)
}

fn restore_terminal() {
    let _ = ratatui::crossterm::execute!(
        std::io::stdout(),
        ratatui::crossterm::event::DisableBracketedPaste
    );
    ratatui::restore();
}

/// The agents `n` offers, from the manifests (an error is shown, not fatal).
fn agent_choices(home: &Home, cwd: &Path) -> (Vec<AgentChoice>, Vec<String>, Option<String>) {
    let sources = Sources {
        home: home.root.clone(),
        cwd: cwd.to_path_buf(),
        user_home: std::env::var_os("HOME").map(PathBuf::from),
    };
    match manifest::load(&sources) {
        Ok(m) => (
            m.agents
                .values()
                .map(|a| AgentChoice {
                    name: a.name.clone(),
                    description: a.description.clone().unwrap_or_default(),
                    bottles: a.bottles.clone(),
                    color: a.color.clone(),
                })
                .collect(),
            m.bottles.keys().cloned().collect(),
            None,
        ),
        Err(e) => (Vec::new(), Vec::new(), Some(format!("manifest: {e}"))),
    }
}

async fn carry_out(shared: &Shared, effect: Effect) {
    let result: Result<(), String> = match effect {
        Effect::Show { slug, focus } => {
            let command = shared.attach_command(&slug);
            shared
                .panes
                .lock()
                .await
                .show(&slug, focus, &command)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        Effect::CloseRight => shared
            .panes
            .lock()
            .await
            .close_right()
            .await
            .map_err(|e| e.to_string()),
        Effect::FocusDashboard => {
            let moved = shared.panes.lock().await.focus_dashboard().await;
            if moved.is_ok() {
                shared.send(Msg::Focused);
            }
            moved.map_err(|e| e.to_string())
        }
        Effect::SetPending { count, next } => shared
            .panes
            .lock()
            .await
            .set_pending(count, next.as_deref())
            .await
            .map_err(|e| e.to_string()),
        Effect::Approve {
            id,
            token_env,
            widen_credential,
            shown,
        } => approve(shared, id, token_env, widen_credential, shown).await,
        Effect::Reject { id, reason } => {
            let home = shared.home.clone();
            let done =
                tokio::task::spawn_blocking(move || apply::reject(&home, &id, reason.as_deref()))
                    .await;
            match done {
                Ok(Ok(p)) => {
                    shared.send(Msg::Status(format!("rejected {} for {}", p.id, p.slug)));
                    Ok(())
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
        Effect::Preflight(request) => preflight(shared, request).await,
        Effect::Launch(request) => launch(shared, request).await,
        Effect::Stop { slug } => stop(shared, slug).await,
        Effect::Bell
        | Effect::Quit
        | Effect::Modify { .. }
        | Effect::EditRoutes { .. }
        | Effect::View { .. } => Ok(()),
    };
    if let Err(e) = result {
        shared.send(Msg::Status(format!("error: {e}")));
    }
}

/// Approves what the operator read: if approving `id` would now grant
/// anything but `shown` (the routes changed meanwhile, the request was
/// edited), nothing is approved and the detail shows the new preview.
async fn approve(
    shared: &Shared,
    id: String,
    token_env: Option<String>,
    widen_credential: bool,
    shown: Preview,
) -> Result<(), String> {
    let home = shared.home.clone();
    let sink = Sink::File(shared.log_path("apply", "last"));
    let done = tokio::task::spawn_blocking(move || {
        let approval = apply::Approval {
            token_env: token_env.as_deref(),
            widen_credential,
            shown: Some(&shown),
        };
        apply::approve(&home, &id, &approval, &sink)
    })
    .await
    .map_err(|e| e.to_string())?;
    match done {
        Ok((p, Applied::Routes { note })) => {
            shared.send(Msg::Status(format!("approved {}: {note}", p.id)))
        }
        Ok((p, Applied::Rebuild { resume })) => shared.send(Msg::Status(format!(
            "approved {}; {} is down, rebuild it with: {resume}",
            p.id, p.slug
        ))),
        Ok((p, Applied::Git { note })) => shared.send(Msg::Status(format!(
            "approved {}: {}",
            p.id,
            note.lines().collect::<Vec<_>>().join("; ")
        ))),
        Err(e) => {
            let hint = e.hint().map(|h| format!(" ({h})")).unwrap_or_default();
            return Err(format!("{e}{hint}"));
        }
    }
    Ok(())
}

/// Edits a proposal's request in $EDITOR (the terminal is ours meanwhile).
fn modify(home: &Home, id: &str) -> Result<(), String> {
    let text = apply::request_text(home, id).map_err(|e| e.to_string())?;
    let path = std::env::temp_dir().join(format!("bot-bottle-proposal-{id}.json"));
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    let edited = exec::edit(&path)
        .map_err(|e| e.to_string())
        .and_then(|()| std::fs::read_to_string(&path).map_err(|e| e.to_string()));
    let _ = std::fs::remove_file(&path);
    apply::modify(home, id, &edited?)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// `e`: the bottle's routes in $EDITOR, the same path as `bot-bottle
/// routes edit` (the terminal is the editor's meanwhile); says what came
/// of it.
fn edit_routes(home: &Home, slug: &str) -> String {
    match apply::edit_routes_in_editor(home, slug) {
        Ok(None) => format!("routes of {slug}: no change"),
        Ok(Some(diff)) => {
            let count = |sign: char| {
                diff.lines()
                    .filter(|l| l.starts_with(sign) && !l.starts_with(&sign.to_string().repeat(3)))
                    .count()
            };
            format!(
                "routes of {slug} reloaded (+{} -{} lines, audited)",
                count('+'),
                count('-')
            )
        }
        Err(e) => {
            let hint = e.hint().map(|h| format!("; {h}")).unwrap_or_default();
            format!("routes of {slug} not changed: {e}{hint}")
        }
    }
}

/// `v` in the detail: its text in $PAGER (the terminal is the pager's
/// meanwhile).
fn view(id: &str, text: &str) -> Result<(), String> {
    let path = std::env::temp_dir().join(format!(
        "bot-bottle-proposal-{id}-{}.txt",
        std::process::id()
    ));
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    let shown = exec::page(&path).map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&path);
    shown
}

async fn preflight(shared: &Shared, request: NewAgent) -> Result<(), String> {
    let (home, cwd) = (shared.home.clone(), shared.cwd.clone());
    let wanted = request.clone();
    let planned = tokio::task::spawn_blocking(move || -> Result<Planned, String> {
        let backend = BackendKind::parse(&wanted.backend)
            .ok_or_else(|| format!("unknown backend {}", wanted.backend))?;
        let sources = Sources {
            home: home.root.clone(),
            cwd: cwd.clone(),
            user_home: std::env::var_os("HOME").map(PathBuf::from),
        };
        let manifest = manifest::load(&sources).map_err(|e| e.to_string())?;
        // As `start AGENT --bottle .. --label .. --color .. --cwd=DIR`.
        let req = wanted
            .choices(&cwd)
            .request(wanted.agent, backend, cwd, Vec::new());
        service::plan(&manifest, &home, &req, false).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())??;
    let text = crate::launch::preflight_text(&planned.prepared);
    *shared.planned.lock().await = Some((request.clone(), planned));
    shared.send(Msg::Preflight { request, text });
    Ok(())
}

/// Brings a bottle up with its log in the right pane, which then becomes
/// the agent's session.
async fn launch(shared: &Shared, request: NewAgent) -> Result<(), String> {
    let Some((planned_for, planned)) = shared.planned.lock().await.take() else {
        return Err("no plan to launch; press n again".into());
    };
    if planned_for != request {
        return Err("the plan changed; press n again".into());
    }
    let slug = planned.prepared.slug.clone();
    let log = shared.log_path(&slug, "bringup");
    let tail = shell_join(&[
        "tail".into(),
        "-n".into(),
        "+1".into(),
        "-F".into(),
        log.display().to_string(),
    ]);
    let pane = shared
        .panes
        .lock()
        .await
        .show_log(&slug, &tail)
        .await
        .map_err(|e| e.to_string())?;
    let home = shared.home.clone();
    let sink = Sink::File(log.clone());
    let up = tokio::task::spawn_blocking(move || {
        let interrupted = AtomicBool::new(false);
        let ctx = Context {
            home: &home,
            sink: &sink,
            interrupted: &interrupted,
        };
        let result = service::bring_up(&ctx, &planned);
        if let Err(e) = &result {
            sink.line(&format!("bot-bottle: error: {e}"));
        }
        result.map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?;
    up.map_err(|e| format!("{slug} did not come up: {e}"))?;
    let command = shared.attach_command(&slug);
    let mut panes = shared.panes.lock().await;
    panes
        .log_becomes_session(pane, &slug, &command)
        .await
        .map_err(|e| e.to_string())?;
    panes.select(pane).await.map_err(|e| e.to_string())?;
    let _ = shared.relist.send(());
    shared.send(Msg::Started(slug));
    Ok(())
}

/// Takes a bottle down with its log in the right pane.
async fn stop(shared: &Shared, slug: String) -> Result<(), String> {
    let log = shared.log_path(&slug, "teardown");
    let tail = shell_join(&[
        "tail".into(),
        "-n".into(),
        "+1".into(),
        "-F".into(),
        log.display().to_string(),
    ]);
    shared
        .panes
        .lock()
        .await
        .show_log(&slug, &tail)
        .await
        .map_err(|e| e.to_string())?;
    let home = shared.home.clone();
    let target = slug.clone();
    let down = tokio::task::spawn_blocking(move || {
        let interrupted = AtomicBool::new(false);
        let sink = Sink::File(log);
        let ctx = Context {
            home: &home,
            sink: &sink,
            interrupted: &interrupted,
        };
        service::stop(&ctx, &target).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?;
    down?;
    shared
        .panes
        .lock()
        .await
        .forget(&slug)
        .await
        .map_err(|e| e.to_string())?;
    let _ = shared.relist.send(());
    shared.send(Msg::Stopped(slug));
    Ok(())
}
