//! The dashboard's runtime: feeds the app messages (see `sources`: keys,
//! ticks, the proposal queue through notify, bottles on docker events, pane
//! output through the tmux control connection) and carries out its effects
//! (see `effects`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Mutex, mpsc};

mod dispatch;
mod effects;
mod sources;

use dispatch::Route;
use sources::{spawn_bottles, spawn_keys, spawn_output, spawn_proposals};

use super::app::{AgentChoice, App, Msg, NewAgent};
use super::panes::Panes;
use super::render::render;
use crate::contract::tmux as options;
use crate::error::{Explain, UserError};
use crate::launch::{self, service::Planned};
use crate::manifest::{self, Project, Sources, Summary};
use crate::state::Home;
use crate::text::shell_join;
use crate::tmux::client::{Client, ClientError, Target};
use crate::tmux::command;
use crate::tmux::control::{PaneId, WindowId};

#[derive(Debug, thiserror::Error)]
pub(crate) enum DashboardError {
    #[error("the dashboard runs inside tmux")]
    NotInTmux,
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    #[error(transparent)]
    Tmux(#[from] ClientError),
}

impl UserError for DashboardError {
    fn explain(&self) -> Explain<'_> {
        match self {
            DashboardError::NotInTmux => {
                Explain::usage("run `bot-bottle` to open its tmux session with the dashboard")
            }
            DashboardError::Terminal(_) | DashboardError::Tmux(_) => Explain::runtime(None),
        }
    }
}

/// Runs the dashboard in this tmux pane until `q`.
pub(crate) fn run(home: Home, cwd: PathBuf) -> Result<(), DashboardError> {
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

    /// An empty log for a bring-up or a teardown, and the command of a pane
    /// that follows it.
    fn log(&self, slug: &str, what: &str) -> (PathBuf, String) {
        let path = self.log_path(slug, what);
        let tail = shell_join(&[
            "tail".into(),
            "-n".into(),
            "+1".into(),
            "-F".into(),
            path.display().to_string(),
        ]);
        (path, tail)
    }

    fn log_path(&self, slug: &str, what: &str) -> PathBuf {
        let _ = std::fs::create_dir_all(self.home.logs_dir());
        let path = self.home.log_file(slug, what);
        let _ = std::fs::write(&path, "");
        path
    }
}

/// Claims this pane for the dashboard, feeds the app from its sources and
/// draws it until `q`.
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
    let window = claim(&client, dashboard).await?;

    let (msgs, inbox) = mpsc::unbounded_channel();
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

    let offered = offer(&home, &cwd);
    let backends = crate::backend::available()
        .iter()
        .map(|k| k.name().to_owned())
        .collect();
    let mut app = opening(offered, backends, &cwd);
    // Read once: a change of `idle_after` takes a new dashboard.
    match crate::manifest::idle_after(&home.root) {
        Ok(idle_after) => app.idle_after = idle_after.map(|d| d.as_millis() as u64),
        Err(e) => {
            app.update(Msg::Status(format!(
                "agents are kept awake: {}",
                crate::error::one_line(&e)
            )));
        }
    }
    app.verify_every = Some(crate::verify::EVERY.as_millis() as u64);
    shared.panes.lock().await.harden(dashboard).await?;
    let terminal_lock = Arc::new(std::sync::Mutex::new(()));
    spawn_keys(msgs.clone(), Arc::clone(&terminal_lock));
    spawn_bottles(home.clone(), msgs.clone(), relist.clone(), relist_rx);
    spawn_proposals(home.clone(), msgs.clone(), relist);
    spawn_output(client.clone(), tmux_events, dashboard, msgs.clone());

    let mut terminal = init_terminal()?;
    // The terminal is given back however the loop ends, an error too.
    let ended = draw_loop(&mut app, &mut terminal, inbox, &shared, &terminal_lock).await;
    restore_terminal();
    ended
}

/// Finds the dashboard's window and tells the session which pane and
/// window are the dashboard's (the tmux bindings read them).
async fn claim(client: &Client, dashboard: PaneId) -> Result<WindowId, ClientError> {
    let place = client.run(&command::pane_place(dashboard)).await?;
    let window = window_of(&place)
        .ok_or_else(|| ClientError::Failed(format!("where is {dashboard}? {place:?}")))?;
    for (option, value) in [
        (options::DASHBOARD_PANE, dashboard.to_string()),
        (options::DASHBOARD_WINDOW, window.to_string()),
    ] {
        client
            .run(&command::set_session_option(dashboard, option, &value))
            .await?;
    }
    Ok(window)
}

