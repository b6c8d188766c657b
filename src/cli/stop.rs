//! `bot-bottle stop SLUG`: take a bottle down and settle its state as after
//! a clean exit (kept only when marked for resume).

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use clap::Args;

use super::Failure;
use crate::backend::bringup::Context;
use crate::exec::Sink;
use crate::launch::lifecycle::Settled;
use crate::launch::service;
use crate::state::{Home, Slug};

#[derive(Debug, Args)]
pub(super) struct StopArgs {
    /// The bottle's identity.
    #[arg(value_parser = Slug::parse_arg, add = super::completions::running())]
    slug: Slug,
}

pub(super) fn run(args: StopArgs) -> Result<ExitCode, Failure> {
    let home = Home::from_env()?;
    let ctx = Context {
        home: &home,
        sink: &Sink::Stderr,
        interrupted: &AtomicBool::new(false),
    };
    match service::stop(&ctx, &args.slug)? {
        Settled::Preserved => eprintln!(
            "bot-bottle: stopped {}; its state is kept: bot-bottle resume {}",
            args.slug, args.slug
        ),
        Settled::Removed | Settled::Gone => eprintln!("bot-bottle: stopped {}", args.slug),
    }
    Ok(ExitCode::SUCCESS)
}
