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

mod effects;
mod sources;

use sources::{spawn_bottles, spawn_keys, spawn_output, spawn_proposals};

use super::app::{AgentChoice, App, Effect, Msg, NewAgent};
use super::panes::Panes;
use super::render::render;
use crate::contract::tmux as options;
use crate::error::{ExitKind, UserError};
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
    fn hint(&self) -> Option<String> {
        match self {
            DashboardError::NotInTmux => {
                Some("run `bot-bottle` to open its tmux session with the dashboard".into())
            }
            DashboardError::Terminal(_) | DashboardError::Tmux(_) => None,
        }
    }

    fn kind(&self) -> ExitKind {
        match self {
            DashboardError::NotInTmux => ExitKind::Usage,
            DashboardError::Terminal(_) | DashboardError::Tmux(_) => ExitKind::Runtime,
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
    for (option, value) in [
        (options::DASHBOARD_PANE, dashboard.to_string()),
        (options::DASHBOARD_WINDOW, window.to_string()),
    ] {
        client
            .run(&command::set_session_option(dashboard, option, &value))
            .await?;
    }

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

    let offered = offer(&home, &cwd);
    let mut app = App::new(
        offered.choices,
        offered.bottles,
        crate::backend::available()
            .iter()
            .map(|k| k.name().to_owned())
            .collect(),
    );
    app.cwd = cwd.display().to_string();
    app.untrusted = offered.untrusted;
    if let Some(note) = offered.note {
        app.update(Msg::Status(note));
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
                        let outcome = handed_over(&mut terminal, &terminal_lock, || {
                            effects::modify(&home, &id)
                        })?;
                        match outcome {
                            Ok(new) => shared.send(Msg::Modified { old: id, new }),
                            Err(e) => shared.send(Msg::Status(e.to_string())),
                        }
                    }
                    Effect::EditRoutes { slug } => {
                        let outcome = handed_over(&mut terminal, &terminal_lock, || {
                            effects::edit_routes(&home, &slug)
                        })?;
                        shared.send(Msg::Status(outcome));
                    }
                    Effect::View { id, text } => {
                        let outcome = handed_over(&mut terminal, &terminal_lock, || {
                            effects::view(&id, &text)
                        })?;
                        if let Err(e) = outcome {
                            shared.send(Msg::Status(e.to_string()));
                        }
                    }
                    Effect::Bell => {
                        let mut out = std::io::stdout();
                        let _ = out.write_all(b"\x07").and_then(|()| out.flush());
                    }
                    other => {
                        let shared = Arc::clone(&shared);
                        tokio::spawn(async move { effects::carry_out(&shared, other).await });
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
