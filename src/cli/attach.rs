//! `bot-bottle attach SLUG`: an interactive session in a running bottle,
//! resuming the provider's last session when it can.

use std::process::ExitCode;

use clap::Args;

use super::{Failure, exit_code, has_tty};
use crate::launch::LaunchError;
use crate::launch::lifecycle::{self, Start};
use crate::launch::{freeze, service};
use crate::state::{Home, Slug};

#[derive(Debug, Args)]
pub(super) struct AttachArgs {
    /// The bottle's identity.
    #[arg(value_parser = Slug::parse_arg, add = super::completions::running())]
    slug: Slug,
}

pub(super) fn run(args: AttachArgs) -> Result<ExitCode, Failure> {
    let home = Home::from_env()?;
    let meta = home.read_metadata(&args.slug)?;
    let backend = service::backend_of(&home, &args.slug)?
        .ok_or_else(|| LaunchError::NotRunning(args.slug.to_string()))?
        .backend();
    freeze::refuse_frozen(&home, &args.slug)?;
    freeze::wake(&home, &args.slug)?;
    let code = lifecycle::attach(
        backend,
        &args.slug,
        meta.provider,
        &meta.session,
        Start::Resume,
        has_tty(),
    )?;
    Ok(exit_code(code))
}
