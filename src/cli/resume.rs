//! `bot-bottle resume SLUG`: relaunch a kept bottle with the same identity,
//! agent, bottles, cwd and copy_cwd; its transcript snapshot is restored.

use std::process::ExitCode;

use clap::Args;

use super::start::{self, Options};
use super::{Failure, home_and_cwd, load_manifest};
use crate::backend::BackendKind;
use crate::backend::docker::session;
use crate::launch::lifecycle::{self, Start};
use crate::launch::{LaunchError, StartRequest};

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The bottle's identity, as `start` printed it.
    slug: String,
    /// Relaunch without asking.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Leave the bottle running and print its identity, instead of attaching.
    #[arg(long)]
    detach: bool,
}

pub fn run(args: ResumeArgs) -> Result<ExitCode, Failure> {
    let (home, here) = home_and_cwd()?;
    let meta = home.read_metadata(&args.slug)?;
    if session::is_running(&args.slug)? {
        return Err(LaunchError::AlreadyRunning(args.slug).into());
    }
    let backend = BackendKind::parse(&meta.backend).ok_or_else(|| {
        Failure::usage(
            format!(
                "bottle '{}' ran on backend '{}', which this build lacks",
                args.slug, meta.backend
            ),
            None,
        )
    })?;
    // The manifests of the directory it was started from, when it is still there.
    let cwd = if meta.cwd.is_dir() {
        meta.cwd.clone()
    } else {
        here
    };
    let manifest = load_manifest(&home, &cwd)?;
    let request = StartRequest {
        agent: meta.agent,
        bottles: meta.bottles,
        backend,
        label: Some(meta.label),
        copy_cwd: meta.copy_cwd,
        cwd,
        extra_args: Vec::new(),
        identity: Some(args.slug),
    };
    let sidecar = lifecycle::preflight_checks()?;
    let prepared = start::prepare(&manifest, &home, &request, Some(&sidecar))?;
    start::launch(
        &home,
        &prepared,
        &sidecar,
        &Options {
            yes: args.yes,
            detach: args.detach,
            start: Start::Resume,
        },
    )
}
