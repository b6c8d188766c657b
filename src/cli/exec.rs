//! `bot-bottle exec SLUG -- CMD...`: run a command in a running bottle,
//! without a terminal, and return its exit code.

use std::process::ExitCode;

use clap::Args;

use super::{Failure, exit_code};
use crate::backend::docker::session::{self, Io};
use crate::launch::LaunchError;
use crate::state::Slug;

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The bottle's identity.
    #[arg(value_parser = Slug::parse_arg)]
    slug: Slug,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

pub fn run(args: ExecArgs) -> Result<ExitCode, Failure> {
    if !session::is_running(&args.slug)? {
        return Err(LaunchError::NotRunning(args.slug.into_string()).into());
    }
    let code = session::run(&args.slug, &args.command, Io::Interactive { tty: false })?;
    Ok(exit_code(code))
}