/// The window in `command::pane_place`'s answer (`WINDOW_ID SESSION_ID`).
fn window_of(place: &[String]) -> Option<WindowId> {
    place
        .first()
        .and_then(|l| l.split(' ').next())
        .and_then(WindowId::parse)
}

/// The app at start: what `n` offers, the backends to choose from, the
/// directory it was opened in, and the offer's note as the status.
fn opening(offered: Offer, backends: Vec<String>, cwd: &Path) -> App {
    let mut app = App::new(offered.choices, offered.bottles, backends);
    app.cwd = cwd.display().to_string();
    app.untrusted = offered.untrusted;
    if let Some(note) = offered.note {
        app.update(Msg::Status(note));
    }
    app
}

/// Draws the app, sleeps until a message comes (or the screen changes
/// with time alone), handles every message waiting, and carries out their
/// effects, one message at a time; until `q`, or until no sender is left.
async fn draw_loop(
    app: &mut App,
    terminal: &mut ratatui::DefaultTerminal,
    mut inbox: mpsc::UnboundedReceiver<Msg>,
    shared: &Arc<Shared>,
    terminal_lock: &std::sync::Mutex<()>,
) -> Result<(), DashboardError> {
    let started = Instant::now();
    app.epoch = crate::verify::now();
    loop {
        draw(terminal, app)?;
        let Some(batch) = next_batch(&mut inbox, app.next_change(), started).await else {
            return Ok(());
        };
        let mut quit = false;
        for msg in batch {
            let now = started.elapsed().as_millis() as u64;
            for effect in dispatch::handle(app, now, msg) {
                match dispatch::route(effect) {
                    Route::Quit => quit = true,
                    Route::Bell => {
                        let mut out = std::io::stdout();
                        let _ = out.write_all(b"\x07").and_then(|()| out.flush());
                    }
                    Route::HandOver(handover) => {
                        let outcome =
                            handed_over(terminal, terminal_lock, || handover.run(&shared.home))?;
                        if let Some(msg) = dispatch::reply(outcome) {
                            shared.send(msg);
                        }
                    }
                    Route::Spawn(effect) => {
                        let shared = Arc::clone(shared);
                        tokio::spawn(async move { effects::carry_out(&shared, effect).await });
                    }
                }
            }
        }
        if quit {
            return Ok(());
        }
    }
}

/// Draws the app at the terminal's size: the app decides what is on
/// screen with the size it is drawn at.
fn draw(terminal: &mut ratatui::DefaultTerminal, app: &mut App) -> std::io::Result<()> {
    let size = terminal.size()?;
    if (size.width, size.height) != app.size {
        app.update(Msg::Resize {
            width: size.width,
            height: size.height,
        });
    }
    terminal.draw(|f| render(app, f))?;
    Ok(())
}

