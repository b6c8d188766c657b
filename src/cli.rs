//! The command line: clap types, dispatch, and how failures are reported.
//! One file per subcommand under `cli/`, each thin.

mod approve;
mod attach;
mod cleanup;
mod completions;
mod doctor;
mod events;
mod exec;
mod freeze;
mod image;
mod list;
mod open;
mod proposals;
mod resume;
mod routes;
mod sidecar;
mod start;
mod stop;
mod trust;
mod verify;

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::{Parser, Subcommand};

use crate::error::UserError;
use crate::manifest::{self, Manifest, Sources};
use crate::state::Home;
use crate::text::inert;

#[derive(Debug, Parser)]
#[command(
    name = "bot-bottle",
    version,
    about = "Run AI coding agents in sandboxed bottles",
    long_about = "Run AI coding agents in sandboxed bottles.\n\nWith no command, opens bot-bottle's tmux session (made if missing) with the dashboard."
)]
/// The command line, as clap parses it.
pub struct Cli {
    /// With no command: make the tmux session without attaching to it.
    #[arg(long)]
    detach: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Launch an agent in a new bottle and attach to its session.
    Start(start::StartArgs),
    /// The dashboard: what runs in the session's first pane.
    Dashboard,
    /// Relaunch a bottle whose state was kept, with the same identity.
    Resume(resume::ResumeArgs),
    /// Open an interactive session in a running bottle.
    Attach(attach::AttachArgs),
    /// Run a command in a running bottle and return its exit code.
    Exec(exec::ExecArgs),
    /// Take a bottle down.
    Stop(stop::StopArgs),
    /// The kill switch: stop bottles at once, losing nothing.
    ///
    /// Each bottle's egress refuses every request and its agent's
    /// processes are paused, their memory kept; `thaw` undoes it. A frozen
    /// bottle is shown as such, and refuses `attach` and `exec`.
    Freeze(freeze::SwitchArgs),
    /// Undo `freeze`: egress serves the routes again, the agent runs on.
    Thaw(freeze::SwitchArgs),
    /// Check bottles' seals now, from inside their agents.
    ///
    /// Probes the engine host at each of its addresses, the outside (a
    /// public address, IPv6, the link-local metadata address), another
    /// bottle's sidecars, a name outside the bottle, and a host no route
    /// allows through egress; each must be refused. A bottle that fails
    /// is frozen (exit 1); `--all` leaves frozen ones as they are.
    /// Bring-up checks it too, before the session.
    Verify(freeze::SwitchArgs),
    /// A stream of what happens: bottles, proposals, denials, seal checks.
    ///
    /// One line an event from now on (a JSON object each with `--json`):
    /// bottle_up, bottle_down, frozen, thawed, asleep, awake, stopped,
    /// proposal_new, proposal_decided, denied, verified. For scripts and
    /// notification bridges; runs until interrupted.
    Events(events::EventsArgs),
    /// List bottles.
    #[command(subcommand)]
    List(list::ListCommand),
    /// Remove every container, network and state folder bot-bottle left.
    Cleanup(cleanup::CleanupArgs),
    /// The proposals agents are waiting on, across bottles.
    Proposals(proposals::ProposalsArgs),
    /// Approve a proposal and apply it.
    Approve(approve::ApproveArgs),
    /// Reject a proposal; the reason reaches the agent.
    Reject(approve::RejectArgs),
    /// A bottle's egress routes.
    #[command(subcommand)]
    Routes(routes::RoutesCommand),
    /// Images.
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Check this machine: what bottles need, one line each, with the fix.
    ///
    /// Docker, compose, tmux, the base image, gVisor, smolvm, the subnet
    /// pool, the binary. Exits 1 when a required one is missing.
    Doctor,
    /// Trust the manifest of this directory (or DIR), after reading it.
    ///
    /// A project's `bot-bottle.json` and `.bot-bottle/` come from whoever
    /// wrote the repository: they are used only once trusted, and only as
    /// long as every file they make bot-bottle read is unchanged. Shows
    /// those files, what they define and what of them reaches your secrets
    /// and network, then records their digest.
    Trust(trust::TrustArgs),
    /// Shell completions: verbs, agents, bottles.
    ///
    /// Prints the shell code, e.g. `source <(bot-bottle completions bash)`.
    Completions(completions::CompletionsArgs),
    /// What runs inside the sidecar containers.
    #[command(subcommand, hide = true)]
    Sidecar(sidecar::SidecarCommand),
}

impl Cli {
    /// Everything but the long-running servers (sidecars, the dashboard),
    /// which must outlive a closed pipe.
    pub fn is_plain_command(&self) -> bool {
        !matches!(
            self.command,
            None | Some(Command::Sidecar(_)) | Some(Command::Dashboard)
        )
    }
}

pub use completions::complete_from_env;

