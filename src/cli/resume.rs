//! `bot-bottle resume SLUG`: relaunch a kept bottle with the same identity,
//! agent, bottles, cwd and copy_cwd; its transcript snapshot is restored.

use std::process::ExitCode;

use clap::Args;

use super::start::{self, Options};
use super::{Failure, home_and_cwd, load_manifest};
use crate::launch::lifecycle::Start;
use crate::launch::service;
use crate::state::Slug;

#[derive(Debug, Args)]
pub(super) struct ResumeArgs {
    /// The bottle's identity, as `start` printed it.
    #[arg(value_parser = Slug::parse_arg, add = super::completions::kept())]
    slug: Slug,
    /// Relaunch without asking.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Leave the bottle running and print its identity, instead of attaching.
    #[arg(long)]
    detach: bool,
}

pub(super) fn run(args: ResumeArgs) -> Result<ExitCode, Failure> {
    let (home, here) = home_and_cwd()?;
    let request = service::resume_request(&home, &args.slug, &here)?;
    // The manifests of the directory it was started from, when it is still there.
    let manifest = load_manifest(&home, &request.cwd)?;
    let planned = start::plan(&manifest, &home, &request, false)?;
    start::launch(
        &home,
        &planned,
        &Options {
            yes: args.yes,
            detach: args.detach,
            start: Start::Resume,
        },
    )
}
