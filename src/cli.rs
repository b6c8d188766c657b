//! The command line: clap types, dispatch, and how failures are reported.
//! One file per subcommand under `cli/`, each thin.

mod start;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::backend::UnknownBackend;
use crate::exec::ExecError;
use crate::launch::LaunchError;
use crate::manifest::ManifestError;
use crate::state::StateError;

#[derive(Debug, Parser)]
#[command(
    name = "bot-bottle",
    version,
    about = "Run AI coding agents in sandboxed bottles",
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Launch an agent in a new bottle and attach to its session.
    Start(start::StartArgs),
}

pub fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::Start(args) => start::run(args),
    }
}

/// A failure as the user sees it: one line, an optional hint, an exit code
/// (2 for bad input or usage, 1 for failures at run time).
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub hint: Option<String>,
    pub code: u8,
}

impl Failure {
    pub fn usage(message: impl Into<String>, hint: Option<String>) -> Failure {
        Failure {
            message: message.into(),
            hint,
            code: 2,
        }
    }

    pub fn runtime(message: impl Into<String>, hint: Option<String>) -> Failure {
        Failure {
            message: message.into(),
            hint,
            code: 1,
        }
    }

    pub fn report(&self) -> ExitCode {
        eprintln!("bot-bottle: error: {}", self.message);
        if let Some(hint) = &self.hint {
            eprintln!("  hint: {hint}");
        }
        ExitCode::from(self.code)
    }
}

impl From<ManifestError> for Failure {
    fn from(e: ManifestError) -> Failure {
        Failure::usage(e.to_string(), e.hint())
    }
}

impl From<StateError> for Failure {
    fn from(e: StateError) -> Failure {
        let code = match e {
            StateError::BadSlug(_) | StateError::NoState { .. } | StateError::NoHome => 2,
            StateError::Io { .. } | StateError::BadMetadata { .. } => 1,
        };
        Failure {
            message: e.to_string(),
            hint: e.hint(),
            code,
        }
    }
}

impl From<LaunchError> for Failure {
    fn from(e: LaunchError) -> Failure {
        match e {
            LaunchError::State(e) => e.into(),
            e => Failure::usage(e.to_string(), e.hint()),
        }
    }
}

impl From<UnknownBackend> for Failure {
    fn from(e: UnknownBackend) -> Failure {
        Failure::usage(e.to_string(), Some(e.hint()))
    }
}

impl From<ExecError> for Failure {
    fn from(e: ExecError) -> Failure {
        Failure::runtime(e.to_string(), e.hint())
    }
}