/// Runs what the command line asks: with no command, opens the tmux
/// session.
pub fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let Some(command) = cli.command else {
        return open::open(cli.detach);
    };
    if cli.detach {
        return Err(Failure::usage(
            "--detach before a command only applies to opening the session",
            Some("put it after the command, e.g. `bot-bottle start shell --detach`".into()),
        ));
    }
    match command {
        Command::Start(args) => start::run(args),
        Command::Dashboard => open::dashboard(),
        Command::Resume(args) => resume::run(args),
        Command::Attach(args) => attach::run(args),
        Command::Exec(args) => exec::run(args),
        Command::Stop(args) => stop::run(args),
        Command::Freeze(args) => freeze::run(args, crate::launch::freeze::Switch::Freeze),
        Command::Thaw(args) => freeze::run(args, crate::launch::freeze::Switch::Thaw),
        Command::Verify(args) => verify::run(args),
        Command::Events(args) => events::run(args),
        Command::List(cmd) => list::run(cmd),
        Command::Cleanup(args) => cleanup::run(args),
        Command::Proposals(args) => proposals::run(args),
        Command::Approve(args) => approve::approve(args),
        Command::Reject(args) => approve::reject(args),
        Command::Routes(cmd) => routes::run(cmd),
        Command::Image(cmd) => image::run(cmd),
        Command::Doctor => doctor::run(),
        Command::Trust(args) => trust::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Sidecar(cmd) => sidecar::run(cmd),
    }
}

/// A failure as the user sees it: one line, an optional hint, an exit code
/// (2 for bad input or usage, 1 for failures at run time).
#[derive(Debug)]
pub struct Failure {
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
    pub(crate) code: u8,
}

impl Failure {
    /// Bad input or usage: exit code 2.
    pub(crate) fn usage(message: impl Into<String>, hint: Option<String>) -> Failure {
        Failure {
            message: message.into(),
            hint,
            code: 2,
        }
    }

    /// A failure at run time: exit code 1.
    pub(crate) fn runtime(message: impl Into<String>, hint: Option<String>) -> Failure {
        Failure {
            message: message.into(),
            hint,
            code: 1,
        }
    }

    /// Prints it, inert: an error may quote what a repository's manifest
    /// or an agent wrote.
    pub fn report(&self) -> ExitCode {
        eprintln!("bot-bottle: error: {}", inert_lines(&self.message));
        if let Some(hint) = &self.hint {
            eprintln!("  hint: {}", inert_lines(hint));
        }
        ExitCode::from(self.code)
    }
}

/// Every error a user sees becomes a failure the one way: its message,
/// its hint, its kind's exit code.
impl<E: UserError> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure {
            message: e.to_string(),
            hint: e.hint(),
            code: e.kind().code(),
        }
    }
}

/// `$BOT_BOTTLE_HOME` and the directory bot-bottle runs from.
fn home_and_cwd() -> Result<(Home, PathBuf), Failure> {
    let home = Home::from_env()?;
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::runtime(format!("cannot read the current directory: {e}"), None))?;
    Ok((home, cwd))
}

/// The manifests of the home and of `cwd`. A project there that is not
/// used (not trusted, or broken) is one line on stderr; it never stops
/// the operator's own agents.
fn load_manifest(home: &Home, cwd: &Path) -> Result<Manifest, Failure> {
    let manifest = manifest::load(&Sources::new(&home.root, cwd))?;
    if let Some(note) = manifest.project.note() {
        eprintln!("bot-bottle: {}", inert_lines(&note));
    }
    Ok(manifest)
}

/// `text` with nothing a terminal would act on, line by line (the line
/// breaks of a message with more than one are kept).
fn inert_lines(text: &str) -> String {
    text.split('\n').map(inert).collect::<Vec<_>>().join("\n")
}

/// Asks a yes/no question on the terminal; `--yes` skips it.
fn confirm(question: &str) -> Result<bool, Failure> {
    let no_tty = || {
        Failure::usage(
            format!("cannot ask \"{question}\": there is no terminal"),
            Some("pass --yes to go ahead without asking".into()),
        )
    };
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| no_tty())?;
    write!(tty, "bot-bottle: {question} [y/N] ").map_err(|_| no_tty())?;
    let mut line = String::new();
    std::io::BufReader::new(tty)
        .read_line(&mut line)
        .map_err(|_| no_tty())?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// A flag set by SIGINT, SIGTERM or SIGHUP, so a launch can take down
/// what it started instead of dying half-way.
fn interrupt_flag() -> Result<Arc<AtomicBool>, Failure> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&flag))
            .map_err(|e| Failure::runtime(format!("cannot handle signals: {e}"), None))?;
    }
    Ok(flag)
}

/// Whether sessions get a terminal: stdin and stdout are both one.
fn has_tty() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1))
}

#[cfg(test)]
mod tests;
