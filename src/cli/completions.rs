//! `bot-bottle completions bash|zsh|fish`: the shell code that completes
//! bot-bottle. It calls the binary back (`BOT_BOTTLE_COMPLETE=<shell>
//! bot-bottle -- <words>`, clap_complete's dynamic completion), so verbs
//! and flags are always this binary's, and values come from the live
//! state: running bottles' identities, kept ones for `resume`, the agents
//! of the manifest for `start`.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use clap_complete::env::{CompleteEnv, EnvCompleter, Shells};

use super::{Cli, Failure, home_and_cwd};
use crate::backend;
use crate::manifest::{self, Sources};
use crate::state::Home;

/// The variable that turns a run into a completion request.
pub(super) const VAR: &str = "BOT_BOTTLE_COMPLETE";

#[derive(Debug, Args)]
pub(super) struct CompletionsArgs {
    /// The shell to complete in.
    shell: Shell,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Shell {
    fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
        }
    }
}

/// Answers a completion request (`BOT_BOTTLE_COMPLETE` set) and exits;
/// otherwise returns at once.
pub fn complete_from_env() {
    CompleteEnv::with_factory(Cli::command).var(VAR).complete();
}

pub(super) fn run(args: CompletionsArgs) -> Result<ExitCode, Failure> {
    let name = args.shell.name();
    let shells = Shells::builtins();
    let shell: &dyn EnvCompleter = shells
        .completer(name)
        .ok_or_else(|| Failure::runtime(format!("no completion support for {name}"), None))?;
    let mut script = Vec::new();
    let completer = completer().to_string_lossy().into_owned();
    shell
        .write_registration(VAR, "bot-bottle", "bot-bottle", &completer, &mut script)
        .and_then(|()| std::io::stdout().write_all(&script))
        .map_err(|e| Failure::runtime(format!("cannot write the script: {e}"), None))?;
    Ok(ExitCode::SUCCESS)
}

/// The program the shell calls back: this one as it was invoked, made
/// absolute when it was named by a path.
fn completer() -> OsString {
    let argv0 = std::env::args_os()
        .next()
        .unwrap_or_else(|| "bot-bottle".into());
    let path = PathBuf::from(&argv0);
    if path.components().count() > 1
        && let Ok(abs) = std::path::absolute(&path)
    {
        return abs.into_os_string();
    }
    argv0
}

/// Completes an argument with the identities of running bottles.
pub(super) fn running() -> ArgValueCandidates {
    ArgValueCandidates::new(|| candidates(Home::from_env().map(|h| running_slugs(&h))))
}

/// Completes an argument with the identities whose state is kept.
pub(super) fn kept() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        candidates(Home::from_env().map(|h| h.list_state().unwrap_or_default()))
    })
}

/// Completes an argument with the agents of the manifests in use (a
/// project's only when it is trusted); says nothing of a project that is
/// not.
pub(super) fn agents() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        candidates(home_and_cwd().and_then(|(home, cwd)| {
            manifest::load(&Sources::new(&home.root, &cwd))
                .map(|m| m.agent_names())
                .map_err(Failure::from)
        }))
    })
}

/// What `list active` lists (none when the engine cannot be asked).
fn running_slugs(home: &Home) -> Vec<String> {
    backend::enumerate_all(home, false)
        .map(|bottles| {
            bottles
                .into_iter()
                .filter(|b| !b.stopped)
                .map(|b| b.slug)
                .collect()
        })
        .unwrap_or_default()
}

fn candidates<E>(names: Result<Vec<String>, E>) -> Vec<CompletionCandidate> {
    names
        .unwrap_or_default()
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}
