//! `bot-bottle exec SLUG -- CMD...`: run a command in a running bottle,
//! without a terminal, and return its exit code.

use std::process::ExitCode;

use clap::Args;

use super::{Failure, exit_code};
use crate::backend::session::Io;
use crate::launch::LaunchError;
use crate::launch::{freeze, service};
use crate::state::{Home, Slug};

#[derive(Debug, Args)]
pub(super) struct ExecArgs {
    /// The bottle's identity.
    #[arg(value_parser = Slug::parse_arg, add = super::completions::running())]
    slug: Slug,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

pub(super) fn run(args: ExecArgs) -> Result<ExitCode, Failure> {
    let home = Home::from_env()?;
    let backend = service::backend_of(&home, &args.slug)?.map(|k| k.backend());
    let Some(backend) = backend.filter(|b| b.is_running(&args.slug).unwrap_or(false)) else {
        return Err(LaunchError::NotRunning(args.slug.into_string()).into());
    };
    freeze::refuse_frozen(&home, &args.slug)?;
    freeze::wake(&home, &args.slug)?;
    let code = backend
        .agent()
        .run(&args.slug, &args.command, Io::Interactive { tty: false })?;
    Ok(exit_code(code))
}