/// The messages waiting once one comes, or a tick when what is drawn
/// changes with time alone (at `next_change`, ms since `started`):
/// nothing ticks at rest. None when no sender is left.
async fn next_batch(
    inbox: &mut mpsc::UnboundedReceiver<Msg>,
    next_change: Option<u64>,
    started: Instant,
) -> Option<Vec<Msg>> {
    let wake = next_change
        .map(|ms| tokio::time::Instant::from_std(started + std::time::Duration::from_millis(ms)));
    let first = match wake {
        Some(at) => tokio::select! {
            msg = inbox.recv() => msg,
            () = tokio::time::sleep_until(at) => Some(Msg::Tick(0)),
        },
        None => inbox.recv().await,
    }?;
    let mut batch = vec![first];
    while let Ok(more) = inbox.try_recv() {
        batch.push(more);
    }
    Some(batch)
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

/// Runs `f` with the terminal handed over (an editor or a pager owns it
/// meanwhile; the key reader waits on `lock`), then takes it back.
fn handed_over<T>(
    terminal: &mut ratatui::DefaultTerminal,
    lock: &std::sync::Mutex<()>,
    f: impl FnOnce() -> T,
) -> std::io::Result<T> {
    let held = lock.lock().unwrap_or_else(|p| p.into_inner());
    restore_terminal();
    let outcome = f();
    *terminal = init_terminal()?;
    drop(held);
    terminal.clear()?;
    Ok(outcome)
}

fn restore_terminal() {
    let _ = ratatui::crossterm::execute!(
        std::io::stdout(),
        ratatui::crossterm::event::DisableBracketedPaste
    );
    ratatui::restore();
}

/// What `n` offers, from the manifests: the agents and bottles in use,
/// the directory's manifest when it is not trusted (to ask about), and the
/// line that says why a project is not used. An error of the operator's
/// own manifests offers nothing, and is that line.
struct Offer {
    choices: Vec<AgentChoice>,
    bottles: Vec<String>,
    untrusted: Option<Box<Summary>>,
    note: Option<String>,
}

fn offer(home: &Home, cwd: &Path) -> Offer {
    match manifest::load(&Sources::new(&home.root, cwd)) {
        Ok(m) => Offer {
            choices: m
                .agents
                .values()
                .map(|a| AgentChoice {
                    name: a.name.clone(),
                    description: a.description.clone().unwrap_or_default(),
                    bottles: a.bottles.clone(),
                    color: a.color.clone(),
                })
                .collect(),
            bottles: m.bottles.keys().cloned().collect(),
            note: m.project.note(),
            untrusted: match m.project {
                Project::Untrusted { summary, .. } => Some(Box::new(summary)),
                _ => None,
            },
        },
        Err(e) => Offer {
            choices: Vec::new(),
            bottles: Vec::new(),
            untrusted: None,
            note: Some(format!("manifest: {e}")),
        },
    }
}

/// The trust step's `y`: records what was shown (unless the project
/// changed since), then offers what the manifests give now.
async fn trust(shared: &Shared, shown: Summary) -> Result<(), effects::EffectError> {
    let (home, cwd) = (shared.home.clone(), shared.cwd.clone());
    let (outcome, offer) = tokio::task::spawn_blocking(move || {
        let outcome =
            launch::trust::trust(&home, &Sources::new(&home.root, &cwd), &shown).map(|()| shown);
        (outcome, offer(&home, &cwd))
    })
    .await?;
    let status = match outcome {
        Ok(s) => format!(
            "trusted {} in {}: its agents and bottles are offered",
            s.shown,
            s.dir.display()
        ),
        Err(e) => format!("not trusted: {e}"),
    };
    shared.send(Msg::Offer {
        choices: offer.choices,
        bottles: offer.bottles,
        untrusted: offer.untrusted,
        status,
        pick: true,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_the_first_word_of_the_answer() {
        let cases: [(&[&str], Option<&str>); 5] = [
            (&["@3 $1"], Some("@3")),
            (&["@12"], Some("@12")),
            (&["%3 $1"], None),
            (&["", "@3 $1"], None),
            (&[], None),
        ];
        for (place, want) in cases {
            let place: Vec<String> = place.iter().map(|l| l.to_string()).collect();
            assert_eq!(
                window_of(&place).map(|w| w.to_string()).as_deref(),
                want,
                "{place:?}"
            );
        }
    }

    #[test]
    fn the_app_at_start_offers_what_the_manifests_give() {
        let choice = AgentChoice {
            name: "shell".into(),
            description: "a shell".into(),
            bottles: vec!["dev".into()],
            color: Some("cyan".into()),
        };
        let offered = Offer {
            choices: vec![choice.clone()],
            bottles: vec!["dev".into()],
            untrusted: None,
            note: None,
        };
        let app = opening(offered, vec!["docker".into()], Path::new("/src/p"));
        assert_eq!(app.choices, [choice]);
        assert_eq!(app.bottle_names, ["dev"]);
        assert_eq!(app.backends, ["docker"]);
        assert_eq!(app.cwd, "/src/p");
        assert_eq!(app.untrusted, None);
        assert_eq!(app.status, None);
    }

    #[test]
    fn the_offers_note_is_the_status_at_start() {
        let offered = Offer {
            choices: Vec::new(),
            bottles: Vec::new(),
            untrusted: None,
            note: Some("manifest: bad".into()),
        };
        let app = opening(offered, Vec::new(), Path::new("/"));
        assert_eq!(app.status.as_deref(), Some("manifest: bad"));
    }
}
